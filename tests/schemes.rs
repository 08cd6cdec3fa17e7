//! Fans, gains, bounds and stds against values worked out from the PyTorch and JAX formulas.

use gpuinit::rng::distribution::Distribution;
use gpuinit::rng::{calculate_gain, parse_shape, Family, FanMode, Nonlinearity};
use gpuinit::{Fans, Layout, Scheme, SchemeOptions};

fn scheme(name: &str) -> Scheme {
    Scheme::parse(name, &SchemeOptions::default()).unwrap()
}

/// Half-width of a symmetric uniform, or the std of a normal (before truncation).
fn spread(d: Distribution) -> f64 {
    match d {
        Distribution::Uniform { low, high } => {
            assert_eq!(low, -high);
            high
        }
        Distribution::Normal { mean, std } => {
            assert_eq!(mean, 0.0);
            std
        }
        Distribution::TruncatedNormal { mean, std, a, b } => {
            assert_eq!((mean, a, b), (0.0, -2.0, 2.0));
            std
        }
        Distribution::Constant { .. } => panic!("constant has no spread"),
    }
}

#[test]
fn fans_follow_torch_and_jax() {
    // torch: Linear(128 -> 256).weight is [256, 128]; Conv2d(3 -> 64, 7x7).weight is [64, 3, 7, 7].
    assert_eq!(
        Fans::from_shape(&[256, 128], Layout::Torch).unwrap(),
        Fans {
            fan_in: 128,
            fan_out: 256
        }
    );
    assert_eq!(
        Fans::from_shape(&[64, 3, 7, 7], Layout::Torch).unwrap(),
        Fans {
            fan_in: 147,
            fan_out: 3136
        }
    );
    assert_eq!(
        Fans::from_shape(&[8, 4, 5], Layout::Torch).unwrap(),
        Fans {
            fan_in: 20,
            fan_out: 40
        }
    );
    // JAX/Keras: Dense kernel [in, out]; Conv kernel [kh, kw, in, out].
    assert_eq!(
        Fans::from_shape(&[128, 256], Layout::Jax).unwrap(),
        Fans {
            fan_in: 128,
            fan_out: 256
        }
    );
    assert_eq!(
        Fans::from_shape(&[7, 7, 3, 64], Layout::Jax).unwrap(),
        Fans {
            fan_in: 147,
            fan_out: 3136
        }
    );
    assert!(Fans::from_shape(&[10], Layout::Torch).is_err());
    assert!(Fans::new(0, 5).is_err());
    assert_eq!(parse_shape("64x3x3x3").unwrap(), vec![64, 3, 3, 3]);
    for bad in ["", "0x4", "4x", "axb", "-1x2", "4294967296x4294967296x2"] {
        assert!(parse_shape(bad).is_err(), "{bad}");
    }
}

#[test]
fn gains_follow_calculate_gain() {
    use Nonlinearity::*;
    for nl in [
        Linear,
        Conv1d,
        Conv2d,
        Conv3d,
        ConvTranspose1d,
        ConvTranspose2d,
        ConvTranspose3d,
        Sigmoid,
    ] {
        assert_eq!(calculate_gain(nl, None), 1.0);
    }
    assert_eq!(calculate_gain(Tanh, None), 5.0 / 3.0);
    assert_eq!(calculate_gain(Relu, None), 2.0f64.sqrt());
    assert_eq!(calculate_gain(Selu, None), 0.75);
    assert_eq!(
        calculate_gain(LeakyRelu, None),
        (2.0 / (1.0 + 0.01 * 0.01f64)).sqrt()
    );
    assert_eq!(
        calculate_gain(LeakyRelu, Some(0.2)),
        (2.0 / (1.0 + 0.2 * 0.2f64)).sqrt()
    );
}

