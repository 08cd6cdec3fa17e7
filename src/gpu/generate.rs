//! The generation kernels (`shaders/generate.wgsl`; CPU twin `src/cpu/generate.rs`): stream
//! slices into device buffers, in dispatches that respect every device limit.

use std::sync::Mutex;

use bytemuck::Zeroable;

use super::device::{GpuDevice, GpuOptions, Mulhilo};
use super::pipeline::{dispatch, storage_entry, uniform_entry, Uniforms};
use super::shaders;
use crate::abi::{
    GenerateParams, ELEMENTS_PER_INVOCATION, KIND_CONSTANT, KIND_NORMAL, KIND_UNIFORM, KIND_WORDS,
};
use crate::error::{Error, Result};
use crate::rng::distribution::needs_tail_quantile;
use crate::rng::{Sampler, Span, Start};

/// Invocations per workgroup: a multiple of every warp and wavefront width. On lavapipe,
/// where each workgroup costs a fixed setup, 256 generates 2x faster than 64 (measured in
/// docs/PERFORMANCE.md), and 512 or 1024 no faster.
const WORKGROUP_SIZE: u32 = 256;
/// Chunks are multiples of this many elements, so each chunk's binding offset is
/// 256-byte aligned (the largest `min_storage_buffer_offset_alignment` allowed).
const CHUNK_ALIGN: u64 = 64;
/// Largest chunk read back to the host at once (64 MiB of f32).
const READBACK_CHUNK: u64 = 1 << 24;

/// Kernels of `generate.wgsl` that write a stream slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Distribution values (f32 bits).
    Generate,
    /// Raw Philox words.
    Words,
}

/// How generation splits work on this device: fixed when the context opens.
#[derive(Clone, Copy, Debug)]
pub struct Generation {
    pub workgroup_size: u32,
    /// Largest element count of one dispatch (a multiple of [`CHUNK_ALIGN`]).
    pub chunk_elements: u64,
    pub max_workgroups_per_dim: u32,
    /// Largest number of elements read back at once.
    pub readback_elements: u64,
    pub philox_rounds: u32,
    /// Whether the kernels build mulhilo from one u64 product.
    pub int64: bool,
}

impl Generation {
    /// The split for `dev` under `opts`.
    pub fn new(dev: &GpuDevice, opts: &GpuOptions) -> Result<Self> {
        let limits = dev.limits();
        let name = dev.label();
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
            None => WORKGROUP_SIZE.min(largest_group),
        };
        let has_int64 = dev
            .device()
            .features()
            .contains(wgpu::Features::SHADER_INT64);
        let int64 = match opts.mulhilo {
            Mulhilo::Auto => has_int64,
            Mulhilo::Bits16 => false,
            Mulhilo::Int64 if has_int64 => true,
            Mulhilo::Int64 => {
                return Err(Error::invalid(format!(
                    "--mulhilo 64 needs SHADER_INT64, which {name} does not have"
                )))
            }
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
            * u64::from(ELEMENTS_PER_INVOCATION);
        // 2^28 keeps every in-dispatch index (4 * invocation + 3) inside u32.
        let chunk = by_binding
            .min(by_dispatch)
            .min(1 << 28)
            .min(opts.max_chunk_elements.unwrap_or(u64::MAX));
        Ok(Generation {
            workgroup_size,
            chunk_elements: (chunk / CHUNK_ALIGN * CHUNK_ALIGN).max(CHUNK_ALIGN),
            max_workgroups_per_dim: max_wg,
            readback_elements: READBACK_CHUNK
                .min(opts.max_readback_elements.unwrap_or(u64::MAX))
                .min(limits.max_buffer_size / 4)
                .max(1),
            philox_rounds: opts.philox_rounds,
            int64,
        })
    }

    /// Workgroups for `invocations`, as (x, y) within the per-dimension limit.
    pub fn grid(&self, invocations: u64) -> (u32, u32) {
        let groups = invocations.div_ceil(u64::from(self.workgroup_size)).max(1);
        let gx = groups.min(u64::from(self.max_workgroups_per_dim));
        (gx as u32, groups.div_ceil(gx) as u32)
    }
}

/// The kernels of `generate.wgsl`, compiled for one [`Generation`], and the buffers host
/// readback goes through.
pub struct GenerateKernels {
    pub(super) g: Generation,
    layout: wgpu::BindGroupLayout,
    /// (`generate`, `generate4`) for each of [`SPECIALIZATIONS`], in its order.
    specialized: Vec<(wgpu::ComputePipeline, wgpu::ComputePipeline)>,
    philox_kat: wgpu::ComputePipeline,
    /// (device buffer, staging buffer), grown on demand, reused by every readback.
    readback: Mutex<Option<(wgpu::Buffer, wgpu::Buffer)>>,
}

/// The (KIND, NORMAL_TAILS) pairs `generate.wgsl` is compiled for: a pipeline per map, so
/// no kernel decides at run time what it computes.
const SPECIALIZATIONS: [(u32, bool); 5] = [
    (KIND_UNIFORM, false),
    (KIND_NORMAL, false),
    (KIND_NORMAL, true),
    (KIND_CONSTANT, false),
    (KIND_WORDS, false),
];

