// Activations, their derivatives and saturation tests. CPU twin: src/cpu/activation.rs,
// functions of the same names, with the same f32 operations in the same order. The ACT_
// codes and every constant come from abi (src/abi.rs).

#import abi

// tanh without overflow and without cancellation near 0: an odd Taylor polynomial for
// |z| < TANH_SMALL (truncation error below 1.4e-9 relative, far under half an f32 ulp),
// else (1 - e) / (1 + e) with e = exp(-2|z|) in (0, 1], which never overflows (a builtin
// tanh may be computed as sinh / cosh, which does).
fn tanh_f32(z: f32) -> f32 {
    let a = abs(z);
    if a < TANH_SMALL {
        let z2 = z * z;
        return z + z * z2 * (TANH_C3 + z2 * (TANH_C5 + z2 * TANH_C7));
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
        case ACT_TANH: { return tanh_f32(z); }
        case ACT_SIGMOID: { return sigmoid_f32(z); }
        case ACT_SOFTSIGN: { return z / (1.0 + abs(z)); }
        case ACT_RELU: { return max(z, 0.0); }
        case ACT_LEAKY_RELU: { return select(slope * z, z, z > 0.0); }
        case ACT_SELU: { return select(SELU_LAMBDA * (SELU_ALPHA * (exp(z) - 1.0)), SELU_LAMBDA * z, z > 0.0); }
        default: { return z; }
    }
}

// f'(z) written in terms of the output y = f(z), so the backward pass needs only the
// stored activations: tanh 1 - y^2, sigmoid y (1 - y), softsign (1 - |y|)^2, relu [y > 0],
// leaky_relu y > 0 ? 1 : slope, selu y > 0 ? lambda : y + lambda alpha.
fn activate_grad(kind: u32, slope: f32, y: f32) -> f32 {
    switch kind {
        case ACT_TANH: { return 1.0 - y * y; }
        case ACT_SIGMOID: { return y * (1.0 - y); }
        case ACT_SOFTSIGN: { let u = 1.0 - abs(y); return u * u; }
        case ACT_RELU: { return select(0.0, 1.0, y > 0.0); }
        case ACT_LEAKY_RELU: { return select(slope, 1.0, y > 0.0); }
        case ACT_SELU: { return select(y + SELU_LAMBDA * SELU_ALPHA, SELU_LAMBDA, y > 0.0); }
        default: { return 1.0; }
    }
}

// Saturated units (see `Activation::saturation_rule`); the other activations do not
// saturate (the host reports no fraction).
fn saturated(kind: u32, y: f32) -> bool {
    switch kind {
        case ACT_TANH: { return abs(y) > SATURATED_TANH; }
        case ACT_SIGMOID: { return y < SATURATED_SIGMOID_LO || y > 1.0 - SATURATED_SIGMOID_LO; }
        case ACT_SOFTSIGN: { return abs(y) > SATURATED_SOFTSIGN; }
        case ACT_RELU: { return y == 0.0; }
        default: { return false; }
    }
}

// Non-finite (inf or NaN) by the bits, so no fast-math assumption can drop the test.
fn non_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}
