//! One matmul-family product with its operands on the device, generated from the stream and
//! laid out as the tiled kernel reads them, ready to run repeatedly: for the benchmarks, and
//! for the kernel tests that compare every element with an f64 product.

use super::batch::{Batch, Matrix};
use super::context::GpuContext;
use super::device::{GpuDevice, Timing};
use super::matmul::{padded, MatmulKernel, Operands};
use super::pipeline::Uniforms;
use crate::abi::{Activation, MatmulParams, MATMUL_TILE, SIDE};
use crate::error::{Error, Result};
use crate::rng::{Distribution, Sampler, Span};

/// Which product of a layer, as the network's passes use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    /// `C[m, n] = A[m, k] B[n, k]^T`: the forward pass (EPILOGUE 0, linear, bias 0).
    Forward,
    /// `C[m, n] = (A[m, k] B[k, n]) * tanh'(aux[m, n])`, tanh'(y) = 1 - y^2: the input
    /// gradient (EPILOGUE 1).
    Backward,
    /// `C[m, n] = A[k, m]^T B[k, n]`, stored: the weight gradient, materialized.
    WeightGrad,
}

/// Seed of every operand.
pub const OPERAND_SEED: u64 = 7;

impl Product {
    pub const ALL: [Product; 3] = [Product::Forward, Product::Backward, Product::WeightGrad];

    pub fn name(self) -> &'static str {
        match self {
            Product::Forward => "forward",
            Product::Backward => "backward",
            Product::WeightGrad => "weight gradient",
        }
    }

    /// (rows, cols) of A, B and aux as stored, for `C[m, n]` over `k`.
    pub fn shapes(self, m: usize, n: usize, k: usize) -> [(usize, usize); 3] {
        match self {
            Product::Forward => [(m, k), (n, k), (m, n)],
            Product::Backward => [(m, k), (k, n), (m, n)],
            Product::WeightGrad => [(k, m), (k, n), (m, n)],
        }
    }

    /// What A, B and aux are, and their streams under [`OPERAND_SEED`]: A standard normal
    /// (stream 1), B uniform on (-1/sqrt(k), 1/sqrt(k)) (stream 2), aux, the stored
    /// activations, uniform on (-0.9, 0.9) (stream 3).
    pub fn operands(k: usize) -> [(Sampler, u64); 3] {
        let bound = 1.0 / (k as f64).sqrt();
        [
            (Distribution::normal(0.0, 1.0).sampler(), 1),
            (Distribution::uniform(-bound, bound).sampler(), 2),
            (Distribution::uniform(-0.9, 0.9).sampler(), 3),
        ]
    }
}

/// A product's operands on the device, ready to run repeatedly.
pub struct MatmulProblem<'c> {
    ctx: &'c GpuContext,
    pub product: Product,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    c: Matrix,
    group: wgpu::BindGroup,
    offset: u32,
    /// Holds the parameters the bind group reads.
    _uniforms: Uniforms,
}

impl GpuContext {
    /// The operands of `product` with `C[m, n]` over `k` ([`Product::operands`]).
    pub fn matmul_problem(
        &self,
        product: Product,
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<MatmulProblem<'_>> {
        MatmulProblem::new(self, product, (m, n, k))
    }
}

