//! The GPU side, and the only part of the crate that names wgpu's types. [`GpuDevice`]
//! (`device.rs`) owns the adapter, device, queue, errors, bounded waits, readback, timing
//! and the parameter-buffer pool; `pipeline.rs` says how a family compiles and records.
//! Each kernel family is built from a device and owns its pipelines; [`GpuContext`]
//! (`context.rs`) holds the device with every family, and [`Batch`] (`batch.rs`) records
//! the network kernels' work into few bounded submissions for the engine above.
//!
//! | shader | host | CPU twin |
//! | --- | --- | --- |
//! | `shaders/generate.wgsl` | [`generate`] | `src/cpu/generate.rs` |
//! | `shaders/store.wgsl` | [`store`] | a parallel fill |
//! | `shaders/matmul.wgsl`, `matmul_naive.wgsl`, `backward.wgsl`, `train.wgsl` | [`matmul`] | `src/cpu/matmul.rs`, `src/cpu/backward.rs`, `src/cpu/train.rs` |
//! | `shaders/layer_stats.wgsl` | [`layer_stats`] | `src/cpu/layer_stats.rs` |
//!
//! Imports inside point one way: context and batch -> families -> pipeline -> device.
//! The stages are composed and checked by `build.rs` ([`shaders`]); what they share with
//! Rust is in [`crate::abi`].

pub mod adapter;
pub mod batch;
pub mod context;
pub mod device;
pub mod generate;
pub mod layer_stats;
pub mod matmul;
pub mod ops;
pub mod pipeline;
pub mod problem;
pub mod shaders;
pub mod store;

pub use adapter::{list_adapters, AdapterSummary, BackendChoice, NO_ADAPTER_HELP};
pub use batch::{Batch, Matrix, Op, Records};
pub use context::{GpuContext, Storage};
pub use device::{parse_timeout, GpuDevice, GpuOptions, Mulhilo, Timing, DEFAULT_TIMEOUT};
pub use generate::Kernel;
pub use matmul::{padded, MatmulKernel, Operands};
pub use ops::WeightGrad;
pub use pipeline::{dispatch, Uniforms};
pub use problem::{MatmulProblem, Product};
