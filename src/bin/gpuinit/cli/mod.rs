//! The command line's arguments: the commands ([`command`]), each command's own arguments
//! and their checks (`init`, `propagate`; the others beside their command), and here what
//! every command shares: the GPU flags, the device, scheme options, numbers.

pub mod command;
pub mod init;
pub mod propagate;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use gpuinit::gpu::device::timeout_from_env;
use gpuinit::gpu::parse_timeout;
use gpuinit::gpu::Mulhilo;
use gpuinit::named::Named;
use gpuinit::rng::options::flag;
use gpuinit::rng::OPTIONS;
use gpuinit::{BackendChoice, DeviceChoice, Error, GpuOptions, SchemeOptions};

/// A value parser for a [`Named`] enum, listing its names (and accepting its aliases, with
/// `-` for `_`) in help and errors.
pub fn named<T: Named + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    let values = T::all().iter().map(|v| {
        let aliases: Vec<String> = v
            .names()
            .iter()
            .flat_map(|n| [n.to_string(), n.replace('_', "-")])
            .filter(|a| a != v.name())
            .collect();
        PossibleValue::new(v.name()).aliases(aliases)
    });
    PossibleValuesParser::new(values)
        .map(|s| T::parse_named(&s).expect("clap accepts only listed names"))
}

/// `--device` limited to `allowed`.
pub fn device_parser(allowed: &[DeviceChoice]) -> impl TypedValueParser<Value = DeviceChoice> {
    let names: Vec<&'static str> = allowed.iter().map(|d| d.name()).collect();
    PossibleValuesParser::new(names)
        .map(|s| DeviceChoice::parse_named(&s).expect("clap accepts only listed names"))
}

/// `--device` of commands that compute on one device.
pub fn one_device() -> impl TypedValueParser<Value = DeviceChoice> {
    device_parser(&[DeviceChoice::Auto, DeviceChoice::Gpu, DeviceChoice::Cpu])
}

/// `--device` of commands that can compare the two.
pub fn any_device() -> impl TypedValueParser<Value = DeviceChoice> {
    device_parser(DeviceChoice::all())
}

/// Which adapter and how to drive it.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "GPU")]
pub struct GpuArgs {
    /// Graphics API (default: WGPU_BACKEND, else any).
    #[arg(long, value_parser = named::<BackendChoice>(), default_value = "auto")]
    pub backend: BackendChoice,
    /// Adapter name substring (default: WGPU_ADAPTER_NAME, else the most capable).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Bound on each GPU wait (default: GPUINIT_GPU_TIMEOUT_S, else 120).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub gpu_timeout: Option<std::time::Duration>,
    /// Invocations per generation workgroup (default 256).
    #[arg(long)]
    pub workgroup_size: Option<u32>,
    /// Philox's 32x32-bit multiply in the generation kernels: 64 (one u64 product, needs
    /// SHADER_INT64), 16 (16-bit halves, any adapter), auto (64 where offered). Same bits.
    #[arg(long, value_parser = named::<Mulhilo>(), default_value = "auto")]
    pub mulhilo: Mulhilo,
}

impl GpuArgs {
    /// The options, `GPUINIT_GPU_TIMEOUT_S` checked whichever device runs (a bad value is
    /// the same error as a bad `--gpu-timeout`).
    pub fn options(&self) -> Result<GpuOptions, Error> {
        let timeout = match self.gpu_timeout {
            Some(t) => Some(t),
            None => timeout_from_env()?,
        };
        Ok(GpuOptions {
            backend: self.backend,
            adapter: self.adapter.clone(),
            timeout,
            workgroup_size: self.workgroup_size,
            mulhilo: self.mulhilo,
            ..Default::default()
        })
    }
}

fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    parse_timeout("--gpu-timeout", text).map_err(|e| e.to_string())
}

/// The report files of a long command.
#[derive(Args, Clone, Debug)]
pub struct ReportArgs {
    /// Write every figure and setting as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,
    /// Write the table as Markdown.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<String>,
}

/// Parses a seed, stream or index: decimal, or hexadecimal with 0x.
pub fn parse_u64(text: &str) -> Result<u64, String> {
    let t = text.trim().replace('_', "");
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    };
    r.map_err(|e| format!("'{text}' is not an integer in 0..2^64 ({e})"))
}

/// Parses a rate or slope the kernels hold as f32: a finite number within f32's range (so
/// that `1e308` is refused as written, not as the `inf` it would round to).
pub fn parse_f32(text: &str) -> Result<f32, String> {
    let x: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !x.is_finite() || x.abs() > f64::from(f32::MAX) {
        return Err(format!(
            "'{text}' is not a finite number an f32 holds (|x| <= 3.4e38)"
        ));
    }
    Ok(x as f32)
}

/// Parses 1048576, 1Mi, 64k.
pub fn parse_size(text: &str) -> Result<u64, String> {
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

/// The scheme options as flags (`--gain 2`), one per entry of [`OPTIONS`].
#[derive(Clone, Debug, Default)]
pub struct SchemeArgs(Vec<(&'static str, String)>);

impl SchemeArgs {
    pub fn options(&self) -> Result<SchemeOptions, Error> {
        let mut o = SchemeOptions::default();
        for (key, value) in &self.0 {
            o.set(key, value)
                .map_err(|e| Error::invalid(format!("{}: {e}", flag(key))))?;
        }
        Ok(o)
    }
}

impl FromArgMatches for SchemeArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(SchemeArgs(
            OPTIONS
                .iter()
                .filter_map(|o| m.get_one::<String>(o.key).map(|v| (o.key, v.clone())))
                .collect(),
        ))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for SchemeArgs {
    fn augment_args(cmd: Command) -> Command {
        OPTIONS.iter().fold(cmd, |cmd, o| {
            cmd.arg(
                Arg::new(o.key)
                    .long(flag(o.key).trim_start_matches('-').to_string())
                    .help(o.help)
                    .value_name(if o.numeric { "X" } else { "NAME" })
                    .allow_negative_numbers(o.numeric)
                    .help_heading("Scheme options"),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
