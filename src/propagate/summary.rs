//! What a run reports: per-layer statistics of activations, gradients and weight gradients,
//! and the first layer's weight distribution.

use serde::Serialize;

use super::Network;
use crate::error::Result;
use crate::rng::{Distribution, Scheme};

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

/// A distribution in a few characters: `U(-0.0442, 0.0442)`, `N(0, 0.01^2)`.
pub fn describe_distribution(d: &Distribution) -> String {
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

/// A number in at most about six characters: `0.4595`, `2.726e-4`, `inf`.
pub fn fmt_num(x: f64) -> String {
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
