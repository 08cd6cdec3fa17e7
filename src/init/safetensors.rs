//! The safetensors layout of a checkpoint (https://huggingface.co/docs/safetensors): which
//! tensor goes to which file, the Hugging Face way (huggingface_hub's
//! `split_torch_state_dict_into_shards`), and each file's header. Every byte depends on the
//! spec, the seed and the largest shard size alone, so any split of the work across
//! processes writes the same files.

use serde_json::{json, Map, Value};

use super::spec::Planned;
use crate::error::{Error, Result};

/// One file of a checkpoint.
#[derive(Clone, Debug)]
pub struct ShardFile {
    /// `model.safetensors`, or `model-0000i-of-0000N.safetensors`.
    pub name: String,
    /// Indices into the planned tensors, in the order their data is laid out.
    pub tensors: Vec<usize>,
    /// The 8-byte little-endian header length, then the JSON header padded with spaces to
    /// a multiple of 8 bytes.
    pub header: Vec<u8>,
    /// Header plus data.
    pub size: u64,
}

/// What every file's `__metadata__` records besides its tensors' schemes and streams.
pub struct Metadata<'a> {
    pub version: &'a str,
    pub seed: u64,
    /// [`super::device_kind`] of the generator.
    pub device: &'a str,
}

/// Parses a shard size as huggingface_hub's `parse_size_to_int` does: a number, decimals
/// allowed, and a decimal unit in any case (`KB`, `MB`, `GB`, `TB`; `5GB` is 5 * 10^9
/// bytes, `1.5mb` 1.5 * 10^6), the bytes rounded down as Python's `int(value * unit)`
/// rounds them. Also a plain count of bytes (`123`, `123B`) and binary units (`KiB`, `MiB`,
/// `GiB`, `TiB`, any case).
pub fn parse_size(text: &str) -> Result<u64> {
    let bad = || {
        Error::invalid(format!(
            "--max-shard-size '{text}' is not a positive size such as 5GB, 1.5MB or 2GiB"
        ))
    };
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    // The unit is the end of the text (the longest that fits), the number the rest.
    let units: [(&str, u64); 10] = [
        ("KIB", 1 << 10),
        ("MIB", 1 << 20),
        ("GIB", 1 << 30),
        ("TIB", 1 << 40),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("TB", 1_000_000_000_000),
        ("B", 1),
        ("", 1),
    ];
    let (unit, scale) = units
        .iter()
        .find(|(u, _)| upper.ends_with(u))
        .copied()
        .unwrap_or(("", 1));
    let number = t[..t.len() - unit.len()].trim();
    let bytes = if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
    } else {
        // A decimal (`1.5`, `.5`, `1e3`): the value times the unit in f64, rounded down,
        // as Python computes it; not `inf` or `nan`.
        let numeric = number.bytes().any(|b| b.is_ascii_digit())
            && number
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
        match number.parse::<f64>() {
            Ok(v) if numeric => {
                let b = (v * scale as f64).floor();
                (b.is_finite() && b < u64::MAX as f64).then_some(b as u64)
            }
            _ => None,
        }
    };
    bytes.filter(|&n| n > 0).ok_or_else(bad)
}

/// Splits the tensors, in order, into files of at most `max_bytes` of data each, as
/// indices into `tensors`: a tensor larger than that gets a file of its own at once;
/// otherwise a file is closed when the next tensor would not fit.
pub fn split(tensors: &[Planned], max_bytes: u64) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = 0u64;
    for (i, t) in tensors.iter().enumerate() {
        if t.bytes > max_bytes {
            groups.push(vec![i]);
            continue;
        }
        if !current.is_empty() && current_bytes.saturating_add(t.bytes) > max_bytes {
            groups.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(i);
        current_bytes += t.bytes;
    }
    if !current.is_empty() || groups.is_empty() {
        groups.push(current);
    }
    groups
}

/// File `k` of `n`: `model.safetensors` alone, else `model-0000k+1-of-0000n.safetensors`.
pub fn file_name(k: usize, n: usize) -> String {
    if n == 1 {
        "model.safetensors".to_string()
    } else {
        format!("model-{:05}-of-{n:05}.safetensors", k + 1)
    }
}

/// The files of [`split`], each with its header.
pub fn plan(tensors: &[Planned], max_bytes: u64, meta: &Metadata) -> Result<Vec<ShardFile>> {
    let groups = split(tensors, max_bytes);
    let n = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(k, group)| {
            let header = header(tensors, &group, meta)?;
            let data: u64 = group.iter().map(|&i| tensors[i].bytes).sum();
            Ok(ShardFile {
                size: header.len() as u64 + data,
                name: file_name(k, n),
                tensors: group,
                header,
            })
        })
        .collect()
}

/// The length-prefixed JSON header of a file holding `group`, in that order.
fn header(tensors: &[Planned], group: &[usize], meta: &Metadata) -> Result<Vec<u8>> {
    let mut m = Map::new();
    let mut info = Map::new();
    info.insert("format".into(), json!("pt"));
    info.insert("gpuinit.version".into(), json!(meta.version));
    info.insert("gpuinit.seed".into(), json!(meta.seed.to_string()));
    info.insert("gpuinit.device".into(), json!(meta.device));
    let mut offset = 0u64;
    for &i in group {
        let t = &tensors[i];
        info.insert(format!("gpuinit.scheme.{}", t.name), json!(t.scheme));
        info.insert(
            format!("gpuinit.stream.{}", t.name),
            json!(t.stream.to_string()),
        );
        m.insert(
            t.name.clone(),
            json!({
                "dtype": t.dtype.safetensors_name(),
                "shape": t.shape,
                "data_offsets": [offset, offset + t.bytes],
            }),
        );
        offset += t.bytes;
    }
    m.insert("__metadata__".into(), Value::Object(info));
    let mut text = serde_json::to_vec(&Value::Object(m)).expect("a header serializes");
    // safetensors pads the header so the data starts 8-byte aligned.
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    Ok(out)
}

/// `model.safetensors.index.json` of a sharded checkpoint: where each tensor is, and the
/// tensors' total bytes.
pub fn index(tensors: &[Planned], files: &[ShardFile]) -> String {
    let mut weight_map = Map::new();
    for f in files {
        for &i in &f.tensors {
            weight_map.insert(tensors[i].name.clone(), json!(f.name));
        }
    }
    let total: u64 = tensors.iter().map(|t| t.bytes).sum();
    let v = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    serde_json::to_string_pretty(&v).expect("an index serializes") + "\n"
}
