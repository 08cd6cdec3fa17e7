//! `gpuinit init` end to end: the checkpoint's bytes are the same however many processes
//! write it; Python's safetensors (and, when asked, transformers) read it; bad input is one
//! line, exit 2, and no files.

mod common;
use common::gpuinit;
use common::models::{files, write, GPT2, LLAMA};

use std::path::Path;
use std::process::{Command, Stdio};

/// The union of n processes' files, each started at once with `--shard i/n`, is the
/// single process's checkpoint byte for byte (8 files of at most 40 kB, an index, the
/// config), for n = 1, 2, 3 and 7; as it is with the rank from torchrun's variables.
#[test]
fn any_number_of_processes_writes_the_same_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.json", GPT2);
    let base = |out: &Path| {
        vec![
            "init".to_string(),
            "--config".into(),
            config.to_string_lossy().into_owned(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
            "--seed".into(),
            "5".into(),
            "--max-shard-size".into(),
            "40KB".into(),
            "--device".into(),
            "cpu".into(),
        ]
    };
    let one = tmp.path().join("one");
    let out = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
        .args(base(&one))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = files(&one);
    assert_eq!(
        want.len(),
        10,
        "{:?}",
        want.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for n in [1u32, 2, 3, 7] {
        let dir = tmp.path().join(format!("n{n}"));
        let children: Vec<_> = (0..n)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_gpuinit"))
                    .args(base(&dir))
                    .args(["--shard", &format!("{i}/{n}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success(), "n = {n}");
        }
        assert!(files(&dir) == want, "n = {n}: the files differ");
    }
    let dir = tmp.path().join("torchrun");
    for rank in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
            .args(base(&dir))
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", "2")
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    assert!(files(&dir) == want, "RANK/WORLD_SIZE: the files differ");
}

/// Whether `python3 -c 'import safetensors, numpy'` works; panics without it under
/// GPUINIT_REQUIRE_SAFETENSORS=1.
fn python_safetensors() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import safetensors.numpy, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("GPUINIT_REQUIRE_SAFETENSORS").as_deref() == Ok("1") {
        panic!("GPUINIT_REQUIRE_SAFETENSORS=1 but python3 cannot import safetensors and numpy");
    }
    if !ok {
        eprintln!("SKIPPED: python3 with safetensors and numpy");
    }
    ok
}

/// Python's safetensors reads every file of a sharded GPT-2 and a Llama checkpoint in f32,
/// bf16 and f16: names, shapes and dtypes as the spec says, norms 1, biases 0, the padding
/// row 0, and the weights' std initializer_range (c_proj's scaled by 1/sqrt(2 n_layer)).
#[test]
fn python_safetensors_reads_every_file() {
    if !python_safetensors() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (name, config) in [("gpt2", GPT2), ("llama", LLAMA)] {
        let cfg = write(tmp.path(), &format!("{name}.json"), config);
        for dtype in ["f32", "bf16", "f16"] {
            let dir = tmp.path().join(format!("{name}-{dtype}"));
            let out = gpuinit(&[
                "init",
                "--config",
                cfg.to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
                "--seed",
                "9",
                "--dtype",
                dtype,
                "--max-shard-size",
                "30KB",
            ]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let check = Command::new("python3")
                .arg("-c")
                .arg(PY_CHECK)
                .arg(&dir)
                .arg(name)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{name} {dtype}: {}{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
}

const PY_CHECK: &str = r#"
import json, math, os, sys
import numpy as np
import safetensors
from safetensors.numpy import load_file
d, kind = sys.argv[1], sys.argv[2]

def load(path):
    try:
        return {k: (v.astype(np.float32), v.nbytes) for k, v in load_file(path).items()}
    except Exception as e:
        # numpy has no bfloat16: read those files through the package's raw reader instead.
        assert "bf16" in str(e).lower() or "bfloat16" in str(e).lower(), e
    out = {}
    for k, t in safetensors.deserialize(open(path, "rb").read()):
        assert t["dtype"] == "BF16", (k, t["dtype"])
        bits = np.frombuffer(bytes(t["data"]), dtype="<u2").astype(np.uint32) << 16
        out[k] = (bits.view(np.float32).reshape(t["shape"]), len(t["data"]))
    return out

index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
tensors, nbytes = {}, 0
for f in sorted(set(index["weight_map"].values())):
    for k, (v, n) in load(os.path.join(d, f)).items():
        assert index["weight_map"][k] == f, k
        nbytes += n
        tensors[k] = v
assert set(tensors) == set(index["weight_map"]), "index and files disagree"
assert index["metadata"]["total_size"] == nbytes, (index["metadata"], nbytes)
if kind == "gpt2":
    assert tensors["wte.weight"].shape == (100, 64) and tensors["h.1.mlp.c_fc.weight"].shape == (64, 256)
    assert "lm_head.weight" not in tensors and len(tensors) == 28
    norms = [k for k in tensors if ".ln_" in k and k.endswith("weight")] + ["ln_f.weight"]
    proj = [k for k in tensors if k.endswith("c_proj.weight")]
    weights = ["wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.1.mlp.c_fc.weight"]
    scaled = 0.02 / math.sqrt(4)
else:
    assert tensors["model.layers.0.self_attn.k_proj.weight"].shape == (32, 64)
    assert tensors["lm_head.weight"].shape == (100, 64) and len(tensors) == 21
    assert (tensors["model.embed_tokens.weight"][3] == 0).all(), "padding row"
    norms = [k for k in tensors if "norm" in k]
    proj, scaled = [], 0
    weights = ["model.embed_tokens.weight", "lm_head.weight", "model.layers.1.mlp.down_proj.weight"]
for k in norms:
    assert (tensors[k] == 1).all(), k
for k in tensors:
    if k.endswith("bias"):
        assert (tensors[k] == 0).all(), k
for k in weights:
    s = float(tensors[k].std())
    assert abs(s / 0.02 - 1) < 0.1, (k, s)
for k in proj:
    s = float(tensors[k].std())
    assert abs(s / scaled - 1) < 0.1, (k, s)
print("ok", len(tensors))
"#;

/// Bad input: one line naming the problem, exit 2, and no file written.
#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let gpt2 = write(t, "gpt2.json", GPT2);
    let unknown = write(
        t,
        "bert.json",
        r#"{"model_type": "bert", "hidden_size": 8}"#,
    );
    let missing = write(t, "missing.json", r#"{"model_type": "gpt2", "n_embd": 8}"#);
    let huge = write(
        t,
        "huge.json",
        r#"{"tensors": [{"name": "w", "shape": [4294967296, 4294967296], "scheme": "zeros"}]}"#,
    );
    let twice = write(
        t,
        "twice.json",
        r#"{"tensors": [{"name": "w", "shape": [2], "scheme": "zeros"},
                        {"name": "w", "shape": [3], "scheme": "ones"}]}"#,
    );
    let f16 = write(
        t,
        "f16.json",
        r#"{"tensors": [{"name": "w", "shape": [2], "scheme": "constant:value=1e5", "dtype": "f16"}]}"#,
    );
    // A petabyte of zeros: more than any test machine's disk has free.
    let vast = write(
        t,
        "vast.json",
        r#"{"tensors": [{"name": "w", "shape": [16777216, 16777216], "scheme": "zeros"}]}"#,
    );
    let out = t.join("out");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--config", unknown.to_str().unwrap(), "--out", o],
            "model_type 'bert'",
        ),
        (
            vec!["--config", missing.to_str().unwrap(), "--out", o],
            "'n_layer'",
        ),
        (vec!["--spec", huge.to_str().unwrap(), "--out", o], "2^64"),
        (
            vec!["--spec", twice.to_str().unwrap(), "--out", o],
            "'w' appears twice",
        ),
        (
            vec!["--spec", f16.to_str().unwrap(), "--out", o],
            "largest finite F16",
        ),
        (
            vec![
                "--config",
                gpt2.to_str().unwrap(),
                "--out",
                o,
                "--shard",
                "3/3",
            ],
            "--shard '3/3'",
        ),
        (
            vec!["--spec", vast.to_str().unwrap(), "--out", o],
            "GB free",
        ),
        (
            vec!["--config", gpt2.to_str().unwrap(), "--out", "/dev/full"],
            "'/dev/full' is not a folder",
        ),
        (
            vec![
                "--config",
                gpt2.to_str().unwrap(),
                "--out",
                o,
                "--max-shard-size",
                "5XB",
            ],
            "'5XB'",
        ),
        (
            vec![
                "--config",
                gpt2.to_str().unwrap(),
                "--out",
                o,
                "--dtype",
                "f8",
            ],
            "'f8'",
        ),
    ];
    for (args, needle) in cases {
        let out = gpuinit(&[&["init", "--seed", "1"][..], &args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !Path::new(o).exists() || files(Path::new(o)).is_empty(),
            "{args:?}"
        );
    }
    // An existing checkpoint is kept without --force, replaced with it.
    let args = [
        "init",
        "--config",
        gpt2.to_str().unwrap(),
        "--out",
        o,
        "--seed",
        "1",
    ];
    assert!(gpuinit(&args).status.success());
    let before = files(&out);
    let again = gpuinit(&args);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert!(gpuinit(&[&args[..], &["--force"]].concat())
        .status
        .success());
    assert!(files(&out) == before);
    // Replaced with another seed's: that checkpoint's bytes, not the old ones.
    let seed2 = |o: &str| gpuinit(&[&args[..4], &[o, "--seed", "2", "--force"]].concat());
    assert!(seed2(o).status.success());
    let other = tmp.path().join("seed2");
    assert!(seed2(other.to_str().unwrap()).status.success());
    assert!(
        files(&out) != before,
        "--force with another seed rewrote nothing"
    );
    assert!(
        files(&out) == files(&other),
        "--force --seed 2 is not seed 2's"
    );
}

/// `--print-spec` prints JSON that `--spec` takes back to the same checkpoint.
#[test]
fn a_printed_spec_writes_the_same_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "llama.json", LLAMA);
    let printed = gpuinit(&["init", "--config", cfg.to_str().unwrap(), "--print-spec"]);
    assert!(printed.status.success());
    let spec = write(
        tmp.path(),
        "spec.json",
        &String::from_utf8_lossy(&printed.stdout),
    );
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (flag, path, out) in [("--config", &cfg, &a), ("--spec", &spec, &b)] {
        let o = gpuinit(&[
            "init",
            flag,
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--seed",
            "3",
            "--device",
            "cpu",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let weights = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(weights(&a) == weights(&b));
}

/// GPUINIT_REQUIRE_TRANSFORMERS=1 (or transformers importable): the GPT-2 and Llama
/// checkpoints, f32 in one file and bf16 in many, load with `from_pretrained(dir)` with no
/// missing or unexpected keys, and one forward pass gives finite logits.
#[test]
fn transformers_loads_the_checkpoints() {
    let has = Command::new("python3")
        .args(["-c", "import transformers, torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var("GPUINIT_REQUIRE_TRANSFORMERS").as_deref() != Ok("1"),
            "GPUINIT_REQUIRE_TRANSFORMERS=1 but python3 cannot import transformers and torch"
        );
        eprintln!("SKIPPED: python3 with transformers and torch");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cases = [("gpt2", GPT2), ("llama", LLAMA)]
        .into_iter()
        .flat_map(|c| [(c, "f32", "5GB"), (c, "bf16", "40KB")]);
    for ((name, config), dtype, shard) in cases {
        let cfg = write(tmp.path(), &format!("{name}.json"), config);
        let dir = tmp.path().join(format!("{name}-{dtype}"));
        let (c, d) = (cfg.to_str().unwrap(), dir.to_str().unwrap());
        let o = gpuinit(&[
            "init",
            "--config",
            c,
            "--out",
            d,
            "--seed",
            "2",
            "--dtype",
            dtype,
            "--max-shard-size",
            shard,
        ]);
        assert!(o.status.success());
        let check = Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, torch\nfrom transformers import AutoModelForCausalLM\n\
                 m, info = AutoModelForCausalLM.from_pretrained(sys.argv[1], output_loading_info=True)\n\
                 bad = {k: v for k, v in info.items() if v}\n\
                 assert not bad, bad\n\
                 logits = m(torch.tensor([[1, 2, 3, 4]])).logits\n\
                 assert torch.isfinite(logits).all()\nprint('ok')",
            )
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{name} {dtype}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

/// Spawns `init` of two files (the 2 GB one first, then 64 MB) into `out` and waits until
/// the index and the first file are sealed and the second is being written.
fn second_file_started(spec: &Path, out: &Path, extra: &[&str]) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
        .args(["init", "--spec", spec.to_str().unwrap(), "--device", "cpu"])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--seed",
            "1",
            "--max-shard-size",
            "100MB",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let second = || {
        std::fs::read_dir(out).is_ok_and(|d| {
            d.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(".model-00002-of-00002.partial-")
            })
        })
    };
    let start = std::time::Instant::now();
    while !second() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(second(), "the second file never started");
    child
}

fn two_files(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "spec.json",
        r#"{"tensors": [{"name": "a", "shape": [16777216], "scheme": "zeros"},
                        {"name": "b", "shape": [536870912], "scheme": "zeros"}]}"#,
    )
}

