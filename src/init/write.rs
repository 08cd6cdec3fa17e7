//! Writing a checkpoint: [`write_checkpoint`] generates every tensor of this process's files
//! on one thread while the calling thread hands the bytes to a [`Sink`].

use std::sync::mpsc;

use super::safetensors::{self, Metadata, ShardFile};
use super::sink::{FileKind, FileStart, Sink};
use super::spec::{resolve, ModelSpec, Planned};
use super::{device_kind, Chunk, Encoder, Shard};
use crate::engine::Generator;
use crate::error::{Error, Result};

/// The name of a sharded checkpoint's index.
pub const INDEX: &str = "model.safetensors.index.json";

/// What one process writes of a checkpoint: the tensors, the largest data per file, which
/// process this is, and the seed. The files, and every byte in them, depend on the tensors,
/// the size limit and the seed alone (and on the device, for normal-family values), so any
/// number of processes, each writing its own files, write one checkpoint.
#[derive(Clone, Debug)]
pub struct WritePlan {
    pub tensors: Vec<Planned>,
    /// Largest data per file, in bytes, as Hugging Face counts it.
    pub max_shard_size: u64,
    pub shard: Shard,
    pub seed: u64,
    /// Files written beside the weights, by the process that writes the index: name and
    /// contents (the Hugging Face `config.json` the spec came from).
    pub extra: Vec<(String, String)>,
}

impl WritePlan {
    /// The tensors of `spec`, resolved, for process `shard` of a checkpoint under `seed`.
    pub fn new(spec: &ModelSpec, max_shard_size: u64, shard: Shard, seed: u64) -> Result<Self> {
        Ok(WritePlan {
            tensors: resolve(spec)?,
            max_shard_size,
            shard,
            seed,
            extra: Vec::new(),
        })
    }

    /// Also writes the file `name` holding `text`, beside the weights.
    pub fn with_file(mut self, name: &str, text: &str) -> Self {
        self.extra.push((name.to_string(), text.to_string()));
        self
    }

    /// The safetensors files of the whole checkpoint, as indices into the tensors.
    pub fn groups(&self) -> Vec<Vec<usize>> {
        safetensors::split(&self.tensors, self.max_shard_size)
    }

    /// Which safetensors files this process writes (files are dealt round-robin).
    pub fn mine(&self) -> Vec<usize> {
        (0..self.groups().len())
            .filter(|&k| self.shard.writes(k))
            .collect()
    }

    /// Whether this process writes the index: process 0 of a checkpoint of several files.
    pub fn writes_index(&self) -> bool {
        self.groups().len() > 1 && self.shard.writes_index()
    }

    /// The names of the files this process writes: its weights, the index, the others.
    pub fn names(&self) -> Vec<String> {
        let n = self.groups().len();
        let mut names: Vec<String> = self
            .mine()
            .iter()
            .map(|&k| safetensors::file_name(k, n))
            .collect();
        names.extend(self.writes_index().then(|| INDEX.to_string()));
        if self.shard.writes_index() {
            names.extend(self.extra.iter().map(|(name, _)| name.clone()));
        }
        names
    }

    /// The names of every file of the whole checkpoint, whoever writes them: the weights,
    /// the index of several, the others.
    pub fn all_names(&self) -> Vec<String> {
        let n = self.groups().len();
        let mut names: Vec<String> = (0..n).map(|k| safetensors::file_name(k, n)).collect();
        names.extend((n > 1).then(|| INDEX.to_string()));
        names.extend(self.extra.iter().map(|(name, _)| name.clone()));
        names
    }

    /// What decides the checkpoint's bytes, hashed: the tensors, the size limit, the seed
    /// and the number of processes (the other files, which the first process alone
    /// writes, come from the same config). The processes of one run agree on it; two runs
    /// into one folder that differ in any of these do not.
    pub fn run_id(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (self.seed, self.max_shard_size, self.shard.size).hash(&mut h);
        for t in &self.tensors {
            (
                &t.name,
                &t.shape,
                t.dtype.size(),
                t.dtype.safetensors_name(),
            )
                .hash(&mut h);
            (&t.scheme, &t.zero_rows).hash(&mut h);
        }
        h.finish()
    }

