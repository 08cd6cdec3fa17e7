//! The command line end to end: outputs, and one-line errors with exit code 2 for bad input.

mod common;
use common::gpuinit;

use std::path::Path;
use std::process::Command;

fn has_gpu() -> bool {
    !common::contexts().is_empty()
}

const KAT0: [u8; 16] = [
    0xd5, 0xe8, 0x27, 0x66, 0x8d, 0xc5, 0x69, 0xe1, 0x4c, 0xac, 0x57, 0xbc, 0xd8, 0xdb, 0x00, 0x9b,
];

#[test]
fn stream_prints_the_first_known_answer() {
    let mut devices = vec!["cpu"];
    if has_gpu() {
        devices.push("gpu");
    }
    for device in devices {
        let out = gpuinit(&["stream", "--seed", "0", "--count", "4", "--device", device]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, KAT0, "{device}");
        let hex = gpuinit(&[
            "stream", "--seed", "0", "--count", "4", "--hex", "--device", device,
        ]);
        assert_eq!(
            String::from_utf8_lossy(&hex.stdout),
            "6627e8d5 e169c58d bc57ac4c 9b00dbd8\n"
        );
    }
}

fn read_npy(path: &Path) -> (String, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + hlen]).into_owned();
    (header, bytemuck::pod_collect_to_vec(&bytes[10 + hlen..]))
}

#[test]
fn sample_writes_npy_bin_and_stdout_alike() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("w.npy");
    let bin = dir.path().join("w.bin");
    let mut devices = vec!["cpu"];
    if has_gpu() {
        devices.push("gpu");
    }
    let mut first: Option<Vec<f32>> = None;
    for device in devices {
        let base = [
            "sample",
            "--scheme",
            "xavier_uniform",
            "--shape",
            "64x3x3x3",
            "--seed",
            "5",
            "--device",
            device,
        ];
        let out = gpuinit(&[&base[..], &["--out", npy.to_str().unwrap()]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("fan_in: 27")
                && text.contains("fan_out: 576")
                && text.contains("seed: 5"),
            "{text}"
        );
        let (header, values) = read_npy(&npy);
        assert!(
            header.contains("'shape': (64, 3, 3, 3)") && header.contains("'<f4'"),
            "{header}"
        );
        assert_eq!(values.len(), 64 * 27);
        let bound = (6.0f64 / (27.0 + 576.0)).sqrt() as f32;
        assert!(values.iter().all(|v| v.abs() < bound));
        gpuinit(&[&base[..], &["--out", bin.to_str().unwrap()]].concat());
        let raw: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(&bin).unwrap());
        assert_eq!(raw, values);
        let piped = gpuinit(&[&base[..], &["--out", "-"]].concat());
        assert_eq!(
            bytemuck::pod_collect_to_vec::<u8, f32>(&piped.stdout),
            values
        );
        // A slice is the same slice of the whole.
        let part = gpuinit(&[&base[..], &["--offset", "5", "--count", "7", "--out", "-"]].concat());
        assert_eq!(
            bytemuck::pod_collect_to_vec::<u8, f32>(&part.stdout),
            values[5..12]
        );
        // GPU and CPU write the same bits.
        match &first {
            None => first = Some(values),
            Some(v) => assert_eq!(*v, values, "gpu and cpu files differ"),
        }
    }
    // numpy reads it, where numpy exists (CI installs it and sets GPUINIT_REQUIRE_NUMPY=1).
    let check = "import numpy, sys; a = numpy.load(sys.argv[1]); assert a.shape == (64, 3, 3, 3) and a.dtype == numpy.float32; print(float(abs(a).max()))";
    match Command::new("python3")
        .args(["-c", check, npy.to_str().unwrap()])
        .output()
    {
        Ok(o) if o.status.success() => {}
        o if std::env::var("GPUINIT_REQUIRE_NUMPY").as_deref() == Ok("1") => {
            panic!("numpy.load failed: {o:?}")
        }
        _ => eprintln!("SKIPPED numpy.load check: python3 with numpy not found"),
    }
}

