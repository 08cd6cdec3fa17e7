//! Deep propagation: the science (what each initialization does to depth), the GPU against
//! the CPU reference for every scheme and activation, the kernels at awkward sizes, limits,
//! and the command line. Every GPU test runs on every adapter present (lavapipe through
//! Vulkan and llvmpipe through GL on a machine without a GPU); the science tests check the
//! CPU reference too. Seeds are fixed, so every figure below is deterministic.

mod common;
use common::gpuinit;

use gpuinit::gpu::problem::OPERAND_SEED;
use gpuinit::gpu::{MatmulKernel, Product};
use gpuinit::propagate::{self, compare, parse_inits, Activation, Init, Network, Run, TOLERANCE};
use gpuinit::rng::SCHEME_NAMES;
use gpuinit::Error;

/// Every adapter, with the propagation kernels built.
fn propagators() -> &'static [(String, gpuinit::GpuContext)] {
    let all = common::contexts();
    for (name, ctx) in all {
        ctx.matmul_kernels()
            .and(ctx.stats_kernels())
            .unwrap_or_else(|e| panic!("{name}: propagation pipelines: {e}"));
    }
    all
}

fn init(text: &str) -> Init {
    parse_inits(text).unwrap().remove(0)
}

/// The run on the CPU reference and on every adapter, each labelled.
fn runs_everywhere(net: &Network, scheme: &str, backward: bool) -> Vec<(String, Run)> {
    let i = init(scheme);
    let mut out = vec![(
        "cpu".to_string(),
        propagate::run_cpu(net, &i, backward).unwrap(),
    )];
    for (name, p) in propagators() {
        out.push((
            name.clone(),
            propagate::run_gpu(p, net, &i, backward).unwrap(),
        ));
    }
    out
}

/// Var(X_l) / Var(X_{l-1}) for l = 1..=D.
fn variance_ratios(run: &Run) -> Vec<f64> {
    run.layers
        .windows(2)
        .map(|w| w[1].activation.variance / w[0].activation.variance)
        .collect()
}

