//! How the kernel families build their pipelines and record their work: shader modules
//! and pipelines compiled under a validation scope, bind group layouts, parameters packed
//! for dynamic offsets, and one dispatch per pass.

use bytemuck::Pod;

use super::device::{GpuDevice, UniformPool};
use super::shaders::Stage;
use crate::error::{Error, Result};

impl GpuDevice {
    /// Compiles a family's pipelines under a validation scope: a rejected shader or
    /// pipeline is an error here, not a panic later.
    pub fn compile<T>(&self, what: &str, build: impl FnOnce(&Self) -> T) -> Result<T> {
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

    pub fn module(&self, stage: Stage) -> wgpu::ShaderModule {
        self.device()
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(stage.name),
                source: wgpu::ShaderSource::Wgsl(stage.source.into()),
            })
    }

    /// The pipeline of one entry point with its override constants.
    pub fn pipeline(
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
    pub fn layouts(
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
/// the submission that reads them. The buffer comes from the device's pool and goes back
/// to it on drop: a queue write is ordered after every earlier submission's reads, so a
/// buffer may be refilled once the submission that read it is queued. Keep a `Uniforms`
/// alive until the work that reads it is submitted.
pub struct Uniforms {
    pub buffer: wgpu::Buffer,
    data: Vec<u8>,
    written: usize,
    pool: UniformPool,
}

/// Pooled buffers hold a power of two of parameter blocks, at least this many.
const POOL_MIN_BLOCKS: u64 = 16;

impl Uniforms {
    /// Room for `dispatches` parameter blocks.
    pub fn new(dev: &GpuDevice, dispatches: u64) -> Self {
        let bytes = dispatches.max(POOL_MIN_BLOCKS).next_power_of_two() * PARAM_STRIDE;
        let pool = dev.uniform_pool.clone();
        let reused = {
            let mut free = pool.lock().unwrap_or_else(|p| p.into_inner());
            let i = free.iter().position(|b| b.size() == bytes);
            i.map(|i| free.swap_remove(i))
        };
        let buffer = reused.unwrap_or_else(|| {
            dev.buffer(
                "params",
                bytes,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            )
        });
        Uniforms {
            buffer,
            data: Vec::new(),
            written: 0,
            pool,
        }
    }

    /// Whether another block fits.
    pub fn has_room(&self) -> bool {
        self.data.len() as u64 + PARAM_STRIDE <= self.buffer.size()
    }

    /// Appends one dispatch's parameters; returns their dynamic offset.
    pub fn push<T: Pod>(&mut self, p: &T) -> Result<u32> {
        let off = self.data.len();
        if !self.has_room() {
            return Err(Error::Gpu("internal: parameter buffer overflow".into()));
        }
        self.data.extend_from_slice(bytemuck::bytes_of(p));
        self.data.resize(off + PARAM_STRIDE as usize, 0);
        Ok(off as u32)
    }

    /// Writes what was pushed since the last upload.
    pub fn upload(&mut self, dev: &GpuDevice) {
        if self.data.len() > self.written {
            dev.queue().write_buffer(
                &self.buffer,
                self.written as u64,
                &self.data[self.written..],
            );
            self.written = self.data.len();
        }
    }

    /// The binding of one parameter block of type `T` (at the dispatch's dynamic offset).
    pub fn binding<T>(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: 0,
            size: wgpu::BufferSize::new(std::mem::size_of::<T>() as u64),
        })
    }
}

impl Drop for Uniforms {
    fn drop(&mut self) {
        let mut free = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        // A handful per size is all a run uses at once; more would only hold memory.
        if free.len() < 64 {
            free.push(self.buffer.clone());
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
