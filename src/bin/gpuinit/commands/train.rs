//! `gpuinit train`: each scheme's network trained on Shapeset-3x2, its test error at
//! log-spaced checkpoints, the final error with its interval, and the training throughput.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use gpuinit::cpu::activation::Activation;
use gpuinit::output::{distinct, PathOutput};
use gpuinit::progress::{Progress, Quiet};
use gpuinit::propagate::parse_inits;
use gpuinit::train::{self, Device, Options, Report, SchemeRun};
use gpuinit::{DeviceChoice, Devices, Error, Result};

use crate::cli::{any_device, named, parse_f32, parse_u64, GpuArgs};
use crate::output::ReportFiles;
use crate::render::plot::PlotFormat;
use crate::render::progress::Reporter;
use crate::render::say::{out, Say};
use crate::render::table::Table;

#[derive(Args)]
pub struct TrainArgs {
    /// Schemes to compare, comma-separated, each with optional `:key=value` options.
    #[arg(long, default_value = "standard,xavier_uniform")]
    init: String,
    /// Activation of every hidden layer (the output layer is linear, then softmax).
    #[arg(long, value_parser = named::<gpuinit::cpu::activation::Activation>(), default_value = "tanh")]
    activation: gpuinit::cpu::activation::Activation,
    /// leaky_relu's slope for negative inputs.
    #[arg(long, value_parser = parse_f32, default_value = "0.01", allow_negative_numbers = true)]
    negative_slope: f32,
    /// Hidden layers.
    #[arg(long, default_value_t = 5)]
    depth: usize,
    /// Units in each hidden layer.
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// SGD updates (one minibatch of fresh training images each).
    #[arg(long, value_parser = parse_u64, default_value = "20000")]
    updates: u64,
    /// Images per minibatch (the paper's 10).
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Constant learning rate.
    #[arg(
        long,
        value_parser = parse_f32,
        default_value = "0.1",
        allow_negative_numbers = true,
        conflicts_with = "lr_grid"
    )]
    lr: f32,
    /// Rates to try, comma-separated: each scheme keeps the one with the lowest validation
    /// error, as the paper chose its rates.
    #[arg(long, value_parser = parse_f32, value_delimiter = ',', allow_negative_numbers = true)]
    lr_grid: Option<Vec<f32>>,
    /// Seed of the images and of the initial weights.
    #[arg(long, value_parser = parse_u64, default_value = "1")]
    seed: u64,
    /// Test images (the first of the test set).
    #[arg(long, value_parser = parse_u64, default_value = "10000")]
    test_images: u64,
    /// Validation images, for --lr-grid.
    #[arg(long, value_parser = parse_u64, default_value = "2000")]
    validation_images: u64,
    /// Where to train: the GPU, the CPU reference, or both (each scheme twice, GPU first).
    #[arg(long, value_parser = any_device(), default_value = "auto")]
    device: DeviceChoice,
    /// Record each hidden layer's outputs (mean, std, saturation) on 1000 test images at
    /// every checkpoint, as `propagate` shows them at initialization.
    #[arg(long)]
    track_layers: bool,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Draw test error against updates for every scheme (FILE.svg or FILE.png).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    gpu: GpuArgs,
}

