//! The CPU twin of the propagation kernels: the same network, the same weights (the CPU
//! Philox reference, [`crate::cpu::generate`]), a threaded f32 gemm (the `gemm` crate), and
//! the same statistics, computed in f64. Every GPU statistic is compared with these.
//!
//! Functions are named after the WGSL they mirror, so the two read side by side:
//! [`tanh_f32`], [`sigmoid_f32`], [`activate`], [`activate_grad`] and [`saturated`]
//! (`shaders/activation.wgsl`); [`matmul_forward`], [`matmul_backward`] and
//! [`matmul_weight_grad`] (`matmul` in `shaders/matmul.wgsl` with EPILOGUE 0, 1, 2);
//! [`delta_top`] (`shaders/backward.wgsl`); [`moments`], [`hist_range`], [`bin_of`] and
//! [`histogram`] (`shaders/layer_stats.wgsl`). The activation functions use the same f32
//! operations in the same order as the shaders; products are accumulated in a different
//! order (gemm's blocking), which [`super::TOLERANCE`] allows for.

use std::time::Instant;

use rayon::prelude::*;

use super::{
    layer1_weights, Activation, Histogram, Init, LayerStats, Network, Run, Summary,
    GRADIENT_STREAM, HIST_BINS, INPUT_STREAM, MEMORY_BUDGET, WEIGHT_BUDGET,
};
use crate::error::{Error, Result};

/// SELU's constants, as in `shaders/activation.wgsl`.
#[allow(clippy::excessive_precision)]
pub const SELU_ALPHA: f32 = 1.673_263_242_354_377_2;
#[allow(clippy::excessive_precision)]
pub const SELU_LAMBDA: f32 = 1.050_700_987_355_480_5;

/// `tanh_f32` in activation.wgsl: a Taylor polynomial below 0.125, else (1 - e) / (1 + e)
/// with e = exp(-2|z|).
#[inline(always)]
pub fn tanh_f32(z: f32) -> f32 {
    let a = z.abs();
    if a < 0.125 {
        let z2 = z * z;
        return z + z * z2 * (-0.333_333_34 + z2 * (0.133_333_34 + z2 * -0.053_968_254));
    }
    let e = (-2.0 * a).exp();
    let t = (1.0 - e) / (1.0 + e);
    if z < 0.0 {
        -t
    } else {
        t
    }
}

/// `sigmoid_f32` in activation.wgsl.
#[inline(always)]
pub fn sigmoid_f32(z: f32) -> f32 {
    let e = (-z.abs()).exp();
    let s = 1.0 / (1.0 + e);
    if z < 0.0 {
        e * s
    } else {
        s
    }
}

/// `activate` in activation.wgsl.
#[inline(always)]
pub fn activate(act: Activation, slope: f32, z: f32) -> f32 {
    match act {
        Activation::Linear => z,
        Activation::Tanh => tanh_f32(z),
        Activation::Sigmoid => sigmoid_f32(z),
        Activation::Softsign => z / (1.0 + z.abs()),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu => {
            if z > 0.0 {
                z
            } else {
                slope * z
            }
        }
        Activation::Selu => {
            if z > 0.0 {
                SELU_LAMBDA * z
            } else {
                SELU_LAMBDA * (SELU_ALPHA * (z.exp() - 1.0))
            }
        }
    }
}

/// `activate_grad` in activation.wgsl: f'(z) from y = f(z).
#[inline(always)]
pub fn activate_grad(act: Activation, slope: f32, y: f32) -> f32 {
    match act {
        Activation::Linear => 1.0,
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Softsign => {
            let u = 1.0 - y.abs();
            u * u
        }
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu => {
            if y > 0.0 {
                1.0
            } else {
                slope
            }
        }
        Activation::Selu => {
            if y > 0.0 {
                SELU_LAMBDA
            } else {
                y + SELU_LAMBDA * SELU_ALPHA
            }
        }
    }
}

/// `saturated` in activation.wgsl.
#[inline(always)]
pub fn saturated(act: Activation, y: f32) -> bool {
    match act {
        Activation::Tanh => y.abs() > 0.99,
        Activation::Sigmoid => !(0.01..=0.99).contains(&y),
        Activation::Softsign => y.abs() > 0.9,
        Activation::Relu => y == 0.0,
        _ => false,
    }
}

/// A row-major or transposed view of a matrix for [`sgemm`]: (pointer, row stride,
/// column stride) in elements.
type View<'a> = (&'a [f32], isize, isize);

