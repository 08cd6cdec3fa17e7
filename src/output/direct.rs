//! Large regular files written past the page cache (Linux's `O_DIRECT`), for
//! checkpoints ([`crate::init::FileSink`]).
//!
//! Why: a checkpoint is written once and not read back soon. Through the page cache every
//! byte is first copied into freshly allocated pages, and on the machines gpuinit is
//! measured on (virtual ones) that allocation, not the disk, is the limit: `dd` writes
//! 0.2 to 0.8 GB/s to the disk through the cache and 1.0 to 1.3 GB/s with
//! `oflag=direct`. Here the bytes are gathered in aligned staging buffers and each full
//! one goes to the disk in one write; the tail that does not fill a block is written
//! through the cache after `O_DIRECT` is turned off. A file system that refuses `O_DIRECT`
//! (at open, or with `EINVAL` at a write) gets the ordinary writes instead.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::fault::{self, Fault};

/// The alignment `O_DIRECT` asks of the buffer, the file offset and the length: the
/// largest logical block size in common use.
const ALIGN: usize = 4096;

/// Bytes a write hands to the disk at once.
const STAGE: usize = 16 << 20;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(4096))]
struct Block([u8; ALIGN]);

/// A file being written with `O_DIRECT`: bytes are staged here, and a thread of its own
/// writes each full stage while the next one fills, so the copy into the stage never
/// leaves the disk idle (it cost 15% of the rate when the two took turns).
pub struct Direct {
    stage: Vec<Block>,
    /// Bytes waiting in `stage`.
    len: usize,
    /// Stages allocated so far (at most [`STAGES`]).
    stages: usize,
    to_disk: Option<mpsc::SyncSender<(Vec<Block>, usize)>>,
    written: mpsc::Receiver<Vec<Block>>,
    disk: Option<JoinHandle<io::Result<Disk>>>,
}

/// Stages in use: one filling, one being written.
const STAGES: usize = 2;

/// The writing thread's side: the file, and where the next block goes.
struct Disk {
    file: File,
    offset: u64,
    direct: bool,
    /// Writes past the first block fail with `EINVAL` while `direct` ([`Fault::DirectEinval`]).
    einval: bool,
}

impl Direct {
    /// Creates (or truncates) `path` for direct writes; `None` where the file system or the
    /// platform offers none, so the caller writes it the ordinary way.
    pub fn create(path: &Path) -> io::Result<Option<Direct>> {
        Self::create_with(path, fault::fault())
    }

    /// [`Direct::create`] with `fault` injected.
    pub(crate) fn create_with(path: &Path, fault: Fault) -> io::Result<Option<Direct>> {
        let Some(file) = open_direct(path, fault == Fault::DirectOpen)? else {
            return Ok(None);
        };
        let (to_disk, full) = mpsc::sync_channel::<(Vec<Block>, usize)>(1);
        let (give_back, written) = mpsc::channel();
        let disk = std::thread::spawn(move || {
            let mut disk = Disk {
                file,
                offset: 0,
                direct: true,
                einval: fault == Fault::DirectEinval,
            };
            for (stage, n) in full {
                disk.write_blocks(&bytemuck::cast_slice::<Block, u8>(&stage)[..n])?;
                let _ = give_back.send(stage);
            }
            Ok(disk)
        });
        Ok(Some(Direct {
            stage: new_stage(),
            len: 0,
            stages: 1,
            to_disk: Some(to_disk),
            written,
            disk: Some(disk),
        }))
    }

    /// Appends `b`; every full stage goes to the disk.
    pub fn write_all(&mut self, mut b: &[u8]) -> io::Result<()> {
        while !b.is_empty() {
            let n = (STAGE - self.len).min(b.len());
            let at = self.len;
            bytemuck::cast_slice_mut::<Block, u8>(&mut self.stage)[at..at + n]
                .copy_from_slice(&b[..n]);
            self.len += n;
            b = &b[n..];
            if self.len == STAGE {
                self.send(STAGE)?;
                self.stage = self.next_stage()?;
                self.len = 0;
            }
        }
        Ok(())
    }

    /// Writes everything and gives the file back, for the caller to sync.
    pub fn finish(mut self) -> io::Result<File> {
        let whole = self.len / ALIGN * ALIGN;
        let tail = bytemuck::cast_slice::<Block, u8>(&self.stage)[whole..self.len].to_vec();
        if whole > 0 {
            self.send(whole)?;
        }
        let mut disk = self.join()?;
        if !tail.is_empty() {
            // The part of a block at the end goes through the page cache.
            disk.buffered()?;
            disk.file.write_all(&tail)?;
        }
        Ok(disk.file)
    }

    /// Hands the first `n` bytes of the stage to the writing thread.
    fn send(&mut self, n: usize) -> io::Result<()> {
        let stage = std::mem::take(&mut self.stage);
        let sent = self.to_disk.as_ref().map(|t| t.send((stage, n)));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped on an error: that error.
            _ => Err(self.stopped()),
        }
    }

    /// An empty stage: a new one while fewer than [`STAGES`] exist, else one the thread
    /// has written.
    fn next_stage(&mut self) -> io::Result<Vec<Block>> {
        if let Ok(stage) = self.written.try_recv() {
            return Ok(stage);
        }
        if self.stages < STAGES {
            self.stages += 1;
            return Ok(new_stage());
        }
        match self.written.recv() {
            Ok(stage) => Ok(stage),
            Err(_) => Err(self.stopped()),
        }
    }

    /// Why the writing thread stopped early.
    fn stopped(&mut self) -> io::Error {
        match self.join() {
            Err(e) => e,
            Ok(_) => io::Error::other("the writing thread stopped early"),
        }
    }

    /// Waits for the writing thread to write all it was given.
    fn join(&mut self) -> io::Result<Disk> {
        self.to_disk = None;
        match self.disk.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the writing thread panicked")),
            None => Err(io::Error::other("the writing thread already stopped")),
        }
    }
}

