//! A checkpoint's spec (docs/CHECKPOINT.md): every tensor's name, shape, layout, scheme and
//! dtype, as JSON; and the spec resolved, each tensor with its sampler and stream, checked
//! before any work.

use std::collections::HashMap;

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::names::stream_of_name;
use crate::rng::{format_shape, numel, Distribution, Fans, Layout, Sampler, Scheme};

/// How a tensor's elements are stored: f32, or rounded to nearest even from the f32 value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Dtype {
    pub fn size(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }

    /// The name in a safetensors header.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::Bf16 => "BF16",
            Dtype::F16 => "F16",
        }
    }

    /// The largest magnitude this dtype holds finitely: (2 - 2^-23) 2^127 for f32,
    /// (2 - 2^-7) 2^127 for bf16 (f32 values from halfway above it round to infinity),
    /// (2 - 2^-10) 2^15 for f16.
    pub fn max_finite(self) -> f64 {
        match self {
            Dtype::F32 => f64::from(f32::MAX),
            Dtype::Bf16 => (2.0 - 2f64.powi(-7)) * 2f64.powi(127),
            Dtype::F16 => 65504.0,
        }
    }

    /// `values` in this dtype, little-endian, into `out` (exactly their size).
    pub fn encode_into(self, values: &[f32], out: &mut [u8]) {
        match self {
            Dtype::F32 => out.copy_from_slice(bytemuck::cast_slice(values)),
            Dtype::Bf16 => {
                for (o, &v) in out.chunks_exact_mut(2).zip(values) {
                    o.copy_from_slice(&bf16::from_f32(v).to_le_bytes());
                }
            }
            Dtype::F16 => {
                for (o, &v) in out.chunks_exact_mut(2).zip(values) {
                    o.copy_from_slice(&f16::from_f32(v).to_le_bytes());
                }
            }
        }
    }

    /// Little-endian `bytes` of this dtype as f32 (exact: every bf16 and f16 is an f32).
    pub fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::Bf16 => bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        }
    }

    /// `v` rounded to this dtype (to nearest even), as f32.
    pub fn round(self, v: f32) -> f32 {
        match self {
            Dtype::F32 => v,
            Dtype::Bf16 => bf16::from_f32(v).to_f32(),
            Dtype::F16 => f16::from_f32(v).to_f32(),
        }
    }

    /// The dtype a safetensors header names, if it is one of ours.
    pub fn from_safetensors(name: &str) -> Option<Dtype> {
        [Dtype::F32, Dtype::Bf16, Dtype::F16]
            .into_iter()
            .find(|d| d.safetensors_name() == name)
    }

    pub fn parse(text: &str) -> Result<Dtype> {
        match text {
            "f32" | "float32" => Ok(Dtype::F32),
            "bf16" | "bfloat16" => Ok(Dtype::Bf16),
            "f16" | "float16" => Ok(Dtype::F16),
            _ => Err(Error::invalid(format!(
                "dtype '{text}' is not f32, bf16 or f16"
            ))),
        }
    }
}

/// One tensor of a spec, as written in the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<u64>,
    /// A scheme with its options, as `propagate --init` takes it: `normal:std=0.02`,
    /// `xavier_uniform:gain=2`, `ones`.
    pub scheme: String,
    /// Where the fans are in `shape`: `torch` (default) or `jax`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Overrides the spec's dtype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<Dtype>,
    /// Rows (indices into the first dimension) set to zero after generation: an
    /// embedding's padding row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zero_rows: Vec<u64>,
}

/// A whole spec file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Where the spec came from (a config's model_type and the rules it follows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Every tensor's dtype unless it says otherwise.
    #[serde(default)]
    pub dtype: Dtype,
    pub tensors: Vec<TensorSpec>,
}

impl ModelSpec {
    pub fn from_json(text: &str, what: &str) -> Result<ModelSpec> {
        serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("{what} is not a gpuinit spec: {e}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a spec serializes") + "\n"
    }
}

/// The most tensors a checkpoint may have: 2^18 (262,144). The largest published models
/// have tens of thousands; a spec or config past this is a mistake (a layer count of a
/// billion), refused before any per-tensor work or memory.
pub const MAX_TENSORS: u64 = 1 << 18;

/// Refuses `count` tensors when it is past [`MAX_TENSORS`]; `what` says where they came from.
pub fn check_count(count: u64, what: &str) -> Result<()> {
    if count > MAX_TENSORS {
        return Err(Error::invalid(format!(
            "{what} has {count} tensors, more than the {MAX_TENSORS} a checkpoint may have"
        )));
    }
    Ok(())
}

