//! `gpuinit verify`: a statistical correctness battery for every scheme, on each device.
//!
//! Every check is a row: exact checks (known answers, bit identity with the CPU reference,
//! support, dispatch independence) pass or fail outright; statistical checks carry a
//! p-value and pass when it is above the Bonferroni level that keeps the family-wise error
//! of the whole battery below [`FWER`]. Seeds are fixed by default, so a run is
//! deterministic: a correct generator fails it with probability below 1e-6, once, for all
//! time; `--seed` re-runs it elsewhere. `tests/verify.rs` shows each injected fault fails
//! the check meant to catch it.

pub mod report;
pub mod source;

use std::time::Instant;

use serde::Serialize;

pub use report::Report;
pub use source::{Claim, CpuSource, Fault, FaultySource, GpuSource, Source};

use crate::cpu;
use crate::distribution::{sample, Distribution, Sampler, KIND_NORMAL};
use crate::error::{Error, Result};
use crate::philox::{philox4x32_10, word, KNOWN_ANSWERS};
use crate::progress::Progress;
use crate::scheme::{
    format_shape, Family, FanMode, Fans, Layout, Scheme, SchemeOptions, SCHEME_NAMES,
};
use crate::stats;

/// Family-wise error rate of the whole battery under a correct generator.
pub const FWER: f64 = 1e-6;
/// The default seed: "gpuinit!" in ASCII.
pub const DEFAULT_SEED: u64 = 0x6770_7569_6e69_7421;
/// The documented GPU-vs-CPU bound for normal-family values (docs/STREAM.md).
pub const MAX_ULPS: u32 = 16;
pub const MAX_ABS_PER_STD: f64 = 1e-6;

/// How much of the battery to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum Level {
    /// Every scheme on one shape, fewer samples: for a quick look.
    Quick,
    /// Every scheme, every shape, samples that detect a 1% variance error.
    Default,
    /// The default battery with 8x the samples.
    Full,
}

