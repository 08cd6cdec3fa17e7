//! `gpuinit verify --checkpoint`: a checkpoint read back and judged against its spec. Each
//! tensor's name, dtype and shape must be the spec's; its recorded scheme and stream the
//! spec's; every value finite and inside the scheme's support (after rounding to the
//! dtype); its moments the scheme's, at the battery's family-wise error rate; and its
//! elements (every one by default, windows of them with [`Mode::Sample`]) what
//! regeneration gives.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{channel, sync_channel};

use serde::Serialize;

use super::read::{read_fully, Checkpoint, Stored};
use super::spec::{Dtype, Planned};
use super::{zero_spans, Encoder};
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
/// Elements in each window compared with regeneration in [`Mode::Sample`].
pub const WINDOW: u64 = 1024;
/// Bytes read at a time: a reader thread reads the next piece while this one is checked,
/// so at most three pieces (48 MiB) and their regeneration are held at once.
const READ_BYTES: u64 = 1 << 24;

/// Which elements are compared with regeneration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every element (the default): a flipped bit or two swapped elements anywhere fail.
    #[default]
    Full,
    /// Up to four windows of [`WINDOW`] elements a tensor (`--sample`): damage outside
    /// them is seen only by the support and moment checks, if at all.
    Sample,
}

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

/// What is wrong with one tensor (or file), a line: its failed checks joined.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `missing` (in the spec, not the files), `extra` (in the files, not the spec; or a
    /// safetensors file not the checkpoint's), or `wrong`.
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
    /// `gpuinit.seed` of the metadata (the one most files carry, should they differ).
    pub seed: Option<u64>,
    /// Who wrote the normal values (`gpuinit.device`), and who regenerated them here.
    pub written_on: Option<String>,
    pub regenerated_on: String,
    /// Which elements were compared with regeneration.
    pub mode: Mode,
    /// How many were.
    pub regenerated_elements: u64,
    pub fwer: f64,
    pub statistical_checks: usize,
    pub per_check_alpha: f64,
    pub z_threshold: f64,
    /// Rows that passed and failed; a missing, extra or unreadable tensor or file is a
    /// failed row too, so `failed` is 0 exactly when `findings` is empty.
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
        self.failed == 0 && self.findings.is_empty()
    }
}

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

struct Judge<'a> {
    ckpt: &'a Checkpoint,
    gen: &'a dyn Generator,
    mode: Mode,
    /// [`super::device_kind`] of `gen`.
    here: String,
    /// Each file's seed, or what is wrong with it.
    seeds: Vec<std::result::Result<u64, String>>,
    /// The seed most files carry, and the first of them.
    reference: Option<(u64, usize)>,
}

/// What one pass over a tensor's values saw (outside its zero rows).
struct Pass {
    moments: Moments,
    /// Values other than the constant, for a constant scheme.
    off_constant: u64,
    /// Nonzero values in zero rows.
    nonzero_in_zero_rows: u64,
}

/// Elements compared with regeneration, how many differ, and the first that does.
#[derive(Default)]
struct Diff {
    tried: u64,
    differ: u64,
    first: Option<u64>,
}

impl Diff {
    fn add(&mut self, at: u64, differ: bool) {
        if differ {
            self.differ += 1;
            self.first.get_or_insert(at);
        }
    }
}

/// How regenerated values are compared: bit for bit, or within the cross-device bound of
/// a normal scheme of this standard deviation.
#[derive(Clone, Copy)]
enum Compare {
    Exact,
    Within { std: f64 },
}

