//! `gpuinit verify`: a statistical correctness battery for every scheme, on each device.
//!
//! Every check is a row: exact checks (known answers, bit identity with the CPU reference,
//! support, dispatch independence) pass or fail outright; statistical checks carry a
//! p-value and pass when it is above the Bonferroni level that keeps the family-wise error
//! of the whole battery below [`FWER`](crate::stats::FWER). Seeds are fixed by default, so a run is
//! deterministic: a correct generator fails it with probability below 1e-6, once, for all
//! time; `--seed` re-runs it elsewhere. `tests/verify.rs` shows each injected fault fails
//! the check meant to catch it.

mod agreement;
mod battery;
pub mod cases;
mod faults;
pub mod report;
mod words;

use serde::Serialize;

pub use battery::Battery;
pub use faults::{swapped_fans, Fault, FaultySource, Pieces};
pub use report::{DeviceRun, Report};

use crate::engine::{CpuReference, Generator};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, GpuOptions};
use crate::progress::Progress;
use crate::rng::{Distribution, Fans, Sampler, Scheme};

/// The default seed: "gpuinit!" in ASCII.
pub const DEFAULT_SEED: u64 = 0x6770_7569_6e69_7421;

/// How much of the battery to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Every scheme on one shape, fewer samples: for a quick look.
    Quick,
    /// Every scheme, every shape, samples that detect a 1% variance error.
    Default,
    /// The default battery with 8x the samples.
    Full,
}

impl Level {
    pub fn default_samples(self) -> u64 {
        match self {
            Level::Quick => 1 << 18,
            Level::Default => 1 << 21,
            Level::Full => 1 << 24,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub samples: u64,
    pub level: Level,
}

impl Options {
    pub fn new(level: Level, seed: Option<u64>, samples: Option<u64>) -> Result<Self> {
        let samples = samples.unwrap_or(level.default_samples());
        if !(1024..=1 << 28).contains(&samples) {
            return Err(Error::invalid(format!(
                "samples per check must be between 1024 and 2^28, got {samples}"
            )));
        }
        Ok(Options {
            seed: seed.unwrap_or(DEFAULT_SEED),
            samples,
            level,
        })
    }
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub device: String,
    pub scheme: String,
    pub shape: String,
    pub check: String,
    pub expected: String,
    pub measured: String,
    pub statistic: String,
    /// For statistical checks: the p-value, judged against the battery's per-check level.
    pub p_value: Option<f64>,
    /// For exact checks: what must hold.
    pub tolerance: Option<String>,
    pub pass: bool,
}

/// A scheme resolved for one tensor: what the battery claims the values follow.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    pub scheme: Scheme,
    pub fans: Option<Fans>,
    pub distribution: Distribution,
}

impl Claim {
    /// The sampler a correct generator is handed.
    pub fn sampler(&self) -> Result<Sampler> {
        Ok(self.distribution.sampler())
    }
}

/// A generator under test, with the other configurations of it that must give the same bits.
pub struct Subject<'a> {
    pub generator: &'a dyn Generator,
    /// The same generator splitting work differently ("dispatches of 4096, 3 workgroups a
    /// row"), labelled.
    pub rechunked: Vec<(String, &'a dyn Generator)>,
    /// How a claim becomes the sampler the generator is handed ([`Claim::sampler`]; a fault
    /// test swaps the fans here).
    pub sampler_of: fn(&Claim) -> Result<Sampler>,
}

impl<'a> Subject<'a> {
    pub fn new(generator: &'a dyn Generator) -> Self {
        Subject {
            generator,
            rechunked: Vec::new(),
            sampler_of: Claim::sampler,
        }
    }

    /// The CPU reference, and the same asked for in awkward pieces.
    pub fn cpu() -> Subject<'static> {
        static PIECES: Pieces = Pieces {
            inner: &CpuReference,
            sizes: &[1, 3, 7, 4093],
        };
        Subject {
            rechunked: vec![("pieces of 1, 3, 7, 4093".into(), &PIECES)],
            ..Subject::new(&CpuReference)
        }
    }

    /// A GPU, and `tiny`: the same adapter with small dispatch limits ([`tiny_context`]).
    pub fn gpu(ctx: &'a GpuContext, tiny: &'a GpuContext) -> Self {
        let how = format!(
            "dispatches of {}, {} workgroups a row",
            tiny.chunk_elements(),
            tiny.options().max_workgroups_per_dim.unwrap_or(0)
        );
        Subject {
            rechunked: vec![(how, tiny)],
            ..Subject::new(ctx)
        }
    }
}

/// `ctx`'s adapter again, with dispatches small enough that every slice the battery asks
/// for is split, across rows of at most 3 workgroups, and read back in pieces.
pub fn tiny_context(ctx: &GpuContext) -> Result<GpuContext> {
    GpuContext::new(&GpuOptions {
        max_chunk_elements: Some(4096 + 64),
        max_workgroups_per_dim: Some(3),
        max_readback_elements: Some(10_000),
        ..ctx.options().clone()
    })
}

/// Progress steps [`run`] reports per subject.
pub fn steps(opts: &Options) -> u64 {
    cases::cases(opts.level).len() as u64 + 3
}

/// Runs the battery over `subjects` with `progress`, and judges it.
pub fn run(opts: Options, subjects: &[Subject], progress: &mut dyn Progress) -> Result<Report> {
    let mut battery = Battery::new(opts, progress);
    let mut devices = Vec::new();
    for s in subjects {
        let seconds = battery.run_subject(s)?;
        devices.push(DeviceRun {
            device: s.generator.label(),
            adapter: s.generator.adapter(),
            seconds,
        });
    }
    Ok(battery.finish(devices))
}