impl GenerateKernels {
    pub fn new(dev: &GpuDevice, g: Generation) -> Result<Self> {
        dev.compile("generation", |ctx| {
            let module = ctx.module(if g.int64 {
                shaders::GENERATE_INT64
            } else {
                shaders::GENERATE
            });
            let (layout, pipeline_layout) = ctx.layouts(
                "generate",
                &[
                    uniform_entry(0, std::mem::size_of::<GenerateParams>(), true),
                    storage_entry(1, false),
                ],
            );
            let p = |entry, (kind, tails): (u32, bool)| {
                let constants = [
                    ("PHILOX_ROUNDS_USED", f64::from(g.philox_rounds)),
                    ("WORKGROUP_SIZE", f64::from(g.workgroup_size)),
                    ("KIND", f64::from(kind)),
                    ("NORMAL_TAILS", f64::from(u8::from(tails))),
                ];
                ctx.pipeline(&pipeline_layout, &module, entry, &constants)
            };
            GenerateKernels {
                g,
                specialized: SPECIALIZATIONS
                    .iter()
                    .map(|&k| (p("generate", k), p("generate4", k)))
                    .collect(),
                philox_kat: p("philox_kat", (KIND_WORDS, false)),
                layout,
                readback: Mutex::new(None),
            }
        })
    }

    /// The pipeline for `job`: specialized for its map, with 16-byte stores when the slice
    /// is whole blocks.
    fn for_job(&self, job: &Job) -> Result<&wgpu::ComputePipeline> {
        let key = match job.kernel {
            Kernel::Words => (KIND_WORDS, false),
            Kernel::Generate => (job.sampler.kind, needs_tail_quantile(job.sampler)),
        };
        let (scalar, whole) = SPECIALIZATIONS
            .iter()
            .position(|&k| k == key && (key.0 != KIND_WORDS || job.kernel == Kernel::Words))
            .map(|i| &self.specialized[i])
            .ok_or_else(|| {
                Error::invalid(format!("sampler kind {} is not a distribution", key.0))
            })?;
        let block = u64::from(ELEMENTS_PER_INVOCATION);
        let whole_blocks =
            job.span.first.is_multiple_of(block) && job.span.count.is_multiple_of(block);
        Ok(if whole_blocks { whole } else { scalar })
    }
}

fn split(x: u64) -> [u32; 2] {
    [x as u32, (x >> 32) as u32]
}

/// One stream slice for one kernel.
#[derive(Clone, Copy, Debug)]
pub struct Job<'a> {
    pub kernel: Kernel,
    pub sampler: &'a Sampler,
    pub span: Span,
}

impl GenerateKernels {
    /// How generation splits work on this device.
    pub fn generation(&self) -> Generation {
        self.g
    }

