//! `gpuinit verify --checkpoint DIR`: a checkpoint judged against its spec, one line for each
//! tensor that is missing, extra or wrong, then what was checked.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use gpuinit::init::check::Mode;
use gpuinit::init::read::INDEX;
use gpuinit::init::{self, check::CheckRow, Checkpoint, CheckpointReport};
use gpuinit::progress::{Progress, Quiet};
use gpuinit::{DeviceChoice, Devices, Error, GpuOptions, Result};

use crate::output::ReportFiles;
use crate::render::progress::Reporter;
use crate::render::say::{out, Say};
use crate::render::table::Table;

/// What `verify --checkpoint` was given.
pub struct CheckpointArgs<'a> {
    pub dir: &'a Path,
    pub config: Option<&'a Path>,
    pub spec: Option<&'a Path>,
    pub dtype: Option<&'a str>,
    pub device: DeviceChoice,
    pub mode: Mode,
    pub gpu: GpuOptions,
    pub json: &'a Option<String>,
    pub markdown: &'a Option<String>,
}

pub fn run(a: &CheckpointArgs) -> Result<()> {
    if a.device == DeviceChoice::Both {
        return Err(Error::invalid(
            "--device both is not for --checkpoint: the values are regenerated on one device; give gpu or cpu and run it twice",
        ));
    }
    let ckpt = Checkpoint::open(a.dir)?;
    // Without --config or --spec, the config.json `gpuinit init --config` copied beside the
    // weights.
    let beside: PathBuf = a.dir.join("config.json");
    let config = match (a.config, a.spec) {
        (None, None) if beside.symlink_metadata().is_ok() => Some(beside.as_path()),
        (None, None) => {
            return Err(Error::invalid(format!(
                "'{}' has no config.json; give --config or --spec",
                a.dir.display()
            )))
        }
        (c, _) => c,
    };
    let spec = init::load_spec(config, a.spec, a.dtype)?;
    let planned = init::resolve(&spec)?;
    refuse_clobbering(
        &ckpt,
        &[config, a.spec],
        &[("--json", a.json), ("--markdown", a.markdown)],
    )?;
    let files = ReportFiles::open(a.json, a.markdown)?;
    let devices = Devices::open(a.device, &a.gpu, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    // A bar on a terminal; no line per tensor otherwise (a model has hundreds).
    let mut progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(Reporter::new("verify", planned.len() as u64))
    } else {
        Box::new(Quiet)
    };
    let report = init::check(
        &ckpt,
        &planned,
        devices.primary(),
        a.mode,
        progress.as_mut(),
    )?;
    drop(progress);
    files.write(|| json(&report), || markdown(&report))?;
    out(&text(&report))?;
    if !report.all_passed() {
        // The summary's count of failed checks (a missing, extra or unreadable tensor or
        // file is one too).
        return Err(Error::ChecksFailed(report.failed));
    }
    Ok(())
}

/// A report would replace the file it is written over once the run ends: one of the
/// checkpoint's own files, its index, or the config or spec it is judged by is refused.
fn refuse_clobbering(
    ckpt: &Checkpoint,
    inputs: &[Option<&Path>],
    reports: &[(&str, &Option<String>)],
) -> Result<()> {
    let mut ours: Vec<PathBuf> = (0..ckpt.files.len()).map(|k| ckpt.path(k)).collect();
    ours.push(ckpt.dir.join(INDEX));
    ours.extend(inputs.iter().flatten().map(|p| p.to_path_buf()));
    let ours: Vec<PathBuf> = ours
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for (flag, path) in reports {
        let Some(path) = path else { continue };
        if let Ok(p) = std::fs::canonicalize(path) {
            if ours.contains(&p) {
                return Err(Error::invalid(format!(
                    "{flag} '{path}' is a file of the checkpoint or its spec; the report would replace it"
                )));
            }
        }
    }
    Ok(())
}

/// A line per finding, then the summary.
fn text(r: &CheckpointReport) -> String {
    let mut s = String::new();
    for f in &r.findings {
        let line = format!("{:<7}  {}: {}", f.kind, f.tensor, f.what);
        let _ = writeln!(s, "{}", one_line(&line));
    }
    s + &summary(r)
}

/// `line` with its control characters escaped: a tensor name from a file cannot start a
/// line of its own (and pass for a finding of another tensor).
fn one_line(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn summary(r: &CheckpointReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "checkpoint: {} ({} file(s)): {} tensors, {} parameters, {:.3} GB",
        r.dir,
        r.files.len(),
        r.tensors,
        r.parameters,
        r.bytes as f64 / 1e9
    );
    let seed = r.seed.map_or("(none recorded)".into(), |s| s.to_string());
    let _ = writeln!(
        s,
        "seed: {seed}; written on: {}; regenerated on: {}",
        r.written_on.as_deref().unwrap_or("(not recorded)"),
        r.regenerated_on
    );
    let mode = match r.mode {
        Mode::Full => "every element (full)",
        Mode::Sample => "windows of each tensor (--sample)",
    };
    let _ = writeln!(
        s,
        "compared with regeneration: {mode}, {} elements",
        r.regenerated_elements
    );
    let _ = writeln!(
        s,
        "family-wise error rate {:e} over {} statistical checks (Bonferroni: each passes at p >= {:.2e}, |z| <= {:.2}); exact checks must hold exactly",
        r.fwer, r.statistical_checks, r.per_check_alpha, r.z_threshold
    );
    let _ = writeln!(
        s,
        "{} checks passed, {} failed; {} tensor(s) missing, extra or wrong",
        r.passed,
        r.failed,
        r.findings.len()
    );
    s
}

fn markdown(r: &CheckpointReport) -> String {
    let mut t = Table::new(
        &[
            "tensor", "check", "expected", "measured", "p-value", "result",
        ],
        false,
    );
    for row in &r.rows {
        t.row(cells(row));
    }
    t.markdown() + "\n" + &summary(r).replace('\n', "  \n")
}

fn cells(r: &CheckRow) -> Vec<String> {
    vec![
        r.tensor.clone(),
        r.check.clone(),
        r.expected.clone(),
        r.measured.clone(),
        r.p_value.map_or(String::new(), |p| format!("{p:.3e}")),
        if r.pass { "PASS".into() } else { "FAIL".into() },
    ]
}

fn json(r: &CheckpointReport) -> String {
    serde_json::to_string_pretty(r).expect("the report serializes") + "\n"
}
