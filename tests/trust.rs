//! "A checkpoint you can trust" (issue 20), `gpuinit init`'s side, through the binary as a
//! user runs it: one test per defect of the hostile-user review (unbounded memory, the old
//! layout left behind by --force, seeds mixed across ranks, concurrent runs into one
//! folder, leftovers and empty folders, configs transformers refuses, and the small ones).

mod common;
use common::models::{files, write, GPT2, LLAMA};
use common::{bin, errors, gpuinit as run};

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Exit code 2 and one line that contains `needle`, with no panic.
fn refused(out: &Output, what: &str, needle: &str) {
    let err = errors(out);
    assert_eq!(out.status.code(), Some(2), "{what}: {err:?}");
    assert_eq!(err.len(), 1, "{what}: {err:?}");
    assert!(
        err[0].contains(needle),
        "{what}: '{}' lacks '{needle}'",
        err[0]
    );
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn names(dir: &Path) -> Vec<String> {
    files(dir).into_iter().map(|f| f.0).collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Defect 1: a config, spec or verify config of `/dev/zero` (or `/dev/urandom`) is read no
/// further than the cap, which the message names; a config of a billion layers is refused
/// by its tensor count at once, under a 4 GB address-space limit, for init, --print-spec and
/// verify alike; a million layers too, before the free-space check.
#[test]
fn defect_1_reads_and_tensor_counts_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = s(&out);
    // A checkpoint for verify to check against the config.
    let ck = tmp.path().join("ck");
    let small = write(tmp.path(), "small.json", GPT2);
    ok(
        &run(&[
            "init",
            "--config",
            s(&small),
            "--out",
            s(&ck),
            "--seed",
            "1",
            "--device",
            "cpu",
        ]),
        "the checkpoint verify reads",
    );
    let k = s(&ck);
    for (args, needle) in [
        (vec!["init", "--config", "/dev/zero", "--out", o], "16 MiB"),
        (vec!["init", "--spec", "/dev/zero", "--out", o], "16 MiB"),
        (vec!["init", "--spec", "/dev/urandom", "--out", o], "16 MiB"),
        (
            vec!["verify", "--checkpoint", k, "--config", "/dev/zero"],
            "16 MiB",
        ),
    ] {
        let start = Instant::now();
        refused(&run(&args), &format!("{args:?}"), needle);
        assert!(start.elapsed() < Duration::from_secs(20), "{args:?}");
        assert!(!out.exists(), "{args:?}");
    }
    let mut cfg: serde_json::Value = serde_json::from_str(GPT2).unwrap();
    for layers in [1_000_000_000u64, 1_000_000] {
        cfg["n_layer"] = layers.into();
        let c = write(tmp.path(), "huge.json", &cfg.to_string());
        let cases = [
            format!("init --config {} --out {o} --seed 1", s(&c)),
            format!("init --config {} --print-spec", s(&c)),
            format!("verify --checkpoint {k} --config {}", s(&c)),
        ];
        for args in cases {
            let start = Instant::now();
            let got = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ulimit -v 4000000; exec '{}' {args}",
                    env!("CARGO_BIN_EXE_gpuinit")
                ))
                .env("EGL_PLATFORM", "surfaceless")
                .output()
                .unwrap();
            refused(&got, &args, "more than the 262144 a checkpoint may have");
            assert!(start.elapsed() < Duration::from_secs(20), "{args}");
            assert!(!out.exists(), "{args}");
        }
    }
}

