//! `gpuinit init`: a whole model's initial weights as a safetensors checkpoint
//! (docs/CHECKPOINT.md). A spec (from a file, or from a Hugging Face config by that
//! library's init rules) lists the tensors; each tensor's stream comes from its name; the
//! files and their bytes depend on the spec, the seed and the largest shard size alone, so
//! that any number of processes, each writing its own files, write one checkpoint.
//!
//! Writing one: [`load_spec`] (or [`ModelSpec::from_json`]), a [`WritePlan`] for this
//! process, and [`write_checkpoint`] into a [`Sink`]: a folder ([`FileSink`], what `gpuinit
//! init` uses), memory ([`MemorySink`]), nothing ([`Discard`]), or the caller's own.
//! Reading one back: [`Checkpoint`], and [`check()`] against its spec.

pub mod check;
mod check_report;
pub mod files;
pub mod folder;
pub mod hf;
mod judge;
pub mod load;
pub mod read;
pub mod safetensors;
pub mod sink;
pub mod spec;
#[cfg(test)]
mod tests;
pub mod write;

use std::ops::Range;

use crate::engine::Generator;
use crate::error::{Error, Result};
use crate::rng::{check_range, Start};
pub use check::{check, CheckpointReport};
pub use files::FileSink;
pub use folder::{layout_in, release_locks, FolderLock, Layout};
pub use load::{load_spec, read_text, read_text_limited, MAX_TEXT};
pub use read::Checkpoint;
pub use safetensors::{file_name, index, parse_size, plan, split, Metadata, ShardFile};
pub use sink::{Discard, FileKind, FileStart, MemorySink, Sink};
pub use spec::{resolve, Dtype, ModelSpec, Planned, TensorSpec, MAX_TENSORS};
pub use write::{write_checkpoint, Summary, WritePlan, WriteProgress, INDEX};

/// Process `rank` of `size`, as `--shard i/n` or a launcher's environment gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub rank: u64,
    pub size: u64,
}

impl Shard {
    pub const ALONE: Shard = Shard { rank: 0, size: 1 };

    /// `i/n` with i in [0, n).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || Error::invalid(format!("--shard '{text}' is not i/n with 0 <= i < n"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (rank, size) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(rank, size).map_err(|_| bad())
    }

    pub fn new(rank: u64, size: u64) -> Result<Shard> {
        if size == 0 || rank >= size {
            return Err(Error::invalid(format!(
                "shard {rank} of {size} is outside [0, {size})"
            )));
        }
        Ok(Shard { rank, size })
    }

    /// From Slurm (`SLURM_PROCID`/`SLURM_NTASKS`), torchrun (`RANK`/`WORLD_SIZE`) or Open MPI
    /// (`OMPI_COMM_WORLD_RANK`/`OMPI_COMM_WORLD_SIZE`), the first pair set; `ALONE` if none.
    /// A pair half set (a rank without the size, or the size alone) is refused, not taken
    /// for a process alone.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        for (r, n) in [
            ("SLURM_PROCID", "SLURM_NTASKS"),
            ("RANK", "WORLD_SIZE"),
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ] {
            match (var(r), var(n)) {
                (Some(v), None) => {
                    return Err(Error::invalid(format!(
                        "{r}={v} is set but {n} is not; set both, neither, or pass --shard i/n"
                    )))
                }
                (None, Some(v)) => {
                    return Err(Error::invalid(format!(
                        "{n}={v} is set but {r} is not; set both, neither, or pass --shard i/n"
                    )))
                }
                _ => {}
            }
            if let (Some(rank), Some(size)) = (var(r), var(n)) {
                let bad =
                    || Error::invalid(format!("{r}={rank} {n}={size} is not a rank in [0, size)"));
                let (rank, size) = (
                    rank.trim().parse().map_err(|_| bad())?,
                    size.trim().parse().map_err(|_| bad())?,
                );
                return Shard::new(rank, size).map_err(|_| bad());
            }
        }
        Ok(Shard::ALONE)
    }

    /// Whether this process writes file `k` of the plan (files are dealt round-robin).
    pub fn writes(&self, k: usize) -> bool {
        k as u64 % self.size == self.rank
    }

    /// Whether this process writes the index (process 0, as one must).
    pub fn writes_index(&self) -> bool {
        self.rank == 0
    }
}

