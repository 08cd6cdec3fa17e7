//! Per-matrix statistics reduced on the device (`shaders/layer_stats.wgsl`; CPU twin
//! `src/cpu/layer_stats.rs`): `moments`, `finalize` and `histogram` write one record per
//! matrix, and only records come back to the host.

use super::device::GpuDevice;
use super::pipeline::{storage_entry, uniform_entry, Uniforms};
use super::shaders;
use crate::abi::{
    StatsParams, HIST_BINS, RECORD_WORDS, REC_BINS, REC_HIST_HI, REC_HIST_LO, REC_MAX, REC_MEAN,
    REC_MIN, REC_N, REC_NONFINITE, REC_SATURATED, REC_SCALE, REC_SSQ,
};
use crate::error::Result;

/// Most workgroups of a moments or histogram grid.
pub const STATS_GROUPS: u64 = 256;

/// The statistics kernels: `moments`, `finalize` and `histogram`.
pub struct StatsKernels {
    layout: wgpu::BindGroupLayout,
    pub moments: wgpu::ComputePipeline,
    pub finalize: wgpu::ComputePipeline,
    pub histogram: wgpu::ComputePipeline,
}

impl StatsKernels {
    pub fn new(dev: &GpuDevice) -> Result<Self> {
        dev.compile("statistics", |ctx| {
            let (layout, pipeline_layout) = ctx.layouts(
                "stats",
                &[
                    uniform_entry(0, std::mem::size_of::<StatsParams>(), true),
                    storage_entry(1, true),
                    storage_entry(2, false),
                    storage_entry(3, false),
                ],
            );
            let module = ctx.module(shaders::LAYER_STATS);
            let p = |entry| ctx.pipeline(&pipeline_layout, &module, entry, &[]);
            StatsKernels {
                moments: p("moments"),
                finalize: p("finalize"),
                histogram: p("histogram"),
                layout,
            }
        })
    }
}

impl StatsKernels {
    /// The bind group of a statistics dispatch over `data`.
    pub fn group(
        &self,
        dev: &GpuDevice,
        uniforms: &Uniforms,
        [data, partials, records]: [&wgpu::Buffer; 3],
    ) -> wgpu::BindGroup {
        dev.bind_group(
            "stats",
            &self.layout,
            &[
                uniforms.binding::<StatsParams>(),
                data.as_entire_binding(),
                partials.as_entire_binding(),
                records.as_entire_binding(),
            ],
        )
    }
}

/// One matrix's record, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Finite values.
    pub n: u64,
    pub saturated: u64,
    pub nonfinite: u64,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    pub min: f64,
    pub max: f64,
    pub hist_lo: f32,
    pub hist_hi: f32,
    pub bins: Vec<u64>,
}

impl Record {
    /// Record `i` of the words read back from a records buffer.
    pub fn decode(words: &[u32], i: usize) -> Record {
        let r = &words[i * RECORD_WORDS as usize..(i + 1) * RECORD_WORDS as usize];
        let u = |w: u32| u64::from(r[w as usize]);
        let f = |w: u32| f32::from_bits(r[w as usize]);
        let d = |w: u32| f64::from(f(w));
        let bins = REC_BINS as usize..(REC_BINS + HIST_BINS) as usize;
        Record {
            n: u(REC_N),
            saturated: u(REC_SATURATED),
            nonfinite: u(REC_NONFINITE),
            mean: d(REC_MEAN),
            // scale^2 * ssq, formed in f64.
            m2: d(REC_SCALE) * d(REC_SCALE) * d(REC_SSQ),
            min: d(REC_MIN),
            max: d(REC_MAX),
            hist_lo: f(REC_HIST_LO),
            hist_hi: f(REC_HIST_HI),
            bins: r[bins].iter().map(|&c| u64::from(c)).collect(),
        }
    }
}
