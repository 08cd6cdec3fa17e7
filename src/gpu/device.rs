//! The device: one [`GpuDevice`] owns the adapter, device and queue, the device's errors,
//! every wait (each bounded), readback, timing and the pool parameter buffers come from,
//! written once here. It knows no kernel: each family (`generate.rs`, `store.rs`,
//! `matmul.rs`, `layer_stats.rs`) is built from a device and owns its pipelines, and
//! [`GpuContext`](super::GpuContext) holds the device with its families.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::adapter::{self, AdapterSummary, BackendChoice};
use crate::error::{Error, Result};
use crate::named::named_enum;

/// Default bound on one GPU wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest bound accepted: a week, longer than any real work.
pub const MAX_TIMEOUT_S: f64 = 7.0 * 86_400.0;

/// A wait bound in seconds, checked: finite, positive, at most [`MAX_TIMEOUT_S`]. `what`
/// names where it came from (`--gpu-timeout`, `GPUINIT_GPU_TIMEOUT_S`).
pub fn parse_timeout(what: &str, text: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "{what} must be seconds in (0, {MAX_TIMEOUT_S}], got '{text}'"
        ))
    };
    let s: f64 = text.trim().parse().map_err(|_| bad())?;
    if !(s > 0.0 && s <= MAX_TIMEOUT_S) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(s).map_err(|_| bad())
}

/// `GPUINIT_GPU_TIMEOUT_S`, checked as [`parse_timeout`] checks a flag.
pub fn timeout_from_env() -> Result<Option<Duration>> {
    match std::env::var("GPUINIT_GPU_TIMEOUT_S") {
        Ok(text) => parse_timeout("GPUINIT_GPU_TIMEOUT_S", &text).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(_) => Err(Error::invalid("GPUINIT_GPU_TIMEOUT_S is not valid UTF-8")),
    }
}

/// How to pick and drive the adapter.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    pub backend: BackendChoice,
    /// Case-insensitive substring of the adapter name; `WGPU_ADAPTER_NAME` if `None`.
    pub adapter: Option<String>,
    /// Bound on each wait for the GPU; `GPUINIT_GPU_TIMEOUT_S` or [`DEFAULT_TIMEOUT`] if `None`.
    pub timeout: Option<Duration>,
    /// Caps the elements per dispatch below what the device allows (tests use tiny values
    /// to cover chunking cheaply). Rounded down to a multiple of 64, at least 64.
    pub max_chunk_elements: Option<u64>,
    /// Caps workgroups per dispatch dimension below the device limit, likewise.
    pub max_workgroups_per_dim: Option<u32>,
    /// Caps the elements read back to the host at once (default 2^24), likewise.
    pub max_readback_elements: Option<u64>,
    /// Philox rounds compiled into the kernels: 10, unless showing that tests catch fewer.
    pub philox_rounds: u32,
    /// Invocations per generation workgroup (default 256, a multiple of every warp and
    /// wavefront width and, measured, the fastest on lavapipe too).
    pub workgroup_size: Option<u32>,
    /// How the generation kernels multiply 32 by 32 bits.
    pub mulhilo: Mulhilo,
}

named_enum! {
    /// Philox's 32x32->64-bit multiply in the generation kernels: both give the same bits.
    #[derive(Default)]
    pub enum Mulhilo ("mulhilo") {
        /// One 64-bit product where the device has SHADER_INT64, else 16-bit halves.
        #[default]
        Auto = ["auto"],
        /// Four 16x16-bit products (every adapter).
        Bits16 = ["16"],
        /// One u64 product (needs SHADER_INT64).
        Int64 = ["64"],
    }
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            backend: BackendChoice::Auto,
            adapter: None,
            timeout: None,
            max_chunk_elements: None,
            max_workgroups_per_dim: None,
            max_readback_elements: None,
            philox_rounds: crate::abi::PHILOX_ROUNDS,
            workgroup_size: None,
            mulhilo: Mulhilo::Auto,
        }
    }
}

/// How long a timed submission took.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timing {
    /// From submission to the end of a bounded wait (includes submission overhead).
    pub wall_s: f64,
    /// Between timestamps written at the start of the first pass and the end of the last,
    /// where the adapter has timestamp queries.
    pub device_s: Option<f64>,
}

impl Timing {
    /// Device time where measured, wall-clock otherwise.
    pub fn best_s(&self) -> f64 {
        self.device_s.unwrap_or(self.wall_s)
    }
}

/// Parameter buffers not in use, shared by a device and every
/// [`Uniforms`](super::pipeline::Uniforms) made from it.
pub type UniformPool = Arc<Mutex<Vec<wgpu::Buffer>>>;

