// Word-to-float maps. CPU twin: src/rng/distribution.rs (the same f32 operations in the same
// order). docs/STREAM.md is the contract; Sampler, the KIND_ codes and the coefficients come
// from abi (src/abi.rs).

#import abi

// The odd integer k in [-(2^24 - 1), 2^24 - 1] from the top 24 bits, as f32 (exact).
fn uniform_k(word: u32) -> f32 {
    return f32(i32((word >> 8u) << 1u) - 0x00FFFFFF);
}

// z >= 0 with 1 - Phi(z) = t, t in (0, 0.5]; Giles' single-precision erfinv.
fn normal_quantile_upper(t: f32) -> f32 {
    let x = 1.0 - 2.0 * t;
    let w = -log(4.0 * t * (1.0 - t));
    var p: f32;
    if (w < 5.0) {
        p = quantile_central(w - 2.5);
    } else {
        p = quantile_tail(sqrt(w) - 3.0);
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
