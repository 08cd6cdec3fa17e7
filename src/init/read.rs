//! Reading a safetensors checkpoint back: its files (one, or those its index names), each
//! tensor's dtype, shape and bytes, and the `__metadata__` each file records.
//!
//! Each header is parsed by Hugging Face's own `safetensors` crate (its
//! [`safetensors::tensor::Metadata`]: the metadata a map of strings, every dtype one it
//! knows, the tensors' data back to back from offset 0 with no gap or overlap, each as long
//! as its shape and dtype make it, no tensor named `__metadata__`), and the file must end
//! where the last tensor does, as `SafeTensors::deserialize` requires ("incomplete metadata,
//! file not fully covered"); a test holds the two to the same verdicts. Only regular files
//! are opened (a FIFO or a device would block or never end), and every read is bounded:
//! the header by safetensors' own limit, JSON files (the index, a config) by [`MAX_JSON`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::tensor::Metadata;
use serde_json::Value;

use crate::error::{Error, Result};

/// safetensors' own limit on a header (`MAX_HEADER_SIZE`, 100 MB): a longer one is not a
/// checkpoint.
pub const MAX_HEADER: u64 = 100_000_000;
/// The most bytes a JSON file (an index, a config, a spec) may have: a Llama-405B index is
/// about 100 kB.
pub const MAX_JSON: u64 = super::load::MAX_TEXT;
/// The index beside sharded files.
pub const INDEX: &str = "model.safetensors.index.json";
/// The one file of an unsharded checkpoint.
pub const SINGLE: &str = "model.safetensors";

/// One tensor as a file's header describes it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub name: String,
    /// Index into [`Checkpoint::files`].
    pub file: usize,
    /// As the header spells it: `F32`, `BF16`, `F16`, or any other safetensors dtype.
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Where the data starts in the file, and its length.
    pub start: u64,
    pub bytes: u64,
}

/// A checkpoint folder, read.
#[derive(Debug)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub files: Vec<String>,
    /// Each file's `__metadata__` (empty for a file that could not be read).
    pub file_metadata: Vec<BTreeMap<String, String>>,
    /// Files of a sharded checkpoint that are absent or could not be read, and why (an
    /// unsharded checkpoint whose file cannot be read is no checkpoint: [`Checkpoint::open`]
    /// refuses it).
    pub bad_files: Vec<(usize, String)>,
    /// The index's `weight_map`, for a sharded checkpoint.
    pub weight_map: Option<BTreeMap<String, String>>,
    pub tensors: Vec<Stored>,
    /// Every file's `__metadata__`; where files disagree on a key, the first file's value.
    pub metadata: BTreeMap<String, String>,
    /// What is wrong with the files as a whole (the index and the headers disagree, two files
    /// hold one name, files disagree on a metadata key other than the seed, a safetensors
    /// file the index does not name), a line each, with the tensor or file it concerns.
    pub problems: Vec<(String, String)>,
}

/// Whether anything (a file, a folder, a dangling link) has this name.
fn present(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Opens `path` for reading if it is a regular file (after links), without blocking on a
/// FIFO: the reason otherwise.
pub fn open_regular(path: &Path) -> std::result::Result<File, String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("absent".into()),
        Err(e) => return Err(format!("cannot open: {e}")),
        Ok(m) if !m.is_file() => return Err(not_regular(&m)),
        Ok(_) => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Should it have been swapped for a FIFO since, the open returns at once (the flag
    // does nothing to a regular file).
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let f = options
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let m = f.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !m.is_file() {
        return Err(not_regular(&m));
    }
    Ok(f)
}

fn not_regular(m: &std::fs::Metadata) -> String {
    let t = m.file_type();
    let what = if t.is_dir() {
        "a folder"
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() {
                "a FIFO"
            } else if t.is_char_device() || t.is_block_device() {
                "a device"
            } else if t.is_socket() {
                "a socket"
            } else {
                "something else"
            }
        }
        #[cfg(not(unix))]
        "something else"
    };
    format!("{what}, not a regular file")
}

/// The text of the JSON file `path` (`what` names it in errors): a regular file of at most
/// [`MAX_JSON`] bytes, else bad input.
pub fn read_json_text(path: &Path, what: &str) -> Result<String> {
    let bad = |why: String| Error::invalid(format!("{what} '{}': {why}", path.display()));
    let f = open_regular(path).map_err(bad)?;
    super::load::read_capped(f, MAX_JSON).map_err(bad)
}