/// C[m, n] (row-major, contiguous) = A[m, k] B[k, n], on every core.
pub fn sgemm(m: usize, n: usize, k: usize, a: View, b: View, c: &mut [f32]) {
    assert_eq!(c.len(), m * n);
    let (a, a_rs, a_cs) = a;
    let (b, b_rs, b_cs) = b;
    // The furthest element each view reaches must be inside its slice.
    let reach = |rows: usize, cols: usize, rs: isize, cs: isize| {
        (rows.saturating_sub(1)) * rs as usize + (cols.saturating_sub(1)) * cs as usize
    };
    assert!(m == 0 || k == 0 || reach(m, k, a_rs, a_cs) < a.len());
    assert!(k == 0 || n == 0 || reach(k, n, b_rs, b_cs) < b.len());
    if k == 0 {
        c.fill(0.0);
        return;
    }
    // SAFETY: the asserts above keep every element gemm reads inside `a` and `b`, and `c`
    // is exactly m x n with row stride n; the three slices do not overlap (c is &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        )
    }
}

/// Rows handled per parallel task in the elementwise passes.
fn row_chunk(cols: usize) -> usize {
    (65_536 / cols.max(1)).max(1)
}

/// `matmul` with EPILOGUE 0: X_l = f(X_{l-1} W_l^T + 0), X_{l-1} `[batch, n_in]`, W_l
/// `[n_out, n_in]`, all row-major and contiguous.
pub fn matmul_forward(
    x: &[f32],
    w: &[f32],
    batch: usize,
    n_in: usize,
    n_out: usize,
    act: Activation,
    slope: f32,
) -> Vec<f32> {
    let mut out = vec![0.0f32; batch * n_out];
    // B = W^T: element (k, n) of B is W[n, k], at n * n_in + k.
    sgemm(
        batch,
        n_out,
        n_in,
        (x, n_in as isize, 1),
        (w, 1, n_in as isize),
        &mut out,
    );
    // The bias is zero; adding it keeps the shader's f32 operations (it turns -0 into +0,
    // which no statistic sees, so a linear layer skips the pass).
    if act != Activation::Linear {
        out.par_chunks_mut(row_chunk(n_out) * n_out).for_each(|c| {
            for z in c {
                *z = activate(act, slope, *z + 0.0);
            }
        });
    }
    out
}

/// `matmul` with EPILOGUE 1: delta_{l-1} = (delta_l W_l) * f'(X_{l-1}), delta_l
/// `[batch, n_out]`, W_l `[n_out, n_in]`, X_{l-1} `[batch, n_in]`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(
    delta: &[f32],
    w: &[f32],
    x_prev: &[f32],
    batch: usize,
    n_out: usize,
    n_in: usize,
    act: Activation,
    slope: f32,
) -> Vec<f32> {
    let mut out = vec![0.0f32; batch * n_in];
    sgemm(
        batch,
        n_in,
        n_out,
        (delta, n_out as isize, 1),
        (w, n_in as isize, 1),
        &mut out,
    );
    let rows = row_chunk(n_in) * n_in;
    out.par_chunks_mut(rows)
        .zip(x_prev.par_chunks(rows))
        .for_each(|(g, y)| {
            for (g, &y) in g.iter_mut().zip(y) {
                *g *= activate_grad(act, slope, y);
            }
        });
    out
}

/// `matmul` with EPILOGUE 2: the moments of dW_l = delta_l^T X_{l-1} (`[n_out, n_in]`).
pub fn matmul_weight_grad(
    delta: &[f32],
    x_prev: &[f32],
    batch: usize,
    n_out: usize,
    n_in: usize,
) -> Moments {
    let mut dw = vec![0.0f32; n_out * n_in];
    // A = delta^T: element (o, b) is delta[b, o], at b * n_out + o.
    sgemm(
        n_out,
        n_in,
        batch,
        (delta, 1, n_out as isize),
        (x_prev, n_in as isize, 1),
        &mut dw,
    );
    moments(&dw, None)
}

/// `delta_top` in backward.wgsl: delta_D = g * f'(X_D).
pub fn delta_top(g: &[f32], y: &[f32], act: Activation, slope: f32) -> Vec<f32> {
    g.par_iter()
        .zip(y.par_iter())
        .map(|(&g, &y)| g * activate_grad(act, slope, y))
        .collect()
}

