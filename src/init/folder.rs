//! A checkpoint folder as a whole: which layout(s) of checkpoint it holds ([`layout_in`]),
//! which of its files a checkpoint consists of ([`is_checkpoint_file`]), the runs writing
//! into it ([`FolderLock`]), and the temporary files that stopped runs left in it
//! ([`remove_stale_partials`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::write::INDEX;
use crate::error::{Error, Result};

/// The single-file checkpoint's weights.
pub const SINGLE: &str = "model.safetensors";

/// A layout of checkpoint found in a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layout {
    /// `model.safetensors`.
    Single,
    /// `model-0000i-of-0000N.safetensors` files (`Some(N)`), or the index
    /// `model.safetensors.index.json` without any of them (`None`).
    Sharded(Option<u64>),
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layout::Single => write!(f, "one file ({SINGLE})"),
            Layout::Sharded(Some(n)) => write!(f, "{n} shard files"),
            Layout::Sharded(None) => write!(f, "an index ({INDEX})"),
        }
    }
}

/// N of `model-0000i-of-0000N.safetensors` (i and N of five or more digits, 1 <= i <= N).
pub fn shard_count(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("model-")?.strip_suffix(".safetensors")?;
    let (i, n) = rest.split_once("-of-")?;
    let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(i) || !digits(n) {
        return None;
    }
    let (i, n): (u64, u64) = (i.parse().ok()?, n.parse().ok()?);
    (1..=n).contains(&i).then_some(n)
}

/// Whether a file called `name` is part of a checkpoint's weights: `model.safetensors`, a
/// shard file `model-0000i-of-0000N.safetensors`, or the index.
pub fn is_checkpoint_file(name: &str) -> bool {
    name == SINGLE || name == INDEX || shard_count(name).is_some()
}

/// The names of the files in `dir` that a checkpoint consists of ([`is_checkpoint_file`]),
/// sorted; none when `dir` does not exist.
pub fn checkpoint_files(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(cannot_list(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| cannot_list(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A folder of that name is no file of a checkpoint.
        if is_checkpoint_file(&name) && !entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.push(name.into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn cannot_list(dir: &Path, e: std::io::Error) -> Error {
    Error::invalid(format!("cannot list '{}': {e}", dir.display()))
}

/// The layouts of checkpoint that `dir` holds, sorted and distinct: none for a folder
/// without one (or no folder), one for a checkpoint, more for a folder that mixes them (a
/// `model.safetensors` beside an index, or shards of two different counts), which no
/// reader can take for one checkpoint.
///
/// ```
/// use gpuinit::init::{layout_in, Layout};
///
/// # fn main() -> gpuinit::Result<()> {
/// let dir = std::env::temp_dir().join(format!("gpuinit-layout-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// assert!(layout_in(&dir)?.is_empty());
/// std::fs::write(dir.join("model.safetensors"), b"")?;
/// std::fs::write(dir.join("model-00002-of-00003.safetensors"), b"")?;
/// assert_eq!(layout_in(&dir)?, vec![Layout::Single, Layout::Sharded(Some(3))]);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub fn layout_in(dir: &Path) -> Result<Vec<Layout>> {
    let names = checkpoint_files(dir)?;
    let mut layouts: Vec<Layout> = names
        .iter()
        .filter_map(|n| {
            if n == SINGLE {
                Some(Layout::Single)
            } else {
                shard_count(n).map(|c| Layout::Sharded(Some(c)))
            }
        })
        .collect();
    if names.iter().any(|n| n == INDEX) && !layouts.iter().any(|l| matches!(l, Layout::Sharded(_)))
    {
        layouts.push(Layout::Sharded(None));
    }
    layouts.sort();
    layouts.dedup();
    Ok(layouts)
}

/// Whether process `pid` is running (a zombie is not).
pub fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command's closing parenthesis.
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].trim_start().chars().next());
            return !matches!(state, Some('Z' | 'X'));
        }
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 checks for the process and sends nothing.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// The process id in the name of a temporary file [`crate::output`] writes
/// (`.NAME.partial-PID` or `.NAME.partial-PID.EXT`).
fn partial_pid(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, rest) = name.rsplit_once(".partial-")?;
    let digits = rest.split('.').next()?;
    digits.parse().ok()
}

