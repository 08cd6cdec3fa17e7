//! The GPU engine: one context that owns adapter, device, queue and the pipelines, built once.
//!
//! Kernels live in `shaders/` (Philox and the distribution maps composed in front of
//! `generate.wgsl`); their CPU twins are in [`crate::cpu`], [`crate::distribution`] and
//! [`crate::philox`].

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use serde::Serialize;

use crate::distribution::Sampler;
use crate::error::{Error, Result};

/// The generation shader: Philox, then the word-to-float maps, then the kernels.
pub const GENERATE_WGSL: &str = concat!(
    include_str!("../shaders/philox.wgsl"),
    "\n",
    include_str!("../shaders/distribution.wgsl"),
    "\n",
    include_str!("../shaders/generate.wgsl"),
);

/// The bandwidth baseline kernel.
pub const STORE_WGSL: &str = include_str!("../shaders/store.wgsl");

/// Invocations per workgroup on CPU adapters (lavapipe, llvmpipe, WARP): small groups keep
/// every core busy on small dispatches. GPUs get [`GPU_WORKGROUP_SIZE`].
const CPU_WORKGROUP_SIZE: u32 = 64;
/// Invocations per workgroup on GPUs: a multiple of every warp and wavefront width.
const GPU_WORKGROUP_SIZE: u32 = 256;
/// Elements each invocation writes (one Philox block).
const ELEMENTS_PER_INVOCATION: u64 = 4;
/// Chunks are multiples of this many elements, so each chunk's binding offset is
/// 256-byte aligned (the largest `min_storage_buffer_offset_alignment` allowed).
const CHUNK_ALIGN: u64 = 64;
/// Largest chunk read back to the host at once (64 MiB of f32).
const READBACK_CHUNK: u64 = 1 << 24;
/// Default bound on one GPU wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Which graphics API to open the adapter through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum BackendChoice {
    /// `WGPU_BACKEND` if set, else every backend.
    #[default]
    Auto,
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendChoice {
    pub fn backends(self) -> wgpu::Backends {
        match self {
            BackendChoice::Auto => wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
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
    /// Invocations per workgroup (default: 64 on CPU adapters, 256 on GPUs).
    pub workgroup_size: Option<u32>,
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
            philox_rounds: crate::philox::PHILOX_ROUNDS,
            workgroup_size: None,
        }
    }
}

/// What `gpuinit devices` reports of an adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub min_storage_buffer_offset_alignment: u32,
    pub timestamp_queries: bool,
    pub shader_f16: bool,
    pub subgroups: bool,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        AdapterSummary {
            name: info.name,
            backend: format!("{:?}", info.backend).to_lowercase(),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver,
            driver_info: info.driver_info,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            min_storage_buffer_offset_alignment: limits.min_storage_buffer_offset_alignment,
            timestamp_queries: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
        }
    }
}

fn instance(backend: BackendChoice) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backend.backends();
    wgpu::Instance::new(desc)
}

/// Every adapter the chosen backends expose.
pub fn list_adapters(backend: BackendChoice) -> Vec<AdapterSummary> {
    let inst = instance(backend);
    pollster::block_on(inst.enumerate_adapters(backend.backends()))
        .iter()
        .map(AdapterSummary::of)
        .collect()
}

