//! Deep propagation: what each initialization does to depth.
//!
//! Glorot and Bengio (2010) argued that Xavier initialization keeps the variance of
//! activations and of back-propagated gradients roughly constant from layer to layer, where
//! other schemes make it vanish or explode (their figures 6 and 7). This module measures
//! that on any GPU: it builds a deep fully-connected network whose weights the core
//! generator writes straight into GPU buffers, pushes a batch through it (and back), and
//! reduces per-layer statistics on the GPU, so that only statistics reach the host. A CPU
//! twin ([`cpu`]) runs the same network on the same weights with a threaded gemm and is the
//! reference every GPU statistic is compared with ([`compare`], [`TOLERANCE`]).
//!
//! # The network
//!
//! Widths `w_0 .. w_D`; layer `l` (1-based, `1 ..= D`) maps `X_{l-1}` `[batch, w_{l-1}]` to
//! `X_l = f(X_{l-1} W_l^T + b_l)`:
//! - `W_l` is `[w_l, w_{l-1}]` row-major (torch's `Linear.weight`, fan_in = `w_{l-1}`,
//!   fan_out = `w_l`), element `(o, i)` = element `o * w_{l-1} + i` of stream `l` under the
//!   network's seed and the scheme's distribution for those fans;
//! - `b_l` = 0, as in Glorot and Bengio;
//! - the input `X_0` is standard normal, element `(b, i)` = element `b * w_0 + i` of stream
//!   [`INPUT_STREAM`] (2^64 - 1);
//! - with `--backward`, the gradient of the loss with respect to the top layer's output is
//!   standard normal too, element `(b, o)` of stream [`GRADIENT_STREAM`] (2^64 - 2).
//!
//! The backward pass records, per layer, the gradient with respect to the pre-activations,
//! `delta_l = (delta_{l+1} W_{l+1}) * f'(z_l)` (at the top, the seeded gradient times
//! `f'(z_D)`), and the weight gradient `dW_l = delta_l^T X_{l-1}` (summed over the batch:
//! the gradient of the batch's summed loss).
//!
//! # Statistics
//!
//! Per layer and per matrix (activations, gradients, weight gradients): count, mean,
//! population variance, min, max, non-finite count (inf and NaN are left out of the
//! moments), and for activations the saturated fraction and a [`HIST_BINS`]-bin histogram
//! (on the activation's range for tanh, softsign and sigmoid, else on the data's
//! [min, max]; gradients get one on their [min, max] too). The GPU reduces them on the
//! device (`shaders/layer_stats.wgsl`); the CPU twin computes them in f64.

mod compare;
mod report;
mod summary;

pub use crate::abi::Activation;
pub use crate::engine::network::{
    Network, GRADIENT_STREAM, INPUT_STREAM, MAX_BATCH, MAX_DEPTH, MAX_WIDTH,
};
pub use crate::engine::plan::{MEMORY_BUDGET, WEIGHT_BUDGET};
pub use crate::stats::{summary_of, Histogram, LayerStats, Summary};
pub use compare::{compare, Comparison, Tolerance, Worst, TOLERANCE};
pub use report::{PropagateReport, SchemeReport};
pub use summary::{describe_distribution, fmt_num, layer1_weights, Run};

use crate::engine::deep::{self, PassStats};
use crate::engine::{Backend, CpuBackend, GpuBackend, Plan, Reduction};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::rng::Scheme;

/// Bins of every histogram.
pub use crate::cpu::layer_stats::HIST_BINS;

/// An initialization scheme with the text that named it.
#[derive(Clone, Debug)]
pub struct Init {
    pub label: String,
    pub scheme: Scheme,
}

