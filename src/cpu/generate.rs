//! CPU twin of `shaders/generate.wgsl`: [`generate`] and [`words`] are its kernels of the
//! same names, on all cores. It is the reference for every GPU result and the `--device
//! cpu` path.
//!
//! How it is fast: the output is split into tasks across all cores (rayon); each task
//! fills tiles of 512 elements, first with raw words, [`philox_group`] computing many
//! counter blocks side by side in SIMD lanes and storing them in element order, then maps
//! the tile to values in place while it is in L1, in loops the compiler vectorizes (the
//! normal map's [`ln`] too: it is plain f64 arithmetic, not libm). Those loops are
//! compiled three times, for AVX-512, AVX2 and the portable baseline, and the widest the
//! processor has is chosen at run time. Every path computes the same f32 operations in
//! the same order as [`sample`], so all give the same bits.

use rayon::prelude::*;

use crate::abi::SQRT_2;

use crate::rng::distribution::{
    horner, sample, uniform_k, Sampler, KIND_CONSTANT, KIND_NORMAL, KIND_UNIFORM, QUANTILE_CENTRAL,
    TWO_POW_M24,
};
use crate::rng::ln::ln;
use crate::rng::philox::{counter_of, key_of, philox4x32_10, philox_group};

/// Elements per parallel task: large enough to amortize scheduling, a multiple of 4 so
/// every task after the first starts on a block boundary.
const TASK_ELEMENTS: usize = 1 << 16;

/// Elements per tile: words are generated into a tile and mapped to values while it is in
/// L1. A multiple of `4 * L` for every group size `L` below.
const TILE: usize = 1 << 9;

/// What a fill writes for each word.
#[derive(Clone, Copy, Debug)]
enum Map {
    /// The raw word.
    Words,
    /// A uniform or normal sampler's value, as f32 bits.
    Sample(Sampler),
}

/// The instruction sets the fill is compiled for, widest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Isa {
    /// The widest instruction set this processor runs.
    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512dq")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Every instruction set this processor runs (for the tests).
    #[cfg(test)]
    fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut all = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                all.push(Isa::Avx2);
            }
            if Isa::detect() == Isa::Avx512 {
                all.push(Isa::Avx512);
            }
        }
        all
    }

    /// [`fill_serial`] compiled for this instruction set.
    fn fill_task(self, map: &Map, seed: u64, stream: u64, first: u64, out: &mut [u32]) {
        match self {
            // SAFETY: `Isa::detect` returns Avx512 only when the processor has every
            // feature `fill_avx512` is compiled with (and the tests only use sets it has).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { fill_avx512(map, seed, stream, first, out) },
            // SAFETY: as above, Avx2 only where avx2 and fma were detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { fill_avx2(map, seed, stream, first, out) },
            Isa::Portable => fill_serial::<8>(map, seed, stream, first, out),
        }
    }
}

/// [`fill_serial`] for AVX-512: 32 blocks a group, four 8-lane `vpmuludq` chains a round.
///
/// Enabling `fma` (part of x86-64-v3, as AVX2 machines have it) changes no result: Rust
/// never contracts `a * b + c` into a fused multiply-add on its own, so every f32 multiply
/// and add still rounds once, as in `sample`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn fill_avx512(map: &Map, seed: u64, stream: u64, first: u64, out: &mut [u32]) {
    fill_serial::<32>(map, seed, stream, first, out)
}

/// [`fill_serial`] for AVX2: 16 blocks a group, four 4-lane `vpmuludq` chains a round.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fill_avx2(map: &Map, seed: u64, stream: u64, first: u64, out: &mut [u32]) {
    fill_serial::<16>(map, seed, stream, first, out)
}

/// Writes what `map` makes of `word(seed, stream, first + i)` to `out[i]`, on one thread,
/// with [`philox_group`]s of `L` blocks.
#[inline(always)]
fn fill_serial<const L: usize>(map: &Map, seed: u64, stream: u64, first: u64, out: &mut [u32]) {
    let key = key_of(seed);
    // Only the normal map needs it.
    let scratch = &mut None;
    let mut block = first / 4;
    let skip = (first % 4) as usize;
    let mut rest = out;
    if skip != 0 {
        // The partial block up to the first block boundary.
        let w = philox4x32_10(counter_of(block, stream), key);
        let n = rest.len().min(4 - skip);
        let (head, tail) = rest.split_at_mut(n);
        head.copy_from_slice(&w[skip..skip + n]);
        map_tile(map, head, scratch);
        rest = tail;
        block = block.wrapping_add(1);
    }
    for tile in rest.chunks_mut(TILE) {
        words_from_boundary::<L>(key, block, stream, tile);
        map_tile(map, tile, scratch);
        block = block.wrapping_add((TILE / 4) as u64);
    }
}

