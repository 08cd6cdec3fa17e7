//! [`FileSink`]: a checkpoint into a folder, as `gpuinit init` writes it.

use std::path::{Path, PathBuf};

use super::sink::{FileKind, FileStart, Sink};
use super::write::WritePlan;
use crate::error::{Error, Result};
use crate::output::Output;

/// Writes each file under a temporary name beside its destination (registered before it is
/// created, so [`crate::output::remove_temporaries`] removes it on an interrupt), the
/// weights past the page cache where the file system allows (`O_DIRECT`), each synced as it
/// completes; [`Sink::publish`] renames them all into place, the weights first and the
/// index last, so a reader that sees the index sees every file. Dropped before that, it
/// removes its temporary files: a failure leaves none of this process's files behind.
///
/// A checkpoint into a folder, the same bytes as in memory:
///
/// ```
/// use gpuinit::init::{self, Checkpoint, FileSink, MemorySink, ModelSpec, Shard, WritePlan};
/// use gpuinit::progress::Quiet;
/// use gpuinit::CpuReference;
///
/// # fn main() -> gpuinit::Result<()> {
/// let spec = ModelSpec::from_json(
///     r#"{"dtype": "bf16", "tensors": [{"name": "w", "shape": [16, 8], "scheme": "xavier_normal"}]}"#,
///     "the example spec",
/// )?;
/// let plan = WritePlan::new(&spec, 5_000_000_000, Shard::ALONE, 7)?;
/// let dir = std::env::temp_dir().join(format!("gpuinit-files-{}", std::process::id()));
/// let mut files = FileSink::create(&dir)?;
/// files.check(&plan, false)?; // nothing there to replace, and room for it
/// init::write_checkpoint(&plan, &CpuReference, &mut files, &mut Quiet)?;
/// let mut memory = MemorySink::new();
/// init::write_checkpoint(&plan, &CpuReference, &mut memory, &mut Quiet)?;
/// let on_disk = std::fs::read(dir.join("model.safetensors"))?;
/// assert_eq!(memory.get("model.safetensors"), Some(on_disk.as_slice()));
/// assert_eq!(Checkpoint::open(&dir)?.tensors[0].dtype, "BF16");
/// // Written again, the files are refused unless replacing them is asked for.
/// assert!(files.check(&plan, false).is_err());
/// std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub struct FileSink {
    dir: PathBuf,
    current: Option<(Output, FileKind)>,
    /// Sealed, not yet published.
    weights: Vec<Output>,
    others: Vec<Output>,
}

impl FileSink {
    /// Into the folder `dir`, created if missing; refused when it is something else.
    pub fn create(dir: &Path) -> Result<FileSink> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::invalid(format!(
                "--out '{}' is not a folder",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid(format!("cannot create '{}': {e}", dir.display())))?;
        Ok(FileSink {
            dir: dir.to_path_buf(),
            current: None,
            weights: Vec::new(),
            others: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Refuses, before any work, to replace the files of `plan` this process writes unless
    /// `force`, and a folder whose file system cannot take their bytes.
    pub fn check(&self, plan: &WritePlan, force: bool) -> Result<()> {
        self.refuse_existing(&plan.names(), force)?;
        self.check_space(plan.data_bytes())
    }

    /// Refuses, before any work, to replace files this process would write unless `force`.
    pub fn refuse_existing(&self, names: &[String], force: bool) -> Result<()> {
        if force {
            return Ok(());
        }
        for name in names {
            let p = self.dir.join(name);
            if p.exists() {
                return Err(Error::invalid(format!(
                    "'{}' exists; pass --force to replace it",
                    p.display()
                )));
            }
        }
        Ok(())
    }

    /// Refuses, before any work, a folder whose file system cannot take `bytes` more.
    pub fn check_space(&self, bytes: u64) -> Result<()> {
        match fs4::available_space(&self.dir) {
            Ok(free) if free < bytes => Err(Error::invalid(format!(
                "'{}' needs {:.3} GB but its file system has {:.3} GB free",
                self.dir.display(),
                bytes as f64 / 1e9,
                free as f64 / 1e9
            ))),
            _ => Ok(()),
        }
    }

    fn current(&mut self) -> Result<&mut Output> {
        match &mut self.current {
            Some((out, _)) => Ok(out),
            None => Err(Error::invalid("internal: bytes written outside a file")),
        }
    }
}

impl Sink for FileSink {
    fn begin_file(&mut self, file: &FileStart) -> Result<()> {
        let path = self.dir.join(file.name);
        let path = path.to_string_lossy();
        let out = match file.kind {
            FileKind::Weights => Output::create_direct(&path)?,
            FileKind::Index | FileKind::Other => Output::create(&path)?,
        };
        self.current = Some((out, file.kind));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.current()?.write_bytes(bytes)
    }

    fn finish_file(&mut self) -> Result<()> {
        let Some((mut out, kind)) = self.current.take() else {
            return Ok(());
        };
        out.seal()?;
        match kind {
            FileKind::Weights => self.weights.push(out),
            FileKind::Index | FileKind::Other => self.others.push(out),
        }
        Ok(())
    }

    fn publish(&mut self) -> Result<()> {
        // Weights first, the index (the first of the others) last.
        let others: Vec<Output> = self.others.drain(..).rev().collect();
        for out in self.weights.drain(..).chain(others) {
            out.finish()?;
        }
        Ok(())
    }
}
