//! CPU twin of `shaders/matmul.wgsl`: a threaded f32 gemm (the `gemm` crate) with the
//! kernel's epilogues (the fourth, a plain stored product, is [`sgemm`] itself). Products
//! are accumulated in a different order than the tiled kernel (gemm's blocking), which the
//! GPU-against-CPU tolerances allow for.

use rayon::prelude::*;

use super::activation::{activate, activate_grad, Activation};
use super::layer_stats::{moments, Partial};

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
    // Column blocks of C (and B) as parallel tasks, each one single-threaded gemm call:
    // measured on a 2-core AVX-512 machine at 256 x 1024 x 1024, 150-210 GFLOP/s against
    // 80-130 for gemm's own threading (docs/PERFORMANCE.md).
    let block = column_block(m, n, k);
    let c_addr = c.as_mut_ptr() as usize;
    (0..n.div_ceil(block)).into_par_iter().for_each(|j| {
        let (n0, cols) = (j * block, block.min(n - j * block));
        // SAFETY: the asserts above keep every element gemm reads inside `a` and `b`
        // (columns n0 .. n0 + cols of B are within its reach), and `c` is exactly m x n
        // with row stride n: each task writes only its own columns n0 .. n0 + cols, so
        // the tasks' writes do not overlap, and none overlaps `a` or `b` (c is &mut).
        unsafe {
            gemm::gemm(
                m,
                cols,
                k,
                (c_addr as *mut f32).add(n0),
                1,
                n as isize,
                false,
                a.as_ptr(),
                a_cs,
                a_rs,
                b.as_ptr().offset(n0 as isize * b_cs),
                b_cs,
                b_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    });
}

/// Columns of C per task: 64 (four AVX-512 registers' width) when there are enough to keep
/// every core busy several times over, fewer for narrow products, all of them for small
/// ones, where a task costs more than it saves.
fn column_block(m: usize, n: usize, k: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    if threads == 1 || m * n * k < 1 << 18 {
        return n.max(1);
    }
    if n >= 64 * 4 * threads {
        64
    } else {
        n.div_ceil(4 * threads).max(16)
    }
}

/// Rows handled per parallel task in the elementwise passes.
fn row_chunk(cols: usize) -> usize {
    (65_536 / cols.max(1)).max(1)
}

/// A layer's shape: rows of the batch, inputs, outputs.
pub type Shape = (usize, usize, usize);

/// `matmul` with EPILOGUE 0 (forward) into `out`: `f(X W^T + bias)`, X `[batch, n_in]`,
/// W `[n_out, n_in]`, bias `[n_out]` (zero when `None`), all row-major and contiguous.
pub fn forward_into(
    (x, w, bias): (&[f32], &[f32], Option<&[f32]>),
    (batch, n_in, n_out): Shape,
    (act, slope): (Activation, f32),
    out: &mut [f32],
) {
    // B = W^T: element (k, n) of B is W[n, k], at n * n_in + k.
    sgemm(
        batch,
        n_out,
        n_in,
        (x, n_in as isize, 1),
        (w, 1, n_in as isize),
        out,
    );
    // Adding the bias keeps the shader's f32 operations. A zero bias only turns -0 into +0,
    // which no statistic sees, so a linear layer without one skips the pass.
    if bias.is_none() && act == Activation::Linear {
        return;
    }
    let zeros = vec![0.0f32; n_out];
    let b = bias.unwrap_or(&zeros);
    out.par_chunks_mut(row_chunk(n_out) * n_out).for_each(|c| {
        for row in c.chunks_mut(n_out) {
            for (z, &bias) in row.iter_mut().zip(b) {
                *z = activate(act, slope, *z + bias);
            }
        }
    });
}

/// [`forward_into`] a new vector, bias zero.
pub fn matmul_forward(
    x: &[f32],
    w: &[f32],
    (batch, n_in, n_out): Shape,
    act: (Activation, f32),
) -> Vec<f32> {
    let mut out = vec![0.0f32; batch * n_out];
    forward_into((x, w, None), (batch, n_in, n_out), act, &mut out);
    out
}

/// `matmul` with EPILOGUE 1 (backward) into `out`: delta_{l-1} = (delta_l W_l) *
/// f'(X_{l-1}), delta_l `[batch, n_out]`, W_l `[n_out, n_in]`, X_{l-1} `[batch, n_in]`.
pub fn backward_into(
    (delta, w, x_prev): (&[f32], &[f32], &[f32]),
    (batch, n_in, n_out): Shape,
    (act, slope): (Activation, f32),
    out: &mut [f32],
) {
    sgemm(
        batch,
        n_in,
        n_out,
        (delta, n_out as isize, 1),
        (w, n_in as isize, 1),
        out,
    );
    let rows = row_chunk(n_in) * n_in;
    out.par_chunks_mut(rows)
        .zip(x_prev.par_chunks(rows))
        .for_each(|(g, y)| {
            for (g, &y) in g.iter_mut().zip(y) {
                *g *= activate_grad(act, slope, y);
            }
        });
}

/// [`backward_into`] a new vector.
pub fn matmul_backward(
    delta_w_x: (&[f32], &[f32], &[f32]),
    (batch, n_in, n_out): Shape,
    act: (Activation, f32),
) -> Vec<f32> {
    let mut out = vec![0.0f32; batch * n_in];
    backward_into(delta_w_x, (batch, n_in, n_out), act, &mut out);
    out
}

/// `matmul` with EPILOGUE 3 (weight gradient, stored) into `out`: dW = delta^T X
/// (`[n_out, n_in]`) over the batch.
pub fn weight_grad_into(
    (delta, x_prev): (&[f32], &[f32]),
    (batch, n_in, n_out): Shape,
    out: &mut [f32],
) {
    // A = delta^T: element (o, b) is delta[b, o], at b * n_out + o.
    sgemm(
        n_out,
        n_in,
        batch,
        (delta, 1, n_out as isize),
        (x_prev, n_in as isize, 1),
        out,
    );
}

/// `matmul` with EPILOGUE 2 (weight gradient): the moments of dW_l = delta_l^T X_{l-1}
/// (`[n_out, n_in]`), which is not kept.
pub fn matmul_weight_grad(delta_x: (&[f32], &[f32]), (batch, n_in, n_out): Shape) -> Partial {
    let mut dw = vec![0.0f32; n_out * n_in];
    weight_grad_into(delta_x, (batch, n_in, n_out), &mut dw);
    moments(&dw, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgemm_computes_both_layouts() {
        // A [2, 3], W [4, 3]: X W^T against a direct sum.
        let x: Vec<f32> = (0..6).map(|i| i as f32 - 2.5).collect();
        let w: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        let y = matmul_forward(&x, &w, (2, 3, 4), (Activation::Linear, 0.0));
        for r in 0..2 {
            for o in 0..4 {
                let want: f32 = (0..3).map(|k| x[r * 3 + k] * w[o * 3 + k]).sum();
                assert!((y[r * 4 + o] - want).abs() < 1e-5);
            }
        }
        // delta [2, 4] W [4, 3] against a direct sum (linear: derivative 1).
        let g = matmul_backward((&y, &w, &x), (2, 3, 4), (Activation::Linear, 0.0));
        for r in 0..2 {
            for i in 0..3 {
                let want: f32 = (0..4).map(|o| y[r * 4 + o] * w[o * 3 + i]).sum();
                assert!((g[r * 3 + i] - want).abs() < 1e-4);
            }
        }
        // dW = delta^T X: moments against a direct computation.
        let m = matmul_weight_grad((&y, &x), (2, 3, 4));
        let dw: Vec<f64> = (0..4)
            .flat_map(|o| (0..3).map(move |i| (o, i)))
            .map(|(o, i)| (0..2).map(|r| f64::from(y[r * 4 + o] * x[r * 3 + i])).sum())
            .collect();
        let mean = dw.iter().sum::<f64>() / 12.0;
        let m2: f64 = dw.iter().map(|v| (v - mean).powi(2)).sum();
        let lo = dw.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = dw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((m.n, m.saturated, m.nonfinite), (12, 0, 0));
        assert!((m.mean - mean).abs() < 1e-5, "mean {} vs {mean}", m.mean);
        assert!((m.m2 / m2 - 1.0).abs() < 1e-5, "m2 {} vs {m2}", m.m2);
        assert!(
            (m.lo - lo).abs() < 1e-5 && (m.hi - hi).abs() < 1e-5,
            "{m:?}"
        );
    }
}
