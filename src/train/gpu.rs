//! Training on the GPU: the network's weights, biases, activations and gradients live in GPU
//! buffers for the whole run; the initial weights are generated there. Each update is the
//! matmul family's forward products, `softmax_xent`, then per layer from the top the weight
//! gradient (stored), `bias_grad`, the input gradient and `sgd`: every step a WGSL kernel.
//! Images go up a block at a time; only the per-row losses, and the weights when asked,
//! come back. The CPU twin is [`Mlp`].

use super::forward_flops;
use super::mlp::{weight_samplers, Mlp};
use crate::abi::{Activation, MatmulParams, MATMUL_TILE};
use crate::error::{Error, Result};
use crate::gpu::matmul::padded;
use crate::gpu::{GpuContext, Operands, Uniforms};
use crate::rng::Scheme;
use crate::shapeset::PIXELS;

/// Images uploaded at once (16 MiB of pixels); a block of updates reads them in order.
const DATA_IMAGES: usize = 4096;
/// Rows the test and validation images are evaluated in.
pub const EVAL_ROWS: usize = 1000;
/// Floats per `sgd` workgroup: 16 each invocation (its loop strides over the grid past the
/// adapter's workgroup limit).
const SGD_FLOATS_PER_GROUP: u64 = 1024;
/// Work (in flops) encoded before a submission, so each bounded wait covers little.
const FLUSH_FLOPS: f64 = 1.6e10;

/// One recorded dispatch: replayed each update with the same parameters.
struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    offset: u32,
    grid: (u32, u32),
}

/// The dispatches of one pass at a fixed row count, with their parameters.
struct Program {
    uniforms: Uniforms,
    dispatches: Vec<Dispatch>,
}

/// A network being trained on one GPU at one learning rate.
pub struct GpuMlp<'c> {
    ctx: &'c GpuContext,
    sizes: Vec<usize>,
    ld: Vec<u64>,
    act: Activation,
    slope: f32,
    batch: usize,
    lr: f32,
    w: Vec<wgpu::Buffer>,
    b: Vec<wgpu::Buffer>,
    dw: Vec<wgpu::Buffer>,
    db: Vec<wgpu::Buffer>,
    /// X_0 (the input) .. X_L (the logits), `max(batch, EVAL_ROWS)` rows each.
    x: Vec<wgpu::Buffer>,
    deltas: [wgpu::Buffer; 2],
    labels: wgpu::Buffer,
    rows: wgpu::Buffer,
    zero: wgpu::Buffer,
    dummy: wgpu::Buffer,
    data: wgpu::Buffer,
    data_labels: wgpu::Buffer,
    record: wgpu::Buffer,
    /// Where the row records are read back through (as large as `record`).
    staging: wgpu::Buffer,
    step: Option<Program>,
    eval: Vec<(usize, Program)>,
}

impl<'c> GpuMlp<'c> {
    /// Weights generated on the GPU from `scheme`, as [`Mlp::new`] draws them (layer `l` on
    /// stream `l` of `seed`), biases 0.
    pub fn new(
        ctx: &'c GpuContext,
        sizes: &[usize],
        (act, slope): (Activation, f32),
        scheme: &Scheme,
        seed: u64,
        batch: usize,
        lr: f32,
    ) -> Result<Self> {
        let net = Self::allocate(ctx, sizes, (act, slope), batch, lr)?;
        let samplers = weight_samplers(sizes, scheme)?;
        let count = |l: usize| (sizes[l] * sizes[l + 1]) as u64;
        // Room for the largest weight whose rows need padding (none when every width is a
        // multiple of 4).
        let padded_layers = (0..sizes.len() - 1).filter(|&l| !sizes[l].is_multiple_of(4));
        let scratch = net.buffer("scratch", padded_layers.map(count).max().unwrap_or(0) * 4);
        for (l, sampler) in samplers.iter().enumerate() {
            let span = (seed, l as u64, 0, count(l));
            if sizes[l].is_multiple_of(4) {
                ctx.generate_into(sampler, span, &net.w[l], 0)?;
                continue;
            }
            // Generated contiguously, then laid out at the padded row stride.
            ctx.generate_into(sampler, span, &scratch, 0)?;
            let mut uniforms = Uniforms::new(ctx, 1);
            let mut encoder = ctx.device().create_command_encoder(&Default::default());
            let buffers = [&scratch, &net.w[l], &net.zero, &net.dummy];
            ctx.encode_pad_rows(
                &mut encoder,
                &mut uniforms,
                buffers,
                (sizes[l + 1], sizes[l]),
            )?;
            uniforms.upload(ctx);
            ctx.queue().submit([encoder.finish()]);
            ctx.finish()?;
        }
        Ok(net)
    }

