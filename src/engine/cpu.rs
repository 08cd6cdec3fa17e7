//! The CPU reference backend: every [`Backend`] operation by the CPU twins of the kernels
//! (`src/cpu/`), on every core, matrices contiguous in host memory. Statistics in f64.

use super::backend::{Act, Backend, Reduction};
use crate::abi::Activation;
use crate::cpu::backward::delta_top;
use crate::cpu::layer_stats::{hist_range, histogram, moments};
use crate::cpu::matmul::{backward_into, forward_into, matmul_weight_grad, weight_grad_into};
use crate::cpu::train::{bias_grad, sgd, softmax_xent};
use crate::error::{Error, Result};
use crate::rng::{Sampler, Span};

/// A matrix of the CPU backend: an index into its arena, and the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuMatrix {
    id: usize,
    pub rows: usize,
    pub cols: usize,
}

/// The CPU reference, with the matrices it made.
#[derive(Default)]
pub struct CpuBackend {
    data: Vec<Vec<f32>>,
    losses: Vec<(f64, usize)>,
    stats: Vec<Option<Reduction>>,
}

impl CpuBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, m: &CpuMatrix, rows: usize) -> &[f32] {
        &self.data[m.id][..rows * m.cols]
    }

    /// Runs `f` on `out`'s first `rows` rows while the other matrices stay readable.
    fn with_out<T>(
        &mut self,
        out: &CpuMatrix,
        rows: usize,
        f: impl FnOnce(&Self, &mut [f32]) -> T,
    ) -> T {
        let mut buf = std::mem::take(&mut self.data[out.id]);
        let r = f(self, &mut buf[..rows * out.cols]);
        self.data[out.id] = buf;
        r
    }

    fn slot(&mut self, slot: usize, r: Reduction) -> Result<()> {
        let cell = self
            .stats
            .get_mut(slot)
            .ok_or_else(|| Error::invalid(format!("statistics slot {slot} was not reserved")))?;
        *cell = Some(r);
        Ok(())
    }
}

impl Backend for CpuBackend {
    type Matrix = CpuMatrix;

    fn label(&self) -> String {
        format!(
            "cpu reference ({} threads, gemm)",
            rayon::current_num_threads()
        )
    }

    fn matrix(&mut self, what: &str, rows: usize, cols: usize) -> Result<CpuMatrix> {
        let n = rows
            .checked_mul(cols)
            .ok_or_else(|| Error::invalid(format!("{what} has more than 2^64 elements")))?;
        self.data.push(vec![0.0; n]);
        Ok(CpuMatrix {
            id: self.data.len() - 1,
            rows,
            cols,
        })
    }

    fn view(&mut self, m: &CpuMatrix, rows: usize, cols: usize) -> Result<CpuMatrix> {
        if rows * cols > self.data[m.id].len() {
            return Err(Error::invalid("internal: a view past its matrix"));
        }
        Ok(CpuMatrix {
            id: m.id,
            rows,
            cols,
        })
    }

    fn contiguous(&mut self, what: &str, rows: usize, cols: usize) -> Result<CpuMatrix> {
        self.matrix(what, rows, cols)
    }

    fn generate(&mut self, sampler: &Sampler, span: Span, dst: &CpuMatrix) -> Result<()> {
        let out = &mut self.data[dst.id][..dst.rows * dst.cols];
        if span.count != out.len() as u64 {
            return Err(Error::invalid(format!(
                "internal: {} values for a {}x{} matrix",
                span.count, dst.rows, dst.cols
            )));
        }
        crate::cpu::generate(sampler, span.seed, span.stream, span.first, out);
        Ok(())
    }

    fn upload(&mut self, dst: &CpuMatrix, data: &[f32]) -> Result<()> {
        self.data[dst.id][..data.len()].copy_from_slice(data);
        Ok(())
    }

    fn upload_labels(&mut self, dst: &CpuMatrix, labels: &[u8]) -> Result<()> {
        for (d, &y) in self.data[dst.id].iter_mut().zip(labels) {
            *d = f32::from(y);
        }
        Ok(())
    }

    fn read(&mut self, src: &CpuMatrix, rows: usize) -> Result<Vec<f32>> {
        Ok(self.get(src, rows).to_vec())
    }

    fn copy_rows(
        &mut self,
        (src, from): (&CpuMatrix, usize),
        (dst, to): (&CpuMatrix, usize),
        rows: usize,
    ) -> Result<()> {
        let c = src.cols;
        let part = self.data[src.id][from * c..(from + rows) * c].to_vec();
        self.data[dst.id][to * c..(to + rows) * c].copy_from_slice(&part);
        Ok(())
    }

