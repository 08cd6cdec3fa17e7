//! gpuinit: Xavier/Glorot and related neural-network weight initialization on the GPU.
//!
//! Every weight is a pure function of (seed, stream, index, scheme): Philox4x32-10 gives
//! the word (`philox`), a fixed map turns it into a value (`distribution`), a scheme picks
//! the distribution from the tensor's fans (`scheme`). The GPU (`gpu`) and the CPU
//! reference (`cpu`) implement the same contract, documented in `docs/STREAM.md`.

pub mod commands;
pub mod cpu;
pub mod distribution;
pub mod error;
pub mod gpu;
pub mod output;
pub mod philox;
pub mod scheme;

pub use distribution::{Distribution, Sampler};
pub use error::{Error, Result};
pub use gpu::{BackendChoice, GpuContext, GpuOptions};
pub use scheme::{Fans, Layout, Scheme, SchemeOptions};
