//! What a run reports: per-layer statistics of activations, gradients and weight gradients,
//! and the first layer's weight distribution.

use serde::Serialize;

use super::Network;
use crate::error::Result;
use crate::rng::{Distribution, Scheme};
use crate::stats::LayerStats;

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
