//! `gpuinit verify --checkpoint`: a checkpoint read back and judged against its spec. Each
//! tensor's name, dtype and shape must be the spec's; its recorded scheme and stream the
//! spec's; every value finite and inside the scheme's support (after rounding to the
//! dtype); its moments the scheme's, at the battery's family-wise error rate; and its
//! elements (every one by default, windows of them with [`Mode::Sample`]) what
//! regeneration gives.

use std::collections::{BTreeMap, HashMap};

use super::read::{Checkpoint, Stored};
use super::spec::Planned;
use crate::engine::Generator;
use crate::error::Result;
use crate::progress::Progress;
use crate::rng::format_shape;
use crate::stats::Threshold;

pub use super::check_report::{
    CheckRow, CheckpointReport, Finding, Mode, FWER, MIN_FOR_SHAPE, MIN_FOR_VARIANCE, WINDOW,
};
use super::judge::Judge;

/// Checks whose failure is the finding's whole text (their `measured`), and its kind.
const PRESENT: &str = "present";
const IN_SPEC: &str = "in the spec";
const IN_CHECKPOINT: &str = "in the checkpoint";
const FILES: &str = "files";

/// Judges `ckpt` against the resolved spec, regenerating with `gen`.
pub fn check(
    ckpt: &Checkpoint,
    spec: &[Planned],
    gen: &dyn Generator,
    mode: Mode,
    progress: &mut dyn Progress,
) -> Result<CheckpointReport> {
    let seeds: Vec<_> = (0..ckpt.files.len()).map(|k| ckpt.seed(k)).collect();
    let reference = reference_seed(&seeds);
    let here = super::device_kind(gen);
    let judge = Judge {
        ckpt,
        gen,
        mode,
        here: here.clone(),
        seeds,
        reference,
    };
    let stored: HashMap<&str, &Stored> =
        ckpt.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut rows = Vec::new();
    let mut regenerated = 0;
    for t in spec {
        progress.step(&t.name);
        match stored.get(t.name.as_str()) {
            Some(s) => regenerated += judge.tensor(t, s, &mut rows)?,
            None => rows.push(missing(ckpt, t)),
        }
    }
    structural_rows(ckpt, spec, &mut rows);
    let checks = rows.iter().filter(|r| r.p_value.is_some()).count();
    let threshold = Threshold::new(checks, FWER);
    for r in &mut rows {
        if let Some(p) = r.p_value {
            r.pass = threshold.passes_p(p);
        }
    }
    let findings = findings(&rows);
    let passed = rows.iter().filter(|r| r.pass).count();
    Ok(CheckpointReport {
        dir: ckpt.dir.display().to_string(),
        files: ckpt.files.clone(),
        tensors: ckpt.tensors.len(),
        parameters: ckpt
            .tensors
            .iter()
            .map(|t| t.shape.iter().product::<u64>())
            .sum(),
        bytes: ckpt.tensors.iter().map(|t| t.bytes).sum(),
        seed: reference.map(|(s, _)| s),
        written_on: ckpt.metadata.get("gpuinit.device").cloned(),
        regenerated_on: here,
        mode,
        regenerated_elements: regenerated,
        fwer: FWER,
        statistical_checks: checks,
        per_check_alpha: threshold.alpha,
        z_threshold: threshold.z,
        passed,
        failed: rows.len() - passed,
        findings,
        rows,
    })
}

/// The seed most files carry (the first file's of those that tie), and the first file
/// carrying it.
fn reference_seed(seeds: &[std::result::Result<u64, String>]) -> Option<(u64, usize)> {
    let mut count: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for (k, s) in seeds.iter().enumerate() {
        if let Ok(s) = s {
            let e = count.entry(*s).or_insert((0, k));
            e.0 += 1;
        }
    }
    count
        .into_iter()
        .max_by_key(|&(_, (n, first))| (n, std::cmp::Reverse(first)))
        .map(|(s, (_, first))| (s, first))
}

/// The row of a tensor of the spec that no file holds, saying where the index put it.
fn missing(ckpt: &Checkpoint, t: &Planned) -> CheckRow {
    let what = format!("{:?} {}", t.dtype, format_shape(&t.shape)).to_lowercase();
    let place = ckpt.weight_map.as_ref().and_then(|m| m.get(&t.name));
    let bad = place.and_then(|f| {
        ckpt.bad_files
            .iter()
            .find(|(k, _)| ckpt.files[*k] == *f)
            .map(|(_, why)| (f, why))
    });
    let measured = match bad {
        Some((f, why)) if why == "absent" => {
            format!("the spec has {what}; the index puts it in {f}, which is absent")
        }
        Some((f, why)) => {
            format!("the spec has {what}; the index puts it in {f}, which cannot be read: {why}")
        }
        None => format!("the spec has {what}; no file holds it"),
    };
    CheckRow::exact(&t.name, PRESENT, "in the files".into(), measured, false)
}

/// Failed rows for what is wrong beyond one tensor's values: tensors the spec lacks, files
/// that cannot be read, the index and the headers disagreeing, stray files.
fn structural_rows(ckpt: &Checkpoint, spec: &[Planned], rows: &mut Vec<CheckRow>) {
    let named: HashMap<&str, &Planned> = spec.iter().map(|t| (t.name.as_str(), t)).collect();
    for s in &ckpt.tensors {
        if !named.contains_key(s.name.as_str()) {
            let measured = format!(
                "{} {} in {}; the spec has no such tensor",
                s.dtype,
                format_shape(&s.shape),
                ckpt.files[s.file]
            );
            rows.push(CheckRow::exact(
                &s.name,
                IN_SPEC,
                "a tensor of the spec".into(),
                measured,
                false,
            ));
        }
    }
    for (k, why) in &ckpt.bad_files {
        let f = &ckpt.files[*k];
        let n = ckpt
            .weight_map
            .iter()
            .flatten()
            .filter(|(_, g)| *g == f)
            .count();
        let measured = format!("{why}; the index names it for {n} tensor(s)");
        rows.push(CheckRow::exact(
            f,
            FILES,
            "a safetensors file".into(),
            measured,
            false,
        ));
    }
    for (tensor, what) in &ckpt.problems {
        let check = if tensor.ends_with(".safetensors") && !tensor.contains(' ') {
            IN_CHECKPOINT
        } else {
            FILES
        };
        rows.push(CheckRow::exact(
            tensor,
            check,
            "files, index and metadata that agree".into(),
            what.clone(),
            false,
        ));
    }
}

/// One line per tensor (or file) with a failed row, its failures joined, in the rows'
/// order.
fn findings(rows: &[CheckRow]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for r in rows.iter().filter(|r| !r.pass) {
        let kind = match r.check.as_str() {
            PRESENT => "missing",
            IN_SPEC | IN_CHECKPOINT => "extra",
            _ => "wrong",
        };
        let text = match r.check.as_str() {
            PRESENT | IN_SPEC | IN_CHECKPOINT | FILES => r.measured.clone(),
            _ => format!("{}: {} (expected {})", r.check, r.measured, r.expected),
        };
        match out
            .iter_mut()
            .find(|f| f.kind == kind && f.tensor == r.tensor)
        {
            Some(f) => {
                f.what.push_str("; ");
                f.what.push_str(&text);
            }
            None => out.push(Finding {
                kind,
                tensor: r.tensor.clone(),
                what: text,
            }),
        }
    }
    out
}
