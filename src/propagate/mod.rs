//! Deep propagation: what each initialization does to depth.
//!
//! Glorot and Bengio (2010) argued that Xavier initialization keeps the variance of
//! activations and of back-propagated gradients roughly constant from layer to layer, where
//! other schemes make it vanish or explode (their figures 6 and 7). This module measures
//! that on any GPU: it builds a deep fully-connected network whose weights the core
//! generator writes straight into GPU buffers, pushes a batch through it (and back), and
//! reduces per-layer statistics on the GPU, so that only statistics reach the host. A CPU
//! twin ([`cpu`]) runs the same network on the same weights with a threaded gemm and is the
//! reference every GPU statistic is compared with ([`compare`], [`TOLERANCE`]).
//!
//! # The network
//!
//! Widths `w_0 .. w_D`; layer `l` (1-based, `1 ..= D`) maps `X_{l-1}` `[batch, w_{l-1}]` to
//! `X_l = f(X_{l-1} W_l^T + b_l)`:
//! - `W_l` is `[w_l, w_{l-1}]` row-major (torch's `Linear.weight`, fan_in = `w_{l-1}`,
//!   fan_out = `w_l`), element `(o, i)` = element `o * w_{l-1} + i` of stream `l` under the
//!   network's seed and the scheme's distribution for those fans;
//! - `b_l` = 0, as in Glorot and Bengio;
//! - the input `X_0` is standard normal, element `(b, i)` = element `b * w_0 + i` of stream
//!   [`INPUT_STREAM`] (2^64 - 1);
//! - with `--backward`, the gradient of the loss with respect to the top layer's output is
//!   standard normal too, element `(b, o)` of stream [`GRADIENT_STREAM`] (2^64 - 2).
//!
//! The backward pass records, per layer, the gradient with respect to the pre-activations,
//! `delta_l = (delta_{l+1} W_{l+1}) * f'(z_l)` (at the top, the seeded gradient times
//! `f'(z_D)`), and the weight gradient `dW_l = delta_l^T X_{l-1}` (summed over the batch:
//! the gradient of the batch's summed loss).
//!
//! # Statistics
//!
//! Per layer and per matrix (activations, gradients, weight gradients): count, mean,
//! population variance, min, max, non-finite count (inf and NaN are left out of the
//! moments), and for activations the saturated fraction and a [`HIST_BINS`]-bin histogram
//! (on the activation's range for tanh, softsign and sigmoid, else on the data's
//! [min, max]; gradients get one on their [min, max] too). The GPU reduces them on the
//! device (`shaders/layer_stats.wgsl`); the CPU twin computes them in f64.

pub mod cpu;
pub mod gpu;
pub mod plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::distribution::{Distribution, Sampler};
use crate::error::{Error, Result};
use crate::gpu::{BackendChoice, GpuContext, GpuOptions};
use crate::scheme::{Family, FanMode, Fans, Nonlinearity, Scheme, SchemeOptions};

/// Bins of every activation histogram (`NBINS` in `shaders/layer_stats.wgsl`).
pub const HIST_BINS: usize = 50;
/// Stream of the input batch.
pub const INPUT_STREAM: u64 = u64::MAX;
/// Stream of the top-layer gradient.
pub const GRADIENT_STREAM: u64 = u64::MAX - 1;
/// Largest depth accepted.
pub const MAX_DEPTH: usize = 10_000;
/// Largest width accepted (before device limits, which are usually lower).
pub const MAX_WIDTH: usize = 1 << 24;
/// Largest batch accepted (before device limits).
pub const MAX_BATCH: usize = 1 << 24;
/// Most memory one run may allocate, on the GPU or for the CPU reference.
pub const MEMORY_BUDGET: u64 = 4 << 30;
/// Weights kept resident at once; past this, layers are regenerated for the backward pass.
pub const WEIGHT_BUDGET: u64 = 1 << 30;

/// The activation function of every layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Linear,
    Tanh,
    Sigmoid,
    Softsign,
    Relu,
    #[value(name = "leaky_relu", alias = "leaky-relu")]
    LeakyRelu,
    Selu,
}

impl Activation {
    pub const ALL: [Activation; 7] = [
        Activation::Linear,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softsign,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Selu,
    ];

