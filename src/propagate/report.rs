//! Everything a `propagate` run reports, for the table, `--json` and `--plot`.

use serde::Serialize;

use super::{Comparison, Network, Run, Tolerance};

/// Everything `gpuinit propagate` writes to `--json`.
#[derive(Debug, Serialize)]
pub struct PropagateReport {
    pub network: Network,
    pub backward: bool,
    pub input: &'static str,
    pub top_gradient: Option<&'static str>,
    pub tolerance: Tolerance,
    pub schemes: Vec<SchemeReport>,
}

/// One scheme's runs, on each device asked for.
#[derive(Debug, Serialize)]
pub struct SchemeReport {
    pub scheme: String,
    pub gpu: Option<Run>,
    pub cpu: Option<Run>,
    pub comparison: Option<Comparison>,
}

impl PropagateReport {
    pub fn new(network: Network, backward: bool, schemes: Vec<SchemeReport>) -> Self {
        PropagateReport {
            network,
            backward,
            input: "standard normal, stream 2^64-1, element (b, i) = b * w_0 + i",
            top_gradient: backward
                .then_some("standard normal, stream 2^64-2, element (b, o) = b * w_D + o"),
            tolerance: super::TOLERANCE,
            schemes,
        }
    }
}

impl SchemeReport {
    /// The run shown in tables and plots: the GPU's when there is one.
    pub fn main_run(&self) -> &Run {
        self.gpu
            .as_ref()
            .or(self.cpu.as_ref())
            .expect("a scheme report holds at least one run")
    }
}