impl Level {
    pub fn default_samples(self) -> u64 {
        match self {
            Level::Quick => 1 << 18,
            Level::Default => 1 << 21,
            Level::Full => 1 << 24,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub samples: u64,
    pub level: Level,
}

impl Options {
    pub fn new(level: Level, seed: Option<u64>, samples: Option<u64>) -> Result<Self> {
        let samples = samples.unwrap_or(level.default_samples());
        if !(1024..=1 << 28).contains(&samples) {
            return Err(Error::invalid(format!(
                "--samples must be between 1024 and 2^28, got {samples}"
            )));
        }
        Ok(Options {
            seed: seed.unwrap_or(DEFAULT_SEED),
            samples,
            level,
        })
    }
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub device: String,
    pub scheme: String,
    pub shape: String,
    pub check: String,
    pub expected: String,
    pub measured: String,
    pub statistic: String,
    /// For statistical checks: the p-value, judged against the battery's per-check level.
    pub p_value: Option<f64>,
    /// For exact checks: what must hold.
    pub tolerance: Option<String>,
    pub pass: bool,
}

/// A tensor the battery samples: a scheme on a shape.
struct Case {
    scheme: &'static str,
    options: SchemeOptions,
    shape: Vec<u64>,
    layout: Layout,
    label: &'static str,
    offset: u64,
    /// Exact checks only, on exactly these elements (tensors too small for statistics).
    exact_count: Option<u64>,
}

impl Case {
    fn new(scheme: &'static str, shape: &[u64], layout: Layout, label: &'static str) -> Self {
        Case {
            scheme,
            options: SchemeOptions::default(),
            shape: shape.to_vec(),
            layout,
            label,
            offset: 0,
            exact_count: None,
        }
    }

    fn claim(&self) -> Result<Claim> {
        let scheme = Scheme::parse(self.scheme, &self.options)?;
        let fans = if scheme.needs_fans() {
            Some(Fans::from_shape(&self.shape, self.layout)?)
        } else {
            None
        };
        Ok(Claim {
            scheme,
            fans,
            distribution: scheme.distribution_if_fans(fans)?,
        })
    }

    fn shape_text(&self) -> String {
        let layout = if self.shape.len() > 2 || self.layout == Layout::Jax {
            format!(" {:?}", self.layout).to_lowercase()
        } else {
            String::new()
        };
        let offset = if self.offset > 0 {
            format!(" @{}", self.offset)
        } else {
            String::new()
        };
        format!(
            "{}{layout}{offset} ({})",
            format_shape(&self.shape),
            self.label
        )
    }
}

fn cases(level: Level) -> Vec<Case> {
    let dense = [512u64, 256];
    let mut v: Vec<Case> = SCHEME_NAMES
        .iter()
        .filter(|n| !matches!(**n, "constant" | "zeros" | "ones"))
        .map(|&n| {
            let mut c = Case::new(n, &dense, Layout::Torch, "dense");
            if n == "variance_scaling" {
                c.options = SchemeOptions {
                    scale: Some(2.0),
                    mode: Some(FanMode::FanOut),
                    family: Some(Family::Normal),
                    ..Default::default()
                };
            }
            if n == "truncated_normal" {
                c.options = SchemeOptions {
                    mean: Some(0.5),
                    std: Some(0.1),
                    a: Some(-1.0),
                    b: Some(3.0),
                    ..Default::default()
                };
            }
            c
        })
        .collect();
    let shaped: &[&'static str] = match level {
        Level::Quick => &["xavier_uniform"],
        _ => &["xavier_uniform", "glorot_normal", "kaiming_normal"],
    };
    for &s in shaped {
        v.push(Case::new(s, &[64, 3, 7, 7], Layout::Torch, "conv"));
        v.push(Case::new(s, &[3, 3, 64, 128], Layout::Jax, "conv"));
        v.push(Case::new(s, &[1, 1], Layout::Torch, "tiny fan"));
        v.push(Case::new(s, &[1, 1 << 24], Layout::Torch, "huge fan"));
        let mut slice = Case::new(s, &[1 << 16, 1 << 16], Layout::Torch, "offset slice");
        slice.offset = (1 << 32) - 3;
        v.push(slice);
        let mut odd = Case::new(s, &[3, 5, 7], Layout::Torch, "length 105");
        odd.exact_count = Some(105);
        v.push(odd);
        let mut odd_slice = Case::new(s, &[3, 5, 7], Layout::Torch, "length 105, slice");
        odd_slice.offset = 2;
        odd_slice.exact_count = Some(101);
        v.push(odd_slice);
    }
    for (name, value) in [("constant", Some(-0.375)), ("zeros", None), ("ones", None)] {
        let mut c = Case::new(name, &[4099], Layout::Torch, "constant");
        c.options.value = value;
        c.exact_count = Some(4099);
        v.push(c);
    }
    v
}

/// Known answers, and counters with high words set, on the source against the CPU.
fn known_answer_inputs() -> Vec<([u32; 4], [u32; 2])> {
    let mut inputs: Vec<([u32; 4], [u32; 2])> =
        KNOWN_ANSWERS.iter().map(|(c, k, _)| (*c, *k)).collect();
    for i in 0..61u32 {
        inputs.push((
            [i.wrapping_mul(0x9E37_79B9), u32::MAX - i, 1 << (i % 32), !i],
            [i << 7, u32::MAX ^ (i << 20)],
        ));
    }
    inputs
}

fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 {
            i32::MIN - i
        } else {
            i
        }
    };
    key(a).abs_diff(key(b))
}

/// Compares chunks of a source's values with the CPU reference (or, for the reference
/// itself, a stride of them with the scalar definition), without keeping a second copy.
struct Agreement {
    sampler: Sampler,
    reference: bool,
    seed: u64,
    stream: u64,
    first: u64,
    done: u64,
    compared: u64,
    mismatches: u64,
    max_ulps: u32,
    max_abs: f64,
    within_bound: bool,
    scratch: Vec<f32>,
}

impl Agreement {
    fn new(sampler: Sampler, reference: bool, seed: u64, stream: u64, first: u64) -> Self {
        Agreement {
            sampler,
            reference,
            seed,
            stream,
            first,
            done: 0,
            compared: 0,
            mismatches: 0,
            max_ulps: 0,
            max_abs: 0.0,
            within_bound: true,
            scratch: Vec::new(),
        }
    }

