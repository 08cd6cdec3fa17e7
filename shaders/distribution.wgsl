// Word-to-float maps: GPU twin of src/distribution.rs (same names, same f32 operations
// in the same order). docs/STREAM.md is the contract.

const KIND_UNIFORM: u32 = 0u;
const KIND_NORMAL: u32 = 1u;
const KIND_CONSTANT: u32 = 2u;
const TWO_POW_M24: f32 = 5.9604644775390625e-8;
const SQRT_2: f32 = 1.4142135623730951;

// Mirrors distribution::Sampler.
struct Sampler {
    kind: u32,
    scale: f32,
    shift: f32,
    phi_a: f32,
    phic_b: f32,
    delta: f32,
    lo: f32,
    hi: f32,
}

// The odd integer k in [-(2^24 - 1), 2^24 - 1] from the top 24 bits, as f32 (exact).
fn uniform_k(word: u32) -> f32 {
    return f32(i32((word >> 8u) << 1u) - 0x00FFFFFF);
}

// z >= 0 with 1 - Phi(z) = t, t in (0, 0.5]; Giles' single-precision erfinv.
fn normal_quantile_upper(t: f32) -> f32 {
    let x = 1.0 - 2.0 * t;
    var w = -log(4.0 * t * (1.0 - t));
    var p: f32;
    if (w < 5.0) {
        w = w - 2.5;
        p = 2.8102264e-8;
        p = 3.4327394e-7 + p * w;
        p = -3.5233877e-6 + p * w;
        p = -4.3915065e-6 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.001253725 + p * w;
        p = -0.0041776816 + p * w;
        p = 0.24664073 + p * w;
        p = 1.5014094 + p * w;
    } else {
        w = sqrt(w) - 3.0;
        p = -0.00020021426;
        p = 0.00010095056 + p * w;
        p = 0.0013493432 + p * w;
        p = -0.0036734284 + p * w;
        p = 0.0057395077 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.0094388705 + p * w;
        p = 1.001674 + p * w;
        p = 2.8329768 + p * w;
    }
    return SQRT_2 * (p * x);
}

fn sample(s: Sampler, word: u32) -> f32 {
    if (s.kind == KIND_UNIFORM) {
        return (uniform_k(word) * s.scale) * TWO_POW_M24 + s.shift;
    }
    if (s.kind == KIND_NORMAL) {
        let j = word >> 9u;
        let u = f32((j << 1u) | 1u) * TWO_POW_M24;
        let v = f32(0x00FFFFFFu - (j << 1u)) * TWO_POW_M24;
        let below = s.phi_a + u * s.delta;
        let above = s.phic_b + v * s.delta;
        var z: f32;
        if (below <= above) {
            z = -normal_quantile_upper(below);
        } else {
            z = normal_quantile_upper(above);
        }
        return clamp(s.shift + s.scale * z, s.lo, s.hi);
    }
    return s.shift;
}