    /// Records one dispatch writing `job`'s elements into `out` at `byte_offset` (its
    /// parameters pushed to `uniforms`), with 16-byte stores when the slice is whole
    /// blocks, and optional timestamps.
    fn encode(
        &self,
        dev: &GpuDevice,
        (encoder, uniforms): (&mut wgpu::CommandEncoder, &mut Uniforms),
        job: &Job,
        (out, byte_offset): (&wgpu::Buffer, u64),
        timestamps: Option<wgpu::ComputePassTimestampWrites>,
    ) -> Result<()> {
        let g = self.g;
        let span = job.span;
        debug_assert!(span.count > 0 && span.count <= g.chunk_elements);
        let pipeline = self.for_job(job)?;
        let block = u64::from(ELEMENTS_PER_INVOCATION);
        let skip = span.first % block;
        let (gx, gy) = g.grid((skip + span.count).div_ceil(block));
        let params = GenerateParams {
            seed: split(span.seed),
            stream: split(span.stream),
            first: split(span.first),
            count: span.count as u32,
            row_stride: gx * g.workgroup_size,
            sampler: *job.sampler,
        };
        let offset = uniforms.push(&params)?;
        let bind = dev.bind_group(
            "generate",
            &self.layout,
            &[
                uniforms.binding::<GenerateParams>(),
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: out,
                    offset: byte_offset,
                    size: wgpu::BufferSize::new(span.count * 4),
                }),
            ],
        );
        dispatch(encoder, pipeline, &bind, &[offset], (gx, gy), timestamps);
        Ok(())
    }

    /// Dispatches `job` takes: one per [`Generation::chunk_elements`].
    pub fn passes(&self, job: &Job) -> u64 {
        job.span.count.div_ceil(self.g.chunk_elements)
    }

    /// Records `job` into `buffer` at `byte_offset` as dispatches of at most
    /// `chunk_elements` (parameters in `uniforms`, which needs room for
    /// [`passes`](Self::passes)); with a query set, timestamps before the first and after
    /// the last.
    pub fn encode_chunks(
        &self,
        dev: &GpuDevice,
        (encoder, uniforms): (&mut wgpu::CommandEncoder, &mut Uniforms),
        job: &Job,
        (buffer, byte_offset): (&wgpu::Buffer, u64),
        queries: Option<&wgpu::QuerySet>,
    ) -> Result<()> {
        job.span.check()?;
        let end = byte_offset.saturating_add(job.span.count.saturating_mul(4));
        if end > buffer.size() {
            return Err(Error::invalid(format!(
                "{} elements at byte offset {byte_offset} do not fit a buffer of {} bytes",
                job.span.count,
                buffer.size()
            )));
        }
        let chunk = self.g.chunk_elements;
        let passes = self.passes(job) as usize;
        for i in 0..passes {
            let done = i as u64 * chunk;
            let part = Job {
                span: job.span.part(done, (job.span.count - done).min(chunk)),
                ..*job
            };
            let ts = GpuDevice::pass_timestamps(queries, i, passes);
            let at = (buffer, byte_offset + done * 4);
            self.encode(dev, (&mut *encoder, &mut *uniforms), &part, at, ts)?;
        }
        Ok(())
    }

    /// Submits `job` into `buffer` at `byte_offset`; later work on the queue sees it.
    pub fn submit(
        &self,
        dev: &GpuDevice,
        job: &Job,
        at: (&wgpu::Buffer, u64),
    ) -> Result<wgpu::SubmissionIndex> {
        let mut uniforms = Uniforms::new(dev, self.passes(job));
        let mut encoder = dev.device().create_command_encoder(&Default::default());
        self.encode_chunks(dev, (&mut encoder, &mut uniforms), job, at, None)?;
        uniforms.upload(dev);
        Ok(dev.queue().submit([encoder.finish()]))
    }

    /// Runs `kernel` over elements `first .. first + out.len()` and reads the result back
    /// into `out` (at most [`Generation::readback_elements`] at once).
    pub fn fill(
        &self,
        dev: &GpuDevice,
        (kernel, sampler): (Kernel, &Sampler),
        at: Start,
        out: &mut [u32],
    ) -> Result<()> {
        let n = out.len() as u64;
        if n == 0 {
            return Ok(());
        }
        if n > self.g.readback_elements {
            return Err(Error::invalid(format!(
                "{n} elements exceed one readback of {}",
                self.g.readback_elements
            )));
        }
        let mut cached = self.readback.lock().unwrap_or_else(|e| e.into_inner());
        if cached.as_ref().is_none_or(|(b, _)| b.size() < n * 4) {
            let bytes = n.max(1 << 16).min(self.g.readback_elements) * 4;
            let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
            let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
            *cached = Some((
                dev.buffer("out", bytes, storage),
                dev.buffer("readback", bytes, read),
            ));
        }
        let (storage, staging) = cached.as_ref().expect("just made");
        let job = Job {
            kernel,
            sampler,
            span: at.span(n),
        };
        let mut uniforms = Uniforms::new(dev, self.passes(&job));
        let mut encoder = dev.device().create_command_encoder(&Default::default());
        self.encode_chunks(dev, (&mut encoder, &mut uniforms), &job, (storage, 0), None)?;
        encoder.copy_buffer_to_buffer(storage, 0, staging, 0, n * 4);
        uniforms.upload(dev);
        let index = dev.queue().submit([encoder.finish()]);
        dev.read_mapped(staging, index, bytemuck::cast_slice_mut(out))
    }

    /// Philox4x32 of arbitrary (counter, key) pairs on the device, for known-answer tests.
    pub fn philox(
        &self,
        dev: &GpuDevice,
        inputs: &[([u32; 4], [u32; 2])],
    ) -> Result<Vec<[u32; 4]>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<u32> = inputs
            .iter()
            .flat_map(|(c, k)| [c[0], c[1], c[2], c[3], k[0], k[1], 0, 0])
            .collect();
        let bytes = (records.len() * 4) as u64;
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let data = dev.buffer("kat", bytes, usage);
        dev.queue()
            .write_buffer(&data, 0, bytemuck::cast_slice(&records));
        let params = GenerateParams {
            count: inputs.len() as u32,
            ..GenerateParams::zeroed()
        };
        let mut uniforms = Uniforms::new(dev, 1);
        let offset = uniforms.push(&params)?;
        uniforms.upload(dev);
        let bind = dev.bind_group(
            "philox",
            &self.layout,
            &[
                uniforms.binding::<GenerateParams>(),
                data.as_entire_binding(),
            ],
        );
        let mut encoder = dev.device().create_command_encoder(&Default::default());
        let groups = (inputs.len() as u32).div_ceil(self.g.workgroup_size);
        dispatch(
            &mut encoder,
            &self.philox_kat,
            &bind,
            &[offset],
            (groups, 1),
            None,
        );
        dev.queue().submit([encoder.finish()]);
        let out: Vec<u32> = bytemuck::pod_collect_to_vec(&dev.read(&data, bytes)?);
        Ok(out
            .chunks_exact(8)
            .map(|r| [r[0], r[1], r[2], r[3]])
            .collect())
    }
}
