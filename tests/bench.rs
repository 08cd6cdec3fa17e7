//! `gpuinit bench` measures what it says: rows for every distribution and size, positive
//! rates, and GPU and CPU output whose variance is the scheme's (no timing assertions).

mod common;

use gpuinit::bench::{self, BenchOptions};
use gpuinit::progress::Quiet;
use gpuinit::stats::Theory;
use gpuinit::{DeviceChoice, Devices, Fans, GpuOptions, Scheme, SchemeOptions};

#[test]
fn bench_reports_every_row_with_the_schemes_variance() {
    let both = !common::contexts().is_empty();
    let device = if both {
        DeviceChoice::Both
    } else {
        DeviceChoice::Cpu
    };
    let opts = BenchOptions {
        quick: true,
        sizes: Some(vec![1 << 16, 3 << 12]),
    };
    let devices = Devices::open(device, &GpuOptions::default(), true).unwrap();
    let sizes = bench::sizes(&opts, &devices).unwrap();
    let r = bench::run(&opts, &devices, &sizes, None, &mut Quiet).unwrap();
    assert_eq!(r.rows.len(), 2 * bench::SCHEMES.len());
    for row in &r.rows {
        let cpu = row.cpu.expect("cpu measured");
        assert!(cpu.median_s > 0.0 && cpu.min_s <= cpu.median_s && cpu.median_s <= cpu.max_s);
        // The sample variance within 5 standard errors of theory, the standard error exact
        // for each distribution (from its fourth moment): a correct generator fails with
        // probability 6e-7 per row. At 2^16 elements a 5% variance error is 14 (uniform) or
        // 9 (normal) standard errors out and fails; at 12,288 elements, 6 and 3.9.
        let scheme = bench::SCHEMES
            .iter()
            .find(|s| s.0 == row.distribution)
            .unwrap()
            .1;
        let d = Scheme::parse(scheme, &SchemeOptions::default())
            .and_then(|s| s.distribution(Fans::new(4096, 4096)?))
            .unwrap();
        let se = Theory::of(&d).se_variance(row.elements);
        let var = row.cpu_variance.unwrap();
        assert!((var - row.theory_variance).abs() < 5.0 * se, "{row:?}");
        if both {
            assert!(row.gpu.unwrap().median_s > 0.0 && row.store.unwrap().median_s > 0.0);
            // Same seed and stream on both sides: the statistics agree.
            let (g, c) = (row.gpu_variance.unwrap(), row.cpu_variance.unwrap());
            assert!((g / c - 1.0).abs() < 1e-4, "{row:?}");
        }
    }
    // Every product of every layer shape; the naive kernel computes the forward one only.
    assert_eq!(r.layers.len() % 3, 0);
    for layer in &r.layers {
        assert!(layer.flops > 0.0 && layer.cpu.unwrap().median_s > 0.0);
        if both {
            assert!(layer.gpu_tiled.unwrap().median_s > 0.0);
            assert_eq!(layer.gpu_naive.is_some(), layer.product == "forward");
        }
    }
    let products: Vec<&str> = r.layers.iter().map(|l| l.product).collect();
    assert_eq!(products[..3], ["forward", "backward", "weight gradient"]);
    // A network forward, and forward + backward: three products a layer but the first.
    assert_eq!(r.networks.len(), 2);
    let (fwd, both_ways) = (&r.networks[0], &r.networks[1]);
    assert!(!fwd.backward && both_ways.backward);
    let first_layer = 2.0 * (fwd.batch * fwd.width * fwd.width) as f64;
    assert_eq!(both_ways.flops, 3.0 * fwd.flops - first_layer);
    for n in &r.networks {
        assert!(n.cpu.unwrap().median_s > 0.0);
        assert_eq!(n.gpu.is_some(), both);
    }
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"rows\"") && json.contains("truncated_normal"));
}