/// Removes the temporary files in `dir` that processes no longer running left behind (a
/// run killed with SIGKILL, or a machine that went down); returns their names.
pub fn remove_stale_partials(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| cannot_list(dir, e))?;
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = partial_pid(&name) else {
            continue;
        };
        if alive(pid) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        std::fs::remove_file(entry.path()).map_err(|e| {
            Error::invalid(format!(
                "cannot remove the stale temporary file '{}': {e}",
                entry.path().display()
            ))
        })?;
        removed.push(name);
    }
    removed.sort();
    Ok(removed)
}

/// The file in a checkpoint folder whose `flock` makes a process's look at the others and
/// its claim one step ([`FolderLock`]).
pub const LOCK: &str = ".gpuinit.lock";

/// The largest holder file read: one line.
const MAX_HOLDER: u64 = 4096;

/// One process writing into a folder: its id and host, its rank, and its run (a hash of
/// everything that decides the checkpoint's bytes, the same in every process of one run).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Holder {
    pid: u32,
    host: String,
    rank: u64,
    run: u64,
}

impl Holder {
    fn parse(line: &str) -> Option<Holder> {
        let mut words = line.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        let host = words.next()?.to_string();
        let rank = words.next()?.parse().ok()?;
        let run = u64::from_str_radix(words.next()?, 16).ok()?;
        Some(Holder {
            pid,
            host,
            rank,
            run,
        })
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} {:016x}\n",
            self.pid, self.host, self.rank, self.run
        )
    }

    /// The holder file's name: hidden, one per process and host.
    fn file_name(&self) -> String {
        format!(".gpuinit-{}-{}.holder", self.host, self.pid)
    }

    fn describe(&self) -> String {
        if self.host == host_name() {
            format!("process {}", self.pid)
        } else {
            format!("process {} on {}", self.pid, self.host)
        }
    }
}

/// This machine's name, as a file name may hold it.
fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// Holder files this process holds, released by [`release_locks`] on an interrupt.
static HELD: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

/// A claim on a folder for one process of one run, from the check that nothing is in the
/// way to the publication of its files: while it is held, another run into the folder is
/// refused (naming this process), and so is a second process of the same rank. The
/// processes of one run (the same checkpoint, seed, shard size and number of processes;
/// different ranks) hold it together.
///
/// Each process holds an `flock` on a hidden holder file of its own in the folder, which
/// says who it is; a holder file no process holds locked (its process ended, even by
/// SIGKILL, on this machine or another sharing the file system) is removed. Looking at the
/// holders and adding one is done under an `flock` on [`LOCK`]. The claim ends when it is
/// dropped, or with [`release_locks`] on an interrupt, and leaves no file behind.
#[derive(Debug)]
pub struct FolderLock {
    dir: PathBuf,
    path: PathBuf,
    /// The holder file, locked for as long as it is open.
    _file: File,
}

