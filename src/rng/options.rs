//! Scheme options, listed once: the command line's flags (`--gain 2`), scheme specs
//! (`xavier_uniform:gain=2`) and each scheme's list of what it takes all come from
//! [`OPTIONS`].

use crate::error::{Error, Result};
use crate::named::named_enum;

named_enum! {
    /// Which fan a variance is divided by.
    pub enum FanMode ("fan mode") {
        FanIn = ["fan_in"],
        FanOut = ["fan_out"],
        FanAvg = ["fan_avg"],
    }
}

named_enum! {
    /// The distribution family of `variance_scaling`.
    pub enum Family ("distribution") {
        Uniform = ["uniform"],
        Normal = ["normal"],
        TruncatedNormal = ["truncated_normal"],
    }
}

named_enum! {
    /// Nonlinearities known to `torch.nn.init.calculate_gain`.
    pub enum Nonlinearity ("nonlinearity") {
        Linear = ["linear"],
        Conv1d = ["conv1d"],
        Conv2d = ["conv2d"],
        Conv3d = ["conv3d"],
        ConvTranspose1d = ["conv_transpose1d"],
        ConvTranspose2d = ["conv_transpose2d"],
        ConvTranspose3d = ["conv_transpose3d"],
        Sigmoid = ["sigmoid"],
        Tanh = ["tanh"],
        Relu = ["relu"],
        LeakyRelu = ["leaky_relu"],
        Selu = ["selu"],
    }
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

/// An option's value from its text.
trait OptionValue: Sized {
    const NUMERIC: bool;
    fn parse_option(key: &str, text: &str) -> Result<Self>;
    fn number(&self) -> Option<f64> {
        None
    }
}

impl OptionValue for f64 {
    const NUMERIC: bool = true;
    fn number(&self) -> Option<f64> {
        Some(*self)
    }
    fn parse_option(key: &str, text: &str) -> Result<Self> {
        text.trim()
            .parse::<f64>()
            .map_err(|_| Error::invalid(format!("{key}={text} is not a number")))
    }
}

macro_rules! enum_option {
    ($($t:ty),*) => {$(
        impl OptionValue for $t {
            const NUMERIC: bool = false;
            fn parse_option(key: &str, text: &str) -> Result<Self> {
                text.parse::<$t>().map_err(|e| Error::invalid(format!("{key}={text}: {e}")))
            }
        }
    )*};
}
enum_option!(FanMode, Family, Nonlinearity);

/// One option of the list: its key, and what it means (the command line's help).
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// `gain`, `negative_slope`: the spec key; the flag is `--` and the key with `-`.
    pub key: &'static str,
    pub help: &'static str,
    /// Whether the value is a number (else a name, listed in the help).
    pub numeric: bool,
}

/// The options and [`OPTIONS`] from one list.
macro_rules! scheme_options {
    ($($(#[doc = $doc:literal])+ $field:ident: $ty:ty = $key:literal,)*) => {
        /// Optional scheme parameters as a user gives them; [`crate::rng::Scheme::parse`]
        /// refuses those a scheme does not take, so a typo never goes unnoticed.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct SchemeOptions {
            $($(#[doc = $doc])+ pub $field: Option<$ty>,)*
        }

        /// Every scheme option, in the order help lists them.
        pub const OPTIONS: &[OptionSpec] = &[$(OptionSpec {
            key: $key,
            help: concat!($($doc),+),
            numeric: <$ty as OptionValue>::NUMERIC,
        },)*];

        impl SchemeOptions {
            /// Sets option `key` (`gain`, `negative-slope`) from its text; a key given
            /// twice is an error, not a silent override.
            pub fn set(&mut self, key: &str, text: &str) -> Result<()> {
                let k = key.trim().replace('-', "_");
                match k.as_str() {
                    $($key => {
                        if self.$field.is_some() {
                            return Err(Error::invalid(format!("option {k} is given twice")));
                        }
                        self.$field = Some(<$ty as OptionValue>::parse_option($key, text)?);
                    })*
                    _ => {
                        let keys: Vec<&str> = OPTIONS.iter().map(|o| o.key).collect();
                        return Err(Error::invalid(format!(
                            "unknown scheme option '{key}' (known: {})",
                            keys.join(", ")
                        )));
                    }
                }
                Ok(())
            }

            /// The keys of the options given.
            pub fn given(&self) -> Vec<&'static str> {
                let mut v = Vec::new();
                $(if self.$field.is_some() { v.push($key); })*
                v
            }

            /// The numeric options given, by key.
            pub fn numbers(&self) -> Vec<(&'static str, f64)> {
                let mut v = Vec::new();
                $(if let Some(x) = self.$field.as_ref().and_then(OptionValue::number) {
                    v.push(($key, x));
                })*
                v
            }
        }
    };
}

scheme_options! {
    /// Gain (xavier_*, kaiming_*).
    gain: f64 = "gain",
    /// Gain from torch.nn.init.calculate_gain (xavier_*, kaiming_*).
    nonlinearity: Nonlinearity = "nonlinearity",
    /// Negative slope of leaky_relu (torch's `a` for kaiming_*).
    negative_slope: f64 = "negative_slope",
    /// Fan the variance is divided by (variance_scaling, kaiming_*): fan_in, fan_out, fan_avg.
    mode: FanMode = "mode",
    /// Variance scale (variance_scaling).
    scale: f64 = "scale",
    /// Distribution family (variance_scaling): uniform, normal, truncated_normal.
    family: Family = "distribution",
    /// Lower bound (uniform).
    low: f64 = "low",
    /// Upper bound (uniform).
    high: f64 = "high",
    /// Mean (normal, truncated_normal).
    mean: f64 = "mean",
    /// Standard deviation (normal; truncated_normal before truncation).
    std: f64 = "std",
    /// Lower truncation bound in std units (truncated_normal, default -2).
    a: f64 = "a",
    /// Upper truncation bound in std units (truncated_normal, default 2).
    b: f64 = "b",
    /// Value (constant).
    value: f64 = "value",
}

impl SchemeOptions {
    /// Options from `key=value` items (`gain=2`, `mode=fan_out`).
    pub fn from_pairs<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let mut o = SchemeOptions::default();
        for item in items {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                Error::invalid(format!(
                    "scheme option '{item}' is not of the form key=value"
                ))
            })?;
            o.set(k, v)?;
        }
        Ok(o)
    }
}

/// How an option is written where it was given: `--gain` on the command line.
pub fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}