fn kill(signal: &str, pid: u32) {
    assert!(Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// An interrupt (SIGINT or SIGTERM) while the second of two files is being written leaves
/// no file at all: every file (and the index) is published together at the end.
#[test]
fn an_interrupt_leaves_no_file_of_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = two_files(tmp.path());
    // Both at once: each waits seconds for its second file.
    std::thread::scope(|scope| {
        for signal in ["-INT", "-TERM"] {
            let (tmp, spec) = (tmp.path(), &spec);
            scope.spawn(move || {
                let out = tmp.join(&signal[1..]);
                let mut child = second_file_started(spec, &out, &[]);
                // The index and the first file sealed, the second being written.
                assert_eq!(common::partial_files(&out), 3, "{signal}");
                kill(signal, child.id());
                assert!(!child.wait().unwrap().success(), "{signal}");
                assert!(
                    files(&out).is_empty(),
                    "{signal}: {:?}",
                    files(&out).iter().map(|f| &f.0).collect::<Vec<_>>()
                );
            });
        }
    });
}

/// SIGKILL during `init --force` over a previous checkpoint (no clean-up possible): the
/// previous checkpoint's files are all there, whole, and none of the new one's; only
/// temporary files are left, for the next run to remove (tests/trust.rs, defect 10).
#[test]
fn a_sigkill_leaves_the_previous_checkpoint_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.json", GPT2);
    let out = tmp.path().join("ckpt");
    let o = out.to_str().unwrap();
    let c = config.to_str().unwrap();
    let first = gpuinit(&["init", "--config", c, "--out", o, "--seed", "1"]);
    assert!(first.status.success());
    let before = common::folder_files(&out, false);
    let mut child = second_file_started(&two_files(tmp.path()), &out, &["--force"]);
    kill("-KILL", child.id());
    assert!(!child.wait().unwrap().success());
    let after = common::folder_files(&out, false);
    assert!(
        after == before,
        "{:?}",
        after.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(common::partial_files(&out) >= 2);
}

/// A write that fails mid-file (a full disk, GPUINIT_FAULT=write-after:N) under `--force`:
/// exit 1, one line naming the file, and the previous checkpoint untouched, with no
/// temporary file left.
#[test]
fn a_write_failure_mid_file_leaves_the_previous_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.json", GPT2);
    let out = tmp.path().join("ckpt");
    let args = |seed: &'static str| {
        vec![
            "init".to_string(),
            "--config".into(),
            config.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--seed".into(),
            seed.into(),
            "--force".into(),
        ]
    };
    let first = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
        .args(args("1"))
        .output()
        .unwrap();
    assert!(first.status.success());
    let before = files(&out);
    let failed = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
        .args(args("2"))
        .env("GPUINIT_FAULT", "write-after:100000")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&failed.stderr);
    let err: Vec<&str> = err.lines().filter(|l| !l.contains("XDG_RUNTIME")).collect();
    assert_eq!(failed.status.code(), Some(1), "{err:?}");
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].contains("model.safetensors") && err[0].contains("no space"),
        "{err:?}"
    );
    assert!(
        files(&out) == before,
        "{:?}",
        files(&out).iter().map(|f| &f.0).collect::<Vec<_>>()
    );
}

/// An interrupt during publication (GPUINIT_FAULT=publish-pause:S holds it after the first
/// file is renamed into place): the weights go first and the index last, so no index is
/// there for a reader to follow to a missing file, and no temporary file is left.
#[test]
fn an_interrupt_while_publishing_leaves_no_index() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.json", GPT2);
    let out = tmp.path().join("ckpt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
        .args(["init", "--config", config.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap(), "--seed", "1"])
        .args(["--max-shard-size", "40KB", "--device", "cpu"])
        .env("GPUINIT_FAULT", "publish-pause:30")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while published_names(&out).is_empty() {
        assert!(start.elapsed().as_secs() < 30, "nothing was published");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    kill("-INT", child.id());
    assert!(!child.wait().unwrap().success());
    let names = published_names(&out);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".safetensors"), "{names:?}");
    assert_eq!(common::partial_files(&out), 0, "{names:?}");
}

fn published_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map_or(Vec::new(), |d| {
        d.flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    })
}