/// Parses comma-separated scheme specs (`standard,xavier_uniform:gain=1.667`): each a name
/// and `:key=value` options ([`Scheme::parse_spec`]).
pub fn parse_inits(text: &str) -> Result<Vec<Init>> {
    text.split(',')
        .map(|item| {
            let item = item.trim();
            if item.is_empty() {
                return Err(Error::invalid(format!("'{text}' has an empty scheme name")));
            }
            Ok(Init {
                label: item.to_string(),
                scheme: Scheme::parse_spec(item)?,
            })
        })
        .collect()
}

/// Refuses a network the CPU reference cannot run within [`MEMORY_BUDGET`].
pub fn check_cpu(net: &Network, backward: bool) -> Result<()> {
    Plan::new(net, backward).check_memory(backward)
}

/// Refuses a network this GPU cannot run: every buffer within one storage binding, every
/// grid within the dispatch limits, everything within the memory budget.
pub fn check_gpu(ctx: &GpuContext, net: &Network, backward: bool) -> Result<()> {
    GpuBackend::for_network(ctx, net, backward).map(|_| ())
}

/// `net` under `init`, forward (and backward), on any backend.
pub fn run_on<B: Backend>(b: &mut B, net: &Network, init: &Init, backward: bool) -> Result<Run> {
    let samplers = net.weight_samplers(&init.scheme)?;
    let (layer1, fan_in_variance) = layer1_weights(net, &init.scheme)?;
    let pass = deep::run(b, net, &samplers, backward)?;
    Ok(Run {
        scheme: init.label.clone(),
        layer1_weights: layer1,
        layer1_fan_in_variance: fan_in_variance,
        device: b.label(),
        seconds: pass.seconds,
        layers: layers(net, &pass),
    })
}

/// `net` under `init` on the CPU reference.
pub fn run_cpu(net: &Network, init: &Init, backward: bool) -> Result<Run> {
    check_cpu(net, backward)?;
    run_on(&mut CpuBackend::new(), net, init, backward)
}

/// `net` under `init` on this GPU.
pub fn run_gpu(ctx: &GpuContext, net: &Network, init: &Init, backward: bool) -> Result<Run> {
    run_on(
        &mut GpuBackend::for_network(ctx, net, backward)?,
        net,
        init,
        backward,
    )
}

/// The summary of one reduction, saturation reported under `act`.
fn summary(r: &Reduction, act: Option<crate::abi::Activation>) -> Summary {
    let histogram = r.histogram.as_ref().map(|(lo, hi, counts)| Histogram {
        lo: *lo,
        hi: *hi,
        counts: counts.clone(),
    });
    summary_of(&r.moments, act, histogram)
}

/// Each layer's statistics from a pass.
fn layers(net: &Network, pass: &PassStats) -> Vec<LayerStats> {
    let act = net.activation;
    pass.activations
        .iter()
        .enumerate()
        .map(|(l, a)| LayerStats {
            layer: l,
            width: net.widths[l],
            activation: summary(a, (l > 0).then_some(act)),
            gradient: (l > 0)
                .then(|| pass.gradients.get(l - 1).map(|g| summary(g, None)))
                .flatten(),
            weight_gradient: (l > 0)
                .then(|| pass.weight_gradients.get(l - 1).map(|g| summary(g, None)))
                .flatten(),
        })
        .collect()
}

/// One scheme through `net`: on the GPU when given, on the CPU reference when `cpu`, and
/// compared within [`TOLERANCE`] when both ran.
pub fn run_scheme(
    net: &Network,
    init: &Init,
    backward: bool,
    gpu: Option<&GpuContext>,
    cpu: bool,
) -> Result<SchemeReport> {
    let gpu_run = gpu.map(|g| run_gpu(g, net, init, backward)).transpose()?;
    let cpu_run = cpu.then(|| run_cpu(net, init, backward)).transpose()?;
    let comparison = match (&gpu_run, &cpu_run) {
        (Some(g), Some(c)) => Some(compare(g, c, &TOLERANCE)),
        _ => None,
    };
    Ok(SchemeReport {
        scheme: init.label.clone(),
        gpu: gpu_run,
        cpu: cpu_run,
        comparison,
    })
}
