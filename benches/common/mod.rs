//! What the criterion benches share: the default adapter, and short groups.
#![allow(dead_code)]

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use gpuinit::{GpuContext, GpuOptions};

/// The default adapter, or `None` (with a SKIPPED line) on a machine without one.
pub fn gpu(what: &str) -> Option<GpuContext> {
    if std::env::var_os("EGL_PLATFORM").is_none() {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    match GpuContext::new(&GpuOptions::default()) {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            eprintln!("SKIPPED GPU {what} benches: {e}");
            None
        }
    }
}

/// Ten samples after a short warm-up: these machines are shared, and the figures that
/// matter are medians.
pub fn short(group: &mut BenchmarkGroup<'_, WallTime>, warm_up_ms: u64, measure_s: u64) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(warm_up_ms))
        .measurement_time(Duration::from_secs(measure_s));
}