/// The words of `out.len()` elements starting at the first element of `block`.
#[inline(always)]
fn words_from_boundary<const L: usize>(key: [u32; 2], block: u64, stream: u64, out: &mut [u32]) {
    let whole = out.len() / 4;
    let (body, tail) = out.split_at_mut(4 * whole);
    let blocks: &mut [[u32; 4]] = bytemuck::cast_slice_mut(body);
    let mut groups = blocks.chunks_exact_mut(L);
    let mut b = block;
    for group in &mut groups {
        let group: &mut [[u32; 4]; L] = group.try_into().expect("chunks_exact");
        philox_group::<L>(key, b, stream, group);
        b = b.wrapping_add(L as u64);
    }
    for one in groups.into_remainder() {
        *one = philox4x32_10(counter_of(b, stream), key);
        b = b.wrapping_add(1);
    }
    if !tail.is_empty() {
        let w = philox4x32_10(counter_of(b, stream), key);
        let n = tail.len();
        tail.copy_from_slice(&w[..n]);
    }
}

/// Replaces each word of `tile` by what `map` makes of it (f32 values as bits).
#[inline(always)]
fn map_tile(map: &Map, tile: &mut [u32], scratch: &mut Option<Box<Scratch>>) {
    match map {
        Map::Words => {}
        Map::Sample(s) if s.kind == KIND_UNIFORM => uniform_tile(s, tile),
        Map::Sample(s) if s.kind == KIND_NORMAL => {
            normal_tile(s, tile, scratch.get_or_insert_with(Scratch::new))
        }
        Map::Sample(s) => tile.fill(s.shift.to_bits()),
    }
}

/// The uniform map of `sample`, word by word: integer shifts, one exact conversion and
/// f32 multiplies and an add in the same order, so it vectorizes and gives the same bits.
#[inline(always)]
fn uniform_tile(s: &Sampler, tile: &mut [u32]) {
    let (scale, shift) = (s.scale, s.shift);
    for x in tile.iter_mut() {
        *x = ((uniform_k(*x) * scale) * TWO_POW_M24 + shift).to_bits();
    }
}

/// The normal map's passes' arrays, reused from tile to tile: zeroing them for every tile
/// cost 7% of the map.
struct Scratch {
    ts: [f32; TILE],
    signs: [f32; TILE],
    ws: [f32; TILE],
    tails: [u16; TILE],
    tail_words: [u32; TILE],
}

impl Scratch {
    fn new() -> Box<Scratch> {
        Box::new(Scratch {
            ts: [0.0; TILE],
            signs: [0.0; TILE],
            ws: [0.0; TILE],
            tails: [0; TILE],
            tail_words: [0; TILE],
        })
    }
}