    /// The tensor data this process writes, in bytes (headers aside).
    pub fn data_bytes(&self) -> u64 {
        let groups = self.groups();
        self.mine()
            .iter()
            .flat_map(|&k| &groups[k])
            .map(|&i| self.tensors[i].bytes)
            .sum()
    }

    /// The whole checkpoint's tensor data, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes).sum()
    }
}

/// Bytes handed to the sink, as they go: a progress bar's feed.
pub trait WriteProgress {
    /// Writing starts; `total` bytes of safetensors files will follow.
    fn start(&mut self, _total: u64) {}
    /// `bytes` more were handed to the sink.
    fn advance(&mut self, bytes: u64);
    /// The last byte was handed to the sink.
    fn finish(&mut self) {}
}

impl WriteProgress for crate::progress::Quiet {
    fn advance(&mut self, _: u64) {}
}

/// What [`write_checkpoint`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Files handed to the sink: safetensors files, the index and the others.
    pub files: usize,
    /// Bytes of the safetensors files (headers and data).
    pub bytes: u64,
    /// What made the values ([`device_kind`]), as every file's metadata records it.
    pub device: String,
}

/// Writes this process's files of the checkpoint `plan` into `sink`, generated by `gen`:
/// the index and the other files first, then each safetensors file (its header, then its
/// tensors' bytes, generated on a thread of their own while this one hands the previous
/// chunk to the sink), then [`Sink::publish`].
///
/// A whole checkpoint in memory, read back by the crate's own reader:
///
/// ```
/// use gpuinit::init::{self, Checkpoint, MemorySink, ModelSpec, Shard, WritePlan};
/// use gpuinit::progress::Quiet;
/// use gpuinit::CpuReference;
///
/// # fn main() -> gpuinit::Result<()> {
/// let spec = ModelSpec::from_json(
///     r#"{"tensors": [
///         {"name": "fc1.weight", "shape": [64, 32], "scheme": "xavier_uniform"},
///         {"name": "fc1.bias", "shape": [64], "scheme": "zeros"},
///         {"name": "fc2.weight", "shape": [10, 64], "scheme": "kaiming_normal"}
///     ]}"#,
///     "the example spec",
/// )?;
/// // At most 8 KB of data per file: fc1.weight alone, then the other two.
/// let plan = WritePlan::new(&spec, 8_000, Shard::ALONE, 42)?;
/// let mut sink = MemorySink::new();
/// let summary = init::write_checkpoint(&plan, &CpuReference, &mut sink, &mut Quiet)?;
/// assert_eq!(summary.device, "cpu");
/// assert_eq!(summary.files, 3); // two safetensors files and the index
///
/// // The files on disk, opened as any checkpoint is.
/// let dir = std::env::temp_dir().join(format!("gpuinit-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// for (name, bytes) in &sink.files {
///     std::fs::write(dir.join(name), bytes)?;
/// }
/// let ckpt = Checkpoint::open(&dir)?;
/// assert_eq!(ckpt.tensors.len(), 3);
/// assert!(ckpt.problems.is_empty());
/// assert_eq!(ckpt.metadata["gpuinit.seed"], "42");
/// // Every tensor's bytes are those its name's stream gives under the seed.
/// let fc1 = ckpt.tensors.iter().find(|t| t.name == "fc1.weight").unwrap();
/// let want = init::encode_range(&CpuReference, &plan.tensors[0], 42, (0, 64 * 32))?;
/// assert_eq!(ckpt.read(fc1, 0, fc1.bytes)?, want);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub fn write_checkpoint(
    plan: &WritePlan,
    gen: &dyn Generator,
    sink: &mut dyn Sink,
    progress: &mut dyn WriteProgress,
) -> Result<Summary> {
    let device = device_kind(gen);
    let meta = Metadata {
        version: env!("CARGO_PKG_VERSION"),
        seed: plan.seed,
        device: &device,
    };
    let files = safetensors::plan(&plan.tensors, plan.max_shard_size, &meta)?;
    let mine: Vec<&ShardFile> = plan.mine().iter().map(|&k| &files[k]).collect();
    let mut count = mine.len();
    if plan.writes_index() {
        let text = safetensors::index(&plan.tensors, &files);
        whole_file(sink, INDEX, FileKind::Index, text.as_bytes())?;
        count += 1;
    }
    if plan.shard.writes_index() {
        for (name, text) in &plan.extra {
            whole_file(sink, name, FileKind::Other, text.as_bytes())?;
            count += 1;
        }
    }
    let bytes = write_files(gen, &plan.tensors, sink, &mine, plan.seed, progress)?;
    sink.publish()?;
    Ok(Summary {
        files: count,
        bytes,
        device,
    })
}

