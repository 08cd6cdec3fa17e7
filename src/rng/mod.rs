//! The stream contract of `docs/STREAM.md`, with no GPU in sight: Philox4x32-10 gives each
//! element's word ([`philox`]), a fixed map turns it into a value ([`distribution`]), and a
//! scheme picks the distribution from the tensor's fans ([`scheme`], [`fans`], [`options`]).
//! How closely a device must agree with the CPU reference is [`tolerance`].
//! Every generator in the crate, on any device, computes exactly this.

pub mod cdf;
pub mod distribution;
pub mod fans;
pub mod ln;
pub mod names;
pub mod options;
pub mod philox;
pub mod scheme;
pub mod span;
pub mod tolerance;

pub use distribution::{Distribution, Sampler};
pub use fans::{format_shape, numel, parse_shape, Fans, Layout};
pub use options::{calculate_gain, Family, FanMode, Nonlinearity, SchemeOptions, OPTIONS};
pub use scheme::{Scheme, SCHEME_NAMES, TRUNCATED_STD_CORRECTION};
pub use span::{check_range, layer_stream, Span, Start, StreamKey};