/// Defect 3: `--force` replaces a checkpoint of another layout whole (no stale
/// `model.safetensors` beside a new index, no stale index and shards beside a new single
/// file) and leaves files that are not the checkpoint's alone; without it, a folder that
/// holds another layout is refused, by any rank.
#[test]
fn defect_3_force_replaces_the_old_layout_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.json", GPT2);
    let dir = tmp.path().join("ckpt");
    let d = s(&dir);
    let init = |extra: &[&str]| {
        let base = [
            "init",
            "--config",
            s(&config),
            "--out",
            d,
            "--seed",
            "1",
            "--device",
            "cpu",
        ];
        run(&[&base[..], extra].concat())
    };
    ok(&init(&[]), "single");
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    std::fs::write(dir.join("model.safetensors.bak"), "x").unwrap();
    // A rank of a sharded run, without --force, into a single-file checkpoint.
    refused(
        &init(&["--max-shard-size", "40KB", "--shard", "1/2"]),
        "rank 1 without --force",
        "another layout",
    );
    refused(
        &init(&["--max-shard-size", "40KB"]),
        "sharded without --force",
        "--force",
    );
    ok(&init(&["--max-shard-size", "40KB", "--force"]), "sharded");
    let sharded = names(&dir);
    assert!(
        !sharded.contains(&"model.safetensors".to_string()),
        "{sharded:?}"
    );
    assert!(sharded.contains(&"model.safetensors.index.json".to_string()));
    assert!(sharded.contains(&"tokenizer.json".to_string()));
    assert!(sharded.contains(&"model.safetensors.bak".to_string()));
    // Fewer, larger shards: the old count's files go.
    ok(
        &init(&["--max-shard-size", "100KB", "--force"]),
        "resharded",
    );
    let resharded = names(&dir);
    assert!(
        !resharded.iter().any(|n| n.contains("-of-00008")),
        "{resharded:?}"
    );
    ok(&init(&["--force"]), "single again");
    let mut want = vec![
        "config.json",
        "model.safetensors",
        "model.safetensors.bak",
        "tokenizer.json",
    ];
    want.sort();
    assert_eq!(names(&dir), want);
}

/// Defect 4: several processes without `--seed` would each draw their own; refused, one
/// line, nothing created, whether the ranks come from `--shard` or a launcher.
#[test]
fn defect_4_several_ranks_need_a_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.json", GPT2);
    let dir = tmp.path().join("ckpt");
    let args = ["init", "--config", s(&config), "--out", s(&dir)];
    let flag = run(&[&args[..], &["--shard", "1/2"]].concat());
    refused(&flag, "--shard 1/2", "--seed is required");
    let env = bin()
        .args(args)
        .env("RANK", "0")
        .env("WORLD_SIZE", "2")
        .output()
        .unwrap();
    refused(&env, "RANK=0 WORLD_SIZE=2", "--seed is required");
    assert!(!dir.exists());
    ok(&run(&[&args[..], &["--shard", "0/1"]].concat()), "one rank");
}

/// Spawns `init` writing a large checkpoint into `dir`, and waits until it holds the
/// folder (its holder file is there).
fn slow_run(spec: &Path, dir: &Path, seed: &str) -> std::process::Child {
    let child = bin()
        .args(["init", "--spec", s(spec), "--out", s(dir), "--seed", seed])
        .args(["--device", "cpu", "--max-shard-size", "100MB"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let holder = |e: std::fs::DirEntry| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.ends_with(&format!("-{}.holder", child.id()))
    };
    let start = Instant::now();
    while !std::fs::read_dir(dir).is_ok_and(|d| d.flatten().any(holder)) {
        assert!(start.elapsed() < Duration::from_secs(60), "never locked");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn large_spec(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "spec.json",
        r#"{"tensors": [{"name": "a", "shape": [16777216], "scheme": "zeros"},
                        {"name": "b", "shape": [1073741824], "scheme": "zeros"}]}"#,
    )
}

/// Defect 5: while one run writes into a folder, another run into it is refused (exit 2,
/// naming the first's process id), and so is a second copy of the same rank; an interrupt
/// of the first then leaves nothing behind, its lock included.
#[test]
fn defect_5_concurrent_runs_into_one_folder_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = large_spec(tmp.path());
    let dir = tmp.path().join("ckpt");
    let mut first = slow_run(&spec, &dir, "1");
    let pid = first.id();
    let other = run(&[
        "init",
        "--spec",
        s(&spec),
        "--out",
        s(&dir),
        "--seed",
        "2",
        "--device",
        "cpu",
    ]);
    refused(&other, "another seed", &format!("process {pid}"));
    let same = run(&[
        "init",
        "--spec",
        s(&spec),
        "--out",
        s(&dir),
        "--seed",
        "1",
        "--max-shard-size",
        "100MB",
        "--device",
        "cpu",
    ]);
    refused(
        &same,
        "the same rank",
        &format!("process {pid} already writes rank 0"),
    );
    assert!(Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    assert!(!first.wait().unwrap().success());
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
}

