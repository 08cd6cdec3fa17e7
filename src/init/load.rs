//! A spec from the files a user names: a Hugging Face `config.json`, or a gpuinit spec.

use std::path::Path;

use super::hf;
use super::spec::{Dtype, ModelSpec};
use crate::error::{Error, Result};

/// The most a config, spec or other small text file may hold: 16 MiB. A spec of the
/// largest models gpuinit knows is well under 1 MiB; a file past this (`/dev/zero`, a
/// mistaken checkpoint) is refused after reading this much, never read to its end.
pub const MAX_TEXT: u64 = 16 << 20;

/// The text of `path` (at most [`MAX_TEXT`] bytes), or an error that names it.
pub fn read_text(path: &Path) -> Result<String> {
    read_text_limited(path, MAX_TEXT)
}

/// The text of `path` if it holds at most `limit` bytes (read no further than that, so a
/// device or a FIFO that never ends is refused too); an error that names it otherwise.
pub fn read_text_limited(path: &Path, limit: u64) -> Result<String> {
    let cannot =
        |e: std::io::Error| Error::invalid(format!("cannot read '{}': {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::invalid(format!(
            "cannot read '{}': it is a directory",
            path.display()
        )));
    }
    read_capped(file, limit).map_err(|why| Error::invalid(format!("'{}' {why}", path.display())))
}

/// At most `limit` bytes of UTF-8 text from `r`, reading no further than one byte past it;
/// what is wrong otherwise, to follow the file's name.
pub(crate) fn read_capped(
    r: impl std::io::Read,
    limit: u64,
) -> std::result::Result<String, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > limit {
        let cap = if limit.is_multiple_of(1 << 20) {
            format!("{} MiB", limit >> 20)
        } else {
            format!("{limit} bytes")
        };
        return Err(format!(
            "is larger than {cap}, the most gpuinit reads of a config, spec or index"
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("is not UTF-8 text: {e}"))
}

/// The spec that `config` (a Hugging Face config, resolved by transformers' init rules) or
/// else `spec` (a gpuinit spec file) gives, with every tensor's dtype `dtype` when given
/// (`f32`, `bf16` or `f16`; a spec's own per-tensor dtypes stay).
///
/// ```
/// use gpuinit::init::{load_spec, Dtype};
///
/// # fn main() -> gpuinit::Result<()> {
/// let path = std::env::temp_dir().join(format!("gpuinit-spec-{}.json", std::process::id()));
/// std::fs::write(&path, r#"{"tensors": [{"name": "w", "shape": [4, 4], "scheme": "ones"}]}"#)?;
/// let spec = load_spec(None, Some(&path), Some("bf16"))?;
/// assert_eq!((spec.tensors.len(), spec.dtype), (1, Dtype::Bf16));
/// assert!(load_spec(None, None, None).is_err());
/// std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
pub fn load_spec(
    config: Option<&Path>,
    spec: Option<&Path>,
    dtype: Option<&str>,
) -> Result<ModelSpec> {
    let dtype = dtype.map(Dtype::parse).transpose()?;
    let mut spec = match (config, spec) {
        (Some(c), _) => {
            let text = read_text(c)?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::invalid(format!("'{}' is not JSON: {e}", c.display())))?;
            hf::spec_from_config(&json, dtype.unwrap_or_default())?
        }
        (None, Some(s)) => ModelSpec::from_json(&read_text(s)?, &format!("'{}'", s.display()))?,
        (None, None) => return Err(Error::invalid("give --config or --spec")),
    };
    if let Some(d) = dtype {
        spec.dtype = d;
    }
    Ok(spec)
}
