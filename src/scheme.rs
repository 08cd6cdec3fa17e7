//! Initialization schemes: fans from shapes, gains, and each scheme's distribution.
//!
//! Formulas follow the library each preset is named after, evaluated in f64 and rounded
//! to f32 once (in [`Distribution::sampler`]): torch.nn.init for `xavier_*`, `kaiming_*`
//! and `calculate_gain`; jax.nn.initializers (= Keras) for `variance_scaling`,
//! `glorot_*`, `he_*` and `lecun_*`.

use std::fmt;

use crate::distribution::Distribution;
use crate::error::{Error, Result};

/// Std of a standard normal truncated to [-2, 2], by which JAX and Keras divide the
/// truncated-normal std so the result has the intended variance.
#[allow(clippy::excessive_precision)] // JAX's literal, verbatim.
pub const TRUNCATED_STD_CORRECTION: f64 = 0.879_625_661_034_239_78;

/// Where the input and output feature axes are in a weight shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// PyTorch: `[out, in, k...]`; fan_in = in * prod(k), fan_out = out * prod(k).
    #[value(name = "torch", alias = "channels-first", alias = "oik")]
    Torch,
    /// JAX/Keras: `[k..., in, out]`; fan_in = in * prod(k), fan_out = out * prod(k).
    #[value(name = "jax", alias = "keras", alias = "channels-last", alias = "kio")]
    Jax,
}

/// Fan-in and fan-out of a weight tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fans {
    pub fan_in: u64,
    pub fan_out: u64,
}

impl Fans {
    pub fn new(fan_in: u64, fan_out: u64) -> Result<Self> {
        if fan_in == 0 || fan_out == 0 {
            return Err(Error::invalid(format!(
                "fans must be positive, got fan_in={fan_in} fan_out={fan_out}"
            )));
        }
        Ok(Fans { fan_in, fan_out })
    }

    /// Fans of a weight shape (at least 2 dimensions) in the given layout.
    pub fn from_shape(shape: &[u64], layout: Layout) -> Result<Self> {
        let n = shape.len();
        if n < 2 {
            return Err(Error::invalid(format!(
                "fans need a shape with at least 2 dimensions, got {}; give --fan-in and --fan-out instead",
                format_shape(shape)
            )));
        }
        numel(shape)?;
        let (fan_in, fan_out) = match layout {
            Layout::Torch => {
                let rf: u64 = shape[2..].iter().product();
                (shape[1] * rf, shape[0] * rf)
            }
            Layout::Jax => {
                let rf: u64 = shape[..n - 2].iter().product();
                (shape[n - 2] * rf, shape[n - 1] * rf)
            }
        };
        Fans::new(fan_in, fan_out)
    }

    pub fn fan(&self, mode: FanMode) -> f64 {
        match mode {
            FanMode::FanIn => self.fan_in as f64,
            FanMode::FanOut => self.fan_out as f64,
            FanMode::FanAvg => (self.fan_in as f64 + self.fan_out as f64) / 2.0,
        }
    }
}

/// Parses `256x128` or `64x3x3x3` into dimensions; every dimension positive.
pub fn parse_shape(text: &str) -> Result<Vec<u64>> {
    let dims: Vec<u64> = text
        .split(['x', 'X', ','])
        .map(|d| d.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| Error::invalid(format!("shape '{text}' is not of the form 256x128")))?;
    if dims.is_empty() || dims.contains(&0) {
        return Err(Error::invalid(format!(
            "shape '{text}' has a zero dimension"
        )));
    }
    numel(&dims)?;
    Ok(dims)
}

/// Number of elements of a shape, or an error if it overflows u64.
pub fn numel(shape: &[u64]) -> Result<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(format!(
                "shape {} has more than 2^64 elements",
                format_shape(shape)
            ))
        })
}

pub fn format_shape(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// Which fan the variance is divided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FanMode {
    #[value(name = "fan_in", alias = "fan-in")]
    FanIn,
    #[value(name = "fan_out", alias = "fan-out")]
    FanOut,
    #[value(name = "fan_avg", alias = "fan-avg")]
    FanAvg,
}

/// The distribution family of `variance_scaling`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    Uniform,
    Normal,
    #[value(name = "truncated_normal", alias = "truncated-normal")]
    TruncatedNormal,
}

/// Nonlinearities known to `torch.nn.init.calculate_gain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Nonlinearity {
    Linear,
    Conv1d,
    Conv2d,
    Conv3d,
    #[value(name = "conv_transpose1d")]
    ConvTranspose1d,
    #[value(name = "conv_transpose2d")]
    ConvTranspose2d,
    #[value(name = "conv_transpose3d")]
    ConvTranspose3d,
    Sigmoid,
    Tanh,
    Relu,
    #[value(name = "leaky_relu", alias = "leaky-relu")]
    LeakyRelu,
    Selu,
}

