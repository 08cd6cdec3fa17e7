#!/usr/bin/env python3
"""The gpuinit stream contract (docs/STREAM.md) in executable form: Python 3, standard library only.

    python3 docs/stream_reference.py words     SEED STREAM OFFSET COUNT              # hex words, one a line
    python3 docs/stream_reference.py uniform   SEED STREAM OFFSET COUNT LOW HIGH     # f32 bit patterns, hex
    python3 docs/stream_reference.py normal    SEED STREAM OFFSET COUNT MEAN STD     # f32 bit patterns, hex
    python3 docs/stream_reference.py truncated SEED STREAM OFFSET COUNT MEAN STD A B # f32 bit patterns, hex
    python3 docs/stream_reference.py map       MEAN STD A B WORD...    # normal map of given words, hex
    python3 docs/stream_reference.py stream    NAME...                 # a named tensor's stream, hex

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
log: f32(math.log(x)) rounds the f64 log to f32, which is the correctly rounded f32 log
save in rare double-rounding cases; the CPU reference's ln (STREAM.md) is too, so normal
values match it bit for bit (tests/stream_reference.rs), and the GPU's to STREAM.md's bound.
LOW, HIGH, MEAN, STD, A, B are parsed as f64 (give repr() of the f64 values), as
Distribution::sampler does. A and B are in std units; map takes A = -inf, B = inf for N(MEAN, STD).
"""
import math
import struct
import sys

M = 0xFFFFFFFF
F32_MAX = 3.4028234663852886e38


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


# Normal and truncated normal: f64 host parameters, then the f32 map of one word.


def Phi(x):  # standard normal CDF, f64
    return 0.5 * math.erfc(-x / math.sqrt(2))


def truncated_mass(a, b):  # Phi(b) - Phi(a), from the tails that keep the most digits
    if a >= 0:
        return Phi(-a) - Phi(-b)
    if b <= 0:
        return Phi(b) - Phi(a)
    return 1 - Phi(a) - Phi(-b)


def f32_param(x):  # f32(x), stored as 0 when subnormal; rel, past f32, as f32::MAX (as the Rust)
    x = f32(min(x, F32_MAX))
    return 0.0 if abs(x) < 2.0**-126 else x


def params(mean, std, a=-math.inf, b=math.inf):  # a = -inf, b = inf: the plain normal
    mass = truncated_mass(a, b)  # a normal f64 within about 37.5 std, so ln(mass) is exact
    return {
        "mean_f": f32(mean), "std_f": f32(std),
        "phi_a": f32_param(Phi(a)), "phic_b": f32_param(Phi(-b)), "delta": f32_param(mass),
        "lo": f32(mean + std * a) if a > -math.inf else -F32_MAX,
        "hi": f32(mean + std * b) if b < math.inf else F32_MAX,
        "log_delta": f32(math.log(mass)),
        "rel_a": f32_param(Phi(a) / mass), "rel_b": f32_param(Phi(-b) / mass),
    }


def log(x):  # f32 log
    return f32(math.log(x))


def sqrt(x):  # f32 sqrt (exact emulation, as for + and *)
    return f32(math.sqrt(x))


GILES_CENTRAL = [2.8102264e-8, 3.4327394e-7, -3.5233877e-6, -4.3915065e-6, 0.00021858087,
                 -0.001253725, -0.0041776816, 0.24664073, 1.5014094]
GILES_TAIL = [-0.00020021426, 0.00010095056, 0.0013493432, -0.0036734284, 0.0057395077,
              -0.0076224613, 0.0094388705, 1.001674, 2.8329768]


def Q(t):  # upper-tail quantile sqrt(2) erfinv(1 - 2t), Giles' erfinv, t in (0, 0.5]
    x = f32(1 - 2 * t)
    w = -log(f32(f32(4 * t) * f32(1 - t)))
    if w < 5:
        w, coefficients = f32(w - 2.5), GILES_CENTRAL
    else:
        w, coefficients = f32(sqrt(w) - 3), GILES_TAIL
    p = f32(coefficients[0])
    for c in coefficients[1:]:
        p = f32(f32(c) + f32(p * w))
    return f32(f32(math.sqrt(2)) * f32(p * x))


def T(y):  # upper-tail quantile from y = ln(tail mass) < ln(2^-25)
    l = f32(f32(-2 * y) - f32(math.log(2 * math.pi)))
    z = sqrt(f32(l - log(l)))
    for _ in range(3):  # Newton steps
        d = z
        for k in range(8, 0, -1):
            d = f32(z + f32(k / d))
        m = f32(1 / d)  # Mills ratio M(z)
        log_tail = f32(f32(log(m) - f32(math.log(math.sqrt(2 * math.pi)))) - f32(f32(0.5 * z) * z))
        z = f32(z + f32(f32(log_tail - y) * m))
    return z


def normal(p, w):
    j = w >> 9  # top 23 bits
    u = f32((2 * j + 1) * 2.0**-24)
    v = f32((2**24 - 1 - 2 * j) * 2.0**-24)
    below = f32(p["phi_a"] + f32(u * p["delta"]))
    above = f32(p["phic_b"] + f32(v * p["delta"]))
    if below <= above:
        t, s, r, sign = below, u, p["rel_a"], -1
    else:
        t, s, r, sign = above, v, p["rel_b"], +1
    q = Q(t) if t >= 2.0**-25 else T(f32(p["log_delta"] + log(f32(s + r))))
    return min(max(f32(p["mean_f"] + f32(p["std_f"] * (q * sign))), p["lo"]), p["hi"])


def stream_of_name(name):
    h = 0xCBF29CE484222325  # FNV-1a 64 of the name's UTF-8 bytes
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


if __name__ == "__main__":
    assert philox4x32_10([0] * 4, [0] * 2) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox4x32_10([M] * 4, [M] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert philox4x32_10(
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]
    ) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    assert bits(Q(2.0**-24)) == 0x40A96E37  # STREAM.md: Q(2^-24) = 5.2947040
    kind, argc = (sys.argv + [""])[1], len(sys.argv)
    if argc != {"words": 6, "uniform": 8, "normal": 8, "truncated": 10}.get(kind) and not (
        kind == "map" and argc >= 7 or kind == "stream"
    ):
        sys.exit(__doc__.split("\n\n")[1])
    if kind == "stream":
        for name in sys.argv[2:]:
            print(f"{stream_of_name(name):016x}")
        sys.exit()
    if kind == "map":
        p = params(*(float(x) for x in sys.argv[2:6]))
        for w in sys.argv[6:]:
            print(f"{bits(normal(p, int(w, 0))):08x}")
        sys.exit()
    (seed, stream, offset, count), fs = (int(a, 0) for a in sys.argv[2:6]), [float(x) for x in sys.argv[6:]]
    p = params(*fs) if kind in ("normal", "truncated") else None
    for i in range(offset, offset + count):
        if kind == "words":
            print(f"{word(seed, stream, i):08x}")
        elif kind == "uniform":
            print(f"{bits(uniform(seed, stream, i, *fs)):08x}")
        else:
            print(f"{bits(normal(p, word(seed, stream, i))):08x}")
