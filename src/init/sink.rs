//! Where a checkpoint's bytes go. [`super::write_checkpoint`] hands a [`Sink`] each file in
//! turn: [`Sink::begin_file`], its bytes in order with [`Sink::write`], [`Sink::finish_file`];
//! then [`Sink::publish`] once every file is complete. The sink decides everything else:
//! files or memory, `O_DIRECT`, temporary names and their publication ([`super::FileSink`]),
//! or nothing at all ([`Discard`]).

use crate::error::{Error, Result};

/// What a file of a checkpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A safetensors file: its header, then its tensors' data (large, written once).
    Weights,
    /// `model.safetensors.index.json`, which names the file of every tensor.
    Index,
    /// A file the caller asked to have written beside the weights (a `config.json`).
    Other,
}

/// A file about to be written.
#[derive(Clone, Copy, Debug)]
pub struct FileStart<'a> {
    /// Its name in the checkpoint folder (`model-00001-of-00003.safetensors`).
    pub name: &'a str,
    /// How many bytes [`Sink::write`] will be given for it, in all.
    pub size: u64,
    pub kind: FileKind,
}

/// Receives a checkpoint's files, one at a time, each whole and in order. Files arrive in
/// this order: the index (if this process writes one), the other files, then the weights.
/// A sink dropped without [`Sink::publish`] (an error stopped the writing) should leave
/// nothing a reader could take for a checkpoint.
///
/// A sink of one's own: here each file's length and a checksum, the bytes kept nowhere.
///
/// ```
/// use gpuinit::init::{self, FileStart, ModelSpec, Shard, Sink, WritePlan};
/// use gpuinit::progress::Quiet;
/// use gpuinit::{CpuReference, Result};
///
/// #[derive(Default)]
/// struct Sums(Vec<(String, u64, u64)>);
///
/// impl Sink for Sums {
///     fn begin_file(&mut self, file: &FileStart) -> Result<()> {
///         self.0.push((file.name.to_string(), 0, 0));
///         Ok(())
///     }
///     fn write(&mut self, bytes: &[u8]) -> Result<()> {
///         let (_, len, sum) = self.0.last_mut().unwrap();
///         *len += bytes.len() as u64;
///         *sum = bytes.iter().fold(*sum, |s, &b| s.wrapping_mul(31).wrapping_add(b as u64));
///         Ok(())
///     }
///     fn finish_file(&mut self) -> Result<()> {
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<()> {
/// let spec = ModelSpec::from_json(
///     r#"{"tensors": [{"name": "w", "shape": [300, 200], "scheme": "he_uniform"}]}"#,
///     "the example spec",
/// )?;
/// let plan = WritePlan::new(&spec, 5_000_000_000, Shard::ALONE, 1)?;
/// let mut sums = Sums::default();
/// let summary = init::write_checkpoint(&plan, &CpuReference, &mut sums, &mut Quiet)?;
/// assert_eq!(sums.0.len(), 1);
/// assert_eq!(sums.0[0].1, summary.bytes); // the header and 300 * 200 f32 values
/// assert!(summary.bytes > 4 * 300 * 200);
/// # Ok(())
/// # }
/// ```
pub trait Sink {
    /// A new file starts; the previous one, if any, has been finished.
    fn begin_file(&mut self, file: &FileStart) -> Result<()>;
    /// The next bytes of the current file.
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// The current file is complete: every one of its bytes was written.
    fn finish_file(&mut self) -> Result<()>;
    /// Every file is complete: make them visible together.
    fn publish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Keeps every file in memory, by name, in the order written.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub files: Vec<(String, Vec<u8>)>,
    open: bool,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes of the file called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
}

impl Sink for MemorySink {
    fn begin_file(&mut self, file: &FileStart) -> Result<()> {
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(file.size as usize)
            .map_err(|e| Error::invalid(format!("'{}' does not fit in memory: {e}", file.name)))?;
        self.files.push((file.name.to_string(), bytes));
        self.open = true;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self.files.last_mut() {
            Some((_, b)) if self.open => {
                b.extend_from_slice(bytes);
                Ok(())
            }
            _ => Err(Error::invalid("internal: bytes written outside a file")),
        }
    }

    fn finish_file(&mut self) -> Result<()> {
        self.open = false;
        Ok(())
    }
}

/// Keeps nothing, and counts the bytes: how fast a device makes a model without the disk.
///
/// ```
/// use gpuinit::init::{self, Discard, ModelSpec, Shard, WritePlan};
/// use gpuinit::progress::Quiet;
///
/// # fn main() -> gpuinit::Result<()> {
/// let spec = ModelSpec::from_json(
///     r#"{"tensors": [{"name": "w", "shape": [1000, 1000], "scheme": "xavier_uniform"}]}"#,
///     "the example spec",
/// )?;
/// let plan = WritePlan::new(&spec, 5_000_000_000, Shard::ALONE, 1)?;
/// let mut sink = Discard::default();
/// let summary = init::write_checkpoint(&plan, &gpuinit::CpuReference, &mut sink, &mut Quiet)?;
/// assert_eq!(sink.bytes, summary.bytes);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Discard {
    /// Bytes given so far.
    pub bytes: u64,
}

impl Sink for Discard {
    fn begin_file(&mut self, _: &FileStart) -> Result<()> {
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn finish_file(&mut self) -> Result<()> {
        Ok(())
    }
}
