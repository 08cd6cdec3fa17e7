//! The GPU backend: every [`Backend`] operation recorded into a [`Batch`] (WGSL kernels,
//! few submissions, bounded waits), matrices at the padded row stride the tiled kernel
//! reads. Only what [`Backend::read`], [`Backend::read_losses`] and
//! [`Backend::read_stats`] ask for comes back to the host.

use super::backend::{Act, Backend, Reduction};
use super::network::Network;
use super::plan::Plan;
use crate::abi::Activation;
use crate::cpu::layer_stats::Partial;
use crate::error::{Error, Result};
use crate::gpu::{Batch, GpuContext, Matrix, Records, WeightGrad};
use crate::rng::{Sampler, Span};

/// A network's work on one GPU.
pub struct GpuBackend<'c> {
    ctx: &'c GpuContext,
    batch: Batch<'c>,
    records: Option<Records>,
    /// Each row's (loss, error) from the last [`Backend::loss`], and where they are kept
    /// until read: `(matrix, rows used, rows of each pending loss)`.
    row_losses: Option<Matrix>,
    kept: Option<(Matrix, usize, Vec<usize>)>,
}

impl<'c> GpuBackend<'c> {
    /// A backend on `ctx` whose bias and zero operands are at most `widest` wide and whose
    /// reductions need at most `partials` partials.
    pub fn new(ctx: &'c GpuContext, widest: usize, partials: u64) -> Result<Self> {
        Ok(GpuBackend {
            ctx,
            batch: Batch::new(ctx, widest, partials)?,
            records: None,
            row_losses: None,
            kept: None,
        })
    }

    /// A backend for passes through `net`, refused before anything is allocated when this
    /// device cannot run one ([`Plan::check_device`]).
    pub fn for_network(ctx: &'c GpuContext, net: &Network, backward: bool) -> Result<Self> {
        ctx.matmul_kernels()?;
        ctx.stats_kernels()?;
        let plan = Plan::new(net, backward);
        plan.check_device(ctx, net, backward)?;
        let widest = net.widths.iter().copied().max().unwrap_or(1);
        Self::new(ctx, widest, plan.partials)
    }

    /// Room for `rows` more (loss, error) rows after the kept ones.
    fn keep_room(&mut self, rows: usize) -> Result<()> {
        let used = self.kept.as_ref().map_or(0, |k| k.1);
        let cap = self.kept.as_ref().map_or(0, |k| k.0.rows);
        if used + rows <= cap {
            return Ok(());
        }
        let grown = self
            .batch
            .contiguous("the loss records", (used + rows).max(2 * cap), 2)?;
        if let Some((old, used, pending)) = self.kept.take() {
            self.batch.copy_rows((&old, 0), (&grown, 0), used)?;
            self.kept = Some((grown, used, pending));
        } else {
            self.kept = Some((grown, 0, Vec::new()));
        }
        Ok(())
    }
}

