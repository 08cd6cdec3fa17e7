//! One matmul-family product with its operands on the device, generated from the stream and
//! laid out as the tiled kernel reads them, ready to run repeatedly: for the benchmarks, and
//! for the kernel tests that compare every element with an f64 product.

use super::device::{GpuContext, Timing};
use super::matmul::{padded, MatmulKernel, Operands};
use super::pipeline::Uniforms;
use crate::abi::{Activation, MatmulParams, MATMUL_TILE, SIDE};
use crate::error::{Error, Result};
use crate::rng::{Distribution, Sampler};

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
    ldc: u64,
    c: wgpu::Buffer,
    group: wgpu::BindGroup,
    offset: u32,
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
        for (what, (rows, cols)) in ["A", "B", "aux"].into_iter().zip(product.shapes(m, n, k)) {
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
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let ldc = padded(n);
        let c = ctx.buffer("C", m as u64 * ldc * 4, usage);
        let bias = ctx.buffer("bias", ldc * 4, usage);
        let partials = ctx.buffer("partials", 32, usage);
        let mut uniforms = Uniforms::new(ctx, 4);
        let mut stored = Vec::new();
        for ((sampler, stream), (rows, cols)) in
            Product::operands(k).iter().zip(product.shapes(m, n, k))
        {
            let dst = ctx.buffer("operand", rows as u64 * padded(cols) * 4, usage);
            Self::load(
                ctx,
                &mut uniforms,
                (sampler, *stream),
                (rows, cols),
                [&dst, &bias, &partials],
            )?;
            stored.push(dst);
        }
        let lda = padded(product.shapes(m, n, k)[0].1);
        let ldb = padded(product.shapes(m, n, k)[1].1);
        let act = match product {
            Product::Backward => Activation::Tanh,
            _ => Activation::Linear,
        };
        let p = MatmulParams {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            lda: lda as u32,
            ldb: ldb as u32,
            ldc: ldc as u32,
            act: act.code(),
            slope: 0.0,
        };
        let offset = uniforms.push(&p)?;
        uniforms.upload(ctx);
        let o = Operands {
            a: &stored[0],
            b: &stored[1],
            bias: &bias,
            aux: &stored[2],
            c: &c,
            partials: &partials,
        };
        let group = ctx.operand_group(&uniforms, &o)?;
        // Everything above is queued; wait for it so timings start from ready operands.
        ctx.finish()?;
        Ok(MatmulProblem {
            ctx,
            product,
            m,
            n,
            k,
            ldc,
            c,
            group,
            offset,
        })
    }

    /// Generates `rows x cols` values into `dst` with row stride padded(cols): in place when
    /// cols is a multiple of 4, else contiguously and laid out by `pad_rows` (submitted at
    /// once, before the scratch is dropped). `spare` = [bias, partials].
    fn load(
        ctx: &GpuContext,
        uniforms: &mut Uniforms,
        (sampler, stream): (&Sampler, u64),
        (rows, cols): (usize, usize),
        [dst, bias, partials]: [&wgpu::Buffer; 3],
    ) -> Result<()> {
        let span = (OPERAND_SEED, stream, 0, (rows * cols) as u64);
        if cols.is_multiple_of(4) {
            ctx.generate_into(sampler, span, dst, 0)?;
            return Ok(());
        }
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let scratch = ctx.buffer("scratch", span.3 * 4, usage);
        ctx.generate_into(sampler, span, &scratch, 0)?;
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        ctx.encode_pad_rows(
            &mut enc,
            uniforms,
            [&scratch, dst, bias, partials],
            (rows, cols),
        )?;
        uniforms.upload(ctx);
        ctx.queue().submit([enc.finish()]);
        Ok(())
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
                timestamp_writes: GpuContext::pass_timestamps(q, 0, 1),
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
        let all = self.ctx.read_f32(&self.c, self.m as u64 * self.ldc)?;
        Ok(all
            .chunks(self.ldc as usize)
            .flat_map(|row| row[..self.n].iter().copied())
            .collect())
    }
}
