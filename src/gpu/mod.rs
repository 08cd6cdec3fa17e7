//! The GPU side: one engine ([`GpuContext`], `device.rs`) that owns the adapter, device,
//! queue, errors, bounded waits, readback and timing (`pipeline.rs`: how families build
//! and record), and one file per kernel family that adds its pipelines and methods to it.
//!
//! | shader | host | CPU twin |
//! | --- | --- | --- |
//! | `shaders/generate.wgsl` | [`generate`] | `src/cpu/generate.rs` |
//! | `shaders/store.wgsl` | [`store`] | a parallel fill |
//! | `shaders/matmul.wgsl`, `matmul_naive.wgsl`, `backward.wgsl` | [`matmul`] | `src/cpu/matmul.rs`, `src/cpu/backward.rs` |
//! | `shaders/layer_stats.wgsl` | [`layer_stats`] | `src/cpu/layer_stats.rs` |
//!
//! The stages are composed and checked by `build.rs` ([`shaders`]); what they share with
//! Rust is in [`crate::abi`].

pub mod adapter;
pub mod device;
pub mod generate;
pub mod layer_stats;
pub mod matmul;
pub mod pipeline;
pub mod problem;
pub mod shaders;
pub mod store;

pub use adapter::{list_adapters, AdapterSummary, BackendChoice, NO_ADAPTER_HELP};
pub use device::{parse_timeout, GpuContext, GpuOptions, Mulhilo, Timing, DEFAULT_TIMEOUT};
pub use generate::Kernel;
pub use matmul::{padded, MatmulKernel, Operands};
pub use pipeline::{dispatch, Uniforms};
pub use problem::{MatmulProblem, Product};
