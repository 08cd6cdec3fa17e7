//! Bit identity with the CPU reference (or, for the reference itself, with the scalar
//! definition), checked chunk by chunk without a second copy of the values.

use super::Row;
use crate::cpu;
use crate::rng::distribution::{sample, Sampler, KIND_NORMAL};
use crate::rng::philox::word;
use crate::rng::tolerance::{ulps, MAX_ABS_PER_STD, MAX_ULPS};

/// Compares chunks of a source's values with the CPU reference (or, for the reference
/// itself, a stride of them with the scalar definition), without keeping a second copy.
pub(super) struct Agreement {
    sampler: Sampler,
    reference: bool,
    seed: u64,
    stream: u64,
    first: u64,
    done: u64,
    compared: u64,
    mismatches: u64,
    max_ulps: u32,
    max_abs: f64,
    within_bound: bool,
    scratch: Vec<f32>,
}

impl Agreement {
    pub fn new(sampler: Sampler, reference: bool, seed: u64, stream: u64, first: u64) -> Self {
        Agreement {
            sampler,
            reference,
            seed,
            stream,
            first,
            done: 0,
            compared: 0,
            mismatches: 0,
            max_ulps: 0,
            max_abs: 0.0,
            within_bound: true,
            scratch: Vec::new(),
        }
    }

    fn compare(&mut self, got: f32, want: f32) {
        self.compared += 1;
        if got.to_bits() != want.to_bits() {
            self.mismatches += 1;
            let u = ulps(got, want);
            let abs = (f64::from(got) - f64::from(want)).abs()
                / f64::from(self.sampler.scale).max(f64::MIN_POSITIVE);
            self.max_ulps = self.max_ulps.max(u);
            self.max_abs = self.max_abs.max(abs);
            if !(u <= MAX_ULPS || abs <= MAX_ABS_PER_STD) || !got.is_finite() {
                self.within_bound = false;
            }
        }
    }

    pub fn push(&mut self, chunk: &[f32]) {
        let at = self.first + self.done;
        if self.reference {
            for (j, &x) in chunk.iter().enumerate().step_by(997) {
                let want = sample(&self.sampler, word(self.seed, self.stream, at + j as u64));
                self.compare(x, want);
            }
        } else {
            self.scratch.resize(chunk.len(), 0.0);
            cpu::generate(&self.sampler, self.seed, self.stream, at, &mut self.scratch);
            let scratch = std::mem::take(&mut self.scratch);
            for (&x, &want) in chunk.iter().zip(&scratch) {
                self.compare(x, want);
            }
            self.scratch = scratch;
        }
        self.done += chunk.len() as u64;
    }

    pub fn row(&self, base: &Row) -> Row {
        let (check, against) = if self.reference {
            (
                "lanes == scalar definition",
                "the scalar definition, every 997th element",
            )
        } else {
            ("== CPU reference", "the CPU reference")
        };
        let exact = self.sampler.kind != KIND_NORMAL;
        let (expected, pass) = if exact {
            ("0 mismatching bits".to_string(), self.mismatches == 0)
        } else {
            (
                format!("<= {MAX_ULPS} ulps or <= {MAX_ABS_PER_STD:e} std"),
                self.within_bound,
            )
        };
        Row {
            check: check.into(),
            expected,
            measured: format!(
                "{} of {} differ; max {} ulps, {:.2e} std",
                self.mismatches, self.compared, self.max_ulps, self.max_abs
            ),
            statistic: format!("vs {against}"),
            tolerance: Some(if exact {
                "bit-identical".into()
            } else {
                "docs/STREAM.md bound".into()
            }),
            pass,
            ..base.clone()
        }
    }
}
