//! The GPU against the CPU reference, on every adapter present.

mod common;

use gpuinit::gpu::GpuOptions;
use gpuinit::rng::distribution::Distribution;
use gpuinit::rng::philox::{philox4x32_10, KNOWN_ANSWERS as KAT};
use gpuinit::rng::Span;
use gpuinit::{cpu, Fans, Generator, Layout, Scheme, SchemeOptions};

#[test]
fn known_answers_on_every_device() {
    let mut inputs: Vec<([u32; 4], [u32; 2])> = KAT.iter().map(|(c, k, _)| (*c, *k)).collect();
    // Counters and keys with high words set, against the CPU.
    for i in 0..61u32 {
        inputs.push((
            [i.wrapping_mul(0x9E3779B9), u32::MAX - i, 1 << (i % 32), !i],
            [i << 7, u32::MAX ^ (i << 20)],
        ));
    }
    for (name, ctx) in common::generation_contexts() {
        let got = ctx.philox(&inputs).unwrap();
        for (j, (c, k)) in inputs.iter().enumerate() {
            assert_eq!(got[j], philox4x32_10(*c, *k), "{name}: record {j}");
        }
        for (j, (_, _, want)) in KAT.iter().enumerate() {
            assert_eq!(got[j], *want, "{name}: known answer {j}");
        }
        assert_eq!(
            ctx.words(Span {
                seed: 0,
                stream: 0,
                first: 0,
                count: 4
            })
            .unwrap(),
            KAT[0].2,
            "{name}: seed 0 stream 0"
        );
    }
}

/// Elements `first .. first + count` of (seed, stream), in the order the tables list them.
fn span(seed: u64, stream: u64, first: u64, count: u64) -> Span {
    Span {
        seed,
        stream,
        first,
        count,
    }
}

/// (seed, stream, first, count): odd lengths, unaligned offsets, indices past 2^32.
const SLICES: &[(u64, u64, u64, u64)] = &[
    (0, 0, 0, 1),
    (1, 0, 0, 4),
    (2, 1, 1, 7),
    (3, 2, 2, 1001),
    (4, 3, 3, 65_537),
    (0xDEAD_BEEF_0000_0001, 7, (1 << 32) - 6, 20),
    (u64::MAX, u64::MAX, (1 << 34) + 1, 333),
    (5, 1 << 40, (1 << 62) - 9, 9),
    // Element 2^34 starts block 2^32: the block counter carries into its high word.
    (6, 2, (1 << 34) - 6, 21),
];

#[test]
fn words_equal_the_cpu_bit_for_bit() {
    for (name, ctx) in common::generation_contexts() {
        for &(seed, stream, first, count) in SLICES {
            let gpu = ctx.words(span(seed, stream, first, count)).unwrap();
            let cpu = cpu::words_vec(seed, stream, first, count as usize);
            assert!(
                gpu == cpu,
                "{name}: words differ for seed {seed} stream {stream} first {first} count {count}"
            );
        }
    }
}

fn uniform_schemes() -> Vec<(Scheme, Fans)> {
    let o = SchemeOptions::default();
    let mut v = Vec::new();
    for (name, shape, layout) in [
        ("xavier_uniform", &[256u64, 128][..], Layout::Torch),
        ("glorot_uniform", &[3, 3, 64, 32][..], Layout::Jax),
        ("kaiming_uniform", &[64, 3, 7, 7][..], Layout::Torch),
        ("he_uniform", &[1, 1][..], Layout::Torch),
        ("lecun_uniform", &[4096, 4096][..], Layout::Torch),
        ("standard", &[1000, 784][..], Layout::Torch),
        ("uniform", &[5, 5][..], Layout::Torch),
    ] {
        v.push((
            Scheme::parse(name, &o).unwrap(),
            Fans::from_shape(shape, layout).unwrap(),
        ));
    }
    let asym = SchemeOptions {
        low: Some(-0.3),
        high: Some(1.7),
        ..Default::default()
    };
    v.push((
        Scheme::parse("uniform", &asym).unwrap(),
        Fans::new(1, 1).unwrap(),
    ));
    let c = SchemeOptions {
        value: Some(-0.25),
        ..Default::default()
    };
    v.push((
        Scheme::parse("constant", &c).unwrap(),
        Fans::new(1, 1).unwrap(),
    ));
    v
}

