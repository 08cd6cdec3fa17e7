//! What the WGSL kernels and the Rust host share, written once: constants, codes, polynomial
//! coefficients and the structs passed in buffers.
//!
//! `build.rs` includes this file, writes it out as the WGSL module `abi` (every stage gets it
//! through `#import abi`), and checks through naga's layouter that each struct has the same
//! size and member offsets in WGSL as here. A constant changed here changes both sides; a
//! struct that no longer lines up fails `cargo build`.
//!
//! Nothing here may name a crate path: the build script compiles this file on its own.

use std::fmt::Write as _;

/// The WGSL spelling of a Rust field type.
pub trait WgslType {
    const WGSL: &'static str;
}

impl WgslType for u32 {
    const WGSL: &'static str = "u32";
}
impl WgslType for f32 {
    const WGSL: &'static str = "f32";
}
impl WgslType for [u32; 2] {
    const WGSL: &'static str = "vec2<u32>";
}

/// A `#[repr(C)]` struct and its WGSL declaration from one list of fields.
macro_rules! shared_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $($(#[$fm])* pub $field: $ty,)* }

        impl WgslType for $name {
            const WGSL: &'static str = stringify!($name);
        }

        impl $name {
            /// The WGSL declaration.
            pub fn wgsl() -> String {
                let mut s = format!("struct {} {{\n", stringify!($name));
                $(let _ = writeln!(s, "    {}: {},", stringify!($field), <$ty as WgslType>::WGSL);)*
                s + "}\n"
            }

            /// Size and (member, offset) pairs, for the build's layout check.
            pub fn layout() -> (usize, Vec<(&'static str, usize)>) {
                (
                    std::mem::size_of::<$name>(),
                    vec![$((stringify!($field), std::mem::offset_of!($name, $field)),)*],
                )
            }
        }
    };
}

/// `u32` constants, and their WGSL declarations.
macro_rules! shared_u32 {
    ($($(#[$m:meta])* pub const $name:ident: u32 = $v:expr;)*) => {
        $($(#[$m])* pub const $name: u32 = $v;)*
        const U32_CONSTS: &[(&str, u32)] = &[$((stringify!($name), $name),)*];
    };
}

/// `f32` constants, and their WGSL declarations.
macro_rules! shared_f32 {
    ($($(#[$m:meta])* pub const $name:ident: f32 = $v:expr;)*) => {
        $($(#[$m])* pub const $name: f32 = $v;)*
        const F32_CONSTS: &[(&str, f32)] = &[$((stringify!($name), $name),)*];
    };
}

shared_u32! {
    /// Philox4x32 round multipliers (Salmon et al. 2011).
    pub const PHILOX_M0: u32 = 0xD251_1F53;
    pub const PHILOX_M1: u32 = 0xCD9E_8D57;
    /// Weyl increments of the key between rounds.
    pub const PHILOX_W0: u32 = 0x9E37_79B9;
    pub const PHILOX_W1: u32 = 0xBB67_AE85;
    /// Rounds of the standard generator (the kernels' `PHILOX_ROUNDS` override defaults to it).
    pub const PHILOX_ROUNDS: u32 = 10;
    /// [`Sampler::kind`] codes.
    pub const KIND_UNIFORM: u32 = 0;
    pub const KIND_NORMAL: u32 = 1;
    pub const KIND_CONSTANT: u32 = 2;
    /// Not a sampler kind: the generation kernels' specialization that stores raw words.
    pub const KIND_WORDS: u32 = 3;
    /// Elements each generation invocation writes: one Philox block of four words.
    pub const ELEMENTS_PER_INVOCATION: u32 = 4;
    /// Invocations of a `train.wgsl` workgroup (`softmax_xent`, `bias_grad`, `sgd`).
    pub const TRAIN_WG: u32 = 64;
    /// Floats each `sgd` invocation updates per step of its grid-striding loop.
    pub const SGD_VEC: u32 = 4;
    /// Output tile side of the tiled matmul (BM = BN).
    pub const MATMUL_TILE: u32 = 64;
    /// Workgroup side of the 2-D elementwise kernels (`@workgroup_size(SIDE, SIDE)`).
    pub const SIDE: u32 = 16;
    /// Invocations of a statistics workgroup.
    pub const STATS_WG: u32 = 256;
    /// Bins of every per-layer histogram.
    pub const HIST_BINS: u32 = 50;
    /// Words per statistics record, and the word of each field in it (u32, or f32 by bits).
    pub const RECORD_WORDS: u32 = 64;
    pub const REC_N: u32 = 0;
    pub const REC_SATURATED: u32 = 1;
    pub const REC_NONFINITE: u32 = 2;
    pub const REC_MEAN: u32 = 3;
    /// The sum of squared deviations is scale^2 * ssq.
    pub const REC_SCALE: u32 = 4;
    pub const REC_SSQ: u32 = 5;
    pub const REC_MIN: u32 = 6;
    pub const REC_MAX: u32 = 7;
    pub const REC_HIST_LO: u32 = 8;
    pub const REC_HIST_HI: u32 = 9;
    /// First of [`HIST_BINS`] bin counts.
    pub const REC_BINS: u32 = 10;
    /// Terms of the Mills-ratio continued fraction in the normal tail quantile.
    pub const MILLS_TERMS: u32 = 8;
    /// Newton steps of the normal tail quantile.
    pub const NEWTON_STEPS: u32 = 3;
}

shared_f32! {
    /// 2^-24: the spacing of the uniform grid.
    pub const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
    pub const SQRT_2: f32 = std::f32::consts::SQRT_2;
    /// SELU's constants (Klambauer et al. 2017), as torch rounds them to f32.
    #[allow(clippy::excessive_precision)]
    pub const SELU_ALPHA: f32 = 1.673_263_242_354_377_2;
    #[allow(clippy::excessive_precision)]
    pub const SELU_LAMBDA: f32 = 1.050_700_987_355_480_5;
    /// tanh's odd Taylor polynomial below |z| = TANH_SMALL: z + z^3 (C3 + z^2 (C5 + z^2 C7)).
    pub const TANH_SMALL: f32 = 0.125;
    pub const TANH_C3: f32 = -0.333_333_34;
    pub const TANH_C5: f32 = 0.133_333_34;
    pub const TANH_C7: f32 = -0.053_968_254;
    /// Tail masses below this (2^-25, z beyond 5.42) take the log-space tail quantile:
    /// Giles' f32 erfinv is within an ulp down to here and loses digits past it.
    pub const NORMAL_TAIL_FROM: f32 = 1.0 / 33_554_432.0;
    /// ln(2 pi) and ln(sqrt(2 pi)), rounded to f32.
    #[allow(clippy::excessive_precision)]
    pub const LN_2PI: f32 = 1.837_877_066_409_345_3;
    #[allow(clippy::excessive_precision)]
    pub const HALF_LN_2PI: f32 = 0.918_938_533_204_672_7;
    /// Saturation: |tanh| above, sigmoid outside [LO, 1 - LO], |softsign| above.
    pub const SATURATED_TANH: f32 = 0.99;
    pub const SATURATED_SIGMOID_LO: f32 = 0.01;
    pub const SATURATED_SOFTSIGN: f32 = 0.9;
}

/// Giles' single-precision erfinv ("Approximating the erfinv function", GPU Computing Gems,
/// 2011): the central branch (`w < 5`, polynomial in `w - 2.5`), highest degree first.
pub const QUANTILE_CENTRAL: [f32; 9] = [
    2.810_226_4e-8,
    3.432_739_4e-7,
    -3.523_387_7e-6,
    -4.391_506_5e-6,
    0.000_218_580_87,
    -0.001_253_725,
    -0.004_177_681_6,
    0.246_640_73,
    1.501_409_4,
];

/// The tail branch (`w >= 5`, polynomial in `sqrt(w) - 3`), highest degree first.
pub const QUANTILE_TAIL: [f32; 9] = [
    -0.000_200_214_26,
    0.000_100_950_56,
    0.001_349_343_2,
    -0.003_673_428_4,
    0.005_739_507_7,
    -0.007_622_461_3,
    0.009_438_870_5,
    1.001_674,
    2.832_976_8,
];

shared_struct! {
    /// A distribution's f32 parameters exactly as the CPU and the GPU use them.
    pub struct Sampler {
        pub kind: u32,
        /// Uniform: half the width. Normal: the std.
        pub scale: f32,
        /// Uniform: the midpoint. Normal: the mean. Constant: the value.
        pub shift: f32,
        /// Normal: Phi(a), the mass below the lower truncation point (0 when untruncated).
        pub phi_a: f32,
        /// Normal: 1 - Phi(b), the mass above the upper truncation point (0 when untruncated).
        pub phic_b: f32,
        /// Normal: Phi(b) - Phi(a).
        pub delta: f32,
        /// Normal: results are clamped to [lo, hi], the truncation bounds in f32.
        pub lo: f32,
        pub hi: f32,
        /// Normal: ln(Phi(b) - Phi(a)), formed in log space (far tails have no f32 mass).
        pub log_delta: f32,
        /// Normal: Phi(a) / (Phi(b) - Phi(a)) and (1 - Phi(b)) / (Phi(b) - Phi(a)): a tail
        /// mass is delta * (u + rel), so its log needs no f32 tail mass.
        pub rel_a: f32,
        pub rel_b: f32,
        pub pad: u32,
    }
}

shared_struct! {
    /// One generation dispatch (`shaders/generate.wgsl`).
    pub struct GenerateParams {
        pub seed: [u32; 2],
        pub stream: [u32; 2],
        /// Element index of out[0] in the stream (low, high).
        pub first: [u32; 2],
        pub count: u32,
        /// Invocations per row of workgroups (the y dimension extends past 65,535 workgroups).
        pub row_stride: u32,
        pub sampler: Sampler,
    }
}

shared_struct! {
    /// One store-baseline dispatch (`shaders/store.wgsl`).
    pub struct StoreParams {
        pub count4: u32,
        pub row_stride: u32,
        pub value: u32,
        pub pad: u32,
    }
}

shared_struct! {
    /// One matmul-family dispatch (`matmul`, `matmul_naive`, `pad_rows`, `delta_top`, and
    /// `train.wgsl`'s steps).
    pub struct MatmulParams {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub lda: u32,
        pub ldb: u32,
        pub ldc: u32,
        pub act: u32,
        /// leaky_relu's slope for negative inputs.
        pub slope: f32,
        /// `sgd`'s learning rate.
        pub lr: f32,
        pub pad0: u32,
        pub pad1: u32,
        pub pad2: u32,
    }
}

shared_struct! {
    /// One statistics dispatch (`shaders/layer_stats.wgsl`).
    pub struct StatsParams {
        pub rows: u32,
        pub cols: u32,
        pub ld: u32,
        pub act: u32,
        /// Record written by finalize and histogram.
        pub record: u32,
        /// Partials finalize merges (the moments grid, or the matmul grid for weight gradients).
        pub partials: u32,
        /// 0: histogram on [hist_lo, hist_hi]; 1: on the data's [min, max].
        pub range_mode: u32,
        /// Workgroups of the moments and histogram grids (grid stride over rows).
        pub groups: u32,
        pub hist_lo: f32,
        pub hist_hi: f32,
        pub pad0: u32,
        pub pad1: u32,
    }
}

shared_struct! {
    /// Mergeable moments of some values (`shaders/shared/reduce.wgsl`); the host only sizes
    /// buffers of them.
    pub struct Partial {
        pub n: u32,
        pub sat: u32,
        pub nonfinite: u32,
        pub mean: f32,
        pub scale: f32,
        pub ssq: f32,
        pub lo: f32,
        pub hi: f32,
    }
}

/// The activation of a network's layers; the discriminant is the code the kernels switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Linear = 0,
    Tanh = 1,
    Sigmoid = 2,
    Softsign = 3,
    Relu = 4,
    LeakyRelu = 5,
    Selu = 6,
}

impl Activation {
    pub const ALL: [Activation; 7] = [
        Activation::Linear,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softsign,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Selu,
    ];

    /// The code the shaders use (`ACT_*`).
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The name, then any aliases.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Activation::Linear => &["linear"],
            Activation::Tanh => &["tanh"],
            Activation::Sigmoid => &["sigmoid"],
            Activation::Softsign => &["softsign"],
            Activation::Relu => &["relu"],
            Activation::LeakyRelu => &["leaky_relu"],
            Activation::Selu => &["selu"],
        }
    }

    pub fn name(self) -> &'static str {
        self.names()[0]
    }

    /// The histogram range of a bounded activation's outputs; `None`: the data's own range.
    pub fn hist_range(self) -> Option<(f32, f32)> {
        match self {
            Activation::Tanh | Activation::Softsign => Some((-1.0, 1.0)),
            Activation::Sigmoid => Some((0.0, 1.0)),
            _ => None,
        }
    }

    /// Whether the activation has a saturation test (tanh, sigmoid, softsign, relu).
    pub fn saturates(self) -> bool {
        matches!(
            self,
            Activation::Tanh | Activation::Sigmoid | Activation::Softsign | Activation::Relu
        )
    }

    /// What counts as saturated, for a table's legend.
    pub fn saturation_rule(self) -> String {
        match self {
            Activation::Tanh => format!("|y| > {SATURATED_TANH}"),
            Activation::Sigmoid => format!(
                "y outside [{SATURATED_SIGMOID_LO}, {}]",
                1.0 - SATURATED_SIGMOID_LO
            ),
            Activation::Softsign => format!("|y| > {SATURATED_SOFTSIGN}"),
            Activation::Relu => "y = 0".into(),
            _ => "none".into(),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Horner polynomial in `w` with these f32 coefficients, highest degree first, as WGSL:
/// `p = c0; p = c1 + p * w; ...` (the order the CPU twin evaluates in).
fn wgsl_horner(name: &str, coefficients: &[f32]) -> String {
    let mut s = format!(
        "fn {name}(w: f32) -> f32 {{\n    var p = {:?};\n",
        coefficients[0]
    );
    for c in &coefficients[1..] {
        let _ = writeln!(s, "    p = {c:?} + p * w;");
    }
    s + "    return p;\n}\n"
}

/// The WGSL module `abi`: every constant, code, coefficient and struct above.
pub fn wgsl() -> String {
    let mut s = String::from(
        "// Generated by build.rs from src/abi.rs: edit that file, not this text.\n\n",
    );
    for (name, v) in U32_CONSTS {
        let _ = writeln!(s, "const {name}: u32 = {v}u;");
    }
    for (name, v) in F32_CONSTS {
        // `{:?}` is the shortest decimal that reads back as the same f32.
        let _ = writeln!(s, "const {name}: f32 = {v:?};");
    }
    for a in Activation::ALL {
        let _ = writeln!(
            s,
            "const ACT_{}: u32 = {}u;",
            a.name().to_ascii_uppercase(),
            a.code()
        );
    }
    s.push('\n');
    s += &wgsl_horner("quantile_central", &QUANTILE_CENTRAL);
    s += &wgsl_horner("quantile_tail", &QUANTILE_TAIL);
    for decl in [
        Sampler::wgsl(),
        GenerateParams::wgsl(),
        StoreParams::wgsl(),
        MatmulParams::wgsl(),
        StatsParams::wgsl(),
        Partial::wgsl(),
    ] {
        s.push('\n');
        s += &decl;
    }
    s
}

/// (name, size, member offsets) of every shared struct, for the build's layout check.
#[allow(clippy::type_complexity)]
pub fn layouts() -> Vec<(&'static str, (usize, Vec<(&'static str, usize)>))> {
    vec![
        ("Sampler", Sampler::layout()),
        ("GenerateParams", GenerateParams::layout()),
        ("StoreParams", StoreParams::layout()),
        ("MatmulParams", MatmulParams::layout()),
        ("StatsParams", StatsParams::layout()),
        ("Partial", Partial::layout()),
    ]
}
