//! Shared by the GPU tests: every adapter present, opened by backend, once per test binary.
//!
//! With GPUINIT_REQUIRE_GPU=1 a machine without any adapter fails the tests instead of
//! skipping them; GPUINIT_REQUIRE_BACKENDS=vulkan,gl fails them unless each named backend
//! has an adapter (lavapipe and llvmpipe share a name, so backends are counted, not names).
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::OnceLock;

use gpuinit::gpu::{list_adapters, BackendChoice, GpuContext, GpuOptions, Mulhilo};

pub mod models;

/// The gpuinit binary, headless, with no launcher variables (RANK, WORLD_SIZE, SLURM_*,
/// OMPI_*) from the test's own environment.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gpuinit"));
    c.env("EGL_PLATFORM", "surfaceless");
    for v in [
        "SLURM_PROCID",
        "SLURM_NTASKS",
        "RANK",
        "WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs the gpuinit binary with `args`.
pub fn gpuinit(args: &[&str]) -> Output {
    bin().args(args).output().expect("run gpuinit")
}

/// Standard error's lines.
pub fn errors(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The files of `dir` with their bytes, sorted by name; hidden ones (temporaries, a run's
/// claim on the folder) too when `hidden`.
pub fn folder_files(dir: &std::path::Path, hidden: bool) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| hidden || !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Temporary ("partial") files in `dir`; 0 when it does not exist.
pub fn partial_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter(|e| {
            let name = e.as_ref().map(|e| e.file_name()).unwrap_or_default();
            name.to_string_lossy().contains("partial")
        })
        .count()
    })
}

/// Generation configurations every adapter is tested in: the defaults (workgroups of 256,
/// and mulhilo from one u64 product where the adapter has SHADER_INT64, as lavapipe does),
/// and workgroups of 64 with the 16-bit mulhilo every adapter has.
pub const GENERATION_OPTIONS: [(u32, Mulhilo); 2] = [(256, Mulhilo::Auto), (64, Mulhilo::Bits16)];

/// One context per adapter present (Vulkan, GL, Metal, DX12 alike), named
/// "adapter (backend)", with the default options.
pub fn contexts() -> &'static [(String, GpuContext)] {
    static CTX: OnceLock<Vec<(String, GpuContext)>> = OnceLock::new();
    CTX.get_or_init(|| open_all(&GpuOptions::default()))
}

/// Every adapter in each of [`GENERATION_OPTIONS`], named "adapter (backend), workgroup N,
/// mulhilo 16|64": the generation kernels' values must not depend on them.
pub fn generation_contexts() -> &'static [(String, GpuContext)] {
    static CTX: OnceLock<Vec<(String, GpuContext)>> = OnceLock::new();
    CTX.get_or_init(|| {
        GENERATION_OPTIONS
            .iter()
            .flat_map(|&(wg, mulhilo)| {
                let opts = GpuOptions {
                    workgroup_size: Some(wg),
                    mulhilo,
                    ..Default::default()
                };
                open_all(&opts).into_iter().map(move |(name, ctx)| {
                    let bits = if ctx.mulhilo_int64() { 64 } else { 16 };
                    (format!("{name}, workgroup {wg}, mulhilo {bits}"), ctx)
                })
            })
            .collect()
    })
}

pub fn open_all(base: &GpuOptions) -> Vec<(String, GpuContext)> {
    if std::env::var_os("EGL_PLATFORM").is_none() {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    let mut out = Vec::new();
    let mut found = Vec::new();
    for backend in [
        BackendChoice::Vulkan,
        BackendChoice::Gl,
        BackendChoice::Metal,
        BackendChoice::Dx12,
    ] {
        for a in list_adapters(backend).expect("backend names are valid") {
            let opts = GpuOptions {
                backend,
                adapter: Some(a.name.clone()),
                ..base.clone()
            };
            let ctx = GpuContext::new(&opts)
                .unwrap_or_else(|e| panic!("opening {} ({}): {e}", a.name, a.backend));
            out.push((format!("{} ({})", a.name, a.backend), ctx));
            found.push(backend.to_string());
        }
    }
    if let Ok(required) = std::env::var("GPUINIT_REQUIRE_BACKENDS") {
        for b in required.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            assert!(
                found.iter().any(|f| f == b),
                "GPUINIT_REQUIRE_BACKENDS={required} but no {b} adapter was found (found: {found:?})"
            );
        }
    }
    if out.is_empty() {
        if std::env::var("GPUINIT_REQUIRE_GPU").as_deref() == Ok("1") {
            panic!(
                "GPUINIT_REQUIRE_GPU=1 but no GPU adapter was found (install mesa-vulkan-drivers)"
            );
        }
        eprintln!("SKIPPED: no GPU adapter; set GPUINIT_REQUIRE_GPU=1 to make this a failure");
    }
    out
}