impl Backend for GpuBackend<'_> {
    type Matrix = Matrix;

    fn label(&self) -> String {
        self.ctx.label()
    }

    fn matrix(&mut self, what: &str, rows: usize, cols: usize) -> Result<Matrix> {
        self.batch.matrix(what, rows, cols)
    }

    fn view(&mut self, m: &Matrix, rows: usize, cols: usize) -> Result<Matrix> {
        m.view(rows, cols)
    }

    fn contiguous(&mut self, what: &str, rows: usize, cols: usize) -> Result<Matrix> {
        self.batch.contiguous(what, rows, cols)
    }

    fn generate(&mut self, sampler: &Sampler, span: Span, dst: &Matrix) -> Result<()> {
        self.batch.generate(sampler, span, dst)
    }

    fn upload(&mut self, dst: &Matrix, data: &[f32]) -> Result<()> {
        self.batch.upload(dst, data)
    }

    fn upload_labels(&mut self, dst: &Matrix, labels: &[u8]) -> Result<()> {
        // The kernels read a label as the bits of a u32.
        let bits: Vec<f32> = labels
            .iter()
            .map(|&y| f32::from_bits(u32::from(y)))
            .collect();
        self.batch.upload(dst, &bits)
    }

    fn read(&mut self, src: &Matrix, rows: usize) -> Result<Vec<f32>> {
        self.batch.read(src, rows)
    }

    fn copy_rows(
        &mut self,
        src: (&Matrix, usize),
        dst: (&Matrix, usize),
        rows: usize,
    ) -> Result<()> {
        self.batch.copy_rows(src, dst, rows)
    }

    fn forward(
        &mut self,
        x_w_bias: (&Matrix, &Matrix, Option<&Matrix>),
        act: Act,
        out: &Matrix,
        rows: usize,
    ) -> Result<()> {
        self.batch.forward(x_w_bias, act, out, rows)
    }

    fn backward(
        &mut self,
        delta_w_x: (&Matrix, &Matrix, &Matrix),
        act: Act,
        out: &Matrix,
        rows: usize,
    ) -> Result<()> {
        self.batch.backward(delta_w_x, act, out, rows)
    }

    fn weight_grad(
        &mut self,
        delta_x: (&Matrix, &Matrix),
        rows: usize,
        out: &Matrix,
    ) -> Result<()> {
        self.batch
            .weight_grad(delta_x, rows, WeightGrad::Stored(out))
    }

    fn delta_top(&mut self, g_x: (&Matrix, &Matrix), act: Act, out: &Matrix) -> Result<()> {
        self.batch.delta_top(g_x, act, out)
    }

    fn bias_grad(&mut self, delta: &Matrix, rows: usize, out: &Matrix) -> Result<()> {
        self.batch.bias_grad(delta, rows, out)
    }

    fn sgd(&mut self, param: &Matrix, grad: &Matrix, lr: f32) -> Result<()> {
        self.batch.sgd(param, grad, lr)
    }

    fn loss(
        &mut self,
        logits_labels: (&Matrix, &Matrix),
        delta: &Matrix,
        rows: usize,
    ) -> Result<()> {
        if self.row_losses.as_ref().is_none_or(|m| m.rows < rows) {
            self.row_losses = Some(self.batch.contiguous("the row losses", rows, 2)?);
        }
        let row_losses = self.row_losses.clone().expect("just made");
        self.batch
            .softmax_xent(logits_labels, (delta, &row_losses), rows)?;
        self.keep_room(rows)?;
        let (kept, used, pending) = self.kept.as_mut().expect("room was made");
        let (kept, at) = (kept.clone(), *used);
        *used += rows;
        pending.push(rows);
        self.batch.copy_rows((&row_losses, 0), (&kept, at), rows)
    }

    fn read_losses(&mut self) -> Result<Vec<(f64, usize)>> {
        let Some((kept, used, pending)) = self.kept.as_mut() else {
            return Ok(Vec::new());
        };
        let (kept, used, pending) = (kept.clone(), std::mem::take(used), std::mem::take(pending));
        let rows = self.batch.read(&kept, used)?;
        let mut out = Vec::with_capacity(pending.len());
        let mut at = 0;
        for n in pending {
            let part = &rows[2 * at..2 * (at + n)];
            let loss = part.chunks(2).map(|r| f64::from(r[0])).sum();
            let errors = part.chunks(2).filter(|r| r[1] != 0.0).count();
            out.push((loss, errors));
            at += n;
        }
        Ok(out)
    }

    fn reserve_stats(&mut self, n: usize) -> Result<()> {
        self.records = Some(self.batch.records(n)?);
        Ok(())
    }

    fn stats(
        &mut self,
        data_rows: (&Matrix, usize),
        act: Option<Activation>,
        range: Option<(f32, f32)>,
        slot: usize,
    ) -> Result<()> {
        let records = self.records.as_ref().ok_or_else(unreserved)?;
        self.batch.stats(data_rows, act, range, (records, slot))
    }

    fn weight_grad_stats(
        &mut self,
        delta_x: (&Matrix, &Matrix),
        rows: usize,
        slot: usize,
    ) -> Result<()> {
        let records = self.records.as_ref().ok_or_else(unreserved)?;
        self.batch
            .weight_grad(delta_x, rows, WeightGrad::Reduced(records, slot))
    }

    fn read_stats(&mut self) -> Result<Vec<Reduction>> {
        let records = self.records.as_ref().ok_or_else(unreserved)?;
        let decoded = self.batch.read_records(records)?;
        Ok(decoded
            .into_iter()
            .map(|r| Reduction {
                moments: Partial {
                    n: r.n,
                    saturated: r.saturated,
                    nonfinite: r.nonfinite,
                    mean: r.mean,
                    m2: r.m2,
                    lo: r.min,
                    hi: r.max,
                },
                histogram: Some((r.hist_lo, r.hist_hi, r.bins)),
            })
            .collect())
    }

    fn finish(&mut self) -> Result<()> {
        self.batch.finish()
    }
}

fn unreserved() -> Error {
    Error::invalid("internal: statistics were not reserved")
}
