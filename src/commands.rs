//! What the subcommands do, as library calls: `main.rs` only parses arguments into these
//! requests and prints the reports.

use std::fmt::Write as _;

use crate::bench;
use crate::cpu;
use crate::distribution::{Distribution, Sampler};
use crate::error::{Error, Result};
use crate::gpu::{check_range, GpuContext, GpuOptions, Kernel};
use crate::output::{Format, Output};
use crate::progress::{Quiet, Reporter};
use crate::scheme::{format_shape, numel, parse_shape, Fans, Layout, Scheme, SchemeOptions};
use crate::verify;

/// Where to compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    #[default]
    Gpu,
    Cpu,
}

/// Elements the CPU path computes before writing them out.
const CPU_CHUNK: u64 = 1 << 24;

/// Runs `kernel` over a stream slice on the chosen device, handing results to `sink` in order.
fn produce(
    device: Device,
    gpu: &GpuOptions,
    kernel: Kernel,
    sampler: &Sampler,
    (seed, stream, first, count): (u64, u64, u64, u64),
    mut sink: impl FnMut(&[u32]) -> Result<()>,
) -> Result<Option<String>> {
    check_range(first, count)?;
    match device {
        Device::Gpu => {
            let ctx = GpuContext::new(gpu)?;
            ctx.stream_out(kernel, sampler, seed, stream, first, count, sink)?;
            Ok(ctx
                .adapter_summary()
                .map(|a| format!("{} ({})", a.name, a.backend)))
        }
        Device::Cpu => {
            let mut buf = vec![0u32; count.min(CPU_CHUNK) as usize];
            let mut done = 0;
            while done < count {
                let n = (count - done).min(CPU_CHUNK) as usize;
                let chunk = &mut buf[..n];
                match kernel {
                    Kernel::Words => cpu::words(seed, stream, first + done, chunk),
                    Kernel::Generate => cpu::generate(
                        sampler,
                        seed,
                        stream,
                        first + done,
                        bytemuck::cast_slice_mut(chunk),
                    ),
                }
                sink(chunk)?;
                done += n as u64;
            }
            Ok(None)
        }
    }
}

/// How the tensor is described: a shape, or fans and a count.
#[derive(Clone, Debug, Default)]
pub struct TensorSpec {
    pub shape: Option<String>,
    pub layout: Option<Layout>,
    pub fan_in: Option<u64>,
    pub fan_out: Option<u64>,
    pub offset: Option<u64>,
    pub count: Option<u64>,
}

/// What `gpuinit sample` was asked to do.
#[derive(Clone, Debug)]
pub struct SampleRequest {
    pub scheme: String,
    pub options: SchemeOptions,
    pub tensor: TensorSpec,
    pub seed: Option<u64>,
    pub stream: u64,
    pub device: Device,
    pub gpu: GpuOptions,
    pub out: String,
}

/// A sample request with every default filled in and every value checked.
#[derive(Clone, Debug)]
pub struct ResolvedSample {
    pub scheme: Scheme,
    pub shape: Option<Vec<u64>>,
    pub layout: Layout,
    pub fans: Option<Fans>,
    pub distribution: Distribution,
    pub seed: u64,
    pub seed_drawn: bool,
    pub stream: u64,
    pub offset: u64,
    pub count: u64,
}

impl ResolvedSample {
    /// The shape written into a `.npy`: the tensor's when the whole of it is written.
    pub fn out_shape(&self) -> Vec<u64> {
        match &self.shape {
            Some(s) if self.offset == 0 && numel(s).ok() == Some(self.count) => s.clone(),
            _ => vec![self.count],
        }
    }

    /// The lines `gpuinit sample` prints.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "scheme: {}", self.scheme);
        if let Some(shape) = &self.shape {
            let _ = writeln!(
                s,
                "shape: {} (layout {:?})",
                format_shape(shape),
                self.layout
            );
        }
        if let Some(f) = self.fans {
            let _ = writeln!(s, "fan_in: {}\nfan_out: {}", f.fan_in, f.fan_out);
        }
        if let Some(g) = self.scheme.gain() {
            let _ = writeln!(s, "gain: {g}");
        }
        let sm = self.distribution.sampler();
        let _ = match self.distribution {
            Distribution::Uniform { low, high } if low == -high => {
                writeln!(s, "distribution: uniform(-bound, bound)\nbound: {high} (f32 {:e})", sm.scale)
            }
            Distribution::Uniform { low, high } => writeln!(s, "distribution: uniform({low}, {high})"),
            Distribution::Normal { mean, std } => {
                writeln!(s, "distribution: normal\nmean: {mean}\nstd: {std} (f32 {:e})", sm.scale)
            }
            Distribution::TruncatedNormal { mean, std, a, b } => writeln!(
                s,
                "distribution: truncated_normal on [{a}, {b}] std\nmean: {mean}\nstd: {std} (f32 {:e}, before truncation)",
                sm.scale
            ),
            Distribution::Constant { value } => writeln!(s, "distribution: constant\nvalue: {value}"),
        };
        let _ = writeln!(
            s,
            "seed: {}{}\nstream: {}\noffset: {}\ncount: {}",
            self.seed,
            if self.seed_drawn {
                " (drawn; pass --seed to repeat)"
            } else {
                ""
            },
            self.stream,
            self.offset,
            self.count
        );
        s
    }
}

