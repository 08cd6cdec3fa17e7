//! The network on the GPU: buffers allocated once per run ([`Plan`]), every layer's work
//! encoded into few submissions with bounded waits, weights, input and top gradient written
//! by the generator straight into GPU buffers, and nothing but the statistics records read
//! back. Kernels: the matmul family and the statistics kernels of [`crate::gpu`].
//!
//! A weight or input whose width is a multiple of 4 is generated in place; otherwise it is
//! generated contiguously into a scratch buffer and laid out by `pad_rows`.

use std::time::Instant;

use bytemuck::Pod;

use super::plan::{Plan, PARTIAL_BYTES};
use super::summary::layer1_weights;
use super::{Histogram, Init, LayerStats, Network, Run, Summary, GRADIENT_STREAM, INPUT_STREAM};
use crate::abi::{Activation, MatmulParams, StatsParams, MATMUL_TILE, SIDE};
use crate::error::Result;
use crate::gpu::layer_stats::{Record, STATS_GROUPS};
use crate::gpu::pipeline::dispatch;
use crate::gpu::{GpuContext, Operands, Uniforms};
use crate::rng::Sampler;

/// Work (in flops) encoded before a submission: waits stay short on slow adapters.
const FLUSH_FLOPS: f64 = 1.6e10;

/// Checks that a network fits this device: every buffer within one storage binding, every
/// grid within the dispatch limits, everything within the memory budget.
pub fn check(ctx: &GpuContext, net: &Network, backward: bool) -> Result<()> {
    ctx.matmul_kernels()?;
    ctx.stats_kernels()?;
    Plan::new(ctx, net, backward).map(|_| ())
}

/// `net` under `init`, forward (and backward), on this device.
pub fn run(ctx: &GpuContext, net: &Network, init: &Init, backward: bool) -> Result<Run> {
    let plan = Plan::new(ctx, net, backward)?;
    let samplers = net.weight_samplers(&init.scheme)?;
    let (layer1, fan_in_variance) = layer1_weights(net, &init.scheme)?;
    let start = Instant::now();
    let layers = Exec::new(ctx, net, &plan, samplers, backward).network()?;
    Ok(Run {
        scheme: init.label.clone(),
        layer1_weights: layer1,
        layer1_fan_in_variance: fan_in_variance,
        device: ctx.label(),
        seconds: start.elapsed().as_secs_f64(),
        layers,
    })
}

/// A grid of `n` by `m` over tiles of `side`.
fn grid(n: usize, m: usize, side: u32) -> (u64, u64) {
    let side = u64::from(side);
    ((n as u64).div_ceil(side), (m as u64).div_ceil(side))
}

/// One run in progress: the buffers, the open encoder and what it still reads.
struct Exec<'p> {
    ctx: &'p GpuContext,
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
    uniforms: Uniforms,
    encoder: Option<wgpu::CommandEncoder>,
    flops: f64,
    in_flight: Option<wgpu::SubmissionIndex>,
}

impl<'p> Exec<'p> {
    fn new(
        ctx: &'p GpuContext,
        net: &'p Network,
        plan: &'p Plan,
        samplers: Vec<Sampler>,
        backward: bool,
    ) -> Self {
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let buffer = |label: &str, bytes| ctx.buffer(label, bytes, storage);
        let named = |prefix: &str, n: usize, bytes: u64| -> Vec<wgpu::Buffer> {
            (0..n)
                .map(|i| buffer(&format!("{prefix} {i}"), bytes))
                .collect()
        };
        Exec {
            acts: plan
                .act_buffers
                .iter()
                .enumerate()
                .map(|(i, &bytes)| buffer(&format!("X{i}"), bytes))
                .collect(),
            slots: named("W slot", plan.slots, plan.slot_bytes),
            slot_holds: vec![None; plan.slots],
            slot_pending: vec![false; plan.slots],
            scratch: buffer("scratch", plan.scratch_bytes),
            scratch_pending: false,
            deltas: named("delta", if backward { 2 } else { 0 }, plan.delta_bytes),
            graw: buffer("top gradient", plan.graw_bytes),
            bias: buffer("bias", plan.ld.iter().copied().max().unwrap_or(4) * 4),
            dummy: buffer("unused", PARTIAL_BYTES),
            partials: buffer("partials", plan.partials * PARTIAL_BYTES),
            records: buffer("records", plan.records),
            uniforms: Uniforms::new(ctx, 16 + 12 * net.depth() as u64),
            encoder: None,
            flops: 0.0,
            in_flight: None,
            ctx,
            net,
            plan,
            samplers,
            backward,
        }
    }

