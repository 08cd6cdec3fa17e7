//! Philox4x32-10 (Salmon, Moraes, Dror and Shaw, SC'11), exactly as Random123's `philox.h`.
//!
//! CPU twin of `shaders/shared/philox.wgsl`: the same names, the same order of operations.
//! The constants are the kernels' own ([`crate::abi`]).

pub use crate::abi::{PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1};

/// Random123's known-answer vectors for philox4x32_10 (`kat_vectors`): (counter, key, output).
pub const KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0, 0, 0, 0],
        [0, 0],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [0xffffffff; 4],
        [0xffffffff; 2],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

/// The high and low 32 bits of the 64-bit product.
#[inline(always)]
pub fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

#[inline(always)]
fn philox_round(mulhilo: fn(u32, u32) -> (u32, u32), ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(PHILOX_M0, ctr[0]);
    let (hi1, lo1) = mulhilo(PHILOX_M1, ctr[2]);
    [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0]
}

/// Philox4x32 with a chosen round count and multiply: the standard generator is
/// `(10, mulhilo)`; anything else exists only to show that the tests catch it.
#[inline(always)]
pub fn philox4x32_with(
    rounds: u32,
    mulhilo: fn(u32, u32) -> (u32, u32),
    mut ctr: [u32; 4],
    mut key: [u32; 2],
) -> [u32; 4] {
    for r in 0..rounds {
        if r > 0 {
            key[0] = key[0].wrapping_add(PHILOX_W0);
            key[1] = key[1].wrapping_add(PHILOX_W1);
        }
        ctr = philox_round(mulhilo, ctr, key);
    }
    ctr
}

/// Philox4x32 with a chosen number of rounds (10 is the standard; fewer only to show tests have power).
#[inline(always)]
pub fn philox4x32_r(rounds: u32, ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox4x32_with(rounds, mulhilo, ctr, key)
}

/// Philox4x32-10 of one counter block under one key.
#[inline(always)]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox4x32_r(PHILOX_ROUNDS, ctr, key)
}

/// The key of a seed: (low 32 bits, high 32 bits).
#[inline(always)]
pub fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The counter of block `block` (elements 4*block .. 4*block+3) of stream `stream`.
#[inline(always)]
pub fn counter_of(block: u64, stream: u64) -> [u32; 4] {
    [
        block as u32,
        (block >> 32) as u32,
        stream as u32,
        (stream >> 32) as u32,
    ]
}

/// The raw word of element `index` of (seed, stream): word `index % 4` of block `index / 4`.
pub fn word(seed: u64, stream: u64, index: u64) -> u32 {
    philox4x32_10(counter_of(index / 4, stream), key_of(seed))[(index % 4) as usize]
}

/// Number of blocks [`philox_lanes`] computes side by side.
pub const LANES: usize = 8;

/// Philox4x32-10 of `LANES` consecutive blocks `first_block ..` of one stream, as
/// `out[lane][word]`. Written as loops over lanes so the compiler vectorizes the
/// 32x32->64 multiplies (the CPU reference's hot loop).
#[inline(always)]
pub fn philox_lanes(key: [u32; 2], first_block: u64, stream: u64) -> [[u32; 4]; LANES] {
    let mut c0 = [0u32; LANES];
    let mut c1 = [0u32; LANES];
    let c2 = [stream as u32; LANES];
    let c3 = [(stream >> 32) as u32; LANES];
    for l in 0..LANES {
        let b = first_block.wrapping_add(l as u64);
        c0[l] = b as u32;
        c1[l] = (b >> 32) as u32;
    }
    let (mut c2, mut c3) = (c2, c3);
    let (mut k0, mut k1) = (key[0], key[1]);
    for r in 0..PHILOX_ROUNDS {
        if r > 0 {
            k0 = k0.wrapping_add(PHILOX_W0);
            k1 = k1.wrapping_add(PHILOX_W1);
        }
        for l in 0..LANES {
            let p0 = u64::from(PHILOX_M0) * u64::from(c0[l]);
            let p1 = u64::from(PHILOX_M1) * u64::from(c2[l]);
            let n0 = (p1 >> 32) as u32 ^ c1[l] ^ k0;
            let n2 = (p0 >> 32) as u32 ^ c3[l] ^ k1;
            c1[l] = p1 as u32;
            c3[l] = p0 as u32;
            c0[l] = n0;
            c2[l] = n2;
        }
    }
    let mut out = [[0u32; 4]; LANES];
    for l in 0..LANES {
        out[l] = [c0[l], c1[l], c2[l], c3[l]];
    }
    out
}