/// Defect 10: temporary files a SIGKILLed run left are removed by the next run into the
/// folder, which says so on standard error; refusals create no `--out` folder (free
/// space, a missing adapter, workgroup size 0, mulhilo 64 on GL, a full standard output).
#[test]
fn defect_10_leftovers_are_removed_and_refusals_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = large_spec(tmp.path());
    let dir = tmp.path().join("ckpt");
    let mut killed = slow_run(&spec, &dir, "1");
    let start = Instant::now();
    while common::partial_files(&dir) < 2 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(common::partial_files(&dir) >= 2, "{:?}", names(&dir));
    let config = write(tmp.path(), "config.json", GPT2);
    let again = run(&[
        "init",
        "--config",
        s(&config),
        "--out",
        s(&dir),
        "--seed",
        "1",
        "--device",
        "cpu",
    ]);
    ok(&again, "the next run");
    let err = errors(&again).join("\n");
    assert!(err.contains("removed 2 temporary file(s)"), "{err}");
    assert_eq!(common::partial_files(&dir), 0, "{:?}", names(&dir));
    assert!(names(&dir).iter().all(|n| !n.starts_with(".gpuinit")));

    let vast = write(
        tmp.path(),
        "vast.json",
        r#"{"tensors": [{"name": "w", "shape": [16777216, 16777216], "scheme": "zeros"}]}"#,
    );
    let fresh = tmp.path().join("fresh").join("sub");
    let f = s(&fresh);
    let c = s(&config);
    for args in [
        vec!["--spec", s(&vast), "--device", "cpu"],
        vec!["--config", c, "--device", "gpu", "--adapter", "nosuch"],
        vec!["--config", c, "--device", "gpu", "--workgroup-size", "0"],
        vec![
            "--config",
            c,
            "--device",
            "gpu",
            "--backend",
            "gl",
            "--mulhilo",
            "64",
        ],
    ] {
        let got = run(&[&["init", "--out", f, "--seed", "1"][..], &args].concat());
        assert!(!got.status.success(), "{args:?}");
        assert_eq!(errors(&got).len(), 1, "{args:?}: {:?}", errors(&got));
        assert!(!tmp.path().join("fresh").exists(), "{args:?}");
    }
    if Path::new("/dev/full").exists() {
        let got = bin()
            .args([
                "init", "--config", c, "--out", f, "--seed", "1", "--device", "cpu",
            ])
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(got.status.code(), Some(1));
        assert!(!tmp.path().join("fresh").exists());
    }
}

/// Defect 11: configs transformers' config classes refuse are refused, naming the field:
/// GPT-2 n_head 0 and n_embd 64 over 5 heads; Llama hidden 64 over 5 heads, and 4 heads
/// over 3 k/v heads.
#[test]
fn defect_11_configs_transformers_refuses_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let patch = |base: &str, field: &str, v: u64| {
        let mut c: serde_json::Value = serde_json::from_str(base).unwrap();
        c[field] = v.into();
        write(tmp.path(), &format!("{field}{v}.json"), &c.to_string())
    };
    for (config, needle) in [
        (patch(GPT2, "n_head", 0), "'n_head' is 0"),
        (
            patch(GPT2, "n_head", 5),
            "'n_embd' is 64, not a multiple of 'n_head' (5)",
        ),
        (
            patch(LLAMA, "num_attention_heads", 5),
            "'hidden_size' is 64, not a multiple of 'num_attention_heads' (5)",
        ),
        (
            patch(LLAMA, "num_key_value_heads", 3),
            "not a multiple of 'num_key_value_heads' (3)",
        ),
        (patch(LLAMA, "pad_token_id", 100), "'pad_token_id' is 100"),
    ] {
        let got = run(&[
            "init",
            "--config",
            s(&config),
            "--out",
            s(&out),
            "--seed",
            "1",
        ]);
        refused(&got, &config.display().to_string(), needle);
        assert!(!out.exists());
    }
    // And one it takes is taken: pad_token_id -1, which nn.Embedding counts from the end,
    // zeroes the last row (Hub configs carry it).
    let mut c: serde_json::Value = serde_json::from_str(LLAMA).unwrap();
    c["pad_token_id"] = (-1).into();
    let config = write(tmp.path(), "pad-1.json", &c.to_string());
    let got = run(&[
        "init",
        "--config",
        s(&config),
        "--out",
        s(&out),
        "--seed",
        "1",
        "--device",
        "cpu",
    ]);
    ok(&got, "pad_token_id -1");
    let ckpt = gpuinit::init::Checkpoint::open(&out).unwrap();
    let embed = ckpt
        .tensors
        .iter()
        .find(|t| t.name == "model.embed_tokens.weight")
        .unwrap();
    let row = 64 * 4;
    let last = ckpt.read(embed, 99 * row, row).unwrap();
    assert!(last.iter().all(|&b| b == 0));
    let before = ckpt.read(embed, 98 * row, row).unwrap();
    assert!(before.iter().any(|&b| b != 0));
}