/// A safetensors header read from `r`, a file of `size` bytes: where the data starts, and
/// the header as the safetensors crate parses it. Refuses exactly what
/// `safetensors::SafeTensors::deserialize` refuses of the whole file.
pub fn parse_header(r: &mut impl Read, size: u64) -> std::result::Result<(u64, Metadata), String> {
    if size < 8 {
        return Err(format!(
            "{size} bytes, shorter than a safetensors header length (8)"
        ));
    }
    let mut len = [0u8; 8];
    r.read_exact(&mut len)
        .map_err(|e| format!("cannot read the header length: {e}"))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER {
        return Err(format!(
            "header length {n} passes safetensors' limit of {MAX_HEADER} bytes"
        ));
    }
    if 8 + n > size {
        return Err(format!(
            "header length {n} does not fit the file ({size} bytes)"
        ));
    }
    let mut text = vec![0u8; n as usize];
    r.read_exact(&mut text)
        .map_err(|e| format!("cannot read the header: {e}"))?;
    let text = std::str::from_utf8(&text).map_err(|e| format!("header is not UTF-8: {e}"))?;
    let meta: Metadata =
        serde_json::from_str(text).map_err(|e| format!("safetensors refuses the header: {e}"))?;
    let end = 8 + n + meta.data_len() as u64;
    if end != size {
        return Err(format!(
            "incomplete metadata, file not fully covered: its tensors end at byte {end}, the file has {size}"
        ));
    }
    Ok((8 + n, meta))
}