#[test]
fn no_seed_draws_and_prints_one() {
    let out = gpuinit(&[
        "sample", "--scheme", "normal", "--count", "8", "--device", "cpu", "--out", "-",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("seed: "))
        .expect("seed printed");
    let seed = line["seed: ".len()..].split_whitespace().next().unwrap();
    let again = gpuinit(&[
        "sample", "--scheme", "normal", "--count", "8", "--device", "cpu", "--out", "-", "--seed",
        seed,
    ]);
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn bad_input_is_one_line_exit_2_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("w.npy");
    let out = out_path.to_str().unwrap();
    // Arguments, split at spaces (a trailing space passes an empty one), and what the
    // one-line message must name.
    let cases: [(&str, &str); 21] = [
        (
            "--scheme xavier_uniform --fan-in 0 --fan-out 5 --count 10",
            "fan_in=0",
        ),
        ("--scheme xavier_uniform --count 10", "needs fans"),
        (
            "--scheme xavier_uniform --fan-in 3 --count 10",
            "fan_out=none",
        ),
        ("--scheme xavier_uniform --shape ", "shape ''"),
        ("--scheme xavier_uniform --shape 256x0", "256x0"),
        ("--scheme xavier_uniform --shape 7", "[7]"),
        ("--scheme variance_scaling --scale -1 --shape 4x4", "-1"),
        ("--scheme variance_scaling --scale 0 --shape 4x4", "got 0"),
        ("--scheme normal --std nan --count 4", "NaN"),
        ("--scheme xavier_normal --gain -2 --shape 4x4", "-2"),
        ("--scheme uniform --low 1 --high -1 --count 4", "1"),
        (
            "--scheme normal --count 99999999999999999999",
            "99999999999999999999",
        ),
        (
            "--scheme normal --offset 18446744073709551615 --count 2",
            "18446744073709551615",
        ),
        (
            "--scheme normal --shape 4x4 --offset 10 --count 7",
            "offset 10",
        ),
        ("--scheme normal --count 0", "got 0"),
        ("--scheme glorot --shape 4x4", "'glorot'"),
        ("--scheme he_uniform --gain 2 --shape 4x4", "--gain"),
        ("--scheme normal --count 4 --backend directx", "directx"),
        (
            "--scheme normal --count 4 --adapter no-such-adapter-xyz",
            "no-such-adapter-xyz",
        ),
        ("--scheme normal --count 4 --backend metal", "metal"),
        ("--scheme normal --count 4 --seed 0x1g", "0x1g"),
    ];
    for (text, needle) in cases {
        let args: Vec<&str> = text.split(' ').collect();
        let full = [&["sample"][..], &args, &["--seed", "1", "--out", out][..]].concat();
        // --seed given twice would be a clap error of its own; drop ours when the case has one.
        let full: Vec<&str> = if args.contains(&"--seed") {
            [&["sample"][..], &args, &["--out", out][..]].concat()
        } else {
            full
        };
        let r = gpuinit(&full);
        let err = String::from_utf8_lossy(&r.stderr);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
            .collect();
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {err}");
        assert!(
            lines[0].contains(needle),
            "{args:?}: '{}' does not name '{needle}'",
            lines[0]
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!out_path.exists(), "{args:?}: left {out}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?}: left a partial file"
        );
    }
    // An unwritable path.
    let r = gpuinit(&[
        "sample",
        "--scheme",
        "zeros",
        "--count",
        "4",
        "--device",
        "cpu",
        "--out",
        "/nonexistent-dir/w.npy",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("/nonexistent-dir/w.npy"));
    let r = gpuinit(&[
        "sample", "--scheme", "zeros", "--count", "4", "--device", "cpu", "--out", "w.txt",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("w.txt"));
    let r = gpuinit(&["stream", "--seed", "1", "--count", "0"]);
    assert_eq!(r.status.code(), Some(2));
}

/// `--device auto` (every command's default) uses the CPU reference, with one notice line,
/// when no adapter exists: simulated with WGPU_BACKEND=metal, which no Linux machine has.
/// The values are the CPU's. Under GPUINIT_REQUIRE_GPU=1, or with `--device gpu`, a missing
/// adapter is an error with exit code 2.
#[test]
fn auto_falls_back_to_the_cpu_only_when_allowed() {
    if !gpuinit::gpu::list_adapters(gpuinit::BackendChoice::Metal)
        .unwrap()
        .is_empty()
    {
        return; // a machine with Metal cannot simulate a missing adapter this way
    }
    let args = [
        "sample",
        "--scheme",
        "xavier_uniform",
        "--shape",
        "16x8",
        "--seed",
        "5",
        "--out",
        "-",
    ];
    let run = |require: Option<&str>, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gpuinit"));
        c.args(args).args(extra).env("WGPU_BACKEND", "metal");
        match require {
            Some(v) => c.env("GPUINIT_REQUIRE_GPU", v),
            None => c.env_remove("GPUINIT_REQUIRE_GPU"),
        };
        c.output().expect("run gpuinit")
    };
    let auto = run(None, &[]);
    let err = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{err}");
    let notices: Vec<&str> = err.lines().filter(|l| l.starts_with("notice:")).collect();
    assert_eq!(notices.len(), 1, "{err}");
    assert!(notices[0].contains("CPU reference"), "{err}");
    let cpu = gpuinit(&[&args[..], &["--device", "cpu"]].concat());
    assert_eq!(auto.stdout, cpu.stdout);
    assert_eq!(auto.stdout.len(), 16 * 8 * 4);
    for (require, extra) in [(Some("1"), &[][..]), (None, &["--device", "gpu"][..])] {
        let r = run(require, extra);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{require:?} {extra:?}: {err}");
        assert!(err.contains("no GPU adapter"), "{err}");
        assert!(r.stdout.is_empty());
    }
}

/// `stream --stream --offset`, `sample --layout jax` and `--fan-in/--fan-out` runs: the
/// values the library's definition gives, and the fans the layout implies.
#[test]
fn stream_offsets_layouts_and_fans() {
    let out = gpuinit(&[
        "stream",
        "--seed",
        "0x10",
        "--stream",
        "7",
        "--offset",
        "4294967290",
        "--count",
        "13",
        "--device",
        "cpu",
    ]);
    assert!(out.status.success());
    let want: Vec<u8> = (0..13)
        .flat_map(|i| gpuinit::rng::philox::word(16, 7, 4_294_967_290 + i).to_le_bytes())
        .collect();
    assert_eq!(out.stdout, want);
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.npy");
    let w = w.to_str().unwrap();
    // jax [k, k, in, out] = [3, 3, 16, 32]: fan_in 144, fan_out 288, bound sqrt(6 / 432).
    let out = gpuinit(&[
        "sample",
        "--scheme",
        "xavier_uniform",
        "--shape",
        "3x3x16x32",
        "--layout",
        "jax",
        "--seed",
        "2",
        "--device",
        "cpu",
        "--out",
        w,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("fan_in: 144\nfan_out: 288"), "{text}");
    let (header, values) = read_npy(Path::new(w));
    assert!(header.contains("'shape': (3, 3, 16, 32)"), "{header}");
    let bound = (6.0f64 / 432.0).sqrt() as f32;
    assert!(values.iter().all(|v| v.abs() < bound) && values.len() == 4608);
    let out = gpuinit(&[
        "sample",
        "--scheme",
        "kaiming_normal",
        "--fan-in",
        "50",
        "--fan-out",
        "20",
        "--count",
        "1000",
        "--offset",
        "3",
        "--seed",
        "2",
        "--device",
        "cpu",
        "--out",
        w,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (header, values) = read_npy(Path::new(w));
    assert!(header.contains("'shape': (1000,)"), "{header}");
    let s = gpuinit::Distribution::normal(0.0, (2.0f64 / 50.0).sqrt()).sampler();
    assert_eq!(values, gpuinit::cpu::generate_vec(&s, 2, 0, 3, 1000));
}

/// A GPU wait past `--gpu-timeout` ends in an error that says so (exit 1), not a hang.
#[test]
fn a_wait_past_the_timeout_is_an_error() {
    if !has_gpu() {
        return;
    }
    let out = gpuinit(&[
        "sample",
        "--scheme",
        "normal",
        "--count",
        "100000000",
        "--device",
        "gpu",
        "--gpu-timeout",
        "0.000001",
        "--out",
        "/dev/null",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("did not finish within"), "{err}");
}

/// `--mulhilo 16` and `64` give the same bytes on every adapter that has each; asking for
/// 64 where the adapter lacks SHADER_INT64 (llvmpipe's GL) is exit 2, naming the adapter.
#[test]
fn both_mulhilo_forms_give_the_same_bytes() {
    for (name, ctx) in common::contexts() {
        let backend = if name.ends_with("(gl)") {
            "gl"
        } else {
            "vulkan"
        };
        let run = |bits: &str| {
            gpuinit(&[
                "sample",
                "--scheme",
                "xavier_normal",
                "--shape",
                "300x77",
                "--seed",
                "5",
                "--device",
                "gpu",
                "--backend",
                backend,
                "--mulhilo",
                bits,
                "--out",
                "-",
            ])
        };
        let narrow = run("16");
        assert_eq!(narrow.status.code(), Some(0), "{name}");
        let wide = run("64");
        if ctx
            .device()
            .features()
            .contains(wgpu::Features::SHADER_INT64)
        {
            assert_eq!(wide.status.code(), Some(0), "{name}");
            assert!(wide.stdout == narrow.stdout, "{name}: 16 and 64 differ");
        } else {
            let err = String::from_utf8_lossy(&wide.stderr);
            assert_eq!(wide.status.code(), Some(2), "{name}: {err}");
            assert!(
                err.contains("SHADER_INT64") && err.contains(backend),
                "{err}"
            );
        }
    }
}

/// With no desktop session (no XDG_RUNTIME_DIR, nothing set by the caller) a command that
/// opens adapters writes to standard error only what gpuinit writes: no line from Mesa's
/// EGL or its Vulkan device-select layer ("error: XDG_RUNTIME_DIR is invalid ..." twice on
/// the previous main). Catches a build that stops setting either switch.
#[test]
fn standard_error_holds_only_gpuinits_lines() {
    // Without an adapter there is nothing to probe (GPUINIT_REQUIRE_GPU=1 fails instead).
    if !has_gpu() {
        eprintln!("SKIPPED: no adapter, so no driver to keep quiet");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("w.npy");
    let runs: [&[&str]; 3] = [
        &["devices"],
        &["stream", "--seed", "1", "--count", "8", "--device", "gpu"],
        &[
            "sample",
            "--scheme",
            "xavier_uniform",
            "--shape",
            "16x8",
            "--seed",
            "3",
            "--device",
            "gpu",
            "--out",
            out_file.to_str().unwrap(),
        ],
    ];
    for args in runs {
        let out = Command::new(env!("CARGO_BIN_EXE_gpuinit"))
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("EGL_PLATFORM")
            .env_remove("NODEVICE_SELECT")
            .env_remove("MESA_VK_DEVICE_SELECT")
            .output()
            .expect("run gpuinit");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        // What gpuinit itself writes on success: the device and the file, never an error.
        let ours = ["device: ", "wrote: ", "seed: ", "notice: "];
        for line in err.lines() {
            assert!(
                ours.iter().any(|p| line.starts_with(p)),
                "{args:?}: a line gpuinit did not write: {line:?}"
            );
        }
    }
}
