//! [`Batch`]: the network kernels' work (generation at a padded row stride, the matmul
//! family's products and training steps, the statistics reductions, copies) recorded into
//! few submissions, each wait bounded. Every kernel's parameters and grid are spelt out
//! here once; the engine above names no wgpu type.
//!
//! The kernels' own operations (a layer's products, its statistics, the training steps)
//! are `ops.rs`, each spelling out its parameters and grid once.
//!
//! Parameter blocks and bind groups are cached by what they hold, so a training step that
//! repeats the same dispatches each update records them with no new allocation. Dispatches
//! go into one compute pass until a copy or a submission closes it (wgpu orders each
//! dispatch after the writes it reads).

use std::collections::HashMap;

use bytemuck::Pod;

use super::context::GpuContext;
use super::layer_stats::{Record, STATS_GROUPS};
use super::matmul::padded;
use super::pipeline::Uniforms;
use crate::abi::{MatmulParams, Partial, RECORD_WORDS, SIDE};
use crate::error::{Error, Result};
use crate::rng::{Sampler, Span};

/// Work (in flops) recorded before a submission: waits stay short on slow adapters.
const FLUSH_FLOPS: f64 = 1.6e10;
/// Generation counted as this many flops an element (a Philox block and a normal
/// quantile), so that waits stay bounded when it dominates.
const GENERATE_FLOPS: f64 = 100.0;
/// Parameter blocks per cached page.
const PAGE_BLOCKS: u64 = 256;
/// Cached parameter blocks past which the caches are dropped at the next submission.
const MAX_CACHED: usize = 1 << 16;
/// Bytes of one statistics partial.
pub const PARTIAL_BYTES: u64 = std::mem::size_of::<Partial>() as u64;

/// A `[rows, cols]` f32 matrix on the device, row-major at row stride `ld` (floats), any
/// padding zero. Cloning shares the buffer.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub(super) buffer: wgpu::Buffer,
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
}

impl Matrix {
    /// The same buffer seen as a `[rows, cols]` matrix at the padded stride.
    pub fn view(&self, rows: usize, cols: usize) -> Result<Matrix> {
        let ld = padded(cols) as usize;
        if rows as u64 * ld as u64 * 4 > self.buffer.size() {
            return Err(Error::Gpu("internal: a view past its buffer".into()));
        }
        Ok(Matrix {
            buffer: self.buffer.clone(),
            rows,
            cols,
            ld,
        })
    }

    /// Bytes of `rows` rows.
    fn bytes(&self, rows: usize) -> u64 {
        rows as u64 * self.ld as u64 * 4
    }
}

/// The kernels a batch records, each with its own parameters and grid (`ops.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Forward,
    Backward,
    WeightGrad,
    WeightGradStore,
    DeltaTop,
    PadRows,
    SoftmaxXent,
    BiasGrad,
    Sgd,
    Moments,
    Finalize,
    Histogram,
}

impl Op {
    fn is_stats(self) -> bool {
        matches!(self, Op::Moments | Op::Finalize | Op::Histogram)
    }
}

struct Recorded {
    op: Op,
    group: wgpu::BindGroup,
    offset: u32,
    grid: (u32, u32),
}

/// Work for one device, recorded and submitted in bounded pieces.
pub struct Batch<'c> {
    pub(super) ctx: &'c GpuContext,
    encoder: Option<wgpu::CommandEncoder>,
    pass: Vec<Recorded>,
    pages: Vec<Uniforms>,
    params: HashMap<Vec<u8>, (usize, u32)>,
    groups: HashMap<(bool, usize, Vec<wgpu::Buffer>), wgpu::BindGroup>,
    /// A zero vector as wide as any bias, and a buffer for bindings a kernel never reads.
    pub(super) zero: wgpu::Buffer,
    pub(super) spare: wgpu::Buffer,
    scratch: Option<wgpu::Buffer>,
    /// Generation parameters of the open encoder, kept until it is submitted.
    retired: Vec<Uniforms>,
    /// Whether the open encoder reads the scratch buffer.
    scratch_pending: bool,
    pub(super) partials: wgpu::Buffer,
    flops: f64,
    in_flight: Option<wgpu::SubmissionIndex>,
}

