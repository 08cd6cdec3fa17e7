//! Word-to-float maps: what a 32-bit Philox word becomes in each distribution.
//!
//! CPU twin of `shaders/shared/distribution.wgsl` (same names, same f32 operations in the
//! same order, the same constants from [`crate::abi`]). `docs/STREAM.md` is the contract
//! these functions implement.

use bytemuck::Zeroable;
use statrs::function::erf::erfc;

use crate::abi::SQRT_2;
pub use crate::abi::{
    Sampler, KIND_CONSTANT, KIND_NORMAL, KIND_UNIFORM, QUANTILE_CENTRAL, QUANTILE_TAIL, TWO_POW_M24,
};
use crate::error::{Error, Result};

/// A distribution with its parameters in f64, as a scheme resolves it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform on the open interval (low, high).
    Uniform { low: f64, high: f64 },
    /// Normal with this mean and standard deviation.
    Normal { mean: f64, std: f64 },
    /// `mean + std * Z` with `Z` a standard normal truncated to [a, b] (bounds in std units).
    /// As in JAX and torch, `std` is the parent normal's, not the truncated result's.
    TruncatedNormal { mean: f64, std: f64, a: f64, b: f64 },
    /// Every element equal to `value`.
    Constant { value: f64 },
}

/// Standard normal CDF, Phi(x), in f64.
pub fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Phi(b) - Phi(a), subtracting the tails on whichever side keeps the most digits.
pub fn truncated_mass(a: f64, b: f64) -> f64 {
    if a >= 0.0 {
        phi(-a) - phi(-b)
    } else if b <= 0.0 {
        phi(b) - phi(a)
    } else {
        1.0 - phi(a) - phi(-b)
    }
}

impl Distribution {
    /// U(low, high).
    pub fn uniform(low: f64, high: f64) -> Self {
        Distribution::Uniform { low, high }
    }

    /// N(mean, std^2).
    pub fn normal(mean: f64, std: f64) -> Self {
        Distribution::Normal { mean, std }
    }

    /// mean + std * Z, Z standard normal truncated to [a, b] (std units).
    pub fn truncated_normal(mean: f64, std: f64, a: f64, b: f64) -> Self {
        Distribution::TruncatedNormal { mean, std, a, b }
    }

