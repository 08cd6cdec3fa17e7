use super::*;
use crate::engine::CpuBackend;
use crate::progress::Quiet;

const TINY: [usize; 4] = [6, 5, 4, 3];

use super::net::Params;

fn trainer(act: Activation, (w, b): &Params, lr: f32) -> Trainer<CpuBackend> {
    Trainer::from_weights(CpuBackend::new(), &TINY, (act, 0.0), (w, b), (4, lr)).unwrap()
}

fn tiny(act: Activation) -> Params {
    let scheme = Scheme::parse_spec("xavier_normal").unwrap();
    let mut t = Trainer::new(CpuBackend::new(), &TINY, (act, 0.0), (&scheme, 3), (4, 0.0)).unwrap();
    let (w, mut b) = t.weights().unwrap();
    // Nonzero biases, so their gradients are tested too.
    for (l, b) in b.iter_mut().enumerate() {
        for (i, v) in b.iter_mut().enumerate() {
            *v = 0.1 * (l as f32 + 1.0) * ((i as f32 * 1.7).sin());
        }
    }
    (w, b)
}

fn batch() -> (Vec<f32>, Vec<u8>) {
    let x: Vec<f32> = (0..24).map(|i| ((i as f32) * 0.61).cos()).collect();
    (x, vec![0, 2, 1, 2])
}

fn mean_loss(act: Activation, p: &Params, x: &[f32], y: &[u8]) -> f64 {
    trainer(act, p, 0.0).evaluate(x, y).unwrap().0 / y.len() as f64
}

/// Back-propagation against centred finite differences of the mean loss, for every weight
/// and bias of a 6-5-4-3 network, with each smooth activation. The differences are taken
/// in f32 with a step of 1e-3, so they carry about 1e-4 of rounding; the bound is
/// 2e-4 + 2% of the larger. Catches a transposed weight gradient, a missing activation
/// derivative, or a bias gradient summed over the wrong axis.
#[test]
fn gradients_match_finite_differences() {
    let (x, y) = batch();
    for act in [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softsign,
        Activation::Linear,
    ] {
        let m = tiny(act);
        let g = trainer(act, &m, 0.0).gradients(&x, &y).unwrap();
        let mut worst = 0.0f64;
        for l in 0..TINY.len() - 1 {
            for i in 0..m.0[l].len() + m.1[l].len() {
                let eps = 1e-3f32;
                let nudge = |d: f32| {
                    let mut p = m.clone();
                    match i.checked_sub(m.0[l].len()) {
                        None => p.0[l][i] += d,
                        Some(j) => p.1[l][j] += d,
                    }
                    mean_loss(act, &p, &x, &y)
                };
                let numeric = (nudge(eps) - nudge(-eps)) / (2.0 * f64::from(eps));
                let analytic = f64::from(match i.checked_sub(m.0[l].len()) {
                    None => g.dw[l][i],
                    Some(j) => g.db[l][j],
                });
                let err = (numeric - analytic).abs();
                assert!(
                    err <= 2e-4 + 0.02 * numeric.abs().max(analytic.abs()),
                    "{act:?} layer {l} parameter {i}: numeric {numeric:e}, analytic {analytic:e}"
                );
                worst = worst.max(err);
            }
        }
        eprintln!("{act:?}: largest |numeric - analytic| {worst:.2e}");
    }
}

/// A step of rate 0 changes nothing; a step of rate r moves every parameter by r times its
/// gradient.
#[test]
fn the_step_is_the_gradient_times_the_rate() {
    let (x, y) = batch();
    let act = Activation::Tanh;
    let m = tiny(act);
    let g = trainer(act, &m, 0.0).gradients(&x, &y).unwrap();
    let mut same = trainer(act, &m, 0.0);
    same.updates(&x, &y).unwrap();
    assert_eq!(same.weights().unwrap(), m);
    let mut moved = trainer(act, &m, 0.5);
    moved.updates(&x, &y).unwrap();
    let moved = moved.weights().unwrap();
    assert_eq!(moved.0[1][3], m.0[1][3] - 0.5 * g.dw[1][3]);
    assert_eq!(moved.1[2][1], m.1[2][1] - 0.5 * g.db[2][1]);
    // The loss the step was for falls.
    assert!(mean_loss(act, &moved, &x, &y) < mean_loss(act, &m, &x, &y));
}