/// Philox4x32-10 of `L` consecutive blocks `first_block ..` of one stream, written to
/// `out` in element order (`out[b]` is block `first_block + b`, words 0 to 3).
///
/// The wide twin of [`philox_lanes`], for the CPU reference's hot loop: each counter word
/// lives in the low half of a u64 lane, so every 32x32->64 multiply is one lane of a
/// `pmuludq`/`vpmuludq` (which reads only the low 32 bits of each lane: the high halves
/// left by `lo` products and the xors are never masked, only dropped at the end). Written
/// as loops over lanes for the compiler to vectorize; `L` should be a multiple of the
/// vector's u64 lanes, and large enough to hide the multiply's latency (16 to 32).
#[inline(always)]
pub fn philox_group<const L: usize>(
    key: [u32; 2],
    first_block: u64,
    stream: u64,
    out: &mut [[u32; 4]; L],
) {
    const LOW: u64 = 0xFFFF_FFFF;
    let mut c0 = [0u64; L];
    let mut c1 = [0u64; L];
    let mut c2 = [stream & LOW; L];
    let mut c3 = [stream >> 32; L];
    for l in 0..L {
        let b = first_block.wrapping_add(l as u64);
        c0[l] = b & LOW;
        c1[l] = b >> 32;
    }
    // The ten rounds written out (a loop keeps its state in rotating registers).
    let mut round = |r: u32| {
        let k0 = u64::from(key[0].wrapping_add(PHILOX_W0.wrapping_mul(r)));
        let k1 = u64::from(key[1].wrapping_add(PHILOX_W1.wrapping_mul(r)));
        for l in 0..L {
            let p0 = (c0[l] & LOW) * u64::from(PHILOX_M0);
            let p1 = (c2[l] & LOW) * u64::from(PHILOX_M1);
            let n0 = (p1 >> 32) ^ c1[l] ^ k0;
            let n2 = (p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = p1;
            c3[l] = p0;
            c0[l] = n0;
            c2[l] = n2;
        }
    };
    const _: () = assert!(PHILOX_ROUNDS == 10);
    round(0);
    round(1);
    round(2);
    round(3);
    round(4);
    round(5);
    round(6);
    round(7);
    round(8);
    round(9);
    for l in 0..L {
        out[l] = [c0[l] as u32, c1[l] as u32, c2[l] as u32, c3[l] as u32];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        for (ctr, key, out) in KNOWN_ANSWERS {
            assert_eq!(philox4x32_10(ctr, key), out);
        }
    }

    #[test]
    fn fewer_rounds_differ() {
        for (ctr, key, out) in KNOWN_ANSWERS {
            assert_ne!(philox4x32_r(9, ctr, key), out);
        }
    }

    #[test]
    fn lanes_match_scalar() {
        let key = key_of(0x0123_4567_89ab_cdef);
        for (first, stream) in [
            (0u64, 0u64),
            (u32::MAX as u64 - 3, 7),
            (u64::MAX - 2, u64::MAX),
        ] {
            let lanes = philox_lanes(key, first, stream);
            for (l, got) in lanes.iter().enumerate() {
                let b = first.wrapping_add(l as u64);
                assert_eq!(*got, philox4x32_10(counter_of(b, stream), key));
            }
        }
    }

    #[test]
    fn group_matches_scalar() {
        let key = key_of(0xfedc_ba98_7654_3210);
        for (first, stream) in [
            (0u64, 0u64),
            (u32::MAX as u64 - 13, 7),
            (u64::MAX - 20, u64::MAX),
        ] {
            let mut group = [[0u32; 4]; 32];
            philox_group(key, first, stream, &mut group);
            for (l, got) in group.iter().enumerate() {
                let b = first.wrapping_add(l as u64);
                assert_eq!(*got, philox4x32_10(counter_of(b, stream), key));
            }
        }
    }

    #[test]
    fn layout_of_words() {
        // seed 0, stream 0: elements 0..4 are the first known answer.
        let w: Vec<u32> = (0..4).map(|i| word(0, 0, i)).collect();
        assert_eq!(w, KNOWN_ANSWERS[0].2);
        // Indices past 2^32 put the block's high word in counter word 1.
        let (seed, stream, index) = (
            0x299f31d0_a4093822u64,
            0x03707344_13198a2eu64,
            (1u64 << 40) + 6,
        );
        let block = philox4x32_10(
            [0x1, 0x40, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0],
        );
        assert_eq!(word(seed, stream, index), block[2]);
    }
}
