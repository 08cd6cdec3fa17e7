//! `gpuinit train`: does the initialization make a deep network learn? Glorot and Bengio's
//! Shapeset experiment: a fully connected network trained by minibatch SGD with a constant
//! learning rate on a stream of Shapeset-3x2 images (each update a fresh minibatch, as
//! their online training), every scheme from its own initial weights on the same images,
//! with the test error at log-spaced checkpoints. The network ([`net::Trainer`]) is written
//! once over the engine's backend: each step runs on the GPU (WGSL kernels) or on the CPU
//! reference.

pub mod net;
#[cfg(test)]
mod tests;

use std::time::Instant;

use serde::Serialize;

use crate::cpu::activation::Activation;
use crate::cpu::layer_stats::moments;
use crate::engine::{Backend, CpuBackend, GpuBackend};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::host::{available_memory, gib};
use crate::progress::Progress;
use crate::rng::Scheme;
use crate::shapeset::{self, Set, CLASSES, PIXELS};
use crate::stats::summary_of;
pub use net::{Gradients, Trainer, EVAL_ROWS};

/// Where a network trains.
#[derive(Clone, Copy)]
pub enum Device<'c> {
    Cpu,
    Gpu(&'c GpuContext),
}

impl Device<'_> {
    pub fn label(&self) -> String {
        match self {
            Device::Cpu => "cpu".into(),
            Device::Gpu(ctx) => ctx.label(),
        }
    }
}

/// Training images drawn at once (a block of updates' worth, about 400 MB).
const TRAIN_BLOCK_IMAGES: u64 = 100_000;

/// What to train.
#[derive(Clone, Debug, Serialize)]
pub struct Options {
    /// Hidden layers and their width.
    pub depth: usize,
    pub width: usize,
    pub activation: Activation,
    pub slope: f32,
    pub updates: u64,
    pub batch: usize,
    /// Learning rates: one, or a grid the validation error chooses from.
    pub lrs: Vec<f32>,
    pub seed: u64,
    pub test_images: u64,
    pub validation_images: u64,
    /// Record each hidden layer's activation statistics at every checkpoint.
    pub track_layers: bool,
}

impl Options {
    /// Refuses what cannot train: no layers, an empty or non-positive rate, sizes past
    /// what memory holds.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(m));
        if self.depth == 0 || self.width == 0 || self.batch == 0 || self.updates == 0 {
            return bad(format!(
                "depth {}, width {}, batch {} and updates {} must all be positive",
                self.depth, self.width, self.batch, self.updates
            ));
        }
        if let Some(lr) = self.lrs.iter().find(|lr| !(lr.is_finite() && **lr > 0.0)) {
            return bad(format!(
                "learning rate {lr} is not a positive finite number"
            ));
        }
        if self.lrs.is_empty() {
            return bad("no learning rate given".into());
        }
        let params = (PIXELS + self.width) as u64 * self.width as u64 * self.depth as u64;
        if self.width > 1 << 16 || self.depth > 1000 || params > 1 << 31 || self.batch > 1 << 16 {
            return bad(format!(
                "depth {} x width {} (batch {}) is past what gpuinit trains (width 65536, depth 1000, 2^31 weights, batch 65536)",
                self.depth, self.width, self.batch
            ));
        }
        if self
            .updates
            .checked_mul(self.batch as u64)
            .is_none_or(|n| n > Set::Train.images())
        {
            return bad(format!(
                "{} updates of {} images pass the training set's 2^56",
                self.updates, self.batch
            ));
        }
        if !(self.slope.is_finite() && (0.0..1.0).contains(&self.slope)) {
            return bad(format!(
                "negative slope must be in [0, 1), got {}",
                self.slope
            ));
        }
        for (flag, n, least) in [
            ("--test-images", self.test_images, 1),
            ("--validation-images", self.validation_images, 0),
        ] {
            if n < least || n > 1 << 24 {
                return bad(format!("{flag} {n} is not in {least}..=2^24"));
            }
        }
        if self.lrs.len() > 1 && self.validation_images == 0 {
            return bad(format!(
                "a learning-rate grid ({} rates) chooses by the validation error: --validation-images 0 leaves nothing to choose by",
                self.lrs.len()
            ));
        }
        self.check_memory()
    }

    /// Images a block of training updates draws at once.
    fn block_images(&self) -> u64 {
        (TRAIN_BLOCK_IMAGES / self.batch as u64).max(1) * self.batch as u64
    }

    /// Refuses image sets the host cannot hold: the test and validation images stay in
    /// memory for the whole run, beside a block of training images, and each set is drawn
    /// whole (twice its size while its images are gathered).
    fn check_memory(&self) -> Result<()> {
        let per_image = (PIXELS * 4 + 1) as u64;
        // Validation images are drawn only for a grid.
        let val = if self.lrs.len() > 1 {
            self.validation_images
        } else {
            0
        };
        let (test, block) = (self.test_images, self.block_images());
        let images = (2 * test).max(test + 2 * val).max(test + val + 2 * block);
        let needed = images.saturating_mul(per_image);
        match available_memory() {
            Some(free) if needed > free => Err(Error::invalid(format!(
                "--test-images {test} and --validation-images {val} need {:.2} GiB of host memory (with a block of {block} training images), above the {:.2} GiB available",
                gib(needed),
                gib(free)
            ))),
            _ => Ok(()),
        }
    }

    /// Input, hidden and output sizes.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![PIXELS];
        s.extend(std::iter::repeat_n(self.width, self.depth));
        s.push(CLASSES);
        s
    }
}