    fn compare(&mut self, got: f32, want: f32) {
        self.compared += 1;
        if got.to_bits() != want.to_bits() {
            self.mismatches += 1;
            let u = ulps(got, want);
            let abs = (f64::from(got) - f64::from(want)).abs()
                / f64::from(self.sampler.scale).max(f64::MIN_POSITIVE);
            self.max_ulps = self.max_ulps.max(u);
            self.max_abs = self.max_abs.max(abs);
            if !(u <= MAX_ULPS || abs <= MAX_ABS_PER_STD) || !got.is_finite() {
                self.within_bound = false;
            }
        }
    }

    fn push(&mut self, chunk: &[f32]) {
        let at = self.first + self.done;
        if self.reference {
            for (j, &x) in chunk.iter().enumerate().step_by(997) {
                let want = sample(&self.sampler, word(self.seed, self.stream, at + j as u64));
                self.compare(x, want);
            }
        } else {
            self.scratch.resize(chunk.len(), 0.0);
            cpu::generate(&self.sampler, self.seed, self.stream, at, &mut self.scratch);
            let scratch = std::mem::take(&mut self.scratch);
            for (&x, &want) in chunk.iter().zip(&scratch) {
                self.compare(x, want);
            }
            self.scratch = scratch;
        }
        self.done += chunk.len() as u64;
    }

    fn row(&self, base: &Row) -> Row {
        let (check, against) = if self.reference {
            (
                "lanes == scalar definition",
                "the scalar definition, every 997th element",
            )
        } else {
            ("== CPU reference", "the CPU reference")
        };
        let exact = self.sampler.kind != KIND_NORMAL;
        let (expected, pass) = if exact {
            ("0 mismatching bits".to_string(), self.mismatches == 0)
        } else {
            (
                format!("<= {MAX_ULPS} ulps or <= {MAX_ABS_PER_STD:e} std"),
                self.within_bound,
            )
        };
        Row {
            check: check.into(),
            expected,
            measured: format!(
                "{} of {} differ; max {} ulps, {:.2e} std",
                self.mismatches, self.compared, self.max_ulps, self.max_abs
            ),
            statistic: format!("vs {against}"),
            tolerance: Some(if exact {
                "bit-identical".into()
            } else {
                "docs/STREAM.md bound".into()
            }),
            pass,
            ..base.clone()
        }
    }
}

/// The battery, run over each source in turn.
pub struct Battery<'a> {
    opts: Options,
    rows: Vec<Row>,
    progress: &'a mut dyn Progress,
}

impl<'a> Battery<'a> {
    pub fn new(opts: Options, progress: &'a mut dyn Progress) -> Self {
        Battery {
            opts,
            rows: Vec::new(),
            progress,
        }
    }

    /// Steps [`Battery::run_source`] reports to the progress bar.
    pub fn steps(&self) -> u64 {
        cases(self.opts.level).len() as u64 + 3
    }

    fn exact(
        &mut self,
        base: &Row,
        check: &str,
        expected: String,
        measured: String,
        tolerance: &str,
        pass: bool,
    ) {
        self.rows.push(Row {
            check: check.into(),
            expected,
            measured,
            tolerance: Some(tolerance.into()),
            pass,
            ..base.clone()
        });
    }

    fn stat(
        &mut self,
        base: &Row,
        check: &str,
        expected: String,
        measured: String,
        statistic: String,
        p: f64,
    ) {
        self.rows.push(Row {
            check: check.into(),
            expected,
            measured,
            statistic,
            p_value: Some(p),
            pass: true, // judged in `finish`, once the number of checks is known
            ..base.clone()
        });
    }

