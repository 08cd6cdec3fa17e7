//! `gpuinit propagate`'s arguments, and their checks before any work: the sizes by the
//! library's own ([`Network::new`]), naming the flag a refused value came from.

use std::path::{Path, PathBuf};

use clap::Args;
use gpuinit::propagate::{self, parse_inits, Activation, Init, Network};
use gpuinit::{DeviceChoice, Error, Result};

use crate::cli::{any_device, named, parse_u64, GpuArgs};
use crate::render::plot::PlotFormat;

/// `gpuinit propagate`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct PropagateArgs {
    /// Schemes to compare, comma-separated, each with optional `:key=value` options:
    /// standard,xavier_uniform  or  xavier_uniform:gain=1.667,kaiming_normal:nonlinearity=tanh
    #[arg(long, default_value = "standard,xavier_uniform")]
    pub init: String,
    /// Activation of every layer.
    #[arg(long, value_parser = named::<Activation>(), default_value = "tanh")]
    pub activation: Activation,
    /// leaky_relu's slope for negative inputs (default 0.01).
    #[arg(long, allow_negative_numbers = true)]
    pub negative_slope: Option<f64>,
    /// Number of layers [default: 10].
    #[arg(long)]
    pub depth: Option<u64>,
    /// Width of the input and of every layer [default: 256].
    #[arg(long)]
    pub width: Option<u64>,
    /// Input width then each layer's, e.g. 784,1000,1000,10 (instead of --depth/--width).
    #[arg(long)]
    pub widths: Option<String>,
    /// Rows of the input batch.
    #[arg(long, default_value_t = 256)]
    pub batch: u64,
    /// Seed (decimal or 0x hex); drawn and printed when absent.
    #[arg(long, value_parser = parse_u64)]
    pub seed: Option<u64>,
    /// Where to compute; `both` checks the GPU against the CPU reference layer by layer.
    #[arg(long, value_parser = any_device(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Also propagate a seeded standard-normal gradient back from the top layer.
    #[arg(long)]
    pub backward: bool,
    /// Write every statistic (histograms included) as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw per-layer histograms and std against depth (FILE.svg or FILE.png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// Checks that a file can be created at `path` (its directory exists), before any work.
fn check_output_path(flag: &str, path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.file_name().is_none() || !dir.is_dir() {
        return Err(Error::invalid(format!(
            "{flag} '{}': no such directory '{}'",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Parses `--widths 784,1000,1000,10`: the input width, then each layer's.
pub fn parse_widths(text: &str) -> Result<Vec<usize>> {
    let widths: Vec<usize> = text
        .split([',', 'x'])
        .map(|w| w.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::invalid(format!(
                "--widths '{text}' is not a comma-separated list of positive integers"
            ))
        })?;
    Ok(widths)
}

/// The network and schemes a `propagate` command asks for, checked before any work.
pub fn resolve(args: &PropagateArgs) -> Result<(Network, Vec<Init>)> {
    let inits = parse_inits(&args.init)?;
    let widths = match (&args.widths, args.depth, args.width) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Error::invalid(
                "give --widths, or --depth and --width, not both",
            ))
        }
        (Some(text), None, None) => parse_widths(text)?,
        // The library checks the depth before it allocates the widths.
        (None, depth, width) => {
            Network::uniform(
                size(depth.unwrap_or(10)),
                size(width.unwrap_or(256)),
                1,
                args.activation,
                0,
            )
            .map_err(|e| flagged(e, &["depth", "width"]))?
            .widths
        }
    };
    // A slope without leaky_relu is refused after the batch and before the slope's value,
    // as it always was.
    let mismatch = args.negative_slope.is_some() && args.activation != Activation::LeakyRelu;
    let slope = match args.negative_slope {
        Some(s) if !mismatch => s,
        _ => 0.01,
    };
    let seed = args.seed.unwrap_or_else(rand::random::<u64>);
    let net = Network::new(
        widths,
        size(args.batch),
        args.activation,
        slope as f32,
        seed,
    )
    .map_err(|e| flagged(e, &["batch"]))?;
    if mismatch {
        return Err(Error::invalid(
            "--negative-slope applies only with --activation leaky_relu",
        ));
    }
    for init in &inits {
        net.weight_samplers(&init.scheme)?;
    }
    if let Some(p) = &args.json {
        check_output_path("--json", p)?;
    }
    if let Some(p) = &args.plot {
        PlotFormat::of(p)?;
        check_output_path("--plot", p)?;
    }
    if args.device == DeviceChoice::Cpu || args.device == DeviceChoice::Both {
        propagate::check_cpu(&net, args.backward)?;
    }
    Ok((net, inits))
}

/// A count from the command line as a size; past `usize` is past every limit anyway.
fn size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The library names the size it refused (`width 0 is not in 1..=16777216`); where the user
/// gave that size as a flag, the message names the flag (`--width 0 is not in ...`).
fn flagged(e: Error, flags: &[&str]) -> Error {
    match e {
        Error::InvalidInput(m) if flags.iter().any(|f| m.starts_with(&format!("{f} "))) => {
            Error::InvalidInput(format!("--{m}"))
        }
        e => e,
    }
}
