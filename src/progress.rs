//! Progress of long runs, reported step by step to whoever drives them (the command line
//! draws a bar; library callers and tests usually say nothing).

/// Reports each step of a long run.
pub trait Progress {
    fn step(&mut self, what: &str);
}

/// Says nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&mut self, _: &str) {}
}
