//! `gpuinit init`: a whole model's initial weights as a safetensors checkpoint, from a
//! Hugging Face config or a spec file, written by one process or split across many.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use clap::{ArgGroup, Args};
use gpuinit::generator::Generator;
use gpuinit::init::{
    self, hf, Chunk, Dtype, Encoder, Metadata, ModelSpec, Planned, Shard, ShardFile,
};
use gpuinit::{DeviceChoice, Devices, Error, Result};

use crate::cli::{one_device, parse_u64, GpuArgs};
use crate::output::{Format, Output};
use crate::say::Say;

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["config", "spec"])))]
pub struct InitArgs {
    /// A Hugging Face config.json (model_type gpt2 or llama), resolved by transformers' own
    /// init rules.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A gpuinit spec file (JSON, docs/CHECKPOINT.md): every tensor's name, shape, layout,
    /// scheme and dtype.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// The folder to write the checkpoint into (created if missing).
    #[arg(long, required_unless_present_any = ["print_spec", "discard"])]
    out: Option<PathBuf>,
    /// Generate every tensor and discard the bytes: how fast this device makes the model,
    /// without the disk (a benchmark, like dd's of=/dev/null).
    #[arg(long, conflicts_with = "out")]
    discard: bool,
    /// Every tensor's dtype (a spec's own per-tensor dtypes stay): f32, bf16 or f16.
    #[arg(long)]
    dtype: Option<String>,
    /// Largest data per file, as Hugging Face counts it (5GB is 5 * 10^9 bytes).
    #[arg(long, default_value = "5GB")]
    max_shard_size: String,
    /// Write only this process's files: i/n with 0 <= i < n. Default: SLURM_PROCID and
    /// SLURM_NTASKS, RANK and WORLD_SIZE, OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE, or 0/1.
    #[arg(long)]
    shard: Option<String>,
    /// Seed (decimal or 0x hex); drawn and printed when absent.
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,
    /// Where to compute: the GPU, the CPU reference, or auto (the GPU when there is one).
    #[arg(long, value_parser = one_device(), default_value = "auto")]
    device: DeviceChoice,
    /// Replace files of an existing checkpoint.
    #[arg(long)]
    force: bool,
    /// Print the spec the config resolves to (JSON, editable and usable with --spec) and stop.
    #[arg(long)]
    print_spec: bool,
    #[command(flatten)]
    gpu: GpuArgs,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("cannot read '{}': {e}", path.display())))
}

/// The spec `--config` or `--spec` names, with `--dtype` applied.
pub fn load_spec(
    config: Option<&Path>,
    spec: Option<&Path>,
    dtype: Option<&str>,
) -> Result<ModelSpec> {
    let dtype = dtype.map(Dtype::parse).transpose()?;
    let mut spec = match (config, spec) {
        (Some(c), _) => {
            let text = read(c)?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::invalid(format!("'{}' is not JSON: {e}", c.display())))?;
            hf::spec_from_config(&json, dtype.unwrap_or_default())?
        }
        (None, Some(s)) => ModelSpec::from_json(&read(s)?, &format!("'{}'", s.display()))?,
        (None, None) => return Err(Error::invalid("give --config or --spec")),
    };
    if let Some(d) = dtype {
        spec.dtype = d;
    }
    Ok(spec)
}

fn shard(a: &InitArgs) -> Result<Shard> {
    match &a.shard {
        Some(s) => Shard::parse(s),
        None => Shard::from_env(|k| std::env::var(k).ok()),
    }
}

/// The folder, created if missing; refused when it is something else.
fn out_dir(path: &Path) -> Result<PathBuf> {
    if path.exists() && !path.is_dir() {
        return Err(Error::invalid(format!(
            "--out '{}' is not a folder",
            path.display()
        )));
    }
    std::fs::create_dir_all(path)
        .map_err(|e| Error::invalid(format!("cannot create '{}': {e}", path.display())))?;
    Ok(path.to_path_buf())
}