    /// `mlp`'s weights and biases uploaded as they are.
    pub fn from_mlp(ctx: &'c GpuContext, mlp: &Mlp, batch: usize, lr: f32) -> Result<Self> {
        let net = Self::allocate(ctx, &mlp.sizes, (mlp.act, mlp.slope), batch, lr)?;
        for l in 0..mlp.layers() {
            let (n_in, ld) = (net.sizes[l], net.ld[l] as usize);
            let mut w = vec![0.0f32; net.sizes[l + 1] * ld];
            for (dst, src) in w.chunks_mut(ld).zip(mlp.w[l].chunks(n_in)) {
                dst[..n_in].copy_from_slice(src);
            }
            ctx.queue()
                .write_buffer(&net.w[l], 0, bytemuck::cast_slice(&w));
            ctx.queue()
                .write_buffer(&net.b[l], 0, bytemuck::cast_slice(&mlp.b[l]));
        }
        Ok(net)
    }

    fn allocate(
        ctx: &'c GpuContext,
        sizes: &[usize],
        (act, slope): (Activation, f32),
        batch: usize,
        lr: f32,
    ) -> Result<Self> {
        if sizes.first() != Some(&PIXELS) {
            return Err(Error::invalid(format!(
                "the GPU trainer reads Shapeset images: its input layer must have {PIXELS} units, not {:?}",
                sizes.first()
            )));
        }
        let ld: Vec<u64> = sizes.iter().map(|&s| padded(s)).collect();
        let rows = batch.max(EVAL_ROWS) as u64;
        let widest = ld.iter().copied().max().unwrap_or(4);
        let layers = sizes.len() - 1;
        for l in 0..layers {
            ctx.check_binding("a weight matrix", sizes[l + 1] as u64 * ld[l] * 4)?;
        }
        ctx.check_binding("a layer's activations", rows * widest * 4)?;
        let images = DATA_IMAGES.max(batch) as u64;
        ctx.check_binding("a block of training images", images * PIXELS as u64 * 4)?;
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let buffer = |label: &str, bytes: u64| ctx.buffer(label, bytes, usage);
        let per_layer = |label: &str, bytes: &dyn Fn(usize) -> u64| -> Vec<wgpu::Buffer> {
            (0..layers)
                .map(|l| buffer(&format!("{label} {l}"), bytes(l)))
                .collect()
        };
        let weight = |l: usize| sizes[l + 1] as u64 * ld[l] * 4;
        let bias = |l: usize| ld[l + 1] * 4;
        Ok(GpuMlp {
            w: per_layer("W", &weight),
            dw: per_layer("dW", &weight),
            b: per_layer("b", &bias),
            db: per_layer("db", &bias),
            x: (0..=layers)
                .map(|l| buffer(&format!("X{l}"), rows * ld[l] * 4))
                .collect(),
            deltas: [0, 1].map(|i| buffer(&format!("delta {i}"), rows * widest * 4)),
            labels: buffer("labels", rows * 4),
            rows: buffer("row losses", rows * 8),
            zero: buffer("zero", widest * 4),
            dummy: buffer("unused", 64),
            data: buffer("images", images * PIXELS as u64 * 4),
            data_labels: buffer("image labels", images * 4),
            record: buffer("loss record", images * 8),
            staging: ctx.buffer(
                "record readback",
                images * 8,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
            step: None,
            eval: Vec::new(),
            ctx,
            sizes: sizes.to_vec(),
            ld,
            act,
            slope,
            batch,
            lr,
        })
    }

    fn buffer(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        self.ctx.buffer(label, bytes, usage)
    }

    fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// One update per `batch` rows of `x` (`[n, PIXELS]`) and `labels`, in order; the summed
    /// loss of each update. Work is submitted in bounded batches, with one readback of the
    /// losses per block of images.
    pub fn updates(&mut self, x: &[f32], labels: &[u8]) -> Result<Vec<f64>> {
        let b = self.batch;
        if self.step.is_none() {
            self.step = Some(self.program(b, true)?);
        }
        let per_block = (DATA_IMAGES / b).max(1);
        let per_submit = ((FLUSH_FLOPS / (3.0 * forward_flops(&self.sizes) * b as f64)) as usize)
            .clamp(1, per_block);
        let mut losses = Vec::with_capacity(labels.len() / b);
        for (xs, ys) in x
            .chunks(per_block * b * PIXELS)
            .zip(labels.chunks(per_block * b))
        {
            let q = self.ctx.queue();
            q.write_buffer(&self.data, 0, bytemuck::cast_slice(xs));
            q.write_buffer(&self.data_labels, 0, bytemuck::cast_slice(&widen(ys)));
            let steps = ys.len() / b;
            let mut in_flight = None;
            for first in (0..steps).step_by(per_submit) {
                let mut encoder = self
                    .ctx
                    .device()
                    .create_command_encoder(&Default::default());
                for s in first..(first + per_submit).min(steps) {
                    self.encode_step(&mut encoder, s);
                }
                let index = q.submit([encoder.finish()]);
                if let Some(prev) = in_flight.replace(index) {
                    self.ctx.wait(prev)?;
                }
            }
            let rows = self.read_rows(&self.record, steps * b)?;
            losses.extend(rows.chunks(b * 2).map(summed_loss));
        }
        Ok(losses)
    }

    /// Update `s` of the block: its images into X_0, the step's dispatches, its row
    /// losses into the record.
    fn encode_step(&self, encoder: &mut wgpu::CommandEncoder, s: usize) {
        let b = self.batch as u64;
        let pixels = PIXELS as u64 * 4;
        encoder.copy_buffer_to_buffer(&self.data, s as u64 * b * pixels, &self.x[0], 0, b * pixels);
        encoder.copy_buffer_to_buffer(&self.data_labels, s as u64 * b * 4, &self.labels, 0, b * 4);
        let step = self.step.as_ref().expect("the step program is built");
        replay(encoder, step);
        encoder.copy_buffer_to_buffer(&self.rows, 0, &self.record, s as u64 * b * 8, b * 8);
    }

    /// Summed loss and errors over `x` and `labels`, forward only, `EVAL_ROWS` at a time.
    pub fn evaluate(&mut self, x: &[f32], labels: &[u8]) -> Result<(f64, usize)> {
        let mut total = (0.0, 0);
        for (xs, ys) in x.chunks(EVAL_ROWS * PIXELS).zip(labels.chunks(EVAL_ROWS)) {
            self.forward(xs, ys)?;
            let rows = self.read_rows(&self.rows, ys.len())?;
            total.0 += summed_loss(&rows);
            total.1 += rows.chunks(2).filter(|r| r[1] != 0.0).count();
        }
        Ok(total)
    }

    /// The (loss, error) records of `rows` rows from `src`, through the one staging buffer.
    fn read_rows(&self, src: &wgpu::Buffer, rows: usize) -> Result<Vec<f32>> {
        let bytes = rows as u64 * 8;
        let mut encoder = self
            .ctx
            .device()
            .create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(src, 0, &self.staging, 0, bytes);
        let index = self.ctx.queue().submit([encoder.finish()]);
        let mut out = vec![0u8; bytes as usize];
        self.ctx.read_mapped(&self.staging, index, &mut out)?;
        Ok(bytemuck::pod_collect_to_vec(&out))
    }

    /// Every hidden layer's output for the rows of `x` (at most `EVAL_ROWS`), each
    /// `[rows, width]`.
    pub fn hidden(&mut self, x: &[f32], labels: &[u8]) -> Result<Vec<Vec<f32>>> {
        let m = labels.len();
        self.forward(x, labels)?;
        (1..self.layers())
            .map(|l| {
                let (n, ld) = (self.sizes[l], self.ld[l] as usize);
                let padded = self.ctx.read_f32(&self.x[l], (m * ld) as u64)?;
                Ok(padded.chunks(ld).flat_map(|r| r[..n].to_vec()).collect())
            })
            .collect()
    }

    /// Submits the forward pass and loss over one chunk of at most `EVAL_ROWS` rows.
    fn forward(&mut self, xs: &[f32], ys: &[u8]) -> Result<()> {
        let m = ys.len();
        if !self.eval.iter().any(|(rows, _)| *rows == m) {
            let p = self.program(m, false)?;
            self.eval.push((m, p));
        }
        let q = self.ctx.queue();
        q.write_buffer(&self.x[0], 0, bytemuck::cast_slice(xs));
        q.write_buffer(&self.labels, 0, bytemuck::cast_slice(&widen(ys)));
        let mut encoder = self
            .ctx
            .device()
            .create_command_encoder(&Default::default());
        let (_, program) = self
            .eval
            .iter()
            .find(|(rows, _)| *rows == m)
            .expect("built");
        replay(&mut encoder, program);
        q.submit([encoder.finish()]);
        Ok(())
    }

    /// The weights and biases read back, as the CPU reference holds them.
    pub fn to_mlp(&self) -> Result<Mlp> {
        let (mut w, mut b) = (Vec::new(), Vec::new());
        for l in 0..self.layers() {
            let (n_in, ld) = (self.sizes[l], self.ld[l] as usize);
            let rows = self.sizes[l + 1];
            let padded = self.ctx.read_f32(&self.w[l], (rows * ld) as u64)?;
            w.push(padded.chunks(ld).flat_map(|r| r[..n_in].to_vec()).collect());
            b.push(self.ctx.read_f32(&self.b[l], rows as u64)?);
        }
        Ok(Mlp {
            sizes: self.sizes.clone(),
            act: self.act,
            slope: self.slope,
            w,
            b,
        })
    }
}

/// The program's dispatches in one compute pass (wgpu orders each after the writes it reads).
/// The summed loss of (loss, error) row records.
fn summed_loss(rows: &[f32]) -> f64 {
    rows.chunks(2).map(|r| f64::from(r[0])).sum()
}

/// Labels as the kernels read them.
fn widen(labels: &[u8]) -> Vec<u32> {
    labels.iter().map(|&y| u32::from(y)).collect()
}

fn replay(encoder: &mut wgpu::CommandEncoder, program: &Program) {
    let mut pass = encoder.begin_compute_pass(&Default::default());
    for d in &program.dispatches {
        pass.set_pipeline(&d.pipeline);
        pass.set_bind_group(0, &d.group, &[d.offset]);
        pass.dispatch_workgroups(d.grid.0, d.grid.1, 1);
    }
}

/// Tiles of `side` over `n` columns and `m` rows.
fn grid(n: u64, m: u64, side: u32) -> (u32, u32) {
    let side = u64::from(side);
    (n.div_ceil(side) as u32, m.div_ceil(side) as u32)
}

impl GpuMlp<'_> {
    /// The dispatches of a pass over `m` rows: forward and loss, then, when `train`, the
    /// gradients and updates of every layer from the top.
    fn program(&self, m: usize, train: bool) -> Result<Program> {
        let layers = self.layers();
        // Forward, loss, and per layer at most five more.
        let mut p = Program {
            uniforms: Uniforms::new(self.ctx, 1 + 6 * layers as u64),
            dispatches: Vec::new(),
        };
        let k = self.ctx.matmul_kernels()?;
        let (s, ld, m64) = (&self.sizes, &self.ld, m as u64);
        let top = &self.deltas[(layers - 1) % 2];
        for l in 0..layers {
            let act = if l + 1 < layers {
                self.act
            } else {
                Activation::Linear
            };
            let params = MatmulParams {
                m: m as u32,
                n: s[l + 1] as u32,
                k: s[l] as u32,
                lda: ld[l] as u32,
                ldb: ld[l] as u32,
                ldc: ld[l + 1] as u32,
                act: act.code(),
                slope: self.slope,
            };
            let o = self.operands(&self.x[l], &self.w[l], &self.b[l], &self.x[l + 1]);
            let g = grid(s[l + 1] as u64, m64, MATMUL_TILE);
            self.push(&mut p, &k.forward, &params, o, g)?;
        }
        let params = MatmulParams {
            m: m as u32,
            n: s[layers] as u32,
            ldc: ld[layers] as u32,
            ..Default::default()
        };
        let o = Operands {
            aux: &self.labels,
            partials: &self.rows,
            ..self.operands(&self.x[layers], &self.zero, &self.zero, top)
        };
        self.push(&mut p, &k.softmax_xent, &params, o, grid(m64, 1, 64))?;
        if train {
            for l in (0..layers).rev() {
                self.backward(&mut p, l)?;
            }
        }
        Ok(p)
    }

