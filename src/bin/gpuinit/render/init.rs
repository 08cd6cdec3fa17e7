//! `gpuinit init`'s text and its progress bar.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use gpuinit::init::{ModelSpec, Summary, WritePlan, WriteProgress};

/// The lines before the writing: the spec, the seed, and this process's share of the files.
pub fn describe(spec: &ModelSpec, plan: &WritePlan, drawn: bool) -> String {
    let drawn = if drawn {
        " (drawn; pass --seed to repeat)"
    } else {
        ""
    };
    let (shard, files) = (plan.shard, plan.groups().len());
    format!(
        "spec: {} tensors, {:.3} GB{}\nseed: {}{drawn}\nfiles: {files} in all; this process ({} of {}) writes {}\n",
        plan.tensors.len(),
        plan.total_bytes() as f64 / 1e9,
        spec.source.as_ref().map_or(String::new(), |s| format!(" ({s})")),
        plan.seed,
        shard.rank,
        shard.size,
        plan.mine().len(),
    )
}

/// The lines after it: the device, and what was written where (or generated and discarded).
pub fn done(summary: &Summary, took: Duration, dir: Option<&Path>) -> String {
    let (written, secs) = (summary.bytes, took.as_secs_f64());
    let rate = format!(
        "{:.3} GB in {secs:.2} s ({:.3} GB/s)",
        written as f64 / 1e9,
        written as f64 / 1e9 / secs.max(1e-9)
    );
    let device = &summary.device;
    match dir {
        Some(d) => format!(
            "device: {device}\nwrote: {} file(s), {rate} to {}\n",
            summary.files,
            d.display()
        ),
        None => format!("device: {device}\ngenerated: {rate}, discarded\n"),
    }
}

/// Bytes written, GB/s and time left, on a terminal.
#[derive(Default)]
pub struct Bar(Option<indicatif::ProgressBar>);

impl WriteProgress for Bar {
    fn start(&mut self, total: u64) {
        self.0 = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });
    }

    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}
