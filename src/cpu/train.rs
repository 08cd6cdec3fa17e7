//! CPU twin of `shaders/train.wgsl`: the loss gradient at the output, the bias gradients and
//! the SGD step of `gpuinit train`. The loss is summed in f64 here and f32 on the GPU.

use rayon::prelude::*;

/// `softmax_xent` over the rows of `logits` (`[labels.len(), classes]`): the summed
/// cross-entropy, the rows whose first largest logit is not the label, and the gradient of
/// the mean loss with respect to the logits, (softmax - one-hot) / rows.
pub fn softmax_xent(logits: &[f32], labels: &[u8], classes: usize) -> (f64, usize, Vec<f32>) {
    let batch = labels.len() as f64;
    let mut delta = vec![0.0f32; logits.len()];
    let (mut loss, mut errors) = (0.0f64, 0usize);
    for ((row, d), &y) in logits
        .chunks(classes)
        .zip(delta.chunks_mut(classes))
        .zip(labels)
    {
        let y = usize::from(y);
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = row.iter().map(|&z| f64::from(z - m).exp()).collect();
        let s: f64 = e.iter().sum();
        loss += s.ln() - f64::from(row[y] - m);
        let best = (0..classes).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        errors += usize::from(best != y);
        for (k, dk) in d.iter_mut().enumerate() {
            let p = e[k] / s - if k == y { 1.0 } else { 0.0 };
            *dk = (p / batch) as f32;
        }
    }
    (loss, errors, delta)
}

/// `bias_grad`: the column sums of `delta` (`[rows, cols]`).
pub fn bias_grad(delta: &[f32], cols: usize) -> Vec<f32> {
    let mut g = vec![0.0f32; cols];
    for row in delta.chunks(cols) {
        for (g, &d) in g.iter_mut().zip(row) {
            *g += d;
        }
    }
    g
}

/// `sgd`: w -= lr g.
pub fn sgd(w: &mut [f32], g: &[f32], lr: f32) {
    w.par_iter_mut().zip(g).for_each(|(w, d)| *w -= lr * d);
}