/// The test error after `updates` updates, and the mean training loss since the last
/// checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Checkpoint {
    pub updates: u64,
    pub train_loss: f64,
    pub test_error: f64,
    /// With `track_layers`: each hidden layer's outputs on the first [`TRACK_IMAGES`] test
    /// images, as `propagate` reports them at initialization; else empty.
    pub layers: Vec<LayerTrack>,
}

/// Test images the layer statistics are taken over.
pub const TRACK_IMAGES: usize = 1000;

/// One hidden layer's outputs at a checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct LayerTrack {
    /// 1 for the first hidden layer.
    pub layer: usize,
    pub mean: f64,
    pub std: f64,
    /// Fraction saturated, for activations that saturate (`propagate`'s rule).
    pub saturated: Option<f64>,
    /// Values that were inf or NaN.
    pub nonfinite: u64,
}

/// The statistics of every hidden layer's outputs for the rows of `x`, as `propagate`
/// summarizes a layer.
fn track<B: Backend>(
    learner: &mut Trainer<B>,
    act: Activation,
    x: &[f32],
    y: &[u8],
) -> Result<Vec<LayerTrack>> {
    let rows = y.len().min(TRACK_IMAGES);
    let hidden = learner.hidden(&x[..rows * PIXELS], &y[..rows])?;
    Ok(hidden
        .iter()
        .enumerate()
        .map(|(i, xs)| {
            let s = summary_of(&moments(xs, Some(act)), Some(act), None);
            LayerTrack {
                layer: i + 1,
                mean: s.mean,
                std: s.std,
                saturated: s.saturated,
                nonfinite: s.nonfinite,
            }
        })
        .collect())
}

/// One scheme's run (at the rate the grid chose).
#[derive(Clone, Debug, Serialize)]
pub struct SchemeRun {
    pub scheme: String,
    /// Where it trained: "cpu" or the adapter.
    pub device: String,
    pub lr: f32,
    /// Each rate tried and its validation error (empty without a grid); None: diverged.
    pub lr_grid: Vec<(f32, Option<f64>)>,
    pub checkpoints: Vec<Checkpoint>,
    pub test_errors: u64,
    pub test_images: u64,
    pub test_error: f64,
    /// Wilson 95% interval of the test error.
    pub interval: (f64, f64),
    /// Time in training steps (not evaluation), samples a second, GFLOP/s (3x forward).
    pub seconds: f64,
    pub samples_per_s: f64,
    pub gflops: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub options: Options,
    pub sizes: Vec<usize>,
    pub runs: Vec<SchemeRun>,
}

/// Updates 1, 2, 5, 10, 20, 50, ... below `updates`, then `updates`.
pub fn checkpoints(updates: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut decade = 1u64;
    while decade < updates {
        for m in [1, 2, 5] {
            if let Some(c) = decade.checked_mul(m).filter(|&c| c < updates) {
                v.push(c);
            }
        }
        decade = decade.saturating_mul(10);
    }
    v.push(updates);
    v
}

/// Wilson's 95% interval for `errors` of `n`.
pub fn wilson(errors: u64, n: u64) -> (f64, f64) {
    let (n, z) = (n as f64, 1.959_963_984_540_054);
    let p = errors as f64 / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    ((c - h).max(0.0), (c + h).min(1.0))
}

/// Trains every scheme on every device, each from its own initial weights on the same
/// images.
pub fn run(
    opts: &Options,
    schemes: &[(String, Scheme)],
    devices: &[Device],
    progress: &mut dyn Progress,
) -> Result<Report> {
    opts.check()?;
    let test = shapeset::batch(opts.seed, Set::Test.start(), opts.test_images)?;
    let grid = opts.lrs.len() > 1;
    let validation = if grid {
        Some(shapeset::batch(
            opts.seed,
            Set::Validation.start(),
            opts.validation_images.max(1),
        )?)
    } else {
        None
    };
    let mut runs = Vec::new();
    for &device in devices {
        for (name, scheme) in schemes {
            let data = (&test, validation.as_ref());
            runs.push(best_rate(opts, device, (name, scheme), data, progress)?);
        }
    }
    Ok(Report {
        options: opts.clone(),
        sizes: opts.sizes(),
        runs,
    })
}

