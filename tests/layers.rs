//! Imports point down: each module of the library uses only modules of its own layer or
//! below, and no capability uses another (a capability that needs another's code means that
//! code belongs in a lower layer). The table below is the one source of the layers; the
//! table in `src/lib.rs`'s documentation must say the same, and every module `src/lib.rs`
//! declares must be in it.
//!
//! A reference is any `crate::MODULE` path in code (a `use` line or an inline path, groups
//! `crate::{a, b}` included) or a `super::` path that climbs to the crate root; comments
//! (documentation links included) and string literals are not references. The binary
//! (`src/bin/`) sits above every layer and is not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top to bottom, and their modules. Mirrored in `src/lib.rs`.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "capabilities",
        &["verify", "propagate", "bench", "init", "train"],
    ),
    ("support", &["stats", "shapeset", "output"]),
    ("engine", &["engine"]),
    ("devices", &["gpu", "cpu"]),
    (
        "contract",
        &["rng", "abi", "error", "named", "progress", "host"],
    ),
];

/// Layers whose modules may not import one another (in the others a module may use a
/// neighbour: `rng` uses `named`, `shapeset` uses `stats`).
const ISOLATED: &[&str] = &["capabilities"];

/// Known violations, (file, module it may use), each being removed right now. An entry that
/// no longer occurs fails the test: delete it with the import.
const ALLOWED: &[(&str, &str)] = &[];

/// Index of `module`'s layer in [`LAYERS`] (0 is the top).
fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// `src` with comments, string literals and char literals blanked (newlines kept, so
/// byte offsets keep their line numbers).
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !is_ident(c[i - 1]))
        {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &c[i..j.min(c.len())] {
                blank(&mut out, ch);
            }
            i = j;
        } else if c[i] == '"' {
            blank(&mut out, c[i]);
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            if i < c.len() {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '\'' && next == Some('\\') {
            // An escaped char literal: '\n', '\'', '\u{..}'.
            let mut j = i + 2;
            j += 1;
            while j < c.len() && c[j] != '\'' {
                j += 1;
            }
            for &ch in &c[i..(j + 1).min(c.len())] {
                blank(&mut out, ch);
            }
            i = j + 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            // A char literal 'x' (a lifetime 'a has no closing quote).
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// The crate's top-level modules that `code` (of a file whose module path is `path`, e.g.
/// `["rng", "philox"]`) refers to, with the 1-based line of each reference.
fn references(code: &str, path: &[String]) -> Vec<(usize, String)> {
    let c: Vec<char> = code.chars().collect();
    let line_at = |i: usize| c[..i].iter().filter(|&&ch| ch == '\n').count() + 1;
    let ident_at = |mut j: usize| {
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        let start = j;
        while j < c.len() && is_ident(c[j]) {
            j += 1;
        }
        (c[start..j].iter().collect::<String>(), j)
    };
    // `::` after optional whitespace, returning the index after it.
    let sep_at = |mut j: usize| {
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        (c.get(j) == Some(&':') && c.get(j + 1) == Some(&':')).then_some(j + 2)
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < c.len() {
        // Only at the start of a path: not inside an identifier or after `::`.
        let path_start = (i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == ':'))
            && (c[i..].starts_with(&['c', 'r', 'a', 't', 'e'])
                || c[i..].starts_with(&['s', 'u', 'p', 'e', 'r']));
        if !path_start {
            i += 1;
            continue;
        }
        let (first, mut j) = ident_at(i);
        // Where the path is, as a module path from the root.
        let mut at: Vec<String> = match first.as_str() {
            "crate" => vec![],
            "super" => {
                let mut p = path.to_vec();
                p.pop();
                p
            }
            _ => {
                i = j.max(i + 1);
                continue;
            }
        };
        let mut names = Vec::new();
        while let Some(k) = sep_at(j) {
            let (seg, after) = ident_at(k);
            if seg == "super" {
                at.pop();
                j = after;
            } else if seg == "self" {
                j = after;
            } else if seg.is_empty() {
                // A group: crate::{a::X, b}.
                let mut k = k;
                while k < c.len() && c[k].is_whitespace() {
                    k += 1;
                }
                if at.is_empty() && c.get(k) == Some(&'{') {
                    let mut depth = 0;
                    let mut item_start = true;
                    for (m, &ch) in c.iter().enumerate().skip(k) {
                        match ch {
                            '{' => {
                                depth += 1;
                                item_start = depth == 1;
                            }
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    j = m + 1;
                                    break;
                                }
                            }
                            ',' if depth == 1 => item_start = true,
                            _ if item_start && depth == 1 && is_ident(ch) => {
                                let (name, _) = ident_at(m);
                                names.push(name);
                                item_start = false;
                            }
                            _ => {}
                        }
                    }
                }
                break;
            } else {
                if at.is_empty() {
                    names.push(seg);
                }
                break;
            }
        }
        for name in names {
            if name != "self" {
                found.push((line_at(i), name));
            }
        }
        i = j.max(i + 1);
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/`: `rng/philox.rs` is `["rng", "philox"]`,
/// `rng/mod.rs` is `["rng"]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut p: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if p.last().is_some_and(|s| s == "mod") {
        p.pop();
    }
    p
}

/// Every violation, as "file:line: message", and the ALLOWED entries that were used.
fn violations(src: &Path) -> (Vec<String>, BTreeSet<(String, String)>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    let mut used = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        if rel.starts_with("bin") || rel == Path::new("lib.rs") {
            continue;
        }
        let shown = format!("src/{}", rel.to_string_lossy());
        let path = module_path(rel);
        let from = &path[0];
        let Some(from_layer) = layer_of(from) else {
            bad.push(format!(
                "{shown}: module `{from}` is in no layer: add it to LAYERS in tests/layers.rs and to src/lib.rs's table"
            ));
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        for (line, to) in references(&code, &path) {
            if &to == from {
                continue;
            }
            let why = match layer_of(&to) {
                None => Some(format!("module `{to}` is in no layer")),
                Some(l) if l < from_layer => Some(format!(
                    "{} module `{from}` imports `{to}` of the higher layer `{}`",
                    LAYERS[from_layer].0, LAYERS[l].0
                )),
                Some(l) if l == from_layer && ISOLATED.contains(&LAYERS[l].0) => Some(format!(
                    "{} module `{from}` imports `{to}`, a module of its own layer",
                    LAYERS[l].0
                )),
                Some(_) => None,
            };
            if let Some(why) = why {
                if ALLOWED.contains(&(shown.as_str(), to.as_str())) {
                    used.insert((shown.clone(), to));
                } else {
                    bad.push(format!("{shown}:{line}: {why}"));
                }
            }
        }
    }
    (bad, used)
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn imports_point_down_and_capabilities_stand_alone() {
    let (bad, used) = violations(&src_dir());
    assert!(
        bad.is_empty(),
        "imports against the layers (tests/layers.rs, src/lib.rs):\n{}",
        bad.join("\n")
    );
    let stale: Vec<_> = ALLOWED
        .iter()
        .filter(|(f, m)| !used.contains(&(f.to_string(), m.to_string())))
        .collect();
    assert!(
        stale.is_empty(),
        "ALLOWED entries in tests/layers.rs that no longer occur (delete them): {stale:?}"
    );
}

#[test]
fn lib_declares_exactly_the_tables_modules() {
    let lib = code_only(&std::fs::read_to_string(src_dir().join("lib.rs")).unwrap());
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';').map(String::from)
        })
        .collect();
    let table: BTreeSet<String> = LAYERS
        .iter()
        .flat_map(|(_, ms)| ms.iter().map(|m| m.to_string()))
        .collect();
    assert_eq!(declared, table, "src/lib.rs's modules and LAYERS differ");
}

