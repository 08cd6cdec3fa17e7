//! The network on the GPU: pipelines built once ([`Propagator::new`]), buffers allocated
//! once per run, every layer's work encoded into few submissions, bounded waits.
//!
//! Kernels: `shaders/matmul.wgsl` (the tiled matmul with its three epilogues, and
//! `pad_rows`), `shaders/matmul_naive.wgsl` (the benchmark baseline),
//! `shaders/layer_stats.wgsl` (`moments`, `finalize`, `histogram`) and
//! `shaders/backward.wgsl` (`delta_top`), each composed after `shaders/activation.wgsl` and,
//! where needed, `shaders/reduce.wgsl`. Weights, the input batch and the top gradient are
//! written by the core generator ([`GpuContext::generate_into`]) straight into GPU buffers;
//! nothing but the statistics records is ever read back.
//!
//! Layout: every matrix the tiled kernel reads is row-major with its row stride rounded up
//! to a multiple of 4 floats and zero padding, so all its loads are aligned vec4s. A weight
//! or input whose width is a multiple of 4 is generated in place; otherwise it is generated
//! contiguously into a scratch buffer and laid out by `pad_rows`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use super::{
    layer1_weights, Activation, Histogram, Init, LayerStats, Network, Run, Summary,
    GRADIENT_STREAM, HIST_BINS, INPUT_STREAM, MEMORY_BUDGET, WEIGHT_BUDGET,
};
use crate::distribution::Sampler;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// The tiled matmul, its epilogues and `pad_rows`.
pub const MATMUL_WGSL: &str = concat!(
    include_str!("../../shaders/activation.wgsl"),
    "\n",
    include_str!("../../shaders/reduce.wgsl"),
    "\n",
    include_str!("../../shaders/matmul.wgsl"),
);
/// The naive one-invocation-per-output baseline.
pub const MATMUL_NAIVE_WGSL: &str = concat!(
    include_str!("../../shaders/activation.wgsl"),
    "\n",
    include_str!("../../shaders/matmul_naive.wgsl"),
);
/// Per-layer statistics.
pub const STATS_WGSL: &str = concat!(
    include_str!("../../shaders/activation.wgsl"),
    "\n",
    include_str!("../../shaders/reduce.wgsl"),
    "\n",
    include_str!("../../shaders/layer_stats.wgsl"),
);
/// The top layer's delta.
pub const BACKWARD_WGSL: &str = concat!(
    include_str!("../../shaders/activation.wgsl"),
    "\n",
    include_str!("../../shaders/backward.wgsl"),
);

/// Words per statistics record (`RECORD_WORDS` in layer_stats.wgsl).
pub const RECORD_WORDS: usize = 64;
/// Output tile of the matmul (BM = BN in matmul.wgsl).
const TILE: u64 = 64;
/// Workgroup side of the 2-D elementwise kernels.
const SIDE: u64 = 16;
/// Most workgroups of a moments or histogram grid.
const STATS_GROUPS: u64 = 256;
/// Bytes of one `Partial` (reduce.wgsl).
const PARTIAL_BYTES: u64 = 32;
/// Offset between the parameters of successive dispatches (the largest
/// `min_uniform_buffer_offset_alignment` WebGPU allows).
const PARAM_STRIDE: u64 = 256;
/// Work (in flops) encoded before a submission: waits stay short on slow adapters.
const FLUSH_FLOPS: f64 = 1.6e10;

/// Mirrors `MatmulParams` in matmul.wgsl (and backward.wgsl, matmul_naive.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    act: u32,
    slope: f32,
}

/// Mirrors `StatsParams` in layer_stats.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct StatsParams {
    rows: u32,
    cols: u32,
    ld: u32,
    act: u32,
    record: u32,
    partials: u32,
    range_mode: u32,
    groups: u32,
    hist_lo: f32,
    hist_hi: f32,
    _pad: [u32; 2],
}

/// A row stride: the width rounded up to a multiple of 4 floats.
pub fn padded(width: usize) -> u64 {
    (width as u64).div_ceil(4) * 4
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
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

fn params_entry(size: usize) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: true,
            min_binding_size: wgpu::BufferSize::new(size as u64),
        },
        count: None,
    }
}

/// Which matmul kernel a benchmark runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernel {
    /// `matmul` in matmul.wgsl (forward epilogue).
    Tiled,
    /// `matmul_naive` in matmul_naive.wgsl.
    Naive,
}

/// The pipelines, built once per device and reused for every network and scheme.
pub struct Propagator<'a> {
    ctx: &'a GpuContext,
    operand_layout: wgpu::BindGroupLayout,
    stats_layout: wgpu::BindGroupLayout,
    forward: wgpu::ComputePipeline,
    backward: wgpu::ComputePipeline,
    weight_grad: wgpu::ComputePipeline,
    naive: wgpu::ComputePipeline,
    pad_rows: wgpu::ComputePipeline,
    delta_top: wgpu::ComputePipeline,
    moments: wgpu::ComputePipeline,
    finalize: wgpu::ComputePipeline,
    histogram: wgpu::ComputePipeline,
    label: String,
}