#[test]
fn uniform_floats_equal_the_cpu_bit_for_bit() {
    for (name, ctx) in common::generation_contexts() {
        for (scheme, fans) in uniform_schemes() {
            let s = scheme.distribution(fans).unwrap().sampler();
            for &(seed, stream, first, count) in &SLICES[..7] {
                let gpu = ctx.values(&s, span(seed, stream, first, count)).unwrap();
                let cpu = cpu::generate_vec(&s, seed, stream, first, count as usize);
                let mismatches = gpu
                    .iter()
                    .zip(&cpu)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                assert_eq!(
                    mismatches, 0,
                    "{name}: {scheme} seed {seed} first {first} count {count}"
                );
                assert_eq!(gpu.len(), cpu.len());
            }
        }
    }
}

// The documented bound for normal and truncated normal, GPU against CPU: 16 ulps of the
// value, or 1e-6 of the std for values so near zero that ulps mean little (docs/STREAM.md).
use gpuinit::rng::tolerance::{ulps, MAX_ABS_PER_STD, MAX_ULPS};

#[test]
fn normal_and_truncated_stay_within_the_documented_bound() {
    let dists = [
        Distribution::normal(0.0, 1.0),
        Distribution::normal(0.5, 0.02),
        Distribution::truncated_normal(
            0.0,
            1.0 / gpuinit::rng::TRUNCATED_STD_CORRECTION,
            -2.0,
            2.0,
        ),
        Distribution::truncated_normal(1.0, 0.1, 0.5, 3.0),
        Distribution::truncated_normal(0.0, 1.0, -6.0, -4.5),
        // Far tails, through the log-space tail quantile.
        Distribution::truncated_normal(0.0, 1.0, 10.0, 11.0),
        Distribution::truncated_normal(0.5, 0.01, -11.0, -10.0),
        Distribution::truncated_normal(0.0, 1.0, 5.0, 100.0),
    ];
    for (name, ctx) in common::generation_contexts() {
        for d in dists {
            let s = d.sampler();
            let n = 1 << 18;
            let gpu = ctx
                .values(
                    &s,
                    Span {
                        seed: 11,
                        stream: 3,
                        first: 5,
                        count: n,
                    },
                )
                .unwrap();
            let cpu = cpu::generate_vec(&s, 11, 3, 5, n as usize);
            let mut worst_ulps = 0;
            let mut worst_abs: f64 = 0.0;
            for (g, c) in gpu.iter().zip(&cpu) {
                assert!(g.is_finite(), "{name}: {d:?} gave {g}");
                assert!(
                    *g >= s.lo && *g <= s.hi,
                    "{name}: {d:?} gave {g} outside [{}, {}]",
                    s.lo,
                    s.hi
                );
                let abs = (f64::from(*g) - f64::from(*c)).abs() / f64::from(s.scale);
                let u = ulps(*g, *c);
                assert!(
                    u <= MAX_ULPS || abs <= MAX_ABS_PER_STD,
                    "{name}: {d:?}: gpu {g} cpu {c}: {u} ulps, {abs:e} std"
                );
                worst_ulps = worst_ulps.max(u);
                worst_abs = worst_abs.max(abs);
            }
            println!("{name}: {d:?}: worst {worst_ulps} ulps, {worst_abs:.3e} of std");
        }
    }
}