impl Checkpoint {
    /// Reads `dir`'s `model.safetensors.index.json` and the files it names, or else
    /// `model.safetensors`. Bad input (exit 2): no folder, neither layout or both, an index
    /// that is not one, a `model.safetensors` that is not a safetensors file. A shard the
    /// index names that is absent or unreadable is recorded in [`Checkpoint::bad_files`].
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        if !dir.is_dir() {
            return Err(Error::invalid(format!(
                "--checkpoint '{}' is not a folder",
                dir.display()
            )));
        }
        let index_path = dir.join(INDEX);
        let single = dir.join(SINGLE);
        let mut ckpt = Checkpoint {
            dir: dir.to_path_buf(),
            files: Vec::new(),
            file_metadata: Vec::new(),
            bad_files: Vec::new(),
            weight_map: None,
            tensors: Vec::new(),
            metadata: BTreeMap::new(),
            problems: Vec::new(),
        };
        let total_size = match (present(&index_path), present(&single)) {
            (true, true) => {
                return Err(Error::invalid(format!(
                    "'{}' holds both {SINGLE} and {INDEX}: two checkpoints in one folder; move one away",
                    dir.display()
                )))
            }
            (true, false) => {
                let (map, total) = read_index(&index_path)?;
                let mut files: Vec<String> = map.values().cloned().collect();
                files.sort();
                files.dedup();
                ckpt.files = files;
                ckpt.weight_map = Some(map);
                Some(total)
            }
            (false, true) => {
                ckpt.files = vec![SINGLE.into()];
                None
            }
            (false, false) => {
                return Err(Error::invalid(format!(
                    "'{}' has neither {SINGLE} nor {INDEX}",
                    dir.display()
                )))
            }
        };
        for k in 0..ckpt.files.len() {
            let meta = match ckpt.read_header(k) {
                Ok(meta) => meta,
                Err(why) if ckpt.weight_map.is_none() => {
                    return Err(Error::invalid(format!(
                        "'{}': {why}",
                        ckpt.path(k).display()
                    )))
                }
                Err(why) => {
                    ckpt.bad_files.push((k, why));
                    BTreeMap::new()
                }
            };
            ckpt.merge_metadata(&meta);
            ckpt.file_metadata.push(meta);
        }
        if let Some(total) = total_size {
            ckpt.check_index(&total);
        }
        ckpt.check_stray_files();
        Ok(ckpt)
    }

    pub fn path(&self, file: usize) -> PathBuf {
        self.dir.join(&self.files[file])
    }

    /// The file's tensors into [`Checkpoint::tensors`]; its metadata.
    fn read_header(
        &mut self,
        file: usize,
    ) -> std::result::Result<BTreeMap<String, String>, String> {
        let mut f = open_regular(&self.path(file))?;
        let size = f.metadata().map_err(|e| e.to_string())?.len();
        let (data_start, meta) = parse_header(&mut f, size)?;
        for name in meta.offset_keys() {
            let info = meta.info(&name).expect("offset_keys names its tensors");
            let (begin, end) = info.data_offsets;
            let t = Stored {
                name: name.clone(),
                file,
                dtype: info.dtype.to_string(),
                shape: info.shape.iter().map(|&d| d as u64).collect(),
                start: data_start + begin as u64,
                bytes: (end - begin) as u64,
            };
            if let Some(other) = self.tensors.iter().find(|o| o.name == name) {
                let first = self.files[other.file].clone();
                self.problems
                    .push((name, format!("in both {first} and {}", self.files[file])));
                continue;
            }
            self.tensors.push(t);
        }
        Ok(meta
            .metadata()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    /// Into [`Checkpoint::metadata`]; a disagreement on any key but the seed is a problem
    /// (a file's own seed is what its tensors are regenerated with, and the check names the
    /// files that differ).
    fn merge_metadata(&mut self, meta: &BTreeMap<String, String>) {
        for (k, v) in meta {
            match self.metadata.get(k) {
                Some(old) if old != v && k != "gpuinit.seed" => {
                    let msg = format!("files disagree on metadata {k}: '{old}' and '{v}'");
                    self.problems.push(("(metadata)".into(), msg));
                }
                Some(_) => {}
                None => {
                    self.metadata.insert(k.clone(), v.clone());
                }
            }
        }
    }

    fn check_index(&mut self, total_size: &Option<Value>) {
        let Some(map) = &self.weight_map else { return };
        let bad = |f: &str| self.bad_files.iter().any(|(k, _)| self.files[*k] == f);
        let mut problems = Vec::new();
        for t in &self.tensors {
            match map.get(&t.name) {
                Some(f) if *f == self.files[t.file] => {}
                Some(f) => problems.push((
                    t.name.clone(),
                    format!("the index says {f}, but it is in {}", self.files[t.file]),
                )),
                None => problems.push((
                    t.name.clone(),
                    format!("in {} but not in the index", self.files[t.file]),
                )),
            }
        }
        for (name, f) in map {
            // A tensor of a file that cannot be read is reported with the file.
            if !bad(f) && !self.tensors.iter().any(|t| t.name == *name) {
                problems.push((name.clone(), format!("the index names {f}, which lacks it")));
            }
        }
        // huggingface_hub's total_size: the tensors' bytes (headers left out). Only a
        // checkpoint whose every file was read can be summed.
        if self.bad_files.is_empty() {
            let sum: u64 = self.tensors.iter().map(|t| t.bytes).sum();
            match total_size.as_ref().map(Value::as_u64) {
                Some(Some(n)) if n == sum => {}
                Some(Some(n)) => problems.push((
                    "(index)".into(),
                    format!("metadata.total_size is {n}, but the files' tensors hold {sum} bytes"),
                )),
                Some(None) => problems.push((
                    "(index)".into(),
                    format!(
                        "metadata.total_size {} is not a byte count",
                        total_size.as_ref().unwrap()
                    ),
                )),
                None => problems.push(("(index)".into(), "has no metadata.total_size".to_string())),
            }
        }
        self.problems.extend(problems);
    }

    /// A `.safetensors` file in the folder that is not the checkpoint's (a shard of an
    /// earlier run, say) is named: a loader would ignore it, a person might not.
    fn check_stray_files(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut stray: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".safetensors") && !self.files.contains(n))
            .collect();
        stray.sort();
        for name in stray {
            let why = match &self.weight_map {
                Some(_) => "a safetensors file the index does not name",
                None => "a safetensors file beside model.safetensors",
            };
            self.problems.push((name, why.into()));
        }
    }

    /// `gpuinit.seed` of file `file`: the seed, or what is wrong with it.
    pub fn seed(&self, file: usize) -> std::result::Result<u64, String> {
        match self.file_metadata[file].get("gpuinit.seed") {
            None => Err(format!(
                "no gpuinit.seed in the metadata of {}",
                self.files[file]
            )),
            Some(s) => s.parse().map_err(|_| {
                format!(
                    "gpuinit.seed '{s}' of {} is not a seed (a decimal integer below 2^64)",
                    self.files[file]
                )
            }),
        }
    }

    /// Opens `t`'s file at byte `from` of its data (a regular file only; failing here,
    /// after the header was read, is a failure of the run).
    pub fn open_at(&self, t: &Stored, from: u64) -> Result<File> {
        let path = self.path(t.file);
        let fail =
            |e: String| Error::Io(std::io::Error::other(format!("'{}': {e}", path.display())));
        let mut f = open_regular(&path).map_err(fail)?;
        f.seek(SeekFrom::Start(t.start + from))
            .map_err(|e| fail(e.to_string()))?;
        Ok(f)
    }

    /// `len` bytes of `t`'s data from byte `from` of it.
    pub fn read(&self, t: &Stored, from: u64, len: u64) -> Result<Vec<u8>> {
        let mut f = self.open_at(t, from)?;
        let mut buf = vec![0u8; len as usize];
        read_fully(&mut f, &mut buf, &self.path(t.file))?;
        Ok(buf)
    }
}

