//! The CPU reference: the same stream contract as the GPU kernels, on all cores.
//!
//! CPU twin of `shaders/generate.wgsl`: [`generate`] and [`words`] are its kernels of the
//! same names. It is the reference for every GPU result and the `--device cpu` path.

use rayon::prelude::*;

use crate::distribution::{sample, Sampler, KIND_CONSTANT};
use crate::philox::{counter_of, key_of, philox4x32_10, philox_lanes, LANES};

/// Elements per parallel task: large enough to amortize scheduling, a multiple of 4 so
/// every task after the first starts on a block boundary.
const TASK_ELEMENTS: usize = 1 << 16;

/// Writes `f(word(seed, stream, first + i))` to `out[i]`, on one thread.
#[inline(always)]
fn fill_serial<T>(seed: u64, stream: u64, first: u64, out: &mut [T], f: impl Fn(u32) -> T) {
    let key = key_of(seed);
    let n = out.len();
    let mut i = 0;
    let mut block = first / 4;
    let skip = (first % 4) as usize;
    if skip != 0 {
        let w = philox4x32_10(counter_of(block, stream), key);
        for &word in &w[skip..] {
            if i < n {
                out[i] = f(word);
                i += 1;
            }
        }
        block = block.wrapping_add(1);
    }
    while n - i >= 4 * LANES {
        let ws = philox_lanes(key, block, stream);
        for (dst, w) in out[i..i + 4 * LANES].chunks_exact_mut(4).zip(ws.iter()) {
            for (d, &word) in dst.iter_mut().zip(w.iter()) {
                *d = f(word);
            }
        }
        i += 4 * LANES;
        block = block.wrapping_add(LANES as u64);
    }
    while i < n {
        let w = philox4x32_10(counter_of(block, stream), key);
        for &word in &w {
            if i < n {
                out[i] = f(word);
                i += 1;
            }
        }
        block = block.wrapping_add(1);
    }
}

/// [`fill_serial`] split across all cores.
fn fill<T: Send>(seed: u64, stream: u64, first: u64, out: &mut [T], f: impl Fn(u32) -> T + Sync) {
    out.par_chunks_mut(TASK_ELEMENTS)
        .enumerate()
        .for_each(|(t, chunk)| {
            fill_serial(seed, stream, first + (t * TASK_ELEMENTS) as u64, chunk, &f)
        });
}

/// Raw Philox words of elements `first .. first + out.len()` of (seed, stream).
pub fn words(seed: u64, stream: u64, first: u64, out: &mut [u32]) {
    fill(seed, stream, first, out, |w| w);
}

/// Values of elements `first .. first + out.len()` of (seed, stream) under `sampler`.
pub fn generate(sampler: &Sampler, seed: u64, stream: u64, first: u64, out: &mut [f32]) {
    if sampler.kind == KIND_CONSTANT {
        out.par_chunks_mut(TASK_ELEMENTS)
            .for_each(|c| c.fill(sampler.shift));
        return;
    }
    let s = *sampler;
    fill(seed, stream, first, out, move |w| sample(&s, w));
}

/// [`generate`] into a new vector.
pub fn generate_vec(
    sampler: &Sampler,
    seed: u64,
    stream: u64,
    first: u64,
    count: usize,
) -> Vec<f32> {
    let mut v = vec![0.0f32; count];
    generate(sampler, seed, stream, first, &mut v);
    v
}

/// [`words`] into a new vector.
pub fn words_vec(seed: u64, stream: u64, first: u64, count: usize) -> Vec<u32> {
    let mut v = vec![0u32; count];
    words(seed, stream, first, &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::philox::word;

    #[test]
    fn words_match_the_scalar_definition_at_any_offset() {
        for (seed, stream, first, n) in [
            (0u64, 0u64, 0u64, 4usize),
            (7, 3, 1, 3),
            (u64::MAX, u64::MAX, (1 << 32) - 3, 300),
            (42, 1, 5, 2 * TASK_ELEMENTS + 7),
        ] {
            let got = words_vec(seed, stream, first, n);
            for (i, &g) in got
                .iter()
                .enumerate()
                .step_by(97)
                .chain(got.iter().enumerate().rev().take(5))
            {
                assert_eq!(
                    g,
                    word(seed, stream, first + i as u64),
                    "seed {seed} stream {stream} index {}",
                    first + i as u64
                );
            }
        }
    }

    #[test]
    fn slices_agree_with_the_whole() {
        let whole = words_vec(9, 2, 0, 1000);
        for (a, b) in [(0, 1000), (1, 2), (3, 997), (511, 1000), (999, 1000)] {
            assert_eq!(words_vec(9, 2, a as u64, b - a), whole[a..b]);
        }
    }
}