impl<'c> Batch<'c> {
    /// An empty batch; `widest` is the widest row any bias or zero operand needs, and
    /// `partials` the statistics partials any reduction needs.
    pub fn new(ctx: &'c GpuContext, widest: usize, partials: u64) -> Result<Self> {
        ctx.matmul_kernels()?;
        ctx.stats_kernels()?;
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        Ok(Batch {
            ctx,
            encoder: None,
            pass: Vec::new(),
            pages: Vec::new(),
            params: HashMap::new(),
            groups: HashMap::new(),
            zero: ctx.buffer("zero", padded(widest.max(4)) * 4, usage),
            spare: ctx.buffer("unused", PARTIAL_BYTES, usage),
            scratch: None,
            retired: Vec::new(),
            scratch_pending: false,
            partials: ctx.buffer(
                "partials",
                partials.max(STATS_GROUPS) * PARTIAL_BYTES,
                usage,
            ),
            flops: 0.0,
            in_flight: None,
        })
    }

    /// A zeroed `[rows, cols]` matrix at row stride [`padded`]`(cols)`, refused past one
    /// storage binding (the message names `what`).
    pub fn matrix(&self, what: &str, rows: usize, cols: usize) -> Result<Matrix> {
        self.matrix_at(what, rows, cols, padded(cols) as usize)
    }

    /// A zeroed `[rows, cols]` matrix stored contiguously (row stride `cols`).
    pub fn contiguous(&self, what: &str, rows: usize, cols: usize) -> Result<Matrix> {
        self.matrix_at(what, rows, cols, cols)
    }

    fn matrix_at(&self, what: &str, rows: usize, cols: usize, ld: usize) -> Result<Matrix> {
        let bytes = rows as u64 * ld as u64 * 4;
        self.ctx.check_binding(what, bytes)?;
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        Ok(Matrix {
            buffer: self.ctx.buffer(what, bytes, usage),
            rows,
            cols,
            ld,
        })
    }

    /// The parameter block `p` in a cached page: its page and dynamic offset.
    fn param<T: Pod>(&mut self, p: &T) -> (usize, u32) {
        let bytes = bytemuck::bytes_of(p).to_vec();
        if let Some(&at) = self.params.get(&bytes) {
            return at;
        }
        if self.pages.last().is_none_or(|page| !page.has_room()) {
            self.pages.push(Uniforms::new(self.ctx, PAGE_BLOCKS));
        }
        let page = self.pages.len() - 1;
        let offset = self.pages[page]
            .push(p)
            .expect("a page with room takes one block");
        self.params.insert(bytes, (page, offset));
        (page, offset)
    }

    /// Records `op` over `buffers` with parameters `p` on `grid`.
    pub(super) fn record<T: Pod>(
        &mut self,
        op: Op,
        p: &T,
        buffers: &[&wgpu::Buffer],
        grid: (u32, u32),
    ) -> Result<()> {
        let max = self.ctx.max_workgroups();
        if u64::from(grid.0) > max || u64::from(grid.1) > max {
            return Err(Error::invalid(format!(
                "a dispatch needs {grid:?} workgroups, past this adapter's {max} per dimension; reduce --batch or --width"
            )));
        }
        let (page, offset) = self.param(p);
        let key = (
            op.is_stats(),
            page,
            buffers.iter().map(|b| (*b).clone()).collect(),
        );
        let group = match self.groups.get(&key) {
            Some(g) => g.clone(),
            None => {
                let g = self.bind(op, page, buffers)?;
                self.groups.insert(key, g.clone());
                g
            }
        };
        self.pass.push(Recorded {
            op,
            group,
            offset,
            grid,
        });
        Ok(())
    }

    fn bind(&self, op: Op, page: usize, buffers: &[&wgpu::Buffer]) -> Result<wgpu::BindGroup> {
        let uniforms = &self.pages[page];
        if op.is_stats() {
            let [data, partials, records] = buffers else {
                return Err(Error::Gpu(
                    "internal: a statistics dispatch binds 3 buffers".into(),
                ));
            };
            let k = self.ctx.stats_kernels()?;
            return Ok(k.group(self.ctx, uniforms, [data, partials, records]));
        }
        let [a, b, bias, aux, c, partials] = buffers else {
            return Err(Error::Gpu(
                "internal: a matmul-family dispatch binds 6 buffers".into(),
            ));
        };
        let o = super::matmul::Operands {
            a,
            b,
            bias,
            aux,
            c,
            partials,
        };
        Ok(self
            .ctx
            .matmul_kernels()?
            .operand_group(self.ctx, uniforms, &o))
    }

