//! The CPU reference of training: a fully connected network (hidden layers with one
//! activation, a linear output layer), softmax and cross-entropy, the gradients of every
//! weight and bias by back-propagation, and the SGD step.

use rayon::prelude::*;

use crate::cpu::activation::{activate, activate_grad, Activation};
use crate::cpu::matmul::sgemm;
use crate::error::Result;
use crate::generator::Generator;
use crate::rng::{Fans, Layout, Scheme};

/// Layer `l` maps `sizes[l]` inputs to `sizes[l + 1]` outputs with `w[l]` (`[out, in]`,
/// row-major, as torch's Linear) and `b[l]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub sizes: Vec<usize>,
    pub act: Activation,
    pub slope: f32,
    pub w: Vec<Vec<f32>>,
    pub b: Vec<Vec<f32>>,
}

/// What one minibatch gave: its summed loss and errors, and every parameter's gradient of
/// the mean loss.
#[derive(Clone, Debug)]
pub struct Gradients {
    pub loss_sum: f64,
    pub errors: usize,
    pub dw: Vec<Vec<f32>>,
    pub db: Vec<Vec<f32>>,
}

impl Mlp {
    /// Weights from `scheme` on each layer's fans, layer `l` on stream `l` of `seed`;
    /// biases 0, as Glorot and Bengio's.
    pub fn new(
        sizes: &[usize],
        act: Activation,
        slope: f32,
        scheme: &Scheme,
        gen: &dyn Generator,
        seed: u64,
    ) -> Result<Mlp> {
        let mut w = Vec::new();
        for (l, pair) in sizes.windows(2).enumerate() {
            let (n_in, n_out) = (pair[0] as u64, pair[1] as u64);
            let fans = Fans::from_shape(&[n_out, n_in], Layout::Torch)?;
            let sampler = scheme.distribution(fans)?.sampler();
            w.push(gen.values(&sampler, (seed, l as u64, 0, n_in * n_out))?);
        }
        Ok(Mlp {
            sizes: sizes.to_vec(),
            act,
            slope,
            b: sizes[1..].iter().map(|&n| vec![0.0; n]).collect(),
            w,
        })
    }

    pub fn layers(&self) -> usize {
        self.w.len()
    }

    /// Every layer's output for the rows of `x` (`[batch, sizes[0]]`): `out[0]` is `x`,
    /// `out[L]` the logits.
    pub fn forward(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let batch = x.len() / self.sizes[0];
        let mut acts = vec![x.to_vec()];
        for l in 0..self.layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let mut z = vec![0.0f32; batch * n_out];
            let w = &self.w[l];
            sgemm(
                batch,
                n_out,
                n_in,
                (&acts[l], n_in as isize, 1),
                (w, 1, n_in as isize),
                &mut z,
            );
            let hidden = l + 1 < self.layers();
            let (act, slope, b) = (self.act, self.slope, &self.b[l]);
            z.par_chunks_mut(n_out).for_each(|row| {
                for (v, &bias) in row.iter_mut().zip(b) {
                    *v += bias;
                    if hidden {
                        *v = activate(act, slope, *v);
                    }
                }
            });
            acts.push(z);
        }
        acts
    }

    /// Loss and errors of the logits against `labels`, and the gradient of the mean loss
    /// with respect to the logits: (softmax - one-hot) / batch.
    pub fn softmax_cross_entropy(&self, logits: &[f32], labels: &[u8]) -> (f64, usize, Vec<f32>) {
        let classes = *self.sizes.last().expect("an output layer");
        let batch = labels.len();
        let mut delta = vec![0.0f32; logits.len()];
        let (mut loss, mut errors) = (0.0f64, 0usize);
        for (r, (row, d)) in logits
            .chunks(classes)
            .zip(delta.chunks_mut(classes))
            .enumerate()
        {
            let y = labels[r] as usize;
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row.iter().map(|&z| f64::from(z - m).exp()).collect();
            let s: f64 = e.iter().sum();
            loss += s.ln() - f64::from(row[y] - m);
            let best = (0..classes).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            errors += usize::from(best != y);
            for (k, dk) in d.iter_mut().enumerate() {
                let p = e[k] / s - if k == y { 1.0 } else { 0.0 };
                *dk = (p / batch as f64) as f32;
            }
        }
        (loss, errors, delta)
    }

    /// Forward, loss and back-propagation for one minibatch.
    pub fn gradients(&self, x: &[f32], labels: &[u8]) -> Gradients {
        let batch = labels.len();
        let acts = self.forward(x);
        let (loss_sum, errors, mut delta) =
            self.softmax_cross_entropy(&acts[self.layers()], labels);
        let mut dw = vec![Vec::new(); self.layers()];
        let mut db = vec![Vec::new(); self.layers()];
        for l in (0..self.layers()).rev() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            // dW = delta^T X_{l-1}; db = the column sums of delta.
            let mut g = vec![0.0f32; n_out * n_in];
            let x = &acts[l];
            sgemm(
                n_out,
                n_in,
                batch,
                (&delta, 1, n_out as isize),
                (x, n_in as isize, 1),
                &mut g,
            );
            dw[l] = g;
            db[l] = (0..n_out)
                .map(|o| (0..batch).map(|r| delta[r * n_out + o]).sum())
                .collect();
            if l > 0 {
                // delta_{l-1} = (delta W) * f'(X_{l-1}), f' from the layer's output.
                let mut prev = vec![0.0f32; batch * n_in];
                let w = &self.w[l];
                sgemm(
                    batch,
                    n_in,
                    n_out,
                    (&delta, n_out as isize, 1),
                    (w, n_in as isize, 1),
                    &mut prev,
                );
                for (p, &y) in prev.iter_mut().zip(&acts[l]) {
                    *p *= activate_grad(self.act, self.slope, y);
                }
                delta = prev;
            }
        }
        Gradients {
            loss_sum,
            errors,
            dw,
            db,
        }
    }

    /// w -= lr dw, b -= lr db.
    pub fn step(&mut self, g: &Gradients, lr: f32) {
        for (w, dw) in self.w.iter_mut().zip(&g.dw) {
            w.par_iter_mut().zip(dw).for_each(|(w, d)| *w -= lr * d);
        }
        for (b, db) in self.b.iter_mut().zip(&g.db) {
            for (b, d) in b.iter_mut().zip(db) {
                *b -= lr * d;
            }
        }
    }

    /// Summed loss and errors over `x` and `labels`, in batches of `chunk` rows.
    pub fn evaluate(&self, x: &[f32], labels: &[u8], chunk: usize) -> (f64, usize) {
        let n_in = self.sizes[0];
        let mut total = (0.0, 0);
        for (xs, ys) in x.chunks(chunk * n_in).zip(labels.chunks(chunk)) {
            let acts = self.forward(xs);
            let (loss, errors, _) = self.softmax_cross_entropy(&acts[self.layers()], ys);
            total = (total.0 + loss, total.1 + errors);
        }
        total
    }

    /// Multiply-adds of one sample's forward pass, times 2: FLOPs. Training costs three
    /// times that (forward, the input gradient, the weight gradient).
    pub fn forward_flops(&self) -> f64 {
        self.sizes
            .windows(2)
            .map(|p| 2.0 * (p[0] * p[1]) as f64)
            .sum()
    }
}
