//! One small trait over every generator (the GPU, the CPU reference, and the deliberately
//! broken ones `verify` proves its power on), in the manner of rand_core: an implementor
//! fills one slice; chunking, streaming and vectors are written once, here. [`Devices`]
//! opens what a command asks for (`--device auto|gpu|cpu|both`).

use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, BackendChoice, GpuContext, GpuOptions, Kernel};
use crate::named::named_enum;
use crate::rng::philox::{check_range, philox4x32_10, Span, Start};
use crate::rng::Sampler;

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
    fn stream_words(
        &self,
        (seed, stream, first, count): Span,
        sink: &mut dyn FnMut(&[u32]) -> Result<()>,
    ) -> Result<()> {
        check_range(first, count)?;
        chunked(count, self.chunk(), sink, |at, buf| {
            self.fill_words((seed, stream, first + at), buf)
        })
    }

    /// Values of elements `first .. first + count`, likewise.
    fn stream_values(
        &self,
        sampler: &Sampler,
        (seed, stream, first, count): Span,
        sink: &mut dyn FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        check_range(first, count)?;
        chunked(count, self.chunk(), sink, |at, buf| {
            self.fill_values(sampler, (seed, stream, first + at), buf)
        })
    }

    /// Words of elements `first .. first + count`.
    fn words(&self, span: Span) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(host_len(span.3)?);
        self.stream_words(span, &mut |w| {
            out.extend_from_slice(w);
            Ok(())
        })?;
        Ok(out)
    }

    /// Values of elements `first .. first + count` under `sampler`.
    fn values(&self, sampler: &Sampler, span: Span) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(host_len(span.3)?);
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
    fn fill_words(&self, (seed, stream, first): Start, out: &mut [u32]) -> Result<()> {
        crate::cpu::words(seed, stream, first, out);
        Ok(())
    }
    fn fill_values(&self, sampler: &Sampler, at: Start, out: &mut [f32]) -> Result<()> {
        crate::cpu::generate(sampler, at.0, at.1, at.2, out);
        Ok(())
    }
}

impl Generator for GpuContext {
    fn label(&self) -> String {
        GpuContext::label(self)
    }
    fn adapter(&self) -> Option<AdapterSummary> {
        self.adapter_summary()
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

named_enum! {
    /// Where a command computes.
    #[derive(Default)]
    pub enum DeviceChoice ("device") {
        /// The GPU when an adapter exists, else the CPU reference (with a notice).
        #[default]
        Auto = ["auto"],
        Gpu = ["gpu"],
        Cpu = ["cpu"],
        /// The GPU and the CPU reference, compared.
        Both = ["both"],
    }
}

/// The devices a command runs on.
pub struct Devices {
    pub gpu: Option<GpuContext>,
    pub cpu: bool,
    /// Why `auto` fell back to the CPU, for one line on standard error.
    pub notice: Option<String>,
}

impl Devices {
    /// Opens what `choice` asks for. `auto` means the GPU when an adapter exists (and the
    /// CPU beside it when `compare_when_auto`), else the CPU reference; it falls back only
    /// when no adapter exists at all and neither an adapter nor a backend was named, and
    /// never under `GPUINIT_REQUIRE_GPU=1`.
    pub fn open(
        choice: DeviceChoice,
        opts: &GpuOptions,
        compare_when_auto: bool,
    ) -> Result<Devices> {
        let gpu = |cpu: bool| {
            Ok(Devices {
                gpu: Some(GpuContext::new(opts)?),
                cpu,
                notice: None,
            })
        };
        match choice {
            DeviceChoice::Gpu => gpu(false),
            DeviceChoice::Both => gpu(true),
            DeviceChoice::Cpu => Ok(Devices {
                gpu: None,
                cpu: true,
                notice: None,
            }),
            DeviceChoice::Auto => match GpuContext::new(opts) {
                Ok(ctx) => Ok(Devices {
                    gpu: Some(ctx),
                    cpu: compare_when_auto,
                    notice: None,
                }),
                Err(Error::NoAdapter(why))
                    if opts.adapter.is_none()
                        && opts.backend == BackendChoice::Auto
                        && std::env::var("GPUINIT_REQUIRE_GPU").as_deref() != Ok("1") =>
                {
                    Ok(Devices {
                        gpu: None,
                        cpu: true,
                        notice: Some(format!(
                            "notice: {}; running on the CPU reference (same values)",
                            why.split(';').next().unwrap_or(&why)
                        )),
                    })
                }
                Err(e) => Err(e),
            },
        }
    }

    /// The generators to run, the GPU first.
    pub fn generators(&self) -> Vec<&dyn Generator> {
        let mut v: Vec<&dyn Generator> = Vec::new();
        if let Some(g) = &self.gpu {
            v.push(g);
        }
        if self.cpu {
            v.push(&CpuReference);
        }
        v
    }

    /// The device whose results a command reports: the GPU when there is one.
    pub fn primary(&self) -> &dyn Generator {
        match &self.gpu {
            Some(g) => g,
            None => &CpuReference,
        }
    }
}