/// Adapter, device and queue, with their errors, waits and parameter-buffer pool.
pub struct GpuDevice {
    adapter: Option<wgpu::Adapter>,
    options: GpuOptions,
    device: wgpu::Device,
    queue: wgpu::Queue,
    timeout: Duration,
    timestamps: bool,
    /// The first error the device reported and nobody has collected yet.
    errors: Arc<Mutex<Option<String>>>,
    /// Parameter buffers no [`Uniforms`](super::pipeline::Uniforms) holds, for reuse.
    pub(super) uniform_pool: UniformPool,
}

impl GpuDevice {
    /// Opens the adapter the options choose ([`adapter::choose`]).
    pub fn new(opts: &GpuOptions) -> Result<Self> {
        let timeout = match opts.timeout {
            Some(t) => t,
            None => timeout_from_env()?.unwrap_or(DEFAULT_TIMEOUT),
        };
        let adapter = adapter::choose(opts.backend, opts.adapter.as_deref())?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gpuinit"),
            // Timestamps and 64-bit integers where offered: the same binary runs everywhere.
            required_features: adapter.features()
                & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_INT64),
            // Ask for what the adapter offers: large tensors want the largest bindings.
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("could not open {}: {e}", info.name)))?;
        // Pinned to this adapter, so a second context (another configuration) opens it again.
        let pinned = GpuOptions {
            backend: backend_choice(info.backend),
            adapter: Some(info.name.clone()),
            timeout: Some(timeout),
            ..opts.clone()
        };
        Ok(Self::build(Some(adapter), device, queue, pinned))
    }

    /// Wraps a device the caller already has, so a wgpu-based framework can generate
    /// weights straight into its own buffers.
    pub fn from_device(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Self> {
        let opts = GpuOptions {
            timeout: Some(timeout_from_env()?.unwrap_or(DEFAULT_TIMEOUT)),
            ..Default::default()
        };
        Ok(Self::build(None, device.clone(), queue.clone(), opts))
    }

    fn build(
        adapter: Option<wgpu::Adapter>,
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: GpuOptions,
    ) -> Self {
        let errors = Arc::new(Mutex::new(None));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let lost = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            let mut slot = lost.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| format!("device lost ({reason:?}): {msg}"));
        });
        let timestamps = device.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        GpuDevice {
            adapter,
            timeout: options.timeout.unwrap_or(DEFAULT_TIMEOUT),
            options,
            device,
            queue,
            timestamps,
            errors,
            uniform_pool: Arc::default(),
        }
    }

    /// The adapter, when this context opened it.
    pub fn adapter_summary(&self) -> Option<AdapterSummary> {
        self.adapter.as_ref().map(AdapterSummary::of)
    }

    /// "adapter (backend)", or "wgpu device" for a caller's device.
    pub fn label(&self) -> String {
        self.adapter_summary()
            .map_or_else(|| "wgpu device".into(), |a| a.label())
    }

    /// The options this context was opened with, pinned to its adapter.
    pub fn options(&self) -> &GpuOptions {
        &self.options
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Refuses a buffer of `bytes` above one storage binding, naming `what` it holds.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        let limits = self.limits();
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        if bytes / 4 > 1 << 31 {
            return Err(Error::invalid(format!(
                "{what} has more than 2^31 elements (u32 indices in the kernels); reduce --batch or --width"
            )));
        }
        if bytes > binding {
            let mib = |x: u64| x as f64 / (1u64 << 20) as f64;
            return Err(Error::invalid(format!(
                "{what} needs a {:.1} MiB buffer, above this adapter's largest storage binding ({:.0} MiB); reduce --batch or --width",
                mib(bytes),
                mib(binding)
            )));
        }
        Ok(())
    }

    /// Workgroups per dimension this device allows.
    pub fn max_workgroups(&self) -> u64 {
        u64::from(self.limits().max_compute_workgroups_per_dimension)
    }

    /// Whether [`Timing::device_s`] comes from timestamp queries on this device.
    pub fn has_timestamps(&self) -> bool {
        self.timestamps
    }

    fn take_error(&self) -> Result<()> {
        match self.errors.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    fn poll(&self, submission_index: Option<wgpu::SubmissionIndex>) -> Result<()> {
        match self.device.poll(wgpu::PollType::Wait {
            submission_index,
            timeout: Some(self.timeout),
        }) {
            Ok(_) => self.take_error(),
            Err(wgpu::PollError::Timeout) => Err(Error::Timeout(self.timeout)),
            // A failed submission surfaces here; the device's own error says why.
            Err(e) => self.take_error().and(Err(Error::Gpu(e.to_string()))),
        }
    }

    /// Waits for a submission, at most the context's timeout.
    pub fn wait(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        self.poll(Some(index))
    }

    /// Submits nothing new and waits for everything queued.
    pub fn finish(&self) -> Result<()> {
        let index = self.queue.submit([]);
        self.wait(index)
    }

    /// After submission `index`, maps the MAP_READ buffer `staging` and copies its first
    /// `out.len()` bytes into `out`; every wait bounded.
    pub fn read_mapped(
        &self,
        staging: &wgpu::Buffer,
        index: wgpu::SubmissionIndex,
        out: &mut [u8],
    ) -> Result<()> {
        let bytes = out.len() as u64;
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
            let _ = tx.send(r);
        });
        self.wait(index)?;
        // The map callback runs inside a poll after the copy completes; poll until it has.
        let result = loop {
            match rx.try_recv() {
                Ok(r) => break r,
                Err(mpsc::TryRecvError::Empty) => self.poll(None)?,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(Error::Gpu("buffer mapping was dropped".into()))
                }
            }
        };
        result.map_err(|e| Error::Gpu(format!("could not map the readback buffer: {e}")))?;
        {
            let view = staging
                .get_mapped_range(0..bytes)
                .map_err(|e| Error::Gpu(format!("mapped range: {e:?}")))?;
            out.copy_from_slice(&view);
        }
        staging.unmap();
        Ok(())
    }

    /// `bytes` of `src` from byte 0, read back to the host (one submission).
    pub fn read(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let staging = self.buffer(
            "readback",
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        let index = self.queue.submit([encoder.finish()]);
        let mut out = vec![0u8; bytes as usize];
        self.read_mapped(&staging, index, &mut out)?;
        Ok(out)
    }

    /// `floats` f32 of `src` from byte 0.
    pub fn read_f32(&self, src: &wgpu::Buffer, floats: u64) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.read(src, floats * 4)?))
    }

    /// Submits what `record` encodes, given a query set for pass timestamps (index 0 at the
    /// start of the first pass, 1 at the end of the last) where the device has them; waits
    /// and returns wall and device time.
    pub fn timed(
        &self,
        record: impl FnOnce(&mut wgpu::CommandEncoder, Option<&wgpu::QuerySet>) -> Result<()>,
    ) -> Result<Timing> {
        self.timed_with(self.timestamps, record)
    }

    /// As [`GpuDevice::timed`], wall-clock only (for work that is not a pass).
    pub fn timed_wall(
        &self,
        record: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<()>,
    ) -> Result<Timing> {
        self.timed_with(false, |enc, _| record(enc))
    }

    fn timed_with(
        &self,
        timestamps: bool,
        record: impl FnOnce(&mut wgpu::CommandEncoder, Option<&wgpu::QuerySet>) -> Result<()>,
    ) -> Result<Timing> {
        let queries = timestamps.then(|| {
            self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            })
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        record(&mut encoder, queries.as_ref())?;
        let readback = queries.as_ref().map(|q| {
            let resolve = self.buffer(
                "timestamps",
                16,
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            );
            let staging = self.buffer(
                "timestamps readback",
                16,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            );
            encoder.resolve_query_set(q, 0..2, &resolve, 0);
            encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, 16);
            staging
        });
        let start = Instant::now();
        let index = self.queue.submit([encoder.finish()]);
        self.wait(index.clone())?;
        let wall_s = start.elapsed().as_secs_f64();
        let device_s = match readback {
            Some(staging) => {
                let mut ticks = [0u64; 2];
                self.read_mapped(&staging, index, bytemuck::cast_slice_mut(&mut ticks))?;
                let period_ns = f64::from(self.queue.get_timestamp_period());
                Some(ticks[1].saturating_sub(ticks[0]) as f64 * period_ns * 1e-9)
            }
            None => None,
        };
        Ok(Timing { wall_s, device_s })
    }

    /// Pass timestamps for pass `i` of `n` under [`GpuDevice::timed`]'s query set.
    pub fn pass_timestamps(
        queries: Option<&wgpu::QuerySet>,
        i: usize,
        n: usize,
    ) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        // A pass between the first and the last writes none (wgpu refuses an empty pair).
        let (begin, end) = ((i == 0).then_some(0), (i + 1 == n).then_some(1));
        queries
            .filter(|_| begin.is_some() || end.is_some())
            .map(|q| wgpu::ComputePassTimestampWrites {
                query_set: q,
                beginning_of_pass_write_index: begin,
                end_of_pass_write_index: end,
            })
    }

    /// A buffer of at least `bytes` (rounded up to 16, at least 16).
    pub fn buffer(&self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16).div_ceil(16) * 16,
            usage,
            mapped_at_creation: false,
        })
    }

    /// A bind group whose entries are `resources` at bindings 0, 1, 2, ...
    pub fn bind_group(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        resources: &[wgpu::BindingResource],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.clone(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout,
            entries: &entries,
        })
    }
}

fn backend_choice(b: wgpu::Backend) -> BackendChoice {
    match b {
        wgpu::Backend::Vulkan => BackendChoice::Vulkan,
        wgpu::Backend::Metal => BackendChoice::Metal,
        wgpu::Backend::Dx12 => BackendChoice::Dx12,
        wgpu::Backend::Gl => BackendChoice::Gl,
        _ => BackendChoice::Auto,
    }
}
