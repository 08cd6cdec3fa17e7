//! Composes the WGSL kernels and checks them before any Rust is compiled.
//!
//! Each `shaders/*.wgsl` is one pipeline family. `#import name` pulls in
//! `shaders/shared/name.wgsl` (once per stage, however often it is imported), or `abi`, the
//! module generated from `src/abi.rs`. A [`VARIANTS`] entry composes a stage a second time
//! with one shared module swapped for another, under the capability that one needs. Every composed stage is parsed and validated by naga
//! and translated to SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12), so a shader error, or a
//! construct one of those backends cannot express, fails `cargo build` on any machine, with
//! or without a GPU. Every shared struct's WGSL size and member offsets must equal its Rust
//! `#[repr(C)]` layout. The composed WGSL and the SPIR-V land in OUT_DIR (`src/gpu/shaders.rs`
//! includes the former; `tests/shaders.rs` runs `spirv-val` on the latter).
//!
//! Also records the git revision for `gpuinit bench`'s header.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "src/abi.rs"]
mod abi;

use naga::back::{hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

/// (variant stem, stage stem, shared module, its replacement, capability it needs).
const VARIANTS: &[(&str, &str, &str, &str, Capabilities)] = &[(
    "generate_int64",
    "generate",
    "mulhilo",
    "mulhilo_int64",
    Capabilities::SHADER_INT64,
)];

/// One stage to compose: its file, output stem, import swap and extra capabilities.
struct Build<'a> {
    path: PathBuf,
    stem: String,
    swap: Option<(&'a str, &'a str)>,
    caps: Capabilities,
}

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let shaders = Path::new("shaders");
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-changed=src/abi.rs");
    let mut failures = Vec::new();
    if let Err(e) = check_abi() {
        failures.push(e);
    }
    let mut builds: Vec<Build> = stages(shaders)
        .into_iter()
        .map(|path| Build {
            stem: path
                .file_stem()
                .map_or("?".into(), |s| s.to_string_lossy().into()),
            path,
            swap: None,
            caps: Capabilities::empty(),
        })
        .collect();
    for &(variant, stage, from, to, caps) in VARIANTS {
        builds.push(Build {
            path: shaders.join(format!("{stage}.wgsl")),
            stem: variant.into(),
            swap: Some((from, to)),
            caps,
        });
    }
    for b in builds {
        let stem = &b.stem;
        let result = compose(&b.path, shaders, b.swap).and_then(|source| {
            fs::write(out.join(format!("{stem}.wgsl")), &source)
                .map_err(|e| format!("writing {stem}.wgsl: {e}"))?;
            let spirv = check(stem, &source, b.caps)?;
            fs::write(out.join(format!("{stem}.spv")), bytes_of(&spirv))
                .map_err(|e| format!("writing {stem}.spv: {e}"))
        });
        if let Err(e) = result {
            failures.push(format!("{} ({stem}): {e}", b.path.display()));
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("error: {f}\n");
        }
        eprintln!("{} shader check(s) failed", failures.len());
        std::process::exit(1);
    }
    git_revision();
}

/// The stage shaders, `shaders/*.wgsl`, in name order.
fn stages(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("the shaders folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
    v.sort();
    v
}

/// `path` with every `#import` resolved, each module once, dependencies first; `swap`
/// (from, to) reads shared module `to` wherever `from` is imported.
fn compose(path: &Path, shaders: &Path, swap: Option<(&str, &str)>) -> Result<String, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut imports = Imports {
        shaders,
        swap,
        seen: HashSet::new(),
        stack: Vec::new(),
    };
    let mut out = String::new();
    expand(&text, &mut imports, &mut out)?;
    match swap {
        Some((from, _)) if !imports.seen.contains(from) => Err(format!(
            "the variant swaps #import {from}, which the stage never imports"
        )),
        _ => Ok(out),
    }
}

/// What composing one stage has imported so far, and where from.
struct Imports<'a> {
    shaders: &'a Path,
    swap: Option<(&'a str, &'a str)>,
    seen: HashSet<String>,
    stack: Vec<String>,
}