    /// The code the shaders use (`ACT_*` in `shaders/activation.wgsl`).
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Softsign => "softsign",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Selu => "selu",
        }
    }

    /// The histogram range of a bounded activation's outputs; `None`: the data's own range.
    pub fn hist_range(self) -> Option<(f32, f32)> {
        match self {
            Activation::Tanh | Activation::Softsign => Some((-1.0, 1.0)),
            Activation::Sigmoid => Some((0.0, 1.0)),
            _ => None,
        }
    }

    /// Whether the activation has a saturation test (tanh, sigmoid, softsign, relu).
    pub fn saturates(self) -> bool {
        matches!(
            self,
            Activation::Tanh | Activation::Sigmoid | Activation::Softsign | Activation::Relu
        )
    }

    /// What counts as saturated, for the table's legend.
    pub fn saturation_rule(self) -> &'static str {
        match self {
            Activation::Tanh => "|y| > 0.99",
            Activation::Sigmoid => "y outside [0.01, 0.99]",
            Activation::Softsign => "|y| > 0.9",
            Activation::Relu => "y = 0",
            _ => "none",
        }
    }
}

/// A deep fully-connected network: widths, batch, activation and seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Network {
    /// `w_0` (the input) to `w_D`.
    pub widths: Vec<usize>,
    pub batch: usize,
    pub activation: Activation,
    /// leaky_relu's slope for negative inputs.
    pub negative_slope: f32,
    pub seed: u64,
}

impl Network {
    /// A checked network: depth in 1..=MAX_DEPTH, widths in 1..=MAX_WIDTH, batch in
    /// 1..=MAX_BATCH, a finite non-negative slope below 1.
    pub fn new(
        widths: Vec<usize>,
        batch: usize,
        activation: Activation,
        negative_slope: f32,
        seed: u64,
    ) -> Result<Self> {
        if widths.len() < 2 {
            return Err(Error::invalid(format!(
                "a network needs at least one layer (an input width and one layer width), got {} width(s)",
                widths.len()
            )));
        }
        if widths.len() - 1 > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "depth {} is above the largest supported, {MAX_DEPTH}",
                widths.len() - 1
            )));
        }
        if let Some(w) = widths.iter().find(|&&w| w == 0 || w > MAX_WIDTH) {
            return Err(Error::invalid(format!(
                "width {w} is not in 1..={MAX_WIDTH}"
            )));
        }
        if batch == 0 || batch > MAX_BATCH {
            return Err(Error::invalid(format!(
                "batch {batch} is not in 1..={MAX_BATCH}"
            )));
        }
        if !(negative_slope.is_finite() && (0.0..1.0).contains(&negative_slope)) {
            return Err(Error::invalid(format!(
                "negative slope must be in [0, 1), got {negative_slope}"
            )));
        }
        Ok(Network {
            widths,
            batch,
            activation,
            negative_slope,
            seed,
        })
    }

    /// `depth` layers of `width`, on an input of `width`.
    pub fn uniform(
        depth: usize,
        width: usize,
        batch: usize,
        activation: Activation,
        seed: u64,
    ) -> Result<Self> {
        if depth == 0 || depth > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "depth {depth} is not in 1..={MAX_DEPTH}"
            )));
        }
        Network::new(vec![width; depth + 1], batch, activation, 0.01, seed)
    }

    pub fn depth(&self) -> usize {
        self.widths.len() - 1
    }

    /// Fans of layer `l` (1-based).
    pub fn fans(&self, l: usize) -> Result<Fans> {
        Fans::new(self.widths[l - 1] as u64, self.widths[l] as u64)
    }

    /// The distribution of layer `l`'s weights under `scheme`.
    pub fn weight_distribution(&self, scheme: &Scheme, l: usize) -> Result<Distribution> {
        scheme.distribution_if_fans(Some(self.fans(l)?))
    }

    /// The sampler of every layer's weights, checked before any work starts.
    pub fn weight_samplers(&self, scheme: &Scheme) -> Result<Vec<Sampler>> {
        (1..=self.depth())
            .map(|l| Ok(self.weight_distribution(scheme, l)?.sampler()))
            .collect()
    }

    /// The input's and the top gradient's distribution: standard normal.
    pub fn standard_normal() -> Sampler {
        Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        }
        .sampler()
    }

    /// Multiply-adds times two of the forward pass.
    pub fn forward_flops(&self) -> f64 {
        self.widths
            .windows(2)
            .map(|w| 2.0 * self.batch as f64 * w[0] as f64 * w[1] as f64)
            .sum()
    }

    /// Of the backward pass: the weight gradient of every layer, and the input gradient
    /// of every layer but the first.
    pub fn backward_flops(&self) -> f64 {
        let first = 2.0 * self.batch as f64 * self.widths[0] as f64 * self.widths[1] as f64;
        2.0 * self.forward_flops() - first
    }
}

