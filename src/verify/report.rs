//! The verify report: every row, the thresholds they were judged at, and what the sample
//! size detects. The command line renders it as a table, JSON or Markdown.

use serde::Serialize;

use super::{Level, Options, Row};
use crate::gpu::AdapterSummary;
use crate::stats::Threshold;
use crate::stats::FWER;

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
}
