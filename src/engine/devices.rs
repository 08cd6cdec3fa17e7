//! [`Devices`]: what a command computes on (`--device auto|gpu|cpu|both`), opened once.

use super::generator::{CpuReference, Generator};
use crate::error::{Error, Result};
use crate::gpu::{BackendChoice, GpuContext, GpuOptions};
use crate::named::named_enum;

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