/// Dispatches of at most 2 workgroups per dimension, so every full chunk is a 2 x 2 grid
/// (four workgroups of 64 or 256 invocations, in two rows), read back 20,000 elements at a
/// time (each readback several dispatches): the same bits as one dispatch, at unaligned
/// offsets and across 2^32.
#[test]
fn chunked_dispatches_equal_one_shot() {
    let s = Scheme::parse("xavier_normal", &SchemeOptions::default())
        .unwrap()
        .distribution(Fans::new(300, 200).unwrap())
        .unwrap()
        .sampler();
    for (wg, mulhilo) in common::GENERATION_OPTIONS {
        let tiny = GpuOptions {
            max_chunk_elements: Some(1 << 20),
            max_workgroups_per_dim: Some(2),
            max_readback_elements: Some(20_000),
            workgroup_size: Some(wg),
            mulhilo,
            ..Default::default()
        };
        for ((name, ctx), (_, small)) in common::contexts().iter().zip(&common::open_all(&tiny)) {
            // 2 x 2 workgroups of `wg` invocations, 4 elements each.
            assert_eq!(small.chunk_elements(), 16 * u64::from(wg));
            for &(seed, stream, first, count) in &[
                (9u64, 4u64, 3u64, 10_007u64),
                (1, 2, (1 << 32) - 1000, 25_000),
            ] {
                let one = ctx.values(&s, span(seed, stream, first, count)).unwrap();
                let many = small.values(&s, span(seed, stream, first, count)).unwrap();
                assert!(
                    one.iter()
                        .zip(&many)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name}, workgroup {wg}: chunked differs"
                );
                assert_eq!(one.len(), many.len());
                assert_eq!(
                    small
                        .words(Span {
                            seed,
                            stream,
                            first,
                            count
                        })
                        .unwrap(),
                    ctx.words(Span {
                        seed,
                        stream,
                        first,
                        count
                    })
                    .unwrap()
                );
            }
        }
    }
}

/// GPUINIT_LARGE=1: a tensor past the adapter's largest storage binding (128 MiB on
/// lavapipe), generated into one buffer in dispatches that each stay within a binding, read
/// back and compared with the CPU bit for bit, from an aligned and an unaligned start.
#[test]
fn a_tensor_past_one_storage_binding() {
    if std::env::var("GPUINIT_LARGE").as_deref() != Ok("1") {
        eprintln!("SKIPPED: set GPUINIT_LARGE=1 to run the tensor past one storage binding");
        return;
    }
    let s = Distribution::uniform(-0.5, 0.5).sampler();
    for (name, ctx) in common::contexts() {
        let limits = ctx.device().limits();
        let binding = limits.max_storage_buffer_binding_size / 4;
        let n = binding + binding / 8 + 3;
        if n * 4 > limits.max_buffer_size {
            eprintln!("SKIPPED on {name}: no buffer past one binding");
            continue;
        }
        let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: n * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        for first in [0u64, 1] {
            let done = ctx
                .generate_into(
                    &s,
                    Span {
                        seed: 5,
                        stream: 9,
                        first,
                        count: n,
                    },
                    &buffer,
                    0,
                )
                .unwrap();
            ctx.wait(done).unwrap();
            let gpu = ctx.read_f32(&buffer, n).unwrap();
            let cpu = cpu::generate_vec(&s, 5, 9, first, n as usize);
            let bad = gpu
                .iter()
                .zip(&cpu)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(bad, 0, "{name}: {n} elements from {first}");
        }
    }
}

#[test]
fn any_slice_equals_that_slice_of_the_whole() {
    let s = Distribution::truncated_normal(0.0, 0.05, -2.0, 2.0).sampler();
    for (name, ctx) in common::generation_contexts() {
        let whole = ctx
            .values(
                &s,
                Span {
                    seed: 77,
                    stream: 5,
                    first: 0,
                    count: 4099,
                },
            )
            .unwrap();
        for (a, b) in [
            (0usize, 4099usize),
            (1, 2),
            (2, 4099),
            (3, 1030),
            (1024, 1025),
            (4095, 4099),
        ] {
            let part = ctx
                .values(
                    &s,
                    Span {
                        seed: 77,
                        stream: 5,
                        first: a as u64,
                        count: (b - a) as u64,
                    },
                )
                .unwrap();
            assert!(
                part.iter()
                    .zip(&whole[a..b])
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{name}: slice {a}..{b}"
            );
        }
    }
}

