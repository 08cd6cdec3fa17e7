//! Tests on raw u32 words: bit frequency, byte chi-square, serial correlation and
//! independence of two word sequences.

use rayon::prelude::*;

use super::{chi_square_p, two_sided_p, word_uniform, ChiSquareResult};

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
