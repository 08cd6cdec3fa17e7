//! `gpuinit propagate`: deep forward (and backward) passes on generated weights, a table
//! per scheme, `--json` and `--plot`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use gpuinit::propagate::{
    self, fmt_num, parse_inits, Activation, Init, Network, PropagateReport, Run, SchemeReport,
    MAX_BATCH, MAX_DEPTH, MAX_WIDTH, TOLERANCE,
};
use gpuinit::{DeviceChoice, Devices, Error, Result};

use crate::cli::{any_device, named, parse_u64, GpuArgs};
use crate::output::{distinct, Format, Output, PathOutput};
use crate::plot;
use crate::say::{out, Say};

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

/// The plot's file format, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    Svg,
    Png,
}

impl PlotFormat {
    pub fn of(path: &Path) -> Result<PlotFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(PlotFormat::Svg),
            Some("png") => Ok(PlotFormat::Png),
            _ => Err(Error::invalid(format!(
                "--plot '{}' must end in .svg or .png",
                path.display()
            ))),
        }
    }
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
fn resolve(args: &PropagateArgs) -> Result<(Network, Vec<Init>)> {
    let inits = parse_inits(&args.init)?;
    let widths = match (&args.widths, args.depth, args.width) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Error::invalid(
                "give --widths, or --depth and --width, not both",
            ))
        }
        (Some(text), None, None) => parse_widths(text)?,
        (None, depth, width) => {
            let depth = depth.unwrap_or(10);
            let width = width.unwrap_or(256);
            if depth == 0 || depth > MAX_DEPTH as u64 {
                return Err(Error::invalid(format!(
                    "--depth {depth} is not in 1..={MAX_DEPTH}"
                )));
            }
            if width == 0 || width > MAX_WIDTH as u64 {
                return Err(Error::invalid(format!(
                    "--width {width} is not in 1..={MAX_WIDTH}"
                )));
            }
            vec![width as usize; depth as usize + 1]
        }
    };
    if args.batch == 0 || args.batch > MAX_BATCH as u64 {
        return Err(Error::invalid(format!(
            "--batch {} is not in 1..={MAX_BATCH}",
            args.batch
        )));
    }
    if args.negative_slope.is_some() && args.activation != Activation::LeakyRelu {
        return Err(Error::invalid(
            "--negative-slope applies only with --activation leaky_relu",
        ));
    }
    let slope = args.negative_slope.unwrap_or(0.01);
    let seed = args.seed.unwrap_or_else(rand::random::<u64>);
    let net = Network::new(
        widths,
        args.batch as usize,
        args.activation,
        slope as f32,
        seed,
    )?;
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

/// The per-layer table of one run, and its closing ratio line.
fn table(run: &Run, net: &Network) -> String {
    let mut s = String::new();
    let backward = run.layers.iter().any(|l| l.gradient.is_some());
    let _ = write!(
        s,
        "{:>6} {:>6} {:>11} {:>11} {:>10}",
        "layer", "width", "mean", "std", "saturated"
    );
    if backward {
        let _ = write!(s, " {:>11} {:>11}", "grad std", "wgrad std");
    }
    s.push('\n');
    for l in &run.layers {
        let a = &l.activation;
        let name = if l.layer == 0 {
            "input".to_string()
        } else {
            l.layer.to_string()
        };
        let sat = match a.saturated {
            Some(f) if l.layer > 0 => format!("{:.1}%", 100.0 * f),
            _ => "-".into(),
        };
        let _ = write!(
            s,
            "{name:>6} {:>6} {:>11} {:>11} {sat:>10}",
            l.width,
            fmt_num(a.mean),
            fmt_num(a.std)
        );
        if backward {
            let g = l.gradient.as_ref().map_or("-".into(), |g| fmt_num(g.std));
            let w = l
                .weight_gradient
                .as_ref()
                .map_or("-".into(), |g| fmt_num(g.std));
            let _ = write!(s, " {g:>11} {w:>11}");
        }
        if a.nonfinite > 0 {
            let _ = write!(s, "  ({} inf/nan)", a.nonfinite);
        }
        s.push('\n');
    }
    let d = net.depth();
    let _ = write!(
        s,
        "std ratio layer {d} / layer 1: {}",
        fmt_num(run.std_ratio())
    );
    if d > 1 {
        let per = run.std_ratio().powf(1.0 / (d - 1) as f64);
        let _ = write!(s, " ({} per layer)", fmt_num(per));
    }
    if let Some(g) = run.gradient_std_ratio() {
        let _ = write!(
            s,
            "; gradient std ratio layer 1 / layer {d}: {}",
            fmt_num(g)
        );
    }
    s.push('\n');
    s
}

