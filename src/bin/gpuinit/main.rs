//! The `gpuinit` command line: every argument is parsed here and everything printed or
//! written is rendered here; the library computes and returns data. One file per command.

mod bench;
mod checkpoint;
mod cli;
mod devices;
mod direct;
mod init;
mod output;
mod plot;
mod progress;
mod propagate;
mod sample;
mod say;
mod shapeset;
mod stream;
mod table;
mod train;
mod train_plot;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gpuinit::Error;

#[derive(Parser)]
#[command(
    name = "gpuinit",
    version,
    about = "Xavier/Glorot and related weight initialization on the GPU, bit-exact with a CPU reference"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with the limits that matter here.
    Devices(devices::DevicesArgs),
    /// Generate a weight tensor under a scheme and write it as .npy, .bin or to standard output.
    Sample(Box<sample::SampleArgs>),
    /// Write raw Philox words (little-endian u32, element order) to standard output.
    Stream(stream::StreamArgs),
    /// Deep forward (and backward) passes on generated weights: per-layer statistics for each scheme.
    Propagate(Box<propagate::PropagateArgs>),
    /// Check statistically that every scheme's weights are what the scheme promises.
    Verify(Box<verify::VerifyArgs>),
    /// Generation throughput: GPU against its store bandwidth and against the CPU reference.
    Bench(Box<bench::BenchArgs>),
    /// A whole model's initial weights as a safetensors checkpoint, from a Hugging Face config or a spec.
    Init(Box<init::InitArgs>),
    /// Shapeset-3x2 images (Glorot and Bengio 2010) and their labels as .npy, with a PNG grid.
    Shapeset(Box<shapeset::ShapesetArgs>),
    /// Train a network on Shapeset-3x2 from each scheme's weights: test error and throughput.
    Train(Box<train::TrainArgs>),
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Devices(a) => devices::run(&a),
        Command::Sample(a) => sample::run(&a),
        Command::Stream(a) => stream::run(&a),
        Command::Propagate(a) => propagate::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Shapeset(a) => shapeset::run(&a),
        Command::Train(a) => train::run(&a),
    }
}

/// clap's message in one line, without its usage and help hints.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

/// On SIGINT or SIGTERM: remove every temporary output file, then exit as the signal would
/// have (128 + its number). Outputs already in place are untouched.
fn clean_up_on_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            output::remove_temporaries();
            std::process::exit(128 + signal);
        }
    });
}

fn main() -> ExitCode {
    clean_up_on_signals();
    // Headless compute needs no display; without this Mesa's EGL probes Wayland and
    // prints errors about XDG_RUNTIME_DIR while listing GL adapters.
    if std::env::var_os("EGL_PLATFORM").is_none() {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = say::Say::stderr().line(&one_line(&e));
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version: a closed pipe is not an error.
            let _ = say::out(&e.render().to_string());
            return ExitCode::SUCCESS;
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(e) if e.is_closed_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ =
                say::Say::stderr().line(&format!("error: {}", e.to_string().replace('\n', " ")));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