    /// Runs every check on one source; returns the seconds it took.
    pub fn run_source(&mut self, src: &dyn Source) -> Result<f64> {
        let start = Instant::now();
        let device = src.label();
        let base = Row {
            device: device.clone(),
            scheme: "philox4x32_10".into(),
            shape: "-".into(),
            check: String::new(),
            expected: String::new(),
            measured: String::new(),
            statistic: String::new(),
            p_value: None,
            tolerance: None,
            pass: false,
        };
        self.progress.step(&format!("{device}: known answers"));
        self.known_answers(src, &base)?;
        for (i, case) in cases(self.opts.level).iter().enumerate() {
            self.progress
                .step(&format!("{device}: {} {}", case.scheme, case.shape_text()));
            self.case(src, &base, case, 100 + i as u64)?;
        }
        self.progress.step(&format!("{device}: raw bits"));
        self.bits(src, &base)?;
        self.progress
            .step(&format!("{device}: dispatch independence"));
        self.dispatch(src, &base)?;
        Ok(start.elapsed().as_secs_f64())
    }

    fn known_answers(&mut self, src: &dyn Source, base: &Row) -> Result<()> {
        let inputs = known_answer_inputs();
        let got = src.philox(&inputs)?;
        let kat_bad = KNOWN_ANSWERS
            .iter()
            .zip(&got)
            .filter(|((_, _, want), g)| *g != want)
            .count();
        let other_bad = inputs
            .iter()
            .zip(&got)
            .skip(KNOWN_ANSWERS.len())
            .filter(|((c, k), g)| philox4x32_10(*c, *k) != **g)
            .count();
        self.exact(
            base,
            "known answers (Random123)",
            format!("{} of {} vectors", KNOWN_ANSWERS.len(), KNOWN_ANSWERS.len()),
            format!(
                "{} of {} match",
                KNOWN_ANSWERS.len() - kat_bad,
                KNOWN_ANSWERS.len()
            ),
            "exact",
            kat_bad == 0,
        );
        self.exact(
            base,
            "high-word counters and keys",
            format!("{} blocks as the CPU", inputs.len() - KNOWN_ANSWERS.len()),
            format!("{other_bad} differ"),
            "exact",
            other_bad == 0,
        );
        Ok(())
    }

    fn case(&mut self, src: &dyn Source, base: &Row, case: &Case, stream: u64) -> Result<()> {
        let claim = case.claim()?;
        let dist = claim.distribution;
        let sampler = dist.sampler();
        let base = Row {
            scheme: claim.scheme.to_string(),
            shape: case.shape_text(),
            ..base.clone()
        };
        let seed = self.opts.seed;
        let count = case.exact_count.unwrap_or(self.opts.samples);
        let mut xs: Vec<f32> = Vec::with_capacity(count as usize);
        let mut agree = Agreement::new(sampler, src.is_reference(), seed, stream, case.offset);
        src.values(&claim, seed, stream, case.offset, count, &mut |bits| {
            let chunk: &[f32] = bytemuck::cast_slice(bits);
            agree.push(chunk);
            xs.extend_from_slice(chunk);
            Ok(())
        })?;
        self.rows.push(agree.row(&base));
        self.support(&base, &dist, &sampler, &xs);
        if case.exact_count.is_some() || matches!(dist, Distribution::Constant { .. }) {
            return Ok(());
        }
        let m = stats::Moments::of(&xs);
        for (name, t) in stats::moment_tests(&m, &dist).rows() {
            self.stat(
                &base,
                name,
                format!("{:.6e}", t.expected),
                format!("{:.6e}", t.observed),
                format!("z = {:+.2}", t.z),
                t.p,
            );
        }
        let f = |x: f64| stats::cdf(&dist, x);
        let bins = (xs.len() / 2048).clamp(64, 4096);
        let chi = stats::chi_square_gof(&xs, f, bins);
        self.stat(
            &base,
            "chi-square",
            format!("{bins} equiprobable bins"),
            format!(
                "worst bin {} ({:+.1} sd)",
                chi.worst_cell, chi.worst_residual
            ),
            format!("X2 = {:.1}, dof {}", chi.statistic, chi.dof),
            chi.p,
        );
        let ks = stats::ks_test(&mut xs, f);
        self.stat(
            &base,
            "Kolmogorov-Smirnov",
            "exact CDF".into(),
            format!("D = {:.3e}", ks.d),
            format!("lambda = {:.3}", ks.lambda),
            ks.p,
        );
        let ad = stats::ad_test(&mut xs, f);
        self.stat(
            &base,
            "Anderson-Darling",
            "exact CDF".into(),
            format!("n = {}", ad.n),
            format!("A2 = {:.3}", ad.a2),
            ad.p,
        );
        Ok(())
    }

