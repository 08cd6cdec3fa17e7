//! Fans from weight shapes, in PyTorch's and JAX's axis orders.

use super::options::FanMode;
use crate::error::{Error, Result};
use crate::named::named_enum;

named_enum! {
    /// Where the input and output feature axes are in a weight shape.
    pub enum Layout ("layout") {
        /// PyTorch: `[out, in, k...]`; fan_in = in * prod(k), fan_out = out * prod(k).
        Torch = ["torch", "channels_first", "oik"],
        /// JAX/Keras: `[k..., in, out]`; fan_in = in * prod(k), fan_out = out * prod(k).
        Jax = ["jax", "keras", "channels_last", "kio"],
    }
}

/// Fan-in and fan-out of a weight tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fans {
    pub fan_in: u64,
    pub fan_out: u64,
}

impl Fans {
    pub fn new(fan_in: u64, fan_out: u64) -> Result<Self> {
        if fan_in == 0 || fan_out == 0 {
            return Err(Error::invalid(format!(
                "fans must be positive, got fan_in={fan_in} fan_out={fan_out}"
            )));
        }
        Ok(Fans { fan_in, fan_out })
    }

    /// Fans of a weight shape (at least 2 dimensions) in the given layout.
    pub fn from_shape(shape: &[u64], layout: Layout) -> Result<Self> {
        let n = shape.len();
        if n < 2 {
            return Err(Error::invalid(format!(
                "fans need a shape with at least 2 dimensions, got {}; give --fan-in and --fan-out instead",
                format_shape(shape)
            )));
        }
        numel(shape)?;
        let (fan_in, fan_out) = match layout {
            Layout::Torch => {
                let rf: u64 = shape[2..].iter().product();
                (shape[1] * rf, shape[0] * rf)
            }
            Layout::Jax => {
                let rf: u64 = shape[..n - 2].iter().product();
                (shape[n - 2] * rf, shape[n - 1] * rf)
            }
        };
        Fans::new(fan_in, fan_out)
    }

    pub fn fan(&self, mode: FanMode) -> f64 {
        match mode {
            FanMode::FanIn => self.fan_in as f64,
            FanMode::FanOut => self.fan_out as f64,
            FanMode::FanAvg => (self.fan_in as f64 + self.fan_out as f64) / 2.0,
        }
    }
}

/// Parses `256x128` or `64x3x3x3` into dimensions; every dimension positive.
pub fn parse_shape(text: &str) -> Result<Vec<u64>> {
    let dims: Vec<u64> = text
        .split(['x', 'X', ','])
        .map(|d| d.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| Error::invalid(format!("shape '{text}' is not of the form 256x128")))?;
    if dims.is_empty() || dims.contains(&0) {
        return Err(Error::invalid(format!(
            "shape '{text}' has a zero dimension"
        )));
    }
    numel(&dims)?;
    Ok(dims)
}

/// Number of elements of a shape, or an error if it overflows u64.
pub fn numel(shape: &[u64]) -> Result<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(format!(
                "shape {} has more than 2^64 elements",
                format_shape(shape)
            ))
        })
}

pub fn format_shape(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(", "))
}