#[test]
fn generate_into_a_callers_buffer_at_an_offset() {
    let s = Distribution::uniform(-0.1, 0.1).sampler();
    for (name, ctx) in common::generation_contexts() {
        let align = u64::from(ctx.device().limits().min_storage_buffer_offset_alignment);
        let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: align + 4 * 1000,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        ctx.generate_into(
            &s,
            Span {
                seed: 1,
                stream: 2,
                first: 3,
                count: 1000,
            },
            &buffer,
            align,
        )
        .unwrap();
        let staging = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 4000,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&buffer, align, &staging, 0, 4000);
        let idx = ctx.queue().submit([enc.finish()]);
        staging.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
        ctx.wait(idx).unwrap();
        let got: Vec<f32> = bytemuck::cast_slice(&staging.get_mapped_range(..).unwrap()).to_vec();
        assert_eq!(got, cpu::generate_vec(&s, 1, 2, 3, 1000), "{name}");
        // A range past the end of the buffer is refused, not written.
        assert!(ctx
            .generate_into(
                &s,
                Span {
                    seed: 1,
                    stream: 2,
                    first: 3,
                    count: 1001
                },
                &buffer,
                align
            )
            .is_err());
    }
}

#[test]
fn weaker_generators_are_caught() {
    // Philox with 9 rounds compiled into the kernel must fail the known answers.
    let weak = common::open_all(&GpuOptions {
        philox_rounds: 9,
        ..Default::default()
    });
    for (name, ctx) in &weak {
        let got = ctx.philox(&[(KAT[0].0, KAT[0].1)]).unwrap();
        assert_ne!(
            got[0], KAT[0].2,
            "{name}: 9 rounds passed the 10-round known answer"
        );
    }
}

/// Timed work split into more than two dispatches: the passes between the first and the
/// last carry no timestamps (wgpu refuses a pass asked to write neither), and the timing
/// still brackets them all.
#[test]
fn timing_covers_work_of_many_dispatches() {
    let tiny = GpuOptions {
        max_chunk_elements: Some(4096),
        ..Default::default()
    };
    let s = Distribution::normal(0.0, 1.0).sampler();
    for (name, ctx) in common::open_all(&tiny) {
        let n = 5 * 4096;
        let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 4 * n,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let kernel = gpuinit::gpu::Kernel::Generate;
        let t = ctx.time_generate(
            kernel,
            &s,
            Span {
                seed: 1,
                stream: 0,
                first: 0,
                count: n,
            },
            &buffer,
        );
        assert!(t.is_ok_and(|t| t.best_s() > 0.0), "{name}: generate");
        let t = ctx.time_store(n, &buffer);
        assert!(t.is_ok_and(|t| t.best_s() > 0.0), "{name}: store");
    }
}

/// Issue 21: where an adapter offers SHADER_INT64 (lavapipe does), the device must be
/// opened with it: `--mulhilo auto` picks the u64 product and `--mulhilo 64` opens, and the
/// generation tests ran both forms on that adapter (a `required_features` without
/// SHADER_INT64 leaves every context on the 16-bit form, which gives the same bits).
#[test]
fn int64_is_used_where_the_adapter_offers_it() {
    let forms: Vec<&str> = common::generation_contexts()
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    for (name, ctx) in common::contexts() {
        let summary = ctx
            .gpu()
            .adapter_summary()
            .expect("an adapter this test opened");
        if !summary.shader_int64 {
            println!("{name}: no SHADER_INT64; mulhilo 16 only");
            continue;
        }
        assert!(
            ctx.mulhilo_int64(),
            "{name} offers SHADER_INT64 but --mulhilo auto chose the 16-bit form"
        );
        let opts = GpuOptions {
            mulhilo: gpuinit::gpu::Mulhilo::Int64,
            ..ctx.options().clone()
        };
        let int64 = gpuinit::GpuContext::new(&opts)
            .unwrap_or_else(|e| panic!("{name}: --mulhilo 64 on an adapter offering it: {e}"));
        assert!(int64.mulhilo_int64(), "{name}: --mulhilo 64");
        for bits in [16, 64] {
            assert!(
                forms.iter().any(
                    |f| f.starts_with(name.as_str()) && f.ends_with(&format!("mulhilo {bits}"))
                ),
                "{name}: the generation tests did not run mulhilo {bits}: {forms:?}"
            );
        }
    }
}
