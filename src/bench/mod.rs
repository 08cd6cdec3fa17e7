//! `gpuinit bench`: generation throughput on the GPU against the device's own store
//! bandwidth and against the CPU reference, measured in one run on the same sizes, and one
//! deep-network layer's product on the tiled kernel, its naive baseline and the CPU.
//!
//! GPU figures are device time from timestamp queries where the adapter has them (else
//! wall-clock from submission to the end of a bounded wait, and labelled so). Setup
//! (adapter, device, pipelines) and the first dispatch are reported apart from steady
//! state; every steady-state figure is the median of repeats after a warm-up, with min
//! and max.

mod generation;
mod layers;

pub use layers::{product_shape, CpuProduct};

use std::time::Instant;

use serde::Serialize;

use crate::engine::Devices;
use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, GpuContext, Product};
use crate::host::available_memory;
use crate::progress::Progress;

const MI: u64 = 1 << 20;

/// The schemes benchmarked: one per distribution family, for a 4096 x 4096 layer.
pub const SCHEMES: [(&str, &str); 3] = [
    ("uniform", "xavier_uniform"),
    ("normal", "xavier_normal"),
    ("truncated_normal", "glorot_normal"),
];

#[derive(Clone, Debug, Default)]
pub struct BenchOptions {
    /// 1 and 4 Mi elements, fewer repeats.
    pub quick: bool,
    /// Element counts; default a ladder from 1 Mi up to what the device allows.
    pub sizes: Option<Vec<u64>>,
}

/// Median, min and max of repeated timings, in seconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stat {
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub repeats: usize,
}

impl Stat {
    fn of(mut t: Vec<f64>) -> Stat {
        t.sort_by(f64::total_cmp);
        let n = t.len();
        let median = if n % 2 == 1 {
            t[n / 2]
        } else {
            (t[n / 2 - 1] + t[n / 2]) / 2.0
        };
        Stat {
            median_s: median,
            min_s: t[0],
            max_s: t[n - 1],
            repeats: n,
        }
    }
}

/// Repeats `f` after one warm-up until `min_repeats` runs and `budget_s` seconds have
/// passed (at most `max_repeats`).
pub(crate) fn repeat(
    min_repeats: usize,
    max_repeats: usize,
    budget_s: f64,
    mut f: impl FnMut() -> Result<f64>,
) -> Result<Stat> {
    f()?;
    let start = Instant::now();
    let mut t = Vec::new();
    while t.len() < min_repeats
        || (t.len() < max_repeats && start.elapsed().as_secs_f64() < budget_s)
    {
        t.push(f()?);
    }
    Ok(Stat::of(t))
}

/// One (distribution, size) row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub distribution: String,
    pub scheme: String,
    pub elements: u64,
    pub gpu: Option<Stat>,
    /// `shaders/store.wgsl`: the same 16-byte stores and dispatch shape, no computation.
    pub store: Option<Stat>,
    /// The generation kernel itself specialized to a constant: its stores, no Philox.
    pub store_only: Option<Stat>,
    pub clear_wall: Option<Stat>,
    pub cpu: Option<Stat>,
    pub cpu_fill: Option<Stat>,
    pub theory_variance: f64,
    pub gpu_mean: Option<f64>,
    pub gpu_variance: Option<f64>,
    pub cpu_mean: Option<f64>,
    pub cpu_variance: Option<f64>,
}

impl Row {
    /// Elements per second at the median.
    pub fn rate(&self, s: &Option<Stat>) -> Option<f64> {
        s.map(|s| self.elements as f64 / s.median_s)
    }

