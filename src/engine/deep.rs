//! One pass through a deep [`Network`] on any [`Backend`]: the input and every layer's
//! weights generated on the device, the batch pushed forward (and, asked, a seeded gradient
//! pushed back), and each matrix reduced to statistics there. Written once; `propagate`
//! runs it on the GPU and on the CPU reference, `bench` times it.
//!
//! Weights stay resident in [`Plan::slots`] slots; past [`super::plan::WEIGHT_BUDGET`] a
//! layer is generated again for the backward pass (the same values: a pure function of
//! the seed).

use std::time::Instant;

use super::backend::{Backend, Reduction};
use super::network::{Network, GRADIENT_STREAM, INPUT_STREAM};
use super::plan::Plan;
use crate::error::Result;
use crate::rng::{Sampler, Span};

/// Every matrix's statistics from one pass.
#[derive(Clone, Debug)]
pub struct PassStats {
    /// `X_0` (the input) to `X_D`.
    pub activations: Vec<Reduction>,
    /// Per layer 1..=D (index `l - 1`), with the backward pass: `delta_l`, and the weight
    /// gradient's moments (no histogram).
    pub gradients: Vec<Reduction>,
    pub weight_gradients: Vec<Reduction>,
    /// Wall time of the pass, from the first allocation to the statistics read back.
    pub seconds: f64,
}

struct Pass<'n, B: Backend> {
    net: &'n Network,
    samplers: &'n [Sampler],
    acts: Vec<B::Matrix>,
    slots: Vec<B::Matrix>,
    holds: Vec<Option<usize>>,
    deltas: Vec<B::Matrix>,
    backward: bool,
}

/// `net` with layer `l`'s weights drawn from `samplers[l - 1]`, forward (and backward).
pub fn run<B: Backend>(
    b: &mut B,
    net: &Network,
    samplers: &[Sampler],
    backward: bool,
) -> Result<PassStats> {
    let plan = Plan::new(net, backward);
    plan.check_memory(backward)?;
    let start = Instant::now();
    let (w, batch, d) = (&net.widths, net.batch, net.depth());
    let widest = w.iter().copied().max().unwrap_or(1);
    let acts = if backward {
        (0..=d)
            .map(|l| b.matrix(&format!("X{l}"), batch, w[l]))
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![
            b.matrix("X", batch, widest)?,
            b.matrix("X'", batch, widest)?,
        ]
    };
    let slot_floats = (plan.slot_bytes / 4) as usize;
    let mut pass = Pass {
        net,
        samplers,
        acts,
        slots: (0..plan.slots)
            .map(|i| b.matrix(&format!("W slot {i}"), 1, slot_floats))
            .collect::<Result<Vec<_>>>()?,
        holds: vec![None; plan.slots],
        deltas: Vec::new(),
        backward,
    };
    if backward {
        pass.deltas = vec![
            b.matrix("delta", batch, widest)?,
            b.matrix("delta'", batch, widest)?,
        ];
    }
    b.reserve_stats(if backward { 3 * d + 1 } else { d + 1 })?;
    let x0 = pass.act(b, 0)?;
    let input = Span::whole(net.seed, INPUT_STREAM, (batch * w[0]) as u64);
    b.generate(&Network::standard_normal(), input, &x0)?;
    b.stats((&x0, batch), None, None, 0)?;
    for l in 1..=d {
        pass.forward(b, l)?;
    }
    if backward {
        pass.delta_top(b)?;
        for l in (1..=d).rev() {
            pass.backward_layer(b, l)?;
        }
    }
    let mut all = b.read_stats()?;
    let weight_gradients: Vec<Reduction> = if backward {
        all.drain(2 * d + 1..)
            .map(|r| Reduction {
                histogram: None,
                ..r
            })
            .collect()
    } else {
        Vec::new()
    };
    let gradients = if backward {
        all.drain(d + 1..).collect()
    } else {
        Vec::new()
    };
    all.truncate(d + 1);
    Ok(PassStats {
        activations: all,
        gradients,
        weight_gradients,
        seconds: start.elapsed().as_secs_f64(),
    })
}

impl<B: Backend> Pass<'_, B> {
    /// `X_l`, `[batch, w_l]`.
    fn act(&self, b: &mut B, l: usize) -> Result<B::Matrix> {
        let i = if self.backward { l } else { l % 2 };
        b.view(&self.acts[i], self.net.batch, self.net.widths[l])
    }

    /// `delta_l`, `[batch, w_l]`.
    fn delta(&self, b: &mut B, l: usize) -> Result<B::Matrix> {
        b.view(&self.deltas[l % 2], self.net.batch, self.net.widths[l])
    }

    /// Layer `l`'s weights, `[w_l, w_{l-1}]`, generated into their slot when not there.
    fn weight(&mut self, b: &mut B, l: usize) -> Result<B::Matrix> {
        let w = &self.net.widths;
        let slot = (l - 1) % self.slots.len();
        let m = b.view(&self.slots[slot], w[l], w[l - 1])?;
        if self.holds[slot] != Some(l) {
            b.generate(&self.samplers[l - 1], self.net.weight_span(l), &m)?;
            self.holds[slot] = Some(l);
        }
        Ok(m)
    }

    /// X_l = f(X_{l-1} W_l^T), and its statistics.
    fn forward(&mut self, b: &mut B, l: usize) -> Result<()> {
        let (act, slope) = (self.net.activation, self.net.negative_slope);
        let weight = self.weight(b, l)?;
        let (x_prev, x) = (self.act(b, l - 1)?, self.act(b, l)?);
        b.forward((&x_prev, &weight, None), (act, slope), &x, self.net.batch)?;
        b.stats((&x, self.net.batch), Some(act), act.hist_range(), l)
    }

    /// delta_D = g * f'(X_D), g the seeded standard-normal top gradient.
    fn delta_top(&mut self, b: &mut B) -> Result<()> {
        let (net, d) = (self.net, self.net.depth());
        let g = b.contiguous("the top gradient", net.batch, net.widths[d])?;
        let span = Span::whole(
            net.seed,
            GRADIENT_STREAM,
            (net.batch * net.widths[d]) as u64,
        );
        b.generate(&Network::standard_normal(), span, &g)?;
        let (x, top) = (self.act(b, d)?, self.delta(b, d)?);
        b.delta_top((&g, &x), (net.activation, net.negative_slope), &top)
    }

    /// delta_l's statistics, dW_l = delta_l^T X_{l-1}'s (reduced, never stored), and
    /// delta_{l-1} = (delta_l W_l) * f'(X_{l-1}) below the first layer.
    fn backward_layer(&mut self, b: &mut B, l: usize) -> Result<()> {
        let (batch, d) = (self.net.batch, self.net.depth());
        let delta = self.delta(b, l)?;
        b.stats((&delta, batch), None, None, d + l)?;
        let x_prev = self.act(b, l - 1)?;
        b.weight_grad_stats((&delta, &x_prev), batch, 2 * d + l)?;
        if l > 1 {
            let weight = self.weight(b, l)?;
            let below = self.delta(b, l - 1)?;
            let act = (self.net.activation, self.net.negative_slope);
            b.backward((&delta, &weight, &x_prev), act, &below, batch)?;
        }
        Ok(())
    }
}