/// Checks a sample request and fills in its defaults, before any work or output.
pub fn resolve_sample(req: &SampleRequest) -> Result<ResolvedSample> {
    let scheme = Scheme::parse(&req.scheme, &req.options)?;
    let t = &req.tensor;
    let layout = t.layout.unwrap_or(Layout::Torch);
    let explicit_fans = match (t.fan_in, t.fan_out) {
        (None, None) => None,
        (Some(i), Some(o)) => Some(Fans::new(i, o)?),
        (i, o) => {
            return Err(Error::invalid(format!(
                "give both --fan-in and --fan-out (got fan_in={} fan_out={})",
                i.map_or("none".into(), |v| v.to_string()),
                o.map_or("none".into(), |v| v.to_string())
            )))
        }
    };
    if t.layout.is_some() && t.shape.is_none() {
        return Err(Error::invalid("--layout applies only with --shape"));
    }
    let (shape, fans) = match (&t.shape, explicit_fans) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "give --shape or --fan-in/--fan-out, not both",
            ))
        }
        (Some(text), None) => {
            let shape = parse_shape(text)?;
            let fans = if scheme.needs_fans() {
                Some(Fans::from_shape(&shape, layout)?)
            } else {
                None
            };
            (Some(shape), fans)
        }
        (None, f) => (None, f),
    };
    let distribution = scheme.distribution_if_fans(fans)?;
    let offset = t.offset.unwrap_or(0);
    let count = match (&shape, t.count) {
        (Some(s), c) => {
            let n = numel(s)?;
            let count = c.unwrap_or(n.saturating_sub(offset));
            if offset.checked_add(count).is_none_or(|end| end > n) || count == 0 {
                return Err(Error::invalid(format!(
                    "slice offset {offset} count {count} is not inside the {n} elements of shape {}",
                    format_shape(s)
                )));
            }
            count
        }
        (None, Some(0)) => return Err(Error::invalid("count must be positive, got 0")),
        (None, Some(c)) => c,
        (None, None) => {
            return Err(Error::invalid(
                "give --shape, or --count with --fan-in/--fan-out",
            ))
        }
    };
    check_range(offset, count)?;
    let (seed, seed_drawn) = match req.seed {
        Some(s) => (s, false),
        None => (rand::random::<u64>(), true),
    };
    Ok(ResolvedSample {
        scheme,
        shape,
        layout,
        fans,
        distribution,
        seed,
        seed_drawn,
        stream: req.stream,
        offset,
        count,
    })
}

/// `gpuinit sample`: resolves, then writes the weights. Returns the resolution and the
/// adapter used (GPU only).
pub fn sample(
    req: &SampleRequest,
    announce: impl FnOnce(&ResolvedSample),
) -> Result<(ResolvedSample, Option<String>)> {
    let r = resolve_sample(req)?;
    let mut out = Output::create(&req.out, &r.out_shape())?;
    announce(&r);
    let sampler = r.distribution.sampler();
    let adapter = produce(
        req.device,
        &req.gpu,
        Kernel::Generate,
        &sampler,
        (r.seed, r.stream, r.offset, r.count),
        |w| out.write_u32s(w),
    )?;
    out.finish()?;
    Ok((r, adapter))
}

/// What `gpuinit stream` was asked to do.
#[derive(Clone, Debug)]
pub struct StreamRequest {
    pub seed: Option<u64>,
    pub stream: u64,
    pub offset: u64,
    pub count: u64,
    pub hex: bool,
    pub device: Device,
    pub gpu: GpuOptions,
}

