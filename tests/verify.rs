//! The verify battery passes correct generators and fails each injected fault at the check
//! meant to catch it.

mod common;

use gpuinit::gpu::{list_adapters, BackendChoice, GpuOptions};
use gpuinit::progress::Quiet;
use gpuinit::verify::{
    self, swapped_fans, tiny_context, Fault, FaultySource, Level, Options, Report, Subject,
};
use gpuinit::{Generator, GpuContext};

fn run_subject(subject: Subject, samples: u64) -> Report {
    let opts = Options::new(Level::Quick, None, Some(samples)).unwrap();
    verify::run(opts, &[subject], &mut Quiet).unwrap()
}

fn run(src: &dyn Generator, samples: u64) -> Report {
    run_subject(Subject::new(src), samples)
}

fn failures(r: &Report) -> Vec<String> {
    r.rows
        .iter()
        .filter(|r| !r.pass)
        .map(|r| format!("{} | {} | {} | {}", r.scheme, r.shape, r.check, r.measured))
        .collect()
}

/// Asserts that some failing row has this scheme (or any, for "") and check.
fn fails_at(r: &Report, scheme: &str, check: &str) {
    let hit = r
        .rows
        .iter()
        .any(|row| !row.pass && row.check == check && (scheme.is_empty() || row.scheme == scheme));
    assert!(
        hit,
        "expected a failure of '{check}' for '{scheme}'; failures: {:#?}",
        failures(r)
    );
}

#[test]
fn the_cpu_reference_passes() {
    let r = run_subject(Subject::cpu(), 1 << 18);
    assert!(r.all_passed(), "{:#?}", failures(&r));
    assert!(r.statistical_checks > 100);
    assert_eq!((r.passed, r.failed), (r.rows.len(), 0));
}

#[test]
fn every_gpu_adapter_passes() {
    let _ = common::contexts(); // fails here under GPUINIT_REQUIRE_GPU=1 with no adapter
    for backend in [
        BackendChoice::Vulkan,
        BackendChoice::Gl,
        BackendChoice::Metal,
        BackendChoice::Dx12,
    ] {
        for a in list_adapters(backend).unwrap() {
            let ctx = GpuContext::new(&GpuOptions {
                backend,
                adapter: Some(a.name.clone()),
                ..Default::default()
            })
            .unwrap();
            let tiny = tiny_context(&ctx).unwrap();
            let r = run_subject(Subject::gpu(&ctx, &tiny), 1 << 17);
            assert!(r.all_passed(), "{}: {:#?}", ctx.label(), failures(&r));
            // Bit identity with the CPU was checked, not skipped.
            assert!(r.rows.iter().any(|row| row.check == "== CPU reference"));
        }
    }
}

#[test]
fn a_bound_or_std_off_by_one_percent_fails_the_variance() {
    // A 2.01% variance error: expected z = 0.0201 sqrt(n / (kurtosis - 1)), about 16 for a
    // uniform and 10 for a normal at n = 2^19, against a threshold near 5.8.
    let r = run(&FaultySource(Fault::Spread(1.01)), 1 << 19);
    fails_at(&r, "xavier_uniform", "variance");
    fails_at(&r, "kaiming_normal", "variance");
    fails_at(&r, "xavier_uniform", "support");
}

#[test]
fn swapped_fans_fail_the_variance() {
    // kaiming_uniform on [512, 256] uses fan_in = 256; swapped, 512: half the variance.
    let subject = Subject {
        sampler_of: swapped_fans,
        ..Subject::new(&gpuinit::CpuReference)
    };
    let r = run_subject(subject, 1 << 16);
    fails_at(&r, "kaiming_uniform", "variance");
    fails_at(&r, "he_normal", "variance");
}

#[test]
fn nine_rounds_or_a_broken_mulhi_fail_the_known_answers() {
    for fault in [Fault::Rounds(9), Fault::BrokenMulhi] {
        let r = run(&FaultySource(fault), 1 << 12);
        fails_at(&r, "philox4x32_10", "known answers (Random123)");
    }
    // The same fault compiled into the GPU kernels.
    for (name, _) in common::contexts() {
        let backend = if name.ends_with("(gl)") {
            BackendChoice::Gl
        } else {
            BackendChoice::Auto
        };
        let adapter = name.rsplit_once(" (").map(|(n, _)| n.to_string());
        let src = GpuContext::new(&GpuOptions {
            backend,
            adapter,
            philox_rounds: 9,
            ..Default::default()
        })
        .unwrap();
        let r = run(&src, 1 << 12);
        fails_at(&r, "philox4x32_10", "known answers (Random123)");
        fails_at(&r, "", "== CPU reference");
    }
}

#[test]
fn a_period_of_2_16_words_fails_the_repeat_check() {
    let r = run(&FaultySource(Fault::Period(16)), 1 << 18);
    fails_at(&r, "philox4x32_10", "repeated 128-bit blocks");
}

#[test]
fn identical_streams_fail_the_independence_check() {
    let r = run(&FaultySource(Fault::SameStreams), 1 << 14);
    fails_at(
        &r,
        "philox4x32_10",
        "independence of streams t, t+1: correlation",
    );
}

#[test]
fn a_biased_top_bit_fails_the_bit_frequency() {
    // Bit 31 is 1 with probability 1/2 + 1/32: z = sqrt(n) / 16 = 16 at n = 2^16.
    let r = run(&FaultySource(Fault::BiasedTopBit), 1 << 16);
    fails_at(&r, "philox4x32_10", "bit frequency");
    fails_at(&r, "philox4x32_10", "worst bit");
}
