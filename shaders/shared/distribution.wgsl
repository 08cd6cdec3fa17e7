// Word-to-float maps. CPU twin: src/rng/distribution.rs (the same f32 operations in the same
// order). docs/STREAM.md is the contract; Sampler, the KIND_ codes and the coefficients come
// from abi (src/abi.rs).

#import abi

// Whether the log-space tail quantile is compiled in. The host leaves it out when no word
// can reach it (Sampler::needs_tail_quantile: every untruncated normal), because a
// software rasterizer runs a branch no lane takes anyway, masked, at a third of the speed.
override NORMAL_TAILS: bool = true;

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

// The Mills ratio (1 - Phi(z)) / phi(z) for z >= 5, by Laplace's continued fraction.
fn mills(z: f32) -> f32 {
    var d = z;
    for (var k = MILLS_TERMS; k > 0u; k--) {
        d = z + f32(k) / d;
    }
    return 1.0 / d;
}

// z > 0 with ln(1 - Phi(z)) = y, for y below ln(NORMAL_TAIL_FROM) (z > 5.42): from the
// asymptotic z^2 = L - ln L, L = -2y - ln(2 pi), Newton steps on ln(1 - Phi(z)) =
// ln M(z) - ln(sqrt(2 pi)) - z^2 / 2, whose derivative is -1 / M(z).
fn tail_quantile(y: f32) -> f32 {
    let l = -2.0 * y - LN_2PI;
    var z = sqrt(l - log(l));
    for (var i = 0u; i < NEWTON_STEPS; i++) {
        let m = mills(z);
        let log_tail = (log(m) - HALF_LN_2PI) - (0.5 * z) * z;
        z = z + (log_tail - y) * m;
    }
    return z;
}

// The uniform map: exact products and one rounding per operation, as on the CPU.
fn sample_uniform(s: Sampler, word: u32) -> f32 {
    return (uniform_k(word) * s.scale) * TWO_POW_M24 + s.shift;
}

// The normal and truncated-normal map (docs/STREAM.md): inverse CDF of one word.
fn sample_normal(s: Sampler, word: u32) -> f32 {
    let j = word >> 9u;
    let u = f32((j << 1u) | 1u) * TWO_POW_M24;
    let v = f32(0x00FFFFFFu - (j << 1u)) * TWO_POW_M24;
    let below = s.phi_a + u * s.delta;
    let above = s.phic_b + v * s.delta;
    // The smaller tail mass picks the side; a tiny one is taken in log space.
    var t = above;
    var w = v;
    var rel = s.rel_b;
    var sign = 1.0;
    if (below <= above) {
        t = below;
        w = u;
        rel = s.rel_a;
        sign = -1.0;
    }
    var q = normal_quantile_upper(t);
    if (NORMAL_TAILS && t < NORMAL_TAIL_FROM) {
        q = tail_quantile(s.log_delta + log(w + rel));
    }
    return clamp(s.shift + s.scale * (q * sign), s.lo, s.hi);
}
