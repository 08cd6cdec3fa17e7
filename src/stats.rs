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

use rayon::prelude::*;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};
use statrs::function::erf::erfc;

use crate::distribution::{phi, truncated_mass, Distribution};

/// Values reduced per two-pass block in [`Moments::push`]: small enough to stay in cache.
const BLOCK: usize = 4096;

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

// ---------------------------------------------------------------------------------------
// 1. Streaming moments
// ---------------------------------------------------------------------------------------

/// Streaming, mergeable sample moments in f64 (two-pass per block, Pébay's pairwise merge),
/// so chunks reduced on different threads or devices combine as one pass would (to rounding).
///
/// Non-finite values are counted (NaN and +/-inf separately) and left out of every moment.
/// Each [`Moments::push`] reduces blocks of 4096 values with a two-pass centered sum and
/// merges them in with the pairwise update of Pébay (2008), "Formulas for robust, one-pass
/// parallel computation of covariances and arbitrary-order statistical moments" (the
/// order-2 case is Chan, Golub and LeVeque 1979): no sum of raw powers is ever formed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    n: u64,
    mean: f64,
    /// Sums of centered powers: sum (x - mean)^k for k = 2, 3, 4.
    m2: f64,
    m3: f64,
    m4: f64,
    min: f64,
    max: f64,
    nan: u64,
    inf: u64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments::new()
    }
}

impl Moments {
    /// An empty accumulator.
    pub fn new() -> Moments {
        Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            m3: 0.0,
            m4: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            nan: 0,
            inf: 0,
        }
    }

    /// The moments of one slice (f32, f64, u32, ...), as a fresh accumulator.
    pub fn of<T: Copy + Into<f64>>(xs: &[T]) -> Moments {
        let mut m = Moments::new();
        m.push(xs);
        m
    }

    /// Adds a slice of values: two passes per 4096-value block (mean, then centered powers).
    pub fn push<T: Copy + Into<f64>>(&mut self, xs: &[T]) {
        for chunk in xs.chunks(BLOCK) {
            let mut b = Moments::new();
            let mut sum = 0.0;
            for &x in chunk {
                let x: f64 = x.into();
                if x.is_finite() {
                    sum += x;
                    b.n += 1;
                    b.min = b.min.min(x);
                    b.max = b.max.max(x);
                } else if x.is_nan() {
                    b.nan += 1;
                } else {
                    b.inf += 1;
                }
            }
            if b.n > 0 {
                b.mean = sum / b.n as f64;
                for &x in chunk {
                    let x: f64 = x.into();
                    if x.is_finite() {
                        let d = x - b.mean;
                        let d2 = d * d;
                        b.m2 += d2;
                        b.m3 += d2 * d;
                        b.m4 += d2 * d2;
                    }
                }
            }
            self.merge(&b);
        }
    }

    /// Combines another accumulator into this one, as if its values had been pushed here.
    pub fn merge(&mut self, o: &Moments) {
        self.nan += o.nan;
        self.inf += o.inf;
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            let (nan, inf) = (self.nan, self.inf);
            *self = *o;
            self.nan = nan;
            self.inf = inf;
            return;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        let d = o.mean - self.mean;
        let dn = d / n;
        let (a2, a3, a4) = (self.m2, self.m3, self.m4);
        let (b2, b3, b4) = (o.m2, o.m3, o.m4);
        self.m4 = a4
            + b4
            + d * dn * dn * dn * na * nb * (na * na - na * nb + nb * nb)
            + 6.0 * dn * dn * (na * na * b2 + nb * nb * a2)
            + 4.0 * dn * (na * b3 - nb * a3);
        self.m3 = a3 + b3 + d * dn * dn * na * nb * (na - nb) + 3.0 * dn * (na * b2 - nb * a2);
        self.m2 = a2 + b2 + d * dn * na * nb;
        self.mean += dn * nb;
        self.n += o.n;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Number of finite values (the n of every moment).
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Sample mean of the finite values (NaN when there are none).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.mean
        }
    }

    /// Unbiased sample variance, sum (x - mean)^2 / (n - 1) (NaN for n < 2).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            f64::NAN
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }

    /// Sample skewness g1 = m3 / m2^(3/2) with m_k = sum (x - mean)^k / n (the moment
    /// estimator, bias O(1/n)); 0 when all values are equal, NaN when there are none.
    pub fn skewness(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else if self.m2 == 0.0 {
            0.0
        } else {
            (self.n as f64).sqrt() * self.m3 / self.m2.powf(1.5)
        }
    }

    /// Sample excess kurtosis g2 = m4 / m2^2 - 3 (moment estimator, bias O(1/n));
    /// 0 when all values are equal, NaN when there are none.
    pub fn excess_kurtosis(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else if self.m2 == 0.0 {
            0.0
        } else {
            self.n as f64 * self.m4 / (self.m2 * self.m2) - 3.0
        }
    }

    /// Smallest finite value (+inf when there are none).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Largest finite value (-inf when there are none).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Number of NaN values seen.
    pub fn nan_count(&self) -> u64 {
        self.nan
    }

    /// Number of +/-infinite values seen.
    pub fn inf_count(&self) -> u64 {
        self.inf
    }

    /// Number of non-finite values seen (NaN + inf): any is a defect in a weight tensor.
    pub fn nonfinite_count(&self) -> u64 {
        self.nan + self.inf
    }
}

// ---------------------------------------------------------------------------------------
// 2. Exact theory and z-tests on the moments
// ---------------------------------------------------------------------------------------

/// Exact mean and central moments mu_0..mu_8 of a [`Distribution`], for exact standard errors.
///
/// Uniform: mu_k = (w/2)^k / (k+1) for even k, 0 for odd. Normal: mu_k = std^k (k-1)!! for
/// even k. Truncated normal: see [`truncated_standard_moments`]. Constant: all central
/// moments 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Theory {
    pub mean: f64,
    /// `central[k]` = E[(X - mean)^k]; `central[0]` = 1, `central[1]` = 0.
    pub central: [f64; 9],
}

impl Theory {
    /// The exact theory of `dist` (f64 parameters, as the scheme resolved them).
    pub fn of(dist: &Distribution) -> Theory {
        let mut c = [0.0f64; 9];
        c[0] = 1.0;
        let mean = match *dist {
            Distribution::Uniform { low, high } => {
                let h = (high - low) / 2.0;
                for k in (2..=8).step_by(2) {
                    c[k] = h.powi(k as i32) / (k + 1) as f64;
                }
                (low + high) / 2.0
            }
            Distribution::Normal { mean, std } => {
                let mut double_factorial = 1.0;
                for k in (2..=8).step_by(2) {
                    double_factorial *= (k - 1) as f64;
                    c[k] = double_factorial * std.powi(k as i32);
                }
                mean
            }
            Distribution::TruncatedNormal { mean, std, a, b } => {
                let (m, s) = truncated_standard_moments(a, b);
                for k in 2..=8usize {
                    c[k] = s[k] * std.powi(k as i32);
                }
                mean + std * m
            }
            Distribution::Constant { value } => value,
        };
        Theory { mean, central: c }
    }

    /// Variance mu_2.
    pub fn variance(&self) -> f64 {
        self.central[2]
    }

    /// Fourth central moment mu_4.
    pub fn mu4(&self) -> f64 {
        self.central[4]
    }

    /// Skewness mu_3 / mu_2^(3/2) (0 for a point mass, by convention).
    pub fn skewness(&self) -> f64 {
        let c = &self.central;
        if c[2] == 0.0 {
            0.0
        } else {
            c[3] / c[2].powf(1.5)
        }
    }

    /// Excess kurtosis mu_4 / mu_2^2 - 3 (0 for a point mass, by convention).
    pub fn excess_kurtosis(&self) -> f64 {
        let c = &self.central;
        if c[2] == 0.0 {
            0.0
        } else {
            c[4] / (c[2] * c[2]) - 3.0
        }
    }

    /// n Cov(m_q, m_r) as n -> infinity, for sample central moments m_q, m_r (Cramér's
    /// first-order expansion m_r ~ mean of (Y^r - r mu_(r-1) Y), Y = X - mean).
    fn ncov(&self, q: usize, r: usize) -> f64 {
        let c = &self.central;
        let (qf, rf) = (q as f64, r as f64);
        c[q + r] - c[q] * c[r] - rf * c[r - 1] * c[q + 1] - qf * c[q - 1] * c[r + 1]
            + qf * rf * c[q - 1] * c[r - 1] * c[2]
    }

