//! `gpuinit verify --checkpoint`: a checkpoint `gpuinit init` wrote passes, on the device
//! that wrote it and on the CPU; one that was damaged, cut short, padded or made from
//! another spec or seed fails, with a line naming each tensor and what is wrong with it.

mod common;

use std::path::Path;
use std::process::Output;

use common::gpuinit;
use common::models::{write, GPT2, LLAMA};

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn init(config: &Path, out: &Path, extra: &[&str]) {
    let (c, o) = (config.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["init", "--config", c, "--out", o];
    args.extend_from_slice(extra);
    if !extra.contains(&"--seed") {
        args.extend_from_slice(&["--seed", "11"]);
    }
    let r = gpuinit(&args);
    assert!(r.status.success(), "{}", text(&r));
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify", "--checkpoint", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    gpuinit(&args)
}

/// The lines naming tensors (those before the summary).
fn findings(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| {
            ["missing", "extra", "wrong"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(str::to_string)
        .collect()
}

/// GPT-2 and Llama (padding row) checkpoints in f32, bf16 and f16, one file and sharded,
/// pass on the default device and on the CPU (bit for bit where the same kind of device
/// regenerates; within docs/STREAM.md's bound otherwise).
#[test]
fn a_written_checkpoint_passes() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, config) in [("gpt2", GPT2), ("llama", LLAMA)] {
        let c = write(tmp.path(), &format!("{name}.json"), config);
        for (dtype, shards) in [("f32", "5GB"), ("bf16", "40kB"), ("f16", "40kB")] {
            let shards = shards.replace("kB", "KB");
            let out = tmp.path().join(format!("{name}-{dtype}"));
            init(&c, &out, &["--dtype", dtype, "--max-shard-size", &shards]);
            for device in ["auto", "cpu"] {
                let r = verify(&out, &["--dtype", dtype, "--device", device]);
                let all = text(&r);
                assert!(r.status.success(), "{name} {dtype} {device}: {all}");
                assert!(findings(&r).is_empty(), "{all}");
                assert!(all.contains(" 0 failed; 0 tensor(s)"), "{all}");
            }
        }
    }
}

/// Reads `dir`'s single file, lets `edit` change one tensor's f32 values, writes it back.
fn edit_tensor(dir: &Path, tensor: &str, edit: impl Fn(&mut [f32])) {
    let path = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let off = &header[tensor]["data_offsets"];
    let (a, b) = (
        off[0].as_u64().unwrap() as usize,
        off[1].as_u64().unwrap() as usize,
    );
    let data = &mut bytes[8 + len + a..8 + len + b];
    let mut values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    edit(&mut values);
    for (c, v) in data.chunks_exact_mut(4).zip(&values) {
        c.copy_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
}

/// Each kind of damage fails the run (exit 1) with one line for the tensor it touched,
/// naming the check that caught it, and nothing else.
#[test]
fn a_damaged_checkpoint_fails_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let fresh = |name: &str| {
        let out = tmp.path().join(name);
        init(&c, &out, &[]);
        out
    };
    // Scaled by 1.1: the variance (a 21% error over 16384 values is z ~ 19) and
    // regeneration catch it.
    let d = fresh("scaled");
    edit_tensor(&d, "h.1.mlp.c_fc.weight", |v| {
        v.iter_mut().for_each(|x| *x *= 1.1)
    });
    expect(
        &d,
        &[],
        &[(
            "wrong",
            "h.1.mlp.c_fc.weight",
            &["variance:", "regenerated:"],
        )],
    );
    // A value outside a constant scheme, and one made infinite.
    let d = fresh("values");
    edit_tensor(&d, "h.0.ln_1.weight", |v| v[7] = 1.0001);
    edit_tensor(&d, "wpe.weight", |v| v[5] = f32::INFINITY);
    expect(
        &d,
        &[],
        &[
            ("wrong", "h.0.ln_1.weight", &["support:", "every value 1e0"]),
            ("wrong", "wpe.weight", &["support:", "1 non-finite"]),
        ],
    );
    // Two values swapped: every moment and the support stay; regeneration sees it.
    let d = fresh("swapped");
    edit_tensor(&d, "wte.weight", |v| v.swap(0, 1));
    expect(&d, &[], &[("wrong", "wte.weight", &["regenerated: 2 of"])]);
    // The same from the CPU, which (for a GPU's checkpoint) allows the documented bound.
    let cpu = ["--device", "cpu"];
    expect(&d, &cpu, &[("wrong", "wte.weight", &["regenerated: 2 of"])]);
    // The whole tensor from another seed: only regeneration can tell.
    let d = fresh("reseeded");
    let other = tmp.path().join("other");
    init(&c, &other, &["--seed", "12"]);
    let donor = std::fs::read(other.join("model.safetensors")).unwrap();
    let mine = std::fs::read(d.join("model.safetensors")).unwrap();
    // Same layout, so the header lengths agree and the data can be spliced whole.
    let len = 8 + u64::from_le_bytes(mine[..8].try_into().unwrap()) as usize;
    let spliced = [&mine[..len], &donor[len..]].concat();
    std::fs::write(d.join("model.safetensors"), spliced).unwrap();
    let r = verify(&d, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let lines = findings(&r);
    // Constant tensors (norms, biases) are the same under any seed; the 10 weights are not.
    assert_eq!(lines.len(), 10, "{lines:#?}");
    assert!(lines
        .iter()
        .all(|l| l.contains("regenerated:") && !l.contains("variance")));
}

/// Tensors missing from the files, tensors the spec lacks, and a shape that is not the
/// spec's, each named on its own line.
#[test]
fn missing_extra_and_misshapen_tensors_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let d = tmp.path().join("ckpt");
    init(&c, &d, &[]);
    let spec = gpuinit(&["init", "--config", c.to_str().unwrap(), "--print-spec"]);
    let mut spec: serde_json::Value = serde_json::from_slice(&spec.stdout).unwrap();
    let tensors = spec["tensors"].as_array_mut().unwrap();
    // Drop ln_f.bias from the spec (extra in the files), add a tensor (missing), and
    // reshape wpe.weight.
    tensors.retain(|t| t["name"] != "ln_f.bias");
    tensors.push(
        serde_json::json!({"name": "score.weight", "shape": [2, 64], "scheme": "normal:std=0.02"}),
    );
    for t in tensors.iter_mut().filter(|t| t["name"] == "wpe.weight") {
        t["shape"] = serde_json::json!([16, 128]);
    }
    let edited = write(tmp.path(), "spec.json", &spec.to_string());
    expect(
        &d,
        &["--spec", edited.to_str().unwrap()],
        &[
            ("extra", "ln_f.bias", &["F32 [64]", "model.safetensors"]),
            ("missing", "score.weight", &["f32 [2, 64]"]),
            (
                "wrong",
                "wpe.weight",
                &["F32 [32, 64]", "expected F32 [16, 128]"],
            ),
        ],
    );
    // The wrong dtype: every tensor is wrong, and says so.
    let r = verify(&d, &["--dtype", "bf16"]);
    assert_eq!(r.status.code(), Some(1));
    let lines = findings(&r);
    assert_eq!(lines.len(), 28, "{lines:#?}");
    assert!(
        lines.iter().all(|l| l.contains("expected BF16")),
        "{lines:#?}"
    );
}

/// Bad input to `verify --checkpoint` is one line and exit 2.
#[test]
fn a_checkpoint_that_is_not_one_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let garbage = tmp.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    write(
        &garbage,
        "model.safetensors",
        "\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{7f}{}",
    );
    // A checkpoint made from a spec has no config.json beside it.
    let spec = gpuinit(&["init", "--config", c.to_str().unwrap(), "--print-spec"]);
    let spec = write(
        tmp.path(),
        "spec.json",
        &String::from_utf8_lossy(&spec.stdout),
    );
    let bare = tmp.path().join("bare");
    let r = gpuinit(&[
        "init",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        bare.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r));
    let cs = c.to_str().unwrap();
    for (dir, extra, needle) in [
        (tmp.path().join("absent"), vec![], "is not a folder"),
        (empty, vec!["--config", cs], "neither model.safetensors"),
        (bare, vec![], "no config.json"),
        (garbage, vec!["--config", cs], "header length"),
    ] {
        let r = verify(&dir, &extra);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// Runs verify on `dir`: exit 1, and exactly the findings listed, each line holding every
/// needle given for it.
fn expect(dir: &Path, extra: &[&str], want: &[(&str, &str, &[&str])]) {
    let r = verify(dir, extra);
    let all = text(&r);
    assert_eq!(r.status.code(), Some(1), "{all}");
    let lines = findings(&r);
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (kind, tensor, needles) in want {
        let line = lines
            .iter()
            .find(|l| l.starts_with(kind) && l.contains(&format!(" {tensor}: ")))
            .unwrap_or_else(|| panic!("no {kind} line for {tensor}: {lines:#?}"));
        for n in needles.iter() {
            assert!(line.contains(n), "{line} lacks {n}");
        }
    }
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CheckpointReport {
    dir: String,
    files: Vec<String>,
    tensors: u64,
    parameters: u64,
    bytes: u64,
    seed: Option<u64>,
    written_on: Option<String>,
    regenerated_on: String,
    fwer: f64,
    statistical_checks: u64,
    per_check_alpha: f64,
    z_threshold: f64,
    passed: u64,
    failed: u64,
    findings: Vec<FindingJson>,
    rows: Vec<RowJson>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FindingJson {
    kind: String,
    tensor: String,
    what: String,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RowJson {
    tensor: String,
    check: String,
    expected: String,
    measured: String,
    p_value: Option<f64>,
    pass: bool,
}

/// `verify --checkpoint --json --markdown` follows docs/JSON.md: the counts add up, the
/// Bonferroni level is the family's, and the Markdown has a row per check.
#[test]
fn the_checkpoint_report_is_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "llama.json", LLAMA);
    let d = tmp.path().join("ckpt");
    init(&c, &d, &["--max-shard-size", "50KB"]);
    let (json, md) = (tmp.path().join("c.json"), tmp.path().join("c.md"));
    let (j, m) = (json.to_str().unwrap(), md.to_str().unwrap());
    let r = verify(&d, &["--json", j, "--markdown", m]);
    assert!(r.status.success(), "{}", text(&r));
    let report: CheckpointReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        (report.tensors, report.seed, report.failed),
        (21, Some(11), 0)
    );
    assert!(report.findings.is_empty() && report.files.len() > 1);
    assert_eq!(report.passed as usize, report.rows.len());
    let stats = report.rows.iter().filter(|r| r.p_value.is_some()).count() as u64;
    assert_eq!(stats, report.statistical_checks);
    assert!((report.per_check_alpha * stats as f64 - report.fwer).abs() < 1e-15);
    // Every tensor is regenerated; the padding row of the embedding is checked.
    let checks = |name: &str| report.rows.iter().filter(|r| r.check == name).count();
    assert_eq!((checks("regenerated"), checks("zero rows")), (21, 1));
    let markdown = std::fs::read_to_string(&md).unwrap();
    let table_rows = markdown
        .lines()
        .filter(|l| l.starts_with("| model.") || l.starts_with("| lm_head"))
        .count();
    assert_eq!(table_rows, report.rows.len());
}