/// Fills `buf` from `f`, or fails naming `path` (exit 1: the file changed under us).
pub fn read_fully(f: &mut File, buf: &mut [u8], path: &Path) -> Result<()> {
    f.read_exact(buf).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "'{}': reading data the header promised: {e}",
            path.display()
        )))
    })
}

/// The index's `weight_map`, and its `metadata.total_size` as written (absent: `None`).
fn read_index(path: &Path) -> Result<(BTreeMap<String, String>, Option<Value>)> {
    let text = read_json_text(path, "the index")?;
    let bad = |what: String| Error::invalid(format!("the index '{}': {what}", path.display()));
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("has no weight_map".into()))?;
    let map = map
        .iter()
        .map(|(k, f)| {
            let f = f
                .as_str()
                .filter(|f| {
                    !f.is_empty()
                        && !f.contains('/')
                        && !f.contains('\\')
                        && *f != ".."
                        && *f != "."
                })
                .ok_or_else(|| bad(format!("weight_map[{k}] is not a file name in the folder")))?;
            Ok((k.clone(), f.to_string()))
        })
        .collect::<Result<_>>()?;
    let total = v.get("metadata").and_then(|m| m.get("total_size")).cloned();
    Ok((map, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::SafeTensors;

    /// A file: the header length, `header` padded to 8 bytes, then `data` bytes.
    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut h = header.as_bytes().to_vec();
        h.resize(h.len().next_multiple_of(8), b' ');
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&h);
        out.resize(out.len() + data, 0);
        out
    }

    /// Our reader and the safetensors crate's `deserialize` (the reference) refuse the same
    /// files: trailing bytes, a gap, an overlap, a length the shape does not make, an
    /// unknown dtype, a `__metadata__` tensor, metadata that is not all strings (a seed as a
    /// number), a header past the file or past the limit, one that is not UTF-8 or JSON. It
    /// catches a reader that drops the coverage check (issue 20, item 6: 4096 trailing bytes
    /// passed) or parses the header itself.
    #[test]
    fn the_header_is_refused_where_safetensors_refuses_it() {
        let t = |o: (usize, usize)| {
            format!(
                r#""dtype":"F32","shape":[2],"data_offsets":[{},{}]"#,
                o.0, o.1
            )
        };
        let good = format!(
            r#"{{"__metadata__":{{"gpuinit.seed":"3"}},"a":{{{}}}}}"#,
            t((0, 8))
        );
        let two = |a: (usize, usize), b: (usize, usize)| {
            format!(r#"{{"a":{{{}}},"b":{{{}}}}}"#, t(a), t(b))
        };
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("good", file(&good, 8)),
            ("no tensors", file("{}", 0)),
            ("two", file(&two((0, 8), (8, 16)), 16)),
            ("4096 trailing bytes", file(&good, 8 + 4096)),
            ("cut short", file(&good, 4)),
            ("gap", file(&two((0, 8), (12, 20)), 20)),
            ("overlap", file(&two((0, 8), (4, 12)), 12)),
            (
                "length not the shape's",
                file(
                    r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                    8,
                ),
            ),
            (
                "unknown dtype",
                file(
                    r#"{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#,
                    8,
                ),
            ),
            (
                "__metadata__ tensor",
                file(
                    r#"{"__metadata__":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                    8,
                ),
            ),
            ("seed as a number", file(&good.replace(r#""3""#, "3"), 8)),
            ("not JSON", file("{nope", 0)),
            ("short", vec![1, 0, 0]),
        ];
        let mut past = file(&good, 8);
        past[..8].copy_from_slice(&1000u64.to_le_bytes());
        cases.push(("header past the file", past));
        let mut huge = file(&good, 8);
        huge[..8].copy_from_slice(&(MAX_HEADER + 8).to_le_bytes());
        cases.push(("header past the limit", huge));
        let mut latin = file(&good, 8);
        latin[12] = 0xff;
        cases.push(("not UTF-8", latin));
        let mut refused = 0;
        for (what, bytes) in &cases {
            let ours = parse_header(&mut bytes.as_slice(), bytes.len() as u64);
            let theirs = SafeTensors::deserialize(bytes);
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{what}: ours {:?}, safetensors {:?}",
                ours.as_ref().err(),
                theirs.as_ref().err()
            );
            refused += ours.is_err() as usize;
        }
        assert_eq!(refused, cases.len() - 3);
    }
}