/// The lines above the tables: the network, and where its inputs come from.
fn header(net: &Network, args: &PropagateArgs) -> String {
    let d = net.depth();
    let widths = if net.widths.iter().all(|&w| w == net.widths[0]) {
        format!("{} x {} layers", net.widths[0], d)
    } else {
        let w: Vec<String> = net.widths.iter().map(usize::to_string).collect();
        w.join(" -> ")
    };
    let slope = if net.activation == Activation::LeakyRelu {
        format!(" (slope {})", net.negative_slope)
    } else {
        String::new()
    };
    let drawn = if args.seed.is_none() {
        " (drawn; pass --seed to repeat)"
    } else {
        ""
    };
    let gradient = if args.backward {
        "; top gradient N(0, 1) (stream 2^64-2)"
    } else {
        ""
    };
    format!(
        "network: {widths}, activation {}{slope}, batch {}, seed {}{drawn}\ninput N(0, 1) (stream 2^64-1); layer l's weights on stream l; biases 0{gradient}; saturated: {}\n",
        net.activation,
        net.batch,
        net.seed,
        net.activation.saturation_rule()
    )
}

/// One scheme's section: its weights, each device's time, the table, the comparison.
fn section(report: &SchemeReport, net: &Network, backward: bool) -> String {
    let main = report.main_run();
    let mut s = format!(
        "\n{}: layer 1 weights {}, fan_in*E[W^2] = {}\n",
        report.scheme,
        main.layer1_weights,
        fmt_num(main.layer1_fan_in_variance)
    );
    let flops = net.forward_flops() + if backward { net.backward_flops() } else { 0.0 };
    for r in [&report.gpu, &report.cpu].into_iter().flatten() {
        let _ = writeln!(
            s,
            "{}: {:.3} s ({:.1} GFLOP/s with weight generation and statistics)",
            r.device,
            r.seconds,
            flops / r.seconds / 1e9
        );
    }
    s += &table(main, net);
    if let Some(c) = &report.comparison {
        let verdict = if c.within_tolerance() {
            "within tolerance".to_string()
        } else {
            format!("OUTSIDE tolerance at {}", c.worst().at)
        };
        let _ = writeln!(
            s,
            "GPU vs CPU reference: worst std {:.2e} (relative), mean {:.2e} (of std), min/max {:.2e}, counts {} values; {verdict} (tolerance {:.0e} relative)",
            c.std.deviation,
            c.mean.deviation,
            c.extremes.deviation,
            c.counts.deviation.max(c.histogram.deviation),
            TOLERANCE.rel
        );
    }
    s
}

pub fn run(args: &PropagateArgs) -> Result<()> {
    let (net, inits) = resolve(args)?;
    // Outputs are opened, and the device checked against the network, before any work.
    let (json_path, plot_path) = (
        args.json.as_ref().map(|p| p.to_string_lossy().into_owned()),
        args.plot.as_ref().map(|p| p.to_string_lossy().into_owned()),
    );
    distinct(&[
        ("--json", json_path.as_deref()),
        ("--plot", plot_path.as_deref()),
    ])?;
    let json = args
        .json
        .as_ref()
        .map(|p| Output::create_as(&p.to_string_lossy(), Format::Raw, &[]))
        .transpose()?;
    let plot = args.plot.as_deref().map(PathOutput::open).transpose()?;
    let devices = Devices::open(args.device, &args.gpu.options()?, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    if let Some(g) = &devices.gpu {
        propagate::check_gpu(g, &net, args.backward)?;
    }
    out(&header(&net, args))?;
    let mut schemes = Vec::new();
    let mut failures = Vec::new();
    for init in &inits {
        let r =
            propagate::run_scheme(&net, init, args.backward, devices.gpu.as_ref(), devices.cpu)?;
        out(&section(&r, &net, args.backward))?;
        if let Some(c) = r.comparison.as_ref().filter(|c| !c.within_tolerance()) {
            failures.push(format!("{} ({})", init.label, c.worst().at));
        }
        schemes.push(r);
    }
    let report = PropagateReport::new(net, args.backward, schemes);
    if let (Some(mut file), Some(path)) = (json, &args.json) {
        let text = serde_json::to_string_pretty(&report).expect("the report serializes");
        file.write_bytes((text + "\n").as_bytes())?;
        file.finish()?;
        out(&format!("\nwrote {}\n", path.display()))?;
    }
    if let (Some(file), Some(path)) = (plot, &args.plot) {
        plot::draw(&report, file.path(), PlotFormat::of(path)?)
            .map_err(|e| Error::write(format!("'{}'", path.display()), std::io::Error::other(e)))?;
        file.finish()?;
        out(&format!("wrote {}\n", path.display()))?;
    }
    if !failures.is_empty() {
        return Err(Error::Gpu(format!(
            "GPU and CPU reference disagree beyond the documented tolerance for {}",
            failures.join(", ")
        )));
    }
    Ok(())
}
