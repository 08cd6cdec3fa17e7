//! Output files: `.npy` (numpy.load reads it), raw little-endian `.bin`, or standard output.
//!
//! A file is written under a temporary name beside its destination and renamed only when
//! complete, so a failed run leaves no partial output behind.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

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
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
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

enum Sink {
    Stdout(io::StdoutLock<'static>),
    File {
        writer: BufWriter<File>,
        tmp: PathBuf,
        dest: PathBuf,
    },
}

/// An output being written; [`Output::finish`] publishes it, dropping it discards it.
pub struct Output {
    sink: Option<Sink>,
    bytes: Vec<u8>,
}

impl Output {
    /// Opens `path` (`-` for standard output), choosing the format from the extension.
    /// `shape` goes into the `.npy` header.
    pub fn create(path: &str, shape: &[u64]) -> Result<Self> {
        let format = if path == "-" {
            Format::Raw
        } else {
            match Path::new(path).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                Some("npy") => Format::Npy,
                Some("bin") | Some("raw") | Some("f32") => Format::Raw,
                _ => {
                    return Err(Error::invalid(format!(
                        "output '{path}' has no known extension: use .npy, .bin, or - for standard output"
                    )))
                }
            }
        };
        Self::create_as(path, format, shape)
    }

    /// Opens `path` with an explicit format.
    pub fn create_as(path: &str, format: Format, shape: &[u64]) -> Result<Self> {
        let sink = if path == "-" {
            Sink::Stdout(io::stdout().lock())
        } else {
            let dest = PathBuf::from(path);
            if dest.is_dir() {
                return Err(Error::invalid(format!(
                    "cannot write output '{path}': it is a directory"
                )));
            }
            let name = dest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dest.with_file_name(format!(".{name}.partial-{}", std::process::id()));
            let file = File::create(&tmp)
                .map_err(|e| Error::invalid(format!("cannot write output '{path}': {e}")))?;
            Sink::File {
                writer: BufWriter::with_capacity(1 << 20, file),
                tmp,
                dest,
            }
        };
        let mut out = Output {
            sink: Some(sink),
            bytes: Vec::new(),
        };
        if format == Format::Npy {
            out.write_bytes(&npy_header(shape))?;
        }
        Ok(out)
    }

    /// Appends bytes as they are.
    pub fn write_bytes(&mut self, b: &[u8]) -> Result<()> {
        let r = match self.sink.as_mut() {
            Some(Sink::Stdout(w)) => w.write_all(b),
            Some(Sink::File { writer, .. }) => writer.write_all(b),
            None => Ok(()),
        };
        r.map_err(Error::Io)
    }

    /// Appends 32-bit values (f32 bits or u32 words) in little-endian order.
    pub fn write_u32s(&mut self, words: &[u32]) -> Result<()> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        bytes.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        let r = self.write_bytes(&bytes);
        self.bytes = bytes;
        r
    }

    pub fn write_f32s(&mut self, values: &[f32]) -> Result<()> {
        self.write_u32s(bytemuck::cast_slice(values))
    }

    /// Flushes and, for a file, renames it into place.
    pub fn finish(mut self) -> Result<()> {
        match self.sink.take() {
            Some(Sink::Stdout(mut w)) => w.flush().map_err(Error::Io),
            Some(Sink::File { writer, tmp, dest }) => {
                let file = writer.into_inner().map_err(|e| Error::Io(e.into_error()))?;
                file.sync_all()?;
                drop(file);
                std::fs::rename(&tmp, &dest).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    Error::invalid(format!("cannot write output '{}': {e}", dest.display()))
                })
            }
            None => Ok(()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(Sink::File { tmp, .. }) = self.sink.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The `--json` and `--markdown` files of a long command, opened before the work starts so a
/// bad path fails at once, and published only when the report is written (no partial file).
pub struct ReportFiles {
    json: Option<Output>,
    markdown: Option<Output>,
}

impl ReportFiles {
    pub fn open(json: &Option<String>, markdown: &Option<String>) -> Result<Self> {
        let open = |p: &Option<String>| {
            p.as_deref()
                .map(|p| Output::create_as(p, Format::Raw, &[]))
                .transpose()
        };
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