#[test]
fn bounds_and_stds_equal_the_library_formulas() {
    let f = Fans {
        fan_in: 300,
        fan_out: 100,
    };
    let (fi, fo) = (300.0f64, 100.0f64);
    let s3 = 3.0f64.sqrt();
    let trunc = 0.879_625_661_034_239_8; // JAX's 0.87962566103423978
                                         // torch.nn.init
    assert_eq!(
        spread(scheme("xavier_uniform").distribution(f).unwrap()),
        s3 * (1.0 * (2.0 / (fi + fo)).sqrt())
    );
    assert_eq!(
        spread(scheme("xavier_normal").distribution(f).unwrap()),
        (2.0 / (fi + fo)).sqrt()
    );
    let tanh = SchemeOptions {
        nonlinearity: Some(Nonlinearity::Tanh),
        ..Default::default()
    };
    let xt = Scheme::parse("xavier_uniform", &tanh).unwrap();
    assert_eq!(
        spread(xt.distribution(f).unwrap()),
        s3 * (5.0 / 3.0 * (2.0 / (fi + fo)).sqrt())
    );
    // kaiming_uniform_ defaults: a=0, fan_in, leaky_relu -> gain sqrt(2).
    assert_eq!(
        spread(scheme("kaiming_uniform").distribution(f).unwrap()),
        s3 * (2.0f64.sqrt() / fi.sqrt())
    );
    let ko = SchemeOptions {
        mode: Some(FanMode::FanOut),
        negative_slope: Some(0.1),
        ..Default::default()
    };
    let g = (2.0 / (1.0 + 0.1 * 0.1f64)).sqrt();
    assert_eq!(
        spread(
            Scheme::parse("kaiming_normal", &ko)
                .unwrap()
                .distribution(f)
                .unwrap()
        ),
        g / fo.sqrt()
    );
    // jax.nn.initializers
    assert_eq!(
        spread(scheme("glorot_uniform").distribution(f).unwrap()),
        (3.0 * (1.0 / ((fi + fo) / 2.0))).sqrt()
    );
    assert_eq!(
        spread(scheme("glorot_normal").distribution(f).unwrap()),
        (1.0 / ((fi + fo) / 2.0)).sqrt() / trunc
    );
    assert_eq!(
        spread(scheme("he_uniform").distribution(f).unwrap()),
        (3.0 * (2.0 / fi)).sqrt()
    );
    assert_eq!(
        spread(scheme("he_normal").distribution(f).unwrap()),
        (2.0 / fi).sqrt() / trunc
    );
    assert_eq!(
        spread(scheme("lecun_uniform").distribution(f).unwrap()),
        (3.0 * (1.0 / fi)).sqrt()
    );
    assert_eq!(
        spread(scheme("lecun_normal").distribution(f).unwrap()),
        (1.0 / fi).sqrt() / trunc
    );
    let vs = SchemeOptions {
        scale: Some(0.5),
        mode: Some(FanMode::FanOut),
        family: Some(Family::Normal),
        ..Default::default()
    };
    assert_eq!(
        spread(
            Scheme::parse("variance_scaling", &vs)
                .unwrap()
                .distribution(f)
                .unwrap()
        ),
        (0.5 / fo).sqrt()
    );
    // The heuristic Glorot and Bengio compared against.
    assert_eq!(
        spread(scheme("standard").distribution(f).unwrap()),
        1.0 / fi.sqrt()
    );
    // Rounded once to f32: xavier_uniform of a 256x128 dense layer has bound 0.125.
    let d = scheme("xavier_uniform")
        .distribution(Fans {
            fan_in: 128,
            fan_out: 256,
        })
        .unwrap();
    assert_eq!(d.sampler().scale, 0.125f32);
}

#[test]
fn xavier_variance_is_two_over_fan_sum() {
    // The point of Glorot and Bengio: Var(W) = 2 / (fan_in + fan_out) for uniform and normal.
    let f = Fans {
        fan_in: 512,
        fan_out: 256,
    };
    for name in [
        "xavier_uniform",
        "xavier_normal",
        "glorot_uniform",
        "glorot_normal",
    ] {
        let (_, var) = scheme(name).distribution(f).unwrap().moments();
        assert!(
            (var * (512.0 + 256.0) / 2.0 - 1.0).abs() < 1e-12,
            "{name}: {var}"
        );
    }
    // 'standard' gives n Var(W) = 1/3 with n = fan_in.
    let (_, var) = scheme("standard").distribution(f).unwrap().moments();
    assert!((var * 512.0 - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn bad_scheme_inputs_are_refused_by_name() {
    let err = |name: &str, o: SchemeOptions| Scheme::parse(name, &o).unwrap_err().to_string();
    assert!(err("xavier", SchemeOptions::default()).contains("unknown scheme 'xavier'"));
    assert!(err(
        "xavier_uniform",
        SchemeOptions {
            gain: Some(-1.0),
            ..Default::default()
        }
    )
    .contains("-1"));
    assert!(err(
        "xavier_uniform",
        SchemeOptions {
            gain: Some(0.0),
            ..Default::default()
        }
    )
    .contains("gain"));
    assert!(err(
        "xavier_uniform",
        SchemeOptions {
            gain: Some(f64::NAN),
            ..Default::default()
        }
    )
    .contains("NaN"));
    assert!(err(
        "variance_scaling",
        SchemeOptions {
            scale: Some(-2.0),
            ..Default::default()
        }
    )
    .contains("-2"));
    assert!(err(
        "normal",
        SchemeOptions {
            std: Some(0.0),
            ..Default::default()
        }
    )
    .contains("std"));
    assert!(err(
        "uniform",
        SchemeOptions {
            low: Some(1.0),
            high: Some(0.5),
            ..Default::default()
        }
    )
    .contains("1"));
    assert!(err(
        "truncated_normal",
        SchemeOptions {
            a: Some(3.0),
            b: Some(2.0),
            ..Default::default()
        }
    )
    .contains("a=3"));
    assert!(err(
        "he_uniform",
        SchemeOptions {
            gain: Some(2.0),
            ..Default::default()
        }
    )
    .contains("--gain"));
    assert!(err("constant", SchemeOptions::default()).contains("--value"));
    assert!(scheme("xavier_uniform").distribution_if_fans(None).is_err());
}
