//! gpuinit: Xavier/Glorot and related neural-network weight initialization on the GPU.
//!
//! Every weight is a pure function of (seed, stream, index, scheme): Philox4x32-10 gives
//! the word ([`philox`]), a fixed map turns it into a value ([`distribution`]), a scheme
//! picks the distribution from the tensor's fans ([`scheme`]). The GPU ([`gpu`]) and the
//! CPU reference ([`cpu`]) implement the same contract, documented in `docs/STREAM.md`:
//! uniform weights are bit-identical on every device and backend.
//!
//! Weights into a `Vec<f32>`, on the GPU and on the CPU:
//!
//! ```
//! use gpuinit::{cpu, Fans, GpuContext, GpuOptions, Layout, Scheme, SchemeOptions};
//!
//! # fn main() -> gpuinit::Result<()> {
//! // A torch Linear(128 -> 256) weight, [out, in].
//! let fans = Fans::from_shape(&[256, 128], Layout::Torch)?;
//! let scheme = Scheme::parse("xavier_uniform", &SchemeOptions::default())?;
//! let sampler = scheme.distribution(fans)?.sampler();
//! let (seed, stream) = (42, 0);
//! let on_cpu = cpu::generate_vec(&sampler, seed, stream, 0, 256 * 128);
//! assert!(on_cpu.iter().all(|w| w.abs() < 0.125));
//! # if std::env::var_os("EGL_PLATFORM").is_none() { std::env::set_var("EGL_PLATFORM", "surfaceless"); }
//! match GpuContext::new(&GpuOptions::default()) {
//!     Ok(gpu) => assert_eq!(gpu.generate(&sampler, seed, stream, 0, 256 * 128)?, on_cpu),
//! #   Err(e) if std::env::var("GPUINIT_REQUIRE_GPU").as_deref() == Ok("1") => panic!("{e}"),
//!     Err(e) => eprintln!("no GPU here: {e}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Weights straight into a buffer on your own `wgpu::Device`, with no host round trip:
//!
//! ```
//! use gpuinit::{Fans, GpuContext, Scheme, SchemeOptions};
//!
//! # fn main() -> gpuinit::Result<()> {
//! # if std::env::var_os("EGL_PLATFORM").is_none() { std::env::set_var("EGL_PLATFORM", "surfaceless"); }
//! let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
//! let Ok(adapter) = pollster::block_on(instance.request_adapter(&Default::default())) else {
//! #   if std::env::var("GPUINIT_REQUIRE_GPU").as_deref() == Ok("1") { panic!("no adapter"); }
//!     return Ok(()); // no GPU here
//! };
//! let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
//! let layer = device.create_buffer(&wgpu::BufferDescriptor {
//!     label: Some("fc1.weight"),
//!     size: 4 * 784 * 1000,
//!     usage: wgpu::BufferUsages::STORAGE,
//!     mapped_at_creation: false,
//! });
//! let gpu = GpuContext::from_device(&device, &queue)?;
//! let he = Scheme::parse("kaiming_normal", &SchemeOptions::default())?;
//! let sampler = he.distribution(Fans::new(784, 1000)?)?.sampler();
//! // Layer 1 of the network uses stream 1; later work on `queue` sees the weights.
//! let submitted = gpu.generate_into(&sampler, 42, 1, 0, 784 * 1000, &layer, 0)?;
//! gpu.wait(submitted)?;
//! # Ok(())
//! # }
//! ```

pub mod bench;
pub mod commands;
pub mod cpu;
pub mod distribution;
pub mod error;
pub mod gpu;
pub mod output;
pub mod philox;
pub mod progress;
pub mod propagate;
pub mod scheme;
pub mod stats;
pub mod verify;

pub use distribution::{Distribution, Sampler};
pub use error::{Error, Result};
pub use gpu::{BackendChoice, GpuContext, GpuOptions};
pub use scheme::{Fans, Layout, Scheme, SchemeOptions};
