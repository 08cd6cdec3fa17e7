//! The CPU reference of training: a fully connected network (hidden layers with one
//! activation, a linear output layer), softmax and cross-entropy, the gradients of every
//! weight and bias by back-propagation, and the SGD step.

use rayon::prelude::*;

use crate::cpu::activation::{activate, activate_grad, Activation};
use crate::cpu::matmul::sgemm;
use crate::cpu::train::{bias_grad, sgd, softmax_xent};
use crate::error::Result;
use crate::generator::Generator;
use crate::rng::{Fans, Layout, Sampler, Scheme};

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

/// Each layer's weight distribution under `scheme`, from its fans as a torch Linear
/// (`[out, in]`).
pub fn weight_samplers(sizes: &[usize], scheme: &Scheme) -> Result<Vec<Sampler>> {
    sizes
        .windows(2)
        .map(|pair| {
            let fans = Fans::from_shape(&[pair[1] as u64, pair[0] as u64], Layout::Torch)?;
            Ok(scheme.distribution(fans)?.sampler())
        })
        .collect()
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
        for (l, sampler) in weight_samplers(sizes, scheme)?.iter().enumerate() {
            let count = (sizes[l] * sizes[l + 1]) as u64;
            w.push(gen.values(sampler, (seed, l as u64, 0, count))?);
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
    /// with respect to the logits.
    pub fn softmax_cross_entropy(&self, logits: &[f32], labels: &[u8]) -> (f64, usize, Vec<f32>) {
        softmax_xent(logits, labels, *self.sizes.last().expect("an output layer"))
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
            db[l] = bias_grad(&delta, n_out);
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
            sgd(w, dw, lr);
        }
        for (b, db) in self.b.iter_mut().zip(&g.db) {
            sgd(b, db, lr);
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
}
