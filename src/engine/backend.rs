//! [`Backend`]: the operations network code needs, implemented once for the GPU
//! ([`super::GpuBackend`], WGSL kernels) and once for the CPU reference
//! ([`super::CpuBackend`], their twins in `src/cpu/`). `propagate` and `train` are written
//! once over it, as candle's model code is over its backend traits.
//!
//! Matrices are row-major `[rows, cols]`; an operation's `rows` says how many leading rows
//! it covers (a matrix may be allocated for more). Work may be queued: results show in
//! [`Backend::read`], [`Backend::read_losses`] and [`Backend::read_stats`], which wait for
//! everything before them.

use crate::abi::Activation;
use crate::cpu::layer_stats::Partial;
use crate::error::Result;
use crate::rng::{Sampler, Span};

/// An activation with its leaky slope.
pub type Act = (Activation, f32);

/// One matrix's statistics: moments, and a histogram `(lo, hi, counts)` where asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduction {
    pub moments: Partial,
    pub histogram: Option<(f32, f32, Vec<u64>)>,
}

/// The operations of a fully connected network, its training and its statistics.
pub trait Backend {
    /// A matrix on this backend (cloning shares it).
    type Matrix: Clone;

    /// "cpu reference (2 threads, gemm)", or the adapter.
    fn label(&self) -> String;

    /// A zeroed `[rows, cols]` matrix; `what` names it in a refusal.
    fn matrix(&mut self, what: &str, rows: usize, cols: usize) -> Result<Self::Matrix>;

    /// `m`'s storage seen as a `[rows, cols]` matrix (it must hold one at its stride).
    fn view(&mut self, m: &Self::Matrix, rows: usize, cols: usize) -> Result<Self::Matrix>;

    /// A zeroed `[rows, cols]` matrix stored without row padding, as class labels and the
    /// top gradient [`delta_top`](Self::delta_top) reads are.
    fn contiguous(&mut self, what: &str, rows: usize, cols: usize) -> Result<Self::Matrix>;

    /// `span`'s values under `sampler` as `dst`'s elements in row-major order.
    fn generate(&mut self, sampler: &Sampler, span: Span, dst: &Self::Matrix) -> Result<()>;

    /// `data` (`[n, cols]`, contiguous) into `dst`'s first `n` rows.
    fn upload(&mut self, dst: &Self::Matrix, data: &[f32]) -> Result<()>;

    /// `labels` into `dst`'s first `labels.len()` rows.
    fn upload_labels(&mut self, dst: &Self::Matrix, labels: &[u8]) -> Result<()>;

    /// The first `rows` rows of `src`, contiguous.
    fn read(&mut self, src: &Self::Matrix, rows: usize) -> Result<Vec<f32>>;

    /// `rows` rows of `src` from row `from` into `dst` from row `to`.
    fn copy_rows(
        &mut self,
        src: (&Self::Matrix, usize),
        dst: (&Self::Matrix, usize),
        rows: usize,
    ) -> Result<()>;

    /// `out = f(x W^T + bias)` over `rows` rows, `W` `[n_out, n_in]` (torch's Linear),
    /// bias zero when `None`.
    fn forward(
        &mut self,
        x_w_bias: (&Self::Matrix, &Self::Matrix, Option<&Self::Matrix>),
        act: Act,
        out: &Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// `out = (delta W) * f'(x_prev)`, `f'` from the layer below's output `x_prev`.
    fn backward(
        &mut self,
        delta_w_x: (&Self::Matrix, &Self::Matrix, &Self::Matrix),
        act: Act,
        out: &Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// `out = delta^T x` over `rows` rows: a weight gradient, stored.
    fn weight_grad(
        &mut self,
        delta_x: (&Self::Matrix, &Self::Matrix),
        rows: usize,
        out: &Self::Matrix,
    ) -> Result<()>;

    /// `out = g * f'(x)`: the top layer's delta from a gradient `g` of its output (a
    /// [`contiguous`](Self::contiguous) matrix).
    fn delta_top(
        &mut self,
        g_x: (&Self::Matrix, &Self::Matrix),
        act: Act,
        out: &Self::Matrix,
    ) -> Result<()>;

    /// `out` = the column sums of `delta`'s first `rows` rows: a bias gradient.
    fn bias_grad(&mut self, delta: &Self::Matrix, rows: usize, out: &Self::Matrix) -> Result<()>;

    /// `param -= lr * grad`.
    fn sgd(&mut self, param: &Self::Matrix, grad: &Self::Matrix, lr: f32) -> Result<()>;

    /// Softmax and cross-entropy of `logits` against `labels` over `rows` rows: `delta`
    /// gets the gradient of the mean loss; the summed loss and the errors are queued for
    /// [`read_losses`](Self::read_losses).
    fn loss(
        &mut self,
        logits_labels: (&Self::Matrix, &Self::Matrix),
        delta: &Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// (summed loss, errors) of every [`loss`](Self::loss) since the last call, in order.
    fn read_losses(&mut self) -> Result<Vec<(f64, usize)>>;

    /// Room for statistics `0 .. n`; earlier ones are dropped.
    fn reserve_stats(&mut self, n: usize) -> Result<()>;

    /// Statistics `slot`: moments of `data`'s first `rows` rows, saturation under `act`,
    /// and a histogram on `range` (else on the data's [min, max]).
    fn stats(
        &mut self,
        data_rows: (&Self::Matrix, usize),
        act: Option<Activation>,
        range: Option<(f32, f32)>,
        slot: usize,
    ) -> Result<()>;

    /// Statistics `slot`: moments of the weight gradient `delta^T x` over `rows` rows,
    /// without storing it.
    fn weight_grad_stats(
        &mut self,
        delta_x: (&Self::Matrix, &Self::Matrix),
        rows: usize,
        slot: usize,
    ) -> Result<()>;

    /// Every reserved statistic, in slot order.
    fn read_stats(&mut self) -> Result<Vec<Reduction>>;

    /// Waits for everything queued.
    fn finish(&mut self) -> Result<()>;
}
