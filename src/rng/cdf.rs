//! The standard normal's CDF and tail masses in f64, from which the normal maps' f32
//! parameters are derived (docs/STREAM.md, "Normal and truncated normal").

use statrs::function::erf::erfc;

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

/// ln(1 - Phi(x)) for any x, without underflow: statrs' erfc below 5, Laplace's continued
/// fraction for the Mills ratio above (200 terms: exact to f64 there).
pub fn log_upper_tail(x: f64) -> f64 {
    if x == f64::INFINITY {
        return f64::NEG_INFINITY;
    }
    if x < 5.0 {
        return phi(-x).ln();
    }
    let mut d = x;
    for k in (1..=200).rev() {
        d = x + f64::from(k) / d;
    }
    -0.5 * x * x - 0.5 * (2.0 * std::f64::consts::PI).ln() - d.ln()
}

/// ln(Phi(b) - Phi(a)), accurate in either far tail.
pub fn log_truncated_mass(a: f64, b: f64) -> f64 {
    // ln(S(lo) - S(hi)) for lo < hi, S the upper tail.
    let tails = |lo: f64, hi: f64| {
        let (l, h) = (log_upper_tail(lo), log_upper_tail(hi));
        l + (-(h - l).exp()).ln_1p()
    };
    if a >= 0.0 {
        tails(a, b)
    } else if b <= 0.0 {
        tails(-b, -a)
    } else {
        truncated_mass(a, b).ln()
    }
}