/// `bytes` as the whole file `name`.
fn whole_file(sink: &mut dyn Sink, name: &str, kind: FileKind, bytes: &[u8]) -> Result<()> {
    let size = bytes.len() as u64;
    sink.begin_file(&FileStart { name, size, kind })?;
    sink.write(bytes)?;
    sink.finish_file()
}

/// Generates every tensor of `files` on one thread while this one hands the last chunk to
/// the sink (at most two chunks wait between them); returns the bytes written.
fn write_files(
    gen: &dyn Generator,
    tensors: &[Planned],
    sink: &mut dyn Sink,
    files: &[&ShardFile],
    seed: u64,
    progress: &mut dyn WriteProgress,
) -> Result<u64> {
    progress.start(files.iter().map(|f| f.size).sum());
    let (tx, rx) = mpsc::sync_channel::<Chunk>(2);
    // Written buffers go back to the generator to be filled again.
    let (used_tx, used_rx) = mpsc::channel::<Vec<u8>>();
    let done = std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> Result<()> {
            let mut encoder = Encoder::new(gen, seed);
            for f in files {
                for &i in &f.tensors {
                    let t = &tensors[i];
                    encoder.encode(
                        t,
                        (0, t.numel),
                        &mut || used_rx.try_recv().unwrap_or_default(),
                        &mut |chunk| {
                            tx.send(chunk)
                                .map_err(|_| Error::invalid("the writer stopped"))
                        },
                    )?;
                }
            }
            Ok(())
        });
        let written = write_all(sink, files, tensors, (&rx, &used_tx), progress);
        drop(rx);
        let generated = producer.join().unwrap_or_else(|_| {
            Err(Error::Gpu(
                "internal: the generation thread panicked".into(),
            ))
        });
        match (written, generated) {
            (Ok(done), Ok(())) => Ok(done),
            // The generator's error is why the writer ran dry.
            (Err(Dry), Err(e)) => Err(e),
            (Err(Dry), Ok(())) => Err(Error::Gpu("internal: generation stopped early".into())),
            (Err(Failed(e)), _) | (Ok(_), Err(e)) => Err(e),
        }
    });
    progress.finish();
    done
}

/// Why writing stopped: the generator sent no more bytes, or a write failed.
enum Stop {
    Dry,
    Failed(Error),
}
use Stop::{Dry, Failed};

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Failed(e)
    }
}

/// Hands each file to the sink: its header, then its tensors' bytes as they arrive on `rx`.
fn write_all(
    sink: &mut dyn Sink,
    files: &[&ShardFile],
    tensors: &[Planned],
    (rx, used): (&mpsc::Receiver<Chunk>, &mpsc::Sender<Vec<u8>>),
    progress: &mut dyn WriteProgress,
) -> std::result::Result<u64, Stop> {
    let mut written = 0;
    for f in files {
        let (name, size) = (f.name.as_str(), f.size);
        sink.begin_file(&FileStart {
            name,
            size,
            kind: FileKind::Weights,
        })?;
        sink.write(&f.header)?;
        let data: u64 = f.tensors.iter().map(|&i| tensors[i].bytes).sum();
        let mut got = 0u64;
        while got < data {
            let Ok(chunk) = rx.recv() else {
                return Err(Dry);
            };
            sink.write(chunk.bytes())?;
            got += chunk.len as u64;
            progress.advance(chunk.len as u64);
            // The generator may have finished: then the buffer is simply freed.
            let _ = used.send(chunk.buf);
        }
        sink.finish_file()?;
        written += f.size;
        progress.advance(f.header.len() as u64);
    }
    Ok(written)
}
