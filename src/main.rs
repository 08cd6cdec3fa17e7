//! The `gpuinit` command line: parses arguments and calls the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use gpuinit::bench::{BenchDevice, BenchOptions};
use gpuinit::commands::{
    self, parse_u64, BenchRequest, Device, SampleRequest, StreamRequest, TensorSpec, VerifyDevice,
    VerifyRequest,
};
use gpuinit::gpu::{list_adapters, BackendChoice, GpuOptions, NO_ADAPTER_HELP};
use gpuinit::scheme::{Family, FanMode, Layout, Nonlinearity, SchemeOptions};
use gpuinit::verify::Level;
use gpuinit::Error;

#[derive(Parser)]
#[command(
    name = "gpuinit",
    version,
    about = "Xavier/Glorot and related weight initialization on the GPU, bit-exact with a CPU reference"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with the limits that matter here.
    Devices {
        #[arg(long, value_enum, default_value_t)]
        backend: BackendChoice,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Generate a weight tensor under a scheme and write it as .npy, .bin or to standard output.
    Sample(Box<SampleArgs>),
    /// Write raw Philox words (little-endian u32, element order) to standard output.
    Stream(StreamArgs),
    /// Deep forward (and backward) passes on GPU-generated weights: per-layer statistics for each scheme.
    Propagate(Box<gpuinit::propagate::PropagateArgs>),
    /// Check statistically that every scheme's weights are what the scheme promises.
    Verify(VerifyArgs),
    /// Generation throughput: GPU against its store bandwidth and against the CPU reference.
    Bench(BenchArgs),
}

#[derive(Args)]
struct DeviceArgs {
    /// Where to compute.
    #[arg(long, value_enum, default_value_t)]
    device: Device,
    /// Graphics API for the GPU (default: WGPU_BACKEND, else any).
    #[arg(long, value_enum, default_value_t)]
    backend: BackendChoice,
    /// Adapter name substring (default: WGPU_ADAPTER_NAME, else the most capable).
    #[arg(long)]
    adapter: Option<String>,
    /// Bound on each GPU wait, in seconds.
    #[arg(long, value_name = "SECONDS")]
    gpu_timeout: Option<f64>,
}

impl DeviceArgs {
    fn options(&self) -> Result<GpuOptions, Error> {
        let timeout = match self.gpu_timeout {
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(Error::invalid(format!(
                    "--gpu-timeout must be positive seconds, got {s}"
                )))
            }
            None => None,
        };
        Ok(GpuOptions {
            backend: self.backend,
            adapter: self.adapter.clone(),
            timeout,
            ..Default::default()
        })
    }
}

#[derive(Args)]
struct SampleArgs {
    /// Scheme name: variance_scaling, xavier_uniform, xavier_normal, glorot_uniform,
    /// glorot_normal, kaiming_uniform, kaiming_normal, he_uniform, he_normal, lecun_uniform,
    /// lecun_normal, standard, uniform, normal, truncated_normal, constant, zeros, ones.
    #[arg(long)]
    scheme: String,
    /// Weight shape such as 256x128 or 64x3x3x3.
    #[arg(long)]
    shape: Option<String>,
    /// Axis order of --shape: torch = [out, in, k...], jax = [k..., in, out].
    #[arg(long, value_enum)]
    layout: Option<Layout>,
    #[arg(long)]
    fan_in: Option<u64>,
    #[arg(long)]
    fan_out: Option<u64>,
    /// First element index of the slice to write.
    #[arg(long, value_parser = parse_u64)]
    offset: Option<u64>,
    /// Number of elements (default: the whole shape from --offset on).
    #[arg(long, value_parser = parse_u64)]
    count: Option<u64>,
    /// Seed (decimal or 0x hex); drawn and printed when absent.
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,
    /// Stream number: independent tensors under one seed use different streams.
    #[arg(long, value_parser = parse_u64, default_value_t = 0)]
    stream: u64,
    /// Output: FILE.npy, FILE.bin (raw little-endian f32) or - (standard output).
    #[arg(long)]
    out: String,
    #[command(flatten)]
    scheme_options: SchemeArgs,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args)]
