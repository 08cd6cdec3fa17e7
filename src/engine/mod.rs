//! The engine: what runs the same on every device. [`Generator`] fills slices of the stream
//! (the GPU, the CPU reference, and `verify`'s deliberately broken ones); [`Backend`] is
//! the operations network code needs, implemented once for the GPU ([`GpuBackend`]) and
//! once for the CPU reference ([`CpuBackend`]); [`deep`] is the network pass written once
//! over it; [`Devices`] opens what a command asks for.
//!
//! Nothing here names a wgpu type: the GPU side is reached through [`crate::gpu`]'s
//! context and [`crate::gpu::Batch`].
//!
//! One pass through a deep tanh network, written once and run on the CPU reference and on
//! the GPU: the same weights (a pure function of the seed), statistics that agree.
//!
//! ```
//! use gpuinit::engine::{deep, Backend, CpuBackend, GpuBackend, Network};
//! use gpuinit::propagate::Activation;
//! use gpuinit::{GpuContext, GpuOptions, Scheme};
//!
//! # fn main() -> gpuinit::Result<()> {
//! let net = Network::uniform(6, 64, 32, Activation::Tanh, 1)?;
//! let samplers = net.weight_samplers(&Scheme::parse_spec("xavier_uniform")?)?;
//! let cpu = deep::run(&mut CpuBackend::new(), &net, &samplers, true)?;
//! let std = |r: &gpuinit::engine::Reduction| (r.moments.m2 / r.moments.n as f64).sqrt();
//! // Xavier keeps tanh's activations from vanishing six layers down.
//! assert!(std(&cpu.activations[6]) > 0.2 * std(&cpu.activations[1]));
//! # if std::env::var_os("EGL_PLATFORM").is_none() { std::env::set_var("EGL_PLATFORM", "surfaceless"); }
//! match GpuContext::new(&GpuOptions::default()) {
//!     Ok(ctx) => {
//!         let mut gpu = GpuBackend::for_network(&ctx, &net, true)?;
//!         let on_gpu = deep::run(&mut gpu, &net, &samplers, true)?;
//!         for (g, c) in on_gpu.gradients.iter().zip(&cpu.gradients) {
//!             assert!((std(g) / std(c) - 1.0).abs() < 1e-3);
//!         }
//!     }
//! #   Err(e) if std::env::var("GPUINIT_REQUIRE_GPU").as_deref() == Ok("1") => panic!("{e}"),
//!     Err(e) => eprintln!("no GPU here: {e}"),
//! }
//! # Ok(())
//! # }
//! ```

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