pub fn run(a: &TrainArgs) -> Result<()> {
    let schemes: Vec<_> = parse_inits(&a.init)?
        .into_iter()
        .map(|i| (i.label, i.scheme))
        .collect();
    let opts = Options {
        depth: a.depth,
        width: a.width,
        activation: a.activation,
        slope: a.negative_slope,
        updates: a.updates,
        batch: a.batch,
        lrs: a.lr_grid.clone().unwrap_or_else(|| vec![a.lr]),
        seed: a.seed,
        test_images: a.test_images,
        validation_images: a.validation_images,
        track_layers: a.track_layers,
    };
    opts.check()?;
    let plot_name = a.plot.as_ref().map(|p| p.to_string_lossy().into_owned());
    distinct(&[
        ("--json", a.json.as_deref()),
        ("--plot", plot_name.as_deref()),
    ])?;
    let format = a.plot.as_deref().map(PlotFormat::of).transpose()?;
    let files = ReportFiles::open(&a.json, &None)?;
    let plot = a.plot.as_deref().map(PathOutput::open).transpose()?;
    let devices = Devices::open(a.device, &a.gpu.options()?, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    let mut on = Vec::new();
    on.extend(devices.gpu.as_ref().map(Device::Gpu));
    if devices.cpu {
        on.push(Device::Cpu);
    }
    let steps =
        (on.len() * schemes.len() * opts.lrs.len() * (train::checkpoints(opts.updates).len() + 1))
            as u64;
    let mut progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(Reporter::new("train", steps))
    } else {
        Box::new(Quiet)
    };
    let report = train::run(&opts, &schemes, &on, progress.as_mut())?;
    drop(progress);
    files.write(
        || serde_json::to_string_pretty(&report).expect("the report serializes") + "\n",
        String::new,
    )?;
    if let (Some(file), Some(path), Some(format)) = (plot, &a.plot, format) {
        crate::render::train_plot::draw(&report, file.path(), format)
            .map_err(|e| Error::write(format!("'{}'", path.display()), std::io::Error::other(e)))?;
        file.finish()?;
    }
    out(&text(&report))
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// A table per scheme, then one line per scheme.
fn text(r: &Report) -> String {
    let o = &r.options;
    let mut s = format!(
        "network: {} ({} hidden layers of {} {}), softmax; minibatches of {}, seed {}\n",
        r.sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("-"),
        o.depth,
        o.width,
        o.activation.name(),
        o.batch,
        o.seed,
    );
    for run in &r.runs {
        s += &scheme_table(run);
        s += &layer_table(run, o.activation);
    }
    let mut t = Table::new(
        &[
            "scheme",
            "device",
            "lr",
            "test error",
            "95% interval",
            "samples/s",
            "GFLOP/s",
            "train s",
        ],
        true,
    );
    for run in &r.runs {
        t.row(vec![
            run.scheme.clone(),
            run.device.clone(),
            format!("{}", run.lr),
            format!("{} of {}", percent(run.test_error), run.test_images),
            format!("{} to {}", percent(run.interval.0), percent(run.interval.1)),
            format!("{:.0}", run.samples_per_s),
            format!("{:.2}", run.gflops),
            format!("{:.1}", run.seconds),
        ]);
    }
    s + "\n" + &t.text()
}

fn scheme_table(run: &SchemeRun) -> String {
    let mut s = format!("\n{} on {} (lr {})", run.scheme, run.device, run.lr);
    if !run.lr_grid.is_empty() {
        let tried: Vec<String> = run
            .lr_grid
            .iter()
            .map(|(lr, v)| match v {
                Some(e) => format!("{lr}: {}", percent(*e)),
                None => format!("{lr}: diverged"),
            })
            .collect();
        let _ = write!(s, ", chosen on validation error from {}", tried.join(", "));
    }
    s.push('\n');
    let mut t = Table::new(&["updates", "train loss", "test error"], true);
    for c in &run.checkpoints {
        t.row(vec![
            c.updates.to_string(),
            format!("{:.4}", c.train_loss),
            percent(c.test_error),
        ]);
    }
    s + &t.text()
}

/// With --track-layers: a row per checkpoint, a column per hidden layer.
fn layer_table(run: &SchemeRun, act: Activation) -> String {
    let Some(first) = run.checkpoints.first().filter(|c| !c.layers.is_empty()) else {
        return String::new();
    };
    let mut head = vec!["updates".to_string()];
    head.extend(first.layers.iter().map(|l| format!("layer {}", l.layer)));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&head, true);
    for c in &run.checkpoints {
        let mut row = vec![c.updates.to_string()];
        row.extend(c.layers.iter().map(|l| {
            let sat = l
                .saturated
                .map_or(String::new(), |f| format!(" {:.1}%", 100.0 * f));
            let bad = if l.nonfinite > 0 {
                format!(" ({} inf/nan)", l.nonfinite)
            } else {
                String::new()
            };
            format!("{:.3}±{:.3}{sat}{bad}", l.mean, l.std)
        }));
        t.row(row);
    }
    let rule = if act.saturates() {
        format!(", saturated: {}", act.saturation_rule())
    } else {
        String::new()
    };
    format!(
        "\nhidden outputs on the first {} test images (mean±std{rule})\n{}",
        train::TRACK_IMAGES.min(run.test_images as usize),
        t.text()
    )
}
