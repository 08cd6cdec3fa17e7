//! Streaming, mergeable sample moments.

/// Values reduced per two-pass block in [`Moments::push`]: small enough to stay in cache.
const BLOCK: usize = 4096;

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
