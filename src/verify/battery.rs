//! The battery: every check, run over each subject in turn, one row per check.

use std::time::Instant;

use super::agreement::Agreement;
use super::cases::{cases, known_answer_inputs, Case};
use super::report::{DeviceRun, Report};
use super::{Options, Row, Subject};
use crate::engine::Generator;
use crate::error::Result;
use crate::progress::Progress;
use crate::rng::philox::{philox4x32_10, KNOWN_ANSWERS};
use crate::rng::{Distribution, Sampler, Span};
use crate::stats;
use crate::stats::FWER;

/// The battery, run over each source in turn.
pub struct Battery<'a> {
    pub(super) opts: Options,
    pub(super) rows: Vec<Row>,
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

    pub(super) fn exact(
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

    pub(super) fn stat(
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

    /// Runs every check on one subject; returns the seconds it took.
    pub fn run_subject(&mut self, subject: &Subject) -> Result<f64> {
        let start = Instant::now();
        let src = subject.generator;
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
            self.case(subject, &base, case, 100 + i as u64)?;
        }
        self.progress.step(&format!("{device}: raw bits"));
        self.bits(src, &base)?;
        self.progress
            .step(&format!("{device}: dispatch independence"));
        self.dispatch(subject, &base)?;
        Ok(start.elapsed().as_secs_f64())
    }

    fn known_answers(&mut self, src: &dyn Generator, base: &Row) -> Result<()> {
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

    fn case(&mut self, subject: &Subject, base: &Row, case: &Case, stream: u64) -> Result<()> {
        let src = subject.generator;
        let claim = case.claim()?;
        let dist = claim.distribution;
        let sampler = (subject.sampler_of)(&claim)?;
        let base = Row {
            scheme: claim.scheme.to_string(),
            shape: case.shape_text(),
            ..base.clone()
        };
        let seed = self.opts.seed;
        let count = case.exact_count.unwrap_or(self.opts.samples);
        let mut xs: Vec<f32> = Vec::with_capacity(count as usize);
        let truth = dist.sampler();
        let mut agree = Agreement::new(truth, src.is_reference(), seed, stream, case.offset);
        let slice = Span {
            seed,
            stream,
            first: case.offset,
            count,
        };
        src.stream_values(&sampler, slice, &mut |chunk| {
            agree.push(chunk);
            xs.extend_from_slice(chunk);
            Ok(())
        })?;
        self.rows.push(agree.row(&base));
        self.support(&base, &dist, &truth, &xs);
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

    /// Judges the statistical rows at the Bonferroni level and builds the report.
    pub fn finish(mut self, devices: Vec<DeviceRun>) -> Report {
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
