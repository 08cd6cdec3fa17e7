//! What the battery samples: every scheme on a dense shape, the awkward shapes (both
//! convolution layouts, a fan of 1 and of 2^24, an offset past 2^32, lengths that are no
//! multiple of 4), constants, and the Philox known answers.

use super::{Claim, Level};
use crate::error::Result;
use crate::rng::philox::KNOWN_ANSWERS;
use crate::rng::{
    format_shape, Family, FanMode, Fans, Layout, Scheme, SchemeOptions, SCHEME_NAMES,
};

/// A tensor the battery samples: a scheme on a shape.
pub struct Case {
    pub scheme: &'static str,
    pub options: SchemeOptions,
    pub shape: Vec<u64>,
    pub layout: Layout,
    pub label: &'static str,
    pub offset: u64,
    /// Exact checks only, on exactly these elements (tensors too small for statistics).
    pub exact_count: Option<u64>,
}

impl Case {
    pub fn new(scheme: &'static str, shape: &[u64], layout: Layout, label: &'static str) -> Self {
        Case {
            scheme,
            options: SchemeOptions::default(),
            shape: shape.to_vec(),
            layout,
            label,
            offset: 0,
            exact_count: None,
        }
    }

    pub fn claim(&self) -> Result<Claim> {
        let scheme = Scheme::parse(self.scheme, &self.options)?;
        let fans = if scheme.needs_fans() {
            Some(Fans::from_shape(&self.shape, self.layout)?)
        } else {
            None
        };
        Ok(Claim {
            scheme,
            fans,
            distribution: scheme.distribution_if_fans(fans)?,
        })
    }

    pub fn shape_text(&self) -> String {
        let layout = if self.shape.len() > 2 || self.layout == Layout::Jax {
            format!(" {:?}", self.layout).to_lowercase()
        } else {
            String::new()
        };
        let offset = if self.offset > 0 {
            format!(" @{}", self.offset)
        } else {
            String::new()
        };
        format!(
            "{}{layout}{offset} ({})",
            format_shape(&self.shape),
            self.label
        )
    }
}

/// The tensors of the battery at `level`.
pub fn cases(level: Level) -> Vec<Case> {
    let dense = [512u64, 256];
    let mut v: Vec<Case> = SCHEME_NAMES
        .iter()
        .filter(|n| !matches!(**n, "constant" | "zeros" | "ones"))
        .map(|&n| {
            let mut c = Case::new(n, &dense, Layout::Torch, "dense");
            if n == "variance_scaling" {
                c.options = SchemeOptions {
                    scale: Some(2.0),
                    mode: Some(FanMode::FanOut),
                    family: Some(Family::Normal),
                    ..Default::default()
                };
            }
            if n == "truncated_normal" {
                c.options = SchemeOptions {
                    mean: Some(0.5),
                    std: Some(0.1),
                    a: Some(-1.0),
                    b: Some(3.0),
                    ..Default::default()
                };
            }
            c
        })
        .collect();
    // Far tails, where a truncated normal's mass is below anything f32 holds: the intervals
    // whose values collapsed to a bound before the log-space tail quantile, and [3, 4], a
    // tail Giles' erfinv has always got right.
    for (a, b, label) in [
        (10.0, 11.0, "far tail [10, 11]"),
        (6.5, 7.5, "far tail [6.5, 7.5]"),
        (-11.0, -10.0, "far tail [-11, -10]"),
        (5.0, 100.0, "tail [5, 100]"),
        (3.0, 4.0, "tail [3, 4]"),
    ] {
        let mut c = Case::new("truncated_normal", &dense, Layout::Torch, label);
        c.options = SchemeOptions {
            a: Some(a),
            b: Some(b),
            ..Default::default()
        };
        v.push(c);
    }
    let shaped: &[&'static str] = match level {
        Level::Quick => &["xavier_uniform"],
        _ => &["xavier_uniform", "glorot_normal", "kaiming_normal"],
    };
    for &s in shaped {
        v.push(Case::new(s, &[64, 3, 7, 7], Layout::Torch, "conv"));
        v.push(Case::new(s, &[3, 3, 64, 128], Layout::Jax, "conv"));
        v.push(Case::new(s, &[1, 1], Layout::Torch, "tiny fan"));
        v.push(Case::new(s, &[1, 1 << 24], Layout::Torch, "huge fan"));
        let mut slice = Case::new(s, &[1 << 16, 1 << 16], Layout::Torch, "offset slice");
        slice.offset = (1 << 32) - 3;
        v.push(slice);
        let mut odd = Case::new(s, &[3, 5, 7], Layout::Torch, "length 105");
        odd.exact_count = Some(105);
        v.push(odd);
        let mut odd_slice = Case::new(s, &[3, 5, 7], Layout::Torch, "length 105, slice");
        odd_slice.offset = 2;
        odd_slice.exact_count = Some(101);
        v.push(odd_slice);
    }
    for (name, value) in [("constant", Some(-0.375)), ("zeros", None), ("ones", None)] {
        let mut c = Case::new(name, &[4099], Layout::Torch, "constant");
        c.options.value = value;
        c.exact_count = Some(4099);
        v.push(c);
    }
    v
}

/// Known answers, and counters with high words set, on the source against the CPU.
pub fn known_answer_inputs() -> Vec<([u32; 4], [u32; 2])> {
    let mut inputs: Vec<([u32; 4], [u32; 2])> =
        KNOWN_ANSWERS.iter().map(|(c, k, _)| (*c, *k)).collect();
    for i in 0..61u32 {
        inputs.push((
            [i.wrapping_mul(0x9E37_79B9), u32::MAX - i, 1 << (i % 32), !i],
            [i << 7, u32::MAX ^ (i << 20)],
        ));
    }
    inputs
}