/// `torch.nn.init.calculate_gain(nonlinearity, param)`; `negative_slope` defaults to 0.01
/// for leaky_relu as in torch.
pub fn calculate_gain(nl: Nonlinearity, negative_slope: Option<f64>) -> f64 {
    use Nonlinearity::*;
    match nl {
        Linear | Conv1d | Conv2d | Conv3d | ConvTranspose1d | ConvTranspose2d | ConvTranspose3d
        | Sigmoid => 1.0,
        Tanh => 5.0 / 3.0,
        Relu => 2.0f64.sqrt(),
        LeakyRelu => {
            let s = negative_slope.unwrap_or(0.01);
            (2.0 / (1.0 + s * s)).sqrt()
        }
        Selu => 3.0 / 4.0,
    }
}

/// An initialization scheme, with the parameters it takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scheme {
    /// jax.nn.initializers.variance_scaling(scale, mode, distribution).
    VarianceScaling {
        scale: f64,
        mode: FanMode,
        family: Family,
    },
    /// torch xavier_uniform_: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
    XavierUniform {
        gain: f64,
    },
    /// torch xavier_normal_ (not truncated): N(0, gain^2 * 2 / (fan_in + fan_out)).
    XavierNormal {
        gain: f64,
    },
    /// JAX glorot_uniform = variance_scaling(1, fan_avg, uniform).
    GlorotUniform,
    /// JAX glorot_normal = variance_scaling(1, fan_avg, truncated_normal).
    GlorotNormal,
    /// torch kaiming_uniform_(a, mode, nonlinearity): b = sqrt(3) * gain / sqrt(fan).
    KaimingUniform {
        mode: FanMode,
        gain: f64,
    },
    /// torch kaiming_normal_ (not truncated): std = gain / sqrt(fan).
    KaimingNormal {
        mode: FanMode,
        gain: f64,
    },
    /// JAX he_uniform = variance_scaling(2, fan_in, uniform).
    HeUniform,
    /// JAX he_normal = variance_scaling(2, fan_in, truncated_normal).
    HeNormal,
    /// JAX lecun_uniform = variance_scaling(1, fan_in, uniform).
    LecunUniform,
    /// JAX lecun_normal = variance_scaling(1, fan_in, truncated_normal).
    LecunNormal,
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the heuristic Glorot and Bengio compared against.
    Standard,
    Uniform {
        low: f64,
        high: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
    /// mean + std * Z, Z standard normal truncated to [a, b] (std units).
    TruncatedNormal {
        mean: f64,
        std: f64,
        a: f64,
        b: f64,
    },
    Constant {
        value: f64,
    },
}

/// Names accepted by [`Scheme::parse`], in the order the README lists them.
pub const SCHEME_NAMES: &[&str] = &[
    "variance_scaling",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "standard",
    "uniform",
    "normal",
    "truncated_normal",
    "constant",
    "zeros",
    "ones",
];

/// Optional scheme parameters as a user gives them; [`Scheme::parse`] rejects the ones a
/// scheme does not take, so a typo never goes unnoticed.
#[derive(Clone, Debug, Default)]
pub struct SchemeOptions {
    pub gain: Option<f64>,
    pub nonlinearity: Option<Nonlinearity>,
    pub negative_slope: Option<f64>,
    pub mode: Option<FanMode>,
    pub scale: Option<f64>,
    pub family: Option<Family>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub value: Option<f64>,
}

impl SchemeOptions {
    fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |name, present: bool| {
            if present {
                v.push(name)
            }
        };
        add("gain", self.gain.is_some());
        add("nonlinearity", self.nonlinearity.is_some());
        add("negative-slope", self.negative_slope.is_some());
        add("mode", self.mode.is_some());
        add("scale", self.scale.is_some());
        add("distribution", self.family.is_some());
        add("low", self.low.is_some());
        add("high", self.high.is_some());
        add("mean", self.mean.is_some());
        add("std", self.std.is_some());
        add("a", self.a.is_some());
        add("b", self.b.is_some());
        add("value", self.value.is_some());
        v
    }
}

fn positive(what: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::invalid(format!(
            "{what} must be finite and positive, got {v}"
        )))
    }
}

/// The gain torch would use: an explicit gain, or calculate_gain(nonlinearity, slope).
fn torch_gain(
    o: &SchemeOptions,
    default_nl: Nonlinearity,
    default_slope: Option<f64>,
) -> Result<f64> {
    if let Some(s) = o.negative_slope {
        if !s.is_finite() {
            return Err(Error::invalid(format!(
                "negative slope must be finite, got {s}"
            )));
        }
    }
    match (o.gain, o.nonlinearity) {
        (Some(_), Some(_)) => Err(Error::invalid("give --gain or --nonlinearity, not both")),
        (Some(g), None) => positive("gain", g),
        (None, nl) => positive(
            "gain",
            calculate_gain(nl.unwrap_or(default_nl), o.negative_slope.or(default_slope)),
        ),
    }
}

