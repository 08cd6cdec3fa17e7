//! One deep-network layer's forward product, C[batch, width] = X[batch, width] W^T, on the
//! tiled WGSL kernel, its naive baseline, and the CPU reference.

use std::time::Instant;

use super::{repeat, repeats, MatmulRow};
use crate::abi::Activation;
use crate::cpu::matmul::matmul_forward;
use crate::error::Result;
use crate::generator::Devices;
use crate::gpu::MatmulKernel;

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
        let problem = ctx.matmul_problem(batch, width, width)?;
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
        let x: Vec<f32> = (0..batch * width)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let w: Vec<f32> = (0..width * width)
            .map(|i| ((i * 104_729) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
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
