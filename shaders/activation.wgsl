// Activations, their derivatives and saturation tests, shared by matmul.wgsl, layer_stats.wgsl
// and backward.wgsl (composed in front of each). CPU twin: src/propagate/cpu.rs, functions of
// the same names, with the same f32 operations in the same order.
//
// Codes match `Activation::code` in src/propagate/mod.rs.
const ACT_LINEAR: u32 = 0u;
const ACT_TANH: u32 = 1u;
const ACT_SIGMOID: u32 = 2u;
const ACT_SOFTSIGN: u32 = 3u;
const ACT_RELU: u32 = 4u;
const ACT_LEAKY_RELU: u32 = 5u;
const ACT_SELU: u32 = 6u;

// SELU's constants (Klambauer et al. 2017), as torch rounds them to f32.
const SELU_ALPHA: f32 = 1.6732632423543772;
const SELU_LAMBDA: f32 = 1.0507009873554805;

// tanh without overflow and without cancellation near 0: an odd Taylor polynomial for
// |z| < 0.125 (truncation error below 1.4e-9 relative, far under half an f32 ulp), else
// (1 - e) / (1 + e) with e = exp(-2|z|) in (0, 1], which never overflows (a builtin tanh
// may be computed as sinh / cosh, which does).
fn tanh_f32(z: f32) -> f32 {
    let a = abs(z);
    if a < 0.125 {
        let z2 = z * z;
        return z + z * z2 * (-0.33333334 + z2 * (0.13333334 + z2 * -0.053968254));
    }
    let e = exp(-2.0 * a);
    let t = (1.0 - e) / (1.0 + e);
    return select(t, -t, z < 0.0);
}

// Logistic sigmoid: exp of a non-positive argument only, so it never overflows.
fn sigmoid_f32(z: f32) -> f32 {
    let e = exp(-abs(z));
    let s = 1.0 / (1.0 + e);
    return select(s, e * s, z < 0.0);
}

// f(z) for activation `kind`; `slope` is leaky_relu's negative slope.
fn activate(kind: u32, slope: f32, z: f32) -> f32 {
    switch kind {
        case 1u: { return tanh_f32(z); }
        case 2u: { return sigmoid_f32(z); }
        case 3u: { return z / (1.0 + abs(z)); }
        case 4u: { return max(z, 0.0); }
        case 5u: { return select(slope * z, z, z > 0.0); }
        case 6u: { return select(SELU_LAMBDA * (SELU_ALPHA * (exp(z) - 1.0)), SELU_LAMBDA * z, z > 0.0); }
        default: { return z; }
    }
}

// f'(z) written in terms of the output y = f(z), so the backward pass needs only the
// stored activations: tanh 1 - y^2, sigmoid y (1 - y), softsign (1 - |y|)^2, relu [y > 0],
// leaky_relu y > 0 ? 1 : slope, selu y > 0 ? lambda : y + lambda alpha.
fn activate_grad(kind: u32, slope: f32, y: f32) -> f32 {
    switch kind {
        case 1u: { return 1.0 - y * y; }
        case 2u: { return y * (1.0 - y); }
        case 3u: { let u = 1.0 - abs(y); return u * u; }
        case 4u: { return select(0.0, 1.0, y > 0.0); }
        case 5u: { return select(slope, 1.0, y > 0.0); }
        case 6u: { return select(y + SELU_LAMBDA * SELU_ALPHA, SELU_LAMBDA, y > 0.0); }
        default: { return 1.0; }
    }
}

// Saturated units: |tanh| > 0.99, sigmoid outside [0.01, 0.99], |softsign| > 0.9, relu
// exactly 0. The other activations do not saturate (the host reports no fraction).
fn saturated(kind: u32, y: f32) -> bool {
    switch kind {
        case 1u: { return abs(y) > 0.99; }
        case 2u: { return y < 0.01 || y > 0.99; }
        case 3u: { return abs(y) > 0.9; }
        case 4u: { return y == 0.0; }
        default: { return false; }
    }
}

// Non-finite (inf or NaN) by the bits, so no fast-math assumption can drop the test.
fn non_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}
