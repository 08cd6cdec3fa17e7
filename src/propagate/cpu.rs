//! The network on the CPU: the same weights (the CPU Philox reference), the CPU twins of
//! every kernel (`src/cpu/`), statistics in f64. Every GPU statistic is compared with these.

use std::time::Instant;

use super::summary::layer1_weights;
use super::{
    Histogram, Init, LayerStats, Network, Run, Summary, GRADIENT_STREAM, INPUT_STREAM,
    MEMORY_BUDGET, WEIGHT_BUDGET,
};
use crate::abi::Activation;
use crate::cpu::backward::delta_top;
use crate::cpu::generate_vec;
use crate::cpu::layer_stats::{hist_range, histogram, moments, Partial};
use crate::cpu::matmul::{matmul_backward, matmul_forward, matmul_weight_grad};
use crate::error::{Error, Result};

/// The summary of a matrix: moments, saturation under `act` when it saturates, histogram.
fn summarize(xs: &[f32], act: Option<Activation>, fixed: Option<(f32, f32)>) -> Summary {
    let m = moments(xs, act);
    let (lo, hi) = hist_range(fixed, &m);
    let counts = histogram(xs, lo, hi);
    summary_of(&m, act, Some(Histogram { lo, hi, counts }))
}

/// A [`Summary`] from moments (saturation reported when `act` saturates).
pub fn summary_of(m: &Partial, act: Option<Activation>, hist: Option<Histogram>) -> Summary {
    Summary::from_parts(
        m.n,
        m.nonfinite,
        m.mean,
        m.m2,
        m.lo,
        m.hi,
        act.filter(|a| a.saturates()).map(|_| m.saturated),
        hist,
    )
}

fn bytes(elements: usize) -> u64 {
    elements as u64 * 4
}

/// Refuses a network whose CPU reference would need more than [`MEMORY_BUDGET`].
pub fn check_memory(net: &Network, backward: bool) -> Result<()> {
    let b = net.batch;
    let acts: u64 = if backward {
        net.widths.iter().map(|&w| bytes(b * w)).sum()
    } else {
        net.widths.iter().map(|&w| bytes(b * w)).max().unwrap_or(0) * 2
    };
    let layer = net
        .widths
        .windows(2)
        .map(|w| bytes(w[0] * w[1]))
        .max()
        .unwrap_or(0);
    let weights: u64 = net.widths.windows(2).map(|w| bytes(w[0] * w[1])).sum();
    let kept = if backward && weights <= WEIGHT_BUDGET {
        weights
    } else {
        layer
    };
    // Plus a weight-gradient matrix and two gradient buffers.
    let grads = if backward {
        layer + 2 * net.widths.iter().map(|&w| bytes(b * w)).max().unwrap_or(0)
    } else {
        0
    };
    let total = acts + kept + grads;
    if total > MEMORY_BUDGET {
        return Err(Error::invalid(format!(
            "this network needs {:.1} GiB (activations of every layer{}), above the {} GiB budget; reduce --batch, --width or --depth",
            total as f64 / (1u64 << 30) as f64,
            if backward { " are kept for --backward" } else { "" },
            MEMORY_BUDGET >> 30
        )));
    }
    Ok(())
}

/// The network under `init`, forward (and backward), on every core.
pub fn run(net: &Network, init: &Init, backward: bool) -> Result<Run> {
    check_memory(net, backward)?;
    let start = Instant::now();
    let samplers = net.weight_samplers(&init.scheme)?;
    let (layer1, fan_in_variance) = layer1_weights(net, &init.scheme)?;
    let (d, b, act, slope) = (net.depth(), net.batch, net.activation, net.negative_slope);
    let w = &net.widths;
    let normal = Network::standard_normal();
    let weight = |l: usize| generate_vec(&samplers[l - 1], net.seed, l as u64, 0, w[l] * w[l - 1]);
    let total_weights: u64 = w.windows(2).map(|p| bytes(p[0] * p[1])).sum();
    let keep_weights = backward && total_weights <= WEIGHT_BUDGET;

    let x0 = generate_vec(&normal, net.seed, INPUT_STREAM, 0, b * w[0]);
    let mut layers = vec![LayerStats {
        layer: 0,
        width: w[0],
        activation: summarize(&x0, None, None),
        gradient: None,
        weight_gradient: None,
    }];
    let mut acts = vec![x0];
    let mut weights: Vec<Option<Vec<f32>>> = vec![None; d + 1];
    for l in 1..=d {
        let wl = weight(l);
        let x = matmul_forward(acts.last().unwrap(), &wl, b, w[l - 1], w[l], act, slope);
        layers.push(LayerStats {
            layer: l,
            width: w[l],
            activation: summarize(&x, Some(act), act.hist_range()),
            gradient: None,
            weight_gradient: None,
        });
        if keep_weights {
            weights[l] = Some(wl);
        }
        if backward {
            acts.push(x);
        } else {
            acts[0] = x;
        }
    }
    if backward {
        let g = generate_vec(&normal, net.seed, GRADIENT_STREAM, 0, b * w[d]);
        let mut delta = delta_top(&g, &acts[d], act, slope);
        for l in (1..=d).rev() {
            layers[l].gradient = Some(summarize(&delta, None, None));
            let dw = matmul_weight_grad(&delta, &acts[l - 1], b, w[l], w[l - 1]);
            layers[l].weight_gradient = Some(summary_of(&dw, None, None));
            if l > 1 {
                let wl = weights[l].take().unwrap_or_else(|| weight(l));
                delta = matmul_backward(&delta, &wl, &acts[l - 1], b, w[l], w[l - 1], act, slope);
            }
        }
    }
    Ok(Run {
        scheme: init.label.clone(),
        layer1_weights: layer1,
        layer1_fan_in_variance: fan_in_variance,
        device: format!(
            "cpu reference ({} threads, gemm)",
            rayon::current_num_threads()
        ),
        seconds: start.elapsed().as_secs_f64(),
        layers,
    })
}
