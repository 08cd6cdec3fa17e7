//! The deep network `propagate` measures: widths, batch, activation and seed, checked;
//! each layer's weight distribution under a scheme, its streams, and its flops.

use serde::Serialize;

use crate::abi::Activation;
use crate::error::{Error, Result};
use crate::rng::{layer_stream, Distribution, Fans, Sampler, Scheme, Span};

/// Stream of the input batch.
pub const INPUT_STREAM: u64 = u64::MAX;
/// Stream of the top-layer gradient.
pub const GRADIENT_STREAM: u64 = u64::MAX - 1;
/// Stream of layer 1's weights; layer `l` takes the next ones ([`layer_stream`]).
pub const FIRST_LAYER_STREAM: u64 = 1;
/// Largest depth accepted.
pub const MAX_DEPTH: usize = 10_000;
/// Largest width accepted (before device limits, which are usually lower).
pub const MAX_WIDTH: usize = 1 << 24;
/// Largest batch accepted (before device limits).
pub const MAX_BATCH: usize = 1 << 24;

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

    /// Where layer `l`'s (1-based) weights come from: stream `l` of the seed.
    pub fn weight_span(&self, l: usize) -> Span {
        let count = (self.widths[l] * self.widths[l - 1]) as u64;
        Span::whole(self.seed, layer_stream(FIRST_LAYER_STREAM, l - 1), count)
    }

    /// The input's and the top gradient's distribution: standard normal.
    pub fn standard_normal() -> Sampler {
        Distribution::normal(0.0, 1.0).sampler()
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
