//! The engine: what runs the same on every device. [`Generator`] fills slices of the stream
//! (the GPU, the CPU reference, and `verify`'s deliberately broken ones); [`Backend`] is
//! the operations network code needs, implemented once for the GPU ([`GpuBackend`]) and
//! once for the CPU reference ([`CpuBackend`]); [`deep`] is the network pass written once
//! over it; [`Devices`] opens what a command asks for.
//!
//! Nothing here names a wgpu type: the GPU side is reached through [`crate::gpu`]'s
//! context and [`crate::gpu::Batch`].

pub mod backend;
pub mod block;
pub mod cpu;
pub mod deep;
pub mod devices;
pub mod generator;
pub mod gpu;
pub mod network;
pub mod plan;

pub use backend::{Act, Backend, Reduction};
pub use cpu::{CpuBackend, CpuMatrix};
pub use devices::{DeviceChoice, Devices};
pub use generator::{host_len, CpuReference, Generator};
pub use gpu::GpuBackend;
pub use network::Network;
pub use plan::Plan;
