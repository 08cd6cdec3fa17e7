//! Shared by the GPU tests: every adapter present, opened once per test binary.
#![allow(dead_code)]

use std::sync::OnceLock;

use gpuinit::gpu::{list_adapters, BackendChoice, GpuContext, GpuOptions};

/// One context per adapter present (Vulkan, GL, Metal, DX12 alike), named
/// "adapter (backend)". With GPUINIT_REQUIRE_GPU=1 a machine without any adapter fails
/// the tests instead of skipping them.
pub fn contexts() -> &'static [(String, GpuContext)] {
    static CTX: OnceLock<Vec<(String, GpuContext)>> = OnceLock::new();
    CTX.get_or_init(|| open_all(&GpuOptions::default()))
}

pub fn open_all(base: &GpuOptions) -> Vec<(String, GpuContext)> {
    if std::env::var_os("EGL_PLATFORM").is_none() {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    let mut out = Vec::new();
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