/// One scheme on one device: trained at each rate, the run at the rate with the lowest
/// validation error (the test error without a grid).
fn best_rate(
    opts: &Options,
    device: Device,
    scheme: (&String, &Scheme),
    data: (&Data, Option<&Data>),
    progress: &mut dyn Progress,
) -> Result<SchemeRun> {
    let on = (device.label(), scheme);
    match device {
        Device::Cpu => best_rate_on(opts, &|| Ok(CpuBackend::new()), on, data, progress),
        Device::Gpu(ctx) => {
            let widest = opts.sizes().into_iter().max().unwrap_or(1);
            let make = || GpuBackend::new(ctx, widest, 0);
            best_rate_on(opts, &make, on, data, progress)
        }
    }
}

/// [`best_rate`] on backends that `make` opens, one for each rate.
fn best_rate_on<B: Backend>(
    opts: &Options,
    make: &dyn Fn() -> Result<B>,
    (device, (name, scheme)): (String, (&String, &Scheme)),
    (test, validation): (&Data, Option<&Data>),
    progress: &mut dyn Progress,
) -> Result<SchemeRun> {
    let grid = opts.lrs.len() > 1;
    let mut best: Option<(f64, SchemeRun)> = None;
    let mut tried = Vec::new();
    let sizes = opts.sizes();
    for &lr in &opts.lrs {
        progress.step(&format!("{name}, lr {lr}, {device}"));
        let act = (opts.activation, opts.slope);
        let mut learner =
            Trainer::new(make()?, &sizes, act, (scheme, opts.seed), (opts.batch, lr))?;
        let mut r = match train(opts, &mut learner, lr, test, progress) {
            Ok(r) => r,
            // In a grid, a rate that diverges is one the grid rejects.
            Err(Error::Diverged(_)) if grid => {
                tried.push((lr, None));
                continue;
            }
            Err(e) => return Err(e),
        };
        (r.scheme, r.device) = (name.clone(), device.clone());
        let score = match validation {
            Some((x, y)) => learner.evaluate(x, y)?.1 as f64 / y.len() as f64,
            None => r.test_error,
        };
        tried.push((lr, Some(score)));
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, r));
        }
    }
    let (_, mut r) = best.ok_or_else(|| {
        Error::Diverged(format!("{name}: every learning rate of the grid diverged"))
    })?;
    if grid {
        r.lr_grid = tried;
    }
    Ok(r)
}

/// Images and their labels.
type Data = (Vec<f32>, Vec<u8>);

/// Multiply-adds of one sample's forward pass through `sizes`, times 2: FLOPs. Training
/// costs three times that (forward, the input gradient, the weight gradient).
pub fn forward_flops(sizes: &[usize]) -> f64 {
    sizes.windows(2).map(|p| 2.0 * (p[0] * p[1]) as f64).sum()
}

/// One scheme at one rate: the run, the learner left trained.
fn train<B: Backend>(
    opts: &Options,
    learner: &mut Trainer<B>,
    lr: f32,
    (test_x, test_y): &Data,
    progress: &mut dyn Progress,
) -> Result<SchemeRun> {
    let mut points = Vec::new();
    let (mut seconds, mut loss_since, mut since) = (0.0, 0.0, 0u64);
    let b = opts.batch as u64;
    // Images are drawn a block at a time; update k takes training images k b .. (k + 1) b.
    let block = opts.block_images() / b;
    let mut k = 0u64;
    for mark in checkpoints(opts.updates) {
        while k < mark {
            let n = block.min(mark - k);
            let (x, y) = shapeset::batch(opts.seed, k * b, n * b)?;
            let start = Instant::now();
            let losses = learner.updates(&x, &y)?;
            seconds += start.elapsed().as_secs_f64();
            if let Some(i) = losses.iter().position(|l| !l.is_finite()) {
                return Err(Error::Diverged(format!(
                    "the training loss became {} at update {} (lr {lr}); try a smaller --lr",
                    losses[i],
                    k + i as u64 + 1
                )));
            }
            loss_since += losses.iter().sum::<f64>() / b as f64;
            (since, k) = (since + n, k + n);
        }
        let (_, errors) = learner.evaluate(test_x, test_y)?;
        let layers = if opts.track_layers {
            track(learner, opts.activation, test_x, test_y)?
        } else {
            Vec::new()
        };
        points.push(Checkpoint {
            updates: mark,
            train_loss: loss_since / since as f64,
            test_error: errors as f64 / test_y.len() as f64,
            layers,
        });
        progress.step(&format!("update {mark}"));
        (loss_since, since) = (0.0, 0);
    }
    let n = test_y.len() as u64;
    let errors = (points.last().expect("a final checkpoint").test_error * n as f64).round() as u64;
    let samples = (opts.updates * b) as f64;
    Ok(SchemeRun {
        scheme: String::new(),
        device: String::new(),
        lr,
        lr_grid: Vec::new(),
        checkpoints: points,
        test_errors: errors,
        test_images: n,
        test_error: errors as f64 / n as f64,
        interval: wilson(errors, n),
        seconds,
        samples_per_s: samples / seconds.max(1e-9),
        gflops: 3.0 * forward_flops(&opts.sizes()) * samples / seconds.max(1e-9) / 1e9,
    })
}