/// A fixed-bin histogram of one layer's values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    /// Low edge of the first bin and high edge of the last; values outside land in the end
    /// bins (bounded activations use their range, others the data's min and max).
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Bin centers and densities (fraction per unit of x), for plotting.
    pub fn density(&self) -> Vec<(f64, f64)> {
        let total: u64 = self.counts.iter().sum();
        let (lo, hi) = (f64::from(self.lo), f64::from(self.hi));
        let w = (hi - lo) / self.counts.len() as f64;
        if total == 0 || w <= 0.0 || !w.is_finite() {
            return Vec::new();
        }
        self.counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (lo + (i as f64 + 0.5) * w, c as f64 / total as f64 / w))
            .collect()
    }
}

/// Statistics of one layer's values (activations, gradients or weight gradients).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Finite values, which every moment is over.
    pub count: u64,
    /// Values that were inf or NaN (an exploding network), left out of the moments.
    pub nonfinite: u64,
    pub mean: f64,
    /// Population variance (divided by `count`).
    pub variance: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Fraction of all values saturated, for activations that saturate.
    pub saturated: Option<f64>,
    /// Saturated values counted.
    pub saturated_count: u64,
    pub histogram: Option<Histogram>,
}

impl Summary {
    /// From the raw sums both devices produce: `m2` is the sum of squared deviations.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        count: u64,
        nonfinite: u64,
        mean: f64,
        m2: f64,
        min: f64,
        max: f64,
        saturated_count: Option<u64>,
        histogram: Option<Histogram>,
    ) -> Summary {
        let total = count + nonfinite;
        let (mean, variance, min, max) = if count == 0 {
            (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
        } else {
            (mean, (m2 / count as f64).max(0.0), min, max)
        };
        Summary {
            count,
            nonfinite,
            mean,
            variance,
            std: variance.sqrt(),
            min,
            max,
            saturated: saturated_count.map(|s| {
                if total == 0 {
                    f64::NAN
                } else {
                    s as f64 / total as f64
                }
            }),
            saturated_count: saturated_count.unwrap_or(0),
            histogram,
        }
    }
}

/// One layer's statistics; layer 0 is the input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerStats {
    pub layer: usize,
    pub width: usize,
    /// Of the layer's outputs `X_l` (the input batch for layer 0).
    pub activation: Summary,
    /// Of `delta_l`, the gradient with respect to the layer's pre-activations.
    pub gradient: Option<Summary>,
    /// Of `dW_l`, the gradient with respect to the layer's weights.
    pub weight_gradient: Option<Summary>,
}

/// One scheme through one network on one device.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The scheme as given (`xavier_uniform`, `normal:std=0.01`, ...).
    pub scheme: String,
    /// Layer 1's weight distribution, resolved.
    pub layer1_weights: String,
    /// fan_in * Var(W) of layer 1: 1 keeps a linear layer's variance, 1/3 is `standard`.
    pub layer1_fan_in_variance: f64,
    pub device: String,
    pub seconds: f64,
    /// `layers[0]` is the input, `layers[l]` layer `l`.
    pub layers: Vec<LayerStats>,
}

impl Run {
    /// std of the last layer's activations over the first layer's.
    pub fn std_ratio(&self) -> f64 {
        let d = self.layers.len() - 1;
        self.layers[d].activation.std / self.layers[1].activation.std
    }

    /// std of layer 1's back-propagated gradient over layer D's, when recorded.
    pub fn gradient_std_ratio(&self) -> Option<f64> {
        let d = self.layers.len() - 1;
        Some(self.layers[1].gradient.as_ref()?.std / self.layers[d].gradient.as_ref()?.std)
    }
}

/// An initialization scheme with the text that named it.
#[derive(Clone, Debug)]
pub struct Init {
    pub label: String,
    pub scheme: Scheme,
}

