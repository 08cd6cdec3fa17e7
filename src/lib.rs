//! gpuinit: Xavier/Glorot and related neural-network weight initialization on the GPU.
//!
//! Every weight is a pure function of (seed, stream, index, scheme), the contract of
//! `docs/STREAM.md` ([`rng`]). The GPU ([`gpu`], WGSL kernels in `shaders/`) and the CPU
//! reference ([`cpu`]) both implement it, behind one trait ([`Generator`]): uniform
//! weights are bit-identical on every device and backend.
//!
//! Where things live, and which way imports point: each module uses only modules of its own
//! layer or of layers below it, and no capability uses another (code two capabilities share
//! belongs in a lower layer). `tests/layers.rs` checks every `crate::` path against the same
//! table, kept there as `LAYERS`; a module added to the crate goes in both.
//!
//! | layer | modules |
//! | --- | --- |
//! | binary | `src/bin/gpuinit/`: parses arguments, prints, writes files (nothing in the library prints) |
//! | capabilities | [`verify`], [`propagate`], [`bench`](mod@bench), [`init`], [`train`]: one command each (the correctness battery, deep propagation, throughput, checkpoints, training) |
//! | support | [`stats`], [`shapeset`], [`output`]: test statistics, the Shapeset-3x2 images that training reads, and files written whole or not at all |
//! | engine | [`engine`]: the `Generator` trait (chunking written once) and blocks of a tensor over it, the `Backend` of network operations for the GPU and the CPU reference, and the network pass written once over it |
//! | devices | [`gpu`], [`cpu`]: one GPU engine with a file per kernel family, and the CPU reference with a twin per shader |
//! | contract | [`rng`], [`abi`], [`error`], [`named`], [`progress`], [`host`]: the stream of `docs/STREAM.md` and its tolerances, what WGSL and Rust share, the error type, enums chosen by name, progress reports, the host's memory |
//!
//! Weights into a `Vec<f32>`, on the GPU and on the CPU:
//!
//! ```
//! use gpuinit::rng::Span;
//! use gpuinit::{cpu, Fans, Generator, GpuContext, GpuOptions, Layout, Scheme, SchemeOptions};
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
//!     Ok(gpu) => assert_eq!(gpu.values(&sampler, Span::whole(seed, stream, 256 * 128))?, on_cpu),
//! #   Err(e) if std::env::var("GPUINIT_REQUIRE_GPU").as_deref() == Ok("1") => panic!("{e}"),
//!     Err(e) => eprintln!("no GPU here: {e}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Weights straight into a buffer on your own `wgpu::Device`, with no host round trip (here
//! read back once, to show they are the CPU reference's):
//!
//! ```
//! use gpuinit::rng::tolerance::{ulps, MAX_ABS_PER_STD, MAX_ULPS};
//! use gpuinit::{cpu, Fans, GpuContext, Scheme, SchemeOptions};
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
//!     usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
//!     mapped_at_creation: false,
//! });
//! let gpu = GpuContext::from_device(&device, &queue)?;
//! let he = Scheme::parse("kaiming_normal", &SchemeOptions::default())?;
//! let sampler = he.distribution(Fans::new(784, 1000)?)?.sampler();
//! // Layer 1 of the network uses stream 1; later work on `queue` sees the weights.
//! let submitted = gpu.generate_into(&sampler, gpuinit::rng::Span::whole(42, 1, 784 * 1000), &layer, 0)?;
//! gpu.wait(submitted)?;
//! let weights = gpu.read_f32(&layer, 784 * 1000)?;
//! let reference = cpu::generate_vec(&sampler, 42, 1, 0, 784 * 1000);
//! // Normal values agree within the documented bound (docs/STREAM.md): 16 ulps, or 1e-6
//! // of the std near zero.
//! let within = |(a, b): (&f32, &f32)| {
//!     ulps(*a, *b) <= MAX_ULPS || f64::from((a - b).abs()) <= MAX_ABS_PER_STD * f64::from(sampler.scale)
//! };
//! assert!(weights.iter().zip(&reference).all(within));
//! # Ok(())
//! # }
//! ```

pub mod abi;
pub mod bench;
pub mod cpu;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod host;
pub mod init;
pub mod named;
pub mod output;
pub mod progress;
pub mod propagate;
pub mod rng;
pub mod shapeset;
pub mod stats;
pub mod train;
pub mod verify;

pub use engine::{block, generator, CpuReference, DeviceChoice, Devices, Generator};
pub use error::{Error, Result};
pub use gpu::{BackendChoice, GpuContext, GpuOptions};
pub use rng::{Distribution, Fans, Layout, Sampler, Scheme, SchemeOptions};
