//! The stage shaders as `build.rs` composed them (imports resolved, `abi` generated from
//! `src/abi.rs`), validated by naga and translated for every backend before this crate
//! compiled.

/// One composed stage: `shaders/NAME.wgsl` with its imports.
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! stage {
    ($name:literal) => {
        Stage {
            name: concat!($name, ".wgsl"),
            source: include_str!(concat!(env!("OUT_DIR"), "/", $name, ".wgsl")),
        }
    };
}

pub const GENERATE: Stage = stage!("generate");
/// `generate` with mulhilo_int64.wgsl: for devices with SHADER_INT64.
pub const GENERATE_INT64: Stage = stage!("generate_int64");
pub const STORE: Stage = stage!("store");
pub const MATMUL: Stage = stage!("matmul");
pub const MATMUL_NAIVE: Stage = stage!("matmul_naive");
pub const LAYER_STATS: Stage = stage!("layer_stats");
pub const BACKWARD: Stage = stage!("backward");
pub const TRAIN: Stage = stage!("train");

/// Every stage.
pub const ALL: [Stage; 8] = [
    GENERATE,
    GENERATE_INT64,
    STORE,
    MATMUL,
    MATMUL_NAIVE,
    LAYER_STATS,
    BACKWARD,
    TRAIN,
];
