//! One tensor of a checkpoint judged against its spec: dtype, shape and recorded metadata;
//! every value finite and inside the scheme's support; its moments; and its elements
//! (every one, or windows of them) against regeneration.

use std::cell::RefCell;
use std::sync::mpsc::{channel, sync_channel};

use super::check_report::{CheckRow, Mode, MIN_FOR_SHAPE, MIN_FOR_VARIANCE, WINDOW};

use super::read::{read_fully, Checkpoint, Stored};
use super::spec::{Dtype, Planned};
use super::{zero_spans, Encoder};
use crate::engine::Generator;
use crate::error::Result;
use crate::rng::distribution::KIND_NORMAL;
use crate::rng::tolerance::{MAX_ABS_PER_STD, MAX_ULPS};
use crate::rng::{format_shape, Distribution, Span};
use crate::stats::{moment_tests, Moments};

/// Bytes read at a time: a reader thread reads the next piece while this one is checked,
/// so at most three pieces (48 MiB) and their regeneration are held at once.
const READ_BYTES: u64 = 1 << 24;

/// One tensor at a time: its recorded metadata, its values read once (and, in the full
/// mode, compared with regeneration as they are read), its support and moments.
pub(super) struct Judge<'a> {
    pub(super) ckpt: &'a Checkpoint,
    pub(super) gen: &'a dyn Generator,
    pub(super) mode: Mode,
    /// [`super::device_kind`] of `gen`.
    pub(super) here: String,
    /// Each file's seed, or what is wrong with it.
    pub(super) seeds: Vec<std::result::Result<u64, String>>,
    /// The seed most files carry, and the first of them.
    pub(super) reference: Option<(u64, usize)>,
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

/// How `t`'s regenerated values are compared, and that in words: bit for bit on the
/// device that wrote them, and for every map but the normal one (the same bits
/// everywhere); within the cross-device bound of docs/STREAM.md otherwise.
fn comparison(t: &Planned, same_device: bool) -> (Compare, String) {
    if same_device || t.sampler.kind != KIND_NORMAL {
        return (Compare::Exact, "bit for bit".to_string());
    }
    let std = match t.distribution {
        Distribution::Normal { std, .. } | Distribution::TruncatedNormal { std, .. } => std,
        _ => 0.0,
    };
    let how = format!("within {MAX_ULPS} ulps or {MAX_ABS_PER_STD:e} std of f32, then rounded");
    (Compare::Within { std }, how)
}

impl Judge<'_> {
    /// The rows of one tensor; the elements compared with regeneration.
    pub(super) fn tensor(&self, t: &Planned, s: &Stored, rows: &mut Vec<CheckRow>) -> Result<u64> {
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
        let (compare, how) = comparison(t, same_device);
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