/// Defect 12: half-set launcher variables are refused; sizes huggingface_hub takes (`5gb`,
/// `1.5MB`) are taken, with its rounding; --help and --version into a full standard output
/// fail with one line; a config already in `--out` needs no --force; a dangling symlink as
/// `--out` is named as one.
#[test]
fn defect_12_small_things() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.json", GPT2);
    let dir = tmp.path().join("ckpt");
    let base = [
        "init",
        "--config",
        s(&config),
        "--out",
        s(&dir),
        "--seed",
        "1",
    ];
    for (vars, needle) in [
        (&[("RANK", "1")][..], "RANK=1 is set but WORLD_SIZE is not"),
        (
            &[("WORLD_SIZE", "2")][..],
            "WORLD_SIZE=2 is set but RANK is not",
        ),
        (&[("SLURM_PROCID", "1")][..], "SLURM_NTASKS is not"),
        (
            &[("OMPI_COMM_WORLD_SIZE", "2")][..],
            "OMPI_COMM_WORLD_RANK is not",
        ),
    ] {
        let got = bin()
            .args(base)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        refused(&got, &format!("{vars:?}"), needle);
        assert!(!dir.exists());
    }
    // 1.5MB is 1,500,000 bytes: the same files as the byte count.
    let cpu = ["--device", "cpu"];
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let with = |out: &Path, size: &str| {
        run(&[
            &[
                "init",
                "--config",
                s(&config),
                "--seed",
                "1",
                "--out",
                s(out),
            ][..],
            &cpu,
            &["--max-shard-size", size],
        ]
        .concat())
    };
    ok(&with(&a, "0.15MB"), "0.15MB");
    ok(&with(&b, "150000"), "150000");
    assert!(files(&a) == files(&b));
    assert!(names(&a).len() > 2, "{:?}", names(&a));
    ok(&with(&tmp.path().join("c"), "5gb"), "5gb");
    assert!(tmp.path().join("c/model.safetensors").exists());

    if Path::new("/dev/full").exists() {
        for args in [&["init", "--help"][..], &["--version"]] {
            let got = bin()
                .args(args)
                .stdout(std::fs::File::create("/dev/full").unwrap())
                .output()
                .unwrap();
            assert_eq!(got.status.code(), Some(1), "{args:?}");
            assert_eq!(errors(&got).len(), 1, "{args:?}: {:?}", errors(&got));
        }
    }

    // A config already in --out: no --force needed, and it stays as it was.
    let same = tmp.path().join("same");
    std::fs::create_dir(&same).unwrap();
    let inside = write(&same, "config.json", GPT2);
    let got = run(&[
        "init",
        "--config",
        s(&inside),
        "--out",
        s(&same),
        "--seed",
        "1",
        "--device",
        "cpu",
    ]);
    ok(&got, "a config already in place");
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), GPT2);
    assert!(same.join("model.safetensors").exists());

    #[cfg(unix)]
    {
        let link = tmp.path().join("dangling");
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), &link).unwrap();
        let got = run(&[
            "init",
            "--config",
            s(&config),
            "--out",
            s(&link),
            "--seed",
            "1",
        ]);
        refused(&got, "a dangling --out", "is a symbolic link to");
    }
}
