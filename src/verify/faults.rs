//! Deliberately broken generators, each fault one that the battery must catch
//! (`tests/verify.rs` shows that it does), and the splitting adapter the CPU reference's
//! dispatch-independence check runs through.

use super::Claim;
use crate::engine::Generator;
use crate::error::Result;
use crate::rng::distribution::sample;
use crate::rng::philox::{
    counter_of, key_of, mulhilo, philox4x32_10, philox4x32_with, PHILOX_ROUNDS,
};
use crate::rng::{Fans, Sampler, Start};

/// One fault of the generator itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Uniform bounds (or normal stds) scaled by this factor, e.g. 1.01.
    Spread(f64),
    /// Philox with this many rounds.
    Rounds(u32),
    /// mulhi without the carry out of the middle partial products.
    BrokenMulhi,
    /// Element index taken modulo 2^bits: the stream repeats.
    Period(u32),
    /// Every stream gives stream 0's words.
    SameStreams,
    /// The top bit forced to 1 in one word of 16.
    BiasedTopBit,
}

/// The CPU reference with one [`Fault`], computed element by element from the definition.
pub struct FaultySource(pub Fault);

/// The scheme applied with fan_in and fan_out swapped: a [`super::Subject::sampler_of`]
/// for the fault of a scheme layer that reads the layout backwards.
pub fn swapped_fans(claim: &Claim) -> Result<Sampler> {
    Ok(match claim.fans {
        Some(f) => claim
            .scheme
            .distribution(Fans {
                fan_in: f.fan_out,
                fan_out: f.fan_in,
            })?
            .sampler(),
        None => claim.distribution.sampler(),
    })
}

/// mulhilo as written with the classic bug: the carry out of the middle column is lost.
fn mulhilo_without_carry(a: u32, b: u32) -> (u32, u32) {
    let (al, ah, bl, bh) = (a & 0xFFFF, a >> 16, b & 0xFFFF, b >> 16);
    let (lh, hl) = (al * bh, ah * bl);
    (ah * bh + (lh >> 16) + (hl >> 16), a.wrapping_mul(b))
}

impl FaultySource {
    fn block(&self, ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
        match self.0 {
            Fault::Rounds(r) => philox4x32_with(r, mulhilo, ctr, key),
            Fault::BrokenMulhi => philox4x32_with(PHILOX_ROUNDS, mulhilo_without_carry, ctr, key),
            _ => philox4x32_10(ctr, key),
        }
    }

    fn word(&self, seed: u64, stream: u64, i: u64) -> u32 {
        let i = match self.0 {
            Fault::Period(bits) => i & ((1u64 << bits) - 1),
            _ => i,
        };
        let stream = if self.0 == Fault::SameStreams {
            0
        } else {
            stream
        };
        let w = self.block(counter_of(i / 4, stream), key_of(seed))[(i % 4) as usize];
        if self.0 == Fault::BiasedTopBit && i % 16 == 0 {
            w | 0x8000_0000
        } else {
            w
        }
    }
}

impl Generator for FaultySource {
    fn label(&self) -> String {
        format!("faulty cpu ({:?})", self.0)
    }
    fn chunk(&self) -> u64 {
        1 << 22
    }
    fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> Result<Vec<[u32; 4]>> {
        Ok(inputs.iter().map(|(c, k)| self.block(*c, *k)).collect())
    }
    fn fill_words(&self, at: Start, out: &mut [u32]) -> Result<()> {
        for (i, w) in out.iter_mut().enumerate() {
            *w = self.word(at.seed, at.stream, at.first + i as u64);
        }
        Ok(())
    }
    fn fill_values(&self, sampler: &Sampler, at: Start, out: &mut [f32]) -> Result<()> {
        let mut s = *sampler;
        if let Fault::Spread(k) = self.0 {
            s.scale = (f64::from(s.scale) * k) as f32;
        }
        for (i, x) in out.iter_mut().enumerate() {
            *x = sample(&s, self.word(at.seed, at.stream, at.first + i as u64));
        }
        Ok(())
    }
}

/// A generator asked for its slices in pieces of the given sizes, in turn: what it gives
/// must not depend on how a request is split.
pub struct Pieces<'g> {
    pub inner: &'g dyn Generator,
    pub sizes: &'static [usize],
}

impl Generator for Pieces<'_> {
    fn label(&self) -> String {
        format!("{} in pieces of {:?}", self.inner.label(), self.sizes)
    }
    fn is_reference(&self) -> bool {
        self.inner.is_reference()
    }
    fn chunk(&self) -> u64 {
        self.inner.chunk()
    }
    fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> Result<Vec<[u32; 4]>> {
        self.inner.philox(inputs)
    }
    fn fill_words(&self, at: Start, out: &mut [u32]) -> Result<()> {
        in_pieces(self.sizes, out, |i, part| {
            self.inner.fill_words(at.advance(i), part)
        })
    }
    fn fill_values(&self, sampler: &Sampler, at: Start, out: &mut [f32]) -> Result<()> {
        in_pieces(self.sizes, out, |i, part| {
            self.inner.fill_values(sampler, at.advance(i), part)
        })
    }
}

/// `fill(offset, part)` over consecutive parts of `out`, of `sizes` in turn.
fn in_pieces<T>(
    sizes: &[usize],
    out: &mut [T],
    mut fill: impl FnMut(u64, &mut [T]) -> Result<()>,
) -> Result<()> {
    let mut at = 0;
    for &n in sizes.iter().cycle() {
        if at >= out.len() {
            break;
        }
        let end = (at + n).min(out.len());
        fill(at as u64, &mut out[at..end])?;
        at = end;
    }
    Ok(())
}