/// One tensor, resolved and checked.
#[derive(Clone, Debug)]
pub struct Planned {
    pub name: String,
    pub shape: Vec<u64>,
    pub dtype: Dtype,
    pub scheme: String,
    pub distribution: Distribution,
    pub sampler: Sampler,
    pub stream: u64,
    pub numel: u64,
    pub bytes: u64,
    /// Sorted, distinct, each below `shape[0]`.
    pub zero_rows: Vec<u64>,
}

/// Resolves every tensor of `spec`, in order: its scheme's distribution from its fans, its
/// stream from its name. Refuses more than [`MAX_TENSORS`] tensors, a duplicate name, a byte
/// size (of one tensor or of all) past 2^64, two names on one stream, values the dtype
/// cannot hold, and zero rows outside the first dimension.
pub fn resolve(spec: &ModelSpec) -> Result<Vec<Planned>> {
    resolve_by(spec, stream_of_name)
}

/// [`resolve`] with the names hashed by `stream_of` (a test gives a weaker hash to make
/// collisions).
pub(super) fn resolve_by(spec: &ModelSpec, stream_of: fn(&str) -> u64) -> Result<Vec<Planned>> {
    check_count(spec.tensors.len() as u64, "the spec")?;
    let mut by_stream: HashMap<u64, &str> = HashMap::new();
    let mut planned = Vec::with_capacity(spec.tensors.len());
    let mut total = 0u64;
    for t in &spec.tensors {
        let p = Planned {
            stream: stream_of(&t.name),
            ..resolve_one(t, spec.dtype)?
        };
        if let Some(other) = by_stream.insert(p.stream, &t.name) {
            return Err(Error::invalid(if other == t.name {
                format!("tensor name '{other}' appears twice")
            } else {
                format!(
                    "tensor names '{other}' and '{}' hash to the same stream {:#018x}; rename one",
                    t.name, p.stream
                )
            }));
        }
        total = total.checked_add(p.bytes).ok_or_else(|| {
            Error::invalid(format!(
                "the spec's tensors up to '{}' are more than 2^64 bytes in all",
                t.name
            ))
        })?;
        planned.push(p);
    }
    Ok(planned)
}

fn resolve_one(t: &TensorSpec, default_dtype: Dtype) -> Result<Planned> {
    let name = &t.name;
    if name.is_empty() {
        return Err(Error::invalid("a tensor has an empty name"));
    }
    if name == "__metadata__" {
        return Err(Error::invalid(
            "tensor name '__metadata__' is safetensors' own key",
        ));
    }
    let at = |e: Error| Error::invalid(format!("tensor '{name}': {e}"));
    let dtype = t.dtype.unwrap_or(default_dtype);
    let count = numel(&t.shape).map_err(at)?;
    let bytes = count.checked_mul(dtype.size()).ok_or_else(|| {
        at(Error::invalid(format!(
            "shape {} in {dtype:?} is more than 2^64 bytes",
            format_shape(&t.shape)
        )))
    })?;
    let scheme = Scheme::parse_spec(&t.scheme).map_err(at)?;
    let layout: Layout = match &t.layout {
        Some(l) => l.parse().map_err(|e: String| at(Error::invalid(e)))?,
        None => Layout::Torch,
    };
    let fans = if scheme.needs_fans() {
        Some(Fans::from_shape(&t.shape, layout).map_err(at)?)
    } else {
        None
    };
    let distribution = scheme.distribution_if_fans(fans).map_err(at)?;
    let reach = max_abs(&distribution);
    if reach > dtype.max_finite() {
        return Err(at(Error::invalid(format!(
            "values reach {reach:.4e}, past the largest finite {dtype:?} ({:.4e})",
            dtype.max_finite()
        ))));
    }
    let mut zero_rows = t.zero_rows.clone();
    zero_rows.sort_unstable();
    zero_rows.dedup();
    let rows = t.shape.first().copied().unwrap_or(0);
    if let Some(&r) = zero_rows.iter().find(|&&r| r >= rows) {
        return Err(at(Error::invalid(format!(
            "zero row {r} is outside the first dimension ({rows} rows)"
        ))));
    }
    Ok(Planned {
        name: name.clone(),
        shape: t.shape.clone(),
        dtype,
        scheme: t.scheme.clone(),
        sampler: distribution.sampler(),
        distribution,
        stream: stream_of_name(name),
        numel: count,
        bytes,
        zero_rows,
    })
}

/// The largest magnitude a distribution's f32 samples reach: the plain normal's map stops
/// at 5.2947 std (docs/STREAM.md).
fn max_abs(d: &Distribution) -> f64 {
    match *d {
        Distribution::Uniform { low, high } => low.abs().max(high.abs()),
        Distribution::Normal { mean, std } => mean.abs() + 5.3 * std,
        Distribution::TruncatedNormal { mean, std, a, b } => {
            (mean + std * a).abs().max((mean + std * b).abs())
        }
        Distribution::Constant { value } => value.abs(),
    }
}
