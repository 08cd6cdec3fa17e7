//! The verify report: a table for people, JSON for machines, Markdown for issues.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Level, Options, Row, FWER};
use crate::gpu::AdapterSummary;
use crate::stats::Threshold;

/// One source's run.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceRun {
    pub device: String,
    pub adapter: Option<AdapterSummary>,
    pub seconds: f64,
}

/// Smallest relative variance error the battery detects at a given kurtosis.
#[derive(Clone, Debug, Serialize)]
pub struct Detectable {
    pub distribution: &'static str,
    /// Relative variance error whose expected |z| equals the threshold (50% power).
    pub at_half_power: f64,
    /// Relative variance error whose expected |z| is the threshold + 2 (97.7% power).
    pub at_high_power: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub seed: u64,
    pub samples: u64,
    pub level: Level,
    pub fwer: f64,
    pub statistical_checks: usize,
    pub per_check_alpha: f64,
    pub z_threshold: f64,
    pub detectable_variance_error: Vec<Detectable>,
    pub devices: Vec<DeviceRun>,
    pub passed: usize,
    pub failed: usize,
    pub rows: Vec<Row>,
}

impl Report {
    pub(super) fn new(
        opts: Options,
        rows: Vec<Row>,
        t: Threshold,
        devices: Vec<DeviceRun>,
    ) -> Self {
        let n = opts.samples as f64;
        // The sample variance's z for a relative error e is e sqrt(n / (kurtosis - 1)).
        let detectable = [("uniform", 0.8), ("normal", 2.0)]
            .into_iter()
            .map(|(d, k1): (&'static str, f64)| Detectable {
                distribution: d,
                at_half_power: t.z * (k1 / n).sqrt(),
                at_high_power: (t.z + 2.0) * (k1 / n).sqrt(),
            })
            .collect();
        let passed = rows.iter().filter(|r| r.pass).count();
        Report {
            seed: opts.seed,
            samples: opts.samples,
            level: opts.level,
            fwer: FWER,
            statistical_checks: t.checks,
            per_check_alpha: t.alpha,
            z_threshold: t.z,
            detectable_variance_error: detectable,
            devices,
            passed,
            failed: rows.len() - passed,
            rows,
        }
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }

    fn judged(r: &Row) -> String {
        match (&r.p_value, &r.tolerance) {
            (Some(p), _) => format!("p = {p:.3e}"),
            (None, Some(t)) => t.clone(),
            (None, None) => String::new(),
        }
    }

    fn cells(r: &Row) -> [String; 9] {
        [
            r.device.clone(),
            r.scheme.clone(),
            r.shape.clone(),
            r.check.clone(),
            r.expected.clone(),
            r.measured.clone(),
            r.statistic.clone(),
            Self::judged(r),
            if r.pass { "PASS".into() } else { "FAIL".into() },
        ]
    }

    const HEADER: [&'static str; 9] = [
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

    /// The lines after the table: counts, the error rate, power and time.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "family-wise error rate {:e} over {} statistical checks (Bonferroni: each passes at p >= {:.2e}, |z| <= {:.2}); exact checks must hold exactly",
            self.fwer, self.statistical_checks, self.per_check_alpha, self.z_threshold
        );
        let det: Vec<String> = self
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
            self.samples,
            det.join(", ")
        );
        let _ = writeln!(s, "seed: {:#x}", self.seed);
        for d in &self.devices {
            let _ = writeln!(s, "time on {}: {:.1} s", d.device, d.seconds);
        }
        let _ = writeln!(s, "{} passed, {} failed", self.passed, self.failed);
        s
    }

    /// Aligned plain-text table and summary.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 9]> = self.rows.iter().map(Self::cells).collect();
        let mut width = Self::HEADER.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String; 9]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(width)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut s = line(&Self::HEADER.map(String::from));
        for r in &rows {
            s += &line(r);
        }
        s + "\n" + &self.summary()
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from("| ");
        s += &Self::HEADER.join(" | ");
        s += " |\n|";
        s += &"---|".repeat(Self::HEADER.len());
        s += "\n";
        for r in &self.rows {
            let cells = Self::cells(r).map(|c| c.replace('|', "\\|"));
            s += &format!("| {} |\n", cells.join(" | "));
        }
        s + "\n" + &self.summary().replace('\n', "  \n")
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
