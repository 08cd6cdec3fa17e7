//! Matmul throughput: the tiled WGSL kernel against the naive one-invocation-per-output
//! baseline on the default adapter, and the CPU reference's gemm, in GFLOP/s; for each of a
//! layer's products (forward C = X W^T, backward dX = dY W, weight gradient dW = dY^T X)
//! and for whole `propagate` networks, forward and forward + backward.
//!
//! GPU figures are wall-clock per submission of `iters` back-to-back products (submit, then
//! a bounded wait), so they include one submission's overhead, amortized over the batch.
//! Shapes: square 512, 1024, 2048 (`C[n, n] = A[n, n] B[n, n]^T`, forward), and one layer
//! of a deep network, batch 256 through a 1024 x 1024 weight (all three products). The
//! naive kernel (forward only) skips 2048: on a software adapter one product takes over a
//! minute, and criterion wants ten. Networks: 10 layers of 1024 on a batch of 256, tanh,
//! Xavier uniform, weight generation and statistics included (throughput counts the
//! products' flops).
//!
//! `GPUINIT_BENCH_QUICK=1` keeps only the 512 and deep-layer shapes and a 4-layer network
//! of 512 (a smoke run).
//!
//! The tuned-BLAS reference for the CPU figures is `python3 benches/blas_reference.py`
//! (numpy's OpenBLAS on the same shapes and layouts), run right after `cargo bench --bench
//! matmul -- cpu_matmul`.

use std::time::{Duration, Instant};

mod common;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use gpuinit::abi::Activation;
use gpuinit::bench::{product_shape, CpuProduct};
use gpuinit::gpu::{GpuContext, MatmulKernel, Product};
use gpuinit::propagate::{self, Init, Network};
use gpuinit::Scheme;

fn quick() -> bool {
    std::env::var("GPUINIT_BENCH_QUICK").as_deref() == Ok("1")
}

/// (name, product, m, n, k) of `C[m, n]`: square forward products, and each of a deep
/// layer's products (batch 256, width 1024).
fn shapes() -> Vec<(&'static str, Product, usize, usize, usize)> {
    let mut all = vec![];
    for n in [512, 1024, 2048] {
        if n == 512 || !quick() {
            all.push(("square", Product::Forward, n, n, n));
        }
    }
    for product in Product::ALL {
        let (m, n, k) = product_shape(product, 256, 1024);
        all.push(("layer_b256_w1024", product, m, n, k));
    }
    all
}

fn label(name: &str, product: Product, m: usize, n: usize, k: usize) -> String {
    format!("{}/{name}_{m}x{n}x{k}", product.name().replace(' ', "_"))
}

fn gpu(c: &mut Criterion) {
    let Some(ctx) = common::gpu("matmul") else {
        return;
    };
    let mut group = c.benchmark_group(format!("gpu_matmul/{}", ctx.label()));
    group.sampling_mode(SamplingMode::Flat);
    common::short(&mut group, 200, 2);
    for (name, product, m, n, k) in shapes() {
        let problem = ctx.matmul_problem(product, m, n, k).expect("operands");
        group.throughput(Throughput::Elements(problem.flops() as u64));
        for (kernel, kname) in [
            (MatmulKernel::Tiled, "tiled"),
            (MatmulKernel::Naive, "naive"),
        ] {
            let naive_skipped = product != Product::Forward || m * n * k > 1 << 30;
            if kernel == MatmulKernel::Naive && naive_skipped {
                continue;
            }
            let id = BenchmarkId::new(kname, label(name, product, m, n, k));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let t = problem.time(kernel, iters).expect("GPU matmul");
                    Duration::from_secs_f64(t.best_s())
                })
            });
        }
    }
    group.finish();
}

fn cpu(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu_matmul/gemm");
    group.sampling_mode(SamplingMode::Flat);
    common::short(&mut group, 200, 2);
    for (name, product, m, n, k) in shapes() {
        let p = CpuProduct::new(product, m, n, k);
        let mut out = vec![0.0f32; m * n];
        group.throughput(Throughput::Elements(p.flops() as u64));
        let id = BenchmarkId::new("gemm", label(name, product, m, n, k));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    p.run(std::hint::black_box(&mut out));
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

/// Whole networks on the GPU (when there is one) and the CPU reference.
fn network(c: &mut Criterion) {
    let (depth, width) = if quick() { (4, 512) } else { (10, 1024) };
    let net = Network::uniform(depth, width, 256, Activation::Tanh, 1).expect("network");
    let init = Init {
        label: "xavier_uniform".into(),
        scheme: Scheme::parse_spec("xavier_uniform").expect("scheme"),
    };
    let ctx = common::gpu("network");
    let mut group = c.benchmark_group("network");
    group.sampling_mode(SamplingMode::Flat);
    common::short(&mut group, 200, 4);
    for backward in [false, true] {
        let flops = net.forward_flops() + if backward { net.backward_flops() } else { 0.0 };
        group.throughput(Throughput::Elements(flops as u64));
        let passes = if backward {
            "forward_backward"
        } else {
            "forward"
        };
        let id = format!("{passes}/{width}x{depth}_b256");
        let run = |gpu: Option<&GpuContext>| match gpu {
            Some(g) => propagate::run_gpu(g, &net, &init, backward),
            None => propagate::run_cpu(&net, &init, backward),
        };
        if let Some(g) = &ctx {
            group.bench_function(BenchmarkId::new(format!("gpu/{}", g.label()), &id), |b| {
                b.iter(|| run(Some(g)).expect("GPU network"))
            });
        }
        group.bench_function(BenchmarkId::new("cpu", &id), |b| {
            b.iter(|| run(None).expect("CPU network"))
        });
    }
    group.finish();
}

criterion_group!(benches, gpu, cpu, network);
criterion_main!(benches);
