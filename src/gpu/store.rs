//! The bandwidth baselines generation is measured against (`shaders/store.wgsl`, and the
//! driver's own `clear_buffer`). The store kernel's CPU twin is a plain parallel fill.

use super::device::{GpuDevice, Timing};
use super::generate::Generation;
use super::pipeline::{dispatch, storage_entry, uniform_entry, Uniforms};
use super::shaders;
use crate::abi::StoreParams;
use crate::error::{Error, Result};

/// `store.wgsl`, compiled with the generation kernels' workgroup size and split.
pub struct StoreKernel {
    g: Generation,
    layout: wgpu::BindGroupLayout,
    store: wgpu::ComputePipeline,
}

impl StoreKernel {
    pub fn new(dev: &GpuDevice, g: Generation) -> Result<Self> {
        dev.compile("store", |dev| {
            let module = dev.module(shaders::STORE);
            let (layout, pipeline_layout) = dev.layouts(
                "store",
                &[
                    uniform_entry(0, std::mem::size_of::<StoreParams>(), true),
                    storage_entry(1, false),
                ],
            );
            let constants = [("WORKGROUP_SIZE", f64::from(g.workgroup_size))];
            StoreKernel {
                g,
                store: dev.pipeline(&pipeline_layout, &module, "store", &constants),
                layout,
            }
        })
    }

    /// The store baseline: `shaders/store.wgsl` writes `count` u32 (a multiple of 4) into
    /// `buffer` with the same 16-byte stores and dispatch shape as generation.
    pub fn time(&self, dev: &GpuDevice, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
        if !count.is_multiple_of(4) || count * 4 > buffer.size() {
            return Err(Error::invalid(format!(
                "store baseline needs a multiple of 4 elements that fit, got {count}"
            )));
        }
        let g = self.g;
        let chunk = g.chunk_elements;
        let passes = count.div_ceil(chunk) as usize;
        let mut uniforms = Uniforms::new(dev, passes as u64);
        dev.timed(|enc, q| {
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
                let offset = uniforms.push(&params)?;
                let bind = dev.bind_group(
                    "store",
                    &self.layout,
                    &[
                        uniforms.binding::<StoreParams>(),
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer,
                            offset: done * 4,
                            size: wgpu::BufferSize::new(n * 4),
                        }),
                    ],
                );
                let ts = GpuDevice::pass_timestamps(q, i, passes);
                dispatch(enc, &self.store, &bind, &[offset], (gx, gy), ts);
            }
            uniforms.upload(dev);
            Ok(())
        })
    }
}

/// `clear_buffer` of `count` u32: the driver's own fill. Wall-clock only (it is not a
/// pass, so it takes no pass timestamps).
pub fn time_clear(dev: &GpuDevice, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
    dev.timed_wall(|enc| {
        enc.clear_buffer(buffer, 0, Some(count * 4));
        Ok(())
    })
}
