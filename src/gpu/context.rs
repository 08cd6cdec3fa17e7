//! [`GpuContext`]: a [`GpuDevice`] with its kernel families. The generation kernels are
//! built when it opens (a shader the driver rejects fails there, not mid-run); the others
//! on first use. It is what the rest of the crate, and a caller with a wgpu device, holds.

use std::ops::Deref;
use std::sync::OnceLock;

use super::device::{GpuDevice, GpuOptions, Timing};
use super::generate::{GenerateKernels, Generation, Job, Kernel};
use super::layer_stats::StatsKernels;
use super::matmul::MatmulKernels;
use super::store::{self, StoreKernel};
use crate::error::Result;
use crate::rng::{Sampler, Span, Start};

/// A device and every kernel family, built once and reused.
pub struct GpuContext {
    dev: GpuDevice,
    generate: GenerateKernels,
    store: OnceLock<StoreKernel>,
    matmul: OnceLock<MatmulKernels>,
    stats: OnceLock<StatsKernels>,
}

/// The device's own methods (waits, readback, timing, buffers) are the context's.
impl Deref for GpuContext {
    type Target = GpuDevice;
    fn deref(&self) -> &GpuDevice {
        &self.dev
    }
}

/// A storage buffer on the device, for callers that time or fill whole buffers without
/// naming wgpu's types.
pub struct Storage(wgpu::Buffer);

impl Storage {
    /// The wgpu buffer, for [`GpuContext`]'s methods that take one.
    pub fn raw(&self) -> &wgpu::Buffer {
        &self.0
    }
}

/// A lazily built kernel family: built on first use, then shared.
fn family<'a, T>(
    dev: &GpuDevice,
    cell: &'a OnceLock<T>,
    make: impl FnOnce(&GpuDevice) -> Result<T>,
) -> Result<&'a T> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = make(dev)?;
    Ok(cell.get_or_init(|| v))
}

impl GpuContext {
    /// Opens the adapter the options choose ([`super::adapter::choose`]).
    pub fn new(opts: &GpuOptions) -> Result<Self> {
        Self::with(GpuDevice::new(opts)?)
    }

    /// Wraps a device the caller already has, so a wgpu-based framework can generate
    /// weights straight into its own buffers.
    pub fn from_device(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Self> {
        Self::with(GpuDevice::from_device(device, queue)?)
    }

    fn with(dev: GpuDevice) -> Result<Self> {
        let g = Generation::new(&dev, dev.options())?;
        let generate = GenerateKernels::new(&dev, g)?;
        Ok(GpuContext {
            dev,
            generate,
            store: OnceLock::new(),
            matmul: OnceLock::new(),
            stats: OnceLock::new(),
        })
    }

    /// The device alone.
    pub fn gpu(&self) -> &GpuDevice {
        &self.dev
    }

    /// How generation splits work on this device.
    pub fn generation(&self) -> Generation {
        self.generate.generation()
    }

    /// The generation kernels.
    pub fn generate_kernels(&self) -> &GenerateKernels {
        &self.generate
    }

    /// The matmul family, built on first use.
    pub fn matmul_kernels(&self) -> Result<&MatmulKernels> {
        family(&self.dev, &self.matmul, MatmulKernels::new)
    }

    /// The statistics kernels, built on first use.
    pub fn stats_kernels(&self) -> Result<&StatsKernels> {
        family(&self.dev, &self.stats, StatsKernels::new)
    }

    /// Invocations per workgroup the generation kernels were compiled with.
    pub fn workgroup_size(&self) -> u32 {
        self.generation().workgroup_size
    }

    /// Whether the generation kernels build Philox's mulhilo from one u64 product (else
    /// from 16-bit halves; both give the same bits).
    pub fn mulhilo_int64(&self) -> bool {
        self.generation().int64
    }

    /// Largest number of elements one dispatch writes.
    pub fn chunk_elements(&self) -> u64 {
        self.generation().chunk_elements
    }

    /// Largest number of elements one readback brings to the host.
    pub fn readback_elements(&self) -> u64 {
        self.generation().readback_elements
    }

    /// A storage buffer of `bytes` that generation can write, a clear can fill and
    /// readback can read.
    pub fn storage(&self, label: &str, bytes: u64) -> Storage {
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        Storage(self.dev.buffer(label, bytes, usage))
    }

    /// Enqueues generation of `span` into `buffer` starting at `byte_offset` (a multiple
    /// of the device's `min_storage_buffer_offset_alignment`), in dispatches of at most
    /// [`chunk_elements`](Self::chunk_elements). Returns once submitted; later work on
    /// the same queue sees the weights. The buffer needs `STORAGE` usage.
    pub fn generate_into(
        &self,
        sampler: &Sampler,
        span: Span,
        buffer: &wgpu::Buffer,
        byte_offset: u64,
    ) -> Result<wgpu::SubmissionIndex> {
        let job = Job {
            kernel: Kernel::Generate,
            sampler,
            span,
        };
        self.generate.submit(&self.dev, &job, (buffer, byte_offset))
    }

    /// Runs `kernel` over elements `at.first .. at.first + out.len()` and reads the result
    /// back into `out` (at most [`readback_elements`](Self::readback_elements) at once).
    pub fn fill(
        &self,
        kernel: Kernel,
        sampler: &Sampler,
        at: Start,
        out: &mut [u32],
    ) -> Result<()> {
        self.generate.fill(&self.dev, (kernel, sampler), at, out)
    }

    /// Philox4x32 of arbitrary (counter, key) pairs on the device, for known-answer tests.
    pub fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> Result<Vec<[u32; 4]>> {
        self.generate.philox(&self.dev, inputs)
    }

    /// Generates `span` into `buffer` (from byte 0) and times it.
    pub fn time_generate(
        &self,
        kernel: Kernel,
        sampler: &Sampler,
        span: Span,
        buffer: &wgpu::Buffer,
    ) -> Result<Timing> {
        let job = Job {
            kernel,
            sampler,
            span,
        };
        let mut uniforms = super::pipeline::Uniforms::new(&self.dev, self.generate.passes(&job));
        self.dev.timed(|enc, q| {
            let at = (buffer, 0);
            self.generate
                .encode_chunks(&self.dev, (enc, &mut uniforms), &job, at, q)?;
            uniforms.upload(&self.dev);
            Ok(())
        })
    }

    /// The store baseline ([`StoreKernel::time`]).
    pub fn time_store(&self, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
        let g = self.generation();
        family(&self.dev, &self.store, |dev| StoreKernel::new(dev, g))?
            .time(&self.dev, count, buffer)
    }

    /// The driver's own fill ([`store::time_clear`]).
    pub fn time_clear(&self, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
        store::time_clear(&self.dev, count, buffer)
    }
}
