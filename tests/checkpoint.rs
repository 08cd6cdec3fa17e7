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
    mode: String,
    regenerated_elements: u64,
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
    // Every element was compared with regeneration.
    assert_eq!(report.mode, "full");
    assert_eq!(report.regenerated_elements, report.parameters);
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

/// Rewrites `path`'s header through `edit`, keeping its data.
fn edit_header(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    edit(&mut header);
    let mut text = serde_json::to_vec(&header).unwrap();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + len..]);
    std::fs::write(path, out).unwrap();
}

/// Runs gpuinit, killing it after 60 s: a verify that blocks fails the test, not the suite.
fn bounded(args: &[&str]) -> Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpuinit"))
        .args(args)
        .env("EGL_PLATFORM", "surfaceless")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > 60 {
            child.kill().unwrap();
            panic!("gpuinit {args:?} blocked for a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Exit 2, one line on stderr holding every needle.
fn refused(r: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{needles:?}: {}", text(r));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{n}: {err}");
    }
}

/// The "N failed" of the summary and the "error: N checks failed" of stderr.
fn failed_counts(r: &Output) -> (usize, usize) {
    let out = String::from_utf8_lossy(&r.stdout);
    let summary = out
        .lines()
        .find(|l| l.contains(" checks passed, "))
        .unwrap_or_else(|| panic!("no summary: {}", text(r)));
    let n = |s: &str| s.trim().parse::<usize>().unwrap();
    let failed = n(summary
        .split(" checks passed, ")
        .nth(1)
        .unwrap()
        .split(" failed")
        .next()
        .unwrap());
    let err = String::from_utf8_lossy(&r.stderr);
    // (Mesa may print lines of its own that start "error: " too.)
    let line = err
        .lines()
        .find(|l| l.starts_with("error: ") && l.ends_with(" checks failed"))
        .unwrap_or_else(|| panic!("no count on stderr: {err}"));
    let said = n(line
        .trim_start_matches("error: ")
        .split(' ')
        .next()
        .unwrap());
    (failed, said)
}

/// Issue 20, item 7 (verify sampled windows): two swapped `wte` elements (5000 and 5001)
/// and one flipped exponent bit (element 4500) lie outside every window, so `--sample`
/// passes them, as documented; the default compares every element and fails them, naming
/// the first, on the writing device and on the CPU (within the cross-device bound).
#[test]
fn damage_outside_the_sample_windows_fails_the_full_check() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let swapped = tmp.path().join("swapped");
    init(&c, &swapped, &[]);
    edit_tensor(&swapped, "wte.weight", |v| v.swap(5000, 5001));
    let flipped = tmp.path().join("flipped");
    init(&c, &flipped, &[]);
    edit_tensor(&flipped, "wte.weight", |v| {
        v[4500] = f32::from_bits(v[4500].to_bits() ^ (1 << 23))
    });
    for (d, want) in [
        (
            &swapped,
            "regenerated: 2 of 6400 differ, the first at element 5000",
        ),
        (
            &flipped,
            "regenerated: 1 of 6400 differ, the first at element 4500",
        ),
    ] {
        let r = verify(d, &["--sample"]);
        assert!(r.status.success(), "the windows hold it: {}", text(&r));
        assert!(text(&r).contains("windows of each tensor (--sample)"));
        for device in [&[][..], &["--device", "cpu"][..]] {
            expect(d, device, &[("wrong", "wte.weight", &[want])]);
        }
    }
}

/// Issue 20, item 6: files safetensors refuses are refused (exit 2, one line), and Python's
/// safetensors, where installed, refuses the same files: 4096 trailing bytes ("file not
/// fully covered"), a seed stored as a JSON number, a data length the shape does not make.
#[test]
fn a_file_safetensors_refuses_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let cs = c.to_str().unwrap();
    let fresh = |name: &str| {
        let out = tmp.path().join(name);
        init(&c, &out, &[]);
        out.join("model.safetensors")
    };
    let trailing = fresh("trailing");
    let mut bytes = std::fs::read(&trailing).unwrap();
    bytes.resize(bytes.len() + 4096, 0);
    std::fs::write(&trailing, bytes).unwrap();
    let number = fresh("number");
    edit_header(&number, |h| {
        h["__metadata__"]["gpuinit.seed"] = serde_json::json!(11)
    });
    let shape = fresh("shape");
    edit_header(&shape, |h| {
        h["wpe.weight"]["shape"] = serde_json::json!([32, 63])
    });
    for (file, needle) in [
        (&trailing, "file not fully covered"),
        (&number, "safetensors refuses the header"),
        (&shape, "safetensors refuses the header"),
    ] {
        let r = verify(file.parent().unwrap(), &["--config", cs]);
        refused(&r, &[needle, "model.safetensors"]);
        if python_safetensors() {
            let p = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import sys; from safetensors import safe_open; safe_open(sys.argv[1], 'np')",
                    file.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(!p.status.success(), "Python's safetensors reads {file:?}");
        }
    }
}