fn sci(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{x:.2e}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn geometric_mean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

fn fmt(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Deep linear network, width n = 256, depth 10, batch 256. Xavier (n Var(W) = 1) keeps
/// every layer's variance ratio within 5% of 1 and their geometric mean within 2%;
/// `standard` (U[-1/sqrt(n), 1/sqrt(n)], n Var(W) = 1/3) puts each within 5% of 1/3.
/// Measured (every device alike): xavier 0.992 1.015 0.990 0.998 1.021 1.009 1.020 0.996
/// 1.027 1.003; standard 0.331 0.338 0.330 0.333 0.340 0.336 0.340 0.332 0.342 0.334.
/// A bound computed from the std instead of sqrt(3) std (Var 1/(3n)), a fan mix-up on
/// non-square layers, or one weight reused for every layer's stream would miss these bands.
#[test]
fn linear_xavier_keeps_the_variance_and_standard_divides_it_by_three() {
    let net = Network::uniform(10, 256, 256, Activation::Linear, 42).unwrap();
    for (scheme, target) in [("xavier_uniform", 1.0), ("standard", 1.0 / 3.0)] {
        for (device, run) in runs_everywhere(&net, scheme, false) {
            let r = variance_ratios(&run);
            println!("{device}: linear {scheme}: ratios {}", fmt(&r));
            for (l, x) in r.iter().enumerate() {
                assert!(
                    (x / target - 1.0).abs() < 0.05,
                    "{device}: {scheme} layer {}: ratio {x} not within 5% of {target}",
                    l + 1
                );
            }
            let g = geometric_mean(&r);
            assert!(
                (g / target - 1.0).abs() < 0.02,
                "{device}: {scheme}: geometric mean ratio {g} not within 2% of {target}"
            );
        }
    }
}

/// ReLU, width 256, depth 10, batch 256, on every device: He (Var(W) = 2/n, torch's
/// kaiming_normal and JAX's he_uniform) keeps the variance ratio near 1, Xavier (1/n) halves
/// it, from layer 2 on (layer 1 sees the Gaussian input, not a ReLU's output). ReLU nets
/// correlate the batch (every unit's offset w_o . mean(x) is shared by all rows), so a single
/// layer's ratio fluctuates by about 9% and one network's geometric mean by about 4%: these
/// bands (25% a layer, 10% the mean) catch a missing or doubled gain (a factor 2) on every
/// device; `relu_he_keeps_the_variance_over_twelve_networks` has the power for 10%. Measured: kaiming_normal 1.073 1.014 0.965 0.993 0.891 0.956
/// 1.062 1.157 1.209 (mean 1.03); xavier 0.531 0.526 0.484 0.504 0.478 0.488 0.594 0.511
/// 0.617 (mean 0.525). He without its sqrt(2) gain would halve, Xavier with it would keep.
#[test]
fn relu_he_keeps_the_variance_and_xavier_halves_it() {
    let net = Network::uniform(10, 256, 256, Activation::Relu, 42).unwrap();
    for (scheme, target) in [
        ("kaiming_normal", 1.0),
        ("he_uniform", 1.0),
        ("xavier_uniform", 0.5),
    ] {
        for (device, run) in runs_everywhere(&net, scheme, false) {
            let r = &variance_ratios(&run)[1..];
            println!("{device}: relu {scheme}: ratios from layer 2 {}", fmt(r));
            for (l, x) in r.iter().enumerate() {
                assert!(
                    (x / target - 1.0).abs() < 0.25,
                    "{device}: {scheme} layer {}: ratio {x} not within 25% of {target}",
                    l + 2
                );
            }
            let g = geometric_mean(r);
            assert!(
                (g / target - 1.0).abs() < 0.10,
                "{device}: {scheme}: geometric mean ratio {g} not within 10% of {target}"
            );
        }
    }
}

/// The same claim with the power to see a 10% variance error: on the CPU reference, the
/// geometric mean of the variance ratios of layers 2..10 over twelve networks (seeds 1..12,
/// width 256, batch 256) is within 4% of 1 for He and of 1/2 for Xavier. Its standard error
/// is about 0.9% (the log ratios' sd is 0.09 over 108 ratios); measured 1.008 (kaiming_normal),
/// 1.005 (he_uniform), 0.503 (xavier_uniform) of their targets' scale. He with 10% too little
/// variance (gain sqrt(1.8)) measures 0.907, 10 standard errors out, and fails the band, as
/// the test itself checks.
#[test]
fn relu_he_keeps_the_variance_over_twelve_networks() {
    let ratio = |scheme: &str| {
        let logs: Vec<f64> = (1..=12)
            .flat_map(|seed| {
                let net = Network::uniform(10, 256, 256, Activation::Relu, seed).unwrap();
                let run = propagate::run_cpu(&net, &init(scheme), false).unwrap();
                variance_ratios(&run)[1..].to_vec()
            })
            .map(f64::ln)
            .collect();
        (logs.iter().sum::<f64>() / logs.len() as f64).exp()
    };
    for (scheme, target) in [
        ("kaiming_normal", 1.0),
        ("he_uniform", 1.0),
        ("xavier_uniform", 0.5),
    ] {
        let g = ratio(scheme);
        assert!(
            (g / target - 1.0).abs() < 0.04,
            "{scheme}: {g} not within 4% of {target}"
        );
    }
    let weak = ratio("kaiming_normal:gain=1.3416");
    assert!(
        (weak - 1.0).abs() >= 0.04,
        "10% less variance passed: {weak}"
    );
}

/// tanh, width 256, depth 10, batch 256, with the backward pass (Glorot and Bengio's
/// figures 6 and 7). With `standard`, activation std falls at every layer (measured 0.458
/// 0.250 0.141 ... 0.0031) and the back-propagated gradient's variance spans a factor above
/// 1000 across layers (measured 3.4e4: 2.9e-5 at layer 1, 1.0 at layer 10); with Xavier it
/// stays within a factor 20 (measured 12.5, from 0.072 to 0.90: what remains is tanh' < 1
/// where the first layers' activations are largest, not the weights, n Var(W) = 1). A
/// Xavier with the wrong variance (say 1/(3n), or 1/(6n)) would spread the gradients over
/// 3^9 or 6^9; a `standard` as wide as Xavier would not shrink.
#[test]
fn tanh_standard_vanishes_and_xavier_keeps_gradients() {
    let net = Network::uniform(10, 256, 256, Activation::Tanh, 42).unwrap();
    let spread = |run: &Run| {
        let v: Vec<f64> = run.layers[1..]
            .iter()
            .map(|l| l.gradient.as_ref().unwrap().variance)
            .collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        (hi / lo, v)
    };
    for (device, run) in runs_everywhere(&net, "standard", true) {
        let stds: Vec<f64> = run.layers[1..].iter().map(|l| l.activation.std).collect();
        println!("{device}: tanh standard: activation std {}", fmt(&stds));
        for w in stds.windows(2) {
            assert!(
                w[1] < w[0],
                "{device}: standard: std {} then {}",
                w[0],
                w[1]
            );
        }
        let (s, v) = spread(&run);
        println!(
            "{device}: tanh standard: gradient variance {}, spread {s:.3e}",
            sci(&v)
        );
        assert!(s > 1000.0, "{device}: standard gradient spread only {s}");
    }
    for scheme in ["xavier_uniform", "xavier_normal"] {
        for (device, run) in runs_everywhere(&net, scheme, true) {
            let (s, v) = spread(&run);
            println!(
                "{device}: tanh {scheme}: gradient variance {}, spread {s:.3}",
                sci(&v)
            );
            assert!(s < 20.0, "{device}: {scheme} gradient spread {s}");
        }
    }
}

/// Every scheme and activation, GPU against the CPU reference, layer by layer, within the
/// documented tolerance: odd widths (edges of every 64-wide tile and of the vec4 padding),
/// an odd batch, the backward pass. Also reports the worst deviation seen per adapter.
#[test]
fn gpu_matches_the_cpu_reference_for_every_scheme_and_activation() {
    if propagators().is_empty() {
        return;
    }
    let nets = [(vec![37, 64, 50, 33], 19), (vec![130, 70, 129], 67)];
    let mut worst: Vec<(f64, String)> = vec![(0.0, String::new()); propagators().len()];
    for name in SCHEME_NAMES {
        let text = match *name {
            "constant" => "constant:value=0.01".to_string(),
            // Keep the unnormalized schemes' activations finite through a few layers.
            "normal" => "normal:std=0.1".to_string(),
            "truncated_normal" => "truncated_normal:std=0.1".to_string(),
            "uniform" => "uniform:low=-0.2:high=0.2".to_string(),
            n => n.to_string(),
        };
        let i = init(&text);
        for act in Activation::ALL {
            for (widths, batch) in &nets {
                let net = Network::new(widths.clone(), *batch, act, 0.01, 7).unwrap();
                let reference = propagate::run_cpu(&net, &i, true).unwrap();
                for (k, (device, p)) in propagators().iter().enumerate() {
                    let run = propagate::run_gpu(p, &net, &i, true).unwrap();
                    let c = compare(&run, &reference, &TOLERANCE);
                    assert!(
                        c.within_tolerance(),
                        "{device}: {text} {act:?} {widths:?}: {c:#?}"
                    );
                    let rel = c.std.deviation.max(c.extremes.deviation);
                    if rel > worst[k].0 {
                        worst[k] = (rel, format!("{text} {act:?} {widths:?} at {}", c.std.at));
                    }
                }
            }
        }
    }
    for ((device, _), (w, at)) in propagators().iter().zip(worst) {
        println!(
            "{device}: worst relative deviation of std/min/max {w:.2e} ({at}); tolerance {:.0e}",
            TOLERANCE.rel
        );
    }
}

/// Unnormalized schemes may explode: constant weights of 1e10 through linear layers of width
/// 512 grow 5e12-fold per layer and overflow to inf at layer 4 (every product of a row has
/// the same sign, so no inf - inf: the counts are exact on every device). The run reports
/// the non-finite values, and both devices count the same.
#[test]
fn an_exploding_network_is_reported_not_fatal() {
    let net = Network::uniform(6, 512, 4, Activation::Linear, 3).unwrap();
    let i = init("constant:value=1e10");
    let reference = propagate::run_cpu(&net, &i, true).unwrap();
    let top = &reference.layers[6].activation;
    assert!(top.nonfinite > 0, "expected an overflow: {top:?}");
    for (device, p) in propagators() {
        let run = propagate::run_gpu(p, &net, &i, true).unwrap();
        let c = compare(&run, &reference, &TOLERANCE);
        assert!(c.within_tolerance(), "{device}: {c:#?}");
    }
}

/// The f64 product of `product`'s operands (the CPU reference's values of the same stream
/// elements), with the sum of |terms| each value is accurate to, row-major `[m, n]`.
fn f64_product(product: Product, m: usize, n: usize, k: usize) -> Vec<(f64, f64)> {
    let ops = Product::operands(k);
    let [a, b, aux]: [Vec<f32>; 3] = std::array::from_fn(|i| {
        let (rows, cols) = product.shapes(m, n, k)[i];
        gpuinit::cpu::generate_vec(&ops[i].0, OPERAND_SEED, ops[i].1, 0, rows * cols)
    });
    let term = |r: usize, c: usize, i: usize| {
        f64::from(match product {
            Product::Forward => a[r * k + i] * b[c * k + i],
            Product::Backward => a[r * k + i] * b[i * n + c],
            Product::WeightGrad => a[i * m + r] * b[i * n + c],
        })
    };
    let mut out = Vec::with_capacity(m * n);
    for r in 0..m {
        for c in 0..n {
            let sum: f64 = (0..k).map(|i| term(r, c, i)).sum();
            let scale: f64 = (0..k).map(|i| term(r, c, i).abs()).sum();
            // tanh'(y) = 1 - y^2, in f32 as the kernel forms it.
            let y = aux[r * n + c];
            let factor = if product == Product::Backward {
                f64::from(1.0 - y * y)
            } else {
                1.0
            };
            out.push((sum * factor, scale * factor.abs()));
        }
    }
    out
}

/// Every product of the tiled kernel (forward, the input gradient's backward with tanh's
/// derivative, the weight gradient stored) and the naive forward kernel, element by
/// element, against an f64 product, at sizes that are not multiples of the tile (64) or of
/// the vec4 (4), down to one row and one column. Each element must be within 1e-5 of the
/// sum of its terms' magnitudes (f32 accumulation over k <= 130 terms errs by at most
/// 130 * 2^-24 = 7.7e-6 of it), so one wrong element anywhere (a tile corner, a padded
/// column) fails.
#[test]
fn every_matmul_product_matches_f64_element_by_element() {
    for (device, ctx) in propagators() {
        for (m, n, k) in [
            (1, 1, 1),
            (1, 5, 3),
            (67, 130, 37),
            (64, 64, 64),
            (3, 200, 129),
            (130, 67, 65),
        ] {
            for product in Product::ALL {
                let prob = ctx.matmul_problem(product, m, n, k).unwrap();
                let want = f64_product(product, m, n, k);
                let mut kernels = vec![MatmulKernel::Tiled];
                if product == Product::Forward {
                    kernels.push(MatmulKernel::Naive);
                }
                for kernel in kernels {
                    prob.time(kernel, 1).unwrap();
                    let got = prob.output().unwrap();
                    for (i, (&g, &(w, scale))) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (f64::from(g) - w).abs() <= 1e-5 * scale + 1e-30,
                            "{device}: {kernel:?} {} {m}x{n}x{k} at ({}, {}): {g} vs {w}",
                            product.name(),
                            i / n,
                            i % n
                        );
                    }
                }
            }
        }
    }
}

