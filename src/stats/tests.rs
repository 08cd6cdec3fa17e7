//! The statistics against outside values, and their power on broken inputs.

use super::gof::{ad_tail_exponent, AD_TAIL_FROM};
use super::theory::gauss_legendre_16;
use super::*;
use crate::cpu::{generate_vec, words_vec};
use crate::rng::distribution::Distribution;

const SEED: u64 = 0x5EED_0001;

fn uniform(bound: f64) -> Distribution {
    Distribution::uniform(-bound, bound)
}

fn normal(std: f64) -> Distribution {
    Distribution::Normal { mean: 0.0, std }
}

fn sample(dist: &Distribution, seed: u64, n: usize) -> Vec<f32> {
    generate_vec(&dist.sampler(), seed, 0, 0, n)
}

/// Simpson's rule for E[(X - c)^k] of a standard normal truncated to [a, b] (finite).
fn truncated_central_numeric(a: f64, b: f64, c: f64, k: i32) -> f64 {
    let steps = 20_000;
    let h = (b - a) / steps as f64;
    let f = |x: f64| (x - c).powi(k) * (-0.5 * x * x).exp();
    let g = |x: f64| (-0.5 * x * x).exp();
    let simpson = |f: &dyn Fn(f64) -> f64| {
        let mut s = f(a) + f(b);
        for i in 1..steps {
            let w = if i % 2 == 1 { 4.0 } else { 2.0 };
            s += w * f(a + i as f64 * h);
        }
        s * h / 3.0
    };
    simpson(&f) / simpson(&g)
}

#[test]
fn theory_is_exact() {
    // Uniform on (-1, 1): variance 1/3, excess kurtosis -6/5.
    let t = Theory::of(&uniform(1.0));
    assert!((t.variance() - 1.0 / 3.0).abs() < 1e-15);
    assert!((t.excess_kurtosis() + 1.2).abs() < 1e-14);
    // Normal: skewness 0, excess kurtosis 0, and the normal-theory standard errors.
    let t = Theory::of(&normal(2.0));
    assert_eq!(t.mu4(), 3.0 * 16.0);
    assert!(t.excess_kurtosis().abs() < 1e-15);
    let n = 1_000_000;
    assert!((t.se_skewness(n) - (6.0 / n as f64).sqrt()).abs() < 1e-15);
    assert!((t.se_excess_kurtosis(n) - (24.0 / n as f64).sqrt()).abs() < 1e-15);
}

