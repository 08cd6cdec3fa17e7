//! Generation throughput: GPU kernels (device-resident output) against the CPU reference.
//!
//! GPU figures here are wall-clock per batch (submit, then a bounded wait for completion),
//! so they include submission overhead; `gpuinit bench` reports timestamp-query device
//! time where the adapter has it.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpuinit::distribution::Distribution;
use gpuinit::{cpu, GpuContext, GpuOptions};

fn distributions() -> [(&'static str, Distribution); 3] {
    let bound = (6.0f64 / (4096.0 + 4096.0)).sqrt();
    let std = (2.0f64 / (4096.0 + 4096.0)).sqrt();
    [
        (
            "uniform",
            Distribution::Uniform {
                low: -bound,
                high: bound,
            },
        ),
        ("normal", Distribution::Normal { mean: 0.0, std }),
        (
            "truncated_normal",
            Distribution::TruncatedNormal {
                mean: 0.0,
                std,
                a: -2.0,
                b: 2.0,
            },
        ),
    ]
}

const SIZES: [u64; 2] = [1 << 20, 1 << 24];

fn gpu(c: &mut Criterion) {
    if std::env::var_os("EGL_PLATFORM").is_none() {
        std::env::set_var("EGL_PLATFORM", "surfaceless");
    }
    let ctx = match GpuContext::new(&GpuOptions::default()) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("SKIPPED GPU benches: {e}");
            return;
        }
    };
    let name = ctx
        .adapter_summary()
        .map(|a| format!("{} ({})", a.name, a.backend))
        .unwrap_or_default();
    let mut group = c.benchmark_group(format!("gpu_generate/{name}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for size in SIZES {
        let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench"),
            size: size * 4,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        group.throughput(Throughput::Elements(size));
        for (dname, d) in distributions() {
            let s = d.sampler();
            group.bench_with_input(BenchmarkId::new(dname, size), &size, |b, &n| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for i in 0..iters {
                        let idx = ctx.generate_into(&s, 1, i, 0, n, &buffer, 0).unwrap();
                        ctx.wait(idx).unwrap();
                    }
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

fn cpu_reference(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!(
        "cpu_generate/{}threads",
        rayon::current_num_threads()
    ));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for size in SIZES {
        let mut out = vec![0.0f32; size as usize];
        group.throughput(Throughput::Elements(size));
        for (dname, d) in distributions() {
            let s = d.sampler();
            group.bench_with_input(BenchmarkId::new(dname, size), &size, |b, _| {
                let mut stream = 0;
                b.iter(|| {
                    stream += 1;
                    cpu::generate(&s, 1, stream, 0, &mut out);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, gpu, cpu_reference);
criterion_main!(benches);