    fn support(&mut self, base: &Row, dist: &Distribution, s: &Sampler, xs: &[f32]) {
        let nonfinite = xs.iter().filter(|x| !x.is_finite()).count();
        let (lo, hi) = xs
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let (expected, ok) = match *dist {
            Distribution::Uniform { low, high } if low == -high => (
                format!("strictly inside (-{0:e}, {0:e})", s.scale),
                hi < s.scale && lo > -s.scale,
            ),
            Distribution::Uniform { low, high } => (
                format!("inside [{low}, {high}]"),
                f64::from(lo) >= low && f64::from(hi) <= high,
            ),
            Distribution::TruncatedNormal { .. } => (
                format!("inside [{:e}, {:e}]", s.lo, s.hi),
                lo >= s.lo && hi <= s.hi,
            ),
            Distribution::Normal { .. } => ("finite".into(), true),
            Distribution::Constant { .. } => (
                format!("every value {:e}", s.shift),
                xs.iter().all(|x| x.to_bits() == s.shift.to_bits()),
            ),
        };
        self.exact(
            base,
            "support",
            format!("{expected}, no NaN or inf"),
            format!("[{lo:e}, {hi:e}], {nonfinite} non-finite"),
            "exact",
            ok && nonfinite == 0,
        );
    }

    fn collect_words(src: &dyn Source, seed: u64, stream: u64, count: u64) -> Result<Vec<u32>> {
        let mut w = Vec::with_capacity(count as usize);
        src.words(seed, stream, 0, count, &mut |c| {
            w.extend_from_slice(c);
            Ok(())
        })?;
        Ok(w)
    }

    fn bits(&mut self, src: &dyn Source, base: &Row) -> Result<()> {
        let (seed, n) = (self.opts.seed, self.opts.samples);
        let stream = 1000;
        let words = Self::collect_words(src, seed, stream, n)?;
        let shape = format!("{n} words, stream {stream}");
        let base = Row {
            shape: shape.clone(),
            ..base.clone()
        };
        if !src.is_reference() {
            let reference = cpu::words_vec(seed, stream, 0, n as usize);
            let bad = words.iter().zip(&reference).filter(|(a, b)| a != b).count();
            self.exact(
                &base,
                "words == CPU reference",
                "0 mismatches".into(),
                format!("{bad} of {n}"),
                "bit-identical",
                bad == 0,
            );
        }
        let bf = stats::bit_frequency(&words);
        self.stat(
            &base,
            "bit frequency",
            "each bit 1/2".into(),
            format!("32 bits, X2 = {:.1}", bf.chi2.statistic),
            "chi-square, 32 dof".into(),
            bf.chi2.p,
        );
        self.stat(
            &base,
            "worst bit",
            "|z| small".into(),
            format!("bit {}", bf.max_bit),
            format!("z = {:.2}", bf.max_abs_z),
            bf.p_max,
        );
        let bytes = stats::byte_chi_square(&words);
        self.stat(
            &base,
            "byte chi-square",
            "256 equiprobable bytes".into(),
            format!("worst byte {}", bytes.worst_cell),
            format!("X2 = {:.1}, dof {}", bytes.statistic, bytes.dof),
            bytes.p,
        );
        for lag in 1..=8 {
            let c = stats::serial_correlation(&words, lag);
            self.stat(
                &base,
                &format!("serial correlation, lag {lag}"),
                "0".into(),
                format!("r = {:+.2e}", c.r),
                format!("z = {:+.2}", c.z),
                c.p,
            );
        }
        // Repeats: 128-bit blocks are distinct unless the stream cycles
        // (P(any repeat) < n^2 / 2^131 for a correct generator).
        let mut blocks: Vec<u128> = words
            .chunks_exact(4)
            .map(|b| {
                u128::from(b[0])
                    | u128::from(b[1]) << 32
                    | u128::from(b[2]) << 64
                    | u128::from(b[3]) << 96
            })
            .collect();
        blocks.sort_unstable();
        let repeats = blocks.windows(2).filter(|w| w[0] == w[1]).count();
        drop(blocks);
        self.exact(
            &base,
            "repeated 128-bit blocks",
            "0".into(),
            format!("{repeats}"),
            "P(any) < 1e-20 under H0",
            repeats == 0,
        );
        let pairs = [
            (
                "streams t, t+1",
                Self::collect_words(src, seed, stream + 1, n)?,
            ),
            (
                "seeds s, s+1",
                Self::collect_words(src, seed.wrapping_add(1), stream, n)?,
            ),
        ];
        for (what, other) in &pairs {
            self.independence(&base, what, &words, other);
        }
        let (even, odd): (Vec<[u32; 4]>, Vec<[u32; 4]>) = words
            .chunks_exact(8)
            .map(|b| ([b[0], b[1], b[2], b[3]], [b[4], b[5], b[6], b[7]]))
            .unzip();
        self.independence(
            &base,
            "counter blocks b, b+1",
            bytemuck::cast_slice(&even),
            bytemuck::cast_slice(&odd),
        );
        Ok(())
    }