impl Scheme {
    /// A scheme by name, with its options; options the scheme does not take are an error.
    pub fn parse(name: &str, o: &SchemeOptions) -> Result<Scheme> {
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        let allowed: &[&str] = match name.as_str() {
            "variance_scaling" => &["scale", "mode", "distribution"],
            "xavier_uniform" | "xavier_normal" => &["gain", "nonlinearity", "negative-slope"],
            "kaiming_uniform" | "kaiming_normal" => {
                &["mode", "nonlinearity", "negative-slope", "gain"]
            }
            "uniform" => &["low", "high"],
            "normal" => &["mean", "std"],
            "truncated_normal" => &["mean", "std", "a", "b"],
            "constant" => &["value"],
            n if SCHEME_NAMES.contains(&n) => &[],
            _ => {
                return Err(Error::invalid(format!(
                    "unknown scheme '{name}'; known: {}",
                    SCHEME_NAMES.join(", ")
                )))
            }
        };
        if let Some(extra) = o.given().into_iter().find(|g| !allowed.contains(g)) {
            return Err(Error::invalid(format!(
                "scheme {name} does not take --{extra}"
            )));
        }
        let scheme = match name.as_str() {
            "variance_scaling" => Scheme::VarianceScaling {
                scale: positive("scale", o.scale.unwrap_or(1.0))?,
                mode: o.mode.unwrap_or(FanMode::FanIn),
                family: o.family.unwrap_or(Family::TruncatedNormal),
            },
            "xavier_uniform" => Scheme::XavierUniform {
                gain: torch_gain(o, Nonlinearity::Linear, None)?,
            },
            "xavier_normal" => Scheme::XavierNormal {
                gain: torch_gain(o, Nonlinearity::Linear, None)?,
            },
            "glorot_uniform" => Scheme::GlorotUniform,
            "glorot_normal" => Scheme::GlorotNormal,
            // torch's kaiming defaults: a = 0, mode = fan_in, nonlinearity = leaky_relu.
            "kaiming_uniform" => Scheme::KaimingUniform {
                mode: o.mode.unwrap_or(FanMode::FanIn),
                gain: torch_gain(o, Nonlinearity::LeakyRelu, Some(0.0))?,
            },
            "kaiming_normal" => Scheme::KaimingNormal {
                mode: o.mode.unwrap_or(FanMode::FanIn),
                gain: torch_gain(o, Nonlinearity::LeakyRelu, Some(0.0))?,
            },
            "he_uniform" => Scheme::HeUniform,
            "he_normal" => Scheme::HeNormal,
            "lecun_uniform" => Scheme::LecunUniform,
            "lecun_normal" => Scheme::LecunNormal,
            "standard" => Scheme::Standard,
            "uniform" => Scheme::Uniform {
                low: o.low.unwrap_or(0.0),
                high: o.high.unwrap_or(1.0),
            },
            "normal" => Scheme::Normal {
                mean: o.mean.unwrap_or(0.0),
                std: o.std.unwrap_or(1.0),
            },
            "truncated_normal" => Scheme::TruncatedNormal {
                mean: o.mean.unwrap_or(0.0),
                std: o.std.unwrap_or(1.0),
                a: o.a.unwrap_or(-2.0),
                b: o.b.unwrap_or(2.0),
            },
            "constant" => Scheme::Constant {
                value: o
                    .value
                    .ok_or_else(|| Error::invalid("scheme constant needs --value"))?,
            },
            "zeros" => Scheme::Constant { value: 0.0 },
            "ones" => Scheme::Constant { value: 1.0 },
            _ => unreachable!("names checked above"),
        };
        scheme.distribution_if_fans(Some(Fans {
            fan_in: 1,
            fan_out: 1,
        }))?;
        Ok(scheme)
    }

    /// Whether the scheme's distribution depends on the fans.
    pub fn needs_fans(&self) -> bool {
        !matches!(
            self,
            Scheme::Uniform { .. }
                | Scheme::Normal { .. }
                | Scheme::TruncatedNormal { .. }
                | Scheme::Constant { .. }
        )
    }

