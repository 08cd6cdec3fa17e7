//! `gpuinit verify --checkpoint`: a checkpoint read back and judged against its spec. Each
//! tensor's name, dtype and shape must be the spec's; its recorded scheme and stream the
//! spec's; every value finite and inside the scheme's support (after rounding to the
//! dtype); its moments the scheme's, at the battery's family-wise error rate; and windows
//! of its elements the bits regeneration gives.

use std::collections::HashMap;

use serde::Serialize;

use super::read::{Checkpoint, Stored};
use super::spec::{Dtype, Planned};
use super::{encode_range, zero_spans};
use crate::engine::Generator;
use crate::error::Result;
use crate::progress::Progress;
use crate::rng::distribution::KIND_NORMAL;
use crate::rng::tolerance::{MAX_ABS_PER_STD, MAX_ULPS};
use crate::rng::{format_shape, Distribution, Span};
use crate::stats::{moment_tests, Moments, Threshold};

/// The family-wise error rate of all of a checkpoint's statistical checks together.
pub const FWER: f64 = crate::stats::FWER;
/// Fewest elements a tensor needs for its mean and variance to be tested, and for its
/// skewness and excess kurtosis (whose large-sample standard errors are good from there).
pub const MIN_FOR_VARIANCE: u64 = 1024;
pub const MIN_FOR_SHAPE: u64 = 1 << 16;
/// Elements in each window compared with regeneration, and the windows a tensor gets.
pub const WINDOW: u64 = 1024;
/// Bytes read at a time.
const READ_BYTES: u64 = 1 << 24;

/// One check of one tensor.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    pub tensor: String,
    pub check: String,
    pub expected: String,
    pub measured: String,
    /// For statistical checks: the p-value, judged at the report's per-check level.
    pub p_value: Option<f64>,
    pub pass: bool,
}

/// What is wrong with one tensor, a line.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `missing` (in the spec, not the files), `extra` (in the files, not the spec), or
    /// `wrong`.
    pub kind: &'static str,
    pub tensor: String,
    pub what: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckpointReport {
    pub dir: String,
    pub files: Vec<String>,
    pub tensors: usize,
    pub parameters: u64,
    pub bytes: u64,
    pub seed: Option<u64>,
    /// Who wrote the normal values (`gpuinit.device`), and who regenerated them here.
    pub written_on: Option<String>,
    pub regenerated_on: String,
    pub fwer: f64,
    pub statistical_checks: usize,
    pub per_check_alpha: f64,
    pub z_threshold: f64,
    pub passed: usize,
    pub failed: usize,
    pub findings: Vec<Finding>,
    pub rows: Vec<CheckRow>,
}

impl CheckRow {
    fn exact(tensor: &str, check: &str, expected: String, measured: String, pass: bool) -> Self {
        CheckRow {
            tensor: tensor.into(),
            check: check.into(),
            expected,
            measured,
            p_value: None,
            pass,
        }
    }
}