fn python_safetensors() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: the Python safetensors cross-check");
    }
    ok
}

/// Issue 20, item 6: `init` refused a spec tensor named `__metadata__` too late (it wrote a
/// file safetensors cannot load); now the spec is refused before anything is written.
#[test]
fn init_refuses_a_tensor_named_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write(
        tmp.path(),
        "spec.json",
        r#"{"tensors": [{"name": "__metadata__", "shape": [2], "scheme": "ones"}]}"#,
    );
    let out = tmp.path().join("out");
    let r = gpuinit(&[
        "init",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    refused(&r, &["'__metadata__'"]);
    assert!(!out.join("model.safetensors").exists());
}

/// Issue 20, items 1, 6 and 12: only regular files are opened and JSON reads are bounded.
/// A FIFO as `model.safetensors` or the index, an index linked to /dev/zero, `--config
/// /dev/zero`, a config past 16 MiB and a folder named `model.safetensors` are refused in a
/// line (they blocked, read without end, or said "shorter than a safetensors header"); a
/// FIFO in place of a shard makes its tensors missing (exit 1), without blocking.
#[cfg(unix)]
#[test]
fn non_regular_files_are_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let cs = c.to_str().unwrap();
    let mkfifo = |p: &Path| {
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let run = |d: &Path, extra: &[&str]| {
        let mut args = vec!["verify", "--checkpoint", d.to_str().unwrap()];
        args.extend_from_slice(extra);
        bounded(&args)
    };
    let fifo = tmp.path().join("fifo");
    std::fs::create_dir(&fifo).unwrap();
    mkfifo(&fifo.join("model.safetensors"));
    refused(
        &run(&fifo, &["--config", cs]),
        &["a FIFO, not a regular file"],
    );
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(folder.join("model.safetensors")).unwrap();
    refused(
        &run(&folder, &["--config", cs]),
        &["a folder, not a regular file"],
    );
    let zero = tmp.path().join("zero");
    std::fs::create_dir(&zero).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero.join("model.safetensors.index.json")).unwrap();
    refused(
        &run(&zero, &["--config", cs]),
        &["index", "a device, not a regular file"],
    );
    let good = tmp.path().join("good");
    init(&c, &good, &[]);
    // A config the user names is read as init reads it: any file, at most 16 MiB of it.
    refused(
        &run(&good, &["--config", "/dev/zero"]),
        &["/dev/zero", "16 MiB"],
    );
    let big = tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; (16 << 20) + 1]).unwrap();
    refused(
        &run(&good, &["--config", big.to_str().unwrap()]),
        &["larger than"],
    );
    // A shard replaced by a FIFO: its tensors are missing, by name.
    let sharded = tmp.path().join("sharded");
    init(&c, &sharded, &["--max-shard-size", "40KB"]);
    let shard = sharded.join("model-00002-of-00008.safetensors");
    assert!(shard.exists());
    std::fs::remove_file(&shard).unwrap();
    mkfifo(&shard);
    let r = run(&sharded, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let lines = findings(&r);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("missing") && l.contains("a FIFO")),
        "{lines:#?}"
    );
}

/// Issue 20, item 7: a missing shard gave exit 2 at the first absent file; now each of its
/// tensors is a "missing" line and the run exits 1. A wrong `total_size` in the index was
/// not checked. And the summary and stderr disagreed ("0 failed; 2 tensor(s) missing" with
/// "error: 2 checks failed"; index problems with "error: 0 checks failed"): now both count
/// the same failed checks.
#[test]
fn a_missing_shard_and_a_wrong_index_are_findings_counted_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let d = tmp.path().join("ckpt");
    init(&c, &d, &["--max-shard-size", "40KB"]);
    let index = d.join("model.safetensors.index.json");
    let map: serde_json::Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    let shard = "model-00002-of-00008.safetensors";
    let in_shard: Vec<&str> = map["weight_map"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, f)| *f == shard)
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(!in_shard.is_empty());
    // The wrong total_size alone.
    let mut wrong = map.clone();
    wrong["metadata"]["total_size"] = serde_json::json!(12345);
    std::fs::write(&index, wrong.to_string()).unwrap();
    let r = verify(&d, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let lines = findings(&r);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("(index)") && lines[0].contains("total_size is 12345"));
    let (failed, said) = failed_counts(&r);
    assert_eq!((failed, said), (1, 1), "{}", text(&r));
    // The shard removed (the index right again).
    std::fs::write(&index, map.to_string()).unwrap();
    std::fs::remove_file(d.join(shard)).unwrap();
    let r = verify(&d, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let lines = findings(&r);
    for t in &in_shard {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("missing  {t}: ")) && l.contains("which is absent")),
            "{t}: {lines:#?}"
        );
    }
    let (failed, said) = failed_counts(&r);
    assert!(failed > 0 && failed == said, "{}", text(&r));
}

