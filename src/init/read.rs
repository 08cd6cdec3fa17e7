//! Reading a safetensors checkpoint back: its files (one, or those its index names), each
//! tensor's dtype, shape and bytes, and the `__metadata__` the files record.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// safetensors' own limit on a header (100 MB): a longer one is not a checkpoint.
const MAX_HEADER: u64 = 100_000_000;

/// One tensor as a file's header describes it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub name: String,
    /// Index into [`Checkpoint::files`].
    pub file: usize,
    /// As the header spells it: `F32`, `BF16`, `F16`, or any other.
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
    pub tensors: Vec<Stored>,
    /// Every file's `__metadata__`; where files disagree on a key, the first file's value.
    pub metadata: BTreeMap<String, String>,
    /// What is wrong with the files as a whole (the index and the headers disagree, two files
    /// hold one name, files disagree on the seed), a line each, with the tensor it concerns.
    pub problems: Vec<(String, String)>,
}

impl Checkpoint {
    /// Reads `dir`'s `model.safetensors.index.json` and the files it names, or else
    /// `model.safetensors`.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        if !dir.is_dir() {
            return Err(Error::invalid(format!(
                "--checkpoint '{}' is not a folder",
                dir.display()
            )));
        }
        let index_path = dir.join("model.safetensors.index.json");
        let mut ckpt = Checkpoint {
            dir: dir.to_path_buf(),
            files: Vec::new(),
            tensors: Vec::new(),
            metadata: BTreeMap::new(),
            problems: Vec::new(),
        };
        let weight_map = if index_path.exists() {
            let map = read_index(&index_path)?;
            let mut files: Vec<String> = map.values().cloned().collect();
            files.sort();
            files.dedup();
            ckpt.files = files;
            Some(map)
        } else if dir.join("model.safetensors").exists() {
            ckpt.files = vec!["model.safetensors".into()];
            None
        } else {
            return Err(Error::invalid(format!(
                "'{}' has neither model.safetensors nor model.safetensors.index.json",
                dir.display()
            )));
        };
        for k in 0..ckpt.files.len() {
            ckpt.read_header(k)?;
        }
        if let Some(map) = weight_map {
            ckpt.check_index(&map);
        }
        Ok(ckpt)
    }

    fn path(&self, file: usize) -> PathBuf {
        self.dir.join(&self.files[file])
    }

    fn read_header(&mut self, file: usize) -> Result<()> {
        let path = self.path(file);
        let bad = |what: String| Error::invalid(format!("'{}': {what}", path.display()));
        let mut f = File::open(&path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let size = f.metadata().map_err(|e| bad(e.to_string()))?.len();
        let mut len = [0u8; 8];
        f.read_exact(&mut len)
            .map_err(|_| bad("shorter than a safetensors header".into()))?;
        let len = u64::from_le_bytes(len);
        if len > MAX_HEADER || 8 + len > size {
            return Err(bad(format!(
                "header length {len} does not fit the file ({size} bytes)"
            )));
        }
        let mut text = vec![0u8; len as usize];
        f.read_exact(&mut text).map_err(|e| bad(e.to_string()))?;
        let header: BTreeMap<String, Value> = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
        let data_start = 8 + len;
        for (name, v) in header {
            if name == "__metadata__" {
                self.merge_metadata(&v);
                continue;
            }
            let t = parse_entry(&name, &v, file, data_start, size).map_err(bad)?;
            if let Some(other) = self.tensors.iter().find(|o| o.name == name) {
                let first = self.files[other.file].clone();
                self.problems
                    .push((name, format!("in both {first} and {}", self.files[file])));
                continue;
            }
            self.tensors.push(t);
        }
        Ok(())
    }

    fn merge_metadata(&mut self, v: &Value) {
        let Some(map) = v.as_object() else { return };
        for (k, v) in map {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            match self.metadata.get(k) {
                Some(old) if *old != v => {
                    let msg = format!("files disagree on metadata {k}: '{old}' and '{v}'");
                    self.problems.push(("(metadata)".into(), msg));
                }
                Some(_) => {}
                None => {
                    self.metadata.insert(k.clone(), v);
                }
            }
        }
    }

    fn check_index(&mut self, map: &BTreeMap<String, String>) {
        for t in &self.tensors {
            match map.get(&t.name) {
                Some(f) if *f == self.files[t.file] => {}
                Some(f) => self.problems.push((
                    t.name.clone(),
                    format!("the index says {f}, but it is in {}", self.files[t.file]),
                )),
                None => self.problems.push((
                    t.name.clone(),
                    format!("in {} but not in the index", self.files[t.file]),
                )),
            }
        }
        for (name, f) in map {
            if !self.tensors.iter().any(|t| t.name == *name) {
                self.problems
                    .push((name.clone(), format!("the index names {f}, which lacks it")));
            }
        }
    }

    /// `len` bytes of `t`'s data from byte `from` of it.
    pub fn read(&self, t: &Stored, from: u64, len: u64) -> Result<Vec<u8>> {
        let path = self.path(t.file);
        let fail = |e: std::io::Error| Error::invalid(format!("'{}': {e}", path.display()));
        let mut f = File::open(&path).map_err(fail)?;
        f.seek(SeekFrom::Start(t.start + from)).map_err(fail)?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).map_err(fail)?;
        Ok(buf)
    }
}

fn read_index(path: &Path) -> Result<BTreeMap<String, String>> {
    let bad = |what: String| Error::invalid(format!("'{}': {what}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("has no weight_map".into()))?;
    map.iter()
        .map(|(k, f)| {
            let f = f
                .as_str()
                .filter(|f| !f.contains('/') && !f.contains('\\') && *f != "..")
                .ok_or_else(|| bad(format!("weight_map[{k}] is not a file name in the folder")))?;
            Ok((k.clone(), f.to_string()))
        })
        .collect()
}

/// One header entry, its offsets checked against the file.
fn parse_entry(
    name: &str,
    v: &Value,
    file: usize,
    data_start: u64,
    size: u64,
) -> std::result::Result<Stored, String> {
    let bad = |what: &str| format!("tensor '{name}': {what}");
    let dtype = v["dtype"].as_str().ok_or_else(|| bad("no dtype"))?;
    let shape = v["shape"]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        .ok_or_else(|| bad("no shape of whole numbers"))?;
    let offsets = v["data_offsets"]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        .filter(|o| o.len() == 2 && o[0] <= o[1])
        .ok_or_else(|| bad("data_offsets are not [begin, end]"))?;
    if data_start.saturating_add(offsets[1]) > size {
        return Err(bad(&format!(
            "data_offsets {offsets:?} run past the end of the file ({size} bytes)"
        )));
    }
    Ok(Stored {
        name: name.to_string(),
        file,
        dtype: dtype.to_string(),
        shape,
        start: data_start + offsets[0],
        bytes: offsets[1] - offsets[0],
    })
}
