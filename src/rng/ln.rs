//! The f32 natural logarithm the CPU reference uses everywhere a normal map takes a log.
//!
//! Why not `f32::ln`: that calls the C library's scalar `logf`, which no compiler can
//! vectorize, and whose last bit differs between C libraries. [`ln`] is plain f64
//! arithmetic with no table and no branch, so a loop of it vectorizes (AVX-512, AVX2, or
//! not at all) and gives the same bits on every instruction set and every platform: each
//! operation is one IEEE f64 operation. The series is summed with explicit fused
//! multiply-adds (`mul_add`, one correctly rounded operation everywhere: an instruction
//! where the processor has one, a library call on x86-64 before AVX2), which took the
//! vectorized normal map from 0.64 to 0.73 Gsamples/s on 2 cores; Rust never fuses any
//! other multiply and add. Every f32 result is what the unfused series gave, checked on
//! all 2,130,706,432 positive normal f32 arguments.
//!
//! How: `x = 2^k f` with `f` in [sqrt(2)/2, sqrt(2)), exact; `ln f = 2 atanh(s)` with
//! `s = (f - 1)/(f + 1)`, `|s| <= 0.1716`, summed as the series `2s (1 + s^2/3 + s^4/5 +
//! ...)` to `s^14/15`; the first term left out is below 2.3e-13 relative. The f64 result,
//! within about 3e-13 relative of ln x, is rounded once to f32, so it is the correctly
//! rounded ln x except when ln x lies within 3e-13 of the midpoint between two f32s: of
//! the 51.4 million arguments the test below tries, none (glibc's `logf` misrounds 0.41%
//! of them). Documented in docs/STREAM.md.

/// 1/(2n + 1) for n = 7 down to 0: the atanh series in s^2, highest power first.
const SERIES: [f64; 8] = [
    1.0 / 15.0,
    1.0 / 13.0,
    1.0 / 11.0,
    1.0 / 9.0,
    1.0 / 7.0,
    1.0 / 5.0,
    1.0 / 3.0,
    1.0,
];

/// The bits of sqrt(2)/2 rounded up to f32: mantissas at or above it stay in [sqrt(2)/2, 1)
/// after the exponent moves, those below move to [1, sqrt(2)).
const SQRT_HALF_BITS: u32 = 0x3F35_04F3;

/// ln x for positive normal f32 `x` (every argument the normal maps pass), within one
/// rounding of the exact value. Zero, subnormal and negative `x` give -inf: the normal
/// maps only ask whether such a log is large, never use it.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    // Subtracting sqrt(2)/2's bits leaves k in the exponent field and moves f's mantissa
    // to [sqrt(2)/2, sqrt(2)) with the same mantissa bits.
    let shifted = bits.wrapping_sub(SQRT_HALF_BITS);
    let k = (shifted as i32) >> 23;
    let f = f64::from(f32::from_bits(
        (shifted & 0x007F_FFFF).wrapping_add(SQRT_HALF_BITS),
    ));
    let s = (f - 1.0) / (f + 1.0);
    let s2 = s * s;
    let mut p = SERIES[0];
    for &c in &SERIES[1..] {
        p = p.mul_add(s2, c);
    }
    let y = (2.0 * s).mul_add(p, f64::from(k) * std::f64::consts::LN_2) as f32;
    if x >= f32::MIN_POSITIVE {
        y
    } else {
        f32::NEG_INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// Every f32 in [0.5, 2) (every mantissa, on both sides of the sqrt(2)/2 split and of
    /// k = 0), and every 61st positive normal f32 elsewhere: ln within half an ulp of the
    /// f64 log plus slack, and equal to its correct rounding in all but 1 in 10^6 (measured: all).
    #[test]
    fn ln_is_within_half_an_ulp_plus_one_rounding() {
        let (lo, hi) = (0.5f32.to_bits(), 2.0f32.to_bits());
        let (bad, misrounded, total) = (f32::MIN_POSITIVE.to_bits()..f32::MAX.to_bits())
            .into_par_iter()
            .filter(|&b| (lo..hi).contains(&b) || b % 61 == 0)
            .map(|b| {
                let x = f32::from_bits(b);
                let (got, exact) = (ln(x), f64::from(x).ln());
                let ulp = f64::from(f32::EPSILON) * f64::from((exact as f32).abs()).max(1e-30);
                let err = (f64::from(got) - exact).abs() / ulp;
                // Half an ulp of the result, plus slack for exact's own rounding.
                (
                    u64::from(err > 0.5 + 1e-6 && (exact as f32) != 0.0),
                    u64::from(got != exact as f32),
                    1u64,
                )
            })
            .reduce(|| (0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
        assert_eq!(bad, 0, "of {total}");
        assert!(misrounded * 1_000_000 < total, "{misrounded} of {total}");
    }

    #[test]
    fn ln_edges() {
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(2.0), std::f32::consts::LN_2);
        assert_eq!(ln(f32::MIN_POSITIVE), -87.33655);
        assert_eq!(ln(f32::MAX), 88.72284);
        for x in [0.0, -0.0, 1e-40, -1.0] {
            assert_eq!(ln(x), f32::NEG_INFINITY, "{x}");
        }
    }
}
