//! One small trait over every generator (the GPU, the CPU reference, and the deliberately
//! broken ones `verify` proves its power on), in the manner of rand_core: an implementor
//! fills one slice; chunking, streaming and vectors are written once, here.

use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, GpuContext, Kernel};
use crate::rng::philox::philox4x32_10;
use crate::rng::{Sampler, Span, Start};

/// A source of stream words and values: element `first + i` of (seed, stream) in `out[i]`.
pub trait Generator: Sync {
    /// "llvmpipe (LLVM 15.0.6, 256 bits) (vulkan)", "cpu (2 threads)".
    fn label(&self) -> String;
    /// True for the CPU reference itself: nothing to compare it with but the definition.
    fn is_reference(&self) -> bool {
        false
    }
    /// The adapter, for a GPU.
    fn adapter(&self) -> Option<AdapterSummary> {
        None
    }
    /// Largest slice one fill takes.
    fn chunk(&self) -> u64;
    /// Philox4x32-10 of arbitrary (counter, key) pairs, for known-answer checks.
    fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> Result<Vec<[u32; 4]>>;
    /// Raw words of elements `first .. first + out.len()`.
    fn fill_words(&self, at: Start, out: &mut [u32]) -> Result<()>;
    /// Values under `sampler` of elements `first .. first + out.len()`.
    fn fill_values(&self, sampler: &Sampler, at: Start, out: &mut [f32]) -> Result<()>;

    /// Words of elements `first .. first + count`, handed to `sink` in order, one chunk at a
    /// time (no more than one chunk is held).
    fn stream_words(&self, span: Span, sink: &mut dyn FnMut(&[u32]) -> Result<()>) -> Result<()> {
        span.check()?;
        chunked(span.count, self.chunk(), sink, |at, buf| {
            self.fill_words(span.start().advance(at), buf)
        })
    }

    /// Values of elements `first .. first + count`, likewise.
    fn stream_values(
        &self,
        sampler: &Sampler,
        span: Span,
        sink: &mut dyn FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        span.check()?;
        chunked(span.count, self.chunk(), sink, |at, buf| {
            self.fill_values(sampler, span.start().advance(at), buf)
        })
    }

    /// Words of elements `first .. first + count`.
    fn words(&self, span: Span) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(host_len(span.count)?);
        self.stream_words(span, &mut |w| {
            out.extend_from_slice(w);
            Ok(())
        })?;
        Ok(out)
    }

    /// Values of elements `first .. first + count` under `sampler`.
    fn values(&self, sampler: &Sampler, span: Span) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(host_len(span.count)?);
        self.stream_values(sampler, span, &mut |v| {
            out.extend_from_slice(v);
            Ok(())
        })?;
        Ok(out)
    }
}

/// `count` elements in fills of at most `chunk`, each handed to `sink`.
fn chunked<T: Copy + Default>(
    count: u64,
    chunk: u64,
    sink: &mut dyn FnMut(&[T]) -> Result<()>,
    mut fill: impl FnMut(u64, &mut [T]) -> Result<()>,
) -> Result<()> {
    let chunk = chunk.clamp(1, count.max(1));
    let mut buf = vec![T::default(); host_len(chunk)?];
    let mut done = 0;
    while done < count {
        let n = (count - done).min(chunk) as usize;
        fill(done, &mut buf[..n])?;
        sink(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// A count as a host length, or an error naming it.
pub fn host_len(count: u64) -> Result<usize> {
    usize::try_from(count)
        .map_err(|_| Error::invalid(format!("count {count} does not fit in host memory")))
}

/// The CPU reference (`src/cpu/generate.rs`) on every core.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuReference;

impl Generator for CpuReference {
    fn label(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }
    fn is_reference(&self) -> bool {
        true
    }
    fn chunk(&self) -> u64 {
        1 << 22
    }
    fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> Result<Vec<[u32; 4]>> {
        Ok(inputs.iter().map(|(c, k)| philox4x32_10(*c, *k)).collect())
    }
    fn fill_words(&self, at: Start, out: &mut [u32]) -> Result<()> {
        crate::cpu::words(at.seed, at.stream, at.first, out);
        Ok(())
    }
    fn fill_values(&self, sampler: &Sampler, at: Start, out: &mut [f32]) -> Result<()> {
        crate::cpu::generate(sampler, at.seed, at.stream, at.first, out);
        Ok(())
    }
}

impl Generator for GpuContext {
    fn label(&self) -> String {
        self.gpu().label()
    }
    fn adapter(&self) -> Option<AdapterSummary> {
        self.gpu().adapter_summary()
    }
    fn chunk(&self) -> u64 {
        self.readback_elements()
    }
    fn philox(&self, inputs: &[([u32; 4], [u32; 2])]) -> Result<Vec<[u32; 4]>> {
        GpuContext::philox(self, inputs)
    }
    fn fill_words(&self, at: Start, out: &mut [u32]) -> Result<()> {
        self.fill(Kernel::Words, &Sampler::default(), at, out)
    }
    fn fill_values(&self, sampler: &Sampler, at: Start, out: &mut [f32]) -> Result<()> {
        let bits = bytemuck::cast_slice_mut(out);
        self.fill(Kernel::Generate, sampler, at, bits)
    }
}
