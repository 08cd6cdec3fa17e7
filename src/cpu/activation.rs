//! CPU twin of `shaders/shared/activation.wgsl`: the functions of the same names, with the
//! same f32 operations in the same order and the same constants ([`crate::abi`]).

pub use crate::abi::Activation;
use crate::abi::{
    SATURATED_SIGMOID_LO, SATURATED_SOFTSIGN, SATURATED_TANH, SELU_ALPHA, SELU_LAMBDA, TANH_C3,
    TANH_C5, TANH_C7, TANH_SMALL,
};

/// `tanh_f32`: a Taylor polynomial below [`TANH_SMALL`], else (1 - e) / (1 + e) with
/// e = exp(-2|z|).
#[inline(always)]
pub fn tanh_f32(z: f32) -> f32 {
    let a = z.abs();
    if a < TANH_SMALL {
        let z2 = z * z;
        return z + z * z2 * (TANH_C3 + z2 * (TANH_C5 + z2 * TANH_C7));
    }
    let e = (-2.0 * a).exp();
    let t = (1.0 - e) / (1.0 + e);
    if z < 0.0 {
        -t
    } else {
        t
    }
}

/// `sigmoid_f32`.
#[inline(always)]
pub fn sigmoid_f32(z: f32) -> f32 {
    let e = (-z.abs()).exp();
    let s = 1.0 / (1.0 + e);
    if z < 0.0 {
        e * s
    } else {
        s
    }
}

/// `activate`.
#[inline(always)]
pub fn activate(act: Activation, slope: f32, z: f32) -> f32 {
    match act {
        Activation::Linear => z,
        Activation::Tanh => tanh_f32(z),
        Activation::Sigmoid => sigmoid_f32(z),
        Activation::Softsign => z / (1.0 + z.abs()),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu => {
            if z > 0.0 {
                z
            } else {
                slope * z
            }
        }
        Activation::Selu => {
            if z > 0.0 {
                SELU_LAMBDA * z
            } else {
                SELU_LAMBDA * (SELU_ALPHA * (z.exp() - 1.0))
            }
        }
    }
}

/// `activate_grad`: f'(z) from y = f(z).
#[inline(always)]
pub fn activate_grad(act: Activation, slope: f32, y: f32) -> f32 {
    match act {
        Activation::Linear => 1.0,
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Softsign => {
            let u = 1.0 - y.abs();
            u * u
        }
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu => {
            if y > 0.0 {
                1.0
            } else {
                slope
            }
        }
        Activation::Selu => {
            if y > 0.0 {
                SELU_LAMBDA
            } else {
                y + SELU_LAMBDA * SELU_ALPHA
            }
        }
    }
}

/// `saturated`: see [`Activation::saturation_rule`].
#[inline(always)]
pub fn saturated(act: Activation, y: f32) -> bool {
    match act {
        Activation::Tanh => y.abs() > SATURATED_TANH,
        Activation::Sigmoid => !(SATURATED_SIGMOID_LO..=1.0 - SATURATED_SIGMOID_LO).contains(&y),
        Activation::Softsign => y.abs() > SATURATED_SOFTSIGN,
        Activation::Relu => y == 0.0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_and_sigmoid_match_the_library_functions() {
        for i in -4000..=4000 {
            let z = i as f32 * 0.01;
            assert!(
                (tanh_f32(z) - z.tanh()).abs()
                    <= 2.0 * f32::EPSILON * z.tanh().abs().max(1e-30) + 1e-7,
                "{z}"
            );
            let s = 1.0 / (1.0 + (-f64::from(z)).exp());
            assert!((f64::from(sigmoid_f32(z)) - s).abs() <= 4e-7 * s, "{z}");
        }
        for z in [1e-30f32, 1e-8, 1e-4, 0.1249, 0.125, 100.0, 1e30, f32::MAX] {
            assert!(
                (tanh_f32(z) - z.tanh()).abs() <= 2.0 * f32::EPSILON * z.tanh(),
                "{z}"
            );
            assert_eq!(tanh_f32(-z), -tanh_f32(z));
            assert!(sigmoid_f32(z).is_finite() && sigmoid_f32(-z).is_finite());
        }
    }

    #[test]
    fn derivatives_from_outputs_match_finite_differences() {
        for act in Activation::ALL {
            for i in -30..=30 {
                let z = i as f64 * 0.1 + 0.05;
                let h = 1e-3;
                let f = |z: f64| f64::from(activate(act, 0.01, z as f32));
                let fd = (f(z + h) - f(z - h)) / (2.0 * h);
                let g = f64::from(activate_grad(act, 0.01, activate(act, 0.01, z as f32)));
                assert!(
                    (fd - g).abs() < 2e-3 * fd.abs().max(1.0),
                    "{act:?} at {z}: {fd} vs {g}"
                );
            }
        }
    }
}
