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
}

impl Direct {
    /// Creates (or truncates) `path` for direct writes; `None` where the file system or the
    /// platform offers none, so the caller writes it the ordinary way.
    pub fn create(path: &Path) -> io::Result<Option<Direct>> {
        let Some(file) = open_direct(path)? else {
            return Ok(None);
        };
        let (to_disk, full) = mpsc::sync_channel::<(Vec<Block>, usize)>(1);
        let (give_back, written) = mpsc::channel();
        let disk = std::thread::spawn(move || {
            let mut disk = Disk {
                file,
                offset: 0,
                direct: true,
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
        match self.file.write_all(blocks) {
            Ok(()) => {}
            // Refused after all (a file system that accepted the flag but not the write, or
            // a short write that left the offset unaligned): the same bytes again, from
            // where they start, through the page cache.
            Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => {
                self.buffered()?;
                self.file.seek(SeekFrom::Start(self.offset))?;
                self.file.write_all(blocks)?;
            }
            Err(e) => return Err(e),
        }
        self.offset += blocks.len() as u64;
        Ok(())
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
fn open_direct(path: &Path) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &Path) -> io::Result<Option<File>> {
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

    /// Every length around the block and stage boundaries, in uneven pieces, reads back as
    /// written. In the build folder, on the disk, where `/tmp` may be a tmpfs without
    /// `O_DIRECT`.
    #[test]
    fn writes_read_back_exactly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("direct-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let total = STAGE + 3 * ALIGN + 517;
        let data: Vec<u8> = (0..total).map(|i| (i * 7 + i / 4099) as u8).collect();
        for len in [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, STAGE, total] {
            let path = dir.join(format!("f{len}"));
            let Some(mut w) = Direct::create(&path).unwrap() else {
                // Then `Output` never uses `Direct` here either.
                eprintln!("SKIPPED: {} refuses O_DIRECT", dir.display());
                return;
            };
            for piece in data[..len].chunks(ALIGN + 333) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap().sync_all().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), &data[..len], "{len}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
