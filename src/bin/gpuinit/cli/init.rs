//! `gpuinit init`'s arguments, and what they ask for: the spec, and this process's part of
//! the checkpoint.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};
use gpuinit::init::{self, Shard, WritePlan};
use gpuinit::{DeviceChoice, Error, Result};

use crate::cli::{one_device, parse_u64, GpuArgs};

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["config", "spec"])))]
pub struct InitArgs {
    /// A Hugging Face config.json (model_type gpt2 or llama), resolved by transformers' own
    /// init rules.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A gpuinit spec file (JSON, docs/CHECKPOINT.md): every tensor's name, shape, layout,
    /// scheme and dtype.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// The folder to write the checkpoint into (created if missing).
    #[arg(long, required_unless_present_any = ["print_spec", "discard"])]
    pub out: Option<PathBuf>,
    /// Generate every tensor and discard the bytes: how fast this device makes the model,
    /// without the disk (a benchmark, like dd's of=/dev/null).
    #[arg(long, conflicts_with = "out")]
    pub discard: bool,
    /// Every tensor's dtype (a spec's own per-tensor dtypes stay): f32, bf16 or f16.
    #[arg(long)]
    pub dtype: Option<String>,
    /// Largest data per file, as Hugging Face counts it (5GB is 5 * 10^9 bytes).
    #[arg(long, default_value = "5GB")]
    pub max_shard_size: String,
    /// Write only this process's files: i/n with 0 <= i < n. Default: SLURM_PROCID and
    /// SLURM_NTASKS, RANK and WORLD_SIZE, OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE, or 0/1.
    #[arg(long)]
    pub shard: Option<String>,
    /// Seed (decimal or 0x hex); drawn and printed when absent.
    #[arg(long, value_parser = parse_u64)]
    pub seed: Option<u64>,
    /// Where to compute: the GPU, the CPU reference, or auto (the GPU when there is one).
    #[arg(long, value_parser = one_device(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Replace files of an existing checkpoint.
    #[arg(long)]
    pub force: bool,
    /// Print the spec the config resolves to (JSON, editable and usable with --spec) and stop.
    #[arg(long)]
    pub print_spec: bool,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// Whether `a` and `b` are one file (the same device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

/// This process's part: `--shard`, else a launcher's environment, else the whole.
fn shard(a: &InitArgs) -> Result<Shard> {
    match &a.shard {
        Some(s) => Shard::parse(s),
        None => Shard::from_env(|k| std::env::var(k).ok()),
    }
}

/// The checkpoint `a` asks this process to write, and whether its seed was drawn. The
/// config is copied beside the weights (so `from_pretrained(dir)` finds both) when they go
/// to a folder.
pub fn plan(a: &InitArgs, spec: &init::ModelSpec) -> Result<(WritePlan, bool)> {
    let tensors = init::resolve(spec)?;
    let max_shard_size = init::parse_size(&a.max_shard_size)?;
    let shard = shard(a)?;
    let (seed, drawn) = match a.seed {
        Some(s) => (s, false),
        // Each process would draw its own: the files would mix seeds.
        None if shard.size > 1 => {
            let n = shard.size;
            let why = "each would draw its own";
            return Err(Error::invalid(format!(
                "--seed is required when {n} processes write one checkpoint ({why})"
            )));
        }
        None => (rand::random::<u64>(), true),
    };
    let mut plan = WritePlan {
        tensors,
        max_shard_size,
        shard,
        seed,
        extra: Vec::new(),
    };
    if let (Some(c), Some(out)) = (&a.config, &a.out) {
        // A config already in place (`--config dir/config.json --out dir`) stays as it is.
        if shard.writes_index() && !same_file(c, &out.join("config.json")) {
            plan = plan.with_file("config.json", &init::read_text(c)?);
        }
    }
    Ok((plan, drawn))
}
