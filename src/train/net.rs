//! A fully connected network in training on any [`Backend`]: hidden layers of one
//! activation, a linear output, softmax and cross-entropy, back-propagation and the SGD
//! step, written once. On the GPU every step is a WGSL kernel and the weights never leave
//! the device; on the CPU reference each step is its twin in `src/cpu/`.
//!
//! Layer `l` maps `sizes[l]` inputs to `sizes[l + 1]` outputs with `w[l]` (`[out, in]`,
//! row-major, as torch's Linear) and `b[l]`; its initial weights are stream `l` of the seed
//! ([`WEIGHT_STREAM`]), its biases 0, as Glorot and Bengio's.

use crate::abi::Activation;
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::rng::{layer_stream, Fans, Layout, Sampler, Scheme, Span};

/// Images uploaded at once (16 MiB of Shapeset pixels); a block of updates reads them in
/// order.
pub const DATA_IMAGES: usize = 4096;
/// Rows the test and validation images are evaluated in.
pub const EVAL_ROWS: usize = 1000;
/// Stream of layer 0's weights; layer `l` takes the next ones ([`layer_stream`]).
pub const WEIGHT_STREAM: u64 = 0;

/// Every layer's weights (`[out, in]` row-major) and biases.
pub type Params = (Vec<Vec<f32>>, Vec<Vec<f32>>);

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

/// Where layer `l`'s initial weights come from.
pub fn weight_span(sizes: &[usize], seed: u64, l: usize) -> Span {
    let count = (sizes[l] * sizes[l + 1]) as u64;
    Span::whole(seed, layer_stream(WEIGHT_STREAM, l), count)
}

/// A network being trained on one backend at one learning rate.
///
/// ```
/// use gpuinit::engine::CpuBackend;
/// use gpuinit::propagate::Activation;
/// use gpuinit::train::Trainer;
/// use gpuinit::{shapeset, Scheme};
///
/// # fn main() -> gpuinit::Result<()> {
/// // Shapeset-3x2 (32x32 pixels, 9 classes), one hidden layer of 32, batch 10, rate 0.1.
/// let scheme = Scheme::parse_spec("xavier_uniform")?;
/// let sizes = [shapeset::PIXELS, 32, shapeset::CLASSES];
/// let mut net = Trainer::new(CpuBackend::new(), &sizes, (Activation::Tanh, 0.0), (&scheme, 7), (10, 0.1))?;
/// let (x, y) = shapeset::batch(7, 0, 2000)?;
/// let losses = net.updates(&x, &y)?; // 200 updates of 10 images
/// let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64 / 10.0;
/// assert!(mean(&losses[150..]) < mean(&losses[..50]));
/// # Ok(())
/// # }
/// ```
pub struct Trainer<B: Backend> {
    backend: B,
    pub sizes: Vec<usize>,
    pub act: Activation,
    pub slope: f32,
    batch: usize,
    lr: f32,
    w: Vec<B::Matrix>,
    b: Vec<B::Matrix>,
    dw: Vec<B::Matrix>,
    db: Vec<B::Matrix>,
    /// X_0 (the input) .. X_L (the logits), `max(batch, EVAL_ROWS)` rows each.
    x: Vec<B::Matrix>,
    deltas: [B::Matrix; 2],
    labels: B::Matrix,
    data: B::Matrix,
    data_labels: B::Matrix,
}

impl<B: Backend> Trainer<B> {
    /// Weights generated on the backend from `scheme` (layer `l` on stream `l` of `seed`),
    /// biases 0.
    pub fn new(
        backend: B,
        sizes: &[usize],
        (act, slope): (Activation, f32),
        (scheme, seed): (&Scheme, u64),
        (batch, lr): (usize, f32),
    ) -> Result<Self> {
        let samplers = weight_samplers(sizes, scheme)?;
        let mut t = Self::allocate(backend, sizes, (act, slope), batch, lr)?;
        for (l, sampler) in samplers.iter().enumerate() {
            let span = weight_span(sizes, seed, l);
            t.backend.generate(sampler, span, &t.w[l])?;
        }
        Ok(t)
    }

    /// Given weights and biases (`w[l]` `[sizes[l + 1], sizes[l]]`), uploaded as they are.
    pub fn from_weights(
        backend: B,
        sizes: &[usize],
        act: (Activation, f32),
        (w, b): (&[Vec<f32>], &[Vec<f32>]),
        (batch, lr): (usize, f32),
    ) -> Result<Self> {
        let mut t = Self::allocate(backend, sizes, act, batch, lr)?;
        t.set_weights(w, b)?;
        Ok(t)
    }