impl CheckpointReport {
    pub fn all_passed(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Judges `ckpt` against the resolved spec, regenerating with `gen`.
pub fn check(
    ckpt: &Checkpoint,
    spec: &[Planned],
    gen: &dyn Generator,
    progress: &mut dyn Progress,
) -> Result<CheckpointReport> {
    let seed = ckpt
        .metadata
        .get("gpuinit.seed")
        .and_then(|s| s.parse().ok());
    let written_on = ckpt.metadata.get("gpuinit.device").cloned();
    let here = super::device_kind(gen);
    let judge = Judge {
        ckpt,
        gen,
        seed,
        same_device: written_on.as_deref() == Some(here.as_str()),
    };
    let stored: HashMap<&str, &Stored> =
        ckpt.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut rows = Vec::new();
    for t in spec {
        progress.step(&t.name);
        if let Some(s) = stored.get(t.name.as_str()) {
            judge.tensor(t, s, &mut rows)?;
        }
    }
    let checks = rows.iter().filter(|r| r.p_value.is_some()).count();
    let threshold = Threshold::new(checks, FWER);
    for r in &mut rows {
        if let Some(p) = r.p_value {
            r.pass = threshold.passes_p(p);
        }
    }
    let findings = findings(ckpt, spec, &rows);
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
        seed,
        written_on,
        regenerated_on: here,
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

/// One line per tensor that is missing, extra, or fails a check (its failures joined).
fn findings(ckpt: &Checkpoint, spec: &[Planned], rows: &[CheckRow]) -> Vec<Finding> {
    let mut out = Vec::new();
    let named: HashMap<&str, &Planned> = spec.iter().map(|t| (t.name.as_str(), t)).collect();
    let have: HashMap<&str, &Stored> = ckpt.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    for t in spec {
        if !have.contains_key(t.name.as_str()) {
            let what = format!("{:?} {}", t.dtype, format_shape(&t.shape)).to_lowercase();
            out.push(Finding {
                kind: "missing",
                tensor: t.name.clone(),
                what: format!("the spec has {what}; no file holds it"),
            });
        }
        let failed: Vec<String> = rows
            .iter()
            .filter(|r| r.tensor == t.name && !r.pass)
            .map(|r| format!("{}: {} (expected {})", r.check, r.measured, r.expected))
            .collect();
        if !failed.is_empty() {
            out.push(Finding {
                kind: "wrong",
                tensor: t.name.clone(),
                what: failed.join("; "),
            });
        }
    }
    for s in &ckpt.tensors {
        if !named.contains_key(s.name.as_str()) {
            out.push(Finding {
                kind: "extra",
                tensor: s.name.clone(),
                what: format!(
                    "{} {} in {}; the spec has no such tensor",
                    s.dtype,
                    format_shape(&s.shape),
                    ckpt.files[s.file]
                ),
            });
        }
    }
    for (tensor, what) in &ckpt.problems {
        out.push(Finding {
            kind: "wrong",
            tensor: tensor.clone(),
            what: what.clone(),
        });
    }
    out
}

struct Judge<'a> {
    ckpt: &'a Checkpoint,
    gen: &'a dyn Generator,
    seed: Option<u64>,
    same_device: bool,
}

/// What one pass over a tensor's values saw (outside its zero rows).
struct Pass {
    moments: Moments,
    /// Values other than the constant, for a constant scheme.
    off_constant: u64,
    /// Nonzero values in zero rows.
    nonzero_in_zero_rows: u64,
}

impl Judge<'_> {
    fn tensor(&self, t: &Planned, s: &Stored, rows: &mut Vec<CheckRow>) -> Result<()> {
        let row = |check: &str, expected: String, measured: String, pass: bool| {
            CheckRow::exact(&t.name, check, expected, measured, pass)
        };
        let want = format!("{} {}", t.dtype.safetensors_name(), format_shape(&t.shape));
        let got = format!("{} {}", s.dtype, format_shape(&s.shape));
        let fits = Dtype::from_safetensors(&s.dtype) == Some(t.dtype)
            && s.shape == t.shape
            && s.bytes == t.bytes;
        let measured = if s.bytes == t.bytes {
            got
        } else {
            format!("{got}, {} bytes of data", s.bytes)
        };
        rows.push(row("dtype and shape", want, measured, fits));
        let meta = |k: &str| self.ckpt.metadata.get(&format!("gpuinit.{k}.{}", t.name));
        let (scheme, stream) = (meta("scheme"), meta("stream"));
        let recorded = format!(
            "scheme {}, stream {}",
            scheme.map_or("(none)", |s| s.as_str()),
            stream.map_or("(none)", |s| s.as_str())
        );
        let ok = scheme == Some(&t.scheme) && stream == Some(&t.stream.to_string());
        let expected = format!("scheme {}, stream {}", t.scheme, t.stream);
        rows.push(row("recorded scheme and stream", expected, recorded, ok));
        if !fits {
            return Ok(());
        }
        let pass = self.pass(t, s)?;
        self.judge_values(t, &pass, rows);
        rows.push(self.sample(t, s)?);
        Ok(())
    }

    /// Reads every value once, in pieces.
    fn pass(&self, t: &Planned, s: &Stored) -> Result<Pass> {
        let size = t.dtype.size();
        let constant = match t.distribution {
            Distribution::Constant { value } => Some(t.dtype.round(value as f32).to_bits()),
            _ => None,
        };
        let mut p = Pass {
            moments: Moments::new(),
            off_constant: 0,
            nonzero_in_zero_rows: 0,
        };
        let step = READ_BYTES / size * size;
        let mut from = 0;
        while from < s.bytes {
            let len = step.min(s.bytes - from);
            let values = t.dtype.decode(&self.ckpt.read(s, from, len)?);
            // Padding rows are not samples of the scheme: count their nonzeros, skip them.
            let mut start = 0;
            let mut samples = Vec::new();
            for r in zero_spans(t, from / size, values.len()) {
                let zeros = &values[r.clone()];
                p.nonzero_in_zero_rows += zeros.iter().filter(|v| v.to_bits() != 0).count() as u64;
                samples.push(start..r.start);
                start = r.end;
            }
            samples.push(start..values.len());
            for r in samples {
                let xs = &values[r];
                p.moments.push(xs);
                if let Some(c) = constant {
                    p.off_constant += xs.iter().filter(|v| v.to_bits() != c).count() as u64;
                }
            }
            from += len;
        }
        Ok(p)
    }

    fn judge_values(&self, t: &Planned, p: &Pass, rows: &mut Vec<CheckRow>) {
        let row = |check: &str, expected: String, measured: String, pass: bool| {
            CheckRow::exact(&t.name, check, expected, measured, pass)
        };
        let round = |v: f32| t.dtype.round(v);
        let s = &t.sampler;
        let nonfinite = p.moments.nonfinite_count();
        let (lo, hi) = (p.moments.min() as f32, p.moments.max() as f32);
        let (expected, inside) = match t.distribution {
            Distribution::Uniform { low, high } => {
                let (a, b) = (round(low as f32), round(high as f32));
                (format!("inside [{a:e}, {b:e}]"), lo >= a && hi <= b)
            }
            Distribution::TruncatedNormal { .. } => {
                let (a, b) = (round(s.lo), round(s.hi));
                (format!("inside [{a:e}, {b:e}]"), lo >= a && hi <= b)
            }
            Distribution::Normal { .. } => ("finite".into(), true),
            Distribution::Constant { value } => (
                format!("every value {:e}", round(value as f32)),
                p.off_constant == 0,
            ),
        };
        rows.push(row(
            "support",
            format!("{expected}, no NaN or inf"),
            format!("[{lo:e}, {hi:e}], {nonfinite} non-finite"),
            inside && nonfinite == 0,
        ));
        if !t.zero_rows.is_empty() {
            rows.push(row(
                "zero rows",
                format!("rows {:?} all +0", t.zero_rows),
                format!("{} nonzero", p.nonzero_in_zero_rows),
                p.nonzero_in_zero_rows == 0,
            ));
        }
        let n = p.moments.count();
        if matches!(t.distribution, Distribution::Constant { .. }) || n < MIN_FOR_VARIANCE {
            return;
        }
        let tests = moment_tests(&p.moments, &t.distribution);
        let take = if n >= MIN_FOR_SHAPE { 4 } else { 2 };
        for (name, z) in tests.rows().into_iter().take(take) {
            rows.push(CheckRow {
                p_value: Some(z.p),
                ..row(
                    name,
                    format!("{:.6e}", z.expected),
                    format!("{:.6e} (z = {:+.2})", z.observed, z.z),
                    true,
                )
            });
        }
    }

    /// Windows of elements (the first, the middle, the last, and one the stream picks)
    /// against regeneration: bit for bit when the same kind of device wrote them or the
    /// scheme is uniform or constant; else, for normal values, within docs/STREAM.md's bound
    /// of the f32 value, rounded to the dtype.
    fn sample(&self, t: &Planned, s: &Stored) -> Result<CheckRow> {
        let exact = self.same_device || t.sampler.kind != KIND_NORMAL;
        let expected = if exact {
            "bit for bit".into()
        } else {
            format!("within {MAX_ULPS} ulps or {MAX_ABS_PER_STD:e} std of f32, then rounded")
        };
        let mut row = CheckRow::exact(&t.name, "regenerated", expected, String::new(), false);
        let Some(seed) = self.seed else {
            row.measured = "no gpuinit.seed in the metadata".into();
            return Ok(row);
        };
        let (mut tried, mut differ) = (0u64, 0u64);
        for (first, count) in windows(t) {
            let size = t.dtype.size();
            let have = self.ckpt.read(s, first * size, count * size)?;
            if exact {
                let want = encode_range(self.gen, t, seed, (first, count))?;
                differ += have
                    .chunks_exact(size as usize)
                    .zip(want.chunks_exact(size as usize))
                    .filter(|(a, b)| a != b)
                    .count() as u64;
            } else {
                differ += self.within_bound(t, seed, (first, count), &have)?;
            }
            tried += count;
        }
        row.measured = format!("{differ} of {tried} differ");
        row.pass = differ == 0;
        Ok(row)
    }

    /// Elements of `have` outside [round(r - b), round(r + b)] for regenerated f32 `r` and
    /// the documented bound `b`: rounding is monotone, so these are exactly the values no
    /// f32 within the bound rounds to.
    fn within_bound(
        &self,
        t: &Planned,
        seed: u64,
        (first, count): (u64, u64),
        have: &[u8],
    ) -> Result<u64> {
        let mut want = Vec::with_capacity(count as usize);
        self.gen.stream_values(
            &t.sampler,
            Span {
                seed,
                stream: t.stream,
                first,
                count,
            },
            &mut |v| {
                want.extend_from_slice(v);
                Ok(())
            },
        )?;
        for r in zero_spans(t, first, want.len()) {
            want[r].fill(0.0);
        }
        let std = match t.distribution {
            Distribution::Normal { std, .. } | Distribution::TruncatedNormal { std, .. } => std,
            _ => 0.0,
        };
        let have = t.dtype.decode(have);
        let bad = have
            .iter()
            .zip(&want)
            .filter(|(&c, &r)| {
                let ulp = f64::from(f32::from_bits(r.abs().to_bits() + 1) - r.abs());
                let b = (f64::from(MAX_ULPS) * ulp).max(MAX_ABS_PER_STD * std);
                let lo = t.dtype.round((f64::from(r) - b) as f32);
                let hi = t.dtype.round((f64::from(r) + b) as f32);
                !(c >= lo && c <= hi)
            })
            .count();
        Ok(bad as u64)
    }
}

/// Up to four windows of [`WINDOW`] elements: the first, the middle, the last, and one at
/// a place the stream picks; the whole tensor when it is that small.
fn windows(t: &Planned) -> Vec<(u64, u64)> {
    let n = t.numel;
    if n <= 4 * WINDOW {
        return vec![(0, n)];
    }
    let picked = t.stream % (n - WINDOW + 1);
    let mut starts = vec![0, n / 2 - WINDOW / 2, n - WINDOW, picked];
    starts.sort_unstable();
    starts.dedup();
    starts.into_iter().map(|s| (s, WINDOW)).collect()
}
