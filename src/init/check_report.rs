//! What `gpuinit verify --checkpoint` reports: a row per check of a tensor, the findings
//! a person reads, and the thresholds the checks are held to.

use serde::Serialize;

/// The family-wise error rate of all of a checkpoint's statistical checks together.
pub const FWER: f64 = crate::stats::FWER;
/// Fewest elements a tensor needs for its mean and variance to be tested, and for its
/// skewness and excess kurtosis (whose large-sample standard errors are good from there).
pub const MIN_FOR_VARIANCE: u64 = 1024;
pub const MIN_FOR_SHAPE: u64 = 1 << 16;
/// Elements in each window compared with regeneration in [`Mode::Sample`].
pub const WINDOW: u64 = 1024;

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
    pub(super) fn exact(
        tensor: &str,
        check: &str,
        expected: String,
        measured: String,
        pass: bool,
    ) -> Self {
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