/// The normal map of `sample`, in passes over at most [`TILE`] words, each vectorized:
/// everything up to the log argument; [`ln`]; the central polynomial and the rest; and, for
/// the rare tail points (`-ln >= 5`, t below about 0.0017), `normal_quantile_upper` itself.
/// Each value takes the same f32 operations in the same order as in `sample`.
#[inline(always)]
fn normal_tile(s: &Sampler, tile: &mut [u32], scratch: &mut Scratch) {
    let n = tile.len();
    debug_assert!(n <= TILE);
    let Scratch {
        ts,
        signs,
        ws,
        tails,
        tail_words,
    } = scratch;
    let (ts, signs, ws) = (&mut ts[..n], &mut signs[..n], &mut ws[..n]);
    for (((&word, t), sign), arg) in tile
        .iter()
        .zip(ts.iter_mut())
        .zip(signs.iter_mut())
        .zip(ws.iter_mut())
    {
        // u = (2j+1) 2^-24 and v = 1 - u, both exact (j < 2^23: the i32 conversions are too).
        let j = word >> 9;
        let u = ((j << 1) | 1) as i32 as f32 * TWO_POW_M24;
        let v = (0x00FF_FFFF - (j << 1)) as i32 as f32 * TWO_POW_M24;
        let below = s.phi_a + u * s.delta;
        let above = s.phic_b + v * s.delta;
        // z = -Q(below) if below <= above, else Q(above); the sign is applied by an exact
        // multiply by -1 or 1.
        let lower = below <= above;
        *t = if lower { below } else { above };
        *sign = if lower { -1.0 } else { 1.0 };
        *arg = 4.0 * *t * (1.0 - *t);
    }
    // `w = -ln(arg)` (vectorized: `ln` is plain f64 arithmetic); then the tail points and
    // their words (`tile` is overwritten below) are listed.
    for w in ws.iter_mut() {
        *w = -ln(*w);
    }
    // Tail points are rare (0.34% of words), so lanes of 16 are screened with a branch-free
    // fold first and only a lane that has one is scanned.
    let mut n_tails = 0;
    for (c, lane) in ws.chunks(16).enumerate() {
        if !lane.iter().fold(false, |any, &w| any | (w >= 5.0)) {
            continue;
        }
        for (k, &w) in lane.iter().enumerate() {
            let i = 16 * c + k;
            tails[n_tails] = i as u16;
            tail_words[n_tails] = tile[i];
            n_tails += usize::from(w >= 5.0);
        }
    }
    let (shift, scale, lo, hi) = (s.shift, s.scale, s.lo, s.hi);
    let clamp = |v: f32| {
        // `f32::clamp(v, lo, hi)`, spelled out (lo <= hi by construction).
        let mut v = v;
        if v < lo {
            v = lo;
        }
        if v > hi {
            v = hi;
        }
        v
    };
    for (((x, &t), &sign), &w) in tile
        .iter_mut()
        .zip(ts.iter())
        .zip(signs.iter())
        .zip(ws.iter())
    {
        let p = horner(&QUANTILE_CENTRAL, w - 2.5);
        let q = SQRT_2 * (p * (1.0 - 2.0 * t));
        *x = clamp(shift + scale * (q * sign)).to_bits();
    }
    // Giles' tail branch, and below NORMAL_TAIL_FROM (which implies w >= 5) the log-space
    // tail quantile: `sample` itself, with the same operations as the vector passes.
    for (&i, &word) in tails[..n_tails].iter().zip(tail_words.iter()) {
        tile[usize::from(i)] = sample(s, word).to_bits();
    }
}

/// [`fill_serial`] split across all cores.
fn fill(map: Map, seed: u64, stream: u64, first: u64, out: &mut [u32]) {
    let isa = Isa::detect();
    fill_with(isa, map, seed, stream, first, out);
}

fn fill_with(isa: Isa, map: Map, seed: u64, stream: u64, first: u64, out: &mut [u32]) {
    out.par_chunks_mut(TASK_ELEMENTS)
        .enumerate()
        .for_each(|(t, chunk)| {
            isa.fill_task(
                &map,
                seed,
                stream,
                first + (t * TASK_ELEMENTS) as u64,
                chunk,
            )
        });
}

/// Raw Philox words of elements `first .. first + out.len()` of (seed, stream).
pub fn words(seed: u64, stream: u64, first: u64, out: &mut [u32]) {
    fill(Map::Words, seed, stream, first, out);
}

