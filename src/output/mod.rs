//! Output files written whole or not at all: every file the command line writes, and the
//! checkpoint files of [`crate::init::FileSink`], go through here, one way:
//!
//! - a regular file (or a path not there yet) is written under a temporary name beside it
//!   and renamed into place only when complete, keeping an existing file's mode; a failed
//!   or interrupted run leaves neither a partial file nor the temporary one;
//! - a symlink is followed, and its target replaced the same way, in the target's folder;
//! - a device, FIFO or socket (`/dev/null`, `/dev/stdout`, a named pipe) is written into,
//!   never replaced;
//! - `-` is standard output;
//! - an existing file the user may not write is refused, not replaced.
//!
//! Every error names the path (or standard output). A process that wants an interrupt to
//! leave no temporary file behind calls [`remove_temporaries`] from its signal handler (the
//! command line does, on SIGINT and SIGTERM); the library installs no handler itself.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

pub mod direct;
pub(crate) mod fault;

use direct::Direct;

/// Temporary files in the making, removed by the interrupt handler ([`remove_temporaries`]).
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(tmp: &Path) {
    TEMPORARIES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(tmp.to_path_buf());
}

fn unregister(tmp: &Path) {
    TEMPORARIES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|t| t != tmp);
}

/// Removes every temporary file still being written (on SIGINT or SIGTERM); a destination
/// already in place is untouched.
pub fn remove_temporaries() {
    for t in TEMPORARIES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
    {
        let _ = std::fs::remove_file(t);
    }
}

/// Where a path's bytes go.
#[derive(Debug)]
enum Place {
    Stdout,
    /// A device, FIFO or socket: opened and written in place.
    Special(PathBuf),
    /// A regular file, or none yet: `tmp` beside `dest`, renamed over it at the end, with
    /// the replaced file's permissions.
    Regular {
        dest: PathBuf,
        tmp: PathBuf,
        keep: Option<Permissions>,
    },
}

/// `path` with every symlink followed. An existing file resolves to its real path; a
/// dangling link to the path its last link names (created there).
fn follow(path: &Path) -> Result<PathBuf> {
    if path.exists() {
        return std::fs::canonicalize(path).map_err(|e| cannot(path, e));
    }
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p).map_err(|e| cannot(path, e))?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(Error::invalid(format!(
        "output '{}': too many levels of symbolic links",
        path.display()
    )))
}

fn cannot(path: &Path, e: io::Error) -> Error {
    Error::invalid(format!("cannot write output '{}': {e}", path.display()))
}

impl Place {
    fn of(path: &str) -> Result<Place> {
        if is_stdout(path) {
            return Ok(Place::Stdout);
        }
        let given = Path::new(path);
        // A device or pipe, reached through links or not (/dev/stdout), is written in place.
        if std::fs::metadata(given).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            return Ok(Place::Special(given.to_path_buf()));
        }
        let dest = follow(given)?;
        let keep = match std::fs::metadata(&dest) {
            Ok(m) if m.is_dir() => {
                return Err(Error::invalid(format!(
                    "cannot write output '{path}': it is a directory"
                )))
            }
            Ok(m) if !m.is_file() => return Ok(Place::Special(dest)),
            Ok(m) => {
                let probe = OpenOptions::new().write(true).open(&dest);
                if m.permissions().readonly() || probe.is_err() {
                    return Err(Error::invalid(format!(
                        "output '{path}' exists and may not be written (read-only); it was not replaced"
                    )));
                }
                Some(m.permissions())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(cannot(given, e)),
        };
        let stem = dest
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::invalid(format!("output '{path}' names no file")))?;
        // Hidden, and keeping the extension (image encoders choose the format by it).
        let ext = dest
            .extension()
            .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
        let tmp = dest.with_file_name(format!(".{stem}.partial-{}{ext}", std::process::id()));
        Ok(Place::Regular { dest, tmp, keep })
    }
}

/// Whether `path` is standard output itself (`-`, `/dev/stdout`, or the file or pipe that
/// standard output is), so what a command says must go to standard error instead.
pub fn is_stdout(path: &str) -> bool {
    if path == "-" {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let id = |m: std::fs::Metadata| (m.dev(), m.ino());
        let target = std::fs::metadata(path).map(id);
        let stdout = std::fs::metadata("/proc/self/fd/1")
            .or_else(|_| std::fs::metadata("/dev/fd/1"))
            .map(id);
        if let (Ok(a), Ok(b)) = (target, stdout) {
            return a == b;
        }
    }
    false
}

