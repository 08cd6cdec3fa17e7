//! `gpuinit stream`: raw Philox words, little-endian u32 in element order (or hex lines),
//! on standard output, for external test batteries.

use std::fmt::Write as _;

use clap::Args;
use gpuinit::output::Output;
use gpuinit::rng::{check_range, Span};
use gpuinit::{DeviceChoice, Devices, Error, Result};

use crate::cli::{one_device, parse_u64, GpuArgs};
use crate::render::say::Say;

#[derive(Args)]
pub struct StreamArgs {
    /// Seed (decimal or 0x hex); drawn and printed on standard error when absent.
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,
    #[arg(long, value_parser = parse_u64, default_value_t = 0)]
    stream: u64,
    #[arg(long, value_parser = parse_u64, default_value_t = 0)]
    offset: u64,
    #[arg(long, value_parser = parse_u64)]
    count: u64,
    /// Hex text, four words a line, instead of binary.
    #[arg(long)]
    hex: bool,
    #[arg(long, value_parser = one_device(), default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    gpu: GpuArgs,
}

/// Words as hex, four to a line (a line ends early only at the end of the output).
fn hex_lines(words: &[u32], first: u64) -> String {
    let mut text = String::with_capacity(words.len() * 9);
    for (i, word) in words.iter().enumerate() {
        let at = first + i as u64;
        let end = at % 4 == 3 || i + 1 == words.len();
        let _ = write!(text, "{word:08x}{}", if end { '\n' } else { ' ' });
    }
    text
}

pub fn run(a: &StreamArgs) -> Result<()> {
    if a.count == 0 {
        return Err(Error::invalid("count must be positive, got 0"));
    }
    check_range(a.offset, a.count)?;
    let devices = Devices::open(a.device, &a.gpu.options()?, false)?;
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    let seed = match a.seed {
        Some(s) => s,
        None => {
            let s = rand::random::<u64>();
            Say::stderr().line(&format!("seed: {s} (drawn; pass --seed to repeat)"))?;
            s
        }
    };
    let mut out = Output::create("-")?;
    let mut at = 0;
    devices.primary().stream_words(
        Span {
            seed,
            stream: a.stream,
            first: a.offset,
            count: a.count,
        },
        &mut |w| {
            let r = if a.hex {
                out.write_bytes(hex_lines(w, at).as_bytes())
            } else {
                out.write_u32s(w)
            };
            at += w.len() as u64;
            r
        },
    )?;
    out.finish()
}