#[test]
fn libs_documented_table_mirrors_layers() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    // Rows `//! | layer | [`a`], [`b`] ... |`, top to bottom.
    let mut rows: BTreeMap<usize, (String, BTreeSet<String>)> = BTreeMap::new();
    for (n, line) in lib.lines().enumerate() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let mut cells = row.split('|').map(str::trim);
        let layer = cells.next().unwrap_or_default().to_string();
        if layer_of_name(&layer).is_none() {
            continue; // the header, the rule, the binary
        }
        let rest: String = cells.collect::<Vec<_>>().join("|");
        let modules = rest
            .split("[`")
            .skip(1)
            .filter_map(|s| s.split_once("`]").map(|(m, _)| m.to_string()))
            .collect();
        rows.insert(n, (layer, modules));
    }
    let documented: Vec<(String, BTreeSet<String>)> = rows.into_values().collect();
    let table: Vec<(String, BTreeSet<String>)> = LAYERS
        .iter()
        .map(|(l, ms)| (l.to_string(), ms.iter().map(|m| m.to_string()).collect()))
        .collect();
    assert_eq!(
        documented, table,
        "src/lib.rs's layer table (its module links, top to bottom) differs from LAYERS in tests/layers.rs"
    );
}

fn layer_of_name(name: &str) -> Option<usize> {
    LAYERS.iter().position(|(l, _)| *l == name)
}

// The checker itself, on made-up sources: each case is a way a reference could hide.
#[test]
fn references_are_found_wherever_they_hide() {
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let names = |code: &str, p: &[&str]| {
        references(&code_only(code), &path(p))
            .into_iter()
            .map(|(line, m)| format!("{line}:{m}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(names("use crate::verify::ulps;", &["init"]), ["1:verify"]);
    assert_eq!(
        names(
            "use crate::{\n  stats::FWER,\n  rng::{self, Sampler},\n};",
            &["init"]
        ),
        ["1:stats", "1:rng"]
    );
    assert_eq!(
        names("fn f() { let x = crate::bench::run(); }", &["init", "x"]),
        ["1:bench"]
    );
    // `super` from a top-level file is the root; from a submodule, its parent.
    assert_eq!(names("use super::gpu::X;", &["block"]), ["1:gpu"]);
    assert_eq!(
        names("use super::Row;", &["verify", "battery"]),
        Vec::<String>::new()
    );
    assert_eq!(
        names("use super::super::train::X;", &["verify", "battery"]),
        ["1:train"]
    );
    // Not references: comments, documentation links, strings, other crates' `crate`.
    assert!(names(
        "// crate::verify\n/// [`crate::bench`]\n/* crate::train */ let s = \"crate::init\"; let r = r#\"crate::propagate\"#; let c = '\"'; other_crate::x; my_crate::y;",
        &["rng"]
    )
    .is_empty());
    // A lifetime is not a char literal: the path after it is still seen.
    assert_eq!(
        names("fn f<'a>(x: &'a crate::gpu::Ctx) {}", &["rng"]),
        ["1:gpu"]
    );
    assert_eq!(names("\n\n  crate::cpu::x()", &["rng"]), ["3:cpu"]);
}
