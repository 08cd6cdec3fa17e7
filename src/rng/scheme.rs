//! Initialization schemes: fans from shapes, gains, and each scheme's distribution.
//!
//! Formulas follow the library each preset is named after, evaluated in f64 and rounded
//! to f32 once (in [`Distribution::sampler`]): torch.nn.init for `xavier_*`, `kaiming_*`
//! and `calculate_gain`; jax.nn.initializers (= Keras) for `variance_scaling`,
//! `glorot_*`, `he_*` and `lecun_*`.

use std::fmt;

use super::distribution::Distribution;
use super::fans::Fans;
use super::options::{calculate_gain, flag, Family, FanMode, Nonlinearity, SchemeOptions};
use crate::error::{Error, Result};

/// Std of a standard normal truncated to [-2, 2], by which JAX and Keras divide the
/// truncated-normal std so the result has the intended variance.
#[allow(clippy::excessive_precision)] // JAX's literal, verbatim.
pub const TRUNCATED_STD_CORRECTION: f64 = 0.879_625_661_034_239_78;

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
        (Some(_), Some(_)) => Err(Error::invalid("give gain or nonlinearity, not both")),
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
        let allowed = Self::options_of(&name)?;
        if let Some(extra) = o.given().into_iter().find(|g| !allowed.contains(g)) {
            let takes = if allowed.is_empty() {
                "no options".to_string()
            } else {
                allowed.join(", ")
            };
            return Err(Error::invalid(format!(
                "scheme {name} does not take {} (it takes {takes})",
                flag(extra)
            )));
        }
        for (key, v) in o.numbers() {
            // Truncation points may be infinite (a half-line); nothing else may leave f32.
            let infinite_ok = matches!(key, "a" | "b") && v.is_infinite();
            if !v.is_nan() && !infinite_ok && !(v as f32).is_finite() {
                return Err(Error::invalid(format!(
                    "{} {v:e} overflows f32 (largest {:e})",
                    flag(key),
                    f32::MAX
                )));
            }
        }
        let scheme = Self::build(&name, o)?;
        scheme.distribution_if_fans(Some(Fans {
            fan_in: 1,
            fan_out: 1,
        }))?;
        Ok(scheme)
    }

    /// The options scheme `name` takes, or an error naming the unknown scheme.
    fn options_of(name: &str) -> Result<&'static [&'static str]> {
        Ok(match name {
            "variance_scaling" => &["scale", "mode", "distribution"],
            "xavier_uniform" | "xavier_normal" => &["gain", "nonlinearity", "negative_slope"],
            "kaiming_uniform" | "kaiming_normal" => {
                &["mode", "nonlinearity", "negative_slope", "gain"]
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
        })
    }

    /// Scheme `name` (known) with options `o` (checked), defaults filled in.
    fn build(name: &str, o: &SchemeOptions) -> Result<Scheme> {
        Ok(match name {
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
                value: o.value.ok_or_else(|| {
                    Error::invalid("scheme constant needs a value (--value V, or constant:value=V)")
                })?,
            },
            "zeros" => Scheme::Constant { value: 0.0 },
            "ones" => Scheme::Constant { value: 1.0 },
            _ => unreachable!("names checked by options_of"),
        })
    }

    /// A scheme from a spec: its name, then `:key=value` options (`xavier_uniform:gain=1.667`,
    /// `kaiming_normal:nonlinearity=tanh`, `normal:std=0.01`).
    pub fn parse_spec(spec: &str) -> Result<Scheme> {
        let mut parts = spec.trim().split(':');
        let name = parts.next().unwrap_or_default();
        let options = SchemeOptions::from_pairs(parts)
            .map_err(|e| Error::invalid(format!("scheme '{spec}': {e}")))?;
        Scheme::parse(name, &options)
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
        let sym = |bound: f64| Distribution::uniform(-bound, bound);
        let normal = |std: f64| Distribution::Normal { mean: 0.0, std };
        let d = if let Some((scale, mode, family)) = self.as_variance_scaling() {
            let variance = scale / need(fans)?.fan(mode);
            match family {
                Family::Uniform => sym((3.0 * variance).sqrt()),
                Family::Normal => normal(variance.sqrt()),
                Family::TruncatedNormal => Distribution::truncated_normal(
                    0.0,
                    variance.sqrt() / TRUNCATED_STD_CORRECTION,
                    -2.0,
                    2.0,
                ),
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
        d.validate().map_err(|e| match self.gain() {
            Some(g) if self.needs_fans() => Error::invalid(format!("{self} (gain {g:e}): {e}")),
            _ => e,
        })?;
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