#[test]
fn truncated_theory_matches_the_closed_form_and_simpson() {
    // Truncated normal against moments() (which uses statrs's erfc, ~1e-10 relative) and
    // Simpson's rule.
    for (a, b) in [
        (-2.0, 2.0),
        (-2.0, 3.0),
        (0.5, 3.0),
        (-4.0, -3.5),
        (1.0, 6.0),
    ] {
        let d = Distribution::TruncatedNormal {
            mean: 0.3,
            std: 1.5,
            a,
            b,
        };
        let t = Theory::of(&d);
        let (m, v) = d.moments();
        assert!((t.mean - m).abs() < 1e-9, "{a} {b}: {} {m}", t.mean);
        assert!((t.variance() / v - 1.0).abs() < 1e-6, "{a} {b}");
        let c = (t.mean - 0.3) / 1.5;
        for k in 2..=8 {
            let want = truncated_central_numeric(a, b, c, k) * 1.5f64.powi(k);
            let got = t.central[k as usize];
            assert!(
                (got - want).abs() < 1e-9 * want.abs() + 1e-13 * 1.5f64.powi(k),
                "{a} {b} mu_{k}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn quadrature_matches_mpmath_where_the_recurrence_cancels() {
    // Where the recurrence cancels, the quadrature against mpmath (50 digits).
    for (a, b, mean, mus) in [
        (
            5.0,
            f64::INFINITY,
            5.186503967125842,
            [
                0.032696434617112226,
                0.0108257645063567,
                0.00829500748390073,
                0.006556160695643154,
                0.0063011357799516625,
                0.006874373032692872,
                0.00841327837919991,
            ],
        ),
        (
            -4.0,
            -3.5,
            -3.6766541657029337,
            [
                0.017522868630649537,
                -0.0014651769585630418,
                0.0007277988451906033,
                -0.00013415189280646992,
                4.4790690385030966e-05,
                -1.1087841498936668e-05,
                3.349737405654111e-06,
            ],
        ),
    ] {
        let (m, s) = truncated_standard_moments(a, b);
        assert!((m / mean - 1.0).abs() < 1e-14, "{a} {b}: {m}");
        for k in 2..=8 {
            let want = mus[k - 2];
            assert!(
                (s[k] / want - 1.0).abs() < 1e-12,
                "{a} {b} mu_{k}: {}",
                s[k]
            );
        }
    }
}

#[test]
fn recurrence_agrees_with_quadrature_where_well_conditioned() {
    // Where the recurrence is well conditioned it agrees with the quadrature, to the
    // ~1e-10 of statrs's erfc amplified by up to ~100.
    let (gx, gw) = gauss_legendre_16();
    assert!((gw.iter().sum::<f64>() - 2.0).abs() < 1e-14);
    let x30: f64 = gx.iter().zip(&gw).map(|(x, w)| w * x.powi(30)).sum();
    assert!((x30 - 2.0 / 31.0).abs() < 1e-15);
    for (a, b) in [
        (-2.0, 2.0),
        (-1.0, 1.0),
        (0.0, f64::INFINITY),
        (f64::NEG_INFINITY, 0.5),
        (-3.0, 1.0),
    ] {
        let (m1, s1) = truncated_recurrence(a, b);
        let (m2, s2) = truncated_quadrature(a, b);
        assert!((m1 - m2).abs() < 1e-10, "{a} {b}: {m1} {m2}");
        for k in 2..=8 {
            assert!(
                (s1[k] - s2[k]).abs() < 1e-7 * s2[k].abs() + 1e-13,
                "{a} {b} {k}: {} {}",
                s1[k],
                s2[k]
            );
        }
    }
}

#[test]
fn theory_of_infinite_bounds() {
    // Infinite bounds: both infinite is the normal; one infinite matches the half-normal.
    let full = Theory::of(&Distribution::truncated_normal(
        0.0,
        1.0,
        f64::NEG_INFINITY,
        f64::INFINITY,
    ));
    for k in 0..=8 {
        assert!((full.central[k] - Theory::of(&normal(1.0)).central[k]).abs() < 1e-12);
    }
    let half = Theory::of(&Distribution::truncated_normal(
        0.0,
        1.0,
        0.0,
        f64::INFINITY,
    ));
    let pi = std::f64::consts::PI;
    assert!(
        (half.mean - (2.0 / pi).sqrt()).abs() < 1e-14,
        "{}",
        half.mean
    );
    assert!(
        (half.variance() - (1.0 - 2.0 / pi)).abs() < 1e-14,
        "{}",
        half.variance()
    );
    // Half-normal skewness sqrt(2)(4 - pi) / (pi - 2)^(3/2).
    let skew = 2f64.sqrt() * (4.0 - pi) / (pi - 2.0).powf(1.5);
    assert!((half.skewness() - skew).abs() < 1e-13);
}

#[test]
fn moments_merge_like_one_pass() {
    let xs = sample(&normal(3.0), SEED, 100_003);
    let whole = Moments::of(&xs);
    let mut parts = Moments::new();
    for chunk in xs.chunks(7919) {
        let mut m = Moments::new();
        m.push(chunk);
        parts.merge(&m);
    }
    let mut with_bad = Moments::of(&xs[..5]);
    with_bad.push(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
    with_bad.merge(&Moments::of(&xs[5..]));
    // A direct two-pass reference in f64.
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let cs = |k| {
        xs.iter()
            .map(|&x| (f64::from(x) - mean).powi(k))
            .sum::<f64>()
    };
    let (m2, m3, m4) = (cs(2), cs(3), cs(4));
    for m in [whole, parts, with_bad] {
        assert_eq!(m.count(), xs.len() as u64);
        assert!((m.mean() - mean).abs() < 1e-14);
        assert!((m.variance() - m2 / (n - 1.0)).abs() < 1e-12);
        assert!((m.skewness() - n.sqrt() * m3 / m2.powf(1.5)).abs() < 1e-12);
        assert!((m.excess_kurtosis() - (n * m4 / (m2 * m2) - 3.0)).abs() < 1e-12);
    }
    assert_eq!((with_bad.nan_count(), with_bad.inf_count()), (1, 2));
    assert_eq!(
        whole.min(),
        xs.iter().fold(f32::MAX, |a, &b| a.min(b)) as f64
    );
    // A large shift does not cost the variance its digits.
    let shifted: Vec<f64> = xs.iter().map(|&x| 1e6 + f64::from(x)).collect();
    assert!((Moments::of(&shifted).variance() / (m2 / (n - 1.0)) - 1.0).abs() < 1e-9);
}

#[test]
fn cdf_and_p_value_functions() {
    let sn = Normal::new(0.5, 2.0).unwrap();
    for x in [-9.0, -1.0, 0.0, 0.5, 3.0, 12.0] {
        let want = sn.cdf(x);
        let got = cdf(&Distribution::normal(0.5, 2.0), x);
        assert!((got - want).abs() <= 1e-15 + 1e-13 * want, "{x}");
    }
    let tn = Distribution::truncated_normal(0.0, 1.0, 5.0, 7.0);
    assert_eq!(cdf(&tn, 5.0), 0.0);
    assert_eq!(cdf(&tn, 7.0), 1.0);
    // Far in the tail the CDF keeps its digits (1 - Phi(5) = 2.9e-7 has only ~9 left
    // when formed as a difference of CDFs near 1).
    let sf = |x: f64| Normal::new(0.0, 1.0).unwrap().sf(x);
    let f = cdf(&tn, 5.001);
    let want = (sf(5.0) - sf(5.001)) / (sf(5.0) - sf(7.0));
    assert!((f / want - 1.0).abs() < 1e-12, "{f} vs {want}");
    assert_eq!(cdf(&uniform(1.0), 0.0), 0.5);
    assert!(cdf(&uniform(1.0), f64::NAN).is_nan());

    // Kolmogorov: Q(1.3581) = 0.05, Q(1.6276) = 0.01, Q(0.5) = 0.9639.
    assert!((kolmogorov_sf(1.358_1) - 0.05).abs() < 1e-4);
    assert!((kolmogorov_sf(1.627_6) - 0.01).abs() < 1e-4);
    assert!((kolmogorov_sf(0.5) - 0.963_945).abs() < 1e-5);
    // Both series agree where they switch.
    let q = |l: f64| {
        2.0 * (1..50)
            .map(|j| {
                let j = j as f64;
                (if j as i32 % 2 == 1 { 1.0 } else { -1.0 }) * (-2.0 * j * j * l * l).exp()
            })
            .sum::<f64>()
    };
    assert!((kolmogorov_sf(1.1799) - q(1.1799)).abs() < 1e-14);

    // Anderson-Darling case 0, asymptotic: exact upper tails from the Anderson-Darling
    // (1954) series evaluated with mpmath at 60 digits.
    for (z, want, rel) in [
        (1.933, 0.099_994_623_208_2, 2e-4),
        (2.492, 0.050_022_186_359_6, 3e-4),
        (3.0, 0.027_364_788_334, 3e-4),
        (3.8781, 0.010_000_282_155_5, 5e-4),
        (4.5, 0.004_990_026_459_87, 2e-3),
        (6.0, 0.000_967_451_941_521, 2e-3),
        (10.0, 1.381_503_541_07e-5, 2e-3),
        (12.0, 1.710_286_999_32e-6, 2e-3),
        (15.0, 7.633_223_180_23e-8, 2e-3),
        (20.0, 4.465_071_538_31e-10, 2e-3),
        (40.0, 6.534_126_441_48e-19, 2e-3),
    ] {
        let got = ad_asymptotic_p(z);
        assert!((got / want - 1.0).abs() < rel, "A^2 = {z}: {got} vs {want}");
    }
    // The two pieces meet at z = 4 within 0.2%.
    let below = -(-ad_tail_exponent(AD_TAIL_FROM).exp()).exp_m1();
    assert!((ad_asymptotic_p(AD_TAIL_FROM) / below - 1.0).abs() < 2e-3);
    // The finite-n correction is O(1/n), and off in the tail.
    assert!((ad_p_value(1_000_000, 2.492) - ad_asymptotic_p(2.492)).abs() < 1e-7);
    assert!((ad_p_value(10, 2.492) - ad_asymptotic_p(2.492)).abs() < 2e-3);
    assert_eq!(ad_p_value(10, 12.0), ad_asymptotic_p(12.0));

    // Bonferroni: 100 checks at FWER 1e-6 is 1e-8 each, |z| <= 5.730729.
    let t = Threshold::new(100, 1e-6);
    assert_eq!(t.alpha, 1e-8);
    assert!((t.z - 5.730_729).abs() < 1e-5, "{}", t.z);
    assert!((two_sided_p(t.z) - 1e-8).abs() < 1e-14);
    assert!(t.passes_p(2e-8) && !t.passes_p(5e-9) && !t.passes_p(f64::NAN));
    assert!(t.passes_z(-5.7) && !t.passes_z(5.8) && !t.passes_z(f64::NAN));
}

/// Every distribution test on one sample, as (name, p).
fn distribution_battery(xs: &mut [f32], dist: &Distribution, bins: usize) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = moment_tests(&Moments::of(xs), dist)
        .rows()
        .iter()
        .map(|(name, t)| (name.to_string(), t.p))
        .collect();
    let f = |x: f64| cdf(dist, x);
    out.push(("ks".into(), ks_test(xs, f).p));
    out.push(("ad".into(), ad_test(xs, f).p));
    out.push(("chi2".into(), chi_square_gof(xs, f, bins).p));
    out
}

#[test]
fn correct_samples_pass() {
    let dists = [
        uniform(1.0),
        Distribution::uniform(0.1, 0.35),
        normal(1.0),
        Distribution::normal(-0.5, 0.02),
        Distribution::truncated_normal(0.0, 1.0, -2.0, 2.0),
        Distribution::truncated_normal(1.0, 0.5, f64::NEG_INFINITY, 0.5),
    ];
    for (i, dist) in dists.iter().enumerate() {
        let mut xs = sample(dist, SEED + i as u64, 1_000_000);
        for (name, p) in distribution_battery(&mut xs, dist, 200) {
            assert!(p > 1e-4, "{dist:?} {name}: p = {p}");
        }
    }
}

#[test]
fn correct_words_pass() {
    let n = 1 << 20;
    let a = words_vec(SEED, 0, 0, n);
    let b = words_vec(SEED, 1, 0, n);
    let bits = bit_frequency(&a);
    assert!(bits.chi2.p > 1e-4 && bits.p_max > 1e-4, "{bits:?}");
    let bytes = byte_chi_square(&a);
    assert!(bytes.p > 1e-4, "{bytes:?}");
    for lag in [1, 2, 3, 4, 5, 65_536] {
        let s = serial_correlation(&a, lag);
        assert!(s.p > 1e-4, "lag {lag}: {s:?}");
        assert_eq!(s.n, (n - lag) as u64);
    }
    let ind = independence(&a, &b);
    assert!(ind.correlation.p > 1e-4 && ind.table.p > 1e-4, "{ind:?}");
}

#[test]
fn uniform_bound_off_by_one_percent_fails() {
    // Sampled with bound 1.01, tested as bound 1: a 2.01% variance error.
    let model = uniform(1.0);
    let mut xs = sample(&uniform(1.01), SEED, 1_000_000);
    let m = moment_tests(&Moments::of(&xs), &model);
    assert!(m.variance.z > 6.0, "{:?}", m.variance);
    let f = |x: f64| cdf(&model, x);
    let ks = ks_test(&mut xs, f);
    assert!(ks.p < 1e-6, "{ks:?}");
    let ad = ad_test(&mut xs, f);
    assert!(ad.p < 1e-6, "{ad:?}");
    let chi = chi_square_gof(&xs, f, 200);
    assert!(chi.p < 1e-6, "{chi:?}");
    // A 1% shift of the mean (in units of the bound).
    let shifted = Distribution::uniform(-0.99, 1.01);
    let m = moment_tests(&Moments::of(&sample(&shifted, SEED, 1_000_000)), &model);
    assert!(m.mean.z > 6.0, "{:?}", m.mean);
}

#[test]
fn normal_std_off_by_one_percent_fails() {
    // Sampled with std 1.01, tested as std 1. KS is the weakest here: the largest CDF
    // gap is phi(1) 0.01 = 0.0024, so it needs n ~ 4M for lambda ~ 4.8.
    let model = normal(1.0);
    let mut xs = sample(&normal(1.01), SEED, 4_000_000);
    let mut head = xs[..1_000_000].to_vec();
    let f = |x: f64| cdf(&model, x);
    let ks = ks_test(&mut xs, f);
    assert!(ks.p < 1e-6, "{ks:?}");
    let m = moment_tests(&Moments::of(&head), &model);
    assert!(m.variance.z > 6.0, "{:?}", m.variance);
    let ad = ad_test(&mut head, f);
    assert!(ad.p < 1e-6, "{ad:?}");
    let chi = chi_square_gof(&head, f, 200);
    assert!(chi.p < 1e-6, "{chi:?}");
}

#[test]
fn clipped_tails_fail_the_shape_tests() {
    // A quantile that clips both tails at 3 std: excess kurtosis -0.18 instead of 0.
    let model = normal(1.0);
    let clipped = Distribution::truncated_normal(0.0, 1.0, -3.0, 3.0);
    let m = moment_tests(&Moments::of(&sample(&clipped, SEED, 1_000_000)), &model);
    assert!(m.excess_kurtosis.z < -6.0, "{:?}", m.excess_kurtosis);
    // Clipping one tail at 3 std: skewness -0.05 instead of 0.
    let one_sided = Distribution::truncated_normal(0.0, 1.0, f64::NEG_INFINITY, 3.0);
    let m = moment_tests(&Moments::of(&sample(&one_sided, SEED, 1_000_000)), &model);
    assert!(m.skewness.z < -6.0, "{:?}", m.skewness);
}

#[test]
fn one_percent_variance_error_is_detected_at_the_documented_n() {
    // See Theory::se_variance: 1M (uniform) and 2M (normal) detect a 1% variance error
    // with margin (expected z 11.2 and 10.0).
    let s = 1.01f64.sqrt();
    for seed in [SEED, SEED + 1] {
        let xs = sample(&uniform(s), seed, 1_000_000);
        let z = moment_tests(&Moments::of(&xs), &uniform(1.0)).variance.z;
        assert!(z > 6.0, "uniform seed {seed}: z = {z}");
        let xs = sample(&normal(s), seed, 2_000_000);
        let z = moment_tests(&Moments::of(&xs), &normal(1.0)).variance.z;
        assert!(z > 6.0, "normal seed {seed}: z = {z}");
    }
}

#[test]
fn broken_words_fail() {
    let n = 1 << 20;
    let good = words_vec(SEED, 0, 0, n);
    // Top bit forced to 1 in one word of 16: P(top) = 0.53125.
    let biased: Vec<u32> = good
        .iter()
        .enumerate()
        .map(|(i, &w)| if i % 16 == 0 { w | 0x8000_0000 } else { w })
        .collect();
    let bits = bit_frequency(&biased);
    assert!(bits.chi2.p < 1e-6 && bits.p_max < 1e-6, "{bits:?}");
    assert_eq!(bits.max_bit, 31);
    assert!(bits.max_abs_z > 6.0);
    let bytes = byte_chi_square(&biased);
    assert!(bytes.p < 1e-6, "{bytes:?}");

    // A stream with period 2^16.
    let periodic: Vec<u32> = good[..1 << 16].iter().copied().cycle().take(n).collect();
    let s = serial_correlation(&periodic, 1 << 16);
    assert!(s.z > 6.0 && s.p < 1e-6, "{s:?}");
    assert!((s.r - 1.0).abs() < 1e-12);

    // Two identical streams.
    let ind = independence(&good, &good);
    assert!(ind.correlation.z > 6.0, "{:?}", ind.correlation);
    assert!(ind.table.p < 1e-6, "{:?}", ind.table);
}

#[test]
fn nan_and_empty_inputs_fail_safe() {
    let model = normal(1.0);
    let mut xs = sample(&model, SEED, 10_000);
    xs[17] = f32::NAN;
    let f = |x: f64| cdf(&model, x);
    let ks = ks_test(&mut xs, f);
    assert_eq!((ks.nan_count, ks.p), (1, 0.0));
    let ad = ad_test(&mut xs, f);
    assert_eq!((ad.nan_count, ad.p), (1, 0.0));
    let chi = chi_square_gof(&xs, f, 10);
    assert_eq!((chi.excluded, chi.p), (1, 0.0));
    assert!(ks_test(&mut [], f).p.is_nan());
    assert!(ad_test(&mut [], f).p.is_nan());
    assert!(chi_square_gof(&[], f, 10).p.is_nan());
    assert!(byte_chi_square(&[]).p.is_nan());
    assert!(bit_frequency(&[]).chi2.p.is_nan() && bit_frequency(&[]).p_max.is_nan());
    assert!(independence(&[], &[]).table.p.is_nan());
    assert!(serial_correlation(&[1, 2, 3], 5).p.is_nan());
    // A constant matches its own value and nothing else.
    let c = Distribution::Constant { value: 0.1 };
    let ones = sample(&c, SEED, 1000);
    let m = moment_tests(&Moments::of(&ones), &c);
    assert!(m.rows().iter().all(|(_, t)| t.z == 0.0), "{m:?}");
    let m = moment_tests(&Moments::of(&ones), &Distribution::Constant { value: 0.2 });
    assert_eq!(m.mean.p, 0.0);
}

/// Measures the n at which a 1% variance error is detected at |z| > 6 (16 seeds each).
/// `cargo test --lib stats::tests::measure_detectable_effect -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_detectable_effect() {
    let s = 1.01f64.sqrt();
    for (name, model, broken) in [
        ("uniform", uniform(1.0), uniform(s)),
        ("normal", normal(1.0), normal(s)),
    ] {
        for n in [250_000usize, 500_000, 1_000_000, 2_000_000, 4_000_000] {
            let mut zs: Vec<f64> = (0..16)
                .map(|seed| {
                    let xs = sample(&broken, 1000 + seed, n);
                    moment_tests(&Moments::of(&xs), &model).variance.z
                })
                .collect();
            zs.sort_by(f64::total_cmp);
            let k = Theory::of(&model).mu4() / Theory::of(&model).variance().powi(2);
            println!(
                "{name} n={n}: expected z {:.2}, min {:.2}, median {:.2}, detected {}/16",
                0.01 * (n as f64 / (k - 1.0)).sqrt(),
                zs[0],
                zs[8],
                zs.iter().filter(|&&z| z > 6.0).count()
            );
        }
    }
}