fn new_stage() -> Vec<Block> {
    vec![Block([0; ALIGN]); STAGE / ALIGN]
}

impl Disk {
    /// Writes whole blocks at the current offset.
    fn write_blocks(&mut self, blocks: &[u8]) -> io::Result<()> {
        let written = if self.einval && self.direct && self.offset > 0 {
            Err(io::Error::from_raw_os_error(EINVAL))
        } else {
            self.file.write_all(blocks)
        };
        match written {
            Ok(()) => {}
            // Refused after all (a file system that accepted the flag but not the write, or
            // a short write that left the offset unaligned): the same bytes again, from
            // where they start, through the page cache.
            Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => {
                self.buffered()?;
                self.file.seek(SeekFrom::Start(self.offset))?;
                self.write_again(blocks)?;
            }
            Err(e) => return Err(e),
        }
        self.offset += blocks.len() as u64;
        Ok(())
    }

    /// The retry after `EINVAL`, refused again while `O_DIRECT` is still on under
    /// [`Fault::DirectEinval`].
    fn write_again(&mut self, blocks: &[u8]) -> io::Result<()> {
        if self.einval && self.direct {
            return Err(io::Error::from_raw_os_error(EINVAL));
        }
        self.file.write_all(blocks)
    }

    /// Turns `O_DIRECT` off: what follows goes through the page cache.
    fn buffered(&mut self) -> io::Result<()> {
        if self.direct {
            clear_direct(&self.file)?;
            self.direct = false;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

#[cfg(target_os = "linux")]
fn open_direct(path: &Path, refuse: bool) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = if refuse {
        // [`Fault::DirectOpen`]: what a file system without `O_DIRECT` answers.
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
    };
    match opened {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &Path, _: bool) -> io::Result<Option<File>> {
    Ok(None)
}

#[cfg(target_os = "linux")]
fn clear_direct(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: plain fcntl calls on a descriptor that `file` keeps open; no memory is passed.
    let r = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            flags
        } else {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT)
        }
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn clear_direct(_: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder in the build folder, on the disk, where `/tmp` may be a tmpfs without
    /// `O_DIRECT`.
    fn folder(name: &str) -> std::path::PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("direct-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Says loudly that `dir` refuses `O_DIRECT`, and fails under
    /// `GPUINIT_REQUIRE_ODIRECT=1`.
    fn skipped(dir: &Path) {
        let why = format!("{} refuses O_DIRECT", dir.display());
        assert!(
            std::env::var("GPUINIT_REQUIRE_ODIRECT").as_deref() != Ok("1"),
            "{why} (GPUINIT_REQUIRE_ODIRECT=1)"
        );
        eprintln!("SKIPPED, NOT TESTED: {why}");
    }

    /// The open file's status flags as /proc says (`flags:` of its fdinfo, octal).
    #[cfg(target_os = "linux")]
    fn flags_of(path: &Path) -> i32 {
        for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l == path) {
                let info = format!("/proc/self/fdinfo/{}", fd.file_name().to_string_lossy());
                let info = std::fs::read_to_string(info).unwrap();
                let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
                return i32::from_str_radix(flags.trim(), 8).unwrap();
            }
        }
        panic!("{} is not open", path.display());
    }

    /// Every length around the block and stage boundaries, in uneven pieces, reads back as
    /// written, with `fault` injected; `false` where the file system refuses `O_DIRECT`.
    fn read_back(name: &str, fault: Fault) -> bool {
        let dir = folder(name);
        let total = STAGE + 3 * ALIGN + 517;
        let data: Vec<u8> = (0..total).map(|i| (i * 7 + i / 4099) as u8).collect();
        for len in [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, STAGE, total] {
            let path = dir.join(format!("f{len}"));
            let Some(mut w) = Direct::create_with(&path, fault).unwrap() else {
                // Then `Output` never uses `Direct` here either.
                std::fs::remove_dir_all(&dir).unwrap();
                return false;
            };
            // Past the page cache indeed, while the blocks are written.
            #[cfg(target_os = "linux")]
            assert_ne!(flags_of(&path) & libc::O_DIRECT, 0, "{len}: no O_DIRECT");
            for piece in data[..len].chunks(ALIGN + 333) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap().sync_all().unwrap();
            let back = std::fs::read(&path).unwrap();
            let differs = back.iter().zip(&data[..len]).position(|(a, b)| a != b);
            assert!(
                back.len() == len && differs.is_none(),
                "{len} bytes written, {} read back, the first differing at {differs:?}",
                back.len()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
        true
    }

    #[test]
    fn writes_read_back_exactly() {
        if !read_back("plain", Fault::None) {
            skipped(&folder("plain"));
        }
    }

    /// `EINVAL` at a write after `O_DIRECT` was accepted (past the first stage, at a
    /// nonzero offset): the same bytes go again through the page cache, at their offset.
    #[test]
    fn einval_after_acceptance_rewrites_at_the_offset() {
        if !read_back("einval", Fault::DirectEinval) {
            skipped(&folder("einval"));
        }
    }

    /// A file system that refuses `O_DIRECT` at open: no `Direct`, and no error (the
    /// caller then writes through the page cache; tests/faults.rs checks its bytes).
    #[test]
    fn a_refusal_at_open_is_none() {
        let dir = folder("open");
        let path = dir.join("f");
        assert!(Direct::create_with(&path, Fault::DirectOpen)
            .unwrap()
            .is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