    /// Checks the parameters: finite, positive spreads, ordered bounds.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64| {
            Err(Error::invalid(format!(
                "{what} must be finite and positive, got {v}"
            )))
        };
        match *self {
            Distribution::Uniform { low, high } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err(Error::invalid(format!(
                        "uniform bounds must be finite, got low={low} high={high}"
                    )));
                }
                if low >= high {
                    return Err(Error::invalid(format!(
                        "uniform lower bound {low} must be below the upper bound {high}"
                    )));
                }
            }
            Distribution::Normal { mean, std } => {
                if !mean.is_finite() {
                    return Err(Error::invalid(format!("mean must be finite, got {mean}")));
                }
                if !(std.is_finite() && std > 0.0) {
                    return bad("std", std);
                }
            }
            Distribution::TruncatedNormal { mean, std, a, b } => {
                Distribution::Normal { mean, std }.validate()?;
                if a.is_nan() || b.is_nan() || a >= b {
                    return Err(Error::invalid(format!(
                        "truncation bound a={a} must be below b={b} (in std units)"
                    )));
                }
                if truncated_mass(a, b) <= 0.0 {
                    return Err(Error::invalid(format!(
                        "truncation interval [{a}, {b}] has no probability mass in f64"
                    )));
                }
            }
            Distribution::Constant { value } => {
                if !value.is_finite() {
                    return Err(Error::invalid(format!(
                        "constant value must be finite, got {value}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The f32 parameters, each computed in f64 and rounded once.
    pub fn sampler(&self) -> Sampler {
        let mut s = Sampler::zeroed();
        match *self {
            Distribution::Uniform { low, high } => {
                s.kind = KIND_UNIFORM;
                s.scale = ((high - low) / 2.0) as f32;
                s.shift = ((high + low) / 2.0) as f32;
            }
            Distribution::Normal { mean, std } => {
                s.kind = KIND_NORMAL;
                s.scale = std as f32;
                s.shift = mean as f32;
                s.delta = 1.0;
                s.lo = f32::MIN;
                s.hi = f32::MAX;
            }
            Distribution::TruncatedNormal { mean, std, a, b } => {
                s.kind = KIND_NORMAL;
                s.scale = std as f32;
                s.shift = mean as f32;
                s.phi_a = phi(a) as f32;
                s.phic_b = phi(-b) as f32;
                s.delta = truncated_mass(a, b) as f32;
                s.lo = (mean + std * a) as f32;
                s.hi = (mean + std * b) as f32;
            }
            Distribution::Constant { value } => {
                s.kind = KIND_CONSTANT;
                s.shift = value as f32;
            }
        }
        s
    }

    /// Mean and variance of the distribution (the truncated normal's exactly), in f64.
    pub fn moments(&self) -> (f64, f64) {
        match *self {
            Distribution::Uniform { low, high } => {
                ((low + high) / 2.0, (high - low).powi(2) / 12.0)
            }
            Distribution::Normal { mean, std } => (mean, std * std),
            Distribution::TruncatedNormal { mean, std, a, b } => {
                let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                let z = truncated_mass(a, b);
                let (pa, pb) = (pdf(a), pdf(b));
                let ta = if a.is_finite() { a * pa } else { 0.0 };
                let tb = if b.is_finite() { b * pb } else { 0.0 };
                let m = (pa - pb) / z;
                let v = 1.0 + (ta - tb) / z - m * m;
                (mean + std * m, std * std * v)
            }
            Distribution::Constant { value } => (value, 0.0),
        }
    }
}

/// The odd integer k in [-(2^24 - 1), 2^24 - 1] from the top 24 bits of a word, as f32 (exact).
/// The uniform value on (-1, 1) is k * 2^-24.
#[inline(always)]
pub fn uniform_k(word: u32) -> f32 {
    (((word >> 8) << 1) as i32 - 0x00FF_FFFF) as f32
}

/// Upper-tail standard normal quantile: the z >= 0 with 1 - Phi(z) = t, for t in (0, 0.5].
/// z = sqrt(2) * erfinv(1 - 2t) by Giles' single-precision erfinv ("Approximating the erfinv
/// function", GPU Computing Gems, 2011), whose log argument (1-x)(1+x) = 4t(1-t) is formed
/// from t directly so the tails keep their digits.
#[inline(always)]
pub fn normal_quantile_upper(t: f32) -> f32 {
    let x = 1.0 - 2.0 * t;
    let w = -(4.0 * t * (1.0 - t)).ln();
    let p = if w < 5.0 {
        horner(&QUANTILE_CENTRAL, w - 2.5)
    } else {
        horner(&QUANTILE_TAIL, w.sqrt() - 3.0)
    };
    SQRT_2 * (p * x)
}

/// `p = c[0]; p = c[i] + p * w` in f32, as `quantile_central` and `quantile_tail` in the
/// generated WGSL evaluate it.
#[inline(always)]
pub fn horner(c: &[f32; 9], w: f32) -> f32 {
    let mut p = c[0];
    for &k in &c[1..] {
        p = k + p * w;
    }
    p
}

/// One element's value from its word.
#[inline(always)]
pub fn sample(s: &Sampler, word: u32) -> f32 {
    match s.kind {
        KIND_UNIFORM => (uniform_k(word) * s.scale) * TWO_POW_M24 + s.shift,
        KIND_NORMAL => {
            // u = (2j+1) 2^-24 on (0, 1) from the top 23 bits, and 1 - u, both exact.
            let j = word >> 9;
            let u = ((j << 1) | 1) as f32 * TWO_POW_M24;
            let v = (0x00FF_FFFF - (j << 1)) as f32 * TWO_POW_M24;
            // Mass below and above the point; the smaller one is accurate, and picks the side.
            let below = s.phi_a + u * s.delta;
            let above = s.phic_b + v * s.delta;
            let z = if below <= above {
                -normal_quantile_upper(below)
            } else {
                normal_quantile_upper(above)
            };
            (s.shift + s.scale * z).clamp(s.lo, s.hi)
        }
        _ => s.shift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, Normal};

    #[test]
    fn uniform_grid_is_odd_and_symmetric() {
        assert_eq!(uniform_k(0), -16_777_215.0);
        assert_eq!(uniform_k(u32::MAX), 16_777_215.0);
        assert_eq!(uniform_k(0x8000_0000), 1.0);
        assert_eq!(uniform_k(0x7FFF_FFFF), -1.0);
        // Words w and !w give opposite values.
        for w in [0u32, 12345, 0xDEAD_BEEF, 0x8000_00FF] {
            assert_eq!(uniform_k(w), -uniform_k(!w));
        }
    }

    #[test]
    fn uniform_stays_strictly_inside_its_bound() {
        for bound in [1.0f64, 0.1, 0.0625, 3.0_f64.sqrt(), 1e-3, 12.5] {
            let s = Distribution::uniform(-bound, bound).sampler();
            let hi = sample(&s, u32::MAX);
            let lo = sample(&s, 0);
            assert!(hi < s.scale && lo > -s.scale, "bound {bound}: {lo} {hi}");
            assert_eq!(hi, -lo);
        }
    }

    #[test]
    fn quantile_matches_statrs() {
        let n = Normal::new(0.0, 1.0).unwrap();
        let mut worst: f64 = 0.0;
        for i in 1..=20000 {
            // Log-spaced from 2^-25 to 0.5.
            let t = (2.0f64).powf(-25.0 + 24.0 * i as f64 / 20000.0) as f32;
            let got = normal_quantile_upper(t) as f64;
            let want = -n.inverse_cdf(t as f64);
            worst = worst.max((got - want).abs() / want.abs().max(1e-3));
        }
        assert!(worst < 2e-6, "worst relative error {worst}");
    }

    #[test]
    fn normal_is_antisymmetric_in_the_word() {
        let s = Distribution::normal(0.0, 1.0).sampler();
        for w in [0u32, 511, 0x1234_5678, 0x7FFF_FE00, 0xFFFF_FFFF] {
            assert_eq!(sample(&s, w), -sample(&s, !w));
        }
        assert!(sample(&s, 0) < -5.0 && sample(&s, u32::MAX) > 5.0);
    }

    #[test]
    fn truncated_normal_stays_in_bounds() {
        for (a, b) in [(-2.0, 2.0), (0.5, 3.0), (-4.0, -3.5), (-1e9, 0.0)] {
            let d = Distribution::TruncatedNormal {
                mean: 1.0,
                std: 0.5,
                a,
                b,
            };
            d.validate().unwrap();
            let s = d.sampler();
            for w in (0..=u32::MAX).step_by(65_537).chain([0, u32::MAX]) {
                let x = sample(&s, w);
                assert!(x >= s.lo && x <= s.hi && x.is_finite(), "{a} {b} {w}: {x}");
            }
        }
    }

    #[test]
    fn truncated_moments_match_jax_correction() {
        // JAX's 0.8796... is the std of a standard normal truncated to [-2, 2].
        let (m, v) = Distribution::truncated_normal(0.0, 1.0, -2.0, 2.0).moments();
        assert!(m.abs() < 1e-15);
        assert!(
            (v.sqrt() - crate::rng::TRUNCATED_STD_CORRECTION).abs() < 1e-12,
            "{}",
            v.sqrt()
        );
    }
}