/// Values of elements `first .. first + out.len()` of (seed, stream) under `sampler`.
pub fn generate(sampler: &Sampler, seed: u64, stream: u64, first: u64, out: &mut [f32]) {
    if sampler.kind == KIND_CONSTANT {
        out.par_chunks_mut(TASK_ELEMENTS)
            .for_each(|c| c.fill(sampler.shift));
        return;
    }
    fill(
        Map::Sample(*sampler),
        seed,
        stream,
        first,
        bytemuck::cast_slice_mut(out),
    );
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
    use crate::rng::distribution::{sample, Distribution};
    use crate::rng::philox::word;

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

    fn samplers() -> Vec<Sampler> {
        let mut all = grid_samplers();
        all.extend(
            [
                // Far tails: every element takes the log-space tail quantile.
                Distribution::truncated_normal(-1.0, 0.5, -11.0, -10.0),
                // Giles' tail branch near 5, the tail quantile past 5.42.
                Distribution::truncated_normal(0.0, 1.0, 5.0, 100.0),
            ]
            .iter()
            .map(Distribution::sampler),
        );
        all
    }

    /// The samplers whose vector passes the exhaustive test runs through (in far tails
    /// every element is finished by `sample` itself, which that test would compare with
    /// itself).
    fn grid_samplers() -> Vec<Sampler> {
        [
            Distribution::uniform(-0.1, 0.1),
            Distribution::uniform(0.0, 1.0),
            Distribution::uniform(-3.0, 0.5),
            Distribution::normal(0.0, 1.0),
            Distribution::normal(0.5, 0.02),
            Distribution::truncated_normal(0.0, 1.0, -2.0, 2.0),
            Distribution::truncated_normal(1.0, 0.5, 0.5, 3.0),
            Distribution::truncated_normal(0.0, 2.0, -6.0, -4.5),
            Distribution::Constant { value: 0.25 },
        ]
        .iter()
        .map(Distribution::sampler)
        .collect()
    }

    /// Every instruction set, every offset and length shape (partial blocks, partial
    /// groups, partial tiles, several tasks, the end of the index space): the same words
    /// as the scalar definition and the same values as `sample`, bit for bit.
    #[test]
    fn every_instruction_set_matches_the_scalar_reference() {
        let shapes = [
            (0u64, 0u64, 0u64, 1usize),
            (7, 3, 1, 3),
            (7, 3, 2, 2),
            (5, 9, 3, 4 * 16 + 5),
            (1, 2, 0, TILE - 1),
            (1, 2, 1, TILE + 3),
            (u64::MAX, u64::MAX, (1 << 32) - 130, 3 * TILE + 11),
            (1, u64::MAX, u64::MAX - 1000, 1000),
            (42, 1, 5, TASK_ELEMENTS + 2 * TILE + 7),
        ];
        for isa in Isa::available() {
            for &(seed, stream, first, n) in &shapes {
                let reference: Vec<u32> = (0..n as u64)
                    .map(|i| word(seed, stream, first + i))
                    .collect();
                let mut got = vec![0u32; n];
                fill_with(isa, Map::Words, seed, stream, first, &mut got);
                assert_eq!(got, reference, "{isa:?} words {seed} {stream} {first} {n}");
                for s in samplers() {
                    let mut got = vec![0u32; n];
                    fill_with(isa, Map::Sample(s), seed, stream, first, &mut got);
                    for (i, (&g, &w)) in got.iter().zip(&reference).enumerate() {
                        assert_eq!(
                            g,
                            sample(&s, w).to_bits(),
                            "{isa:?} {s:?} word {w:#x} at {i}"
                        );
                    }
                }
            }
        }
    }

    /// The tile maps on every word class the normal map distinguishes: all 2^23 values of
    /// the top 23 bits, with varying low bits, for untruncated and truncated samplers.
    #[test]
    fn normal_map_matches_sample_on_every_grid_point() {
        let all: Vec<u32> = (0..1u32 << 23)
            .map(|j| (j << 9) | (j.wrapping_mul(0x9E37_79B9) >> 23))
            .collect();
        for s in grid_samplers()
            .into_iter()
            .filter(|s| s.kind == KIND_NORMAL)
        {
            for isa in Isa::available() {
                let mut got = all.clone();
                got.par_chunks_mut(TILE).for_each(|tile| {
                    let map = Map::Sample(s);
                    let scratch = &mut None;
                    match isa {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `Isa::available` lists only detected instruction sets.
                        Isa::Avx512 => unsafe { map_tile_avx512(&map, tile, scratch) },
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: as above.
                        Isa::Avx2 => unsafe { map_tile_avx2(&map, tile, scratch) },
                        Isa::Portable => map_tile(&map, tile, scratch),
                    }
                });
                for (&g, &w) in got.iter().zip(&all) {
                    assert_eq!(g, sample(&s, w).to_bits(), "{isa:?} {s:?} word {w:#x}");
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    fn map_tile_avx512(map: &Map, tile: &mut [u32], scratch: &mut Option<Box<Scratch>>) {
        map_tile(map, tile, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn map_tile_avx2(map: &Map, tile: &mut [u32], scratch: &mut Option<Box<Scratch>>) {
        map_tile(map, tile, scratch)
    }
}
