//! `gpuinit verify`: the statistical battery on each device, as a table, JSON or Markdown.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use gpuinit::verify::{self, tiny_context, Level, Options, Report, Row, Subject};
use gpuinit::{DeviceChoice, Devices, Error, GpuOptions, Result};

use crate::cli::{any_device, parse_u64, GpuArgs, ReportArgs};
use crate::commands::checkpoint::{self, CheckpointArgs};
use crate::output::ReportFiles;
use crate::render::progress::Reporter;
use crate::render::say::{out, Say};
use crate::render::table::Table;

#[derive(Args)]
pub struct VerifyArgs {
    /// Which generators to test: the GPU (against the CPU reference), the CPU, both, or
    /// auto (the GPU when there is one).
    #[arg(long, value_parser = any_device(), default_value = "auto")]
    device: DeviceChoice,
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
    /// Check a checkpoint `gpuinit init` wrote, instead of the generator: names, dtypes and
    /// shapes against the spec, moments against each scheme, every element against
    /// regeneration.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["quick", "full", "samples", "seed"])]
    checkpoint: Option<PathBuf>,
    /// With --checkpoint: the Hugging Face config.json it was made from (default: DIR's own).
    #[arg(long, requires = "checkpoint", conflicts_with = "spec")]
    config: Option<PathBuf>,
    /// With --checkpoint: the gpuinit spec file it was made from.
    #[arg(long, requires = "checkpoint")]
    spec: Option<PathBuf>,
    /// With --checkpoint: the --dtype it was made with.
    #[arg(long, requires = "checkpoint")]
    dtype: Option<String>,
    /// With --checkpoint: compare windows of each tensor with regeneration, not every
    /// element (every value is still read for the support and moment checks).
    #[arg(long, requires = "checkpoint")]
    sample: bool,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    gpu: GpuArgs,
    /// Philox rounds compiled into the GPU kernels: 10; fewer only to watch the battery fail.
    #[arg(long, hide = true, default_value_t = gpuinit::abi::PHILOX_ROUNDS)]
    philox_rounds: u32,
}

pub fn run(a: &VerifyArgs) -> Result<()> {
    if let Some(dir) = &a.checkpoint {
        return checkpoint::run(&CheckpointArgs {
            dir,
            config: a.config.as_deref(),
            spec: a.spec.as_deref(),
            dtype: a.dtype.as_deref(),
            device: a.device,
            mode: if a.sample {
                gpuinit::init::check::Mode::Sample
            } else {
                gpuinit::init::check::Mode::Full
            },
            gpu: a.gpu.options()?,
            json: &a.report.json,
            markdown: &a.report.markdown,
        });
    }
    let level = if a.quick {
        Level::Quick
    } else if a.full {
        Level::Full
    } else {
        Level::Default
    };
    let opts = Options::new(level, a.seed, a.samples)?;
    let files = ReportFiles::open(&a.report.json, &a.report.markdown)?;
    let gpu = GpuOptions {
        philox_rounds: a.philox_rounds,
        ..a.gpu.options()?
    };
    let devices = Devices::open(a.device, &gpu, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    let tiny = devices.gpu.as_ref().map(tiny_context).transpose()?;
    let mut subjects = Vec::new();
    if let (Some(g), Some(t)) = (&devices.gpu, &tiny) {
        subjects.push(Subject::gpu(g, t));
    }
    if devices.cpu {
        subjects.push(Subject::cpu());
    }
    let steps = verify::steps(&opts) * subjects.len() as u64;
    let mut progress = Reporter::new("verify", steps);
    let report = verify::run(opts, &subjects, &mut progress)?;
    drop(progress);
    files.write(|| json(&report), || markdown(&report))?;
    out(&table(&report))?;
    if !report.all_passed() {
        return Err(Error::ChecksFailed(report.failed));
    }
    Ok(())
}

const HEADER: [&str; 9] = [
    "device",
    "scheme",
    "shape",
    "check",
    "expected",
    "measured",
    "statistic",
    "p-value / tolerance",
    "result",
];

fn cells(r: &Row) -> Vec<String> {
    let judged = match (&r.p_value, &r.tolerance) {
        (Some(p), _) => format!("p = {p:.3e}"),
        (None, Some(t)) => t.clone(),
        (None, None) => String::new(),
    };
    vec![
        r.device.clone(),
        r.scheme.clone(),
        r.shape.clone(),
        r.check.clone(),
        r.expected.clone(),
        r.measured.clone(),
        r.statistic.clone(),
        judged,
        if r.pass { "PASS".into() } else { "FAIL".into() },
    ]
}

fn rows(r: &Report) -> Table {
    let mut t = Table::new(&HEADER, false);
    for row in &r.rows {
        t.row(cells(row));
    }
    t
}

/// The lines after the table: counts, the error rate, power and time.
fn summary(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "family-wise error rate {:e} over {} statistical checks (Bonferroni: each passes at p >= {:.2e}, |z| <= {:.2}); exact checks must hold exactly",
        r.fwer, r.statistical_checks, r.per_check_alpha, r.z_threshold
    );
    let det: Vec<String> = r
        .detectable_variance_error
        .iter()
        .map(|d| {
            format!(
                "{} {:.2}% ({:.2}% at 97.7% power)",
                d.distribution,
                100.0 * d.at_half_power,
                100.0 * d.at_high_power
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "samples per check: {}; detectable relative variance error: {}",
        r.samples,
        det.join(", ")
    );
    let _ = writeln!(s, "seed: {:#x}", r.seed);
    for d in &r.devices {
        let _ = writeln!(s, "time on {}: {:.1} s", d.device, d.seconds);
    }
    let _ = writeln!(s, "{} passed, {} failed", r.passed, r.failed);
    s
}

/// Aligned plain-text table and summary.
pub fn table(r: &Report) -> String {
    rows(r).text() + "\n" + &summary(r)
}

pub fn markdown(r: &Report) -> String {
    rows(r).markdown() + "\n" + &summary(r).replace('\n', "  \n")
}

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("the report serializes") + "\n"
}