    fn independence(&mut self, base: &Row, what: &str, a: &[u32], b: &[u32]) {
        let r = stats::independence(a, b);
        self.stat(
            base,
            &format!("independence of {what}: correlation"),
            "0".into(),
            format!("r = {:+.2e}", r.correlation.r),
            format!("z = {:+.2}", r.correlation.z),
            r.correlation.p,
        );
        self.stat(
            base,
            &format!("independence of {what}: 16x16 table"),
            "independent top nibbles".into(),
            format!("worst cell {}", r.table.worst_cell),
            format!("X2 = {:.1}, dof {}", r.table.statistic, r.table.dof),
            r.table.p,
        );
    }

    fn dispatch(&mut self, src: &dyn Source, base: &Row) -> Result<()> {
        let seed = self.opts.seed;
        for (i, name) in ["xavier_uniform", "glorot_normal", "kaiming_normal"]
            .iter()
            .enumerate()
        {
            let case = Case::new(name, &[256, 1000], Layout::Torch, "dispatch");
            let claim = case.claim()?;
            let s = claim.distribution.sampler();
            for (first, count) in [(0u64, 256_000u64), ((1 << 32) - 7, 25_003)] {
                let variants = src.rechunked(&s, seed, 50 + i as u64, first, count)?;
                let (how0, bits0) = &variants[0];
                for (how, bits) in &variants[1..] {
                    let bad = bits.iter().zip(bits0).filter(|(a, b)| a != b).count()
                        + bits.len().abs_diff(bits0.len());
                    let base = Row {
                        scheme: name.to_string(),
                        shape: format!("[256, 1000] elements {first}..{}", first + count),
                        ..base.clone()
                    };
                    self.exact(
                        &base,
                        &format!("{how} == {how0}"),
                        "identical bits".into(),
                        format!("{bad} of {count} differ"),
                        "bit-identical",
                        bad == 0,
                    );
                }
            }
        }
        Ok(())
    }

    /// Judges the statistical rows at the Bonferroni level and builds the report.
    pub fn finish(mut self, devices: Vec<report::DeviceRun>) -> Report {
        let checks = self
            .rows
            .iter()
            .filter(|r| r.p_value.is_some())
            .count()
            .max(1);
        let threshold = stats::Threshold::new(checks, FWER);
        for r in &mut self.rows {
            if let Some(p) = r.p_value {
                r.pass = threshold.passes_p(p);
            }
        }
        Report::new(self.opts, self.rows, threshold, devices)
    }
}

/// Runs the battery over `sources` with `progress`, and judges it.
pub fn run(opts: Options, sources: &[&dyn Source], progress: &mut dyn Progress) -> Result<Report> {
    let mut battery = Battery::new(opts, progress);
    let mut devices = Vec::new();
    for src in sources {
        let seconds = battery.run_source(*src)?;
        devices.push(report::DeviceRun {
            device: src.label(),
            adapter: src.adapter(),
            seconds,
        });
    }
    Ok(battery.finish(devices))
}
