//! CPU twin of `shaders/layer_stats.wgsl` (and of `Partial` in `shaders/shared/reduce.wgsl`):
//! the functions of the same names, in f64.

use rayon::prelude::*;

use super::activation::{saturated, Activation};

/// Bins of every histogram ([`crate::abi::HIST_BINS`]).
pub const HIST_BINS: usize = crate::abi::HIST_BINS as usize;

/// What `moments` and `finalize` produce, in f64: the twin of `Partial` in
/// `shaders/shared/reduce.wgsl`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Partial {
    /// Finite values.
    pub n: u64,
    pub saturated: u64,
    pub nonfinite: u64,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Partial {
    fn empty() -> Partial {
        Partial {
            n: 0,
            saturated: 0,
            nonfinite: 0,
            mean: 0.0,
            m2: 0.0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }

    /// Chan, Golub and LeVeque's merge, as `partial_merge` in reduce.wgsl (in f64 here).
    fn merge(a: Partial, b: Partial) -> Partial {
        let mut r = a;
        r.saturated += b.saturated;
        r.nonfinite += b.nonfinite;
        if b.n == 0 {
            return r;
        }
        if a.n == 0 {
            return Partial {
                saturated: r.saturated,
                nonfinite: r.nonfinite,
                ..b
            };
        }
        let (na, nb) = (a.n as f64, b.n as f64);
        let n = na + nb;
        let d = b.mean - a.mean;
        r.n = a.n + b.n;
        r.mean = a.mean + d * nb / n;
        r.m2 = a.m2 + b.m2 + d * d * na * nb / n;
        r.lo = a.lo.min(b.lo);
        r.hi = a.hi.max(b.hi);
        r
    }

    /// Two passes over one block, in f64.
    fn of_block(xs: &[f32], act: Option<Activation>) -> Partial {
        let mut m = Partial::empty();
        let mut sum = 0.0f64;
        for &x in xs {
            if act.is_some_and(|a| saturated(a, x)) {
                m.saturated += 1;
            }
            if !x.is_finite() {
                m.nonfinite += 1;
                continue;
            }
            let x = f64::from(x);
            m.n += 1;
            sum += x;
            m.lo = m.lo.min(x);
            m.hi = m.hi.max(x);
        }
        if m.n > 0 {
            m.mean = sum / m.n as f64;
            m.m2 = xs
                .iter()
                .filter(|x| x.is_finite())
                .map(|&x| (f64::from(x) - m.mean).powi(2))
                .sum();
        }
        m
    }
}

/// `moments` + `finalize`: the moments of every value, with saturation counted under `act`.
pub fn moments(xs: &[f32], act: Option<Activation>) -> Partial {
    xs.par_chunks(1 << 14)
        .map(|c| Partial::of_block(c, act))
        .reduce(Partial::empty, Partial::merge)
}

/// `hist_range`: a fixed range, or the data's, widened when a point.
pub fn hist_range(fixed: Option<(f32, f32)>, m: &Partial) -> (f32, f32) {
    if let Some(r) = fixed {
        return r;
    }
    if m.n == 0 {
        return (0.0, 0.0);
    }
    let (lo, hi) = (m.lo as f32, m.hi as f32);
    if hi > lo {
        return (lo, hi);
    }
    let w = 0.5 * lo.abs().max(1.0);
    (lo - w, hi + w)
}

/// `bin_of`.
#[inline(always)]
pub fn bin_of(x: f32, lo: f32, scale: f32) -> usize {
    ((x - lo) * scale)
        .clamp(0.0, (HIST_BINS - 1) as f32)
        .floor() as usize
}

/// `histogram`.
pub fn histogram(xs: &[f32], lo: f32, hi: f32) -> Vec<u64> {
    let counting = hi > lo; // false for an empty range, and for NaN
    if !counting {
        return vec![0; HIST_BINS];
    }
    let scale = HIST_BINS as f32 / (hi - lo);
    xs.par_chunks(1 << 14)
        .map(|c| {
            let mut h = vec![0u64; HIST_BINS];
            for &x in c.iter().filter(|x| x.is_finite()) {
                h[bin_of(x, lo, scale)] += 1;
            }
            h
        })
        .reduce(
            || vec![0u64; HIST_BINS],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_exact_for_a_large_mean() {
        let xs: Vec<f32> = (0..100_000)
            .map(|i| 0.5 + ((i % 7) as f32 - 3.0) * 1e-4)
            .collect();
        let m = moments(&xs, Some(Activation::Sigmoid));
        let var = m.m2 / m.n as f64;
        let want: f64 = (0..7)
            .map(|k| ((k as f64 - 3.0) * 1e-4).powi(2))
            .sum::<f64>()
            / 7.0;
        assert!((var / want - 1.0).abs() < 1e-3, "{var} {want}");
        assert_eq!(m.saturated, 0);
        let h = histogram(&xs, 0.0, 1.0);
        assert_eq!(h.iter().sum::<u64>(), 100_000);
        assert_eq!(h[25], 100_000 - h[24]);
    }
}