pub fn run(a: &InitArgs) -> Result<()> {
    let spec = load_spec(a.config.as_deref(), a.spec.as_deref(), a.dtype.as_deref())?;
    if a.print_spec {
        return Say::stdout().text(&spec.to_json());
    }
    let tensors = init::resolve(&spec)?;
    let max = init::parse_size(&a.max_shard_size)?;
    let shard = shard(a)?;
    let (seed, drawn) = match a.seed {
        Some(s) => (s, false),
        None => (rand::random::<u64>(), true),
    };
    // Which files are this process's depends on the spec and the size limit alone, so the
    // folder is checked before the (slow) device is opened.
    let groups = init::split(&tensors, max);
    let mine: Vec<usize> = (0..groups.len()).filter(|&k| shard.writes(k)).collect();
    let index_here = groups.len() > 1 && shard.writes_index();
    let config_here = a.config.is_some() && shard.writes_index();
    let dir = a.out.as_deref().map(out_dir).transpose()?;
    if let Some(d) = &dir {
        let mut names: Vec<String> = mine
            .iter()
            .map(|&k| init::file_name(k, groups.len()))
            .collect();
        names.extend(index_here.then(|| "model.safetensors.index.json".to_string()));
        names.extend(config_here.then(|| "config.json".to_string()));
        refuse_existing(d, &names, a.force)?;
        let data = mine
            .iter()
            .flat_map(|&k| &groups[k])
            .map(|&i| tensors[i].bytes);
        check_space(d, data.sum())?;
    }
    let devices = Devices::open(a.device, &a.gpu.options()?, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    let gen = devices.primary();
    let device = init::device_kind(gen);
    let meta = Metadata {
        version: env!("CARGO_PKG_VERSION"),
        seed,
        device: &device,
    };
    let files = init::plan(&tensors, max, &meta)?;
    let mine: Vec<&ShardFile> = mine.iter().map(|&k| &files[k]).collect();
    let mut say = Say::stdout();
    say.text(&describe(&spec, &tensors, &files, shard, seed, drawn))?;
    let start = std::time::Instant::now();
    // The index and the config are written first and every file is published together at
    // the end, so a failure or an interrupt leaves none of this process's files behind.
    let mut pending = Vec::new();
    if let Some(d) = &dir {
        if index_here {
            let text = init::index(&tensors, &files);
            pending.push(text_output(&d.join("model.safetensors.index.json"), &text)?);
        }
        // The config beside the weights, so `from_pretrained(dir)` finds both.
        if let Some(c) = a.config.as_ref().filter(|_| config_here) {
            pending.push(text_output(&d.join("config.json"), &read(c)?)?);
        }
    }
    let (written, outputs) = write_files(gen, &tensors, dir.as_deref(), &mine, seed)?;
    let count = outputs.len() + pending.len();
    // Weights first, the index last: a reader that sees the index sees every file.
    for out in outputs.into_iter().chain(pending.into_iter().rev()) {
        out.finish()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = format!(
        "{:.3} GB in {secs:.2} s ({:.3} GB/s)",
        written as f64 / 1e9,
        written as f64 / 1e9 / secs.max(1e-9)
    );
    say.text(&match dir {
        Some(d) => format!(
            "device: {device}\nwrote: {count} file(s), {rate} to {}\n",
            d.display()
        ),
        None => format!("device: {device}\ngenerated: {rate}, discarded\n"),
    })
}

/// `text` in a sealed, unpublished output at `path`.
fn text_output(path: &Path, text: &str) -> Result<Output> {
    let mut out = Output::create_as(&path.to_string_lossy(), Format::Raw, &[])?;
    out.write_bytes(text.as_bytes())?;
    out.seal()?;
    Ok(out)
}

/// Refuses, before any work, a folder whose file system cannot take `bytes` more.
fn check_space(dir: &Path, bytes: u64) -> Result<()> {
    match fs4::available_space(dir) {
        Ok(free) if free < bytes => Err(Error::invalid(format!(
            "'{}' needs {:.3} GB but its file system has {:.3} GB free",
            dir.display(),
            bytes as f64 / 1e9,
            free as f64 / 1e9
        ))),
        _ => Ok(()),
    }
}

/// Refuses, before any work, to replace files this process would write unless `force`.
fn refuse_existing(dir: &Path, names: &[String], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    for name in names {
        let p = dir.join(name);
        if p.exists() {
            return Err(Error::invalid(format!(
                "'{}' exists; pass --force to replace it",
                p.display()
            )));
        }
    }
    Ok(())
}

fn describe(
    spec: &ModelSpec,
    tensors: &[Planned],
    files: &[ShardFile],
    shard: Shard,
    seed: u64,
    drawn: bool,
) -> String {
    let bytes: u64 = tensors.iter().map(|t| t.bytes).sum();
    let drawn = if drawn {
        " (drawn; pass --seed to repeat)"
    } else {
        ""
    };
    format!(
        "spec: {} tensors, {:.3} GB{}\nseed: {seed}{drawn}\nfiles: {} in all; this process ({} of {}) writes {}\n",
        tensors.len(),
        bytes as f64 / 1e9,
        spec.source.as_ref().map_or(String::new(), |s| format!(" ({s})")),
        files.len(),
        shard.rank,
        shard.size,
        (0..files.len()).filter(|&k| shard.writes(k)).count(),
    )
}

/// Generates every tensor of `files` on one thread while this one writes the last chunk
/// (at most two chunks wait between them); returns the bytes written and the files,
/// sealed but not yet published.
fn write_files(
    gen: &dyn Generator,
    tensors: &[Planned],
    dir: Option<&Path>,
    files: &[&ShardFile],
    seed: u64,
) -> Result<(u64, Vec<Output>)> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    let bar = Bar::new(total);
    let (tx, rx) = mpsc::sync_channel::<Chunk>(2);
    // Written buffers go back to the generator to be filled again.
    let (used_tx, used_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
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
        let written = write_all(dir, files, tensors, (&rx, &used_tx), &bar);
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
    })
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

/// Writes each file into `dir` (or nowhere): its header, then its tensors' bytes as they
/// arrive on `rx`.
fn write_all(
    dir: Option<&Path>,
    files: &[&ShardFile],
    tensors: &[Planned],
    (rx, used): (&mpsc::Receiver<Chunk>, &mpsc::Sender<Vec<u8>>),
    bar: &Bar,
) -> std::result::Result<(u64, Vec<Output>), Stop> {
    let mut written = 0;
    let mut done = Vec::new();
    for f in files {
        let mut out = match dir {
            Some(d) => {
                let path = d.join(&f.name);
                let mut out = Output::create_direct(&path.to_string_lossy())?;
                out.write_bytes(&f.header)?;
                Some(out)
            }
            None => None,
        };
        let data: u64 = f.tensors.iter().map(|&i| tensors[i].bytes).sum();
        let mut got = 0u64;
        while got < data {
            let Ok(chunk) = rx.recv() else {
                return Err(Dry);
            };
            if let Some(out) = &mut out {
                out.write_bytes(chunk.bytes())?;
            }
            got += chunk.len as u64;
            bar.inc(chunk.len as u64);
            // The generator may have finished: then the buffer is simply freed.
            let _ = used.send(chunk.buf);
        }
        if let Some(mut out) = out {
            out.seal()?;
            done.push(out);
        }
        written += f.size;
        bar.inc(f.header.len() as u64);
    }
    Ok((written, done))
}

/// Bytes written, GB/s and time left, on a terminal.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new(total: u64) -> Bar {
        Bar(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        }))
    }

    fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