    fn allocate(
        mut backend: B,
        sizes: &[usize],
        (act, slope): (Activation, f32),
        batch: usize,
        lr: f32,
    ) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) || batch == 0 {
            return Err(Error::invalid(format!(
                "a network needs an input and an output size and a batch, all positive: sizes {sizes:?}, batch {batch}"
            )));
        }
        let layers = sizes.len() - 1;
        let rows = batch.max(EVAL_ROWS);
        let widest = sizes.iter().copied().max().unwrap_or(1);
        let images = DATA_IMAGES.max(batch);
        let mut per_layer = |what: &str, shape: &dyn Fn(usize) -> (usize, usize)| {
            (0..layers)
                .map(|l| backend.matrix(what, shape(l).0, shape(l).1))
                .collect::<Result<Vec<_>>>()
        };
        let w = per_layer("a weight matrix", &|l| (sizes[l + 1], sizes[l]))?;
        let dw = per_layer("a weight matrix", &|l| (sizes[l + 1], sizes[l]))?;
        let b = per_layer("a bias", &|l| (1, sizes[l + 1]))?;
        let db = per_layer("a bias", &|l| (1, sizes[l + 1]))?;
        let x = (0..=layers)
            .map(|l| backend.matrix("a layer's activations", rows, sizes[l]))
            .collect::<Result<Vec<_>>>()?;
        let deltas = [
            backend.matrix("a layer's activations", rows, widest)?,
            backend.matrix("a layer's activations", rows, widest)?,
        ];
        let labels = backend.contiguous("the labels", rows, 1)?;
        let data = backend.matrix("a block of training images", images, sizes[0])?;
        let data_labels = backend.contiguous("a block of labels", images, 1)?;
        Ok(Trainer {
            backend,
            sizes: sizes.to_vec(),
            act,
            slope,
            batch,
            lr,
            w,
            b,
            dw,
            db,
            x,
            deltas,
            labels,
            data,
            data_labels,
        })
    }

    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Where it trains.
    pub fn label(&self) -> String {
        self.backend.label()
    }

    /// Replaces every weight and bias.
    pub fn set_weights(&mut self, w: &[Vec<f32>], b: &[Vec<f32>]) -> Result<()> {
        for l in 0..self.layers() {
            self.backend.upload(&self.w[l], &w[l])?;
            self.backend.upload(&self.b[l], &b[l])?;
        }
        Ok(())
    }

    /// Every weight and bias, read back.
    pub fn weights(&mut self) -> Result<Params> {
        let (mut w, mut b) = (Vec::new(), Vec::new());
        for l in 0..self.layers() {
            w.push(self.backend.read(&self.w[l], self.sizes[l + 1])?);
            b.push(self.backend.read(&self.b[l], 1)?);
        }
        Ok((w, b))
    }

    /// `delta_l`, `[rows, sizes[l + 1]]`: the gradient at layer `l`'s pre-activations.
    fn delta(&mut self, l: usize, rows: usize) -> Result<B::Matrix> {
        let m = self.deltas[l % 2].clone();
        self.backend.view(&m, rows, self.sizes[l + 1])
    }

    /// X_1 .. X_L for the first `rows` rows of X_0, then the loss against the labels (its
    /// gradient in the top delta).
    fn forward(&mut self, rows: usize) -> Result<()> {
        self.layer_outputs(rows)?;
        let layers = self.layers();
        let top = self.delta(layers - 1, rows)?;
        let logits = (&self.x[layers], &self.labels);
        self.backend.loss(logits, &top, rows)
    }

    /// X_1 .. X_L for the first `rows` rows of X_0.
    fn layer_outputs(&mut self, rows: usize) -> Result<()> {
        let layers = self.layers();
        for l in 0..layers {
            let act = if l + 1 < layers {
                self.act
            } else {
                Activation::Linear
            };
            let inputs = (&self.x[l], &self.w[l], Some(&self.b[l]));
            self.backend
                .forward(inputs, (act, self.slope), &self.x[l + 1], rows)?;
        }
        Ok(())
    }

    /// Layer `l`'s gradients from its delta, the delta below it, and (when `lr` is given)
    /// its SGD step, after the delta below, which reads the weight before the step.
    fn backward(&mut self, l: usize, rows: usize, lr: Option<f32>) -> Result<()> {
        let delta = self.delta(l, rows)?;
        let be = &mut self.backend;
        be.weight_grad((&delta, &self.x[l]), rows, &self.dw[l])?;
        be.bias_grad(&delta, rows, &self.db[l])?;
        if l > 0 {
            let below = self.delta(l - 1, rows)?;
            let inputs = (&delta, &self.w[l], &self.x[l]);
            self.backend
                .backward(inputs, (self.act, self.slope), &below, rows)?;
        }
        if let Some(lr) = lr {
            self.backend.sgd(&self.w[l], &self.dw[l], lr)?;
            self.backend.sgd(&self.b[l], &self.db[l], lr)?;
        }
        Ok(())
    }

    /// The rows of `x` and `labels` into X_0 and the labels.
    fn load(&mut self, x: &[f32], labels: &[u8]) -> Result<()> {
        self.backend.upload(&self.x[0], x)?;
        self.backend.upload_labels(&self.labels, labels)
    }

    /// One update per `batch` rows of `x` (`[n, sizes[0]]`) and `labels`, in order; the
    /// summed loss of each update. Images go up a block at a time; the losses come back
    /// once a block.
    pub fn updates(&mut self, x: &[f32], labels: &[u8]) -> Result<Vec<f64>> {
        let (b, n_in) = (self.batch, self.sizes[0]);
        let per_block = (DATA_IMAGES / b).max(1);
        let mut losses = Vec::with_capacity(labels.len() / b);
        for (xs, ys) in x
            .chunks(per_block * b * n_in)
            .zip(labels.chunks(per_block * b))
        {
            self.backend.upload(&self.data, xs)?;
            self.backend.upload_labels(&self.data_labels, ys)?;
            for s in 0..ys.len() / b {
                self.backend
                    .copy_rows((&self.data, s * b), (&self.x[0], 0), b)?;
                self.backend
                    .copy_rows((&self.data_labels, s * b), (&self.labels, 0), b)?;
                self.forward(b)?;
                for l in (0..self.layers()).rev() {
                    self.backward(l, b, Some(self.lr))?;
                }
            }
            losses.extend(self.backend.read_losses()?.into_iter().map(|(l, _)| l));
        }
        Ok(losses)
    }

    /// Forward, loss and back-propagation for one minibatch, with no step.
    pub fn gradients(&mut self, x: &[f32], labels: &[u8]) -> Result<Gradients> {
        let rows = labels.len();
        self.load(x, labels)?;
        self.forward(rows)?;
        for l in (0..self.layers()).rev() {
            self.backward(l, rows, None)?;
        }
        let (loss_sum, errors) = self.backend.read_losses()?[0];
        let (mut dw, mut db) = (Vec::new(), Vec::new());
        for l in 0..self.layers() {
            dw.push(self.backend.read(&self.dw[l], self.sizes[l + 1])?);
            db.push(self.backend.read(&self.db[l], 1)?);
        }
        Ok(Gradients {
            loss_sum,
            errors,
            dw,
            db,
        })
    }

    /// Summed loss and errors over `x` and `labels`, forward only, `EVAL_ROWS` at a time.
    pub fn evaluate(&mut self, x: &[f32], labels: &[u8]) -> Result<(f64, usize)> {
        let n_in = self.sizes[0];
        for (xs, ys) in x.chunks(EVAL_ROWS * n_in).zip(labels.chunks(EVAL_ROWS)) {
            self.load(xs, ys)?;
            self.forward(ys.len())?;
        }
        Ok(self
            .backend
            .read_losses()?
            .into_iter()
            .fold((0.0, 0), |t, (l, e)| (t.0 + l, t.1 + e)))
    }

    /// Every hidden layer's output for the rows of `x` (at most `EVAL_ROWS`), each
    /// `[rows, width]`: the layers alone, no loss (so nothing else is read back).
    pub fn hidden(&mut self, x: &[f32], labels: &[u8]) -> Result<Vec<Vec<f32>>> {
        let rows = labels.len();
        self.load(x, labels)?;
        self.layer_outputs(rows)?;
        (1..self.layers())
            .map(|l| self.backend.read(&self.x[l], rows))
            .collect()
    }
}