fn expand(text: &str, imports: &mut Imports, out: &mut String) -> Result<(), String> {
    for line in text.lines() {
        let Some(name) = line.trim().strip_prefix("#import ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let name = name.trim().to_string();
        if imports.stack.contains(&name) {
            let chain = imports.stack.join(" -> ");
            return Err(format!("import cycle: {chain} -> {name}"));
        }
        if !imports.seen.insert(name.clone()) {
            continue;
        }
        let file_name = match imports.swap {
            Some((from, to)) if from == name => to.to_string(),
            _ => name.clone(),
        };
        let module = if name == "abi" {
            abi::wgsl()
        } else {
            let file = imports
                .shaders
                .join("shared")
                .join(format!("{file_name}.wgsl"));
            fs::read_to_string(&file)
                .map_err(|e| format!("#import {name}: {}: {e}", file.display()))?
        };
        let _ = writeln!(out, "// ---- #import {name} ({file_name})");
        imports.stack.push(name.clone());
        expand(&module, imports, out)?;
        imports.stack.pop();
        let _ = writeln!(out, "// ---- end of #import {name}");
    }
    Ok(())
}

/// Parses and validates `source` (with `caps` beyond the defaults), translates it to MSL
/// and HLSL, and returns its SPIR-V.
fn check(stem: &str, source: &str, caps: Capabilities) -> Result<Vec<u32>, String> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| e.emit_to_string_with_path(source, &format!("{stem}.wgsl (composed)")))?;
    let info = Validator::new(ValidationFlags::all(), Capabilities::default() | caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string_with_path(source, &format!("{stem}.wgsl (composed)")))?;
    check_layouts(&module)?;
    // Overrides take their defaults: every code path is still in the module (naga folds
    // constants, it does not drop branches), so each backend sees all of it.
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        None,
        &Default::default(),
    )
    .map_err(|e| format!("overrides: {e}"))?;
    msl::write_string(
        &module,
        &info,
        &msl::Options {
            lang_version: (2, 1),
            ..Default::default()
        },
        &msl::PipelineOptions::default(),
    )
    .map_err(|e| format!("MSL (Metal) translation: {e}"))?;
    let mut hlsl_text = String::new();
    let hlsl_options = hlsl::Options {
        shader_model: hlsl::ShaderModel::V6_0,
        ..Default::default()
    };
    hlsl::Writer::new(&mut hlsl_text, &hlsl_options, &Default::default())
        .write(&module, &info, None)
        .map_err(|e| format!("HLSL (DX12) translation: {e}"))?;
    spv::write_vec(&module, &info, &spv::Options::default(), None)
        .map_err(|e| format!("SPIR-V (Vulkan) translation: {e}"))
}

/// Every struct that `src/abi.rs` declares, as naga lays it out in WGSL, against Rust.
fn check_abi() -> Result<(), String> {
    // train.wgsl's sgd writes its SGD_VEC floats out by hand, four statements.
    if abi::SGD_VEC != 4 {
        return Err(format!(
            "abi: SGD_VEC is {}, but train.wgsl's sgd is written for 4",
            abi::SGD_VEC
        ));
    }
    let source = abi::wgsl();
    let module = naga::front::wgsl::parse_str(&source)
        .map_err(|e| e.emit_to_string_with_path(&source, "abi (generated from src/abi.rs)"))?;
    let found = check_layouts(&module)?;
    let missing: Vec<&str> = abi::layouts()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| !found.contains(&n.to_string()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("abi: structs not found in WGSL: {missing:?}"))
    }
}

/// Compares each shared struct in `module` with its Rust layout; returns the names checked.
fn check_layouts(module: &naga::Module) -> Result<Vec<String>, String> {
    let rust = abi::layouts();
    let mut checked = Vec::new();
    for (_, ty) in module.types.iter() {
        let (Some(name), naga::TypeInner::Struct { members, span }) = (&ty.name, &ty.inner) else {
            continue;
        };
        let Some((_, (size, fields))) = rust.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let wgsl: Vec<(String, usize)> = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
            .collect();
        let rust_fields: Vec<(String, usize)> =
            fields.iter().map(|(n, o)| (n.to_string(), *o)).collect();
        if *span as usize != *size || wgsl != rust_fields {
            return Err(format!(
                "struct {name}: WGSL lays it out as {wgsl:?} in {span} bytes, Rust as {rust_fields:?} in {size} bytes"
            ));
        }
        checked.push(name.clone());
    }
    Ok(checked)
}

fn bytes_of(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn git_revision() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GPUINIT_GIT_REV={rev}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
