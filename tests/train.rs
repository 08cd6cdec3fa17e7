//! `gpuinit train` through the binary: a tiny run's JSON has the documented fields
//! (docs/JSON.md) and its figures add up; bad input is one line and exit 2.

mod common;

use common::gpuinit;
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TrainReport {
    device: String,
    options: OptionsJson,
    sizes: Vec<u64>,
    runs: Vec<RunJson>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OptionsJson {
    depth: u64,
    width: u64,
    activation: String,
    slope: f64,
    updates: u64,
    batch: u64,
    lrs: Vec<f64>,
    seed: u64,
    test_images: u64,
    validation_images: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RunJson {
    scheme: String,
    lr: f64,
    lr_grid: Vec<(f64, Option<f64>)>,
    checkpoints: Vec<CheckpointJson>,
    test_errors: u64,
    test_images: u64,
    test_error: f64,
    interval: (f64, f64),
    seconds: f64,
    samples_per_s: f64,
    gflops: f64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CheckpointJson {
    updates: u64,
    train_loss: f64,
    test_error: f64,
}

#[test]
fn a_tiny_run_reports_what_the_docs_say() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("t.json");
    let plot = tmp.path().join("t.svg");
    let r = gpuinit(&[
        "train",
        "--init",
        "standard,xavier_uniform",
        "--depth",
        "2",
        "--width",
        "16",
        "--updates",
        "30",
        "--test-images",
        "200",
        "--lr-grid",
        "0.05,0.2",
        "--validation-images",
        "100",
        "--device",
        "cpu",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report: TrainReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("xavier_uniform (lr"),
        "{svg}"
    );
    assert_eq!(report.sizes, vec![1024, 16, 16, 9]);
    assert_eq!(report.runs.len(), 2);
    for run in &report.runs {
        let updates: Vec<u64> = run.checkpoints.iter().map(|c| c.updates).collect();
        assert_eq!(updates, vec![1, 2, 5, 10, 20, 30]);
        assert_eq!(run.lr_grid.len(), 2);
        assert!([0.05f64, 0.2].iter().any(|lr| (lr - run.lr).abs() < 1e-6));
        assert_eq!(run.test_error, run.test_errors as f64 / 200.0);
        assert!(run.interval.0 <= run.test_error && run.test_error <= run.interval.1);
        assert!(run.samples_per_s > 0.0 && run.gflops > 0.0);
        assert!(
            text.contains(&format!("{} (lr {}", run.scheme, run.lr)),
            "{text}"
        );
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, needle) in [
        (vec!["--width", "0"], "width 0"),
        (vec!["--lr", "-0.1"], "-0.1"),
        (vec!["--lr", "NaN"], "NaN"),
        (vec!["--activation", "swish"], "swish"),
        (vec!["--init", "glorot_magic"], "glorot_magic"),
        (
            vec!["--updates", "18446744073709551616"],
            "18446744073709551616",
        ),
        (vec!["--updates", "18446744073709551615"], "2^56"),
        (vec!["--width", "100000000"], "past what"),
        (vec!["--device", "gpu"], "not written yet"),
        (vec!["--plot", "curve.jpg"], "curve.jpg"),
    ] {
        let mut all = vec!["train"];
        if !args.contains(&"--updates") {
            all.extend(["--updates", "1"]);
        }
        let r = gpuinit(&[&all[..], &args].concat());
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