/// Parses `--init`: comma-separated scheme names, each optionally followed by
/// `:key=value` options (`xavier_uniform:gain=1.667`, `kaiming_normal:nonlinearity=tanh`,
/// `normal:std=0.01`). Keys: gain, nonlinearity, negative_slope, mode, scale, distribution,
/// low, high, mean, std, a, b, value.
pub fn parse_inits(text: &str) -> Result<Vec<Init>> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(Error::invalid(format!(
                "--init '{text}' has an empty scheme name"
            )));
        }
        let mut parts = item.split(':');
        let name = parts.next().unwrap_or_default();
        let mut o = SchemeOptions::default();
        for opt in parts {
            let (k, v) = opt.split_once('=').ok_or_else(|| {
                Error::invalid(format!(
                    "scheme option '{opt}' in '{item}' is not of the form key=value"
                ))
            })?;
            let num = || {
                v.trim().parse::<f64>().map_err(|_| {
                    Error::invalid(format!("scheme option {k}={v} in '{item}' is not a number"))
                })
            };
            fn enumerated<T: clap::ValueEnum>(k: &str, v: &str, item: &str) -> Result<T> {
                T::from_str(v.trim(), true).map_err(|_| {
                    let names: Vec<String> = T::value_variants()
                        .iter()
                        .filter_map(|x| x.to_possible_value().map(|p| p.get_name().to_string()))
                        .collect();
                    Error::invalid(format!(
                        "scheme option {k}={v} in '{item}': expected one of {}",
                        names.join(", ")
                    ))
                })
            }
            match k.trim().replace('-', "_").as_str() {
                "gain" => o.gain = Some(num()?),
                "nonlinearity" => o.nonlinearity = Some(enumerated::<Nonlinearity>(k, v, item)?),
                "negative_slope" => o.negative_slope = Some(num()?),
                "mode" => o.mode = Some(enumerated::<FanMode>(k, v, item)?),
                "scale" => o.scale = Some(num()?),
                "distribution" => o.family = Some(enumerated::<Family>(k, v, item)?),
                "low" => o.low = Some(num()?),
                "high" => o.high = Some(num()?),
                "mean" => o.mean = Some(num()?),
                "std" => o.std = Some(num()?),
                "a" => o.a = Some(num()?),
                "b" => o.b = Some(num()?),
                "value" => o.value = Some(num()?),
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown scheme option '{k}' in '{item}' (gain, nonlinearity, negative_slope, mode, scale, distribution, low, high, mean, std, a, b, value)"
                    )))
                }
            }
        }
        let scheme = Scheme::parse(name, &o)?;
        out.push(Init {
            label: item.to_string(),
            scheme,
        });
    }
    Ok(out)
}

/// Parses `--widths 784,1000,1000,10`: the input width, then each layer's.
pub fn parse_widths(text: &str) -> Result<Vec<usize>> {
    let widths: Vec<usize> = text
        .split([',', 'x'])
        .map(|w| w.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::invalid(format!(
                "--widths '{text}' is not a comma-separated list of positive integers"
            ))
        })?;
    Ok(widths)
}

/// How far apart two devices' statistics may be. GPU and CPU compute every product in f32
/// but accumulate in different orders (64-wide tiles against gemm's blocking), so each
/// activation differs by a few units in the last place times sqrt(fan_in); through a network
/// that neither explodes nor is chaotic, that stays near 1e-6 relative, and a statistic over
/// thousands of values is closer still. The bounds below leave two or three orders of
/// magnitude of room, and are still far below what any real fault (a wrong index, a wrong
/// stream, a missing activation or derivative) produces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    /// On std, min and max: |a - b| <= rel * max(|a|, |b|) (min and max also relative to
    /// the std, for values near zero).
    pub rel: f64,
    /// On the mean: |a - b| <= mean_per_std * max(std_a, std_b, |mean_a|, |mean_b|) (the
    /// mean's own size only matters for nearly constant values).
    pub mean_per_std: f64,
    /// On saturated and non-finite counts and on each histogram (sum of |count differences|
    /// over 2): at most `count_abs + count_rel * n` values may land differently (a value
    /// within rounding of a threshold or a bin edge can go either way).
    pub count_abs: f64,
    pub count_rel: f64,
}

/// The documented tolerance of GPU against CPU reference.
pub const TOLERANCE: Tolerance = Tolerance {
    rel: 1e-3,
    mean_per_std: 1e-3,
    count_abs: 2.0,
    count_rel: 1e-3,
};

/// The worst deviation of one kind, in units of its tolerance (<= 1 passes).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Worst {
    /// The raw deviation (relative, per std, or count).
    pub deviation: f64,
    /// `deviation` over its bound.
    pub ratio: f64,
    /// Where: "layer 3 gradient".
    pub at: String,
}

