//! The raw-word checks (bit frequency, bytes, serial correlation, repeats, independence of
//! neighbouring streams, seeds and blocks) and dispatch independence.

use super::battery::Battery;
use super::cases::Case;
use super::{Row, Subject};
use crate::cpu;
use crate::engine::Generator;
use crate::error::Result;
use crate::rng::{Layout, Span};
use crate::stats;

impl Battery<'_> {
    pub(super) fn bits(&mut self, src: &dyn Generator, base: &Row) -> Result<()> {
        let (seed, n) = (self.opts.seed, self.opts.samples);
        let stream = 1000;
        let words = src.words(Span::whole(seed, stream, n))?;
        let shape = format!("{n} words, stream {stream}");
        let base = Row {
            shape: shape.clone(),
            ..base.clone()
        };
        if !src.is_reference() {
            let reference = cpu::words_vec(seed, stream, 0, n as usize);
            let bad = words.iter().zip(&reference).filter(|(a, b)| a != b).count();
            self.exact(
                &base,
                "words == CPU reference",
                "0 mismatches".into(),
                format!("{bad} of {n}"),
                "bit-identical",
                bad == 0,
            );
        }
        self.frequencies(&base, &words);
        self.repeats(&base, &words);
        let pairs = [
            (
                "streams t, t+1",
                src.words(Span::whole(seed, stream + 1, n))?,
            ),
            (
                "seeds s, s+1",
                src.words(Span::whole(seed.wrapping_add(1), stream, n))?,
            ),
        ];
        for (what, other) in &pairs {
            self.independence(&base, what, &words, other);
        }
        let (even, odd): (Vec<[u32; 4]>, Vec<[u32; 4]>) = words
            .chunks_exact(8)
            .map(|b| ([b[0], b[1], b[2], b[3]], [b[4], b[5], b[6], b[7]]))
            .unzip();
        self.independence(
            &base,
            "counter blocks b, b+1",
            bytemuck::cast_slice(&even),
            bytemuck::cast_slice(&odd),
        );
        Ok(())
    }

    /// Bits, bytes and serial correlation.
    fn frequencies(&mut self, base: &Row, words: &[u32]) {
        let bf = stats::bit_frequency(words);
        self.stat(
            base,
            "bit frequency",
            "each bit 1/2".into(),
            format!("32 bits, X2 = {:.1}", bf.chi2.statistic),
            "chi-square, 32 dof".into(),
            bf.chi2.p,
        );
        self.stat(
            base,
            "worst bit",
            "|z| small".into(),
            format!("bit {}", bf.max_bit),
            format!("z = {:.2}", bf.max_abs_z),
            bf.p_max,
        );
        let bytes = stats::byte_chi_square(words);
        self.stat(
            base,
            "byte chi-square",
            "256 equiprobable bytes".into(),
            format!("worst byte {}", bytes.worst_cell),
            format!("X2 = {:.1}, dof {}", bytes.statistic, bytes.dof),
            bytes.p,
        );
        for lag in 1..=8 {
            let c = stats::serial_correlation(words, lag);
            self.stat(
                base,
                &format!("serial correlation, lag {lag}"),
                "0".into(),
                format!("r = {:+.2e}", c.r),
                format!("z = {:+.2}", c.z),
                c.p,
            );
        }
    }

    /// Repeats: 128-bit blocks are distinct unless the stream cycles (P(any repeat) <
    /// n^2 / 2^131 for a correct generator).
    fn repeats(&mut self, base: &Row, words: &[u32]) {
        let mut blocks: Vec<u128> = words
            .chunks_exact(4)
            .map(|b| {
                u128::from(b[0])
                    | u128::from(b[1]) << 32
                    | u128::from(b[2]) << 64
                    | u128::from(b[3]) << 96
            })
            .collect();
        blocks.sort_unstable();
        let repeats = blocks.windows(2).filter(|w| w[0] == w[1]).count();
        drop(blocks);
        self.exact(
            base,
            "repeated 128-bit blocks",
            "0".into(),
            format!("{repeats}"),
            "P(any) < 1e-20 under H0",
            repeats == 0,
        );
    }

    fn independence(&mut self, base: &Row, what: &str, a: &[u32], b: &[u32]) {
        let r = stats::independence(a, b);
        self.stat(
            base,
            &format!("independence of {what}: correlation"),
            "0".into(),
            format!("r = {:+.2e}", r.correlation.r),
            format!("z = {:+.2}", r.correlation.z),
            r.correlation.p,
        );
        self.stat(
            base,
            &format!("independence of {what}: 16x16 table"),
            "independent top nibbles".into(),
            format!("worst cell {}", r.table.worst_cell),
            format!("X2 = {:.1}, dof {}", r.table.statistic, r.table.dof),
            r.table.p,
        );
    }

    /// The same slices through the subject's other configurations, and as the tail of a
    /// request that starts earlier: identical bits, or the stream depends on how work is split.
    pub(super) fn dispatch(&mut self, subject: &Subject, base: &Row) -> Result<()> {
        let seed = self.opts.seed;
        let main = subject.generator;
        for (i, name) in ["xavier_uniform", "glorot_normal", "kaiming_normal"]
            .iter()
            .enumerate()
        {
            let case = Case::new(name, &[256, 1000], Layout::Torch, "dispatch");
            let s = case.claim()?.distribution.sampler();
            let stream = 50 + i as u64;
            for (first, count) in [(0u64, 256_000u64), ((1 << 32) - 7, 25_003)] {
                let span = Span {
                    seed,
                    stream,
                    first,
                    count,
                };
                let whole = main.values(&s, span)?;
                let mut variants = Vec::new();
                for (how, g) in &subject.rechunked {
                    variants.push((how.clone(), g.values(&s, span)?));
                }
                let lead = first.min(5);
                let last = subject.rechunked.last().map_or(main, |(_, g)| *g);
                let mut earlier = last.values(
                    &s,
                    Span {
                        seed,
                        stream,
                        first: first - lead,
                        count: count + lead,
                    },
                )?;
                variants.push((
                    format!("offset {lead} earlier"),
                    earlier.split_off(lead as usize),
                ));
                let base = Row {
                    scheme: name.to_string(),
                    shape: format!("[256, 1000] elements {first}..{}", first + count),
                    ..base.clone()
                };
                for (how, v) in variants {
                    let bad = v
                        .iter()
                        .zip(&whole)
                        .filter(|(a, b)| a.to_bits() != b.to_bits())
                        .count()
                        + v.len().abs_diff(whole.len());
                    self.exact(
                        &base,
                        &format!("{how} == one request"),
                        "identical bits".into(),
                        format!("{bad} of {count} differ"),
                        "bit-identical",
                        bad == 0,
                    );
                }
            }
        }
        Ok(())
    }
}