impl<'a> Propagator<'a> {
    /// Compiles every kernel on `ctx`'s device.
    pub fn new(ctx: &'a GpuContext) -> Result<Self> {
        let device = ctx.device();
        let limits = device.limits();
        if limits.max_storage_buffers_per_shader_stage < 6
            || limits.max_compute_invocations_per_workgroup < 256
            || limits.max_compute_workgroup_storage_size < 10_240
        {
            return Err(Error::Gpu(format!(
                "this adapter is too small for the propagation kernels: {} storage buffers per stage (6 needed), {} invocations per workgroup (256), {} bytes of workgroup memory (10240)",
                limits.max_storage_buffers_per_shader_stage,
                limits.max_compute_invocations_per_workgroup,
                limits.max_compute_workgroup_storage_size
            )));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let operand_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("operands"),
            entries: &[
                params_entry(std::mem::size_of::<MatmulParams>()),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, true),
                storage_entry(4, true),
                storage_entry(5, false),
                storage_entry(6, false),
            ],
        });
        let stats_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("stats"),
            entries: &[
                params_entry(std::mem::size_of::<StatsParams>()),
                storage_entry(1, true),
                storage_entry(2, false),
                storage_entry(3, false),
            ],
        });
        let pipeline_layout = |layout: &wgpu::BindGroupLayout| {
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            })
        };
        let operand_pl = pipeline_layout(&operand_layout);
        let stats_pl = pipeline_layout(&stats_layout);
        let module = |label: &str, source: &str| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
        };
        let matmul = module("matmul.wgsl", MATMUL_WGSL);
        let naive = module("matmul_naive.wgsl", MATMUL_NAIVE_WGSL);
        let stats = module("layer_stats.wgsl", STATS_WGSL);
        let backward = module("backward.wgsl", BACKWARD_WGSL);
        let pipeline = |layout: &wgpu::PipelineLayout,
                        module: &wgpu::ShaderModule,
                        entry: &str,
                        constants: &[(&str, f64)]| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
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
        };
        let mm = |trans_a: bool, trans_b: bool, epilogue: u32| {
            pipeline(
                &operand_pl,
                &matmul,
                "matmul",
                &[
                    ("TRANS_A", f64::from(u8::from(trans_a))),
                    ("TRANS_B", f64::from(u8::from(trans_b))),
                    ("EPILOGUE", f64::from(epilogue)),
                ],
            )
        };
        let p = Propagator {
            forward: mm(false, true, 0),
            backward: mm(false, false, 1),
            weight_grad: mm(true, false, 2),
            naive: pipeline(&operand_pl, &naive, "matmul_naive", &[]),
            pad_rows: pipeline(&operand_pl, &matmul, "pad_rows", &[]),
            delta_top: pipeline(&operand_pl, &backward, "delta_top", &[]),
            moments: pipeline(&stats_pl, &stats, "moments", &[]),
            finalize: pipeline(&stats_pl, &stats, "finalize", &[]),
            histogram: pipeline(&stats_pl, &stats, "histogram", &[]),
            operand_layout,
            stats_layout,
            ctx,
            label: ctx
                .adapter_summary()
                .map(|a| format!("{} ({})", a.name, a.backend))
                .unwrap_or_else(|| "wgpu device".into()),
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!(
                "propagation shader or pipeline rejected: {e}"
            )));
        }
        Ok(p)
    }

    /// The adapter, as "name (backend)".
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Checks that a network fits this device: every buffer within one storage binding,
    /// every grid within the dispatch limits, everything within [`MEMORY_BUDGET`].
    pub fn check(&self, net: &Network, backward: bool) -> Result<()> {
        Plan::new(self.ctx, net, backward).map(|_| ())
    }

    fn buffer(&self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16).div_ceil(16) * 16,
            usage,
            mapped_at_creation: false,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn operand_group(
        &self,
        uniform: &wgpu::Buffer,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        aux: &wgpu::Buffer,
        c: &wgpu::Buffer,
        partials: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            }
        }
        self.ctx
            .device()
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("operands"),
                layout: &self.operand_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: uniform,
                            offset: 0,
                            size: wgpu::BufferSize::new(std::mem::size_of::<MatmulParams>() as u64),
                        }),
                    },
                    entry(1, a),
                    entry(2, b),
                    entry(3, bias),
                    entry(4, aux),
                    entry(5, c),
                    entry(6, partials),
                ],
            })
    }

    fn stats_group(
        &self,
        uniform: &wgpu::Buffer,
        data: &wgpu::Buffer,
        partials: &wgpu::Buffer,
        records: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.ctx
            .device()
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("stats"),
                layout: &self.stats_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: uniform,
                            offset: 0,
                            size: wgpu::BufferSize::new(std::mem::size_of::<StatsParams>() as u64),
                        }),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: data.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: partials.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: records.as_entire_binding(),
                    },
                ],
            })
    }

    /// Maps `bytes` of a MAP_READ buffer after submission `index`, with bounded waits.
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
        self.ctx.wait(index)?;
        // The callback normally runs inside that wait; poll briefly if it has not.
        let deadline = Instant::now() + Duration::from_secs(10);
        let result = loop {
            match rx.try_recv() {
                Ok(r) => break r,
                Err(mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                    let _ = self.ctx.device().poll(wgpu::PollType::Poll);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return Err(Error::Gpu("the readback buffer was never mapped".into())),
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

    /// Reads a buffer back (tests and benchmarks only: a run never reads activations).
    pub fn read_buffer(&self, buffer: &wgpu::Buffer, floats: u64) -> Result<Vec<f32>> {
        let bytes = floats * 4;
        let staging = self.buffer(
            "readback",
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut encoder = self
            .ctx
            .device()
            .create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes);
        let index = self.ctx.queue().submit([encoder.finish()]);
        let words = self.read_mapped(&staging, bytes, index)?;
        Ok(words.into_iter().map(f32::from_bits).collect())
    }

    /// `net` under `init`, forward (and backward), on this device.
    pub fn run(&self, net: &Network, init: &Init, backward: bool) -> Result<Run> {
        let plan = Plan::new(self.ctx, net, backward)?;
        let samplers = net.weight_samplers(&init.scheme)?;
        let (layer1, fan_in_variance) = layer1_weights(net, &init.scheme)?;
        let start = Instant::now();
        let mut ex = Exec::new(self, net, &plan, samplers, backward);
        let layers = ex.network()?;
        Ok(Run {
            scheme: init.label.clone(),
            layer1_weights: layer1,
            layer1_fan_in_variance: fan_in_variance,
            device: self.label.clone(),
            seconds: start.elapsed().as_secs_f64(),
            layers,
        })
    }

    /// Operands of one forward matmul `C[m, n] = f(A[m, k] B[n, k]^T)`, A standard normal
    /// and B uniform on (-1/sqrt(k), 1/sqrt(k)), for benchmarks and kernel tests.
    pub fn matmul_problem(&self, m: usize, n: usize, k: usize) -> Result<MatmulProblem<'_, 'a>> {
        for (what, v) in [("m", m), ("n", n), ("k", k)] {
            if v == 0 {
                return Err(Error::invalid(format!("matmul {what} must be positive")));
            }
        }
        // The size checks of a one-layer network of the same shape.
        let net = Network::new(vec![k, n], m, Activation::Linear, 0.0, 1)?;
        Plan::new(self.ctx, &net, false)?;
        let (lda, ldb, ldc) = (padded(k), padded(k), padded(n));
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let a = self.buffer("A", m as u64 * lda * 4, usage);
        let b = self.buffer("B", n as u64 * ldb * 4, usage);
        let c = self.buffer("C", m as u64 * ldc * 4, usage);
        let bias = self.buffer("bias", ldc * 4, usage);
        let scratch = self.buffer("scratch", m.max(n) as u64 * k as u64 * 4, usage);
        let partials = self.buffer("partials", PARTIAL_BYTES, usage);
        let uniform = self.buffer(
            "params",
            PARAM_STRIDE * 3,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let normal = Network::standard_normal();
        let bound = 1.0 / (k as f64).sqrt();
        let uniform_b = crate::distribution::Distribution::Uniform {
            low: -bound,
            high: bound,
        }
        .sampler();
        let mut params = Vec::new();
        for (sampler, stream, rows, dst) in [(&normal, 1, m, &a), (&uniform_b, 2, n, &b)] {
            if k.is_multiple_of(4) {
                self.ctx
                    .generate_into(sampler, 7, stream, 0, (rows * k) as u64, dst, 0)?;
            } else {
                // Generate, then lay out; submitted before the scratch is reused.
                self.ctx
                    .generate_into(sampler, 7, stream, 0, (rows * k) as u64, &scratch, 0)?;
                let mut enc = self
                    .ctx
                    .device()
                    .create_command_encoder(&Default::default());
                let p = MatmulParams {
                    m: rows as u32,
                    n: k as u32,
                    ldc: lda as u32,
                    ..Default::default()
                };
                let off = params.len() as u64;
                params.extend_from_slice(bytemuck::bytes_of(&p));
                params.resize(params.len().next_multiple_of(PARAM_STRIDE as usize), 0);
                self.ctx
                    .queue()
                    .write_buffer(&uniform, off, &params[off as usize..]);
                let group =
                    self.operand_group(&uniform, &scratch, &bias, &bias, &bias, dst, &partials);
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&self.pad_rows);
                    pass.set_bind_group(0, &group, &[off as u32]);
                    pass.dispatch_workgroups(
                        lda.div_ceil(4 * SIDE) as u32,
                        (rows as u64).div_ceil(SIDE) as u32,
                        1,
                    );
                }
                self.ctx.queue().submit([enc.finish()]);
            }
        }
        let p = MatmulParams {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            lda: lda as u32,
            ldb: ldb as u32,
            ldc: ldc as u32,
            act: Activation::Linear.code(),
            slope: 0.0,
        };
        let off = params.len() as u64;
        params.extend_from_slice(bytemuck::bytes_of(&p));
        self.ctx
            .queue()
            .write_buffer(&uniform, off, &params[off as usize..]);
        let group = self.operand_group(&uniform, &a, &b, &bias, &bias, &c, &partials);
        // Everything above is queued; wait for it so timings start from ready operands.
        let index = self.ctx.queue().submit([]);
        self.ctx.wait(index)?;
        Ok(MatmulProblem {
            prop: self,
            m,
            n,
            k,
            ldc,
            c,
            group,
            offset: off as u32,
        })
    }
}

/// A forward matmul's operands on the device, ready to run repeatedly.
pub struct MatmulProblem<'p, 'a> {
    prop: &'p Propagator<'a>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    ldc: u64,
    c: wgpu::Buffer,
    group: wgpu::BindGroup,
    offset: u32,
}

impl MatmulProblem<'_, '_> {
    /// Flops of one product.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    /// Runs `kernel` `iters` times in one submission and waits (bounded) for it: the
    /// device time plus one submission's overhead.
    pub fn time(&self, kernel: MatmulKernel, iters: u64) -> Result<Duration> {
        let prop = self.prop;
        let mut encoder = prop
            .ctx
            .device()
            .create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_bind_group(0, &self.group, &[self.offset]);
            match kernel {
                MatmulKernel::Tiled => pass.set_pipeline(&prop.forward),
                MatmulKernel::Naive => pass.set_pipeline(&prop.naive),
            }
            let (gx, gy) = match kernel {
                MatmulKernel::Tiled => (
                    (self.n as u64).div_ceil(TILE),
                    (self.m as u64).div_ceil(TILE),
                ),
                MatmulKernel::Naive => (
                    (self.n as u64).div_ceil(SIDE),
                    (self.m as u64).div_ceil(SIDE),
                ),
            };
            for _ in 0..iters {
                pass.dispatch_workgroups(gx as u32, gy as u32, 1);
            }
        }
        let start = Instant::now();
        let index = prop.ctx.queue().submit([encoder.finish()]);
        prop.ctx.wait(index)?;
        Ok(start.elapsed())
    }

    /// The product, `[m, n]` row-major (unpadded).
    pub fn output(&self) -> Result<Vec<f32>> {
        let all = self.prop.read_buffer(&self.c, self.m as u64 * self.ldc)?;
        Ok(all
            .chunks(self.ldc as usize)
            .flat_map(|row| row[..self.n].iter().copied())
            .collect())
    }
}