    /// Standard error of the sample mean, sqrt(mu_2 / n) (exact for i.i.d. samples).
    pub fn se_mean(&self, n: u64) -> f64 {
        (self.central[2] / n as f64).sqrt()
    }

    /// Large-n standard error of the unbiased sample variance, sqrt((mu_4 - mu_2^2) / n).
    ///
    /// The exact i.i.d. variance is mu_4/n - mu_2^2 (n-3)/(n(n-1)); the two differ by
    /// 2 mu_2^2/(n(n-1)), a relative O(1/n) change to the z-score (1e-6 at n = 1e6).
    ///
    /// Detectable effect: a relative error e in the variance gives an expected
    /// z = e sqrt(n / (kurtosis - 1)), so z = 6 on average needs n = 36 (kurtosis - 1) / e^2.
    /// For e = 1%: n = 288,000 for a uniform (kurtosis 9/5), 720,000 for a normal (kurtosis 3).
    /// Measured over 16 seeds (`measure_detectable_effect` in the tests), |z| > 6 in 16/16
    /// at n = 500,000 uniform (smallest z 6.0; 8.5 at 1M) and n = 2,000,000 normal (smallest
    /// z 7.7; 14/16 at 1M). A bound or std off by 1% is a 2.01% variance error: n = 71,000
    /// (uniform) and 178,000 (normal) on average.
    pub fn se_variance(&self, n: u64) -> f64 {
        let c = &self.central;
        ((c[4] - c[2] * c[2]) / n as f64).sqrt()
    }

    /// Large-n standard error of the sample skewness g1, by the delta method on (m_2, m_3)
    /// with the general asymptotic covariances (needs mu_2..mu_6); for a normal it is
    /// exactly the textbook sqrt(6/n), for a uniform sqrt(2.057/n).
    pub fn se_skewness(&self, n: u64) -> f64 {
        let c = &self.central;
        if c[2] == 0.0 {
            return 0.0;
        }
        let (mu2, mu3) = (c[2], c[3]);
        let v = self.ncov(3, 3) / mu2.powi(3) - 3.0 * mu3 * self.ncov(2, 3) / mu2.powi(4)
            + 2.25 * mu3 * mu3 * self.ncov(2, 2) / mu2.powi(5);
        (v.max(0.0) / n as f64).sqrt()
    }

    /// Large-n standard error of the sample excess kurtosis g2, by the delta method on
    /// (m_2, m_4) (needs mu_2..mu_8); for a normal it is exactly the textbook sqrt(24/n).
    pub fn se_excess_kurtosis(&self, n: u64) -> f64 {
        let c = &self.central;
        if c[2] == 0.0 {
            return 0.0;
        }
        let (mu2, mu4) = (c[2], c[4]);
        let v = self.ncov(4, 4) / mu2.powi(4) - 4.0 * mu4 * self.ncov(2, 4) / mu2.powi(5)
            + 4.0 * mu4 * mu4 * self.ncov(2, 2) / mu2.powi(6);
        (v.max(0.0) / n as f64).sqrt()
    }
}

/// Mean and central moments E[(Z - m)^k], k = 0..8, of a standard normal truncated to [a, b]
/// (infinite bounds allowed), by [`truncated_quadrature`]: good to ~1e-14 relative for every
/// interval.
///
/// The standard recurrence ([`truncated_recurrence`], kept as an independent cross-check) is
/// not used because it is not exact in f64 here: (i) it cancels when the truncated
/// distribution is narrow compared with the parent (a narrow interval, or a far tail):
/// even with exact Phi its mu_8 is off by 1e-5 on [-4, -3.5] (sd 0.13) and by 2% on
/// [5, inf) (sd 0.18); (ii) it needs Phi(b) - Phi(a), and statrs 0.18's erfc is good to only
/// ~1e-10 relative (its interval constants carry 10 digits; statrs PR #412), which even on
/// [-1, 1] costs 5e-9 in mu_6.
pub fn truncated_standard_moments(a: f64, b: f64) -> (f64, [f64; 9]) {
    truncated_quadrature(a, b)
}

/// The standard recurrence for the moments of a normal truncated to [a, b] (integration by
/// parts with phi'(z) = -z phi(z)), taken about the truncated mean c = (phi(a) - phi(b)) / Z,
/// Z = Phi(b) - Phi(a), so no binomial re-centering is needed:
/// `E[(Z-c)^k] = (k-1) E[(Z-c)^(k-2)] - c E[(Z-c)^(k-1)] + ((a-c)^(k-1) phi(a) - (b-c)^(k-1) phi(b)) / Z`,
/// where a term at an infinite bound is 0. Returns c and `E[(Z-c)^k]` for k = 0..8.
pub fn truncated_recurrence(a: f64, b: f64) -> (f64, [f64; 9]) {
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let z = truncated_mass(a, b);
    let (ra, rb) = (pdf(a) / z, pdf(b) / z);
    let m = ra - rb;
    // (t - m)^(k-1) phi(t) / Z, 0 at an infinite bound.
    let edge = |t: f64, r: f64, k: i32| {
        if t.is_finite() {
            (t - m).powi(k - 1) * r
        } else {
            0.0
        }
    };
    let mut s = [0.0f64; 9];
    s[0] = 1.0;
    for k in 2..=8usize {
        s[k] = (k - 1) as f64 * s[k - 2] - m * s[k - 1] + edge(a, ra, k as i32)
            - edge(b, rb, k as i32);
    }
    (m, s)
}

/// 16-point Gauss-Legendre nodes and weights on [-1, 1], by Newton's method on P_16.
fn gauss_legendre_16() -> ([f64; 16], [f64; 16]) {
    const N: usize = 16;
    let (mut x, mut w) = ([0.0; N], [0.0; N]);
    for i in 0..N / 2 {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (N as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (1.0f64, 0.0f64);
            for j in 0..N {
                let p3 = p2;
                p2 = p1;
                p1 = ((2 * j + 1) as f64 * z * p2 - j as f64 * p3) / (j + 1) as f64;
            }
            dp = N as f64 * (z * p1 - p2) / (z * z - 1.0);
            let step = p1 / dp;
            z -= step;
            if step.abs() <= 1e-16 {
                break;
            }
        }
        x[i] = -z;
        x[N - 1 - i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
        w[N - 1 - i] = w[i];
    }
    (x, w)
}

/// The same moments as [`truncated_recurrence`] by composite 16-point Gauss-Legendre
/// quadrature of exp(-(x^2 - x0^2)/2), x0 the mode: panels of width 0.5 / (1.5 + |x|) (the
/// density's log-slope is |x|) over the part of [a, b] where the density is above e^-700 of
/// its peak. Accurate to ~1e-14 relative for any interval; a few thousand panels at most.
/// NaN unless a < b.
pub fn truncated_quadrature(a: f64, b: f64) -> (f64, [f64; 9]) {
    if a.is_nan() || b.is_nan() || a >= b {
        return (f64::NAN, [f64::NAN; 9]);
    }
    let (gx, gw) = gauss_legendre_16();
    let x0 = 0.0f64.clamp(a, b);
    let r = (x0 * x0 + 1400.0).sqrt();
    let (lo, hi) = (a.max(-r), b.min(r));
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let mut x = lo;
    while x < hi {
        let h = (0.5 / (1.5 + x.abs())).min(hi - x);
        for (&t, &wt) in gx.iter().zip(&gw) {
            let xi = x + 0.5 * h * (t + 1.0);
            pts.push((xi, 0.5 * h * wt * (-0.5 * (xi - x0) * (xi + x0)).exp()));
        }
        x += h;
    }
    let z: f64 = pts.iter().map(|p| p.1).sum();
    let m = pts.iter().map(|p| p.0 * p.1).sum::<f64>() / z;
    let mut s = [0.0f64; 9];
    s[0] = 1.0;
    for (xi, wi) in pts {
        let d = xi - m;
        let mut dk = d;
        for sk in s.iter_mut().skip(2) {
            dk *= d;
            *sk += dk * wi;
        }
    }
    for sk in s.iter_mut().skip(2) {
        *sk /= z;
    }
    (m, s)
}

/// One z-test row: an observed statistic against its exact expectation and standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZTest {
    pub observed: f64,
    pub expected: f64,
    pub std_error: f64,
    /// (observed - expected) / std_error. With a zero standard error (a point mass): 0 when
    /// observed and expected agree after rounding to f32, else +/-inf.
    pub z: f64,
    /// Two-sided p-value of z.
    pub p: f64,
}