/// A run that lacks a layer, a gradient or a weight gradient the other has is outside the
/// tolerance, however close the rest is.
#[test]
fn a_missing_layer_or_gradient_fails_the_comparison() {
    let net = Network::uniform(3, 16, 8, Activation::Tanh, 2).unwrap();
    let i = init("xavier_uniform");
    let full = propagate::run_cpu(&net, &i, true).unwrap();
    assert!(compare(&full, &full, &TOLERANCE).within_tolerance());
    let mut short = full.clone();
    short.layers.pop();
    let mut no_grad = full.clone();
    no_grad.layers[2].gradient = None;
    let mut no_wgrad = full.clone();
    no_wgrad.layers[1].weight_gradient = None;
    for (what, run) in [
        ("layer", short),
        ("gradient", no_grad),
        ("weight gradient", no_wgrad),
    ] {
        assert!(
            !compare(&run, &full, &TOLERANCE).within_tolerance(),
            "{what}"
        );
        assert!(
            !compare(&full, &run, &TOLERANCE).within_tolerance(),
            "{what}"
        );
    }
}

/// Depth 100 and batch 1 (a single row through every tile), on every adapter.
#[test]
fn depth_100_with_a_batch_of_one() {
    let net = Network::uniform(100, 128, 1, Activation::Tanh, 5).unwrap();
    let i = init("xavier_normal");
    let reference = propagate::run_cpu(&net, &i, true).unwrap();
    assert_eq!(reference.layers.len(), 101);
    for (device, p) in propagators() {
        let run = propagate::run_gpu(p, &net, &i, true).unwrap();
        let c = compare(&run, &reference, &TOLERANCE);
        assert!(c.within_tolerance(), "{device}: {c:#?}");
    }
}