/// Whether `path` is a device, FIFO or socket (reached through links or not), which is
/// written into in place and never replaced.
pub fn is_special(path: &str) -> Result<bool> {
    Ok(matches!(Place::of(path)?, Place::Special(_)))
}

/// A file another library writes by path (a plot): [`PathOutput::path`] is where to write,
/// [`PathOutput::finish`] puts it in place.
pub struct PathOutput {
    place: Place,
    shown: String,
}

impl PathOutput {
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let place = Place::of(&shown)?;
        if let Place::Regular { tmp, .. } = &place {
            // Created now, so an unwritable folder fails before any work.
            File::create(tmp).map_err(|e| cannot(path, e))?;
            register(tmp);
        }
        Ok(PathOutput { place, shown })
    }

    /// Where to write the bytes.
    pub fn path(&self) -> &Path {
        match &self.place {
            Place::Regular { tmp, .. } => tmp,
            Place::Special(p) => p,
            Place::Stdout => Path::new("/dev/stdout"),
        }
    }

    pub fn finish(mut self) -> Result<()> {
        let place = std::mem::replace(&mut self.place, Place::Stdout);
        publish(place, &format!("'{}'", self.shown))
    }
}

impl Drop for PathOutput {
    fn drop(&mut self) {
        discard(&self.place);
    }
}

/// Renames a finished temporary file into place with the replaced file's permissions;
/// `shown` names the output in errors.
fn publish(place: Place, shown: &str) -> Result<()> {
    let Place::Regular { dest, tmp, keep } = place else {
        return Ok(());
    };
    let done = keep
        .map_or(Ok(()), |p| std::fs::set_permissions(&tmp, p))
        .and_then(|_| std::fs::rename(&tmp, &dest));
    unregister(&tmp);
    done.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::write(shown, e)
    })
}

fn discard(place: &Place) {
    if let Place::Regular { tmp, .. } = place {
        let _ = std::fs::remove_file(tmp);
        unregister(tmp);
    }
}

enum Writer {
    Stdout(io::StdoutLock<'static>),
    File(BufWriter<File>),
    Direct(Direct),
}

/// An output being written; [`Output::finish`] publishes it, dropping it discards it.
pub struct Output {
    sink: Option<Writer>,
    place: Place,
    /// "'path'" or "standard output", for messages.
    shown: String,
    bytes: Vec<u8>,
    /// Bytes written, and how many of them have been handed to the disk.
    written: u64,
    handed: u64,
    /// Bytes of a regular file so far, for [`fault::Fault::WriteAfter`].
    total: u64,
}

impl Output {
    /// Opens `path` (`-` for standard output) for bytes as they are written.
    pub fn create(path: &str) -> Result<Self> {
        Self::open(path, false)
    }

    /// Opens `path` like [`Output::create`], but a regular file is written
    /// past the page cache where its file system allows ([`direct`]): for large files
    /// written once, such as checkpoints.
    pub fn create_direct(path: &str) -> Result<Self> {
        Self::open(path, true)
    }

    fn open(path: &str, direct: bool) -> Result<Self> {
        let place = Place::of(path)?;
        let sink = match &place {
            Place::Stdout => Writer::Stdout(io::stdout().lock()),
            Place::Special(p) => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(p)
                    .map_err(|e| cannot(Path::new(path), e))?;
                Writer::File(BufWriter::new(file))
            }
            Place::Regular { tmp, .. } => {
                // Registered first: an interrupt from the moment the file exists removes it.
                register(tmp);
                Self::create_regular(tmp, direct).map_err(|e| {
                    unregister(tmp);
                    cannot(Path::new(path), e)
                })?
            }
        };
        let shown = match place {
            Place::Stdout => "standard output".to_string(),
            _ => format!("'{path}'"),
        };
        Ok(Output {
            sink: Some(sink),
            place,
            shown,
            bytes: Vec::new(),
            written: 0,
            handed: 0,
            total: 0,
        })
    }

    /// The temporary file, past the page cache if `direct` and its file system allows.
    fn create_regular(tmp: &Path, direct: bool) -> io::Result<Writer> {
        if direct {
            if let Some(d) = Direct::create(tmp)? {
                return Ok(Writer::Direct(d));
            }
        }
        let file = File::create(tmp)?;
        Ok(Writer::File(BufWriter::with_capacity(1 << 20, file)))
    }

