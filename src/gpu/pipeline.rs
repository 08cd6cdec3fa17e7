//! How the kernel families build their pipelines and record their work: shader modules
//! and pipelines compiled under a validation scope, bind group layouts, parameters packed
//! for dynamic offsets, and one dispatch per pass.

use bytemuck::Pod;

use super::device::GpuContext;
use super::shaders::Stage;
use crate::error::{Error, Result};

impl GpuContext {
    /// Compiles a family's pipelines under a validation scope: a rejected shader or
    /// pipeline is an error here, not a panic later.
    pub(super) fn compile<T>(&self, what: &str, build: impl FnOnce(&Self) -> T) -> Result<T> {
        let scope = self
            .device()
            .push_error_scope(wgpu::ErrorFilter::Validation);
        let built = build(self);
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(Error::Gpu(format!(
                "{what} shader or pipeline rejected: {e}"
            ))),
            None => Ok(built),
        }
    }

    pub(super) fn module(&self, stage: Stage) -> wgpu::ShaderModule {
        self.device()
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(stage.name),
                source: wgpu::ShaderSource::Wgsl(stage.source.into()),
            })
    }

    /// The pipeline of one entry point with its override constants.
    pub(super) fn pipeline(
        &self,
        layout: &wgpu::PipelineLayout,
        module: &wgpu::ShaderModule,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        self.device()
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(layout),
                module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
    }

    /// A bind group layout of `entries` and the pipeline layout of that one group.
    pub(super) fn layouts(
        &self,
        label: &str,
        entries: &[wgpu::BindGroupLayoutEntry],
    ) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
        let group = self
            .device()
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(label),
                entries,
            });
        let pipeline = self
            .device()
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(&group)],
                immediate_size: 0,
            });
        (group, pipeline)
    }
}

/// Offset between the parameters of successive dispatches (the largest
/// `min_uniform_buffer_offset_alignment` WebGPU allows).
pub const PARAM_STRIDE: u64 = 256;

/// Dispatch parameters packed at [`PARAM_STRIDE`] for dynamic offsets, uploaded before
/// the submission that reads them.
pub struct Uniforms {
    pub buffer: wgpu::Buffer,
    data: Vec<u8>,
    written: usize,
}

impl Uniforms {
    /// Room for `dispatches` parameter blocks.
    pub fn new(ctx: &GpuContext, dispatches: u64) -> Self {
        Uniforms {
            buffer: ctx.buffer(
                "params",
                dispatches * PARAM_STRIDE,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            data: Vec::new(),
            written: 0,
        }
    }

    /// Appends one dispatch's parameters; returns their dynamic offset.
    pub fn push<T: Pod>(&mut self, p: &T) -> Result<u32> {
        let off = self.data.len();
        if off as u64 + PARAM_STRIDE > self.buffer.size() {
            return Err(Error::Gpu("internal: parameter buffer overflow".into()));
        }
        self.data.extend_from_slice(bytemuck::bytes_of(p));
        self.data.resize(off + PARAM_STRIDE as usize, 0);
        Ok(off as u32)
    }

    /// Writes what was pushed since the last upload.
    pub fn upload(&mut self, ctx: &GpuContext) {
        if self.data.len() > self.written {
            ctx.queue().write_buffer(
                &self.buffer,
                self.written as u64,
                &self.data[self.written..],
            );
            self.written = self.data.len();
        }
    }
}

/// Records one compute pass of one dispatch.
pub fn dispatch(
    encoder: &mut wgpu::CommandEncoder,
    pipeline: &wgpu::ComputePipeline,
    group: &wgpu::BindGroup,
    offsets: &[u32],
    (x, y): (u32, u32),
    timestamps: Option<wgpu::ComputePassTimestampWrites>,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: None,
        timestamp_writes: timestamps,
    });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, group, offsets);
    pass.dispatch_workgroups(x, y, 1);
}

/// A storage-buffer layout entry.
pub(super) fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A uniform-buffer layout entry for a struct of `size` bytes.
pub(super) fn uniform_entry(
    binding: u32,
    size: usize,
    dynamic_offset: bool,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: dynamic_offset,
            min_binding_size: wgpu::BufferSize::new(size as u64),
        },
        count: None,
    }
}