    fn pipeline(&self, op: Op) -> Result<&'c wgpu::ComputePipeline> {
        let ctx: &'c GpuContext = self.ctx;
        if op.is_stats() {
            let k = ctx.stats_kernels()?;
            return Ok(match op {
                Op::Moments => &k.moments,
                Op::Finalize => &k.finalize,
                _ => &k.histogram,
            });
        }
        let k = ctx.matmul_kernels()?;
        Ok(match op {
            Op::Forward => &k.forward,
            Op::Backward => &k.backward,
            Op::WeightGrad => &k.weight_grad,
            Op::WeightGradStore => &k.weight_grad_store,
            Op::DeltaTop => &k.delta_top,
            Op::PadRows => &k.pad_rows,
            Op::SoftmaxXent => &k.softmax_xent,
            Op::BiasGrad => &k.bias_grad,
            _ => &k.sgd,
        })
    }

    /// The open encoder, with the recorded dispatches in one compute pass.
    fn close_pass(&mut self) -> Result<&mut wgpu::CommandEncoder> {
        let pass = std::mem::take(&mut self.pass);
        let pipelines = pass
            .iter()
            .map(|r| self.pipeline(r.op))
            .collect::<Result<Vec<_>>>()?;
        let device = self.ctx.device();
        let encoder = self
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&Default::default()));
        if !pass.is_empty() {
            let mut cpass = encoder.begin_compute_pass(&Default::default());
            for (r, pipeline) in pass.iter().zip(pipelines) {
                cpass.set_pipeline(pipeline);
                cpass.set_bind_group(0, &r.group, &[r.offset]);
                cpass.dispatch_workgroups(r.grid.0, r.grid.1, 1);
            }
        }
        Ok(encoder)
    }

    /// Submits what is recorded, then waits (bounded) for the previous submission, so the
    /// device always has the next piece queued and each wait covers one piece.
    pub fn flush(&mut self) -> Result<Option<wgpu::SubmissionIndex>> {
        if self.pass.is_empty() && self.encoder.is_none() {
            return Ok(None);
        }
        self.close_pass()?;
        let encoder = self.encoder.take().expect("close_pass opens one");
        for page in &mut self.pages {
            page.upload(self.ctx);
        }
        let index = self.ctx.queue().submit([encoder.finish()]);
        if let Some(prev) = self.in_flight.replace(index.clone()) {
            self.ctx.wait(prev)?;
        }
        self.retired.clear();
        self.scratch_pending = false;
        self.flops = 0.0;
        if self.params.len() > MAX_CACHED {
            // Submitted work keeps what it binds; later work builds afresh.
            (self.params, self.groups) = Default::default();
            self.pages.clear();
        }
        Ok(Some(index))
    }

    /// Submits at the flop budget.
    pub(super) fn count(&mut self, flops: f64) -> Result<()> {
        self.flops += flops;
        if self.flops > FLUSH_FLOPS {
            self.flush()?;
        }
        Ok(())
    }

    /// Submits everything and waits for it.
    pub fn finish(&mut self) -> Result<()> {
        self.flush()?;
        match self.in_flight.take() {
            Some(i) => self.ctx.wait(i),
            None => Ok(()),
        }
    }

    /// `span`'s values under `sampler` as `dst`'s rows (element `r * cols + c` at row
    /// `r`, column `c`): in place when the rows are contiguous, else generated into a
    /// scratch buffer and laid out at the row stride by `pad_rows`.
    pub fn generate(&mut self, sampler: &Sampler, span: Span, dst: &Matrix) -> Result<()> {
        if span.count != (dst.rows * dst.cols) as u64 {
            return Err(Error::Gpu(format!(
                "internal: {} values for a {}x{} matrix",
                span.count, dst.rows, dst.cols
            )));
        }
        let job = super::generate::Job {
            kernel: super::generate::Kernel::Generate,
            sampler,
            span,
        };
        let ctx: &'c GpuContext = self.ctx;
        let kernels = ctx.generate_kernels();
        let passes = kernels.passes(&job);
        let mut uniforms = Uniforms::new(ctx, passes);
        if dst.ld == dst.cols {
            let encoder = self.close_pass()?;
            kernels.encode_chunks(ctx, (encoder, &mut uniforms), &job, (&dst.buffer, 0), None)?;
        } else {
            if self.scratch_pending {
                self.flush()?;
            }
            let bytes = span.count * 4;
            if self.scratch.as_ref().is_none_or(|s| s.size() < bytes) {
                let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
                self.scratch = Some(self.ctx.buffer("scratch", bytes, usage));
            }
            let scratch = self.scratch.clone().expect("just made");
            let encoder = self.close_pass()?;
            kernels.encode_chunks(ctx, (encoder, &mut uniforms), &job, (&scratch, 0), None)?;
            let p = MatmulParams {
                m: dst.rows as u32,
                n: dst.cols as u32,
                ldc: dst.ld as u32,
                ..Default::default()
            };
            let (zero, spare) = (self.zero.clone(), self.spare.clone());
            let g = (
                (dst.ld as u64).div_ceil(4 * u64::from(SIDE)) as u32,
                (dst.rows as u64).div_ceil(u64::from(SIDE)) as u32,
            );
            let buffers = [&scratch, &zero, &zero, &zero, &dst.buffer, &spare];
            self.record(Op::PadRows, &p, &buffers, g)?;
            self.scratch_pending = true;
        }
        // The generation's parameters are written before the submission that reads them,
        // and the buffer goes back to the pool only after that submission is queued.
        uniforms.upload(self.ctx);
        self.retired.push(uniforms);
        self.count(GENERATE_FLOPS * span.count as f64)
    }

    /// Copies `rows` rows of `src` from row `from` into `dst` from row `to` (same stride).
    pub fn copy_rows(
        &mut self,
        (src, from): (&Matrix, usize),
        (dst, to): (&Matrix, usize),
        rows: usize,
    ) -> Result<()> {
        if src.ld != dst.ld || from + rows > src.rows || to + rows > dst.rows {
            return Err(Error::Gpu(
                "internal: a row copy outside its matrices".into(),
            ));
        }
        let encoder = self.close_pass()?;
        encoder.copy_buffer_to_buffer(
            &src.buffer,
            src.bytes(from),
            &dst.buffer,
            dst.bytes(to),
            src.bytes(rows),
        );
        Ok(())
    }

    /// Writes `data` (`[rows, cols]`, contiguous) into `dst`'s first rows, after the work
    /// recorded so far (which is submitted first: a queue write lands before the next
    /// submission).
    pub fn upload(&mut self, dst: &Matrix, data: &[f32]) -> Result<()> {
        self.flush()?;
        let cols = dst.cols;
        if cols == dst.ld {
            self.ctx
                .queue()
                .write_buffer(&dst.buffer, 0, bytemuck::cast_slice(data));
            return Ok(());
        }
        let mut padded = vec![0.0f32; data.len() / cols.max(1) * dst.ld];
        for (row, src) in padded.chunks_mut(dst.ld).zip(data.chunks(cols)) {
            row[..cols].copy_from_slice(src);
        }
        self.ctx
            .queue()
            .write_buffer(&dst.buffer, 0, bytemuck::cast_slice(&padded));
        Ok(())
    }

    /// The first `rows` rows of `src`, unpadded, after everything recorded.
    pub fn read(&mut self, src: &Matrix, rows: usize) -> Result<Vec<f32>> {
        self.finish()?;
        let all = self.ctx.read_f32(&src.buffer, (rows * src.ld) as u64)?;
        if src.ld == src.cols {
            return Ok(all);
        }
        Ok(all
            .chunks(src.ld)
            .flat_map(|r| r[..src.cols].to_vec())
            .collect())
    }

    /// Room for `n` statistics records.
    pub fn records(&self, n: usize) -> Result<Records> {
        let bytes = n as u64 * u64::from(RECORD_WORDS) * 4;
        self.ctx
            .check_binding(&format!("the statistics of {n} matrices"), bytes)?;
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        Ok(Records {
            buffer: self.ctx.buffer("records", bytes, usage),
            n,
        })
    }

    /// Every record, after everything recorded (the only readback a statistics run needs).
    pub fn read_records(&mut self, records: &Records) -> Result<Vec<Record>> {
        self.finish()?;
        let bytes = records.n as u64 * u64::from(RECORD_WORDS) * 4;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&self.ctx.read(&records.buffer, bytes)?);
        Ok((0..records.n).map(|i| Record::decode(&words, i)).collect())
    }
}

/// Statistics records on the device.
pub struct Records {
    pub(super) buffer: wgpu::Buffer,
    n: usize,
}