    /// Refuses to start when the destination's file system has less room than `bytes`
    /// (where the OS says how much it has).
    pub fn check_space(&self, bytes: u64) -> Result<()> {
        let Place::Regular { tmp, .. } = &self.place else {
            return Ok(());
        };
        let dir = tmp.parent().filter(|d| !d.as_os_str().is_empty());
        let Ok(free) = fs4::available_space(dir.unwrap_or(Path::new("."))) else {
            return Ok(());
        };
        if bytes > free {
            return Err(Error::invalid(format!(
                "output {} needs {:.2} GB but its file system has {:.2} GB free",
                self.shown,
                bytes as f64 / 1e9,
                free as f64 / 1e9
            )));
        }
        Ok(())
    }

    /// Appends bytes as they are.
    pub fn write_bytes(&mut self, b: &[u8]) -> Result<()> {
        let regular = matches!(self.place, Place::Regular { .. });
        if let (fault::Fault::WriteAfter(limit), true) = (fault::fault(), regular) {
            self.total += b.len() as u64;
            if self.total > limit {
                let full = io::Error::new(io::ErrorKind::StorageFull, "no space left on device");
                return Err(Error::write(self.shown.clone(), full));
            }
        }
        let r = match self.sink.as_mut() {
            Some(Writer::Stdout(w)) => w.write_all(b),
            Some(Writer::File(w)) => {
                self.written += b.len() as u64;
                let due = regular && self.written - self.handed >= WRITEBACK_STEP;
                w.write_all(b).and_then(|_| {
                    if due {
                        w.flush()?;
                        start_writeback(w.get_ref(), self.handed, self.written - self.handed);
                        self.handed = self.written;
                    }
                    Ok(())
                })
            }
            Some(Writer::Direct(d)) => d.write_all(b),
            None => Ok(()),
        };
        r.map_err(|e| Error::write(self.shown.clone(), e))
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

    /// Flushes, syncs (a regular file) and closes the output without publishing it: a
    /// command that publishes many files together seals each as it completes (holding no
    /// descriptor), then finishes them all. Nothing more may be written to it.
    pub fn seal(&mut self) -> Result<()> {
        let regular = matches!(self.place, Place::Regular { .. });
        let r = match self.sink.take() {
            Some(Writer::File(mut w)) => w.flush().and_then(|_| {
                if regular {
                    w.get_ref().sync_all()
                } else {
                    Ok(())
                }
            }),
            Some(Writer::Direct(d)) => d.finish().and_then(|f| f.sync_all()),
            Some(Writer::Stdout(_)) | None => Ok(()),
        };
        r.map_err(|e| Error::write(self.shown.clone(), e))
    }

    /// Flushes and, for a regular file, syncs and renames it into place.
    pub fn finish(mut self) -> Result<()> {
        let shown = self.shown.clone();
        let written = match self.sink.take() {
            Some(Writer::Stdout(mut w)) => w.flush(),
            Some(Writer::File(w)) => {
                w.into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|file| match &self.place {
                        Place::Regular { .. } => file.sync_all(),
                        _ => Ok(()),
                    })
            }
            Some(Writer::Direct(d)) => d.finish().and_then(|f| f.sync_all()),
            None => Ok(()),
        };
        written.map_err(|e| Error::write(shown.clone(), e))?;
        let place = std::mem::replace(&mut self.place, Place::Stdout);
        publish(place, &shown)
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.sink = None;
        discard(&self.place);
    }
}

/// Bytes of a regular file after which what was written is handed to the disk: a writer
/// slower than the disk (a generator) then keeps the disk busy from the start, instead of
/// from when the kernel's dirty-page threshold (gigabytes) is reached, as `dd` does.
const WRITEBACK_STEP: u64 = 64 << 20;

/// Starts writing `len` bytes of `file` from `from` to the disk, without waiting (Linux's
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`); advisory, so its failure is ignored. The sync
/// before publication still waits for every byte.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(from), Ok(len)) = (i64::try_from(from), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open for as long as `file` is borrowed, and the call only
    // schedules writeback of pages already written; it touches no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &File, _: u64, _: u64) {}

/// Refuses two outputs that are the same file (one would silently replace the other), before
/// either is opened; devices and standard output may take both.
pub fn distinct(outputs: &[(&str, Option<&str>)]) -> Result<()> {
    let real = |p: &str| match Place::of(p) {
        Ok(Place::Regular { dest, .. }) => Some(dest),
        _ => None,
    };
    for (i, (a, pa)) in outputs.iter().enumerate() {
        for (b, pb) in &outputs[i + 1..] {
            let (Some(x), Some(y)) = (pa.and_then(real), pb.and_then(real)) else {
                continue;
            };
            if x == y {
                return Err(Error::invalid(format!(
                    "{a} and {b} name the same file '{}'",
                    x.display()
                )));
            }
        }
    }
    Ok(())
}
