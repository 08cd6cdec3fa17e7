//! Summaries of a matrix's values, as `propagate` reports each layer and `train` each
//! hidden layer: moments, extremes, saturation and a histogram.

use serde::Serialize;

use crate::abi::Activation;
use crate::cpu::layer_stats::Partial;

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

/// A [`Summary`] from moments (saturation reported when `act` saturates) and a histogram.
pub fn summary_of(m: &Partial, act: Option<Activation>, hist: Option<Histogram>) -> Summary {
    Summary::from_parts(
        m.n,
        m.nonfinite,
        m.mean,
        m.m2,
        m.lo,
        m.hi,
        act.filter(|a| a.saturates()).map(|_| m.saturated),
        hist,
    )
}