impl<'c> MatmulProblem<'c> {
    fn new(
        ctx: &'c GpuContext,
        product: Product,
        (m, n, k): (usize, usize, usize),
    ) -> Result<Self> {
        for (what, v) in [("m", m), ("n", n), ("k", k)] {
            if v == 0 {
                return Err(Error::invalid(format!("matmul {what} must be positive")));
            }
        }
        let shapes = product.shapes(m, n, k);
        for (what, (rows, cols)) in ["A", "B", "aux"].into_iter().zip(shapes) {
            ctx.check_binding(
                &format!("matmul operand {what}"),
                rows as u64 * padded(cols) * 4,
            )?;
            ctx.check_binding("a contiguous operand", rows as u64 * cols as u64 * 4)?;
        }
        let tile = u64::from(MATMUL_TILE);
        if (n as u64).div_ceil(tile).max((m as u64).div_ceil(tile)) > ctx.max_workgroups() {
            return Err(Error::invalid(format!(
                "matmul {m}x{n}x{k} needs more workgroups than this adapter allows"
            )));
        }
        // Operands generated at the padded stride the tiled kernel reads, then waited for,
        // so timings start from ready operands.
        let mut batch = Batch::new(ctx, n, 0)?;
        let mut stored = Vec::new();
        for ((sampler, stream), (rows, cols)) in Product::operands(k).iter().zip(shapes) {
            let dst = batch.matrix("operand", rows, cols)?;
            let span = Span::whole(OPERAND_SEED, *stream, (rows * cols) as u64);
            batch.generate(sampler, span, &dst)?;
            stored.push(dst);
        }
        batch.finish()?;
        let c = batch.matrix("C", m, n)?;
        let bias = batch.matrix("bias", 1, n)?;
        let partials = batch.matrix("partials", 1, 8)?;
        let act = match product {
            Product::Backward => Activation::Tanh,
            _ => Activation::Linear,
        };
        let p = MatmulParams {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            lda: stored[0].ld as u32,
            ldb: stored[1].ld as u32,
            ldc: c.ld as u32,
            act: act.code(),
            slope: 0.0,
            ..Default::default()
        };
        let mut uniforms = Uniforms::new(ctx, 1);
        let offset = uniforms.push(&p)?;
        uniforms.upload(ctx);
        let o = Operands {
            a: &stored[0].buffer,
            b: &stored[1].buffer,
            bias: &bias.buffer,
            aux: &stored[2].buffer,
            c: &c.buffer,
            partials: &partials.buffer,
        };
        let group = ctx.matmul_kernels()?.operand_group(ctx, &uniforms, &o);
        Ok(MatmulProblem {
            ctx,
            product,
            m,
            n,
            k,
            c,
            group,
            offset,
            _uniforms: uniforms,
        })
    }

    /// Flops of one product.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    /// Runs `kernel` `iters` times in one pass of one submission and waits (bounded):
    /// device time between the pass's timestamps where the adapter has them. The naive
    /// kernel exists for the forward product only.
    pub fn time(&self, kernel: MatmulKernel, iters: u64) -> Result<Timing> {
        let p = self.ctx.matmul_kernels()?;
        let (pipeline, side) = match (kernel, self.product) {
            (MatmulKernel::Naive, Product::Forward) => (&p.naive, SIDE),
            (MatmulKernel::Naive, other) => {
                return Err(Error::invalid(format!(
                    "the naive kernel computes the forward product only, not the {}",
                    other.name()
                )))
            }
            (MatmulKernel::Tiled, Product::Forward) => (&p.forward, MATMUL_TILE),
            (MatmulKernel::Tiled, Product::Backward) => (&p.backward, MATMUL_TILE),
            (MatmulKernel::Tiled, Product::WeightGrad) => (&p.weight_grad_store, MATMUL_TILE),
        };
        let side = u64::from(side);
        let (gx, gy) = (
            (self.n as u64).div_ceil(side),
            (self.m as u64).div_ceil(side),
        );
        self.ctx.timed(|encoder, q| {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(self.product.name()),
                timestamp_writes: GpuDevice::pass_timestamps(q, 0, 1),
            });
            pass.set_bind_group(0, &self.group, &[self.offset]);
            pass.set_pipeline(pipeline);
            for _ in 0..iters {
                pass.dispatch_workgroups(gx as u32, gy as u32, 1);
            }
            Ok(())
        })
    }

    /// The product, `[m, n]` row-major (unpadded).
    pub fn output(&self) -> Result<Vec<f32>> {
        let all = self
            .ctx
            .read_f32(&self.c.buffer, (self.m * self.c.ld) as u64)?;
        Ok(all
            .chunks(self.c.ld)
            .flat_map(|row| row[..self.n].iter().copied())
            .collect())
    }
}