/// Encoded bytes, `buf[..len]`. The buffer keeps its longest length when it is refilled
/// for a shorter chunk, so that a later longer one need not zero it again (which cost 7% of
/// generating a checkpoint whose tensors alternate in size).
pub struct Chunk {
    pub buf: Vec<u8>,
    pub len: usize,
}

impl Chunk {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Encodes tensors into their bytes (row-major, little-endian, in their dtype): generated
/// on the stream of their names under one seed, zero rows cleared, rounded to nearest even
/// for bf16 and f16. It keeps its scratch space from tensor to tensor, and takes the
/// buffers it fills from its caller, who may hand back used ones: a model of a thousand
/// tensors then costs no fresh pages after the first few chunks.
pub struct Encoder<'a> {
    gen: &'a dyn Generator,
    seed: u64,
    scratch: Vec<f32>,
}

impl<'a> Encoder<'a> {
    pub fn new(gen: &'a dyn Generator, seed: u64) -> Self {
        Encoder {
            gen,
            seed,
            scratch: Vec::new(),
        }
    }

    /// Hands elements `first..first + count` of `t` to `sink` in chunks of at most the
    /// generator's chunk, each in a buffer from `buffer` (any length; it only grows).
    pub fn encode(
        &mut self,
        t: &Planned,
        (first, count): (u64, u64),
        buffer: &mut dyn FnMut() -> Vec<u8>,
        sink: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        check_range(first, count)?;
        let size = t.dtype.size() as usize;
        let chunk = self.gen.chunk().max(1);
        let mut done = 0;
        while done < count {
            let n = (count - done).min(chunk) as usize;
            let at = Start {
                seed: self.seed,
                stream: t.stream,
                first: first + done,
            };
            let mut buf = buffer();
            if buf.len() < n * size {
                buf.resize(n * size, 0);
            }
            let bytes = &mut buf[..n * size];
            // f32 goes straight into the buffer when it is aligned for it (large
            // allocations are); other dtypes are rounded from the scratch.
            match bytemuck::try_cast_slice_mut::<u8, f32>(bytes) {
                Ok(out) if t.dtype == Dtype::F32 => self.gen.fill_values(&t.sampler, at, out)?,
                _ => {
                    self.scratch.resize(n, 0.0);
                    self.gen.fill_values(&t.sampler, at, &mut self.scratch)?;
                    t.dtype.encode_into(&self.scratch, bytes);
                }
            }
            for r in zero_spans(t, first + done, n) {
                bytes[r.start * size..r.end * size].fill(0);
            }
            sink(Chunk { buf, len: n * size })?;
            done += n as u64;
        }
        Ok(())
    }
}

/// Elements `first..first + count` of `t`, encoded, in one vector.
pub fn encode_range(
    gen: &dyn Generator,
    t: &Planned,
    seed: u64,
    span: (u64, u64),
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    Encoder::new(gen, seed).encode(t, span, &mut Vec::new, &mut |c| {
        out.extend_from_slice(c.bytes());
        Ok(())
    })?;
    Ok(out)
}

/// The parts of elements `at..at + len` of `t` that lie in its zero rows, as ranges of
/// positions in that slice.
pub fn zero_spans(t: &Planned, at: u64, len: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let row = t.shape.iter().skip(1).product::<u64>();
    let end = at + len as u64;
    t.zero_rows.iter().filter_map(move |&r| {
        let (from, to) = ((r * row).max(at), ((r + 1) * row).min(end));
        (from < to).then(|| (from - at) as usize..(to - at) as usize)
    })
}

/// What made a checkpoint's normal values: `cpu`, or the adapter and its driver. Uniform
/// and constant values are the same bits on every device; normal-family values are the same
/// bits only from the same kind of device (docs/STREAM.md).
pub fn device_kind(gen: &dyn Generator) -> String {
    match gen.adapter() {
        None => "cpu".into(),
        Some(a) => format!("{} ({}, {} {})", a.name, a.backend, a.driver, a.driver_info)
            .trim_end()
            .to_string(),
    }
}