impl Worst {
    fn offer(&mut self, deviation: f64, bound: f64, at: impl FnOnce() -> String) {
        let ratio = if deviation == 0.0 {
            0.0
        } else {
            deviation / bound
        };
        // NaN (a NaN on one side only) is the worst of all.
        if ratio.is_nan() || ratio > self.ratio || (self.at.is_empty() && ratio >= self.ratio) {
            self.deviation = deviation;
            self.ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
            self.at = at();
        }
    }
}

/// Layer-by-layer comparison of two runs of the same network and scheme.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub std: Worst,
    pub mean: Worst,
    pub extremes: Worst,
    pub counts: Worst,
    pub histogram: Worst,
}

impl Comparison {
    pub fn within_tolerance(&self) -> bool {
        self.worst().ratio <= 1.0
    }

    /// The deviation closest to (or furthest past) its bound.
    pub fn worst(&self) -> &Worst {
        [
            &self.std,
            &self.mean,
            &self.extremes,
            &self.counts,
            &self.histogram,
        ]
        .into_iter()
        .fold(&self.std, |w, x| if x.ratio > w.ratio { x } else { w })
    }
}

fn rel_dev(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / a.abs().max(b.abs())
}

fn compare_summary(c: &mut Comparison, a: &Summary, b: &Summary, tol: &Tolerance, at: &str) {
    let n = (a.count + a.nonfinite).max(b.count + b.nonfinite) as f64;
    let count_bound = tol.count_abs + tol.count_rel * n;
    c.counts.offer(
        (a.nonfinite as f64 - b.nonfinite as f64).abs(),
        count_bound,
        || format!("{at} non-finite count"),
    );
    c.counts.offer(
        (a.saturated_count as f64 - b.saturated_count as f64).abs(),
        count_bound,
        || format!("{at} saturated count"),
    );
    if a.nonfinite > 0 || b.nonfinite > 0 {
        // An exploded layer: its finite values' moments are not comparable.
        return;
    }
    c.std
        .offer(rel_dev(a.std, b.std), tol.rel, || format!("{at} std"));
    let scale = a.std.max(b.std);
    // In units of the std, or of the mean itself where the values are (nearly) constant.
    let mean_dev = if a.mean == b.mean {
        0.0
    } else {
        (a.mean - b.mean).abs() / scale.max(a.mean.abs().max(b.mean.abs()))
    };
    c.mean
        .offer(mean_dev, tol.mean_per_std, || format!("{at} mean"));
    for (x, y, what) in [(a.min, b.min, "min"), (a.max, b.max, "max")] {
        let dev = if x == y {
            0.0
        } else {
            (x - y).abs() / x.abs().max(y.abs()).max(scale)
        };
        c.extremes.offer(dev, tol.rel, || format!("{at} {what}"));
    }
    if let (Some(ha), Some(hb)) = (&a.histogram, &b.histogram) {
        let moved: u64 = ha
            .counts
            .iter()
            .zip(&hb.counts)
            .map(|(x, y)| x.abs_diff(*y))
            .sum();
        c.histogram.offer(moved as f64 / 2.0, count_bound, || {
            format!("{at} histogram")
        });
    }
}

/// Compares every statistic of every layer of two runs.
pub fn compare(a: &Run, b: &Run, tol: &Tolerance) -> Comparison {
    let mut c = Comparison::default();
    for (la, lb) in a.layers.iter().zip(&b.layers) {
        let l = la.layer;
        compare_summary(
            &mut c,
            &la.activation,
            &lb.activation,
            tol,
            &format!("layer {l} activation"),
        );
        if let (Some(x), Some(y)) = (&la.gradient, &lb.gradient) {
            compare_summary(&mut c, x, y, tol, &format!("layer {l} gradient"));
        }
        if let (Some(x), Some(y)) = (&la.weight_gradient, &lb.weight_gradient) {
            compare_summary(&mut c, x, y, tol, &format!("layer {l} weight gradient"));
        }
    }
    c
}

/// Where `gpuinit propagate` computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PropagateDevice {
    #[default]
    Gpu,
    Cpu,
    /// Both, comparing every statistic of every layer within the documented tolerance.
    Both,
}