    /// Layer `l`'s gradients from its delta, the delta below it, and its SGD step (after
    /// the delta below, which reads the weight before the step).
    fn backward(&self, p: &mut Program, l: usize) -> Result<()> {
        let k = self.ctx.matmul_kernels()?;
        let (s, ld, b) = (&self.sizes, &self.ld, self.batch as u64);
        let (n_in, n_out) = (s[l] as u64, s[l + 1] as u64);
        let (delta, below) = (&self.deltas[l % 2], &self.deltas[(l + 1) % 2]);
        let wgrad = MatmulParams {
            m: n_out as u32,
            n: n_in as u32,
            k: b as u32,
            lda: ld[l + 1] as u32,
            ldb: ld[l] as u32,
            ldc: ld[l] as u32,
            act: Activation::Linear.code(),
            slope: 0.0,
        };
        let o = self.operands(delta, &self.x[l], &self.zero, &self.dw[l]);
        let g = grid(n_in, n_out, MATMUL_TILE);
        self.push(p, &k.weight_grad_store, &wgrad, o, g)?;
        let bgrad = MatmulParams {
            m: b as u32,
            n: n_out as u32,
            lda: ld[l + 1] as u32,
            ..Default::default()
        };
        let o = self.operands(delta, &self.zero, &self.zero, &self.db[l]);
        self.push(p, &k.bias_grad, &bgrad, o, grid(ld[l + 1], 1, 64))?;
        if l > 0 {
            let params = MatmulParams {
                m: b as u32,
                n: n_in as u32,
                k: n_out as u32,
                lda: ld[l + 1] as u32,
                ldb: ld[l] as u32,
                ldc: ld[l] as u32,
                act: self.act.code(),
                slope: self.slope,
            };
            let o = Operands {
                aux: &self.x[l],
                ..self.operands(delta, &self.w[l], &self.zero, below)
            };
            self.push(p, &k.backward, &params, o, grid(n_in, b, MATMUL_TILE))?;
        }
        for (v, g, rows, width) in [
            (&self.w[l], &self.dw[l], n_out, ld[l]),
            (&self.b[l], &self.db[l], 1, ld[l + 1]),
        ] {
            let params = MatmulParams {
                m: rows as u32,
                ldc: width as u32,
                slope: self.lr,
                ..Default::default()
            };
            let o = self.operands(g, &self.zero, &self.zero, v);
            let groups = (rows * width)
                .div_ceil(SGD_FLOATS_PER_GROUP)
                .min(self.ctx.max_workgroups());
            self.push(p, &k.sgd, &params, o, (groups as u32, 1))?;
        }
        Ok(())
    }

    /// A, B, bias and C; aux is the bias, partials the unused buffer.
    fn operands<'a>(
        &'a self,
        a: &'a wgpu::Buffer,
        b: &'a wgpu::Buffer,
        bias: &'a wgpu::Buffer,
        c: &'a wgpu::Buffer,
    ) -> Operands<'a> {
        Operands {
            a,
            b,
            bias,
            aux: bias,
            c,
            partials: &self.dummy,
        }
    }

    fn push(
        &self,
        p: &mut Program,
        pipeline: &wgpu::ComputePipeline,
        params: &MatmulParams,
        o: Operands,
        grid: (u32, u32),
    ) -> Result<()> {
        let max = self.ctx.max_workgroups();
        if u64::from(grid.0) > max || u64::from(grid.1) > max {
            return Err(Error::invalid(format!(
                "a training dispatch needs {grid:?} workgroups, past this adapter's {max} per dimension; reduce --batch or --width"
            )));
        }
        let offset = p.uniforms.push(params)?;
        let group = self.ctx.operand_group(&p.uniforms, &o)?;
        p.uniforms.upload(self.ctx);
        p.dispatches.push(Dispatch {
            pipeline: pipeline.clone(),
            group,
            offset,
            grid,
        });
        Ok(())
    }
}
