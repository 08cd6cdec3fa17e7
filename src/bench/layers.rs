//! One deep-network layer's forward product, C[batch, width] = X[batch, width] W^T, on the
//! tiled WGSL kernel, its naive baseline, and the CPU reference.

use std::time::Instant;

use super::{repeat, repeats, MatmulRow};
use crate::abi::Activation;
use crate::cpu::matmul::matmul_forward;
use crate::error::Result;
use crate::generator::Devices;
use crate::gpu::{MatmulKernel, Product};

/// Times one layer on the devices opened.
pub(super) fn time_layer(
    devices: &Devices,
    batch: usize,
    width: usize,
    quick: bool,
) -> Result<MatmulRow> {
    let (min, _, budget) = repeats(quick);
    let reps = min.min(3);
    let mut row = MatmulRow {
        batch,
        width,
        flops: 2.0 * (batch * width * width) as f64,
        gpu_tiled: None,
        gpu_naive: None,
        cpu: None,
    };
    if let Some(ctx) = &devices.gpu {
        let problem = ctx.matmul_problem(Product::Forward, batch, width, width)?;
        for (kernel, slot) in [
            (MatmulKernel::Tiled, &mut row.gpu_tiled),
            (MatmulKernel::Naive, &mut row.gpu_naive),
        ] {
            *slot = Some(repeat(reps, reps + 2, budget, || {
                Ok(problem.time(kernel, 1)?.best_s())
            })?);
        }
    }
    if devices.cpu {
        let (x, w) = cpu_operands(batch, width, width);
        row.cpu = Some(repeat(reps, reps + 2, budget, || {
            let t = Instant::now();
            std::hint::black_box(matmul_forward(
                &x,
                &w,
                batch,
                width,
                width,
                Activation::Linear,
                0.0,
            ));
            Ok(t.elapsed().as_secs_f64())
        })?);
    }
    Ok(row)
}

/// Operands of `C[m, n] = A[m, k] B[n, k]^T` for timing the CPU reference: A `[m, k]` and B
/// `[n, k]` filled with a cheap deterministic pattern in [-0.5, 0.5) (values do not change
/// a gemm's speed, and generating them would dominate small shapes).
pub fn cpu_operands(m: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let pattern = |len: usize, step: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * step) % 1000) as f32 * 1e-3 - 0.5)
            .collect()
    };
    (pattern(m * k, 7919), pattern(n * k, 104_729))
}