/// `gpuinit propagate`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct PropagateArgs {
    /// Schemes to compare, comma-separated, each with optional `:key=value` options:
    /// standard,xavier_uniform  or  xavier_uniform:gain=1.667,kaiming_normal:nonlinearity=tanh
    #[arg(long, default_value = "standard,xavier_uniform")]
    pub init: String,
    /// Activation of every layer.
    #[arg(long, value_enum, default_value_t = Activation::Tanh)]
    pub activation: Activation,
    /// leaky_relu's slope for negative inputs (default 0.01).
    #[arg(long, allow_negative_numbers = true)]
    pub negative_slope: Option<f64>,
    /// Number of layers [default: 10].
    #[arg(long)]
    pub depth: Option<u64>,
    /// Width of the input and of every layer [default: 256].
    #[arg(long)]
    pub width: Option<u64>,
    /// Input width then each layer's, e.g. 784,1000,1000,10 (instead of --depth/--width).
    #[arg(long)]
    pub widths: Option<String>,
    /// Rows of the input batch.
    #[arg(long, default_value_t = 256)]
    pub batch: u64,
    /// Seed (decimal or 0x hex); drawn and printed when absent.
    #[arg(long, value_parser = crate::commands::parse_u64)]
    pub seed: Option<u64>,
    /// Where to compute; `both` checks the GPU against the CPU reference layer by layer.
    #[arg(long, value_enum, default_value_t)]
    pub device: PropagateDevice,
    /// Also propagate a seeded standard-normal gradient back from the top layer.
    #[arg(long)]
    pub backward: bool,
    /// Write every statistic (histograms included) as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw per-layer histograms and std against depth (FILE.svg or FILE.png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Graphics API for the GPU (default: WGPU_BACKEND, else any).
    #[arg(long, value_enum, default_value_t)]
    pub backend: BackendChoice,
    /// Adapter name substring (default: WGPU_ADAPTER_NAME, else the most capable).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Bound on each GPU wait, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub gpu_timeout: Option<f64>,
}

/// Everything `gpuinit propagate` writes to `--json`.
#[derive(Debug, Serialize)]
pub struct PropagateReport {
    pub network: Network,
    pub backward: bool,
    pub input: &'static str,
    pub top_gradient: Option<&'static str>,
    pub tolerance: Tolerance,
    pub schemes: Vec<SchemeReport>,
}

/// One scheme's runs, on each device asked for.
#[derive(Debug, Serialize)]
pub struct SchemeReport {
    pub scheme: String,
    pub gpu: Option<Run>,
    pub cpu: Option<Run>,
    pub comparison: Option<Comparison>,
}

impl SchemeReport {
    /// The run shown in tables and plots: the GPU's when there is one.
    pub fn main_run(&self) -> &Run {
        self.gpu
            .as_ref()
            .or(self.cpu.as_ref())
            .expect("a scheme report holds at least one run")
    }
}

/// The plot's file format, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    Svg,
    Png,
}

impl PlotFormat {
    pub fn of(path: &Path) -> Result<PlotFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(PlotFormat::Svg),
            Some("png") => Ok(PlotFormat::Png),
            _ => Err(Error::invalid(format!(
                "--plot '{}' must end in .svg or .png",
                path.display()
            ))),
        }
    }
}

/// Checks that a file can be created at `path` (its directory exists), before any work.
fn check_output_path(flag: &str, path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.file_name().is_none() || !dir.is_dir() {
        return Err(Error::invalid(format!(
            "{flag} '{}': no such directory '{}'",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// The network and schemes a `propagate` command asks for, checked before any work.
pub fn resolve(args: &PropagateArgs) -> Result<(Network, Vec<Init>)> {
    let inits = parse_inits(&args.init)?;
    let widths = match (&args.widths, args.depth, args.width) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Error::invalid(
                "give --widths, or --depth and --width, not both",
            ))
        }
        (Some(text), None, None) => parse_widths(text)?,
        (None, depth, width) => {
            let depth = depth.unwrap_or(10);
            let width = width.unwrap_or(256);
            if depth == 0 || depth > MAX_DEPTH as u64 {
                return Err(Error::invalid(format!(
                    "--depth {depth} is not in 1..={MAX_DEPTH}"
                )));
            }
            if width == 0 || width > MAX_WIDTH as u64 {
                return Err(Error::invalid(format!(
                    "--width {width} is not in 1..={MAX_WIDTH}"
                )));
            }
            vec![width as usize; depth as usize + 1]
        }
    };
    if args.batch == 0 || args.batch > MAX_BATCH as u64 {
        return Err(Error::invalid(format!(
            "--batch {} is not in 1..={MAX_BATCH}",
            args.batch
        )));
    }
    if args.negative_slope.is_some() && args.activation != Activation::LeakyRelu {
        return Err(Error::invalid(
            "--negative-slope applies only with --activation leaky_relu",
        ));
    }
    let slope = args.negative_slope.unwrap_or(0.01);
    let seed = args.seed.unwrap_or_else(rand::random::<u64>);
    let net = Network::new(
        widths,
        args.batch as usize,
        args.activation,
        slope as f32,
        seed,
    )?;
    for init in &inits {
        net.weight_samplers(&init.scheme)?;
    }
    if let Some(p) = &args.json {
        check_output_path("--json", p)?;
    }
    if let Some(p) = &args.plot {
        PlotFormat::of(p)?;
        check_output_path("--plot", p)?;
    }
    if let Some(s) = args.gpu_timeout {
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::invalid(format!(
                "--gpu-timeout must be positive seconds, got {s}"
            )));
        }
    }
    if args.device != PropagateDevice::Gpu {
        cpu::check_memory(&net, args.backward)?;
    }
    Ok((net, inits))
}