impl ZTest {
    /// The z-test of `observed` against `expected` with standard error `std_error`.
    pub fn new(observed: f64, expected: f64, std_error: f64) -> ZTest {
        let diff = observed - expected;
        let z = if std_error > 0.0 {
            diff / std_error
        } else if observed.is_nan() || expected.is_nan() {
            f64::NAN
        } else if observed as f32 == expected as f32 {
            0.0
        } else {
            f64::INFINITY.copysign(diff)
        };
        ZTest {
            observed,
            expected,
            std_error,
            z,
            p: two_sided_p(z),
        }
    }
}

/// The four moment z-tests of a sample against a distribution's exact theory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MomentTests {
    /// Finite values tested.
    pub n: u64,
    /// NaN and infinite values (left out; any one is a failure the caller should report).
    pub nonfinite: u64,
    /// Sample mean; se = sqrt(mu_2 / n).
    pub mean: ZTest,
    /// Unbiased sample variance; se = sqrt((mu_4 - mu_2^2) / n) (large-n).
    pub variance: ZTest,
    /// Sample skewness g1; large-n delta-method se ([`Theory::se_skewness`]).
    pub skewness: ZTest,
    /// Sample excess kurtosis g2; large-n delta-method se ([`Theory::se_excess_kurtosis`]).
    pub excess_kurtosis: ZTest,
}

impl MomentTests {
    /// The four tests in a fixed order, for reports: (name, test).
    pub fn rows(&self) -> [(&'static str, ZTest); 4] {
        [
            ("mean", self.mean),
            ("variance", self.variance),
            ("skewness", self.skewness),
            ("excess_kurtosis", self.excess_kurtosis),
        ]
    }
}

/// z-tests of mean, variance, skewness and excess kurtosis of `m` against `dist` exactly.
pub fn moment_tests(m: &Moments, dist: &Distribution) -> MomentTests {
    let t = Theory::of(dist);
    let n = m.count();
    MomentTests {
        n,
        nonfinite: m.nonfinite_count(),
        mean: ZTest::new(m.mean(), t.mean, t.se_mean(n)),
        variance: ZTest::new(m.variance(), t.variance(), t.se_variance(n)),
        skewness: ZTest::new(m.skewness(), t.skewness(), t.se_skewness(n)),
        excess_kurtosis: ZTest::new(
            m.excess_kurtosis(),
            t.excess_kurtosis(),
            t.se_excess_kurtosis(n),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// 3. Exact CDF
// ---------------------------------------------------------------------------------------

/// Exact CDF of `dist` at `x` in f64 (NaN for NaN x), the truncated normal's by the same
/// tail-preserving subtraction as [`truncated_mass`] so values near 0 keep their digits
/// (to the ~1e-10 relative of statrs 0.18's erfc, far below any test's resolution).
pub fn cdf(dist: &Distribution, x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    match *dist {
        Distribution::Uniform { low, high } => ((x - low) / (high - low)).clamp(0.0, 1.0),
        Distribution::Normal { mean, std } => phi((x - mean) / std),
        Distribution::TruncatedNormal { mean, std, a, b } => {
            let z = (x - mean) / std;
            if z <= a {
                0.0
            } else if z >= b {
                1.0
            } else {
                (truncated_mass(a, z) / truncated_mass(a, b)).clamp(0.0, 1.0)
            }
        }
        Distribution::Constant { value } => {
            if x < value {
                0.0
            } else {
                1.0
            }
        }
    }
}

/// Sorts `xs` in place by `f32::total_cmp` (NaNs gather at the ends) and returns the
/// NaN-free middle with the NaN count: KS and AD read the sorted sample directly, so a
/// large sample is never copied.
fn sort_finite(xs: &mut [f32]) -> (&[f32], u64) {
    xs.par_sort_unstable_by(f32::total_cmp);
    let start = xs.iter().take_while(|x| x.is_nan()).count();
    let end = (xs.len() - xs.iter().rev().take_while(|x| x.is_nan()).count()).max(start);
    let nan = (start + xs.len() - end) as u64;
    (&xs[start..end], nan)
}

// ---------------------------------------------------------------------------------------
// 4. Kolmogorov-Smirnov
// ---------------------------------------------------------------------------------------

/// One-sample Kolmogorov-Smirnov result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsResult {
    /// Samples tested (NaN-CDF samples excluded).
    pub n: u64,
    /// D = max(D+, D-), the largest distance between the empirical and the model CDF.
    pub d: f64,
    /// max_i (i/n - F_(i)): the empirical CDF above the model.
    pub d_plus: f64,
    /// max_i (F_(i) - (i-1)/n): the empirical CDF below the model.
    pub d_minus: f64,
    /// Stephens' scaled statistic (sqrt(n) + 0.12 + 0.11/sqrt(n)) D.
    pub lambda: f64,
    /// Q_KS(lambda); 0 if any sample had a NaN CDF.
    pub p: f64,
    /// Samples whose CDF was NaN.
    pub nan_count: u64,
}

/// Kolmogorov survival function Q(lambda) = P(K > lambda) = 2 sum_{j>=1} (-1)^(j-1) e^(-2 j^2 lambda^2),
/// by the Jacobi-theta form 1 - sqrt(2 pi)/lambda sum_{j>=1} e^(-(2j-1)^2 pi^2 / (8 lambda^2))
/// below lambda = 1.18 where the alternating series converges slowly.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    use std::f64::consts::PI;
    if lambda.is_nan() {
        return f64::NAN;
    }
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        let t = PI * PI / (8.0 * lambda * lambda);
        let mut s = 0.0;
        for j in 1..=64u32 {
            let k = f64::from(2 * j - 1);
            let term = (-k * k * t).exp();
            s += term;
            if term <= 1e-17 * s {
                break;
            }
        }
        (1.0 - (2.0 * PI).sqrt() / lambda * s).clamp(0.0, 1.0)
    } else {
        let mut s = 0.0;
        let mut sign = 1.0;
        for j in 1..=64u32 {
            let jf = f64::from(j);
            let term = (-2.0 * jf * jf * lambda * lambda).exp();
            s += sign * term;
            sign = -sign;
            if term <= 1e-17 * s.abs() || term == 0.0 {
                break;
            }
        }
        (2.0 * s).clamp(0.0, 1.0)
    }
}

/// Kolmogorov-Smirnov p-value for statistic `d` on `n` samples: Q_KS of Stephens' scaled
/// (sqrt(n) + 0.12 + 0.11/sqrt(n)) d (Stephens 1970; Numerical Recipes 3rd ed. 14.3.3).
pub fn ks_p_value(n: u64, d: f64) -> f64 {
    kolmogorov_sf(ks_lambda(n, d))
}

fn ks_lambda(n: u64, d: f64) -> f64 {
    let sn = (n as f64).sqrt();
    (sn + 0.12 + 0.11 / sn) * d
}

/// One-sample Kolmogorov-Smirnov test of `xs` against `cdf`; sorts `xs` in place.
pub fn ks_test(xs: &mut [f32], cdf: impl Fn(f64) -> f64) -> KsResult {
    let (f, nan_count) = sort_finite(xs);
    let n = f.len();
    if n == 0 {
        return KsResult {
            n: 0,
            d: f64::NAN,
            d_plus: f64::NAN,
            d_minus: f64::NAN,
            lambda: f64::NAN,
            p: if nan_count > 0 { 0.0 } else { f64::NAN },
            nan_count,
        };
    }
    let nf = n as f64;
    let (mut d_plus, mut d_minus) = (0.0f64, 0.0f64);
    for (i, &x) in f.iter().enumerate() {
        let fi = cdf(f64::from(x));
        d_plus = d_plus.max((i + 1) as f64 / nf - fi);
        d_minus = d_minus.max(fi - i as f64 / nf);
    }
    let d = d_plus.max(d_minus);
    let lambda = ks_lambda(n as u64, d);
    KsResult {
        n: n as u64,
        d,
        d_plus,
        d_minus,
        lambda,
        p: if nan_count > 0 {
            0.0
        } else {
            kolmogorov_sf(lambda)
        },
        nan_count,
    }
}

// ---------------------------------------------------------------------------------------
// 5. Anderson-Darling
// ---------------------------------------------------------------------------------------

/// CDF values are clamped to [AD_EPS, 1 - AD_EPS] before the logs: 2^-53, the spacing of
/// f64 just below 1. No sample of these generators is moved (their F lies in [2^-25, 1 -
/// 2^-25]); an out-of-support one (F = 0 or 1) costs a large but finite ln(2^-53) = -36.7.
const AD_EPS: f64 = f64::EPSILON / 2.0;

/// Anderson-Darling result for a fully specified distribution (case 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdResult {
    /// Samples tested (NaN-CDF samples excluded).
    pub n: u64,
    /// A^2 = -n - (1/n) sum_i (2i-1) [ln F_(i) + ln(1 - F_(n+1-i))].
    pub a2: f64,
    /// P(A^2 > a2) for this n ([`ad_p_value`]); 0 if any sample had a NaN CDF.
    pub p: f64,
    /// The asymptotic (n = infinity) p-value, [`ad_asymptotic_p`].
    pub p_asymptotic: f64,
    /// Samples whose CDF was NaN.
    pub nan_count: u64,
}

