//! The network kernels' operations on a [`Batch`]: a layer's products (forward, input
//! gradient, weight gradient stored or reduced), the top layer's delta, per-matrix
//! statistics, and the training steps (loss, bias gradient, SGD). Each spells out its
//! kernel's parameters and grid once; CPU twins in `src/cpu/`.

use super::batch::{Batch, Matrix, Op, Records};
use super::layer_stats::STATS_GROUPS;
use crate::abi::{Activation, MatmulParams, StatsParams, MATMUL_TILE, SGD_VEC, SIDE, TRAIN_WG};
use crate::error::{Error, Result};

/// Floats per `sgd` workgroup: four steps of its grid-striding loop per invocation (the
/// loop strides past the adapter's workgroup limit).
const SGD_FLOATS_PER_GROUP: u64 = 4 * (TRAIN_WG * SGD_VEC) as u64;

/// The parameters of `C[m, n] = A B` over `k`, with the row strides of A, B and C and the
/// epilogue's activation.
fn product(
    (m, n, k): (usize, usize, usize),
    [lda, ldb, ldc]: [usize; 3],
    (act, slope): (Activation, f32),
) -> MatmulParams {
    MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        lda: lda as u32,
        ldb: ldb as u32,
        ldc: ldc as u32,
        act: act.code(),
        slope,
        ..Default::default()
    }
}

fn grid(cols: u64, rows: u64, side: u32) -> (u32, u32) {
    let side = u64::from(side);
    (cols.div_ceil(side) as u32, rows.div_ceil(side) as u32)
}

