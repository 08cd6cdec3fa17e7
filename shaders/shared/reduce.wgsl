// Mergeable moments, shared by layer_stats.wgsl and matmul.wgsl. CPU twin: `Partial` in
// src/cpu/layer_stats.rs (which works in f64 instead). The struct comes from abi.
//
// A partial summary of some values: how many were finite (n), how many were saturated and
// how many were not finite (inf or NaN, left out of every moment), their mean, the sum of
// squared deviations from it, and their least and greatest value. The sum of squares is
// kept as scale^2 * ssq (LAPACK's scaled sum of squares, as in snrm2), so it neither
// overflows nor underflows f32 for any finite data: an exploding network's std of 1e30
// is still reported. The mean is Welford's running mean; partials merge by Chan, Golub
// and LeVeque's pairwise update, so no sum of raw squares is ever formed and a large mean
// (sigmoid's 0.5 over a spread of 1e-3) costs no digits.

#import abi
#import activation

fn partial_empty() -> Partial {
    // Bit patterns of +inf and -inf: the identities of min and max.
    return Partial(0u, 0u, 0u, 0.0, 0.0, 0.0, bitcast<f32>(0x7f800000u), bitcast<f32>(0xff800000u));
}

// Adds root^2 * weight to the scaled sum of squares (scale, ssq).
fn ssq_add(p: ptr<function, Partial>, root: f32, weight: f32) {
    let a = abs(root);
    if a > (*p).scale {
        let r = (*p).scale / a;
        (*p).ssq = weight + (*p).ssq * r * r;
        (*p).scale = a;
    } else if a > 0.0 {
        let r = a / (*p).scale;
        (*p).ssq += weight * r * r;
    }
}

// One more value into an invocation's running summary.
fn partial_push(p: ptr<function, Partial>, x: f32, is_saturated: bool) {
    if is_saturated {
        (*p).sat += 1u;
    }
    if non_finite(x) {
        (*p).nonfinite += 1u;
        return;
    }
    (*p).n += 1u;
    let n = f32((*p).n);
    let d = x - (*p).mean;
    (*p).mean += d / n;
    // Welford: the sum of squares grows by d * (x - new mean) = d^2 (n - 1) / n.
    ssq_add(p, d, (n - 1.0) / n);
    (*p).lo = min((*p).lo, x);
    (*p).hi = max((*p).hi, x);
}

fn partial_merge(a: Partial, b: Partial) -> Partial {
    var r = a;
    r.sat = a.sat + b.sat;
    r.nonfinite = a.nonfinite + b.nonfinite;
    if b.n == 0u {
        return r;
    }
    if a.n == 0u {
        r.n = b.n;
        r.mean = b.mean;
        r.scale = b.scale;
        r.ssq = b.ssq;
        r.lo = b.lo;
        r.hi = b.hi;
        return r;
    }
    let na = f32(a.n);
    let nb = f32(b.n);
    let n = na + nb;
    let d = b.mean - a.mean;
    r.n = a.n + b.n;
    r.mean = a.mean + d * (nb / n);
    // m2 = m2a + m2b + d^2 na nb / n, each term scaled.
    ssq_add(&r, b.scale, b.ssq);
    ssq_add(&r, d * sqrt(na * (nb / n)), 1.0);
    r.lo = min(a.lo, b.lo);
    r.hi = max(a.hi, b.hi);
    return r;
}