fn fmt_num(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x == 0.0 {
        "0".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else if x.abs() >= 1e4 || x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// The per-layer table of one run, and its closing ratio line.
pub fn table(run: &Run, net: &Network) -> String {
    let mut s = String::new();
    let backward = run.layers.iter().any(|l| l.gradient.is_some());
    let _ = write!(
        s,
        "{:>6} {:>6} {:>11} {:>11} {:>10}",
        "layer", "width", "mean", "std", "saturated"
    );
    if backward {
        let _ = write!(s, " {:>11} {:>11}", "grad std", "wgrad std");
    }
    s.push('\n');
    for l in &run.layers {
        let a = &l.activation;
        let name = if l.layer == 0 {
            "input".to_string()
        } else {
            l.layer.to_string()
        };
        let sat = match a.saturated {
            Some(f) if l.layer > 0 => format!("{:.1}%", 100.0 * f),
            _ => "-".into(),
        };
        let _ = write!(
            s,
            "{name:>6} {:>6} {:>11} {:>11} {sat:>10}",
            l.width,
            fmt_num(a.mean),
            fmt_num(a.std)
        );
        if backward {
            let g = l.gradient.as_ref().map_or("-".into(), |g| fmt_num(g.std));
            let w = l
                .weight_gradient
                .as_ref()
                .map_or("-".into(), |g| fmt_num(g.std));
            let _ = write!(s, " {g:>11} {w:>11}");
        }
        if a.nonfinite > 0 {
            let _ = write!(s, "  ({} inf/nan)", a.nonfinite);
        }
        s.push('\n');
    }
    let d = net.depth();
    let _ = write!(
        s,
        "std ratio layer {d} / layer 1: {}",
        fmt_num(run.std_ratio())
    );
    if d > 1 {
        let per = run.std_ratio().powf(1.0 / (d - 1) as f64);
        let _ = write!(s, " ({} per layer)", fmt_num(per));
    }
    if let Some(g) = run.gradient_std_ratio() {
        let _ = write!(
            s,
            "; gradient std ratio layer 1 / layer {d}: {}",
            fmt_num(g)
        );
    }
    s.push('\n');
    s
}

fn describe_distribution(d: &Distribution) -> String {
    match *d {
        Distribution::Uniform { low, high } => format!("U({}, {})", fmt_num(low), fmt_num(high)),
        Distribution::Normal { mean, std } => format!("N({}, {}^2)", fmt_num(mean), fmt_num(std)),
        Distribution::TruncatedNormal { mean, std, a, b } => format!(
            "N({}, {}^2) truncated to [{a}, {b}] std",
            fmt_num(mean),
            fmt_num(std)
        ),
        Distribution::Constant { value } => format!("constant {}", fmt_num(value)),
    }
}

/// Layer 1's weight distribution and fan_in * Var(W).
pub fn layer1_weights(net: &Network, scheme: &Scheme) -> Result<(String, f64)> {
    let d = net.weight_distribution(scheme, 1)?;
    let (mean, var) = d.moments();
    // fan_in * E[W^2]: the factor by which a linear layer scales the second moment.
    let fv = net.widths[0] as f64 * (var + mean * mean);
    Ok((describe_distribution(&d), fv))
}

/// `gpuinit propagate`.
pub fn run(args: &PropagateArgs) -> Result<()> {
    let (net, inits) = resolve(args)?;
    // Open the device and check the network fits it before printing anything.
    let want_gpu = args.device != PropagateDevice::Cpu;
    let want_cpu = args.device != PropagateDevice::Gpu;
    let ctx = if want_gpu {
        Some(GpuContext::new(&GpuOptions {
            backend: args.backend,
            adapter: args.adapter.clone(),
            timeout: args.gpu_timeout.map(Duration::from_secs_f64),
            ..Default::default()
        })?)
    } else {
        None
    };
    let prop = match &ctx {
        Some(c) => {
            let p = gpu::Propagator::new(c)?;
            p.check(&net, args.backward)?;
            Some(p)
        }
        None => None,
    };

    let d = net.depth();
    let widths = if net.widths.iter().all(|&w| w == net.widths[0]) {
        format!("{} x {} layers", net.widths[0], d)
    } else {
        net.widths
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    println!(
        "network: {widths}, activation {}{}, batch {}, seed {}{}",
        net.activation.name(),
        if net.activation == Activation::LeakyRelu {
            format!(" (slope {})", net.negative_slope)
        } else {
            String::new()
        },
        net.batch,
        net.seed,
        if args.seed.is_none() {
            " (drawn; pass --seed to repeat)"
        } else {
            ""
        }
    );
    println!(
        "input N(0, 1) (stream 2^64-1); layer l's weights on stream l; biases 0{}; saturated: {}",
        if args.backward {
            "; top gradient N(0, 1) (stream 2^64-2)"
        } else {
            ""
        },
        net.activation.saturation_rule()
    );

    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for init in &inits {
        let gpu_run = match &prop {
            Some(p) => Some(p.run(&net, init, args.backward)?),
            None => None,
        };
        let cpu_run = if want_cpu {
            Some(cpu::run(&net, init, args.backward)?)
        } else {
            None
        };
        let comparison = match (&gpu_run, &cpu_run) {
            (Some(g), Some(c)) => Some(compare(g, c, &TOLERANCE)),
            _ => None,
        };
        let report = SchemeReport {
            scheme: init.label.clone(),
            gpu: gpu_run,
            cpu: cpu_run,
            comparison,
        };
        let main = report.main_run();
        println!(
            "\n{}: layer 1 weights {}, fan_in*E[W^2] = {}",
            init.label,
            main.layer1_weights,
            fmt_num(main.layer1_fan_in_variance)
        );
        let flops = net.forward_flops()
            + if args.backward {
                net.backward_flops()
            } else {
                0.0
            };
        for r in [&report.gpu, &report.cpu].into_iter().flatten() {
            println!(
                "{}: {:.3} s ({:.1} GFLOP/s with weight generation and statistics)",
                r.device,
                r.seconds,
                flops / r.seconds / 1e9
            );
        }
        print!("{}", table(main, &net));
        if let Some(c) = &report.comparison {
            let w = c.worst();
            println!(
                "GPU vs CPU reference: worst std {:.2e} (relative), mean {:.2e} (of std), min/max {:.2e}, counts {} values; {} (tolerance {:.0e} relative)",
                c.std.deviation,
                c.mean.deviation,
                c.extremes.deviation,
                c.counts.deviation.max(c.histogram.deviation),
                if c.within_tolerance() {
                    "within tolerance".to_string()
                } else {
                    format!("OUTSIDE tolerance at {}", w.at)
                },
                TOLERANCE.rel
            );
            if !c.within_tolerance() {
                failures.push(format!("{} ({})", init.label, w.at));
            }
        }
        reports.push(report);
    }

    let report = PropagateReport {
        network: net.clone(),
        backward: args.backward,
        input: "standard normal, stream 2^64-1, element (b, i) = b * w_0 + i",
        top_gradient: args
            .backward
            .then_some("standard normal, stream 2^64-2, element (b, o) = b * w_D + o"),
        tolerance: TOLERANCE,
        schemes: reports,
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        std::fs::write(path, text + "\n")?;
        println!("\nwrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        plot::draw(&report, path)?;
        println!("wrote {}", path.display());
    }
    if !failures.is_empty() {
        return Err(Error::Gpu(format!(
            "GPU and CPU reference disagree beyond the documented tolerance for {}",
            failures.join(", ")
        )));
    }
    Ok(())
}