impl Batch<'_> {
    /// `out[..rows] = f(x W^T + bias)` with `f` = `act` (leaky slope `slope`): the forward
    /// product of a layer, `w` `[n_out, n_in]`, `bias` `[1, n_out]` or none (zero).
    pub fn forward(
        &mut self,
        (x, w, bias): (&Matrix, &Matrix, Option<&Matrix>),
        (act, slope): (Activation, f32),
        out: &Matrix,
        rows: usize,
    ) -> Result<()> {
        let p = product((rows, w.rows, w.cols), [x.ld, w.ld, out.ld], (act, slope));
        let bias = bias.map_or(&self.zero, |b| &b.buffer).clone();
        let spare = self.spare.clone();
        let buffers = [&x.buffer, &w.buffer, &bias, &bias, &out.buffer, &spare];
        self.record(
            Op::Forward,
            &p,
            &buffers,
            grid(w.rows as u64, rows as u64, MATMUL_TILE),
        )?;
        self.count(2.0 * (rows * w.rows * w.cols) as f64)
    }

    /// `out[..rows] = (delta W) * f'(x_prev)`, `f'` from the layer's output `x_prev`: the
    /// input gradient of a layer.
    pub fn backward(
        &mut self,
        (delta, w, x_prev): (&Matrix, &Matrix, &Matrix),
        (act, slope): (Activation, f32),
        out: &Matrix,
        rows: usize,
    ) -> Result<()> {
        let p = product(
            (rows, w.cols, w.rows),
            [delta.ld, w.ld, out.ld],
            (act, slope),
        );
        let (zero, spare) = (self.zero.clone(), self.spare.clone());
        let buffers = [
            &delta.buffer,
            &w.buffer,
            &zero,
            &x_prev.buffer,
            &out.buffer,
            &spare,
        ];
        self.record(
            Op::Backward,
            &p,
            &buffers,
            grid(w.cols as u64, rows as u64, MATMUL_TILE),
        )?;
        self.count(2.0 * (rows * w.rows * w.cols) as f64)
    }

    /// The weight gradient `delta^T x` over `rows` rows: stored into `out` when given,
    /// else reduced tile by tile into statistics record `record` of `records` (never
    /// stored).
    pub fn weight_grad(
        &mut self,
        (delta, x): (&Matrix, &Matrix),
        rows: usize,
        out: WeightGrad,
    ) -> Result<()> {
        let (n_out, n_in) = (delta.cols, x.cols);
        let g = grid(n_in as u64, n_out as u64, MATMUL_TILE);
        let (zero, spare, partials) =
            (self.zero.clone(), self.spare.clone(), self.partials.clone());
        let mut p = product(
            (n_out, n_in, rows),
            [delta.ld, x.ld, 0],
            (Activation::Linear, 0.0),
        );
        match out {
            WeightGrad::Stored(dw) => {
                p.ldc = dw.ld as u32;
                let buffers = [&delta.buffer, &x.buffer, &zero, &zero, &dw.buffer, &spare];
                self.record(Op::WeightGradStore, &p, &buffers, g)?;
            }
            WeightGrad::Reduced(records, record) => {
                let buffers = [&delta.buffer, &x.buffer, &zero, &zero, &spare, &partials];
                self.record(Op::WeightGrad, &p, &buffers, g)?;
                let f = StatsParams {
                    record: record as u32,
                    partials: g.0 * g.1,
                    ..Default::default()
                };
                let buffers = [&zero, &partials, &records.buffer];
                self.record(Op::Finalize, &f, &buffers, (1, 1))?;
            }
        }
        self.count(2.0 * (rows * n_out * n_in) as f64)
    }

    /// `out = g * f'(x)`: the top layer's delta from a seeded gradient `g` (contiguous:
    /// `delta_top` reads it at row stride `cols`).
    pub fn delta_top(
        &mut self,
        (g, x): (&Matrix, &Matrix),
        (act, slope): (Activation, f32),
        out: &Matrix,
    ) -> Result<()> {
        if g.ld != g.cols {
            return Err(Error::Gpu(
                "internal: delta_top reads a contiguous gradient".into(),
            ));
        }
        let p = MatmulParams {
            m: g.rows as u32,
            n: g.cols as u32,
            lda: g.ld as u32,
            ldc: out.ld as u32,
            act: act.code(),
            slope,
            ..Default::default()
        };
        let (zero, spare) = (self.zero.clone(), self.spare.clone());
        let buffers = [&g.buffer, &zero, &zero, &x.buffer, &out.buffer, &spare];
        self.record(
            Op::DeltaTop,
            &p,
            &buffers,
            grid(g.cols as u64, g.rows as u64, SIDE),
        )
    }

    /// Moments, saturation under `act` and a histogram (on `range`, else the data's
    /// [min, max]) of `data[..rows]`, into statistics record `record` of `records`.
    pub fn stats(
        &mut self,
        (data, rows): (&Matrix, usize),
        act: Option<Activation>,
        range: Option<(f32, f32)>,
        (records, record): (&Records, usize),
    ) -> Result<()> {
        let groups = (rows as u64).min(STATS_GROUPS);
        let (lo, hi) = range.unwrap_or((0.0, 0.0));
        let p = StatsParams {
            rows: rows as u32,
            cols: data.cols as u32,
            ld: data.ld as u32,
            act: act.unwrap_or(Activation::Linear).code(),
            record: record as u32,
            partials: groups as u32,
            range_mode: u32::from(range.is_none()),
            groups: groups as u32,
            hist_lo: lo,
            hist_hi: hi,
            ..Default::default()
        };
        let partials = self.partials.clone();
        let buffers = [&data.buffer, &partials, &records.buffer];
        self.record(Op::Moments, &p, &buffers, (groups as u32, 1))?;
        self.record(Op::Finalize, &p, &buffers, (1, 1))?;
        self.record(Op::Histogram, &p, &buffers, (groups as u32, 1))
    }

    /// Softmax and cross-entropy of `logits[..rows]` against `labels` (u32 bits): `delta`
    /// gets the gradient of the mean loss, `losses` a (loss, error) pair per row.
    pub fn softmax_xent(
        &mut self,
        (logits, labels): (&Matrix, &Matrix),
        (delta, losses): (&Matrix, &Matrix),
        rows: usize,
    ) -> Result<()> {
        let p = MatmulParams {
            m: rows as u32,
            n: logits.cols as u32,
            ldc: logits.ld as u32,
            ..Default::default()
        };
        let zero = self.zero.clone();
        let buffers = [
            &logits.buffer,
            &zero,
            &zero,
            &labels.buffer,
            &delta.buffer,
            &losses.buffer,
        ];
        self.record(
            Op::SoftmaxXent,
            &p,
            &buffers,
            grid(rows as u64, 1, TRAIN_WG),
        )
    }

    /// `out` = the column sums of `delta[..rows]`: a bias gradient.
    pub fn bias_grad(&mut self, delta: &Matrix, rows: usize, out: &Matrix) -> Result<()> {
        let p = MatmulParams {
            m: rows as u32,
            n: delta.cols as u32,
            lda: delta.ld as u32,
            ..Default::default()
        };
        let (zero, spare) = (self.zero.clone(), self.spare.clone());
        let buffers = [&delta.buffer, &zero, &zero, &zero, &out.buffer, &spare];
        self.record(
            Op::BiasGrad,
            &p,
            &buffers,
            grid(delta.ld as u64, 1, TRAIN_WG),
        )
    }

    /// `param -= lr * grad` over the whole matrix, padding included (zero in both).
    pub fn sgd(&mut self, param: &Matrix, grad: &Matrix, lr: f32) -> Result<()> {
        let p = MatmulParams {
            m: param.rows as u32,
            ldc: param.ld as u32,
            lr,
            ..Default::default()
        };
        let groups = (param.rows as u64 * param.ld as u64)
            .div_ceil(SGD_FLOATS_PER_GROUP)
            .min(self.ctx.max_workgroups());
        let (zero, spare) = (self.zero.clone(), self.spare.clone());
        let buffers = [&grad.buffer, &zero, &zero, &zero, &param.buffer, &spare];
        self.record(Op::Sgd, &p, &buffers, (groups as u32, 1))
    }
}

/// Where a weight gradient goes.
pub enum WeightGrad<'a> {
    /// Stored, as training needs it.
    Stored(&'a Matrix),
    /// Reduced into a statistics record, as `propagate` needs it.
    Reduced(&'a Records, usize),
}
