//! `gpuinit` and its commands, as clap parses them.

use clap::{Parser, Subcommand};

use crate::cli::{init::InitArgs, propagate::PropagateArgs};
use crate::commands::{bench, devices, sample, shapeset, stream, train, verify};

#[derive(Parser)]
#[command(
    name = "gpuinit",
    version,
    about = "Xavier/Glorot and related weight initialization on the GPU, bit-exact with a CPU reference"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List every GPU adapter with the limits that matter here.
    Devices(devices::DevicesArgs),
    /// Generate a weight tensor under a scheme and write it as .npy, .bin or to standard output.
    Sample(Box<sample::SampleArgs>),
    /// Write raw Philox words (little-endian u32, element order) to standard output.
    Stream(stream::StreamArgs),
    /// Deep forward (and backward) passes on generated weights: per-layer statistics for each scheme.
    Propagate(Box<PropagateArgs>),
    /// Check statistically that every scheme's weights are what the scheme promises.
    Verify(Box<verify::VerifyArgs>),
    /// Generation throughput: GPU against its store bandwidth and against the CPU reference.
    Bench(Box<bench::BenchArgs>),
    /// A whole model's initial weights as a safetensors checkpoint, from a Hugging Face config or a spec.
    Init(Box<InitArgs>),
    /// Shapeset-3x2 images (Glorot and Bengio 2010) and their labels as .npy, with a PNG grid.
    Shapeset(Box<shapeset::ShapesetArgs>),
    /// Train a network on Shapeset-3x2 from each scheme's weights: test error and throughput.
    Train(Box<train::TrainArgs>),
}