/// Sizes past a device's limits are refused with a clear error before any allocation.
#[test]
fn sizes_past_the_device_limits_are_refused() {
    for (device, p) in propagators() {
        // A 65536 x 65536 weight is 16 GiB: above any storage binding.
        let net = Network::uniform(2, 65536, 1, Activation::Tanh, 1).unwrap();
        match propagate::check_gpu(p, &net, false) {
            Err(Error::InvalidInput(msg)) => {
                assert!(
                    msg.contains("weight") || msg.contains("binding"),
                    "{device}: {msg}"
                )
            }
            other => panic!("{device}: expected a size error, got {other:?}"),
        }
        // Depth 10000 x width 4096 with --backward keeps 10001 activations: above budget.
        let net = Network::uniform(10_000, 4096, 64, Activation::Tanh, 1).unwrap();
        assert!(
            matches!(
                propagate::check_gpu(p, &net, true),
                Err(Error::InvalidInput(_))
            ),
            "{device}"
        );
    }
}

#[test]
fn bad_input_gets_one_line_and_exit_code_2() {
    for (args, needle) in [
        (&["--depth", "0"][..], "--depth 0"),
        (&["--width", "0"], "--width 0"),
        (&["--batch", "0"], "--batch 0"),
        (&["--depth", "-3"], "-3"),
        (&["--depth", "100000000000"], "100000000000"),
        (&["--width", "999999999"], "999999999"),
        (&["--batch", "1e9"], "1e9"),
        (&["--activation", "swish"], "swish"),
        (&["--init", "xavier"], "'xavier'"),
        (&["--init", "xavier_uniform,"], "empty scheme name"),
        (&["--init", "xavier_uniform:gain=-1"], "-1"),
        (&["--init", "normal:colour=red"], "colour"),
        (&["--widths", "784,0,10"], "width 0"),
        (&["--widths", "784"], "at least one layer"),
        (&["--widths", "784,a"], "784,a"),
        (&["--widths", "8,8", "--depth", "3"], "--widths"),
        (&["--negative-slope", "0.1"], "leaky_relu"),
        (
            &["--activation", "leaky_relu", "--negative-slope", "-1"],
            "-1",
        ),
        (&["--plot", "out.gif"], "out.gif"),
        (&["--plot", "/no/such/dir/p.svg"], "/no/such/dir"),
        (&["--json", "/no/such/dir/p.json"], "/no/such/dir"),
        (&["--device", "tpu"], "tpu"),
        (&["--width", "4096", "--batch", "16777216"], "GiB"),
    ] {
        let mut full = vec!["propagate", "--device", "cpu", "--seed", "1"];
        if args.contains(&"--device") {
            full.truncate(1);
            full.extend(["--seed", "1"]);
        }
        full.extend_from_slice(args);
        let out = gpuinit(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
            .collect();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(
            lines[0].contains(needle),
            "{args:?}: '{}' lacks '{needle}'",
            lines[0]
        );
    }
}

/// Past the device's limits, the command says so in one line (exit 2) before printing
/// anything else.
#[test]
fn the_command_refuses_sizes_past_the_device_limits() {
    if propagators().is_empty() {
        return;
    }
    let out = gpuinit(&[
        "propagate",
        "--device",
        "gpu",
        "--width",
        "65536",
        "--depth",
        "1",
        "--batch",
        "1",
        "--seed",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .collect();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("65536"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A plot of two schemes is a 960 x 810 picture with something drawn on it: the PNG decodes
/// at that size with over 5% of its pixels not white, in at least 8 colours; the SVG says
/// that size and holds the curves and the schemes' names.
fn check_plot(path: &std::path::Path) {
    if path.extension().is_some_and(|e| e == "png") {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (960, 810));
        let channels = info.color_type.samples();
        let px: Vec<&[u8]> = pixels[..info.buffer_size()].chunks(channels).collect();
        let inked = px
            .iter()
            .filter(|p| p[..3].iter().any(|&c| c < 250))
            .count();
        assert!(
            inked * 20 > px.len(),
            "{inked} of {} pixels drawn",
            px.len()
        );
        let colours: std::collections::HashSet<&[u8]> = px.iter().copied().collect();
        assert!(colours.len() >= 8, "{} colours", colours.len());
    } else {
        let svg = std::fs::read_to_string(path).unwrap();
        assert!(svg.contains(r#"width="960""#) && svg.contains(r#"height="810""#));
        assert!(svg.matches("<polyline").count() + svg.matches("<path").count() >= 8);
        assert!(svg.contains("standard") && svg.contains("xavier_uniform"));
    }
}

#[test]
fn the_command_prints_tables_and_writes_json_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("p.json");
    let svg = dir.path().join("p.svg");
    let png = dir.path().join("p.png");
    let device = if propagators().is_empty() {
        "cpu"
    } else {
        "both"
    };
    for plot in [&svg, &png] {
        let out = gpuinit(&[
            "propagate",
            "--init",
            "standard,xavier_uniform",
            "--activation",
            "tanh",
            "--depth",
            "4",
            "--width",
            "24",
            "--batch",
            "9",
            "--seed",
            "3",
            "--backward",
            "--device",
            device,
            "--json",
            json.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for want in [
            "standard: layer 1 weights U(-0.2041, 0.2041)",
            "xavier_uniform: layer 1 weights U(-0.3536, 0.3536)",
            "grad std",
            "std ratio layer 4 / layer 1",
        ] {
            assert!(text.contains(want), "missing '{want}' in\n{text}");
        }
        if device == "both" {
            assert!(text.contains("within tolerance"), "{text}");
        }
        check_plot(plot);
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["network"]["widths"].as_array().unwrap().len(), 5);
    let s = &v["schemes"][0];
    assert_eq!(s["scheme"], "standard");
    let run = if s["gpu"].is_null() {
        &s["cpu"]
    } else {
        &s["gpu"]
    };
    let layer = &run["layers"][2];
    assert!(layer["activation"]["std"].as_f64().unwrap() > 0.0);
    assert_eq!(
        layer["activation"]["histogram"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        9 * 24
    );
    assert!(layer["gradient"]["std"].as_f64().unwrap() > 0.0);
    assert!(layer["weight_gradient"]["std"].as_f64().unwrap() > 0.0);
    assert_eq!(
        v["schemes"][1]["cpu"]["layers"][1]["activation"]["histogram"]["counts"]
            .as_array()
            .unwrap()
            .len(),
        propagate::HIST_BINS
    );
}
