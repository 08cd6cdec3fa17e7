//! GPU against the CPU reference: every statistic of every layer, within a documented
//! tolerance.

use serde::Serialize;

use super::{Run, Summary};

/// How far apart two devices' statistics may be. GPU and CPU compute every product in f32
/// but accumulate in different orders (64-wide tiles against gemm's blocking), so each
/// activation differs by a few units in the last place times sqrt(fan_in); through a network
/// that neither explodes nor is chaotic, that stays near 1e-6 relative, and a statistic over
/// thousands of values is closer still. The bounds below leave two or three orders of
/// magnitude of room, and are still far below what any real fault (a wrong index, a wrong
/// stream, a missing activation or derivative) produces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    /// On std, min and max: |a - b| <= rel * max(|a|, |b|) (min and max also relative to
    /// the std, for values near zero).
    pub rel: f64,
    /// On the mean: |a - b| <= mean_per_std * max(std_a, std_b, |mean_a|, |mean_b|) (the
    /// mean's own size only matters for nearly constant values).
    pub mean_per_std: f64,
    /// On saturated and non-finite counts and on each histogram (sum of |count differences|
    /// over 2): at most `count_abs + count_rel * n` values may land differently (a value
    /// within rounding of a threshold or a bin edge can go either way).
    pub count_abs: f64,
    pub count_rel: f64,
}

/// The documented tolerance of GPU against CPU reference.
pub const TOLERANCE: Tolerance = Tolerance {
    rel: 1e-3,
    mean_per_std: 1e-3,
    count_abs: 2.0,
    count_rel: 1e-3,
};

/// The worst deviation of one kind, in units of its tolerance (<= 1 passes).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Worst {
    /// The raw deviation (relative, per std, or count).
    pub deviation: f64,
    /// `deviation` over its bound.
    pub ratio: f64,
    /// Where: "layer 3 gradient".
    pub at: String,
}

impl Worst {
    fn offer(&mut self, deviation: f64, bound: f64, at: impl FnOnce() -> String) {
        let ratio = if deviation == 0.0 {
            0.0
        } else {
            deviation / bound
        };
        // NaN (a NaN on one side only) is the worst of all.
        if ratio.is_nan() || ratio > self.ratio || (self.at.is_empty() && ratio >= self.ratio) {
            self.deviation = deviation;
            self.ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
            self.at = at();
        }
    }
}

/// Layer-by-layer comparison of two runs of the same network and scheme.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub std: Worst,
    pub mean: Worst,
    pub extremes: Worst,
    pub counts: Worst,
    pub histogram: Worst,
}

impl Comparison {
    pub fn within_tolerance(&self) -> bool {
        self.worst().ratio <= 1.0
    }

    /// The deviation closest to (or furthest past) its bound.
    pub fn worst(&self) -> &Worst {
        [
            &self.std,
            &self.mean,
            &self.extremes,
            &self.counts,
            &self.histogram,
        ]
        .into_iter()
        .fold(&self.std, |w, x| if x.ratio > w.ratio { x } else { w })
    }
}

fn rel_dev(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / a.abs().max(b.abs())
}

fn compare_summary(c: &mut Comparison, a: &Summary, b: &Summary, tol: &Tolerance, at: &str) {
    let n = (a.count + a.nonfinite).max(b.count + b.nonfinite) as f64;
    let count_bound = tol.count_abs + tol.count_rel * n;
    c.counts.offer(
        (a.nonfinite as f64 - b.nonfinite as f64).abs(),
        count_bound,
        || format!("{at} non-finite count"),
    );
    c.counts.offer(
        (a.saturated_count as f64 - b.saturated_count as f64).abs(),
        count_bound,
        || format!("{at} saturated count"),
    );
    if a.nonfinite > 0 || b.nonfinite > 0 {
        // An exploded layer: its finite values' moments are not comparable.
        return;
    }
    c.std
        .offer(rel_dev(a.std, b.std), tol.rel, || format!("{at} std"));
    let scale = a.std.max(b.std);
    // In units of the std, or of the mean itself where the values are (nearly) constant.
    let mean_dev = if a.mean == b.mean {
        0.0
    } else {
        (a.mean - b.mean).abs() / scale.max(a.mean.abs().max(b.mean.abs()))
    };
    c.mean
        .offer(mean_dev, tol.mean_per_std, || format!("{at} mean"));
    for (x, y, what) in [(a.min, b.min, "min"), (a.max, b.max, "max")] {
        let dev = if x == y {
            0.0
        } else {
            (x - y).abs() / x.abs().max(y.abs()).max(scale)
        };
        c.extremes.offer(dev, tol.rel, || format!("{at} {what}"));
    }
    if let (Some(ha), Some(hb)) = (&a.histogram, &b.histogram) {
        let moved: u64 = ha
            .counts
            .iter()
            .zip(&hb.counts)
            .map(|(x, y)| x.abs_diff(*y))
            .sum();
        c.histogram.offer(moved as f64 / 2.0, count_bound, || {
            format!("{at} histogram")
        });
    }
}

/// Compares every statistic of every layer of two runs; a layer or a gradient that one run
/// has and the other lacks is a deviation past any tolerance.
pub fn compare(a: &Run, b: &Run, tol: &Tolerance) -> Comparison {
    let mut c = Comparison::default();
    if a.layers.len() != b.layers.len() {
        c.counts.offer(f64::INFINITY, 1.0, || {
            format!(
                "layer count ({} against {})",
                a.layers.len(),
                b.layers.len()
            )
        });
    }
    for (la, lb) in a.layers.iter().zip(&b.layers) {
        let l = la.layer;
        compare_summary(
            &mut c,
            &la.activation,
            &lb.activation,
            tol,
            &format!("layer {l} activation"),
        );
        for (what, x, y) in [
            ("gradient", &la.gradient, &lb.gradient),
            ("weight gradient", &la.weight_gradient, &lb.weight_gradient),
        ] {
            match (x, y) {
                (Some(x), Some(y)) => {
                    compare_summary(&mut c, x, y, tol, &format!("layer {l} {what}"))
                }
                (None, None) => {}
                _ => c.counts.offer(f64::INFINITY, 1.0, || {
                    format!("layer {l} {what} (on one side only)")
                }),
            }
        }
    }
    c
}