/// Where [`ad_asymptotic_p`] switches from Marsaglia's `adinf` to the two-term tail.
const AD_TAIL_FROM: f64 = 4.0;

/// Asymptotic Anderson-Darling upper tail P(A^2 > z), n = infinity, accurate in relative
/// terms down to the smallest p: Marsaglia & Marsaglia's `adinf` below z = 4, the two-term
/// large-z expansion sqrt(3) erfc(sqrt(z)) (1 + 11/(36 z)) from z = 4 on.
///
/// `adinf` (Marsaglia & Marsaglia 2004, "Evaluating the Anderson-Darling distribution",
/// J. Stat. Soft. 9(2)) is a fit with small *absolute* error, but its tail collapses: against
/// the exact series (mpmath, 60 digits) it gives 6.8e-6 for 1.38e-5 at z = 10, 1.9e-8 for
/// 1.7e-6 at z = 12 and 2.6e-20 for 7.6e-8 at z = 15, which at a Bonferroni alpha of 1e-8
/// would fail clean data. The tail expansion follows from A^2 = sum_j Y_j / (j (j+1)),
/// Y_j iid chi-square(1): the j = 1 term dominates, prod_{j>=2} (1 - 2/(j(j+1)))^(-1/2)
/// = sqrt(3), and the next order is 1 + (sum_{j>=2} 1/(j(j+1) - 2)) / (2z) = 1 + 11/(36z).
/// Against the exact series its relative error is 2e-4 at z = 3.88 (p = 0.01), 1e-3 at z = 6,
/// 6e-4 at z = 10, 2e-4 at z = 20, 6e-5 at z = 40; `adinf`'s is 3e-4 at z = 3.88.
pub fn ad_asymptotic_p(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z <= 0.0 {
        return 1.0;
    }
    if z < 2.0 {
        1.0 - adinf(z)
    } else if z < AD_TAIL_FROM {
        // 1 - exp(-e^g) without cancellation.
        -(-ad_tail_exponent(z).exp()).exp_m1()
    } else {
        3f64.sqrt() * erfc(z.sqrt()) * (1.0 + 11.0 / (36.0 * z))
    }
}

/// ADinf(z) = P(A^2 <= z), n = infinity (Marsaglia & Marsaglia 2004, `adinf`, as published).
fn adinf(z: f64) -> f64 {
    if z <= 0.0 {
        return 0.0;
    }
    if z < 2.0 {
        (-1.233_714_1 / z).exp() / z.sqrt()
            * (2.000_12
                + (0.247_105
                    - (0.064_982_1 - (0.034_796_2 - (0.011_672 - 0.001_686_91 * z) * z) * z) * z)
                    * z)
    } else {
        (-ad_tail_exponent(z).exp()).exp()
    }
}

/// g(z) with ADinf(z) = exp(-exp(g(z))) for z >= 2.
fn ad_tail_exponent(z: f64) -> f64 {
    1.0776 - (2.306_95 - (0.434_24 - (0.082_433 - (0.008_056 - 0.000_314_6 * z) * z) * z) * z) * z
}

/// Marsaglia & Marsaglia's finite-n correction `errfix(n, x)` to the CDF at x = ADinf(z):
/// P(A^2 <= z | n) ~ x + errfix(n, x), fitted for n >= 1 (their eqs. with g1, g2, g3).
fn ad_errfix(n: f64, x: f64) -> f64 {
    if x > 0.8 {
        return (-130.2137
            + (745.2337 - (1705.091 - (1950.646 - (1116.360 - 255.7844 * x) * x) * x) * x) * x)
            / n;
    }
    let c = 0.01265 + 0.1757 / n;
    if x < c {
        let t = x / c;
        let t = t.sqrt() * (1.0 - t) * (49.0 * t - 102.0);
        return t * (0.0037 / (n * n) + 0.00078 / n + 0.00006) / n;
    }
    let t = (x - c) / (0.8 - c);
    let t =
        -0.000_226_33 + (6.540_34 - (14.6538 - (14.458 - (8.259 - 1.918_64 * t) * t) * t) * t) * t;
    t * (0.04213 + 0.01365 / n) / n
}

/// Asymptotic p-values below this keep no finite-n correction (see [`ad_p_value`]).
const AD_FIX_DOWN_TO: f64 = 1e-3;

/// Anderson-Darling p-value P(A^2 > a2) for `n` samples of a fully specified distribution:
/// [`ad_asymptotic_p`] minus Marsaglia & Marsaglia's finite-n correction `errfix`.
///
/// `errfix` is a fitted O(1/n) curve (|errfix| < 0.05/n) whose own accuracy is "off at the
/// 5th, rarely the 4th digit" in absolute terms, and which does not vanish at x = 1 (it is
/// -6e-4/n there). It is applied while the asymptotic p is at least 1e-3; below that it is
/// beyond its resolution and the asymptotic tail is returned. For the n of this battery
/// (1e4 and up) the correction is below 5e-6 everywhere.
pub fn ad_p_value(n: u64, a2: f64) -> f64 {
    let p_inf = ad_asymptotic_p(a2);
    if p_inf.is_nan() || n == 0 || p_inf < AD_FIX_DOWN_TO {
        return p_inf;
    }
    (p_inf - ad_errfix(n as f64, adinf(a2))).clamp(0.0, 1.0)
}

/// Anderson-Darling test of `xs` against a fully specified `cdf` (case 0); sorts `xs` in place.
pub fn ad_test(xs: &mut [f32], cdf: impl Fn(f64) -> f64) -> AdResult {
    let (f, nan_count) = sort_finite(xs);
    let n = f.len();
    if n == 0 {
        return AdResult {
            n: 0,
            a2: f64::NAN,
            p: if nan_count > 0 { 0.0 } else { f64::NAN },
            p_asymptotic: f64::NAN,
            nan_count,
        };
    }
    let nf = n as f64;
    // A^2 = sum_i [-1 - ((2i-1) ln F_i + (2n+1-2i) ln(1-F_i)) / n], each term O(1), summed
    // with Neumaier compensation: no O(n) total is ever cancelled against -n.
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for (i, &x) in f.iter().enumerate() {
        let fi = cdf(f64::from(x)).clamp(AD_EPS, 1.0 - AD_EPS);
        let k = (2 * i + 1) as f64;
        let term = -1.0 - (k * fi.ln() + (2.0 * nf - k) * (-fi).ln_1p()) / nf;
        let t = sum + term;
        comp += if sum.abs() >= term.abs() {
            (sum - t) + term
        } else {
            (term - t) + sum
        };
        sum = t;
    }
    let a2 = sum + comp;
    AdResult {
        n: n as u64,
        a2,
        p: if nan_count > 0 {
            0.0
        } else {
            ad_p_value(n as u64, a2)
        },
        p_asymptotic: ad_asymptotic_p(a2),
        nan_count,
    }
}

// ---------------------------------------------------------------------------------------
// 6. Chi-square goodness of fit
// ---------------------------------------------------------------------------------------