struct SchemeArgs {
    /// Gain (xavier_*, kaiming_*).
    #[arg(long, allow_negative_numbers = true)]
    gain: Option<f64>,
    /// Gain from torch.nn.init.calculate_gain (xavier_*, kaiming_*).
    #[arg(long, value_enum)]
    nonlinearity: Option<Nonlinearity>,
    /// Negative slope of leaky_relu (torch's `a` for kaiming_*).
    #[arg(long, allow_negative_numbers = true)]
    negative_slope: Option<f64>,
    /// Fan the variance is divided by (variance_scaling, kaiming_*).
    #[arg(long, value_enum)]
    mode: Option<FanMode>,
    /// Variance scale (variance_scaling).
    #[arg(long, allow_negative_numbers = true)]
    scale: Option<f64>,
    /// Distribution family (variance_scaling).
    #[arg(long, value_enum)]
    distribution: Option<Family>,
    /// Lower bound (uniform).
    #[arg(long, allow_negative_numbers = true)]
    low: Option<f64>,
    /// Upper bound (uniform).
    #[arg(long, allow_negative_numbers = true)]
    high: Option<f64>,
    /// Mean (normal, truncated_normal).
    #[arg(long, allow_negative_numbers = true)]
    mean: Option<f64>,
    /// Standard deviation (normal; truncated_normal before truncation).
    #[arg(long, allow_negative_numbers = true)]
    std: Option<f64>,
    /// Lower truncation bound in std units (truncated_normal, default -2).
    #[arg(long, allow_negative_numbers = true)]
    a: Option<f64>,
    /// Upper truncation bound in std units (truncated_normal, default 2).
    #[arg(long, allow_negative_numbers = true)]
    b: Option<f64>,
    /// Value (constant).
    #[arg(long, allow_negative_numbers = true)]
    value: Option<f64>,
}

impl From<&SchemeArgs> for SchemeOptions {
    fn from(a: &SchemeArgs) -> Self {
        SchemeOptions {
            gain: a.gain,
            nonlinearity: a.nonlinearity,
            negative_slope: a.negative_slope,
            mode: a.mode,
            scale: a.scale,
            family: a.distribution,
            low: a.low,
            high: a.high,
            mean: a.mean,
            std: a.std,
            a: a.a,
            b: a.b,
            value: a.value,
        }
    }
}

#[derive(Args)]
struct StreamArgs {
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,
    #[arg(long, value_parser = parse_u64, default_value_t = 0)]
    stream: u64,
    #[arg(long, value_parser = parse_u64, default_value_t = 0)]
    offset: u64,
    #[arg(long, value_parser = parse_u64)]
    count: u64,
    /// Hex text, four words a line, instead of binary.
    #[arg(long)]
    hex: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// 1 and 4 Mi elements, fewer repeats (about 30 s on a 2-core machine with lavapipe).
    #[arg(long)]
    quick: bool,
    /// Element counts, comma-separated (suffixes k, Mi: 1Mi,16Mi).
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    sizes: Option<Vec<u64>>,
    /// Which sides to measure.
    #[arg(long, value_enum, default_value_t)]
    device: BenchDevice,
    #[arg(long, value_enum, default_value_t)]
    backend: BackendChoice,
    #[arg(long)]
    adapter: Option<String>,
    /// Invocations per workgroup (default: 64 on CPU adapters, 256 on GPUs).
    #[arg(long)]
    workgroup_size: Option<u32>,
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    #[arg(long, value_name = "FILE")]
    markdown: Option<String>,
}

/// Parses 1048576, 1Mi, 64k.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("Mi").or_else(|| t.strip_suffix('M')) {
        (n, 1u64 << 20)
    } else if let Some(n) = t.strip_suffix("Ki").or_else(|| t.strip_suffix('k')) {
        (n, 1 << 10)
    } else {
        (t, 1)
    };
    parse_u64(num)?
        .checked_mul(mult)
        .ok_or_else(|| format!("size '{text}' overflows"))
}