/// Sizes of everything a run allocates, checked against the device.
struct Plan {
    ld: Vec<u64>,
    act_buffers: Vec<u64>,
    slot_bytes: u64,
    slots: usize,
    scratch_bytes: u64,
    delta_bytes: u64,
    graw_bytes: u64,
    partials: u64,
    records: u64,
}

impl Plan {
    fn new(ctx: &GpuContext, net: &Network, backward: bool) -> Result<Plan> {
        let limits = ctx.device().limits();
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let max_groups = u64::from(limits.max_compute_workgroups_per_dimension);
        let (w, b, d) = (&net.widths, net.batch as u64, net.depth());
        let ld: Vec<u64> = w.iter().map(|&x| padded(x)).collect();
        let act_bytes: Vec<u64> = ld.iter().map(|&l| b * l * 4).collect();
        let act_buffers = if backward {
            act_bytes.clone()
        } else {
            let m = act_bytes.iter().copied().max().unwrap_or(0);
            vec![m, m]
        };
        let slot_bytes = (1..=d)
            .map(|l| w[l] as u64 * ld[l - 1] * 4)
            .max()
            .unwrap_or(0);
        let slots = ((WEIGHT_BUDGET / slot_bytes.max(1)) as usize).clamp(1, d);
        let mut scratch_bytes = if w[0] % 4 != 0 {
            b * w[0] as u64 * 4
        } else {
            0
        };
        for l in 1..=d {
            if w[l - 1] % 4 != 0 {
                scratch_bytes = scratch_bytes.max(w[l] as u64 * w[l - 1] as u64 * 4);
            }
        }
        let delta_bytes = if backward {
            act_bytes.iter().copied().max().unwrap_or(0)
        } else {
            0
        };
        let graw_bytes = if backward { b * w[d] as u64 * 4 } else { 0 };
        let dw_partials = if backward {
            (1..=d)
                .map(|l| (w[l] as u64).div_ceil(TILE) * (w[l - 1] as u64).div_ceil(TILE))
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        let partials = STATS_GROUPS.max(dw_partials);
        let records = (3 * d as u64 + 1) * RECORD_WORDS as u64 * 4;
        let plan = Plan {
            ld,
            act_buffers,
            slot_bytes,
            slots,
            scratch_bytes,
            delta_bytes,
            graw_bytes,
            partials,
            records,
        };

        let gib = |x: u64| x as f64 / (1u64 << 30) as f64;
        let mib = |x: u64| x as f64 / (1u64 << 20) as f64;
        let fit = |what: String, bytes: u64| {
            if bytes > binding {
                Err(Error::invalid(format!(
                    "{what} needs a {:.1} MiB buffer, above this adapter's largest storage binding ({:.0} MiB); reduce --batch or --width",
                    mib(bytes),
                    mib(binding)
                )))
            } else {
                Ok(())
            }
        };
        let widest = (0..=d).max_by_key(|&l| plan.ld[l]).unwrap_or(0);
        fit(
            format!("batch {b} x width {}", w[widest]),
            b * plan.ld[widest] * 4,
        )?;
        let big = (1..=d)
            .max_by_key(|&l| w[l] as u64 * plan.ld[l - 1])
            .unwrap_or(1);
        fit(
            format!("layer {big}'s {} x {} weight", w[big], w[big - 1]),
            plan.slot_bytes,
        )?;
        fit("a contiguous weight or input".into(), plan.scratch_bytes)?;
        fit("the top gradient".into(), plan.graw_bytes)?;
        fit(
            "the statistics partials".into(),
            plan.partials * PARTIAL_BYTES,
        )?;
        fit(format!("the statistics of {d} layers"), plan.records)?;
        // u32 indices in the kernels.
        if plan
            .act_buffers
            .iter()
            .chain([&plan.slot_bytes, &plan.scratch_bytes])
            .any(|&x| x / 4 > u64::from(u32::MAX) / 2)
        {
            return Err(Error::invalid(
                "a matrix has more than 2^31 elements; reduce --batch or --width",
            ));
        }
        let rows = b.div_ceil(TILE).max(b.div_ceil(SIDE));
        let cols = plan.ld.iter().map(|&l| l.div_ceil(SIDE)).max().unwrap_or(0);
        if rows > max_groups || cols > max_groups {
            return Err(Error::invalid(format!(
                "batch {b} or width {} needs more than this adapter's {max_groups} workgroups per dimension; reduce --batch or --width",
                w[widest]
            )));
        }
        let total = plan.act_buffers.iter().sum::<u64>()
            + plan.slot_bytes * plan.slots as u64
            + plan.scratch_bytes
            + 2 * plan.delta_bytes
            + plan.graw_bytes
            + plan.partials * PARTIAL_BYTES
            + 2 * plan.records;
        if total > MEMORY_BUDGET {
            return Err(Error::invalid(format!(
                "this network needs {:.1} GiB on the GPU{}, above the {} GiB budget; reduce --batch, --width or --depth",
                gib(total),
                if backward {
                    " (--backward keeps every layer's activations)"
                } else {
                    ""
                },
                MEMORY_BUDGET >> 30
            )));
        }
        Ok(plan)
    }
}

/// One run in progress: the buffers, the open encoder and what it still reads.
struct Exec<'p, 'a> {
    prop: &'p Propagator<'a>,
    net: &'p Network,
    plan: &'p Plan,
    samplers: Vec<Sampler>,
    backward: bool,
    acts: Vec<wgpu::Buffer>,
    slots: Vec<wgpu::Buffer>,
    /// Which layer's weight each slot holds.
    slot_holds: Vec<Option<usize>>,
    /// Whether the open encoder reads the slot (or the scratch buffer).
    slot_pending: Vec<bool>,
    scratch: wgpu::Buffer,
    scratch_pending: bool,
    deltas: Vec<wgpu::Buffer>,
    graw: wgpu::Buffer,
    bias: wgpu::Buffer,
    dummy: wgpu::Buffer,
    partials: wgpu::Buffer,
    records: wgpu::Buffer,
    uniform: wgpu::Buffer,
    params: Vec<u8>,
    params_written: usize,
    encoder: Option<wgpu::CommandEncoder>,
    flops: f64,
    in_flight: Option<wgpu::SubmissionIndex>,
}

impl<'p, 'a> Exec<'p, 'a> {
    fn new(
        prop: &'p Propagator<'a>,
        net: &'p Network,
        plan: &'p Plan,
        samplers: Vec<Sampler>,
        backward: bool,
    ) -> Self {
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let d = net.depth();
        let dispatches = 16 + 12 * d as u64;
        Exec {
            acts: plan
                .act_buffers
                .iter()
                .enumerate()
                .map(|(i, &bytes)| prop.buffer(&format!("X{i}"), bytes, storage))
                .collect(),
            slots: (0..plan.slots)
                .map(|i| prop.buffer(&format!("W slot {i}"), plan.slot_bytes, storage))
                .collect(),
            slot_holds: vec![None; plan.slots],
            slot_pending: vec![false; plan.slots],
            scratch: prop.buffer("scratch", plan.scratch_bytes, storage),
            scratch_pending: false,
            deltas: (0..if backward { 2 } else { 0 })
                .map(|i| prop.buffer(&format!("delta {i}"), plan.delta_bytes, storage))
                .collect(),
            graw: prop.buffer("top gradient", plan.graw_bytes, storage),
            bias: prop.buffer(
                "bias",
                plan.ld.iter().copied().max().unwrap_or(4) * 4,
                storage,
            ),
            dummy: prop.buffer("unused", PARTIAL_BYTES, storage),
            partials: prop.buffer("partials", plan.partials * PARTIAL_BYTES, storage),
            records: prop.buffer("records", plan.records, storage),
            uniform: prop.buffer(
                "params",
                dispatches * PARAM_STRIDE,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            params: Vec::new(),
            params_written: 0,
            encoder: None,
            flops: 0.0,
            in_flight: None,
            prop,
            net,
            plan,
            samplers,
            backward,
        }
    }

    fn act(&self, l: usize) -> &wgpu::Buffer {
        if self.backward {
            &self.acts[l]
        } else {
            &self.acts[l % 2]
        }
    }

    /// Appends one dispatch's parameters; returns their dynamic offset.
    fn param<T: Pod>(&mut self, p: &T) -> Result<u32> {
        let off = self.params.len();
        if (off as u64 + PARAM_STRIDE) > self.uniform.size() {
            return Err(Error::Gpu("internal: parameter buffer overflow".into()));
        }
        self.params.extend_from_slice(bytemuck::bytes_of(p));
        self.params.resize(off + PARAM_STRIDE as usize, 0);
        Ok(off as u32)
    }

    fn dispatch(
        &mut self,
        pipeline: &wgpu::ComputePipeline,
        group: &wgpu::BindGroup,
        offset: u32,
        (x, y): (u64, u64),
    ) {
        let device = self.prop.ctx.device();
        let encoder = self
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&Default::default()));
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, group, &[offset]);
        pass.dispatch_workgroups(x as u32, y as u32, 1);
    }

    /// Submits the open encoder, then waits (bounded) for the previous submission, so
    /// the device always has the next batch of work queued and each wait covers one batch.
    fn flush(&mut self) -> Result<Option<wgpu::SubmissionIndex>> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(None);
        };
        if self.params.len() > self.params_written {
            self.prop.ctx.queue().write_buffer(
                &self.uniform,
                self.params_written as u64,
                &self.params[self.params_written..],
            );
            self.params_written = self.params.len();
        }
        let index = self.prop.ctx.queue().submit([encoder.finish()]);
        if let Some(prev) = self.in_flight.replace(index.clone()) {
            self.prop.ctx.wait(prev)?;
        }
        self.slot_pending.fill(false);
        self.scratch_pending = false;
        self.flops = 0.0;
        Ok(Some(index))
    }

    /// Generates `rows x cols` values of `stream` into `dst` with row stride padded(cols).
    fn load(
        &mut self,
        sampler: &Sampler,
        stream: u64,
        rows: usize,
        cols: usize,
        dst: &wgpu::Buffer,
    ) -> Result<()> {
        let prop = self.prop;
        let count = (rows * cols) as u64;
        let seed = self.net.seed;
        // Generation is queued ahead of the open encoder; count it (a Philox block and a
        // normal quantile per element, some 100 flops' worth) so waits stay bounded when it dominates.
        self.flops += 100.0 * count as f64;
        if cols.is_multiple_of(4) {
            self.prop
                .ctx
                .generate_into(sampler, seed, stream, 0, count, dst, 0)?;
            return Ok(());
        }
        if self.scratch_pending {
            self.flush()?;
        }
        self.prop
            .ctx
            .generate_into(sampler, seed, stream, 0, count, &self.scratch, 0)?;
        let p = MatmulParams {
            m: rows as u32,
            n: cols as u32,
            ldc: padded(cols) as u32,
            ..Default::default()
        };
        let off = self.param(&p)?;
        let group = self.prop.operand_group(
            &self.uniform,
            &self.scratch,
            &self.bias,
            &self.bias,
            &self.bias,
            dst,
            &self.partials,
        );
        let grid = (
            padded(cols).div_ceil(4 * SIDE),
            (rows as u64).div_ceil(SIDE),
        );
        self.dispatch(&prop.pad_rows, &group, off, grid);
        self.scratch_pending = true;
        Ok(())
    }

    /// The slot holding layer `l`'s weight, generating it there if needed.
    fn weight(&mut self, l: usize) -> Result<usize> {
        let slot = (l - 1) % self.plan.slots;
        if self.slot_holds[slot] == Some(l) {
            return Ok(slot);
        }
        if self.slot_pending[slot] {
            self.flush()?;
        }
        let w = &self.net.widths;
        let sampler = self.samplers[l - 1];
        let dst = self.slots[slot].clone();
        self.load(&sampler, l as u64, w[l], w[l - 1], &dst)?;
        self.slot_holds[slot] = Some(l);
        Ok(slot)
    }

    /// moments, finalize and histogram of a `[rows, cols]` matrix into `record`.
    #[allow(clippy::too_many_arguments)]
    fn stats(
        &mut self,
        data: &wgpu::Buffer,
        rows: usize,
        cols: usize,
        ld: u64,
        act: Option<Activation>,
        record: usize,
        fixed: Option<(f32, f32)>,
    ) -> Result<()> {
        let prop = self.prop;
        let groups = (rows as u64).min(STATS_GROUPS);
        let (lo, hi) = fixed.unwrap_or((0.0, 0.0));
        let p = StatsParams {
            rows: rows as u32,
            cols: cols as u32,
            ld: ld as u32,
            act: act.map_or(Activation::Linear.code(), Activation::code),
            record: record as u32,
            partials: groups as u32,
            range_mode: u32::from(fixed.is_none()),
            groups: groups as u32,
            hist_lo: lo,
            hist_hi: hi,
            _pad: [0; 2],
        };
        let off = self.param(&p)?;
        let group = self
            .prop
            .stats_group(&self.uniform, data, &self.partials, &self.records);
        self.dispatch(&prop.moments, &group, off, (groups, 1));
        self.dispatch(&prop.finalize, &group, off, (1, 1));
        self.dispatch(&prop.histogram, &group, off, (groups, 1));
        Ok(())
    }

    fn network(&mut self) -> Result<Vec<LayerStats>> {
        let net = self.net;
        let prop = self.prop;
        let (w, b, d) = (&net.widths, net.batch, net.depth());
        let ld = self.plan.ld.clone();
        let (act, slope) = (net.activation, net.negative_slope);
        let normal = Network::standard_normal();

        let x0 = self.act(0).clone();
        self.load(&normal, INPUT_STREAM, b, w[0], &x0)?;
        self.stats(&x0, b, w[0], ld[0], None, 0, None)?;
        for l in 1..=d {
            let slot = self.weight(l)?;
            let p = MatmulParams {
                m: b as u32,
                n: w[l] as u32,
                k: w[l - 1] as u32,
                lda: ld[l - 1] as u32,
                ldb: ld[l - 1] as u32,
                ldc: ld[l] as u32,
                act: act.code(),
                slope,
            };
            let off = self.param(&p)?;
            let (x_prev, x) = (self.act(l - 1).clone(), self.act(l).clone());
            let group = self.prop.operand_group(
                &self.uniform,
                &x_prev,
                &self.slots[slot],
                &self.bias,
                &self.bias,
                &x,
                &self.partials,
            );
            let grid = ((w[l] as u64).div_ceil(TILE), (b as u64).div_ceil(TILE));
            self.dispatch(&prop.forward, &group, off, grid);
            self.slot_pending[slot] = true;
            self.flops += 2.0 * (b * w[l] * w[l - 1]) as f64;
            self.stats(&x, b, w[l], ld[l], Some(act), l, act.hist_range())?;
            if self.flops > FLUSH_FLOPS {
                self.flush()?;
            }
        }

        if self.backward {
            let graw = self.graw.clone();
            self.flops += 100.0 * (b * w[d]) as f64;
            self.prop.ctx.generate_into(
                &normal,
                net.seed,
                GRADIENT_STREAM,
                0,
                (b * w[d]) as u64,
                &graw,
                0,
            )?;
            let p = MatmulParams {
                m: b as u32,
                n: w[d] as u32,
                lda: w[d] as u32,
                ldc: ld[d] as u32,
                act: act.code(),
                slope,
                ..Default::default()
            };
            let off = self.param(&p)?;
            let top = self.deltas[d % 2].clone();
            let group = self.prop.operand_group(
                &self.uniform,
                &graw,
                &self.bias,
                &self.bias,
                &self.act(d).clone(),
                &top,
                &self.partials,
            );
            let grid = ((w[d] as u64).div_ceil(SIDE), (b as u64).div_ceil(SIDE));
            self.dispatch(&prop.delta_top, &group, off, grid);
            for l in (1..=d).rev() {
                let delta = self.deltas[l % 2].clone();
                self.stats(&delta, b, w[l], ld[l], None, d + l, None)?;
                // dW_l = delta_l^T X_{l-1}: statistics only.
                let x_prev = self.act(l - 1).clone();
                let p = MatmulParams {
                    m: w[l] as u32,
                    n: w[l - 1] as u32,
                    k: b as u32,
                    lda: ld[l] as u32,
                    ldb: ld[l - 1] as u32,
                    ldc: 0,
                    act: act.code(),
                    slope,
                };
                let off = self.param(&p)?;
                let group = self.prop.operand_group(
                    &self.uniform,
                    &delta,
                    &x_prev,
                    &self.bias,
                    &self.bias,
                    &self.dummy,
                    &self.partials,
                );
                let grid = (
                    (w[l - 1] as u64).div_ceil(TILE),
                    (w[l] as u64).div_ceil(TILE),
                );
                self.dispatch(&prop.weight_grad, &group, off, grid);
                let fin = StatsParams {
                    record: (2 * d + l) as u32,
                    partials: (grid.0 * grid.1) as u32,
                    ..Default::default()
                };
                let off = self.param(&fin)?;
                let group =
                    self.prop
                        .stats_group(&self.uniform, &self.bias, &self.partials, &self.records);
                self.dispatch(&prop.finalize, &group, off, (1, 1));
                self.flops += 2.0 * (b * w[l] * w[l - 1]) as f64;
                if l > 1 {
                    // delta_{l-1} = (delta_l W_l) * f'(X_{l-1}).
                    let slot = self.weight(l)?;
                    let next = self.deltas[(l - 1) % 2].clone();
                    let p = MatmulParams {
                        m: b as u32,
                        n: w[l - 1] as u32,
                        k: w[l] as u32,
                        lda: ld[l] as u32,
                        ldb: ld[l - 1] as u32,
                        ldc: ld[l - 1] as u32,
                        act: act.code(),
                        slope,
                    };
                    let off = self.param(&p)?;
                    let group = self.prop.operand_group(
                        &self.uniform,
                        &delta,
                        &self.slots[slot],
                        &self.bias,
                        &x_prev,
                        &next,
                        &self.partials,
                    );
                    let grid = ((w[l - 1] as u64).div_ceil(TILE), (b as u64).div_ceil(TILE));
                    self.dispatch(&prop.backward, &group, off, grid);
                    self.slot_pending[slot] = true;
                    self.flops += 2.0 * (b * w[l] * w[l - 1]) as f64;
                }
                if self.flops > FLUSH_FLOPS {
                    self.flush()?;
                }
            }
        }

        // Only the records come back.
        let bytes = self.plan.records;
        let staging = self.prop.buffer(
            "records readback",
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let device = self.prop.ctx.device();
        let encoder = self
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&Default::default()));
        encoder.copy_buffer_to_buffer(&self.records, 0, &staging, 0, bytes);
        let index = self.flush()?.expect("the readback was just encoded");
        self.in_flight = None;
        let words = self.prop.read_mapped(&staging, bytes, index)?;
        let record = |r: usize| &words[r * RECORD_WORDS..(r + 1) * RECORD_WORDS];
        let mut layers: Vec<LayerStats> = (0..=d)
            .map(|l| LayerStats {
                layer: l,
                width: w[l],
                activation: summary(record(l), (l > 0).then_some(act), true),
                gradient: None,
                weight_gradient: None,
            })
            .collect();
        if self.backward {
            for (l, layer) in layers.iter_mut().enumerate().skip(1) {
                layer.gradient = Some(summary(record(d + l), None, true));
                layer.weight_gradient = Some(summary(record(2 * d + l), None, false));
            }
        }
        Ok(layers)
    }
}

/// A [`Summary`] from a record (layout in layer_stats.wgsl).
fn summary(r: &[u32], act: Option<Activation>, with_histogram: bool) -> Summary {
    let f = |i: usize| f64::from(f32::from_bits(r[i]));
    // The sum of squared deviations, scale^2 * ssq, formed in f64.
    let m2 = f(4) * f(4) * f(5);
    let histogram = with_histogram.then(|| Histogram {
        lo: f32::from_bits(r[8]),
        hi: f32::from_bits(r[9]),
        counts: r[10..10 + HIST_BINS]
            .iter()
            .map(|&c| u64::from(c))
            .collect(),
    });
    Summary::from_parts(
        u64::from(r[0]),
        u64::from(r[2]),
        f(3),
        m2,
        f(6),
        f(7),
        act.filter(|a| a.saturates()).map(|_| u64::from(r[1])),
        histogram,
    )
}
