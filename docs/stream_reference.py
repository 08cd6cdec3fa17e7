#!/usr/bin/env python3
"""The gpuinit stream contract (docs/STREAM.md) in executable form: Python 3, standard library only.

    python3 docs/stream_reference.py words   SEED STREAM OFFSET COUNT            # hex words, one a line
    python3 docs/stream_reference.py uniform SEED STREAM OFFSET COUNT LOW HIGH   # f32 bit patterns, hex

Python floats are IEEE f64; f32(x) rounds one to the nearest f32 (ties to even) via struct.
Each f32 operation below is emulated exactly, with no double-rounding error:
  * product of two f32: 24 x 24 significand bits = at most 48 bits, exact in f64's 53,
    so the one rounding f32(a * b) is the correctly rounded f32 product;
  * a * 2^-24 is a power-of-two scaling, exact in f64, rounded once to f32 (exact too,
    unless the f32 result would be subnormal; f32() then rounds it as IEEE f32 does);
  * sum of two f32: f64 rounds the exact sum, f32() rounds again; for a sum (or product,
    quotient, sqrt) of q-bit operands, rounding the exact result to p bits and then to q
    bits equals rounding it once to q bits when p >= 2q + 2 (Figueroa, 1995), and
    53 >= 2*24 + 2, so f32(a + b) is the correctly rounded f32 sum.
LOW and HIGH are parsed as f64 (give repr() of the f64 values), as Distribution::sampler does.
"""
import struct
import sys

M = 0xFFFFFFFF


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def philox4x32_10(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + 0x9E3779B9) & M, (k1 + 0xBB67AE85) & M
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M, (p0 >> 32) ^ c3 ^ k1, p0 & M
    return [c0, c1, c2, c3]


def word(seed, stream, i):
    block = i // 4
    ctr = [block & M, block >> 32, stream & M, stream >> 32]
    return philox4x32_10(ctr, [seed & M, seed >> 32])[i % 4]


def uniform(seed, stream, i, low, high):
    scale, shift = f32((high - low) / 2), f32((high + low) / 2)
    k = 2 * (word(seed, stream, i) >> 8) + 1 - 2**24  # odd, |k| < 2^24: exact in f32
    return f32(f32(f32(k * scale) * 2.0**-24) + shift)


def bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


if __name__ == "__main__":
    assert philox4x32_10([0] * 4, [0] * 2) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox4x32_10([M] * 4, [M] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert philox4x32_10(
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]
    ) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    if len(sys.argv) != {"words": 6, "uniform": 8}.get((sys.argv + [""])[1]):
        sys.exit(__doc__.split("\n\n")[1])
    kind, (seed, stream, offset, count) = sys.argv[1], (int(a, 0) for a in sys.argv[2:6])
    for i in range(offset, offset + count):
        if kind == "words":
            print(f"{word(seed, stream, i):08x}")
        else:
            print(f"{bits(uniform(seed, stream, i, float(sys.argv[6]), float(sys.argv[7]))):08x}")
