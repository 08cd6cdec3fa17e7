//! CPU twins of the WGSL stages, one file per shader of the same stem: the reference every
//! GPU result is checked against, and the `--device cpu` path.
//!
//! | shader | twin |
//! | --- | --- |
//! | `shaders/generate.wgsl` | [`generate`] |
//! | `shaders/matmul.wgsl` | [`matmul`] |
//! | `shaders/layer_stats.wgsl`, `shaders/shared/reduce.wgsl` | [`layer_stats`] |
//! | `shaders/backward.wgsl` | [`backward`] |
//! | `shaders/train.wgsl` | [`train`] |
//! | `shaders/shared/activation.wgsl` | [`activation`] |
//!
//! The shared modules `philox` and `distribution` are the stream contract itself, so their
//! twins live in [`crate::rng`].

pub mod activation;
pub mod backward;
pub mod generate;
pub mod layer_stats;
pub mod matmul;
pub mod train;

pub use generate::{generate, generate_vec, words, words_vec};