impl FolderLock {
    /// Claims `dir` (which exists) for process `rank` of the run `run`; refuses, naming
    /// the process in the way, when another run holds it, or another process of this rank.
    /// Returns the claim and whether this process is alone in the folder.
    pub fn acquire(dir: &Path, rank: u64, run: u64) -> Result<(FolderLock, bool)> {
        let me = Holder {
            pid: std::process::id(),
            host: host_name(),
            rank,
            run,
        };
        let guard = open_locked(&dir.join(LOCK), true)?;
        let others = holders(dir, &me.file_name())?;
        if let Some(other) = others.iter().find(|h| h.run != run || h.rank == rank) {
            let why = if other.run == run {
                format!(
                    "{} already writes rank {rank} of this checkpoint",
                    other.describe()
                )
            } else {
                format!(
                    "{} is writing another checkpoint into it (rank {})",
                    other.describe(),
                    other.rank
                )
            };
            drop(guard);
            return Err(Error::invalid(format!(
                "'{}' is in use: {why}; wait for it or choose another --out",
                dir.display()
            )));
        }
        let path = dir.join(me.file_name());
        let cannot =
            |e: std::io::Error| Error::invalid(format!("cannot claim '{}': {e}", dir.display()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(cannot)?;
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((dir.to_path_buf(), path.clone()));
        let claim = FolderLock {
            dir: dir.to_path_buf(),
            path,
            _file: file.try_clone().map_err(cannot)?,
        };
        file.try_lock()
            .map_err(|e| cannot(std::io::Error::other(e.to_string())))?;
        file.write_all(me.line().as_bytes()).map_err(cannot)?;
        drop(guard);
        Ok((claim, others.is_empty()))
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        release(&self.dir, &self.path);
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, p)| p != &self.path);
    }
}

/// Ends every claim of this process (on SIGINT or SIGTERM).
pub fn release_locks() {
    let held: Vec<_> = HELD
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .collect();
    for (dir, path) in held {
        release(&dir, &path);
    }
}

/// Removes the holder file `path`, and the lock file when no process holds `dir` any more.
/// The lock file is never created here: when it is gone, whoever released last removed it
/// (an interrupt's handler and a run ending at the same moment must not leave a new one).
fn release(dir: &Path, path: &Path) {
    let lock = dir.join(LOCK);
    let Ok(guard) = open_locked(&lock, false) else {
        let _ = std::fs::remove_file(path);
        return;
    };
    let _ = std::fs::remove_file(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if holders(dir, name.as_deref().unwrap_or_default()).is_ok_and(|h| h.is_empty()) {
        // Removed while locked: a process waiting on it then finds another file there.
        let _ = std::fs::remove_file(&lock);
    }
    drop(guard);
}

/// The processes holding `dir`, other than the holder file `mine`; the holder files of
/// processes that ended are removed.
fn holders(dir: &Path, mine: &str) -> Result<Vec<Holder>> {
    let entries = std::fs::read_dir(dir).map_err(|e| cannot_list(dir, e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == mine || !(name.starts_with(".gpuinit-") && name.ends_with(".holder")) {
            continue;
        }
        let Ok(mut file) = OpenOptions::new().read(true).write(true).open(entry.path()) else {
            continue;
        };
        match file.try_lock() {
            // No process holds it: its writer ended.
            Ok(()) => {
                let _ = std::fs::remove_file(entry.path());
            }
            Err(_) => {
                let mut text = String::new();
                let _ = (&mut file).take(MAX_HOLDER).read_to_string(&mut text);
                // One still being written (its process just created it) counts as a
                // holder of no run: another run is refused.
                found.push(Holder::parse(&text).unwrap_or(Holder {
                    pid: 0,
                    host: host_name(),
                    rank: u64::MAX,
                    run: 0,
                }));
            }
        }
    }
    Ok(found)
}

/// Opens the lock file at `path` (creating it when `create`) and locks it, making sure the file locked is
/// still the one at `path` (another process may have removed it meanwhile).
fn open_locked(path: &Path, create: bool) -> Result<File> {
    let cannot =
        |e: std::io::Error| Error::invalid(format!("cannot lock '{}': {e}", path.display()));
    for _ in 0..100 {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)
            .map_err(cannot)?;
        file.lock().map_err(cannot)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let same = match (file.metadata(), std::fs::symlink_metadata(path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                continue;
            }
        }
        return Ok(file);
    }
    Err(Error::invalid(format!(
        "cannot lock '{}': it keeps being replaced",
        path.display()
    )))
}
