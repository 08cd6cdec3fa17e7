//! The command line's own outputs besides checkpoints: `.npy` and raw values by a path's
//! extension, and the `--json` and `--markdown` reports. Every file goes through the
//! library's [`gpuinit::output`] (temporary name, renamed into place when complete).

use std::path::Path;

use gpuinit::output::{distinct, is_special, is_stdout, Output};
use gpuinit::{Error, Result};

/// What the bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NumPy `.npy` version 1.0 with a `<f4` array of the given shape.
    Npy,
    /// Raw little-endian 32-bit values.
    Raw,
}

/// The `.npy` v1.0 header for a little-endian f32 C-order array of `shape`.
pub fn npy_header(shape: &[u64]) -> Vec<u8> {
    npy_header_of("<f4", shape)
}

/// The `.npy` v1.0 header for a C-order array of `shape` whose elements NumPy describes as
/// `descr` (`<f4`, `|u1`).
pub fn npy_header_of(descr: &str, shape: &[u64]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + dict + padding + '\n', a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut h = Vec::with_capacity(total);
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    h.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(total - 1, b' ');
    h.push(b'\n');
    h
}

/// Opens `path` (`-` for standard output), choosing the format from the extension.
/// `shape` goes into the `.npy` header.
pub fn create(path: &str, shape: &[u64]) -> Result<Output> {
    let format = if is_stdout(path) {
        Format::Raw
    } else {
        let ext = Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("npy") => Format::Npy,
            Some("bin") | Some("raw") | Some("f32") => Format::Raw,
            // A device or a pipe (/dev/null, /dev/stdout, a FIFO) takes raw values.
            _ if is_special(path)? => Format::Raw,
            _ => {
                return Err(Error::invalid(format!(
                    "output '{path}' has no known extension: use .npy, .bin, a device or pipe, or - for standard output"
                )))
            }
        }
    };
    create_as(path, format, shape)
}

/// Opens `path` with an explicit format.
pub fn create_as(path: &str, format: Format, shape: &[u64]) -> Result<Output> {
    let mut out = Output::create(path)?;
    if format == Format::Npy {
        out.write_bytes(&npy_header(shape))?;
    }
    Ok(out)
}

/// The `--json` and `--markdown` files of a long command, opened before the work starts so a
/// bad path fails at once, and published only when the report is written (no partial file).
pub struct ReportFiles {
    json: Option<Output>,
    markdown: Option<Output>,
}

impl ReportFiles {
    pub fn open(json: &Option<String>, markdown: &Option<String>) -> Result<Self> {
        let open = |p: &Option<String>| p.as_deref().map(Output::create).transpose();
        distinct(&[
            ("--json", json.as_deref()),
            ("--markdown", markdown.as_deref()),
        ])?;
        Ok(ReportFiles {
            json: open(json)?,
            markdown: open(markdown)?,
        })
    }

    pub fn write(
        self,
        json: impl FnOnce() -> String,
        markdown: impl FnOnce() -> String,
    ) -> Result<()> {
        for (out, text) in [(self.json, json()), (self.markdown, markdown())] {
            if let Some(mut out) = out {
                out.write_bytes(text.as_bytes())?;
                out.finish()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_well_formed() {
        for shape in [vec![3u64], vec![256, 128], vec![64, 3, 3, 3]] {
            let h = npy_header(&shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
            assert_eq!(*h.last().unwrap(), b'\n');
        }
        let bytes = npy_header(&[5]);
        let h = String::from_utf8_lossy(&bytes);
        assert!(h.contains("'shape': (5,)"));
    }
}
