//! Statistics for the `gpuinit verify` battery: moments, exact theory, goodness of fit and
//! raw-bit tests, each returning the statistic with its p-value or z-score.
//!
//! Everything here is a pure function of its inputs (no RNG, no I/O), so a report is a
//! deterministic function of (seed, stream, n). Distribution functions and special functions
//! come from `statrs`; only the test statistics themselves are written here.
//!
//! Conventions:
//! - p-values are upper-tail probabilities of the statistic under H0 (two-sided for z-tests).
//! - A NaN anywhere a value is required (a NaN sample, a NaN CDF value) is never a valid
//!   draw from these distributions: it is counted, left out of the statistic, and forces
//!   p = 0. A NaN statistic (nothing to test) has p = NaN, which every [`Threshold`] fails.
//! - Family-wise error is the caller's job, with [`Threshold`] (Bonferroni).

mod bits;
mod gof;
mod moments;
pub mod summary;
#[cfg(test)]
mod tests;
mod theory;

pub use bits::*;
pub use gof::*;
pub use moments::*;
pub use summary::{summary_of, Histogram, LayerStats, Summary};
pub use theory::*;

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};
use statrs::function::erf::erfc;

/// The family-wise error rate every battery of statistical checks is held to (`gpuinit
/// verify`, `verify --checkpoint`): a correct generator fails one with probability below
/// this, split across its checks by [`Threshold`] (Bonferroni).
pub const FWER: f64 = 1e-6;

/// 2^-32: the spacing of word-derived uniforms.
const TWO_POW_M32: f64 = 1.0 / 4_294_967_296.0;

/// Two-sided p-value of a standard normal z-score, P(|Z| >= |z|), tail-accurate via erfc.
pub fn two_sided_p(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Upper-tail p-value of a chi-square statistic with `dof` degrees of freedom (statrs sf).
pub fn chi_square_p(statistic: f64, dof: f64) -> f64 {
    if statistic.is_nan() || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    ChiSquared::new(dof)
        .map(|c| c.sf(statistic))
        .unwrap_or(f64::NAN)
}

/// The word's uniform on (0, 1): (w + 1/2) 2^-32, all 32 bits, symmetric about 1/2.
#[inline(always)]
pub fn word_uniform(w: u32) -> f64 {
    (f64::from(w) + 0.5) * TWO_POW_M32
}

/// Bonferroni thresholds: `checks` tests share a family-wise error rate `fwer`, so a clean
/// generator fails the whole battery with probability at most `fwer`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    /// Number of checks m in the family (at least 1).
    pub checks: usize,
    /// Target family-wise error rate (e.g. 1e-6).
    pub fwer: f64,
    /// Per-check alpha = fwer / m.
    pub alpha: f64,
    /// Two-sided z threshold for alpha: P(|Z| > z) = alpha.
    pub z: f64,
}

impl Threshold {
    /// Per-check alpha = fwer / checks and z = -Phi^-1(alpha / 2) (statrs inverse CDF).
    pub fn new(checks: usize, fwer: f64) -> Threshold {
        let checks = checks.max(1);
        let alpha = fwer / checks as f64;
        let z = -Normal::new(0.0, 1.0)
            .expect("the standard normal is valid")
            .inverse_cdf(alpha / 2.0);
        Threshold {
            checks,
            fwer,
            alpha,
            z,
        }
    }

    /// Whether a p-value passes: p >= alpha (NaN fails).
    pub fn passes_p(&self, p: f64) -> bool {
        p >= self.alpha
    }

    /// Whether a z-score passes: |z| <= z threshold (NaN fails).
    pub fn passes_z(&self, z: f64) -> bool {
        z.abs() <= self.z
    }
}