    fn forward(
        &mut self,
        (x, w, bias): (&CpuMatrix, &CpuMatrix, Option<&CpuMatrix>),
        act: Act,
        out: &CpuMatrix,
        rows: usize,
    ) -> Result<()> {
        self.with_out(out, rows, |me, z| {
            let bias = bias.map(|b| me.get(b, 1));
            let inputs = (me.get(x, rows), me.get(w, w.rows), bias);
            forward_into(inputs, (rows, w.cols, w.rows), act, z);
        });
        Ok(())
    }

    fn backward(
        &mut self,
        (delta, w, x_prev): (&CpuMatrix, &CpuMatrix, &CpuMatrix),
        act: Act,
        out: &CpuMatrix,
        rows: usize,
    ) -> Result<()> {
        self.with_out(out, rows, |me, g| {
            let inputs = (me.get(delta, rows), me.get(w, w.rows), me.get(x_prev, rows));
            backward_into(inputs, (rows, w.cols, w.rows), act, g);
        });
        Ok(())
    }

    fn weight_grad(
        &mut self,
        (delta, x): (&CpuMatrix, &CpuMatrix),
        rows: usize,
        out: &CpuMatrix,
    ) -> Result<()> {
        self.with_out(out, delta.cols, |me, g| {
            let inputs = (me.get(delta, rows), me.get(x, rows));
            weight_grad_into(inputs, (rows, x.cols, delta.cols), g);
        });
        Ok(())
    }

    fn delta_top(
        &mut self,
        (g, x): (&CpuMatrix, &CpuMatrix),
        (act, slope): Act,
        out: &CpuMatrix,
    ) -> Result<()> {
        let d = delta_top(self.get(g, g.rows), self.get(x, g.rows), act, slope);
        self.data[out.id][..d.len()].copy_from_slice(&d);
        Ok(())
    }

    fn bias_grad(&mut self, delta: &CpuMatrix, rows: usize, out: &CpuMatrix) -> Result<()> {
        let g = bias_grad(self.get(delta, rows), delta.cols);
        self.data[out.id].copy_from_slice(&g);
        Ok(())
    }

    fn sgd(&mut self, param: &CpuMatrix, grad: &CpuMatrix, lr: f32) -> Result<()> {
        self.with_out(param, param.rows, |me, p| {
            sgd(p, me.get(grad, grad.rows), lr)
        });
        Ok(())
    }

    fn loss(
        &mut self,
        (logits, labels): (&CpuMatrix, &CpuMatrix),
        delta: &CpuMatrix,
        rows: usize,
    ) -> Result<()> {
        let ys: Vec<u8> = self.get(labels, rows).iter().map(|&y| y as u8).collect();
        let (loss, errors, d) = softmax_xent(self.get(logits, rows), &ys, logits.cols);
        self.data[delta.id][..d.len()].copy_from_slice(&d);
        self.losses.push((loss, errors));
        Ok(())
    }

    fn read_losses(&mut self) -> Result<Vec<(f64, usize)>> {
        Ok(std::mem::take(&mut self.losses))
    }

    fn reserve_stats(&mut self, n: usize) -> Result<()> {
        self.stats = vec![None; n];
        Ok(())
    }

    fn stats(
        &mut self,
        (data, rows): (&CpuMatrix, usize),
        act: Option<Activation>,
        range: Option<(f32, f32)>,
        slot: usize,
    ) -> Result<()> {
        let xs = self.get(data, rows);
        let m = moments(xs, act);
        let (lo, hi) = hist_range(range, &m);
        let counts = histogram(xs, lo, hi);
        self.slot(
            slot,
            Reduction {
                moments: m,
                histogram: Some((lo, hi, counts)),
            },
        )
    }

    fn weight_grad_stats(
        &mut self,
        (delta, x): (&CpuMatrix, &CpuMatrix),
        rows: usize,
        slot: usize,
    ) -> Result<()> {
        let inputs = (self.get(delta, rows), self.get(x, rows));
        let m = matmul_weight_grad(inputs, (rows, x.cols, delta.cols));
        self.slot(
            slot,
            Reduction {
                moments: m,
                histogram: None,
            },
        )
    }

    fn read_stats(&mut self) -> Result<Vec<Reduction>> {
        self.stats
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.clone()
                    .ok_or_else(|| Error::invalid(format!("statistics slot {i} was never written")))
            })
            .collect()
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