/// `gpuinit stream`: raw Philox words, little-endian u32 (or hex lines), to standard output.
/// Returns the seed used.
pub fn stream(req: &StreamRequest, announce: impl FnOnce(u64)) -> Result<u64> {
    if req.count == 0 {
        return Err(Error::invalid("count must be positive, got 0"));
    }
    check_range(req.offset, req.count)?;
    let seed = req.seed.unwrap_or_else(rand::random::<u64>);
    announce(seed);
    let mut out = Output::create_as("-", Format::Raw, &[])?;
    produce(
        req.device,
        &req.gpu,
        Kernel::Words,
        &Sampler::default(),
        (seed, req.stream, req.offset, req.count),
        |w| {
            if req.hex {
                let mut text = String::with_capacity(w.len() * 9);
                for (i, word) in w.iter().enumerate() {
                    let _ = write!(
                        text,
                        "{word:08x}{}",
                        if i % 4 == 3 || i + 1 == w.len() {
                            '\n'
                        } else {
                            ' '
                        }
                    );
                }
                out.write_bytes(text.as_bytes())
            } else {
                out.write_u32s(w)
            }
        },
    )?;
    out.finish()?;
    Ok(seed)
}

/// Parses a seed, stream or index: decimal, or hexadecimal with 0x.
pub fn parse_u64(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim().replace('_', "");
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    };
    r.map_err(|e| format!("'{text}' is not an integer in 0..2^64 ({e})"))
}

/// Which generators `gpuinit verify` tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyDevice {
    #[default]
    Gpu,
    Cpu,
    Both,
}

/// What `gpuinit verify` was asked to do.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    pub device: VerifyDevice,
    pub gpu: GpuOptions,
    pub level: verify::Level,
    pub seed: Option<u64>,
    pub samples: Option<u64>,
    pub json: Option<String>,
    pub markdown: Option<String>,
}

/// The `--json` and `--markdown` files of a long command, opened before the work starts so a
/// bad path fails at once, and published only when the report is written (no partial file).
struct ReportFiles {
    json: Option<Output>,
    markdown: Option<Output>,
}

impl ReportFiles {
    fn open(json: &Option<String>, markdown: &Option<String>) -> Result<Self> {
        let open = |p: &Option<String>| {
            p.as_deref()
                .map(|p| Output::create_as(p, Format::Raw, &[]))
                .transpose()
        };
        Ok(ReportFiles {
            json: open(json)?,
            markdown: open(markdown)?,
        })
    }

    fn write(self, json: impl FnOnce() -> String, markdown: impl FnOnce() -> String) -> Result<()> {
        for (out, text) in [(self.json, json()), (self.markdown, markdown())] {
            if let Some(mut out) = out {
                out.write_bytes(text.as_bytes())?;
                out.finish()?;
            }
        }
        Ok(())
    }
}

/// `gpuinit verify`: runs the battery, prints the table, writes JSON and Markdown.
pub fn verify(req: &VerifyRequest) -> Result<verify::Report> {
    let opts = verify::Options::new(req.level, req.seed, req.samples)?;
    let reports = ReportFiles::open(&req.json, &req.markdown)?;
    let gpu = match req.device {
        VerifyDevice::Gpu | VerifyDevice::Both => Some(verify::GpuSource::new(&req.gpu)?),
        VerifyDevice::Cpu => None,
    };
    let mut sources: Vec<&dyn verify::Source> = Vec::new();
    if let Some(g) = &gpu {
        sources.push(g);
    }
    if req.device != VerifyDevice::Gpu {
        sources.push(&verify::CpuSource);
    }
    let steps = verify::Battery::new(opts.clone(), &mut Quiet).steps() * sources.len() as u64;
    let report = verify::run(opts, &sources, &mut Reporter::new("verify", steps))?;
    reports.write(|| report.json(), || report.markdown())?;
    Ok(report)
}

/// What `gpuinit bench` was asked to do.
#[derive(Clone, Debug)]
pub struct BenchRequest {
    pub options: bench::BenchOptions,
    pub json: Option<String>,
    pub markdown: Option<String>,
}

/// `gpuinit bench`: measures, then writes JSON and Markdown if asked.
pub fn bench(req: &BenchRequest) -> Result<bench::Report> {
    let reports = ReportFiles::open(&req.json, &req.markdown)?;
    let sizes = req
        .options
        .sizes
        .as_ref()
        .map_or(if req.options.quick { 2 } else { 5 }, Vec::len) as u64;
    let steps = sizes * (1 + bench::SCHEMES.len() as u64) + if req.options.quick { 1 } else { 2 };
    let report = bench::run(&req.options, &mut Reporter::new("bench", steps))?;
    reports.write(|| report.json(), || report.markdown())?;
    Ok(report)
}
