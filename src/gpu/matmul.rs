//! The matmul family: `shaders/matmul.wgsl` (the tiled kernel with its four epilogues, and
//! `pad_rows`), `shaders/matmul_naive.wgsl` (the benchmark baseline) and
//! `shaders/backward.wgsl` (`delta_top`) and `shaders/train.wgsl` (the loss gradient, bias
//! gradients and SGD of `gpuinit train`). They share one operand layout: parameters at a
//! dynamic offset, then A, B, bias, aux, C and partials. CPU twins: `src/cpu/matmul.rs`,
//! `src/cpu/backward.rs`, `src/cpu/train.rs`.
//!
//! Every matrix the tiled kernel reads is row-major with its row stride rounded up to a
//! multiple of 4 floats ([`padded`]) and zero padding, so all its loads are aligned vec4s.

use super::device::GpuDevice;
use super::pipeline::{dispatch, storage_entry, uniform_entry, Uniforms};
use super::shaders;
use crate::abi::{MatmulParams, SIDE};
use crate::error::{Error, Result};

/// A row stride: the width rounded up to a multiple of 4 floats.
pub fn padded(width: usize) -> u64 {
    (width as u64).div_ceil(4) * 4
}

/// Which kernel a product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernel {
    /// `matmul` in matmul.wgsl (forward epilogue).
    Tiled,
    /// `matmul_naive` in matmul_naive.wgsl.
    Naive,
}

/// The family's pipelines, built once per device.
pub struct MatmulKernels {
    operands: wgpu::BindGroupLayout,
    pub forward: wgpu::ComputePipeline,
    pub backward: wgpu::ComputePipeline,
    pub weight_grad: wgpu::ComputePipeline,
    /// The weight gradient stored, not reduced (EPILOGUE 3 on A^T B).
    pub weight_grad_store: wgpu::ComputePipeline,
    pub naive: wgpu::ComputePipeline,
    pub pad_rows: wgpu::ComputePipeline,
    pub delta_top: wgpu::ComputePipeline,
    pub softmax_xent: wgpu::ComputePipeline,
    pub bias_grad: wgpu::ComputePipeline,
    pub sgd: wgpu::ComputePipeline,
}

impl MatmulKernels {
    pub fn new(dev: &GpuDevice) -> Result<Self> {
        let limits = dev.limits();
        if limits.max_storage_buffers_per_shader_stage < 6
            || limits.max_compute_invocations_per_workgroup < 256
            || limits.max_compute_workgroup_storage_size < 10_240
        {
            return Err(Error::Gpu(format!(
                "this adapter is too small for the matmul kernels: {} storage buffers per stage (6 needed), {} invocations per workgroup (256), {} bytes of workgroup memory (10240)",
                limits.max_storage_buffers_per_shader_stage,
                limits.max_compute_invocations_per_workgroup,
                limits.max_compute_workgroup_storage_size
            )));
        }
        dev.compile("matmul", |ctx| {
            let (operands, layout) = ctx.layouts(
                "operands",
                &[
                    uniform_entry(0, std::mem::size_of::<MatmulParams>(), true),
                    storage_entry(1, true),
                    storage_entry(2, true),
                    storage_entry(3, true),
                    storage_entry(4, true),
                    storage_entry(5, false),
                    storage_entry(6, false),
                ],
            );
            let matmul = ctx.module(shaders::MATMUL);
            let mm = |trans_a: bool, trans_b: bool, epilogue: u32| {
                let constants = [
                    ("TRANS_A", f64::from(u8::from(trans_a))),
                    ("TRANS_B", f64::from(u8::from(trans_b))),
                    ("EPILOGUE", f64::from(epilogue)),
                ];
                ctx.pipeline(&layout, &matmul, "matmul", &constants)
            };
            let naive = ctx.module(shaders::MATMUL_NAIVE);
            let backward = ctx.module(shaders::BACKWARD);
            let train = ctx.module(shaders::TRAIN);
            MatmulKernels {
                forward: mm(false, true, 0),
                backward: mm(false, false, 1),
                weight_grad: mm(true, false, 2),
                weight_grad_store: mm(true, false, 3),
                naive: ctx.pipeline(&layout, &naive, "matmul_naive", &[]),
                pad_rows: ctx.pipeline(&layout, &matmul, "pad_rows", &[]),
                delta_top: ctx.pipeline(&layout, &backward, "delta_top", &[]),
                softmax_xent: ctx.pipeline(&layout, &train, "softmax_xent", &[]),
                bias_grad: ctx.pipeline(&layout, &train, "bias_grad", &[]),
                sgd: ctx.pipeline(&layout, &train, "sgd", &[]),
                operands,
            }
        })
    }
}

/// The buffers of one matmul-family dispatch: A, B, bias, aux, C, partials.
pub struct Operands<'b> {
    pub a: &'b wgpu::Buffer,
    pub b: &'b wgpu::Buffer,
    pub bias: &'b wgpu::Buffer,
    pub aux: &'b wgpu::Buffer,
    pub c: &'b wgpu::Buffer,
    pub partials: &'b wgpu::Buffer,
}

impl MatmulKernels {
    /// The bind group of a matmul-family dispatch; parameters come from `uniforms` at the
    /// dynamic offset given when dispatching.
    pub fn operand_group(
        &self,
        dev: &GpuDevice,
        uniforms: &Uniforms,
        o: &Operands,
    ) -> wgpu::BindGroup {
        dev.bind_group(
            "operands",
            &self.operands,
            &[
                uniforms.binding::<MatmulParams>(),
                o.a.as_entire_binding(),
                o.b.as_entire_binding(),
                o.bias.as_entire_binding(),
                o.aux.as_entire_binding(),
                o.c.as_entire_binding(),
                o.partials.as_entire_binding(),
            ],
        )
    }

    /// Encodes `pad_rows`: the contiguous `[rows, cols]` matrix in `src` laid out in `dst`
    /// with row stride [`padded`]`(cols)` and zero padding, for the tiled kernel's vec4
    /// loads. `spare` fills the read-only bindings `pad_rows` does not read, `partials` the
    /// writable one (another buffer: a buffer is never bound both ways at once); the
    /// parameters go into `uniforms`, which the caller uploads before submitting.
    pub fn encode_pad_rows(
        &self,
        dev: &GpuDevice,
        (encoder, uniforms): (&mut wgpu::CommandEncoder, &mut Uniforms),
        [src, dst, spare, partials]: [&wgpu::Buffer; 4],
        (rows, cols): (usize, usize),
    ) -> Result<()> {
        let p = MatmulParams {
            m: rows as u32,
            n: cols as u32,
            ldc: padded(cols) as u32,
            ..Default::default()
        };
        let off = uniforms.push(&p)?;
        let o = Operands {
            a: src,
            b: spare,
            bias: spare,
            aux: spare,
            c: dst,
            partials,
        };
        let group = self.operand_group(dev, uniforms, &o);
        let side = u64::from(SIDE);
        let grid = (
            padded(cols).div_ceil(4 * side) as u32,
            (rows as u64).div_ceil(side) as u32,
        );
        dispatch(encoder, &self.pad_rows, &group, &[off], grid, None);
        Ok(())
    }
}
