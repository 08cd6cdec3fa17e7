//! Every command's JSON, through the binary, parsed into the typed schema of `docs/JSON.md`
//! (unknown fields refused, so the doc and the output cannot drift), with exit codes and
//! the figures that must hold.

mod common;
use common::gpuinit;

use serde::Deserialize;

fn has_gpu() -> bool {
    !common::contexts().is_empty()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Adapter {
    name: String,
    backend: String,
    device_type: String,
    driver: String,
    driver_info: String,
    max_buffer_size: u64,
    max_storage_buffer_binding_size: u64,
    max_compute_workgroups_per_dimension: u64,
    max_compute_invocations_per_workgroup: u64,
    max_compute_workgroup_storage_size: u64,
    min_storage_buffer_offset_alignment: u64,
    timestamp_queries: bool,
    shader_f16: bool,
    shader_int64: bool,
    subgroups: bool,
}

#[test]
fn devices_json() {
    let out = gpuinit(&["devices", "--json"]);
    assert!(out.status.success());
    let adapters: Vec<Adapter> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(adapters.is_empty(), !has_gpu());
    for a in &adapters {
        assert!(
            ["vulkan", "metal", "dx12", "gl"].contains(&a.backend.as_str()),
            "{a:?}"
        );
        assert!(
            a.max_storage_buffer_binding_size
                <= a.max_buffer_size.max(a.max_storage_buffer_binding_size)
        );
        assert!(a.max_compute_workgroups_per_dimension >= 65535, "{a:?}");
    }
    // The table: one line per adapter, no doubled spaces (GL's empty driver name).
    let table = gpuinit(&["devices"]);
    let text = String::from_utf8_lossy(&table.stdout);
    if has_gpu() {
        assert_eq!(text.lines().count(), adapters.len());
        assert!(!text.contains("driver  "), "{text}");
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VerifyReport {
    seed: u64,
    samples: u64,
    level: String,
    fwer: f64,
    statistical_checks: u64,
    per_check_alpha: f64,
    z_threshold: f64,
    detectable_variance_error: Vec<Detectable>,
    devices: Vec<DeviceRun>,
    passed: u64,
    failed: u64,
    rows: Vec<VerifyRow>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Detectable {
    distribution: String,
    at_half_power: f64,
    at_high_power: f64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DeviceRun {
    device: String,
    adapter: Option<Adapter>,
    seconds: f64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct VerifyRow {
    device: String,
    scheme: String,
    shape: String,
    check: String,
    expected: String,
    measured: String,
    statistic: String,
    p_value: Option<f64>,
    tolerance: Option<String>,
    pass: bool,
}

/// `verify --json --markdown`: exit 0 with every row passing, the Bonferroni level
/// consistent with the count of statistical rows; `--samples` outside its range is exit 2;
/// a weaker generator compiled into the kernels is exit 1 with the failures in the JSON.
#[test]
fn verify_json_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (json, md) = (dir.path().join("v.json"), dir.path().join("v.md"));
    let (json_s, md_s) = (json.to_str().unwrap(), md.to_str().unwrap());
    let out = gpuinit(&[
        "verify",
        "--quick",
        "--device",
        "cpu",
        "--samples",
        "4096",
        "--json",
        json_s,
        "--markdown",
        md_s,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: VerifyReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((r.samples, r.level.as_str(), r.failed), (4096, "quick", 0));
    assert_eq!(r.passed as usize, r.rows.len());
    let stats = r.rows.iter().filter(|row| row.p_value.is_some()).count() as u64;
    assert_eq!(stats, r.statistical_checks);
    assert!((r.per_check_alpha * stats as f64 - r.fwer).abs() < 1e-15);
    assert!(r
        .rows
        .iter()
        .all(|row| row.p_value.is_some() != row.tolerance.is_some()));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert_eq!(
        markdown.lines().filter(|l| l.starts_with("| cpu")).count(),
        r.rows.len()
    );
    assert!(markdown.contains(&format!("{} passed, 0 failed", r.passed)));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table
        .trim_end()
        .ends_with(&format!("{} passed, 0 failed", r.passed)));
    for samples in ["1023", "268435457"] {
        let out = gpuinit(&["verify", "--device", "cpu", "--samples", samples]);
        assert_eq!(out.status.code(), Some(2), "--samples {samples}");
    }
    if has_gpu() {
        let out = gpuinit(&[
            "verify",
            "--quick",
            "--device",
            "gpu",
            "--philox-rounds",
            "9",
            "--json",
            json_s,
        ]);
        assert_eq!(out.status.code(), Some(1));
        let r: VerifyReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert!(r.failed > 0);
        assert!(r
            .rows
            .iter()
            .any(|row| !row.pass && row.check == "known answers (Random123)"));
    }
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Stat {
    median_s: f64,
    min_s: f64,
    max_s: f64,
    repeats: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BenchReport {
    gpuinit_version: String,
    git_revision: String,
    adapter: Option<Adapter>,
    gpu_timing: String,
    workgroup_size: Option<u64>,
    mulhilo_bits: Option<u64>,
    cpu_model: String,
    cpu_threads: u64,
    setup_s: Option<f64>,
    first_dispatch_s: Option<f64>,
    rows: Vec<BenchRow>,
    layers: Vec<LayerRow>,
    networks: Vec<NetworkRow>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BenchRow {
    distribution: String,
    scheme: String,
    elements: u64,
    gpu: Option<Stat>,
    store: Option<Stat>,
    store_only: Option<Stat>,
    clear_wall: Option<Stat>,
    cpu: Option<Stat>,
    cpu_fill: Option<Stat>,
    theory_variance: f64,
    gpu_mean: Option<f64>,
    gpu_variance: Option<f64>,
    cpu_mean: Option<f64>,
    cpu_variance: Option<f64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LayerRow {
    product: String,
    batch: u64,
    width: u64,
    flops: f64,
    gpu_tiled: Option<Stat>,
    gpu_naive: Option<Stat>,
    cpu: Option<Stat>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NetworkRow {
    depth: u64,
    width: u64,
    batch: u64,
    backward: bool,
    flops: f64,
    gpu: Option<Stat>,
    cpu: Option<Stat>,
}

fn stat_ok(s: Option<Stat>) -> bool {
    s.is_some_and(|s| {
        s.min_s > 0.0 && s.min_s <= s.median_s && s.median_s <= s.max_s && s.repeats >= 3
    })
}

/// `bench --json --markdown --sizes --workgroup-size`: a row per distribution and size,
/// the workgroup size asked for, every figure positive and ordered; a bad size is exit 2.
#[test]
fn bench_json() {
    let dir = tempfile::tempdir().unwrap();
    let (json, md) = (dir.path().join("b.json"), dir.path().join("b.md"));
    let mut args = vec![
        "bench",
        "--quick",
        "--sizes",
        "4096,64k",
        "--json",
        json.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ];
    if has_gpu() {
        args.extend(["--workgroup-size", "128"]);
    }
    let out = gpuinit(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: BenchReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r.rows.len(), 2 * 3);
    let sizes: Vec<u64> = r.rows.iter().map(|row| row.elements).collect();
    assert_eq!(sizes, [4096, 4096, 4096, 65536, 65536, 65536]);
    for row in &r.rows {
        assert!(stat_ok(row.cpu) && stat_ok(row.cpu_fill), "{row:?}");
        if has_gpu() {
            assert!(
                stat_ok(row.gpu)
                    && stat_ok(row.store)
                    && stat_ok(row.store_only)
                    && stat_ok(row.clear_wall),
                "{row:?}"
            );
        }
    }
    if has_gpu() {
        assert_eq!(r.workgroup_size, Some(128));
        assert!(r.adapter.is_some() && r.setup_s.is_some_and(|s| s > 0.0));
    }
    assert!(!r.layers.is_empty() && r.layers.iter().all(|l| stat_ok(l.cpu)));
    let products: Vec<&str> = r.layers.iter().map(|l| l.product.as_str()).collect();
    assert_eq!(products, ["forward", "backward", "weight gradient"]);
    assert!(r.networks.len() == 2 && r.networks.iter().all(|n| stat_ok(n.cpu)));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert_eq!(
        markdown
            .lines()
            .filter(|l| l.starts_with("| uniform"))
            .count(),
        2
    );
    let out = gpuinit(&["bench", "--quick", "--device", "cpu", "--sizes", "4097"]);
    assert_eq!(out.status.code(), Some(2));
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PropagateReport {
    network: NetworkJson,
    backward: bool,
    input: String,
    top_gradient: Option<String>,
    tolerance: ToleranceJson,
    schemes: Vec<SchemeJson>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NetworkJson {
    widths: Vec<u64>,
    batch: u64,
    activation: String,
    negative_slope: f64,
    seed: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ToleranceJson {
    rel: f64,
    mean_per_std: f64,
    count_abs: f64,
    count_rel: f64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct SchemeJson {
    scheme: String,
    gpu: Option<RunJson>,
    cpu: Option<RunJson>,
    comparison: Option<ComparisonJson>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RunJson {
    scheme: String,
    layer1_weights: String,
    layer1_fan_in_variance: f64,
    device: String,
    seconds: f64,
    layers: Vec<LayerJson>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LayerJson {
    layer: u64,
    width: u64,
    activation: SummaryJson,
    gradient: Option<SummaryJson>,
    weight_gradient: Option<SummaryJson>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SummaryJson {
    count: u64,
    nonfinite: u64,
    mean: Option<f64>,
    variance: Option<f64>,
    std: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    saturated: Option<f64>,
    saturated_count: u64,
    histogram: Option<HistogramJson>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct HistogramJson {
    lo: f64,
    hi: f64,
    counts: Vec<u64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ComparisonJson {
    std: WorstJson,
    mean: WorstJson,
    extremes: WorstJson,
    counts: WorstJson,
    histogram: WorstJson,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WorstJson {
    deviation: f64,
    ratio: f64,
    at: String,
}

/// `propagate --json`: every layer of every scheme on each device, histograms that count
/// every value, and comparisons within tolerance (exit 0); a chaotic network, whose
/// rounding differences grow layer by layer, is outside it (exit 1).
#[test]
fn propagate_json_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("p.json");
    let device = if has_gpu() { "both" } else { "cpu" };
    let out = gpuinit(&[
        "propagate",
        "--init",
        "standard,kaiming_normal",
        "--activation",
        "relu",
        "--widths",
        "10,7,5",
        "--batch",
        "6",
        "--seed",
        "4",
        "--backward",
        "--device",
        device,
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: PropagateReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        (r.network.widths.as_slice(), r.network.batch),
        (&[10, 7, 5][..], 6)
    );
    assert!(r.backward && r.top_gradient.is_some());
    assert_eq!(r.schemes.len(), 2);
    for s in &r.schemes {
        let runs: Vec<&RunJson> = [&s.gpu, &s.cpu].into_iter().flatten().collect();
        assert_eq!(runs.len(), if has_gpu() { 2 } else { 1 }, "{}", s.scheme);
        for run in runs {
            assert_eq!(run.layers.len(), 3);
            for l in &run.layers {
                let h = l.activation.histogram.as_ref().unwrap();
                assert_eq!(h.counts.iter().sum::<u64>(), 6 * l.width);
                assert_eq!(l.gradient.is_some(), l.layer > 0);
                assert_eq!(l.weight_gradient.is_some(), l.layer > 0);
            }
        }
        assert_eq!(s.comparison.is_some(), has_gpu());
        assert!(s
            .comparison
            .as_ref()
            .is_none_or(|c| c.std.ratio <= 1.0 && c.counts.ratio <= 1.0));
    }
    if has_gpu() {
        let out = gpuinit(&[
            "propagate",
            "--device",
            "both",
            "--activation",
            "tanh",
            "--init",
            "xavier_normal:gain=3",
            "--depth",
            "60",
            "--width",
            "64",
            "--batch",
            "16",
            "--seed",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stdout).contains("OUTSIDE tolerance"));
    }
}