/// The help printed when no adapter exists.
pub const NO_ADAPTER_HELP: &str =
    "no GPU adapter found; on Linux without a GPU install Mesa's software Vulkan \
driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers), or use --device cpu";

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Parameters of one dispatch. Mirrors `struct Params` in `generate.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    seed: [u32; 2],
    stream: [u32; 2],
    first: [u32; 2],
    count: u32,
    row_stride: u32,
    sampler: Sampler,
}

fn split(x: u64) -> [u32; 2] {
    [x as u32, (x >> 32) as u32]
}

/// Kernels of `generate.wgsl` that write a stream slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Distribution values (f32 bits).
    Generate,
    /// Raw Philox words.
    Words,
}

/// One stream slice for one kernel.
#[derive(Clone, Copy, Debug)]
struct Job<'a> {
    kernel: Kernel,
    sampler: &'a Sampler,
    seed: u64,
    stream: u64,
    first: u64,
    count: u64,
}

/// How long a timed run took.
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

struct Pipelines {
    layout: wgpu::BindGroupLayout,
    generate: wgpu::ComputePipeline,
    words: wgpu::ComputePipeline,
    generate4: wgpu::ComputePipeline,
    words4: wgpu::ComputePipeline,
    philox_kat: wgpu::ComputePipeline,
    store: wgpu::ComputePipeline,
}

impl Pipelines {
    fn new(device: &wgpu::Device, philox_rounds: u32, workgroup_size: u32) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("generate.wgsl"),
            source: wgpu::ShaderSource::Wgsl(GENERATE_WGSL.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("generate"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<Params>() as u64
                        ),
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("generate"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let constants = [
            ("PHILOX_ROUNDS", f64::from(philox_rounds)),
            ("WORKGROUP_SIZE", f64::from(workgroup_size)),
        ];
        let pipeline = |module: &wgpu::ShaderModule,
                        layout: Option<&wgpu::PipelineLayout>,
                        entry: &str,
                        constants: &[(&str, f64)]| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout,
                module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
        };
        let layout_ref = Some(&pipeline_layout);
        let store_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("store.wgsl"),
            source: wgpu::ShaderSource::Wgsl(STORE_WGSL.into()),
        });
        Pipelines {
            generate: pipeline(&module, layout_ref, "generate", &constants),
            words: pipeline(&module, layout_ref, "words", &constants),
            generate4: pipeline(&module, layout_ref, "generate4", &constants),
            words4: pipeline(&module, layout_ref, "words4", &constants),
            philox_kat: pipeline(&module, layout_ref, "philox_kat", &constants),
            store: pipeline(&store_module, None, "store", &constants[1..]),
            layout,
        }
    }
}

/// Adapter, device, queue and the pipelines, built once and reused.
pub struct GpuContext {
    adapter: Option<wgpu::Adapter>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: Pipelines,
    timeout: Duration,
    /// Largest element count of one dispatch (a multiple of [`CHUNK_ALIGN`]).
    chunk_elements: u64,
    max_workgroups_per_dim: u32,
    workgroup_size: u32,
    /// Whether passes can carry timestamp queries.
    timestamps: bool,
    /// Largest number of elements read back at once.
    readback_elements: u64,
    /// The first error the device reported and nobody has collected yet.
    errors: Arc<Mutex<Option<String>>>,
}

impl GpuContext {
    /// Opens the adapter the options choose: by backend, then by name substring, then the
    /// most capable kind (discrete, integrated, virtual, other, CPU).
    pub fn new(opts: &GpuOptions) -> Result<Self> {
        let inst = instance(opts.backend);
        let adapters = pollster::block_on(inst.enumerate_adapters(opts.backend.backends()));
        if adapters.is_empty() {
            return Err(Error::NoAdapter(match opts.backend {
                BackendChoice::Auto => NO_ADAPTER_HELP.to_string(),
                b => format!("no adapter for backend {b:?}; `gpuinit devices` lists what exists, --device cpu needs none"),
            }));
        }
        let wanted = opts
            .adapter
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok());
        let mut candidates: Vec<wgpu::Adapter> = match &wanted {
            Some(name) => {
                let needle = name.to_lowercase();
                adapters
                    .into_iter()
                    .filter(|a| a.get_info().name.to_lowercase().contains(&needle))
                    .collect()
            }
            None => adapters,
        };
        if candidates.is_empty() {
            let names: Vec<String> = list_adapters(opts.backend)
                .into_iter()
                .map(|a| a.name)
                .collect();
            return Err(Error::NoAdapter(format!(
                "no adapter named like '{}'; adapters: {}",
                wanted.unwrap_or_default(),
                names.join(", ")
            )));
        }
        candidates.sort_by_key(|a| rank(a.get_info().device_type));
        let adapter = candidates.swap_remove(0);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gpuinit"),
            // Timestamps only where offered: the same binary runs everywhere.
            required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
            // Ask for what the adapter offers: large tensors want the largest bindings.
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("could not open {}: {e}", adapter.get_info().name)))?;
        Self::build(Some(adapter), device, queue, opts)
    }

    /// Wraps a device the caller already has, so a wgpu-based framework can generate
    /// weights straight into its own buffers.
    pub fn from_device(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Self> {
        Self::build(None, device.clone(), queue.clone(), &GpuOptions::default())
    }

    fn build(
        adapter: Option<wgpu::Adapter>,
        device: wgpu::Device,
        queue: wgpu::Queue,
        opts: &GpuOptions,
    ) -> Result<Self> {
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
        let limits = device.limits();
        let on_cpu = adapter
            .as_ref()
            .is_some_and(|a| a.get_info().device_type == wgpu::DeviceType::Cpu);
        let largest_group = limits
            .max_compute_invocations_per_workgroup
            .min(limits.max_compute_workgroup_size_x);
        let workgroup_size = match opts.workgroup_size {
            Some(n) if n == 0 || n > largest_group => {
                return Err(Error::invalid(format!(
                    "workgroup size {n} is not in 1..={largest_group} for this device"
                )))
            }
            Some(n) => n,
            None if on_cpu => CPU_WORKGROUP_SIZE,
            None => GPU_WORKGROUP_SIZE.min(largest_group),
        };
        let max_wg = opts
            .max_workgroups_per_dim
            .unwrap_or(u32::MAX)
            .min(limits.max_compute_workgroups_per_dimension)
            .max(1);
        let by_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / 4;
        let by_dispatch = u64::from(max_wg)
            * u64::from(max_wg)
            * u64::from(workgroup_size)
            * ELEMENTS_PER_INVOCATION;
        // 2^28 keeps every in-dispatch index (4 * invocation + 3) inside u32.
        let chunk = by_binding
            .min(by_dispatch)
            .min(1 << 28)
            .min(opts.max_chunk_elements.unwrap_or(u64::MAX));
        let chunk_elements = (chunk / CHUNK_ALIGN * CHUNK_ALIGN).max(CHUNK_ALIGN);
        let readback_elements = READBACK_CHUNK
            .min(opts.max_readback_elements.unwrap_or(u64::MAX))
            .min(limits.max_buffer_size / 4)
            .max(1);
        let timeout = opts.timeout.unwrap_or_else(|| {
            std::env::var("GPUINIT_GPU_TIMEOUT_S")
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(DEFAULT_TIMEOUT)
        });
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipelines = Pipelines::new(&device, opts.philox_rounds, workgroup_size);
        let timestamps = device.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("shader or pipeline rejected: {e}")));
        }
        Ok(GpuContext {
            adapter,
            device,
            queue,
            pipelines,
            timeout,
            chunk_elements,
            max_workgroups_per_dim: max_wg,
            workgroup_size,
            timestamps,
            readback_elements,
            errors,
        })
    }

    /// The adapter, when this context opened it.
    pub fn adapter_summary(&self) -> Option<AdapterSummary> {
        self.adapter.as_ref().map(AdapterSummary::of)
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Largest number of elements one dispatch writes.
    pub fn chunk_elements(&self) -> u64 {
        self.chunk_elements
    }

    fn take_error(&self) -> Result<()> {
        match self.errors.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// Waits for a submission, at most the context's timeout.
    pub fn wait(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        match self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: Some(self.timeout),
        }) {
            Ok(_) => self.take_error(),
            Err(wgpu::PollError::Timeout) => Err(Error::Timeout(self.timeout)),
            Err(e) => Err(Error::Gpu(e.to_string())),
        }
    }

    /// The bind group of one dispatch: its parameters (a fresh small uniform buffer, so
    /// dispatches batched in one submission each keep their own) and its output range.
    fn bind_group(&self, params: &Params, out: wgpu::BufferBinding) -> wgpu::BindGroup {
        let params_buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue
            .write_buffer(&params_buf, 0, bytemuck::bytes_of(params));
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("generate"),
            layout: &self.pipelines.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: params_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Buffer(out),
                },
            ],
        })
    }

    /// Workgroups for `invocations`, as (x, y) within the per-dimension limit.
    fn grid(&self, invocations: u64) -> (u32, u32) {
        let groups = invocations.div_ceil(u64::from(self.workgroup_size)).max(1);
        let gx = groups.min(u64::from(self.max_workgroups_per_dim));
        (gx as u32, groups.div_ceil(gx) as u32)
    }

    /// Records one dispatch writing `job`'s elements into `out` at `byte_offset`, with
    /// 16-byte stores when the slice is whole blocks, and optional timestamps.
    fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        job: &Job,
        out: &wgpu::Buffer,
        byte_offset: u64,
        timestamps: Option<wgpu::ComputePassTimestampWrites>,
    ) {
        debug_assert!(job.count > 0 && job.count <= self.chunk_elements);
        let whole_blocks = job.first.is_multiple_of(4) && job.count.is_multiple_of(4);
        let skip = job.first % 4;
        let (gx, gy) = self.grid((skip + job.count).div_ceil(ELEMENTS_PER_INVOCATION));
        let params = Params {
            seed: split(job.seed),
            stream: split(job.stream),
            first: split(job.first),
            count: job.count as u32,
            row_stride: gx * self.workgroup_size,
            sampler: *job.sampler,
        };
        let bind = self.bind_group(
            &params,
            wgpu::BufferBinding {
                buffer: out,
                offset: byte_offset,
                size: wgpu::BufferSize::new(job.count * 4),
            },
        );
        let pipeline = match (job.kernel, whole_blocks) {
            (Kernel::Generate, false) => &self.pipelines.generate,
            (Kernel::Words, false) => &self.pipelines.words,
            (Kernel::Generate, true) => &self.pipelines.generate4,
            (Kernel::Words, true) => &self.pipelines.words4,
        };
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("generate"),
            timestamp_writes: timestamps,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }

    /// Records `job` into `buffer` at `byte_offset` as dispatches of at most
    /// `chunk_elements`; with a query set, timestamps before the first and after the last.
    fn encode_chunks(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        job: &Job,
        buffer: &wgpu::Buffer,
        byte_offset: u64,
        queries: Option<&wgpu::QuerySet>,
    ) -> Result<()> {
        check_range(job.first, job.count)?;
        let end = byte_offset.saturating_add(job.count.saturating_mul(4));
        if end > buffer.size() {
            return Err(Error::invalid(format!(
                "{} elements at byte offset {byte_offset} do not fit a buffer of {} bytes",
                job.count,
                buffer.size()
            )));
        }
        let mut done = 0;
        while done < job.count {
            let n = (job.count - done).min(self.chunk_elements);
            let ts = queries.map(|q| wgpu::ComputePassTimestampWrites {
                query_set: q,
                beginning_of_pass_write_index: (done == 0).then_some(0),
                end_of_pass_write_index: (done + n == job.count).then_some(1),
            });
            let chunk = Job {
                first: job.first + done,
                count: n,
                ..*job
            };
            self.encode(encoder, &chunk, buffer, byte_offset + done * 4, ts);
            done += n;
        }
        Ok(())
    }

    /// Enqueues generation of elements `first .. first + count` of (seed, stream) into
    /// `buffer` starting at `byte_offset` (a multiple of the device's
    /// `min_storage_buffer_offset_alignment`), in dispatches of at most
    /// [`chunk_elements`](Self::chunk_elements). Returns once submitted; later work on
    /// the same queue sees the weights. The buffer needs `STORAGE` usage.
    #[allow(clippy::too_many_arguments)]
    pub fn generate_into(
        &self,
        sampler: &Sampler,
        seed: u64,
        stream: u64,
        first: u64,
        count: u64,
        buffer: &wgpu::Buffer,
        byte_offset: u64,
    ) -> Result<wgpu::SubmissionIndex> {
        let job = Job {
            kernel: Kernel::Generate,
            sampler,
            seed,
            stream,
            first,
            count,
        };
        self.dispatch_into(&job, buffer, byte_offset)
    }

    fn dispatch_into(
        &self,
        job: &Job,
        buffer: &wgpu::Buffer,
        byte_offset: u64,
    ) -> Result<wgpu::SubmissionIndex> {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        self.encode_chunks(&mut encoder, job, buffer, byte_offset, None)?;
        Ok(self.queue.submit([encoder.finish()]))
    }

    /// Runs `kernel` over elements `first .. first + count` and hands the results to
    /// `sink` in order, one readback chunk at a time, so no more than one chunk is held.
    #[allow(clippy::too_many_arguments)]
    pub fn stream_out(
        &self,
        kernel: Kernel,
        sampler: &Sampler,
        seed: u64,
        stream: u64,
        first: u64,
        count: u64,
        mut sink: impl FnMut(&[u32]) -> Result<()>,
    ) -> Result<()> {
        check_range(first, count)?;
        if count == 0 {
            return Ok(());
        }
        let chunk = count.min(self.readback_elements);
        let storage = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("out"),
            size: chunk * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: chunk * 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut done = 0;
        while done < count {
            let n = (count - done).min(chunk);
            let job = Job {
                kernel,
                sampler,
                seed,
                stream,
                first: first + done,
                count: n,
            };
            let mut encoder = self.device.create_command_encoder(&Default::default());
            self.encode_chunks(&mut encoder, &job, &storage, 0, None)?;
            encoder.copy_buffer_to_buffer(&storage, 0, &staging, 0, n * 4);
            let index = self.queue.submit([encoder.finish()]);
            let words = self.read_mapped(&staging, n * 4, index)?;
            sink(&words)?;
            done += n;
        }
        Ok(())
    }

    fn read_mapped(
        &self,
        staging: &wgpu::Buffer,
        bytes: u64,
        index: wgpu::SubmissionIndex,
    ) -> Result<Vec<u32>> {
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
            let _ = tx.send(r);
        });
        self.wait(index)?;
        // The map callback runs inside a poll after the copy completes; poll until it has.
        let result = loop {
            match rx.try_recv() {
                Ok(r) => break r,
                Err(mpsc::TryRecvError::Empty) => self.wait_idle()?,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(Error::Gpu("buffer mapping was dropped".into()))
                }
            }
        };
        result.map_err(|e| Error::Gpu(format!("could not map the readback buffer: {e}")))?;
        let data = {
            let view = staging
                .get_mapped_range(0..bytes)
                .map_err(|e| Error::Gpu(format!("mapped range: {e:?}")))?;
            bytemuck::cast_slice::<u8, u32>(&view).to_vec()
        };
        staging.unmap();
        Ok(data)
    }

    fn wait_idle(&self) -> Result<()> {
        match self.device.poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(self.timeout),
        }) {
            Ok(_) => self.take_error(),
            Err(wgpu::PollError::Timeout) => Err(Error::Timeout(self.timeout)),
            Err(e) => Err(Error::Gpu(e.to_string())),
        }
    }

    /// Values of elements `first .. first + count` of (seed, stream) under `sampler`.
    pub fn generate(
        &self,
        sampler: &Sampler,
        seed: u64,
        stream: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(host_len(count)?);
        self.stream_out(Kernel::Generate, sampler, seed, stream, first, count, |w| {
            out.extend(w.iter().map(|&b| f32::from_bits(b)));
            Ok(())
        })?;
        Ok(out)
    }

    /// Raw Philox words of elements `first .. first + count` of (seed, stream).
    pub fn words(&self, seed: u64, stream: u64, first: u64, count: u64) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(host_len(count)?);
        self.stream_out(
            Kernel::Words,
            &Sampler::zeroed(),
            seed,
            stream,
            first,
            count,
            |w| {
                out.extend_from_slice(w);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Philox4x32 of arbitrary (counter, key) pairs on the device, for known-answer tests.
    pub fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> Result<Vec<[u32; 4]>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<u32> = inputs
            .iter()
            .flat_map(|(c, k)| [c[0], c[1], c[2], c[3], k[0], k[1], 0, 0])
            .collect();
        let bytes = (records.len() * 4) as u64;
        let data = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kat"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue
            .write_buffer(&data, 0, bytemuck::cast_slice(&records));
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kat readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let params = Params {
            count: inputs.len() as u32,
            ..Params::zeroed()
        };
        let bind = self.bind_group(
            &params,
            wgpu::BufferBinding {
                buffer: &data,
                offset: 0,
                size: None,
            },
        );
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipelines.philox_kat);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups((inputs.len() as u32).div_ceil(self.workgroup_size), 1, 1);
        }
        encoder.copy_buffer_to_buffer(&data, 0, &staging, 0, bytes);
        let index = self.queue.submit([encoder.finish()]);
        let out = self.read_mapped(&staging, bytes, index)?;
        Ok(out
            .chunks_exact(8)
            .map(|r| [r[0], r[1], r[2], r[3]])
            .collect())
    }
}

impl GpuContext {
    /// Whether [`Timing::device_s`] comes from timestamp queries on this device.
    pub fn has_timestamps(&self) -> bool {
        self.timestamps
    }

    /// Invocations per workgroup the kernels were compiled with.
    pub fn workgroup_size(&self) -> u32 {
        self.workgroup_size
    }

    /// Submits what `record` encodes (given a query set when timestamps exist), waits, and
    /// returns wall and device time.
    fn timed(
        &self,
        record: impl FnOnce(&mut wgpu::CommandEncoder, Option<&wgpu::QuerySet>) -> Result<()>,
    ) -> Result<Timing> {
        let queries = self.timestamps.then(|| {
            self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            })
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        record(&mut encoder, queries.as_ref())?;
        let readback = queries.as_ref().map(|q| {
            let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps readback"),
                size: 16,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            encoder.resolve_query_set(q, 0..2, &resolve, 0);
            encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, 16);
            staging
        });
        let start = std::time::Instant::now();
        let index = self.queue.submit([encoder.finish()]);
        self.wait(index.clone())?;
        let wall_s = start.elapsed().as_secs_f64();
        let device_s = match readback {
            Some(staging) => {
                let ticks = self.read_mapped(&staging, 16, index)?;
                let t0 = u64::from(ticks[0]) | u64::from(ticks[1]) << 32;
                let t1 = u64::from(ticks[2]) | u64::from(ticks[3]) << 32;
                let period_ns = f64::from(self.queue.get_timestamp_period());
                Some(t1.saturating_sub(t0) as f64 * period_ns * 1e-9)
            }
            None => None,
        };
        Ok(Timing { wall_s, device_s })
    }

    /// Generates `count` elements into `buffer` (from byte 0) and times it.
    #[allow(clippy::too_many_arguments)]
    pub fn time_generate(
        &self,
        kernel: Kernel,
        sampler: &Sampler,
        seed: u64,
        stream: u64,
        first: u64,
        count: u64,
        buffer: &wgpu::Buffer,
    ) -> Result<Timing> {
        let job = Job {
            kernel,
            sampler,
            seed,
            stream,
            first,
            count,
        };
        self.timed(|enc, q| self.encode_chunks(enc, &job, buffer, 0, q))
    }

    /// The bandwidth baseline: `shaders/store.wgsl` writes `count` u32 (a multiple of 4)
    /// into `buffer` with the same 16-byte stores and dispatch shape as generation.
    pub fn time_store(&self, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
        if !count.is_multiple_of(4) || count * 4 > buffer.size() {
            return Err(Error::invalid(format!(
                "store baseline needs a multiple of 4 elements that fit, got {count}"
            )));
        }
        let layout = self.pipelines.store.get_bind_group_layout(0);
        self.timed(|enc, q| {
            let mut done = 0;
            while done < count {
                let n = (count - done).min(self.chunk_elements);
                let (gx, gy) = self.grid(n / 4);
                let params: [u32; 4] = [(n / 4) as u32, gx * self.workgroup_size, 0x3F80_0000, 0];
                let params_buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("store params"),
                    size: 16,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.queue
                    .write_buffer(&params_buf, 0, bytemuck::cast_slice(&params));
                let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("store"),
                    layout: &layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: params_buf.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer,
                                offset: done * 4,
                                size: wgpu::BufferSize::new(n * 4),
                            }),
                        },
                    ],
                });
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("store"),
                    timestamp_writes: q.map(|q| wgpu::ComputePassTimestampWrites {
                        query_set: q,
                        beginning_of_pass_write_index: (done == 0).then_some(0),
                        end_of_pass_write_index: (done + n == count).then_some(1),
                    }),
                });
                pass.set_pipeline(&self.pipelines.store);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(gx, gy, 1);
                drop(pass);
                done += n;
            }
            Ok(())
        })
    }

    /// `clear_buffer` of `count` u32: the driver's own fill. Wall-clock only (it is not a
    /// pass, so it takes no pass timestamps).
    pub fn time_clear(&self, count: u64, buffer: &wgpu::Buffer) -> Result<Timing> {
        let t = self.timed_wall(|enc| enc.clear_buffer(buffer, 0, Some(count * 4)))?;
        Ok(t)
    }

    fn timed_wall(&self, record: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<Timing> {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        record(&mut encoder);
        let start = std::time::Instant::now();
        let index = self.queue.submit([encoder.finish()]);
        self.wait(index)?;
        Ok(Timing {
            wall_s: start.elapsed().as_secs_f64(),
            device_s: None,
        })
    }
}

/// A slice `first .. first + count` must stay inside the u64 index space.
pub fn check_range(first: u64, count: u64) -> Result<()> {
    first.checked_add(count).map(|_| ()).ok_or_else(|| {
        Error::invalid(format!(
            "offset {first} + count {count} overflows the 2^64 element index"
        ))
    })
}

fn host_len(count: u64) -> Result<usize> {
    usize::try_from(count)
        .map_err(|_| Error::invalid(format!("count {count} does not fit in host memory")))
}