    fn act(&self, l: usize) -> wgpu::Buffer {
        let i = if self.backward { l } else { l % 2 };
        self.acts[i].clone()
    }

    fn param<T: Pod>(&mut self, p: &T) -> Result<u32> {
        self.uniforms.push(p)
    }

    /// One matmul-family dispatch over `o` with the parameters at `offset`.
    fn dispatch(
        &mut self,
        pipeline: &wgpu::ComputePipeline,
        group: &wgpu::BindGroup,
        offset: u32,
        (x, y): (u64, u64),
    ) {
        let device = self.ctx.device();
        let encoder = self
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&Default::default()));
        dispatch(
            encoder,
            pipeline,
            group,
            &[offset],
            (x as u32, y as u32),
            None,
        );
    }

    /// Parameters, bind group and dispatch of one matmul-family kernel.
    fn operate(
        &mut self,
        pipeline: &wgpu::ComputePipeline,
        p: &MatmulParams,
        o: &Operands,
        grid: (u64, u64),
    ) -> Result<()> {
        let off = self.param(p)?;
        let group = self.ctx.operand_group(&self.uniforms, o)?;
        self.dispatch(pipeline, &group, off, grid);
        Ok(())
    }

    /// Submits the open encoder, then waits (bounded) for the previous submission, so
    /// the device always has the next batch of work queued and each wait covers one batch.
    fn flush(&mut self) -> Result<Option<wgpu::SubmissionIndex>> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(None);
        };
        self.uniforms.upload(self.ctx);
        let index = self.ctx.queue().submit([encoder.finish()]);
        if let Some(prev) = self.in_flight.replace(index.clone()) {
            self.ctx.wait(prev)?;
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
        (rows, cols): (usize, usize),
        dst: &wgpu::Buffer,
    ) -> Result<()> {
        let count = (rows * cols) as u64;
        let seed = self.net.seed;
        // Generation is queued ahead of the open encoder; count it (a Philox block and a
        // normal quantile per element, some 100 flops' worth) so waits stay bounded when it dominates.
        self.flops += 100.0 * count as f64;
        if cols.is_multiple_of(4) {
            self.ctx
                .generate_into(sampler, (seed, stream, 0, count), dst, 0)?;
            return Ok(());
        }
        if self.scratch_pending {
            self.flush()?;
        }
        self.ctx
            .generate_into(sampler, (seed, stream, 0, count), &self.scratch, 0)?;
        let device = self.ctx.device();
        let encoder = self
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&Default::default()));
        let buffers = [&self.scratch, dst, &self.bias, &self.partials];
        self.ctx
            .encode_pad_rows(encoder, &mut self.uniforms, buffers, (rows, cols))?;
        self.scratch_pending = true;
        Ok(())
    }

    /// The slot holding layer `l`'s weight, generating it there if needed.
    fn weight(&mut self, l: usize) -> Result<wgpu::Buffer> {
        let slot = (l - 1) % self.plan.slots;
        if self.slot_holds[slot] != Some(l) {
            if self.slot_pending[slot] {
                self.flush()?;
            }
            let w = &self.net.widths;
            let (shape, sampler) = ((w[l], w[l - 1]), self.samplers[l - 1]);
            let dst = self.slots[slot].clone();
            self.load(&sampler, l as u64, shape, &dst)?;
            self.slot_holds[slot] = Some(l);
        }
        self.slot_pending[slot] = true;
        Ok(self.slots[slot].clone())
    }

    /// moments, finalize and histogram of a `[rows, cols]` matrix into `record`.
    fn stats(
        &mut self,
        data: &wgpu::Buffer,
        (rows, cols, ld): (usize, usize, u64),
        act: Option<Activation>,
        record: usize,
        fixed: Option<(f32, f32)>,
    ) -> Result<()> {
        let k = self.ctx.stats_kernels()?;
        let groups = (rows as u64).min(STATS_GROUPS);
        let (lo, hi) = fixed.unwrap_or((0.0, 0.0));
        let p = StatsParams {
            rows: rows as u32,
            cols: cols as u32,
            ld: ld as u32,
            act: act.unwrap_or(Activation::Linear).code(),
            record: record as u32,
            partials: groups as u32,
            range_mode: u32::from(fixed.is_none()),
            groups: groups as u32,
            hist_lo: lo,
            hist_hi: hi,
            ..Default::default()
        };
        let off = self.param(&p)?;
        let group = self
            .ctx
            .stats_group(&self.uniforms, data, &self.partials, &self.records)?;
        let (moments, finalize, histogram) =
            (k.moments.clone(), k.finalize.clone(), k.histogram.clone());
        self.dispatch(&moments, &group, off, (groups, 1));
        self.dispatch(&finalize, &group, off, (1, 1));
        self.dispatch(&histogram, &group, off, (groups, 1));
        Ok(())
    }

    fn network(&mut self) -> Result<Vec<LayerStats>> {
        let (w, b, d) = (&self.net.widths, self.net.batch, self.net.depth());
        let x0 = self.act(0);
        self.load(&Network::standard_normal(), INPUT_STREAM, (b, w[0]), &x0)?;
        self.stats(&x0, (b, w[0], self.plan.ld[0]), None, 0, None)?;
        for l in 1..=d {
            self.forward(l)?;
        }
        if self.backward {
            self.delta_top()?;
            for l in (1..=d).rev() {
                self.backward_layer(l)?;
            }
        }
        self.read_records()
    }

    /// X_l = f(X_{l-1} W_l^T), and its statistics.
    fn forward(&mut self, l: usize) -> Result<()> {
        let (w, b, ld) = (&self.net.widths, self.net.batch, &self.plan.ld);
        let (act, slope) = (self.net.activation, self.net.negative_slope);
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
        let shape = (b, w[l], ld[l]);
        let flops = 2.0 * (b * w[l] * w[l - 1]) as f64;
        let g = grid(w[l], b, MATMUL_TILE);
        let weight = self.weight(l)?;
        let (x_prev, x) = (self.act(l - 1), self.act(l));
        let (bias, partials) = (self.bias.clone(), self.partials.clone());
        let o = Operands {
            a: &x_prev,
            b: &weight,
            bias: &bias,
            aux: &bias,
            c: &x,
            partials: &partials,
        };
        let forward = self.ctx.matmul_kernels()?.forward.clone();
        self.operate(&forward, &p, &o, g)?;
        self.flops += flops;
        self.stats(&x, shape, Some(act), l, act.hist_range())?;
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> Result<()> {
        if self.flops > FLUSH_FLOPS {
            self.flush()?;
        }
        Ok(())
    }

    /// delta_D = g * f'(X_D), g the seeded standard-normal top gradient.
    fn delta_top(&mut self) -> Result<()> {
        let (w, b, d) = (&self.net.widths, self.net.batch, self.net.depth());
        let graw = self.graw.clone();
        let count = (b * w[d]) as u64;
        self.flops += 100.0 * count as f64;
        let normal = Network::standard_normal();
        self.ctx.generate_into(
            &normal,
            (self.net.seed, GRADIENT_STREAM, 0, count),
            &graw,
            0,
        )?;
        let p = MatmulParams {
            m: b as u32,
            n: w[d] as u32,
            lda: w[d] as u32,
            ldc: self.plan.ld[d] as u32,
            act: self.net.activation.code(),
            slope: self.net.negative_slope,
            ..Default::default()
        };
        let (top, x_d) = (self.deltas[d % 2].clone(), self.act(d));
        let (bias, partials) = (self.bias.clone(), self.partials.clone());
        let o = Operands {
            a: &graw,
            b: &bias,
            bias: &bias,
            aux: &x_d,
            c: &top,
            partials: &partials,
        };
        let kernel = self.ctx.matmul_kernels()?.delta_top.clone();
        self.operate(&kernel, &p, &o, grid(w[d], b, SIDE))
    }

    /// delta_l's statistics, dW_l = delta_l^T X_{l-1}'s (reduced, never stored), and
    /// delta_{l-1} = (delta_l W_l) * f'(X_{l-1}) below the first layer.
    fn backward_layer(&mut self, l: usize) -> Result<()> {
        let (w, b, d) = (self.net.widths.clone(), self.net.batch, self.net.depth());
        let ld = self.plan.ld.clone();
        let (act, slope) = (self.net.activation, self.net.negative_slope);
        let delta = self.deltas[l % 2].clone();
        self.stats(&delta, (b, w[l], ld[l]), None, d + l, None)?;
        let x_prev = self.act(l - 1);
        let (bias, partials, dummy) =
            (self.bias.clone(), self.partials.clone(), self.dummy.clone());
        let kernels = self.ctx.matmul_kernels()?;
        let (weight_grad, backward) = (kernels.weight_grad.clone(), kernels.backward.clone());
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
        let o = Operands {
            a: &delta,
            b: &x_prev,
            bias: &bias,
            aux: &bias,
            c: &dummy,
            partials: &partials,
        };
        let g = grid(w[l - 1], w[l], MATMUL_TILE);
        self.operate(&weight_grad, &p, &o, g)?;
        self.finalize_weight_grad(2 * d + l, (g.0 * g.1) as u32)?;
        self.flops += 2.0 * (b * w[l] * w[l - 1]) as f64;
        if l > 1 {
            let weight = self.weight(l)?;
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
            let o = Operands {
                a: &delta,
                b: &weight,
                bias: &bias,
                aux: &x_prev,
                c: &next,
                partials: &partials,
            };
            self.operate(&backward, &p, &o, grid(w[l - 1], b, MATMUL_TILE))?;
            self.flops += 2.0 * (b * w[l] * w[l - 1]) as f64;
        }
        self.flush_if_full()
    }

    /// Merges the weight gradient's per-tile partials into `record`.
    fn finalize_weight_grad(&mut self, record: usize, partials: u32) -> Result<()> {
        let p = StatsParams {
            record: record as u32,
            partials,
            ..Default::default()
        };
        let off = self.param(&p)?;
        let group =
            self.ctx
                .stats_group(&self.uniforms, &self.bias, &self.partials, &self.records)?;
        let finalize = self.ctx.stats_kernels()?.finalize.clone();
        self.dispatch(&finalize, &group, off, (1, 1));
        Ok(())
    }

    /// Copies the records back (the only readback of a run) and decodes them.
    fn read_records(&mut self) -> Result<Vec<LayerStats>> {
        let bytes = self.plan.records;
        let staging = self.ctx.buffer(
            "records readback",
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let device = self.ctx.device();
        let encoder = self
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&Default::default()));
        encoder.copy_buffer_to_buffer(&self.records, 0, &staging, 0, bytes);
        let index = self.flush()?.expect("the readback was just encoded");
        self.in_flight = None;
        let mut words = vec![0u32; (bytes / 4) as usize];
        self.ctx
            .read_mapped(&staging, index, bytemuck::cast_slice_mut(&mut words))?;
        let (w, d, act) = (&self.net.widths, self.net.depth(), self.net.activation);
        let mut layers: Vec<LayerStats> = (0..=d)
            .map(|l| LayerStats {
                layer: l,
                width: w[l],
                activation: summary(&Record::decode(&words, l), (l > 0).then_some(act), true),
                gradient: None,
                weight_gradient: None,
            })
            .collect();
        if self.backward {
            for (l, layer) in layers.iter_mut().enumerate().skip(1) {
                layer.gradient = Some(summary(&Record::decode(&words, d + l), None, true));
                layer.weight_gradient =
                    Some(summary(&Record::decode(&words, 2 * d + l), None, false));
            }
        }
        Ok(layers)
    }
}

/// A [`Summary`] from a decoded record.
fn summary(r: &Record, act: Option<Activation>, with_histogram: bool) -> Summary {
    let histogram = with_histogram.then(|| Histogram {
        lo: r.hist_lo,
        hi: r.hist_hi,
        counts: r.bins.clone(),
    });
    Summary::from_parts(
        r.n,
        r.nonfinite,
        r.mean,
        r.m2,
        r.min,
        r.max,
        act.filter(|a| a.saturates()).map(|_| r.saturated),
        histogram,
    )
}
