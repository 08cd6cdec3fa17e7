//! Matmul throughput: the tiled WGSL kernel against the naive one-invocation-per-output
//! baseline on the default adapter, and the CPU reference's gemm, in GFLOP/s.
//!
//! GPU figures are wall-clock per submission of `iters` back-to-back products (submit, then
//! a bounded wait), so they include one submission's overhead, amortized over the batch.
//! Shapes: square 512, 1024, 2048 (`C[n, n] = A[n, n] B[n, n]^T`), and one layer of a deep
//! network, batch 256 through a 1024 x 1024 weight. The naive kernel skips 2048: on a
//! software adapter one product takes over a minute, and criterion wants ten.
//!
//! `GPUINIT_BENCH_QUICK=1` keeps only the 512 and deep-layer shapes (a smoke run).
//!
//! The tuned-BLAS reference for the CPU figures is `python3 benches/blas_reference.py`
//! (numpy's OpenBLAS on the same shapes), run right after `cargo bench --bench matmul --
//! cpu_matmul`.

use std::time::{Duration, Instant};

mod common;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use gpuinit::abi::Activation;
use gpuinit::bench::cpu_operands;
use gpuinit::cpu::matmul::matmul_forward;
use gpuinit::gpu::{MatmulKernel, Product};

/// (name, m, n, k): C[m, n] = A[m, k] B[n, k]^T.
fn shapes() -> Vec<(&'static str, usize, usize, usize)> {
    let all = vec![
        ("square", 512, 512, 512),
        ("square", 1024, 1024, 1024),
        ("square", 2048, 2048, 2048),
        ("layer_b256_w1024", 256, 1024, 1024),
    ];
    if std::env::var("GPUINIT_BENCH_QUICK").as_deref() == Ok("1") {
        all.into_iter()
            .filter(|s| s.1 == 512 || s.0 != "square")
            .collect()
    } else {
        all
    }
}

fn label(name: &str, m: usize, n: usize, k: usize) -> String {
    format!("{name}_{m}x{n}x{k}")
}

fn gpu(c: &mut Criterion) {
    let Some(ctx) = common::gpu("matmul") else {
        return;
    };
    let mut group = c.benchmark_group(format!("gpu_matmul/{}", ctx.label()));
    group.sampling_mode(SamplingMode::Flat);
    common::short(&mut group, 200, 2);
    for (name, m, n, k) in shapes() {
        let problem = ctx
            .matmul_problem(Product::Forward, m, n, k)
            .expect("operands");
        group.throughput(Throughput::Elements(problem.flops() as u64));
        for (kernel, kname) in [
            (MatmulKernel::Tiled, "tiled"),
            (MatmulKernel::Naive, "naive"),
        ] {
            if kernel == MatmulKernel::Naive && m * n * k > 1 << 30 {
                continue;
            }
            group.bench_function(BenchmarkId::new(kname, label(name, m, n, k)), |b| {
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
    for (name, m, n, k) in shapes() {
        let (a, w) = cpu_operands(m, n, k);
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        group.bench_function(BenchmarkId::new("forward", label(name, m, n, k)), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(matmul_forward(&a, &w, m, k, n, Activation::Linear, 0.0));
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gpu, cpu);
criterion_main!(benches);