/// What `moments` and `finalize` in layer_stats.wgsl produce, in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// Finite values.
    pub n: u64,
    pub saturated: u64,
    pub nonfinite: u64,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Moments {
    fn empty() -> Moments {
        Moments {
            n: 0,
            saturated: 0,
            nonfinite: 0,
            mean: 0.0,
            m2: 0.0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }

    /// Chan, Golub and LeVeque's merge, as `partial_merge` in reduce.wgsl (in f64 here).
    fn merge(a: Moments, b: Moments) -> Moments {
        let mut r = a;
        r.saturated += b.saturated;
        r.nonfinite += b.nonfinite;
        if b.n == 0 {
            return r;
        }
        if a.n == 0 {
            return Moments {
                saturated: r.saturated,
                nonfinite: r.nonfinite,
                ..b
            };
        }
        let (na, nb) = (a.n as f64, b.n as f64);
        let n = na + nb;
        let d = b.mean - a.mean;
        r.n = a.n + b.n;
        r.mean = a.mean + d * nb / n;
        r.m2 = a.m2 + b.m2 + d * d * na * nb / n;
        r.lo = a.lo.min(b.lo);
        r.hi = a.hi.max(b.hi);
        r
    }

    /// Two passes over one block, in f64.
    fn of_block(xs: &[f32], act: Option<Activation>) -> Moments {
        let mut m = Moments::empty();
        let mut sum = 0.0f64;
        for &x in xs {
            if act.is_some_and(|a| saturated(a, x)) {
                m.saturated += 1;
            }
            if !x.is_finite() {
                m.nonfinite += 1;
                continue;
            }
            let x = f64::from(x);
            m.n += 1;
            sum += x;
            m.lo = m.lo.min(x);
            m.hi = m.hi.max(x);
        }
        if m.n > 0 {
            m.mean = sum / m.n as f64;
            m.m2 = xs
                .iter()
                .filter(|x| x.is_finite())
                .map(|&x| (f64::from(x) - m.mean).powi(2))
                .sum();
        }
        m
    }
}

/// `moments` + `finalize`: the moments of every value, with saturation counted under `act`.
pub fn moments(xs: &[f32], act: Option<Activation>) -> Moments {
    xs.par_chunks(1 << 14)
        .map(|c| Moments::of_block(c, act))
        .reduce(Moments::empty, Moments::merge)
}

/// `hist_range` in layer_stats.wgsl: a fixed range, or the data's, widened when a point.
pub fn hist_range(fixed: Option<(f32, f32)>, m: &Moments) -> (f32, f32) {
    if let Some(r) = fixed {
        return r;
    }
    if m.n == 0 {
        return (0.0, 0.0);
    }
    let (lo, hi) = (m.lo as f32, m.hi as f32);
    if hi > lo {
        return (lo, hi);
    }
    let w = 0.5 * lo.abs().max(1.0);
    (lo - w, hi + w)
}

/// `bin_of` in layer_stats.wgsl.
#[inline(always)]
pub fn bin_of(x: f32, lo: f32, scale: f32) -> usize {
    ((x - lo) * scale)
        .clamp(0.0, (HIST_BINS - 1) as f32)
        .floor() as usize
}

/// `histogram` in layer_stats.wgsl.
pub fn histogram(xs: &[f32], lo: f32, hi: f32) -> Vec<u64> {
    let counting = hi > lo; // false for an empty range, and for NaN
    if !counting {
        return vec![0; HIST_BINS];
    }
    let scale = HIST_BINS as f32 / (hi - lo);
    xs.par_chunks(1 << 14)
        .map(|c| {
            let mut h = vec![0u64; HIST_BINS];
            for &x in c.iter().filter(|x| x.is_finite()) {
                h[bin_of(x, lo, scale)] += 1;
            }
            h
        })
        .reduce(
            || vec![0u64; HIST_BINS],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

/// The summary of a matrix: moments, saturation under `act` when it saturates, histogram.
fn summarize(xs: &[f32], act: Option<Activation>, fixed: Option<(f32, f32)>) -> Summary {
    let m = moments(xs, act);
    let (lo, hi) = hist_range(fixed, &m);
    let counts = histogram(xs, lo, hi);
    summary_of(&m, act, Some(Histogram { lo, hi, counts }))
}

/// A [`Summary`] from moments (saturation reported when `act` saturates).
pub fn summary_of(m: &Moments, act: Option<Activation>, hist: Option<Histogram>) -> Summary {
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
    let weight = |l: usize| {
        crate::cpu::generate_vec(&samplers[l - 1], net.seed, l as u64, 0, w[l] * w[l - 1])
    };
    let total_weights: u64 = w.windows(2).map(|p| bytes(p[0] * p[1])).sum();
    let keep_weights = backward && total_weights <= WEIGHT_BUDGET;

    let x0 = crate::cpu::generate_vec(&normal, net.seed, INPUT_STREAM, 0, b * w[0]);
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
        let g = crate::cpu::generate_vec(&normal, net.seed, GRADIENT_STREAM, 0, b * w[d]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_and_sigmoid_match_the_library_functions() {
        for i in -4000..=4000 {
            let z = i as f32 * 0.01;
            assert!(
                (tanh_f32(z) - z.tanh()).abs()
                    <= 2.0 * f32::EPSILON * z.tanh().abs().max(1e-30) + 1e-7,
                "{z}"
            );
            let s = 1.0 / (1.0 + (-f64::from(z)).exp());
            assert!((f64::from(sigmoid_f32(z)) - s).abs() <= 4e-7 * s, "{z}");
        }
        for z in [1e-30f32, 1e-8, 1e-4, 0.1249, 0.125, 100.0, 1e30, f32::MAX] {
            assert!(
                (tanh_f32(z) - z.tanh()).abs() <= 2.0 * f32::EPSILON * z.tanh(),
                "{z}"
            );
            assert_eq!(tanh_f32(-z), -tanh_f32(z));
            assert!(sigmoid_f32(z).is_finite() && sigmoid_f32(-z).is_finite());
        }
    }

    #[test]
    fn derivatives_from_outputs_match_finite_differences() {
        for act in Activation::ALL {
            for i in -30..=30 {
                let z = i as f64 * 0.1 + 0.05;
                let h = 1e-3;
                let f = |z: f64| f64::from(activate(act, 0.01, z as f32));
                let fd = (f(z + h) - f(z - h)) / (2.0 * h);
                let g = f64::from(activate_grad(act, 0.01, activate(act, 0.01, z as f32)));
                assert!(
                    (fd - g).abs() < 2e-3 * fd.abs().max(1.0),
                    "{act:?} at {z}: {fd} vs {g}"
                );
            }
        }
    }

    #[test]
    fn sgemm_computes_both_layouts() {
        // A [2, 3], W [4, 3]: X W^T against a direct sum.
        let x: Vec<f32> = (0..6).map(|i| i as f32 - 2.5).collect();
        let w: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        let y = matmul_forward(&x, &w, 2, 3, 4, Activation::Linear, 0.0);
        for r in 0..2 {
            for o in 0..4 {
                let want: f32 = (0..3).map(|k| x[r * 3 + k] * w[o * 3 + k]).sum();
                assert!((y[r * 4 + o] - want).abs() < 1e-5);
            }
        }
        // delta [2, 4] W [4, 3] against a direct sum (linear: derivative 1).
        let g = matmul_backward(&y, &w, &x, 2, 4, 3, Activation::Linear, 0.0);
        for r in 0..2 {
            for i in 0..3 {
                let want: f32 = (0..4).map(|o| y[r * 4 + o] * w[o * 3 + i]).sum();
                assert!((g[r * 3 + i] - want).abs() < 1e-4);
            }
        }
        // dW = delta^T X: moments against a direct computation.
        let m = matmul_weight_grad(&y, &x, 2, 4, 3);
        let dw: Vec<f64> = (0..4)
            .flat_map(|o| (0..3).map(move |i| (o, i)))
            .map(|(o, i)| (0..2).map(|r| f64::from(y[r * 4 + o] * x[r * 3 + i])).sum())
            .collect();
        let mean = dw.iter().sum::<f64>() / 12.0;
        assert!((m.mean - mean).abs() < 1e-5 && m.n == 12);
    }

    #[test]
    fn moments_are_exact_for_a_large_mean() {
        let xs: Vec<f32> = (0..100_000)
            .map(|i| 0.5 + ((i % 7) as f32 - 3.0) * 1e-4)
            .collect();
        let m = moments(&xs, Some(Activation::Sigmoid));
        let var = m.m2 / m.n as f64;
        let want: f64 = (0..7)
            .map(|k| ((k as f64 - 3.0) * 1e-4).powi(2))
            .sum::<f64>()
            / 7.0;
        assert!((var / want - 1.0).abs() < 1e-3, "{var} {want}");
        assert_eq!(m.saturated, 0);
        let h = histogram(&xs, 0.0, 1.0);
        assert_eq!(h.iter().sum::<u64>(), 100_000);
        assert_eq!(h[25], 100_000 - h[24]);
    }
}