    /// The baseline generation is measured against: the faster of the two store kernels
    /// (a slow baseline would flatter the ratio).
    pub fn store_rate(&self) -> Option<f64> {
        match (self.rate(&self.store), self.rate(&self.store_only)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One deep-network layer's forward product, C[batch, width] = X[batch, width] W^T, on the
/// tiled WGSL kernel (`shaders/matmul.wgsl`), its naive baseline, and the CPU reference.
#[derive(Clone, Debug, Serialize)]
pub struct MatmulRow {
    /// "forward", "backward" (the input gradient) or "weight gradient".
    pub product: &'static str,
    pub batch: usize,
    pub width: usize,
    pub flops: f64,
    /// Wall-clock per product (one submission of `repeats` products, bounded wait).
    pub gpu_tiled: Option<Stat>,
    pub gpu_naive: Option<Stat>,
    pub cpu: Option<Stat>,
}

/// A whole `propagate` network, timed end to end (weight generation, products, statistics).
#[derive(Clone, Debug, Serialize)]
pub struct NetworkRow {
    pub depth: usize,
    pub width: usize,
    pub batch: usize,
    pub backward: bool,
    /// Of the products: forward, plus both gradients' with `backward`.
    pub flops: f64,
    pub gpu: Option<Stat>,
    pub cpu: Option<Stat>,
}

/// (depth, width, batch) of the network timed.
fn network_shape(quick: bool) -> (usize, usize, usize) {
    if quick {
        (4, 512, 256)
    } else {
        (10, 1024, 256)
    }
}

/// (batch, width) of the layers timed: a 1024-wide MLP layer and a wider one.
fn layer_shapes(quick: bool) -> &'static [(usize, usize)] {
    if quick {
        &[(256, 512)]
    } else {
        &[(256, 1024), (512, 2048)]
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub gpuinit_version: &'static str,
    pub git_revision: &'static str,
    pub adapter: Option<AdapterSummary>,
    pub gpu_timing: &'static str,
    pub workgroup_size: Option<u32>,
    /// Bits of the multiplies Philox's mulhilo is built from on the GPU: 64 or 16.
    pub mulhilo_bits: Option<u32>,
    pub cpu_model: String,
    pub cpu_threads: usize,
    pub setup_s: Option<f64>,
    pub first_dispatch_s: Option<f64>,
    pub rows: Vec<Row>,
    pub layers: Vec<MatmulRow>,
    pub networks: Vec<NetworkRow>,
}

/// Repeats: (at least, at most, seconds budget).
fn repeats(quick: bool) -> (usize, usize, f64) {
    if quick {
        (3, 5, 0.3)
    } else {
        (5, 15, 1.0)
    }
}

/// The sizes to run: `sizes`, or the ladder 1, 4, 16, 64, 256 Mi up to what one buffer
/// holds (64 Mi on CPU adapters, where 256 Mi takes minutes; 1 and 4 Mi when quick). Each
/// is checked before any work: a positive multiple of 4, within the adapter's largest
/// buffer, and (where the CPU runs) within half the host memory available.
pub fn sizes(opts: &BenchOptions, devices: &Devices) -> Result<Vec<u64>> {
    let ctx = devices.gpu.as_ref();
    let Some(given) = &opts.sizes else {
        let top = match ctx {
            _ if opts.quick => 4 * MI,
            Some(c) => {
                let max = c.device().limits().max_buffer_size / 4;
                let on_cpu = c.adapter_summary().is_some_and(|a| a.is_cpu());
                max.min(if on_cpu { 64 * MI } else { 256 * MI })
            }
            None => 64 * MI,
        };
        let ladder = [1, 4, 16, 64, 256].iter().map(|m| m * MI);
        return Ok(ladder.filter(|&n| n <= top).collect());
    };
    if given.is_empty() {
        return Err(Error::invalid("--sizes lists no size"));
    }
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    for &n in given {
        let bytes = n.checked_mul(4).filter(|_| n > 0 && n % 4 == 0);
        let Some(bytes) = bytes else {
            return Err(Error::invalid(format!(
                "--sizes {n} is not a positive multiple of 4 elements that fits in memory"
            )));
        };
        if let Some(c) = ctx {
            let max = c.device().limits().max_buffer_size;
            if bytes > max {
                return Err(Error::invalid(format!(
                    "--sizes {n} needs a {:.2} GiB buffer, above this adapter's largest ({:.2} GiB)",
                    gib(bytes),
                    gib(max)
                )));
            }
        }
        if let Some(free) = available_memory().filter(|_| devices.cpu) {
            if bytes > free / 2 {
                return Err(Error::invalid(format!(
                    "--sizes {n} needs {:.2} GiB of host memory, above half of the {:.2} GiB available",
                    gib(bytes),
                    gib(free)
                )));
            }
        }
    }
    Ok(given.clone())
}

/// Progress steps [`run`] reports for these sizes.
pub fn steps(opts: &BenchOptions, sizes: &[u64]) -> u64 {
    let products = Product::ALL.len() as u64 * layer_shapes(opts.quick).len() as u64;
    sizes.len() as u64 * (1 + SCHEMES.len() as u64) + products + 2
}

/// Runs the benchmark on `devices` (opened `setup_s` seconds ago, for the header).
pub fn run(
    opts: &BenchOptions,
    devices: &Devices,
    sizes: &[u64],
    setup_s: Option<f64>,
    progress: &mut dyn Progress,
) -> Result<Report> {
    let ctx = devices.gpu.as_ref();
    let (rows, first_dispatch_s) = generation::rows(devices, sizes, opts.quick, progress)?;
    let mut layers = Vec::new();
    for &shape in layer_shapes(opts.quick) {
        for product in Product::ALL {
            let (batch, width) = shape;
            progress.step(&format!(
                "{} product, batch {batch}, width {width}",
                product.name()
            ));
            layers.push(layers::time_layer(devices, product, shape, opts.quick)?);
        }
    }
    let mut networks = Vec::new();
    for backward in [false, true] {
        let (depth, width, batch) = network_shape(opts.quick);
        progress.step(&format!("network {depth} x {width}, batch {batch}"));
        let shape = network_shape(opts.quick);
        networks.push(layers::time_network(devices, shape, backward, opts.quick)?);
    }
    Ok(Report {
        gpuinit_version: env!("CARGO_PKG_VERSION"),
        git_revision: env!("GPUINIT_GIT_REV"),
        adapter: ctx.and_then(|c| c.adapter_summary()),
        gpu_timing: match ctx {
            Some(c) if c.has_timestamps() => "device time (timestamp queries)",
            Some(_) => "wall-clock (no timestamp queries: submit to end of a bounded wait)",
            None => "not measured",
        },
        workgroup_size: ctx.map(GpuContext::workgroup_size),
        mulhilo_bits: ctx.map(|c| if c.mulhilo_int64() { 64 } else { 16 }),
        cpu_model: cpu_model(),
        cpu_threads: rayon::current_num_threads(),
        setup_s,
        first_dispatch_s,
        rows,
        layers,
        networks,
    })
}

/// The processor's name, from /proc/cpuinfo where there is one.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
