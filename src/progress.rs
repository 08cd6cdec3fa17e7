//! Progress for long commands: a bar on a terminal, plain lines on standard error otherwise.

use std::io::IsTerminal;

/// Reports each step of a long run.
pub trait Progress {
    fn step(&mut self, what: &str);
}

/// Says nothing (for tests and library callers).
pub struct Quiet;

impl Progress for Quiet {
    fn step(&mut self, _: &str) {}
}

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
            None => eprintln!("{}: {what}", self.prefix),
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
