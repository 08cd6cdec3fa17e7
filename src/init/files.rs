//! [`FileSink`]: a checkpoint into a folder, as `gpuinit init` writes it.

use std::path::{Path, PathBuf};

use super::folder::{checkpoint_files, layout_in, remove_stale_partials, FolderLock, Layout};
use super::sink::{FileKind, FileStart, Sink};
use super::write::{WritePlan, INDEX};
use crate::error::{Error, Result};
use crate::output::fault::{self, Fault};
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
/// FileSink::precheck(&dir, &plan, false)?; // before anything is created
/// let mut files = FileSink::create(&dir)?;
/// files.claim(&plan)?; // no other run writes into it while `files` lives
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
    /// Files of the checkpoint this one replaces that it does not overwrite (another
    /// layout's), removed once it is published (`--force`).
    stale: Vec<PathBuf>,
    /// This process's claim on the folder ([`FileSink::claim`]), held until dropped.
    lock: Option<FolderLock>,
}

impl FileSink {
    /// Refuses, before anything is created, a `dir` that cannot take `plan` (see
    /// [`FileSink::check`]; a folder not there yet holds nothing, and its nearest existing
    /// parent's file system must have the room).
    pub fn precheck(dir: &Path, plan: &WritePlan, force: bool) -> Result<()> {
        if let Ok(m) = std::fs::symlink_metadata(dir) {
            if m.file_type().is_symlink() && std::fs::metadata(dir).is_err() {
                let target = std::fs::read_link(dir).unwrap_or_default();
                return Err(Error::invalid(format!(
                    "--out '{}' is a symbolic link to '{}', which does not exist",
                    dir.display(),
                    target.display()
                )));
            }
        }
        if dir.exists() {
            if !dir.is_dir() {
                return Err(Error::invalid(format!(
                    "--out '{}' is not a folder",
                    dir.display()
                )));
            }
            refuse_in(dir, plan, force)?;
            return check_space_at(dir, dir, plan.data_bytes());
        }
        // The nearest folder that exists: where the new one will be made.
        let mut at = dir;
        while let Some(parent) = at.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if parent.is_dir() {
                return check_space_at(dir, parent, plan.data_bytes());
            }
            at = parent;
            if at == Path::new(".") {
                break;
            }
        }
        Ok(())
    }

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
            stale: Vec::new(),
            lock: None,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Claims the folder for this process of `plan`'s run until the sink is dropped
    /// ([`FolderLock`]): another run writing into it, or another process of the same rank,
    /// is refused, naming its process id. Then, when no other process writes into it,
    /// removes the temporary files that processes no longer running left in it, and
    /// returns their names. (While other processes of the run write into it, they may be
    /// on other machines, whose process ids say nothing here.)
    pub fn claim(&mut self, plan: &WritePlan) -> Result<Vec<String>> {
        let (lock, alone) = FolderLock::acquire(&self.dir, plan.shard.rank, plan.run_id())?;
        self.lock = Some(lock);
        if alone {
            remove_stale_partials(&self.dir)
        } else {
            Ok(Vec::new())
        }
    }

    /// Refuses, before any work, to replace the files of `plan` this process writes unless
    /// `force`; a folder holding a checkpoint in another layout (or a mix of layouts)
    /// unless `force`; and a folder whose file system cannot take their bytes. With
    /// `force`, the process that writes the index removes the old checkpoint's files that
    /// the new one does not replace once it has published its own.
    pub fn check(&mut self, plan: &WritePlan, force: bool) -> Result<()> {
        refuse_in(&self.dir, plan, force)?;
        self.check_space(plan.data_bytes())?;
        self.stale.clear();
        if force && plan.shard.writes_index() {
            let keep = plan.all_names();
            let mut stale: Vec<String> = checkpoint_files(&self.dir)?
                .into_iter()
                .filter(|n| !keep.contains(n))
                .collect();
            // The index first: no reader is sent to shard files being removed.
            stale.sort_by_key(|n| n != INDEX);
            self.stale = stale.into_iter().map(|n| self.dir.join(n)).collect();
        }
        Ok(())
    }

    /// Refuses, before any work, to replace files this process would write unless `force`.
    pub fn refuse_existing(&self, names: &[String], force: bool) -> Result<()> {
        refuse_existing(&self.dir, names, force)
    }

    /// Refuses, before any work, a folder whose file system cannot take `bytes` more.
    pub fn check_space(&self, bytes: u64) -> Result<()> {
        check_space_at(&self.dir, &self.dir, bytes)
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
        for (i, out) in self.weights.drain(..).chain(others).enumerate() {
            out.finish()?;
            if let (Fault::PublishPause(s), 0) = (fault::fault(), i) {
                std::thread::sleep(std::time::Duration::from_secs(s));
            }
        }
        // Then the replaced checkpoint's files in another layout, so that the folder holds
        // one checkpoint.
        for path in self.stale.drain(..) {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::write(
                        format!("(removing the replaced) '{}'", path.display()),
                        e,
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Refuses files of `plan` that this process would replace in `dir`, and a checkpoint of
/// another layout there, unless `force`.
fn refuse_in(dir: &Path, plan: &WritePlan, force: bool) -> Result<()> {
    refuse_existing(dir, &plan.names(), force)?;
    if force {
        return Ok(());
    }
    let n = plan.groups().len() as u64;
    let new = if n == 1 {
        Layout::Single
    } else {
        Layout::Sharded(Some(n))
    };
    let present = layout_in(dir)?;
    let other = present
        .iter()
        .find(|&&l| l != new && !(l == Layout::Sharded(None) && matches!(new, Layout::Sharded(_))));
    if let Some(other) = other {
        return Err(Error::invalid(format!(
            "'{}' holds a checkpoint in another layout ({other}; this one is {new}); pass --force to replace it",
            dir.display()
        )));
    }
    Ok(())
}

fn refuse_existing(dir: &Path, names: &[String], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    for name in names {
        let p = dir.join(name);
        if std::fs::symlink_metadata(&p).is_ok() {
            return Err(Error::invalid(format!(
                "'{}' exists; pass --force to replace it",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Refuses `bytes` more for `dir` when the file system at `at` has less free.
fn check_space_at(dir: &Path, at: &Path, bytes: u64) -> Result<()> {
    match fs4::available_space(at) {
        Ok(free) if free < bytes => Err(Error::invalid(format!(
            "'{}' needs {:.3} GB but its file system has {:.3} GB free",
            dir.display(),
            bytes as f64 / 1e9,
            free as f64 / 1e9
        ))),
        _ => Ok(()),
    }
}