#[derive(Args)]
struct VerifyArgs {
    /// Which generators to test: the GPU (against the CPU reference), the CPU, or both.
    #[arg(long, value_enum, default_value_t)]
    device: VerifyDevice,
    #[arg(long, value_enum, default_value_t)]
    backend: BackendChoice,
    #[arg(long)]
    adapter: Option<String>,
    /// Seed (default fixed, so the battery is deterministic).
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,
    /// Samples per statistical check (default: 2^18 quick, 2^21, 2^24 full).
    #[arg(long, value_parser = parse_u64)]
    samples: Option<u64>,
    /// Every scheme on one shape, 2^18 samples.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The whole battery with 2^24 samples.
    #[arg(long)]
    full: bool,
    /// Write the rows, adapters and settings as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Write the table as Markdown.
    #[arg(long, value_name = "FILE")]
    markdown: Option<String>,
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Devices { backend, json } => {
            let adapters = list_adapters(backend);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&adapters)
                        .map_err(|e| Error::Gpu(e.to_string()))?
                );
            } else if adapters.is_empty() {
                println!("{NO_ADAPTER_HELP}");
            } else {
                for a in adapters {
                    println!(
                        "{} | {} | {} | driver {} {} | max buffer {} MiB, max storage binding {} MiB, {} workgroups/dim, {} invocations/workgroup, timestamps {}",
                        a.name,
                        a.backend,
                        a.device_type,
                        a.driver,
                        a.driver_info,
                        a.max_buffer_size >> 20,
                        a.max_storage_buffer_binding_size >> 20,
                        a.max_compute_workgroups_per_dimension,
                        a.max_compute_invocations_per_workgroup,
                        if a.timestamp_queries { "yes" } else { "no" },
                    );
                }
            }
            Ok(())
        }
        Command::Sample(a) => {
            let to_stdout = a.out == "-";
            let req = SampleRequest {
                scheme: a.scheme.clone(),
                options: (&a.scheme_options).into(),
                tensor: TensorSpec {
                    shape: a.shape.clone(),
                    layout: a.layout,
                    fan_in: a.fan_in,
                    fan_out: a.fan_out,
                    offset: a.offset,
                    count: a.count,
                },
                seed: a.seed,
                stream: a.stream,
                device: a.device.device,
                gpu: a.device.options()?,
                out: a.out.clone(),
            };
            let say = |text: &str| {
                if to_stdout {
                    eprint!("{text}")
                } else {
                    print!("{text}")
                }
            };
            let (_, adapter) = commands::sample(&req, |r| say(&r.describe()))?;
            say(&format!(
                "device: {}\nwrote: {}\n",
                adapter.unwrap_or_else(|| "cpu".into()),
                if to_stdout { "standard output" } else { &a.out }
            ));
            Ok(())
        }
        Command::Verify(a) => {
            let req = VerifyRequest {
                device: a.device,
                gpu: GpuOptions {
                    backend: a.backend,
                    adapter: a.adapter.clone(),
                    ..Default::default()
                },
                level: if a.quick {
                    Level::Quick
                } else if a.full {
                    Level::Full
                } else {
                    Level::Default
                },
                seed: a.seed,
                samples: a.samples,
                json: a.json.clone(),
                markdown: a.markdown.clone(),
            };
            let report = commands::verify(&req)?;
            print!("{}", report.table());
            if !report.all_passed() {
                return Err(Error::ChecksFailed(report.failed));
            }
            Ok(())
        }
        Command::Bench(a) => {
            let req = BenchRequest {
                options: BenchOptions {
                    quick: a.quick,
                    sizes: a.sizes.clone(),
                    device: a.device,
                    gpu: GpuOptions {
                        backend: a.backend,
                        adapter: a.adapter.clone(),
                        workgroup_size: a.workgroup_size,
                        ..Default::default()
                    },
                },
                json: a.json.clone(),
                markdown: a.markdown.clone(),
            };
            print!("{}", commands::bench(&req)?.table());
            Ok(())
        }
        Command::Stream(a) => {
            let req = StreamRequest {
                seed: a.seed,
                stream: a.stream,
                offset: a.offset,
                count: a.count,
                hex: a.hex,
                device: a.device.device,
                gpu: a.device.options()?,
            };
            let drawn = req.seed.is_none();
            commands::stream(&req, |seed| {
                if drawn {
                    eprintln!("seed: {seed} (drawn; pass --seed to repeat)");
                }
            })?;
            Ok(())
        }
        Command::Propagate(a) => gpuinit::propagate::run(&a),
    }
}

fn main() -> ExitCode {
    // Headless compute needs no display; without this Mesa's EGL probes Wayland and
    // prints errors about XDG_RUNTIME_DIR while listing GL adapters.
    if std::env::var_os("EGL_PLATFORM").is_none() {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One line: clap's message without its usage and help hints.
            let text = e.render().to_string();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("{}", lines.join(" "));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
