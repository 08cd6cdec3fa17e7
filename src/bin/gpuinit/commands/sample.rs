//! `gpuinit sample`: one tensor (or a slice of it) under a scheme, as .npy, .bin or raw f32
//! on standard output.

use std::fmt::Write as _;

use clap::Args;
use gpuinit::output::is_stdout;
use gpuinit::rng::{check_range, Span};
use gpuinit::rng::{format_shape, numel, parse_shape, Distribution, Fans, Layout, Scheme};
use gpuinit::{DeviceChoice, Devices, Error, Result};

use crate::cli::{named, one_device, parse_u64, GpuArgs, SchemeArgs};
use crate::output;
use crate::render::say::Say;

#[derive(Args)]
pub struct SampleArgs {
    /// Scheme name: variance_scaling, xavier_uniform, xavier_normal, glorot_uniform,
    /// glorot_normal, kaiming_uniform, kaiming_normal, he_uniform, he_normal, lecun_uniform,
    /// lecun_normal, standard, uniform, normal, truncated_normal, constant, zeros, ones.
    #[arg(long)]
    scheme: String,
    /// Weight shape such as 256x128 or 64x3x3x3.
    #[arg(long)]
    shape: Option<String>,
    /// Axis order of --shape: torch = [out, in, k...], jax = [k..., in, out].
    #[arg(long, value_parser = named::<Layout>())]
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
    /// Where to compute: the GPU, the CPU reference, or auto (the GPU when there is one).
    #[arg(long, value_parser = one_device(), default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    scheme_options: SchemeArgs,
    #[command(flatten)]
    gpu: GpuArgs,
}

/// A sample request with every default filled in and every value checked.
struct Resolved {
    scheme: Scheme,
    shape: Option<Vec<u64>>,
    layout: Layout,
    fans: Option<Fans>,
    distribution: Distribution,
    seed: u64,
    seed_drawn: bool,
    offset: u64,
    count: u64,
}

impl Resolved {
    /// The shape written into a `.npy`: the tensor's when the whole of it is written.
    fn out_shape(&self) -> Vec<u64> {
        match &self.shape {
            Some(s) if self.offset == 0 && numel(s).ok() == Some(self.count) => s.clone(),
            _ => vec![self.count],
        }
    }
}

/// The shape and fans `a` describes.
fn tensor(a: &SampleArgs, scheme: &Scheme) -> Result<(Option<Vec<u64>>, Option<Fans>)> {
    let explicit_fans = match (a.fan_in, a.fan_out) {
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
    if a.layout.is_some() && a.shape.is_none() {
        return Err(Error::invalid("--layout applies only with --shape"));
    }
    match (&a.shape, explicit_fans) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "give --shape or --fan-in/--fan-out, not both",
        )),
        (Some(text), None) => {
            let shape = parse_shape(text)?;
            let fans = scheme
                .needs_fans()
                .then(|| Fans::from_shape(&shape, a.layout.unwrap_or(Layout::Torch)))
                .transpose()?;
            Ok((Some(shape), fans))
        }
        (None, f) => Ok((None, f)),
    }
}

/// The slice `(offset, count)` of the tensor to write.
fn slice(a: &SampleArgs, shape: &Option<Vec<u64>>) -> Result<(u64, u64)> {
    let offset = a.offset.unwrap_or(0);
    let count = match (shape, a.count) {
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
    Ok((offset, count))
}

/// Checks the request and fills in its defaults, before any work or output.
fn resolve(a: &SampleArgs) -> Result<Resolved> {
    let scheme = Scheme::parse(&a.scheme, &a.scheme_options.options()?)?;
    let (shape, fans) = tensor(a, &scheme)?;
    let distribution = scheme.distribution_if_fans(fans)?;
    let (offset, count) = slice(a, &shape)?;
    let (seed, seed_drawn) = match a.seed {
        Some(s) => (s, false),
        None => (rand::random::<u64>(), true),
    };
    Ok(Resolved {
        scheme,
        shape,
        layout: a.layout.unwrap_or(Layout::Torch),
        fans,
        distribution,
        seed,
        seed_drawn,
        offset,
        count,
    })
}

/// The lines `gpuinit sample` prints.
fn describe(r: &Resolved, stream: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scheme: {}", r.scheme);
    if let Some(shape) = &r.shape {
        let _ = writeln!(s, "shape: {} (layout {})", format_shape(shape), r.layout);
    }
    if let Some(f) = r.fans {
        let _ = writeln!(s, "fan_in: {}\nfan_out: {}", f.fan_in, f.fan_out);
    }
    if let Some(g) = r.scheme.gain() {
        let _ = writeln!(s, "gain: {g}");
    }
    let sm = r.distribution.sampler();
    let _ = match r.distribution {
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
    let drawn = if r.seed_drawn {
        " (drawn; pass --seed to repeat)"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "seed: {}{drawn}\nstream: {stream}\noffset: {}\ncount: {}",
        r.seed, r.offset, r.count
    );
    s
}

pub fn run(a: &SampleArgs) -> Result<()> {
    let r = resolve(a)?;
    let to_stdout = is_stdout(&a.out);
    // What we say goes to standard error when the values go to standard output.
    let mut say = if to_stdout {
        Say::stderr()
    } else {
        Say::stdout()
    };
    let devices = Devices::open(a.device, &a.gpu.options()?, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    let mut out = output::create(&a.out, &r.out_shape())?;
    out.check_space(r.count.saturating_mul(4))?;
    say.text(&describe(&r, a.stream))?;
    let sampler = r.distribution.sampler();
    let generator = devices.primary();
    generator.stream_values(
        &sampler,
        Span {
            seed: r.seed,
            stream: a.stream,
            first: r.offset,
            count: r.count,
        },
        &mut |v| out.write_f32s(v),
    )?;
    out.finish()?;
    let wrote = if to_stdout { "standard output" } else { &a.out };
    say.text(&format!("device: {}\nwrote: {wrote}\n", generator.label()))
}
