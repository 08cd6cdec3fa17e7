//! The bandwidth baselines generation is measured against (`shaders/store.wgsl`, and the
//! driver's own `clear_buffer`). The store kernel's CPU twin is a plain parallel fill.

use super::device::{GpuContext, Timing};
use super::pipeline::{dispatch, storage_entry, uniform_entry};
use super::shaders;
use crate::abi::StoreParams;
use crate::error::{Error, Result};

pub(crate) struct StorePipeline {
    layout: wgpu::BindGroupLayout,
    store: wgpu::ComputePipeline,
}

impl StorePipeline {
    fn new(ctx: &GpuContext) -> Result<Self> {
        ctx.compile("store", |ctx| {
            let module = ctx.module(shaders::STORE);
            let (layout, pipeline_layout) = ctx.layouts(
                "store",
                &[
                    uniform_entry(0, std::mem::size_of::<StoreParams>(), false),
                    storage_entry(1, false),
                ],
            );
            let constants = [("WORKGROUP_SIZE", f64::from(ctx.workgroup_size()))];
            StorePipeline {
                store: ctx.pipeline(&pipeline_layout, &module, "store", &constants),
                layout,
            }
        })
    }
}

impl GpuContext {
    /// The store baseline: `shaders/store.wgsl` writes `count` u32 (a multiple of 4) into
    /// `buffer` with the same 16-byte stores and dispatch shape as generation.
    pub fn time_store(&self, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
        if !count.is_multiple_of(4) || count * 4 > buffer.size() {
            return Err(Error::invalid(format!(
                "store baseline needs a multiple of 4 elements that fit, got {count}"
            )));
        }
        let p = self.family(&self.store, StorePipeline::new)?;
        let g = self.generation;
        let chunk = g.chunk_elements;
        let passes = count.div_ceil(chunk) as usize;
        self.timed(|enc, q| {
            for i in 0..passes {
                let done = i as u64 * chunk;
                let n = (count - done).min(chunk);
                let (gx, gy) = g.grid(n / 4);
                let params = StoreParams {
                    count4: (n / 4) as u32,
                    row_stride: gx * g.workgroup_size,
                    value: 0x3F80_0000,
                    pad: 0,
                };
                let uniform = self.buffer(
                    "store params",
                    std::mem::size_of::<StoreParams>() as u64,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                );
                self.queue()
                    .write_buffer(&uniform, 0, bytemuck::bytes_of(&params));
                let bind = self.bind_group(
                    "store",
                    &p.layout,
                    &[
                        uniform.as_entire_binding(),
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer,
                            offset: done * 4,
                            size: wgpu::BufferSize::new(n * 4),
                        }),
                    ],
                );
                let ts = GpuContext::pass_timestamps(q, i, passes);
                dispatch(enc, &p.store, &bind, &[], (gx, gy), ts);
            }
            Ok(())
        })
    }

    /// `clear_buffer` of `count` u32: the driver's own fill. Wall-clock only (it is not a
    /// pass, so it takes no pass timestamps).
    pub fn time_clear(&self, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
        self.timed_wall(|enc| {
            enc.clear_buffer(buffer, 0, Some(count * 4));
            Ok(())
        })
    }
}