    /// As variance_scaling(scale, mode, family), for the presets that JAX defines that way.
    fn as_variance_scaling(&self) -> Option<(f64, FanMode, Family)> {
        match *self {
            Scheme::VarianceScaling {
                scale,
                mode,
                family,
            } => Some((scale, mode, family)),
            Scheme::GlorotUniform => Some((1.0, FanMode::FanAvg, Family::Uniform)),
            Scheme::GlorotNormal => Some((1.0, FanMode::FanAvg, Family::TruncatedNormal)),
            Scheme::HeUniform => Some((2.0, FanMode::FanIn, Family::Uniform)),
            Scheme::HeNormal => Some((2.0, FanMode::FanIn, Family::TruncatedNormal)),
            Scheme::LecunUniform => Some((1.0, FanMode::FanIn, Family::Uniform)),
            Scheme::LecunNormal => Some((1.0, FanMode::FanIn, Family::TruncatedNormal)),
            _ => None,
        }
    }

    /// The scheme's distribution for a tensor with these fans.
    pub fn distribution(&self, fans: Fans) -> Result<Distribution> {
        self.distribution_if_fans(Some(fans))
    }

    /// The distribution; `fans` may be `None` only for schemes that do not need them.
    pub fn distribution_if_fans(&self, fans: Option<Fans>) -> Result<Distribution> {
        let need = |f: Option<Fans>| {
            f.ok_or_else(|| {
                Error::invalid(format!(
                    "scheme {self} needs fans: give --shape or --fan-in and --fan-out"
                ))
            })
        };
        let sym = |bound: f64| Distribution::Uniform {
            low: -bound,
            high: bound,
        };
        let normal = |std: f64| Distribution::Normal { mean: 0.0, std };
        let d = if let Some((scale, mode, family)) = self.as_variance_scaling() {
            let variance = scale / need(fans)?.fan(mode);
            match family {
                Family::Uniform => sym((3.0 * variance).sqrt()),
                Family::Normal => normal(variance.sqrt()),
                Family::TruncatedNormal => Distribution::TruncatedNormal {
                    mean: 0.0,
                    std: variance.sqrt() / TRUNCATED_STD_CORRECTION,
                    a: -2.0,
                    b: 2.0,
                },
            }
        } else {
            match *self {
                Scheme::XavierUniform { gain } => {
                    let f = need(fans)?;
                    let std = gain * (2.0 / (f.fan_in as f64 + f.fan_out as f64)).sqrt();
                    sym(3.0f64.sqrt() * std)
                }
                Scheme::XavierNormal { gain } => {
                    let f = need(fans)?;
                    normal(gain * (2.0 / (f.fan_in as f64 + f.fan_out as f64)).sqrt())
                }
                Scheme::KaimingUniform { mode, gain } => {
                    let std = gain / need(fans)?.fan(mode).sqrt();
                    sym(3.0f64.sqrt() * std)
                }
                Scheme::KaimingNormal { mode, gain } => normal(gain / need(fans)?.fan(mode).sqrt()),
                Scheme::Standard => sym(1.0 / (need(fans)?.fan_in as f64).sqrt()),
                Scheme::Uniform { low, high } => Distribution::Uniform { low, high },
                Scheme::Normal { mean, std } => Distribution::Normal { mean, std },
                Scheme::TruncatedNormal { mean, std, a, b } => {
                    Distribution::TruncatedNormal { mean, std, a, b }
                }
                Scheme::Constant { value } => Distribution::Constant { value },
                _ => unreachable!("variance-scaling presets handled above"),
            }
        };
        d.validate()?;
        Ok(d)
    }

    /// The gain a torch-style scheme applies, for reporting.
    pub fn gain(&self) -> Option<f64> {
        match *self {
            Scheme::XavierUniform { gain }
            | Scheme::XavierNormal { gain }
            | Scheme::KaimingUniform { gain, .. }
            | Scheme::KaimingNormal { gain, .. } => Some(gain),
            _ => self.as_variance_scaling().map(|(scale, _, _)| scale.sqrt()),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Scheme::VarianceScaling { .. } => "variance_scaling",
            Scheme::XavierUniform { .. } => "xavier_uniform",
            Scheme::XavierNormal { .. } => "xavier_normal",
            Scheme::GlorotUniform => "glorot_uniform",
            Scheme::GlorotNormal => "glorot_normal",
            Scheme::KaimingUniform { .. } => "kaiming_uniform",
            Scheme::KaimingNormal { .. } => "kaiming_normal",
            Scheme::HeUniform => "he_uniform",
            Scheme::HeNormal => "he_normal",
            Scheme::LecunUniform => "lecun_uniform",
            Scheme::LecunNormal => "lecun_normal",
            Scheme::Standard => "standard",
            Scheme::Uniform { .. } => "uniform",
            Scheme::Normal { .. } => "normal",
            Scheme::TruncatedNormal { .. } => "truncated_normal",
            Scheme::Constant { .. } => "constant",
        };
        f.write_str(name)
    }
}