/// A chi-square test row: statistic, degrees of freedom, p-value and the worst cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChiSquareResult {
    /// Observations counted.
    pub n: u64,
    /// sum (O - E)^2 / E over the cells with E > 0.
    pub statistic: f64,
    pub dof: f64,
    /// Upper-tail p-value from statrs `ChiSquared::sf`; 0 if any observation was excluded.
    pub p: f64,
    /// Index of the cell with the largest |O - E| / sqrt(E) (row-major for tables).
    pub worst_cell: usize,
    /// Its Pearson residual (O - E) / sqrt(E), signed.
    pub worst_residual: f64,
    /// Observations left out (NaN CDF values).
    pub excluded: u64,
}

impl ChiSquareResult {
    /// The Pearson statistic of `observed` against `expected` (same length), with `dof`;
    /// NaN with no observations.
    fn from_counts(observed: &[u64], expected: &[f64], dof: f64, excluded: u64) -> Self {
        let n: u64 = observed.iter().sum();
        let (mut statistic, mut worst_cell, mut worst_residual) = (0.0, 0, 0.0f64);
        if n == 0 {
            statistic = f64::NAN;
        }
        for (i, (&o, &e)) in observed.iter().zip(expected).enumerate() {
            if e > 0.0 {
                let r = (o as f64 - e) / e.sqrt();
                statistic += r * r;
                if r.abs() > worst_residual.abs() {
                    worst_cell = i;
                    worst_residual = r;
                }
            }
        }
        ChiSquareResult {
            n,
            statistic,
            dof,
            p: if excluded > 0 {
                0.0
            } else {
                chi_square_p(statistic, dof)
            },
            worst_cell,
            worst_residual,
            excluded,
        }
    }
}

/// Chi-square goodness of fit of `xs` over `bins` equiprobable bins of `cdf`
/// (bin = floor(bins * F(x)) clamped to bins - 1), with bins - 1 degrees of freedom.
///
/// Choose bins so every expected count n/bins is at least ~5 (e.g. 100 to 1000 for n ~ 1e6).
///
/// # Panics
/// If `bins < 2`.
pub fn chi_square_gof(xs: &[f32], cdf: impl Fn(f64) -> f64 + Sync, bins: usize) -> ChiSquareResult {
    assert!(bins >= 2, "chi-square needs at least 2 bins, got {bins}");
    let k = bins as f64;
    let (counts, nan) = xs
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut c = vec![0u64; bins];
            let mut nan = 0u64;
            for &x in chunk {
                let f = cdf(f64::from(x));
                if f.is_nan() {
                    nan += 1;
                } else {
                    // `as usize` saturates: F < 0 cannot happen, F = 1 lands in bin `bins`.
                    c[((k * f) as usize).min(bins - 1)] += 1;
                }
            }
            (c, nan)
        })
        .reduce(
            || (vec![0u64; bins], 0),
            |(mut a, na), (b, nb)| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                (a, na + nb)
            },
        );
    let total: u64 = counts.iter().sum();
    let expected = vec![total as f64 / k; bins];
    ChiSquareResult::from_counts(&counts, &expected, k - 1.0, nan)
}

// ---------------------------------------------------------------------------------------
// 7. Raw bit tests on u32 words
// ---------------------------------------------------------------------------------------

/// Per-bit frequency test of a word sequence: each bit should be 1 half the time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BitFrequency {
    /// Words tested.
    pub n: u64,
    /// z of bit b's count of ones: (ones_b - n/2) / sqrt(n/4) (bit 0 = least significant).
    pub z: [f64; 32],
    /// sum of z_b^2, chi-square with 32 dof (the bits of a word are independent under H0).
    pub chi2: ChiSquareResult,
    /// The largest |z_b| and its bit.
    pub max_abs_z: f64,
    pub max_bit: u32,
    /// Šidák-adjusted p of the largest |z|: 1 - (1 - p_two_sided)^32.
    pub p_max: f64,
}

/// Per-bit frequency of `words`: 32 z-scores, their 32-dof chi-square, and the max |z|.
pub fn bit_frequency(words: &[u32]) -> BitFrequency {
    let counts = words
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut c = [0u32; 32];
            for &w in chunk {
                for (b, c) in c.iter_mut().enumerate() {
                    *c += (w >> b) & 1;
                }
            }
            c.map(u64::from)
        })
        .reduce(
            || [0u64; 32],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let n = words.len() as u64;
    let nf = n as f64;
    let z = counts.map(|c| (c as f64 - nf / 2.0) / (nf / 4.0).sqrt());
    let statistic: f64 = z.iter().map(|z| z * z).sum();
    let (max_bit, max_abs_z) =
        z.iter()
            .map(|z| z.abs())
            .enumerate()
            .fold(
                (0, 0.0f64),
                |(bi, bz), (i, a)| if a > bz { (i, a) } else { (bi, bz) },
            );
    let max_abs_z = if n == 0 { f64::NAN } else { max_abs_z };
    let worst_residual = z[max_bit];
    let p_one = two_sided_p(max_abs_z);
    BitFrequency {
        n,
        z,
        chi2: ChiSquareResult {
            n,
            statistic,
            dof: 32.0,
            p: chi_square_p(statistic, 32.0),
            worst_cell: max_bit,
            worst_residual,
            excluded: 0,
        },
        max_abs_z,
        max_bit: max_bit as u32,
        // 1 - (1 - p)^32 without cancellation for small p.
        p_max: -(32.0 * (-p_one).ln_1p()).exp_m1(),
    }
}

/// Chi-square of byte values over all 4 bytes of each word: 256 cells, 255 dof.
pub fn byte_chi_square(words: &[u32]) -> ChiSquareResult {
    let counts = words
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut c = vec![0u64; 256];
            for &w in chunk {
                for byte in w.to_le_bytes() {
                    c[usize::from(byte)] += 1;
                }
            }
            c
        })
        .reduce(
            || vec![0u64; 256],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let expected = vec![4.0 * words.len() as f64 / 256.0; 256];
    ChiSquareResult::from_counts(&counts, &expected, 255.0, 0)
}

/// A correlation z-test row: Pearson r over n pairs, z = r sqrt(n).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CorrelationResult {
    /// Pairs correlated.
    pub n: u64,
    /// Pearson correlation (NaN with fewer than 2 pairs or a constant side).
    pub r: f64,
    /// r sqrt(n): standard normal as n -> infinity under independence.
    pub z: f64,
    /// Two-sided p-value of z.
    pub p: f64,
}