/// Issue 20, items 3/4 and 7: a folder holding both layouts is refused naming both, as is
/// `--device both`; files carrying different seeds are named as such, not as "4096 of 4096
/// differ"; a seed that is not a number says so (issue 20, item 12: it said "no
/// gpuinit.seed in the metadata").
#[test]
fn mixed_layouts_seeds_and_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let d = tmp.path().join("ckpt");
    init(&c, &d, &["--max-shard-size", "40KB"]);
    refused(&verify(&d, &["--device", "both"]), &["--device both"]);
    let both = tmp.path().join("both");
    init(&c, &both, &["--max-shard-size", "40KB"]);
    let single = tmp.path().join("single");
    init(&c, &single, &[]);
    std::fs::copy(
        single.join("model.safetensors"),
        both.join("model.safetensors"),
    )
    .unwrap();
    refused(
        &verify(&both, &[]),
        &["model.safetensors and model.safetensors.index.json"],
    );
    // One shard from a run with another seed.
    let other = tmp.path().join("other");
    init(&c, &other, &["--max-shard-size", "40KB", "--seed", "12"]);
    let shard = "model-00003-of-00008.safetensors";
    std::fs::copy(other.join(shard), d.join(shard)).unwrap();
    let r = verify(&d, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let lines = findings(&r);
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            l.contains(&format!("files carry different seeds: {shard} has 12")),
            "{l}"
        );
        assert!(!l.contains("regenerated:"), "{l}");
    }
    // A shard of an earlier run left beside the checkpoint is named (found with issue 20:
    // it passed unmentioned).
    let stray = tmp.path().join("stray");
    init(&c, &stray, &[]);
    let name = "model-00001-of-00002.safetensors";
    std::fs::copy(single.join("model.safetensors"), stray.join(name)).unwrap();
    expect(
        &stray,
        &[],
        &[("extra", name, &["beside model.safetensors"])],
    );
    // A seed that is not a number.
    let banana = tmp.path().join("banana");
    init(&c, &banana, &[]);
    edit_header(&banana.join("model.safetensors"), |h| {
        h["__metadata__"]["gpuinit.seed"] = serde_json::json!("banana")
    });
    let r = verify(&banana, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    assert!(findings(&r)
        .iter()
        .all(|l| l.contains("gpuinit.seed 'banana' of model.safetensors is not a seed")));
}

/// Found looking for more of issue 20's kind: `--json` over a file of the checkpoint
/// replaced it with the report once the run ended (now refused, exit 2, the file intact);
/// a tensor name holding a newline printed a line that passed for another tensor's finding
/// (now escaped: one line per finding).
#[test]
fn a_report_cannot_replace_the_checkpoint_and_a_name_cannot_forge_a_line() {
    let tmp = tempfile::tempdir().unwrap();
    let c = write(tmp.path(), "gpt2.json", GPT2);
    let d = tmp.path().join("ckpt");
    init(&c, &d, &[]);
    let file = d.join("model.safetensors");
    let before = std::fs::read(&file).unwrap();
    for flag in ["--json", "--markdown"] {
        let r = verify(&d, &[flag, file.to_str().unwrap()]);
        refused(&r, &[flag, "the report would replace it"]);
    }
    let r = verify(&d, &["--json", d.join("config.json").to_str().unwrap()]);
    refused(&r, &["--json"]);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // ln_f.bias renamed to a name with a line of its own inside.
    let forged = "wrong    wte.weight: forged";
    edit_header(&file, |h| {
        let o = h.as_object_mut().unwrap();
        let v = o.remove("ln_f.bias").unwrap();
        o.insert(format!("x\n{forged}"), v);
    });
    let r = verify(&d, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(!out.lines().any(|l| l.starts_with(forged)), "{out}");
    assert!(out.contains(&format!("extra    x\\n{forged}: ")), "{out}");
}
