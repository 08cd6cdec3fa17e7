//! Generation throughput: GPU kernels (device-resident output) against the device's store
//! baseline and the CPU reference. GPU benches report device time from timestamp queries
//! where the adapter has them (criterion's `iter_custom`), wall-clock otherwise.

use std::time::{Duration, Instant};

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpuinit::bench::SCHEMES;
use gpuinit::gpu::Kernel;
use gpuinit::{cpu, Fans, Scheme, SchemeOptions};

const SIZES: [u64; 2] = [1 << 20, 1 << 24];

fn samplers() -> Vec<(&'static str, gpuinit::Sampler)> {
    SCHEMES
        .iter()
        .map(|(family, scheme)| {
            let d = Scheme::parse(scheme, &SchemeOptions::default())
                .and_then(|s| s.distribution(Fans::new(4096, 4096)?))
                .expect("benchmark schemes resolve");
            (*family, d.sampler())
        })
        .collect()
}

fn gpu(c: &mut Criterion) {
    let Some(ctx) = common::gpu("generation") else {
        return;
    };
    let clock = if ctx.has_timestamps() {
        "device"
    } else {
        "wall"
    };
    let name = ctx
        .adapter_summary()
        .map(|a| format!("{} ({}, {clock} time)", a.name, a.backend))
        .unwrap_or_default();
    let mut group = c.benchmark_group(format!("gpu/{name}"));
    common::short(&mut group, 500, 3);
    for size in SIZES {
        let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench"),
            size: size * 4,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        group.throughput(Throughput::Bytes(size * 4));
        group.bench_with_input(BenchmarkId::new("store_baseline", size), &size, |b, &n| {
            b.iter_custom(|iters| {
                let s: f64 = (0..iters)
                    .map(|_| ctx.time_store(n, &buffer).unwrap().best_s())
                    .sum();
                Duration::from_secs_f64(s)
            })
        });
        for (family, s) in samplers() {
            group.bench_with_input(BenchmarkId::new(family, size), &size, |b, &n| {
                b.iter_custom(|iters| {
                    let t: f64 = (0..iters)
                        .map(|i| {
                            ctx.time_generate(
                                Kernel::Generate,
                                &s,
                                gpuinit::rng::Span::whole(1, i, n),
                                &buffer,
                            )
                            .unwrap()
                            .best_s()
                        })
                        .sum();
                    Duration::from_secs_f64(t)
                })
            });
        }
    }
    group.finish();
}

fn cpu_reference(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("cpu/{}threads", rayon::current_num_threads()));
    common::short(&mut group, 500, 3);
    for size in SIZES {
        let mut out = vec![0.0f32; size as usize];
        group.throughput(Throughput::Bytes(size * 4));
        group.bench_with_input(BenchmarkId::new("fill_baseline", size), &size, |b, _| {
            b.iter(|| {
                use rayon::prelude::*;
                out.par_chunks_mut(1 << 16).for_each(|c| c.fill(1.0));
            })
        });
        for (family, s) in samplers() {
            group.bench_with_input(BenchmarkId::new(family, size), &size, |b, _| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for i in 0..iters {
                        cpu::generate(&s, 1, i, 0, &mut out);
                    }
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, gpu, cpu_reference);
criterion_main!(benches);
