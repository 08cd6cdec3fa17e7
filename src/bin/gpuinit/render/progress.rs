//! Progress for long commands: a bar on a terminal, plain lines on standard error otherwise.

use std::io::{IsTerminal, Write};

use gpuinit::progress::Progress;

/// An indicatif bar when standard error is a terminal, else one line per step.
pub struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    prefix: &'static str,
}

impl Reporter {
    pub fn new(prefix: &'static str, steps: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(steps);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Reporter { bar, prefix }
    }
}

impl Progress for Reporter {
    fn step(&mut self, what: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(what.to_string());
                bar.inc(1);
            }
            // Progress is advisory: a closed or full standard error does not stop the run.
            None => {
                let _ = writeln!(std::io::stderr(), "{}: {what}", self.prefix);
            }
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
