//! CPU twin of `shaders/backward.wgsl`.

use rayon::prelude::*;

use super::activation::{activate_grad, Activation};

/// `delta_top`: delta_D = g * f'(X_D).
pub fn delta_top(g: &[f32], y: &[f32], act: Activation, slope: f32) -> Vec<f32> {
    g.par_iter()
        .zip(y.par_iter())
        .map(|(&g, &y)| g * activate_grad(act, slope, y))
        .collect()
}