fn options(updates: u64, lrs: Vec<f32>) -> Options {
    Options {
        depth: 1,
        width: 32,
        activation: Activation::Tanh,
        slope: 0.0,
        updates,
        batch: 10,
        lrs,
        seed: 5,
        test_images: 900,
        validation_images: 300,
        track_layers: false,
    }
}

/// On Shapeset a small network learns: the training loss of the last checkpoint is below
/// the first's, and the test error is below chance (8/9) by more than its interval.
#[test]
fn the_loss_falls_on_shapeset() {
    let schemes = [(
        "xavier_uniform".to_string(),
        Scheme::parse_spec("xavier_uniform").unwrap(),
    )];
    let r = run(
        &options(1000, vec![0.05]),
        &schemes,
        &[Device::Cpu],
        &mut Quiet,
    )
    .unwrap();
    let run = &r.runs[0];
    let (first, last) = (&run.checkpoints[0], run.checkpoints.last().unwrap());
    assert_eq!(last.updates, 1000);
    assert!(
        last.train_loss < 0.9 * first.train_loss,
        "{:?}",
        run.checkpoints
    );
    assert!(run.interval.1 < 8.0 / 9.0, "{run:?}");
    assert!(run.interval.0 <= run.test_error && run.test_error <= run.interval.1);
}

/// A rate that blows the loss up stops with the update it happened at; in a grid, the
/// validation set picks among the rates that did not.
#[test]
fn divergence_is_an_error_and_the_grid_skips_it() {
    let schemes = [(
        "xavier_uniform".to_string(),
        Scheme::parse_spec("xavier_uniform").unwrap(),
    )];
    // Softmax and cross-entropy keep each gradient bounded, so only a rate that carries a
    // linear network's weights past f32 in one step (1e30) makes the logits overflow.
    let linear = |updates, lrs| Options {
        activation: Activation::Linear,
        ..options(updates, lrs)
    };
    let e = run(
        &linear(50, vec![1e30]),
        &schemes,
        &[Device::Cpu],
        &mut Quiet,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Diverged(_)), "{e}");
    assert!(e.to_string().contains("at update 2"), "{e}");
    let r = run(
        &linear(20, vec![1e30, 0.01]),
        &schemes,
        &[Device::Cpu],
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(r.runs[0].lr, 0.01);
    assert_eq!(r.runs[0].lr_grid[0], (1e30, None));
}

#[test]
fn checkpoints_and_intervals() {
    assert_eq!(checkpoints(100), vec![1, 2, 5, 10, 20, 50, 100]);
    assert_eq!(checkpoints(1), vec![1]);
    assert_eq!(checkpoints(7), vec![1, 2, 5, 7]);
    let (lo, hi) = wilson(16, 100);
    assert!(
        (lo - 0.1010).abs() < 5e-4 && (hi - 0.2442).abs() < 5e-4,
        "{lo} {hi}"
    );
    assert_eq!(wilson(0, 10).0, 0.0);
}

#[test]
fn what_cannot_train_is_refused() {
    let ok = options(10, vec![0.1]);
    assert!(ok.check().is_ok());
    for (o, needle) in [
        (
            Options {
                width: 0,
                ..ok.clone()
            },
            "width 0",
        ),
        (
            Options {
                lrs: vec![-0.1],
                ..ok.clone()
            },
            "-0.1",
        ),
        (
            Options {
                lrs: vec![f32::NAN],
                ..ok.clone()
            },
            "NaN",
        ),
        (
            Options {
                lrs: vec![],
                ..ok.clone()
            },
            "no learning rate",
        ),
        (
            Options {
                width: 1 << 20,
                ..ok.clone()
            },
            "past what",
        ),
        (
            Options {
                updates: u64::MAX,
                ..ok.clone()
            },
            "2^56",
        ),
    ] {
        let e = o.check().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}