/// Pearson correlation of word-derived uniforms x_i and y_i, two-pass (means, then centered
/// sums), summed per fixed 65536-pair chunk and then in chunk order so the result does not
/// depend on the thread count or scheduling.
fn correlation(x: &[u32], y: &[u32]) -> CorrelationResult {
    const CHUNK: usize = 1 << 16;
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let nf = n as f64;
    let sums: Vec<(f64, f64)> = x
        .par_chunks(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .map(|(xc, yc)| {
            xc.iter().zip(yc).fold((0.0, 0.0), |(sx, sy), (&a, &b)| {
                (sx + word_uniform(a), sy + word_uniform(b))
            })
        })
        .collect();
    let (sx, sy) = sums
        .iter()
        .fold((0.0, 0.0), |(ax, ay), &(bx, by)| (ax + bx, ay + by));
    let (mx, my) = (sx / nf, sy / nf);
    let sums: Vec<(f64, f64, f64)> = x
        .par_chunks(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .map(|(xc, yc)| {
            xc.iter()
                .zip(yc)
                .fold((0.0, 0.0, 0.0), |(sxy, sxx, syy), (&a, &b)| {
                    let (dx, dy) = (word_uniform(a) - mx, word_uniform(b) - my);
                    (sxy + dx * dy, sxx + dx * dx, syy + dy * dy)
                })
        })
        .collect();
    let (sxy, sxx, syy) = sums
        .iter()
        .fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let r = if n < 2 || sxx == 0.0 || syy == 0.0 {
        f64::NAN
    } else {
        sxy / (sxx * syy).sqrt()
    };
    let z = r * nf.sqrt();
    CorrelationResult {
        n: n as u64,
        r,
        z,
        p: two_sided_p(z),
    }
}

/// Serial correlation at lag `lag`: Pearson r of (u_i, u_{i+lag}) over the n - lag pairs,
/// u = [`word_uniform`]; z = r sqrt(n - lag). Lag 65536 catches a stream that repeats every 2^16.
pub fn serial_correlation(words: &[u32], lag: usize) -> CorrelationResult {
    let lag = lag.min(words.len());
    correlation(&words[..words.len() - lag], &words[lag..])
}

/// Independence of two equal-length word sequences (e.g. stream t against stream t+1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndependenceResult {
    /// Pearson r of the paired uniforms, z = r sqrt(n).
    pub correlation: CorrelationResult,
    /// Chi-square of the 16x16 contingency table of the top 4 bits of a_i and b_i against
    /// the product of its margins, (16-1)^2 = 225 dof; worst_cell = 16 * row + column.
    pub table: ChiSquareResult,
}

/// Independence of `a` and `b` element by element: paired-uniform correlation and the
/// 16x16 contingency chi-square of their top 4 bits.
///
/// # Panics
/// If the lengths differ.
pub fn independence(a: &[u32], b: &[u32]) -> IndependenceResult {
    assert_eq!(
        a.len(),
        b.len(),
        "independence needs sequences of equal length"
    );
    let mut table = vec![0u64; 256];
    for (&x, &y) in a.iter().zip(b) {
        table[((x >> 28) * 16 + (y >> 28)) as usize] += 1;
    }
    let n = a.len() as f64;
    let mut rows = [0u64; 16];
    let mut cols = [0u64; 16];
    for (i, &c) in table.iter().enumerate() {
        rows[i / 16] += c;
        cols[i % 16] += c;
    }
    let expected: Vec<f64> = (0..256)
        .map(|i| rows[i / 16] as f64 * cols[i % 16] as f64 / n)
        .collect();
    IndependenceResult {
        correlation: correlation(a, b),
        table: ChiSquareResult::from_counts(&table, &expected, 225.0, 0),
    }
}

// ---------------------------------------------------------------------------------------
// 8. Family-wise error
// ---------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{generate_vec, words_vec};

    const SEED: u64 = 0x5EED_0001;

    fn uniform(bound: f64) -> Distribution {
        Distribution::Uniform {
            low: -bound,
            high: bound,
        }
    }

    fn normal(std: f64) -> Distribution {
        Distribution::Normal { mean: 0.0, std }
    }

    fn sample(dist: &Distribution, seed: u64, n: usize) -> Vec<f32> {
        generate_vec(&dist.sampler(), seed, 0, 0, n)
    }

    /// Simpson's rule for E[(X - c)^k] of a standard normal truncated to [a, b] (finite).
    fn truncated_central_numeric(a: f64, b: f64, c: f64, k: i32) -> f64 {
        let steps = 20_000;
        let h = (b - a) / steps as f64;
        let f = |x: f64| (x - c).powi(k) * (-0.5 * x * x).exp();
        let g = |x: f64| (-0.5 * x * x).exp();
        let simpson = |f: &dyn Fn(f64) -> f64| {
            let mut s = f(a) + f(b);
            for i in 1..steps {
                let w = if i % 2 == 1 { 4.0 } else { 2.0 };
                s += w * f(a + i as f64 * h);
            }
            s * h / 3.0
        };
        simpson(&f) / simpson(&g)
    }

    #[test]
    fn theory_is_exact() {
        // Uniform on (-1, 1): variance 1/3, excess kurtosis -6/5.
        let t = Theory::of(&uniform(1.0));
        assert!((t.variance() - 1.0 / 3.0).abs() < 1e-15);
        assert!((t.excess_kurtosis() + 1.2).abs() < 1e-14);
        // Normal: skewness 0, excess kurtosis 0, and the normal-theory standard errors.
        let t = Theory::of(&normal(2.0));
        assert_eq!(t.mu4(), 3.0 * 16.0);
        assert!(t.excess_kurtosis().abs() < 1e-15);
        let n = 1_000_000;
        assert!((t.se_skewness(n) - (6.0 / n as f64).sqrt()).abs() < 1e-15);
        assert!((t.se_excess_kurtosis(n) - (24.0 / n as f64).sqrt()).abs() < 1e-15);
        // Truncated normal against moments() (which uses statrs's erfc, ~1e-10 relative) and
        // Simpson's rule.
        for (a, b) in [
            (-2.0, 2.0),
            (-2.0, 3.0),
            (0.5, 3.0),
            (-4.0, -3.5),
            (1.0, 6.0),
        ] {
            let d = Distribution::TruncatedNormal {
                mean: 0.3,
                std: 1.5,
                a,
                b,
            };
            let t = Theory::of(&d);
            let (m, v) = d.moments();
            assert!((t.mean - m).abs() < 1e-9, "{a} {b}: {} {m}", t.mean);
            assert!((t.variance() / v - 1.0).abs() < 1e-6, "{a} {b}");
            let c = (t.mean - 0.3) / 1.5;
            for k in 2..=8 {
                let want = truncated_central_numeric(a, b, c, k) * 1.5f64.powi(k);
                let got = t.central[k as usize];
                assert!(
                    (got - want).abs() < 1e-9 * want.abs() + 1e-13 * 1.5f64.powi(k),
                    "{a} {b} mu_{k}: {got} vs {want}"
                );
            }
        }
        // Where the recurrence cancels, the quadrature against mpmath (50 digits).
        for (a, b, mean, mus) in [
            (
                5.0,
                f64::INFINITY,
                5.186503967125842,
                [
                    0.032696434617112226,
                    0.0108257645063567,
                    0.00829500748390073,
                    0.006556160695643154,
                    0.0063011357799516625,
                    0.006874373032692872,
                    0.00841327837919991,
                ],
            ),
            (
                -4.0,
                -3.5,
                -3.6766541657029337,
                [
                    0.017522868630649537,
                    -0.0014651769585630418,
                    0.0007277988451906033,
                    -0.00013415189280646992,
                    4.4790690385030966e-05,
                    -1.1087841498936668e-05,
                    3.349737405654111e-06,
                ],
            ),
        ] {
            let (m, s) = truncated_standard_moments(a, b);
            assert!((m / mean - 1.0).abs() < 1e-14, "{a} {b}: {m}");
            for k in 2..=8 {
                let want = mus[k - 2];
                assert!(
                    (s[k] / want - 1.0).abs() < 1e-12,
                    "{a} {b} mu_{k}: {}",
                    s[k]
                );
            }
        }
        // Where the recurrence is well conditioned it agrees with the quadrature, to the
        // ~1e-10 of statrs's erfc amplified by up to ~100.
        let (gx, gw) = gauss_legendre_16();
        assert!((gw.iter().sum::<f64>() - 2.0).abs() < 1e-14);
        let x30: f64 = gx.iter().zip(&gw).map(|(x, w)| w * x.powi(30)).sum();
        assert!((x30 - 2.0 / 31.0).abs() < 1e-15);
        for (a, b) in [
            (-2.0, 2.0),
            (-1.0, 1.0),
            (0.0, f64::INFINITY),
            (f64::NEG_INFINITY, 0.5),
            (-3.0, 1.0),
        ] {
            let (m1, s1) = truncated_recurrence(a, b);
            let (m2, s2) = truncated_quadrature(a, b);
            assert!((m1 - m2).abs() < 1e-10, "{a} {b}: {m1} {m2}");
            for k in 2..=8 {
                assert!(
                    (s1[k] - s2[k]).abs() < 1e-7 * s2[k].abs() + 1e-13,
                    "{a} {b} {k}: {} {}",
                    s1[k],
                    s2[k]
                );
            }
        }
        // Infinite bounds: both infinite is the normal; one infinite matches the half-normal.
        let full = Theory::of(&Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            a: f64::NEG_INFINITY,
            b: f64::INFINITY,
        });
        for k in 0..=8 {
            assert!((full.central[k] - Theory::of(&normal(1.0)).central[k]).abs() < 1e-12);
        }
        let half = Theory::of(&Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            a: 0.0,
            b: f64::INFINITY,
        });
        let pi = std::f64::consts::PI;
        assert!(
            (half.mean - (2.0 / pi).sqrt()).abs() < 1e-14,
            "{}",
            half.mean
        );
        assert!(
            (half.variance() - (1.0 - 2.0 / pi)).abs() < 1e-14,
            "{}",
            half.variance()
        );
        // Half-normal skewness sqrt(2)(4 - pi) / (pi - 2)^(3/2).
        let skew = 2f64.sqrt() * (4.0 - pi) / (pi - 2.0).powf(1.5);
        assert!((half.skewness() - skew).abs() < 1e-13);
    }

    #[test]
    fn moments_merge_like_one_pass() {
        let xs = sample(&normal(3.0), SEED, 100_003);
        let whole = Moments::of(&xs);
        let mut parts = Moments::new();
        for chunk in xs.chunks(7919) {
            let mut m = Moments::new();
            m.push(chunk);
            parts.merge(&m);
        }
        let mut with_bad = Moments::of(&xs[..5]);
        with_bad.push(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        with_bad.merge(&Moments::of(&xs[5..]));
        // A direct two-pass reference in f64.
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let cs = |k| {
            xs.iter()
                .map(|&x| (f64::from(x) - mean).powi(k))
                .sum::<f64>()
        };
        let (m2, m3, m4) = (cs(2), cs(3), cs(4));
        for m in [whole, parts, with_bad] {
            assert_eq!(m.count(), xs.len() as u64);
            assert!((m.mean() - mean).abs() < 1e-14);
            assert!((m.variance() - m2 / (n - 1.0)).abs() < 1e-12);
            assert!((m.skewness() - n.sqrt() * m3 / m2.powf(1.5)).abs() < 1e-12);
            assert!((m.excess_kurtosis() - (n * m4 / (m2 * m2) - 3.0)).abs() < 1e-12);
        }
        assert_eq!((with_bad.nan_count(), with_bad.inf_count()), (1, 2));
        assert_eq!(
            whole.min(),
            xs.iter().fold(f32::MAX, |a, &b| a.min(b)) as f64
        );
        // A large shift does not cost the variance its digits.
        let shifted: Vec<f64> = xs.iter().map(|&x| 1e6 + f64::from(x)).collect();
        assert!((Moments::of(&shifted).variance() / (m2 / (n - 1.0)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn cdf_and_p_value_functions() {
        let sn = Normal::new(0.5, 2.0).unwrap();
        for x in [-9.0, -1.0, 0.0, 0.5, 3.0, 12.0] {
            let want = sn.cdf(x);
            let got = cdf(
                &Distribution::Normal {
                    mean: 0.5,
                    std: 2.0,
                },
                x,
            );
            assert!((got - want).abs() <= 1e-15 + 1e-13 * want, "{x}");
        }
        let tn = Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            a: 5.0,
            b: 7.0,
        };
        assert_eq!(cdf(&tn, 5.0), 0.0);
        assert_eq!(cdf(&tn, 7.0), 1.0);
        // Far in the tail the CDF keeps its digits (1 - Phi(5) = 2.9e-7 has only ~9 left
        // when formed as a difference of CDFs near 1).
        let sf = |x: f64| Normal::new(0.0, 1.0).unwrap().sf(x);
        let f = cdf(&tn, 5.001);
        let want = (sf(5.0) - sf(5.001)) / (sf(5.0) - sf(7.0));
        assert!((f / want - 1.0).abs() < 1e-12, "{f} vs {want}");
        assert_eq!(cdf(&uniform(1.0), 0.0), 0.5);
        assert!(cdf(&uniform(1.0), f64::NAN).is_nan());

        // Kolmogorov: Q(1.3581) = 0.05, Q(1.6276) = 0.01, Q(0.5) = 0.9639.
        assert!((kolmogorov_sf(1.358_1) - 0.05).abs() < 1e-4);
        assert!((kolmogorov_sf(1.627_6) - 0.01).abs() < 1e-4);
        assert!((kolmogorov_sf(0.5) - 0.963_945).abs() < 1e-5);
        // Both series agree where they switch.
        let q = |l: f64| {
            2.0 * (1..50)
                .map(|j| {
                    let j = j as f64;
                    (if j as i32 % 2 == 1 { 1.0 } else { -1.0 }) * (-2.0 * j * j * l * l).exp()
                })
                .sum::<f64>()
        };
        assert!((kolmogorov_sf(1.1799) - q(1.1799)).abs() < 1e-14);

        // Anderson-Darling case 0, asymptotic: exact upper tails from the Anderson-Darling
        // (1954) series evaluated with mpmath at 60 digits.
        for (z, want, rel) in [
            (1.933, 0.099_994_623_208_2, 2e-4),
            (2.492, 0.050_022_186_359_6, 3e-4),
            (3.0, 0.027_364_788_334, 3e-4),
            (3.8781, 0.010_000_282_155_5, 5e-4),
            (4.5, 0.004_990_026_459_87, 2e-3),
            (6.0, 0.000_967_451_941_521, 2e-3),
            (10.0, 1.381_503_541_07e-5, 2e-3),
            (12.0, 1.710_286_999_32e-6, 2e-3),
            (15.0, 7.633_223_180_23e-8, 2e-3),
            (20.0, 4.465_071_538_31e-10, 2e-3),
            (40.0, 6.534_126_441_48e-19, 2e-3),
        ] {
            let got = ad_asymptotic_p(z);
            assert!((got / want - 1.0).abs() < rel, "A^2 = {z}: {got} vs {want}");
        }
        // The two pieces meet at z = 4 within 0.2%.
        let below = -(-ad_tail_exponent(AD_TAIL_FROM).exp()).exp_m1();
        assert!((ad_asymptotic_p(AD_TAIL_FROM) / below - 1.0).abs() < 2e-3);
        // The finite-n correction is O(1/n), and off in the tail.
        assert!((ad_p_value(1_000_000, 2.492) - ad_asymptotic_p(2.492)).abs() < 1e-7);
        assert!((ad_p_value(10, 2.492) - ad_asymptotic_p(2.492)).abs() < 2e-3);
        assert_eq!(ad_p_value(10, 12.0), ad_asymptotic_p(12.0));

        // Bonferroni: 100 checks at FWER 1e-6 is 1e-8 each, |z| <= 5.730729.
        let t = Threshold::new(100, 1e-6);
        assert_eq!(t.alpha, 1e-8);
        assert!((t.z - 5.730_729).abs() < 1e-5, "{}", t.z);
        assert!((two_sided_p(t.z) - 1e-8).abs() < 1e-14);
        assert!(t.passes_p(2e-8) && !t.passes_p(5e-9) && !t.passes_p(f64::NAN));
        assert!(t.passes_z(-5.7) && !t.passes_z(5.8) && !t.passes_z(f64::NAN));
    }

    /// Every distribution test on one sample, as (name, p).
    fn distribution_battery(
        xs: &mut [f32],
        dist: &Distribution,
        bins: usize,
    ) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = moment_tests(&Moments::of(xs), dist)
            .rows()
            .iter()
            .map(|(name, t)| (name.to_string(), t.p))
            .collect();
        let f = |x: f64| cdf(dist, x);
        out.push(("ks".into(), ks_test(xs, f).p));
        out.push(("ad".into(), ad_test(xs, f).p));
        out.push(("chi2".into(), chi_square_gof(xs, f, bins).p));
        out
    }

    #[test]
    fn correct_samples_pass() {
        let dists = [
            uniform(1.0),
            Distribution::Uniform {
                low: 0.1,
                high: 0.35,
            },
            normal(1.0),
            Distribution::Normal {
                mean: -0.5,
                std: 0.02,
            },
            Distribution::TruncatedNormal {
                mean: 0.0,
                std: 1.0,
                a: -2.0,
                b: 2.0,
            },
            Distribution::TruncatedNormal {
                mean: 1.0,
                std: 0.5,
                a: f64::NEG_INFINITY,
                b: 0.5,
            },
        ];
        for (i, dist) in dists.iter().enumerate() {
            let mut xs = sample(dist, SEED + i as u64, 1_000_000);
            for (name, p) in distribution_battery(&mut xs, dist, 200) {
                assert!(p > 1e-4, "{dist:?} {name}: p = {p}");
            }
        }
    }

    #[test]
    fn correct_words_pass() {
        let n = 1 << 20;
        let a = words_vec(SEED, 0, 0, n);
        let b = words_vec(SEED, 1, 0, n);
        let bits = bit_frequency(&a);
        assert!(bits.chi2.p > 1e-4 && bits.p_max > 1e-4, "{bits:?}");
        let bytes = byte_chi_square(&a);
        assert!(bytes.p > 1e-4, "{bytes:?}");
        for lag in [1, 2, 3, 4, 5, 65_536] {
            let s = serial_correlation(&a, lag);
            assert!(s.p > 1e-4, "lag {lag}: {s:?}");
            assert_eq!(s.n, (n - lag) as u64);
        }
        let ind = independence(&a, &b);
        assert!(ind.correlation.p > 1e-4 && ind.table.p > 1e-4, "{ind:?}");
    }

    #[test]
    fn uniform_bound_off_by_one_percent_fails() {
        // Sampled with bound 1.01, tested as bound 1: a 2.01% variance error.
        let model = uniform(1.0);
        let mut xs = sample(&uniform(1.01), SEED, 1_000_000);
        let m = moment_tests(&Moments::of(&xs), &model);
        assert!(m.variance.z > 6.0, "{:?}", m.variance);
        let f = |x: f64| cdf(&model, x);
        let ks = ks_test(&mut xs, f);
        assert!(ks.p < 1e-6, "{ks:?}");
        let ad = ad_test(&mut xs, f);
        assert!(ad.p < 1e-6, "{ad:?}");
        let chi = chi_square_gof(&xs, f, 200);
        assert!(chi.p < 1e-6, "{chi:?}");
        // A 1% shift of the mean (in units of the bound).
        let shifted = Distribution::Uniform {
            low: -0.99,
            high: 1.01,
        };
        let m = moment_tests(&Moments::of(&sample(&shifted, SEED, 1_000_000)), &model);
        assert!(m.mean.z > 6.0, "{:?}", m.mean);
    }

    #[test]
    fn normal_std_off_by_one_percent_fails() {
        // Sampled with std 1.01, tested as std 1. KS is the weakest here: the largest CDF
        // gap is phi(1) 0.01 = 0.0024, so it needs n ~ 4M for lambda ~ 4.8.
        let model = normal(1.0);
        let mut xs = sample(&normal(1.01), SEED, 4_000_000);
        let mut head = xs[..1_000_000].to_vec();
        let f = |x: f64| cdf(&model, x);
        let ks = ks_test(&mut xs, f);
        assert!(ks.p < 1e-6, "{ks:?}");
        let m = moment_tests(&Moments::of(&head), &model);
        assert!(m.variance.z > 6.0, "{:?}", m.variance);
        let ad = ad_test(&mut head, f);
        assert!(ad.p < 1e-6, "{ad:?}");
        let chi = chi_square_gof(&head, f, 200);
        assert!(chi.p < 1e-6, "{chi:?}");
    }

    #[test]
    fn clipped_tails_fail_the_shape_tests() {
        // A quantile that clips both tails at 3 std: excess kurtosis -0.18 instead of 0.
        let model = normal(1.0);
        let clipped = Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            a: -3.0,
            b: 3.0,
        };
        let m = moment_tests(&Moments::of(&sample(&clipped, SEED, 1_000_000)), &model);
        assert!(m.excess_kurtosis.z < -6.0, "{:?}", m.excess_kurtosis);
        // Clipping one tail at 3 std: skewness -0.05 instead of 0.
        let one_sided = Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            a: f64::NEG_INFINITY,
            b: 3.0,
        };
        let m = moment_tests(&Moments::of(&sample(&one_sided, SEED, 1_000_000)), &model);
        assert!(m.skewness.z < -6.0, "{:?}", m.skewness);
    }

    #[test]
    fn one_percent_variance_error_is_detected_at_the_documented_n() {
        // See Theory::se_variance: 1M (uniform) and 2M (normal) detect a 1% variance error
        // with margin (expected z 11.2 and 10.0).
        let s = 1.01f64.sqrt();
        for seed in [SEED, SEED + 1] {
            let xs = sample(&uniform(s), seed, 1_000_000);
            let z = moment_tests(&Moments::of(&xs), &uniform(1.0)).variance.z;
            assert!(z > 6.0, "uniform seed {seed}: z = {z}");
            let xs = sample(&normal(s), seed, 2_000_000);
            let z = moment_tests(&Moments::of(&xs), &normal(1.0)).variance.z;
            assert!(z > 6.0, "normal seed {seed}: z = {z}");
        }
    }

    #[test]
    fn broken_words_fail() {
        let n = 1 << 20;
        let good = words_vec(SEED, 0, 0, n);
        // Top bit forced to 1 in one word of 16: P(top) = 0.53125.
        let biased: Vec<u32> = good
            .iter()
            .enumerate()
            .map(|(i, &w)| if i % 16 == 0 { w | 0x8000_0000 } else { w })
            .collect();
        let bits = bit_frequency(&biased);
        assert!(bits.chi2.p < 1e-6 && bits.p_max < 1e-6, "{bits:?}");
        assert_eq!(bits.max_bit, 31);
        assert!(bits.max_abs_z > 6.0);
        let bytes = byte_chi_square(&biased);
        assert!(bytes.p < 1e-6, "{bytes:?}");

        // A stream with period 2^16.
        let periodic: Vec<u32> = good[..1 << 16].iter().copied().cycle().take(n).collect();
        let s = serial_correlation(&periodic, 1 << 16);
        assert!(s.z > 6.0 && s.p < 1e-6, "{s:?}");
        assert!((s.r - 1.0).abs() < 1e-12);

        // Two identical streams.
        let ind = independence(&good, &good);
        assert!(ind.correlation.z > 6.0, "{:?}", ind.correlation);
        assert!(ind.table.p < 1e-6, "{:?}", ind.table);
    }

    #[test]
    fn nan_and_empty_inputs_fail_safe() {
        let model = normal(1.0);
        let mut xs = sample(&model, SEED, 10_000);
        xs[17] = f32::NAN;
        let f = |x: f64| cdf(&model, x);
        let ks = ks_test(&mut xs, f);
        assert_eq!((ks.nan_count, ks.p), (1, 0.0));
        let ad = ad_test(&mut xs, f);
        assert_eq!((ad.nan_count, ad.p), (1, 0.0));
        let chi = chi_square_gof(&xs, f, 10);
        assert_eq!((chi.excluded, chi.p), (1, 0.0));
        assert!(ks_test(&mut [], f).p.is_nan());
        assert!(ad_test(&mut [], f).p.is_nan());
        assert!(chi_square_gof(&[], f, 10).p.is_nan());
        assert!(byte_chi_square(&[]).p.is_nan());
        assert!(bit_frequency(&[]).chi2.p.is_nan() && bit_frequency(&[]).p_max.is_nan());
        assert!(independence(&[], &[]).table.p.is_nan());
        assert!(serial_correlation(&[1, 2, 3], 5).p.is_nan());
        // A constant matches its own value and nothing else.
        let c = Distribution::Constant { value: 0.1 };
        let ones = sample(&c, SEED, 1000);
        let m = moment_tests(&Moments::of(&ones), &c);
        assert!(m.rows().iter().all(|(_, t)| t.z == 0.0), "{m:?}");
        let m = moment_tests(&Moments::of(&ones), &Distribution::Constant { value: 0.2 });
        assert_eq!(m.mean.p, 0.0);
    }

    /// Measures the n at which a 1% variance error is detected at |z| > 6 (16 seeds each).
    /// `cargo test --lib stats::tests::measure_detectable_effect -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn measure_detectable_effect() {
        let s = 1.01f64.sqrt();
        for (name, model, broken) in [
            ("uniform", uniform(1.0), uniform(s)),
            ("normal", normal(1.0), normal(s)),
        ] {
            for n in [250_000usize, 500_000, 1_000_000, 2_000_000, 4_000_000] {
                let mut zs: Vec<f64> = (0..16)
                    .map(|seed| {
                        let xs = sample(&broken, 1000 + seed, n);
                        moment_tests(&Moments::of(&xs), &model).variance.z
                    })
                    .collect();
                zs.sort_by(f64::total_cmp);
                let k = Theory::of(&model).mu4() / Theory::of(&model).variance().powi(2);
                println!(
                    "{name} n={n}: expected z {:.2}, min {:.2}, median {:.2}, detected {}/16",
                    0.01 * (n as f64 / (k - 1.0)).sqrt(),
                    zs[0],
                    zs[8],
                    zs.iter().filter(|&&z| z > 6.0).count()
                );
            }
        }
    }
}