impl Judge<'_> {
    /// The rows of one tensor; the elements compared with regeneration.
    fn tensor(&self, t: &Planned, s: &Stored, rows: &mut Vec<CheckRow>) -> Result<u64> {
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
        // The tensor's own file's metadata: its scheme, stream, seed and device.
        let file_meta = &self.ckpt.file_metadata[s.file];
        let meta = |k: &str| file_meta.get(&format!("gpuinit.{k}.{}", t.name));
        let (scheme, stream) = (meta("scheme"), meta("stream"));
        let recorded = format!(
            "scheme {}, stream {}",
            scheme.map_or("(none)", |s| s.as_str()),
            stream.map_or("(none)", |s| s.as_str())
        );
        let ok = scheme == Some(&t.scheme) && stream == Some(&t.stream.to_string());
        let expected = format!("scheme {}, stream {}", t.scheme, t.stream);
        rows.push(row("recorded scheme and stream", expected, recorded, ok));
        let seed = self.seeds[s.file].clone();
        if let (Ok(mine), Some((reference, by))) = (&seed, self.reference) {
            if *mine != reference {
                let (f, g) = (&self.ckpt.files[s.file], &self.ckpt.files[by]);
                rows.push(row(
                    "seed",
                    format!("{reference}, as {g} and most files carry"),
                    format!("files carry different seeds: {f} has {mine}, {g} has {reference}"),
                    false,
                ));
            }
        }
        if !fits {
            return Ok(0);
        }
        let same_device = file_meta.get("gpuinit.device") == Some(&self.here);
        let compare = if same_device || t.sampler.kind != KIND_NORMAL {
            Compare::Exact
        } else {
            Compare::Within {
                std: match t.distribution {
                    Distribution::Normal { std, .. }
                    | Distribution::TruncatedNormal { std, .. } => std,
                    _ => 0.0,
                },
            }
        };
        let how = match compare {
            Compare::Exact => "bit for bit".to_string(),
            Compare::Within { .. } => {
                format!("within {MAX_ULPS} ulps or {MAX_ABS_PER_STD:e} std of f32, then rounded")
            }
        };
        // Without a seed nothing is regenerated; the values are still read and judged.
        let full = self.mode == Mode::Full;
        let regen = seed.as_ref().ok().filter(|_| full).map(|&s| (s, compare));
        let (pass, diff) = self.pass(t, s, regen)?;
        self.judge_values(t, &pass, rows);
        let (what, diff) = match (&seed, full) {
            (Err(why), _) => {
                rows.push(row("regenerated", how, why.clone(), false));
                return Ok(0);
            }
            (Ok(_), true) => (format!("all {} elements", t.numel), diff),
            (Ok(seed), false) => {
                let w = windows(t);
                let what = format!("{} window(s) of up to {WINDOW} elements", w.len());
                (what, self.sample(t, s, *seed, compare, &w)?)
            }
        };
        let mut measured = format!("{} of {} differ", diff.differ, diff.tried);
        if let Some(i) = diff.first {
            measured += &format!(", the first at element {i}");
        }
        let pass = diff.differ == 0 && (!full || diff.tried == t.numel);
        rows.push(row("regenerated", format!("{what} {how}"), measured, pass));
        Ok(diff.tried)
    }

    /// Reads every value once, in pieces a thread reads ahead; with `regen`, compares each
    /// piece with regeneration as it goes.
    fn pass(&self, t: &Planned, s: &Stored, regen: Option<(u64, Compare)>) -> Result<(Pass, Diff)> {
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
        let mut diff = Diff::default();
        let step = READ_BYTES / size * size;
        let mut encoder = regen.map(|(seed, _)| Encoder::new(self.gen, seed));
        let pool = RefCell::new(Vec::new());
        let ckpt = self.ckpt;
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = sync_channel::<Result<(u64, Vec<u8>)>>(1);
            let (back, spare) = channel::<Vec<u8>>();
            scope.spawn(move || {
                let path = ckpt.path(s.file);
                let mut f = match ckpt.open_at(s, 0) {
                    Ok(f) => f,
                    Err(e) => return drop(tx.send(Err(e))),
                };
                let mut from = 0;
                while from < s.bytes {
                    let len = step.min(s.bytes - from);
                    let mut buf = spare.try_recv().unwrap_or_default();
                    buf.resize(len as usize, 0);
                    if let Err(e) = read_fully(&mut f, &mut buf, &path) {
                        return drop(tx.send(Err(e)));
                    }
                    if tx.send(Ok((from, buf))).is_err() {
                        return;
                    }
                    from += len;
                }
            });
            for piece in rx {
                let (from, bytes) = piece?;
                let values = t.dtype.decode(&bytes);
                let first = from / size;
                // Padding rows are not samples of the scheme: count their nonzeros, skip them.
                let mut start = 0;
                let mut samples = Vec::new();
                for r in zero_spans(t, first, values.len()) {
                    let zeros = &values[r.clone()];
                    p.nonzero_in_zero_rows +=
                        zeros.iter().filter(|v| v.to_bits() != 0).count() as u64;
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
                if let (Some((seed, compare)), Some(enc)) = (regen, encoder.as_mut()) {
                    let d = self.compare(t, seed, compare, enc, &pool, first, &bytes, &values)?;
                    diff.tried += d.tried;
                    diff.differ += d.differ;
                    diff.first = diff.first.or(d.first);
                }
                let _ = back.send(bytes);
            }
            Ok(())
        })?;
        Ok((p, diff))
    }

    /// Elements `first..` of `t`, as read (`bytes`, decoded `values`), against
    /// regeneration: bit for bit, or (for normal values another kind of device wrote)
    /// inside [round(r - b), round(r + b)] for regenerated f32 `r` and the documented
    /// bound `b`: rounding is monotone, so these are exactly the values some f32 within
    /// the bound rounds to.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &self,
        t: &Planned,
        seed: u64,
        compare: Compare,
        enc: &mut Encoder,
        pool: &RefCell<Vec<Vec<u8>>>,
        first: u64,
        bytes: &[u8],
        values: &[f32],
    ) -> Result<Diff> {
        let size = t.dtype.size() as usize;
        let count = values.len() as u64;
        let mut d = Diff {
            tried: count,
            ..Diff::default()
        };
        let mut at = 0usize;
        match compare {
            Compare::Exact => enc.encode(
                t,
                (first, count),
                &mut || pool.borrow_mut().pop().unwrap_or_default(),
                &mut |c| {
                    let want = c.bytes();
                    let have = &bytes[at * size..at * size + want.len()];
                    if want != have {
                        for (i, (a, b)) in have
                            .chunks_exact(size)
                            .zip(want.chunks_exact(size))
                            .enumerate()
                        {
                            d.add(first + (at + i) as u64, a != b);
                        }
                    }
                    at += want.len() / size;
                    pool.borrow_mut().push(c.buf);
                    Ok(())
                },
            )?,
            Compare::Within { std } => {
                let mut want = Vec::new();
                let span = Span {
                    seed,
                    stream: t.stream,
                    first,
                    count,
                };
                self.gen.stream_values(&t.sampler, span, &mut |v| {
                    want.clear();
                    want.extend_from_slice(v);
                    for r in zero_spans(t, first + at as u64, want.len()) {
                        want[r].fill(0.0);
                    }
                    for (i, (&c, &r)) in values[at..at + want.len()].iter().zip(&want).enumerate() {
                        d.add(first + (at + i) as u64, !within(t.dtype, std, r, c));
                    }
                    at += want.len();
                    Ok(())
                })?;
            }
        }
        Ok(d)
    }

    /// The windows of [`windows`] against regeneration.
    fn sample(
        &self,
        t: &Planned,
        s: &Stored,
        seed: u64,
        compare: Compare,
        windows: &[(u64, u64)],
    ) -> Result<Diff> {
        let size = t.dtype.size();
        let mut enc = Encoder::new(self.gen, seed);
        let pool = RefCell::new(Vec::new());
        let mut diff = Diff::default();
        for &(first, count) in windows {
            let have = self.ckpt.read(s, first * size, count * size)?;
            let values = t.dtype.decode(&have);
            let d = self.compare(t, seed, compare, &mut enc, &pool, first, &have, &values)?;
            diff.tried += d.tried;
            diff.differ += d.differ;
            diff.first = diff.first.or(d.first);
        }
        Ok(diff)
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
}

/// Whether `c`, read, is what some f32 within the documented bound of regenerated `r`
/// rounds to in `dtype`.
fn within(dtype: Dtype, std: f64, r: f32, c: f32) -> bool {
    let ulp = f64::from(f32::from_bits(r.abs().to_bits() + 1) - r.abs());
    let b = (f64::from(MAX_ULPS) * ulp).max(MAX_ABS_PER_STD * std);
    let lo = dtype.round((f64::from(r) - b) as f32);
    let hi = dtype.round((f64::from(r) + b) as f32);
    c >= lo && c <= hi
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
