//! One deep-network layer's products (forward C = X W^T, the input gradient dX = dY W and
//! the weight gradient dW = dY^T X) on the tiled WGSL kernel, the naive baseline (forward
//! only), and the CPU reference's gemm; and a whole `propagate` network, forward and
//! backward, on each device.

use std::time::Instant;

use super::{repeat, repeats, MatmulRow, NetworkRow, Stat};
use crate::abi::Activation;
use crate::cpu::matmul::sgemm;
use crate::engine::{deep, CpuBackend, Devices, GpuBackend, Network};
use crate::error::Result;
use crate::gpu::{MatmulKernel, Product};
use crate::rng::Scheme;

/// Times `product` of a layer of `width` on a batch of `batch` on the devices opened.
pub(super) fn time_layer(
    devices: &Devices,
    product: Product,
    (batch, width): (usize, usize),
    quick: bool,
) -> Result<MatmulRow> {
    let (min, _, budget) = repeats(quick);
    let reps = min.min(3);
    let (m, n, k) = product_shape(product, batch, width);
    let mut row = MatmulRow {
        product: product.name(),
        batch,
        width,
        flops: 2.0 * (m * n * k) as f64,
        gpu_tiled: None,
        gpu_naive: None,
        cpu: None,
    };
    if let Some(ctx) = &devices.gpu {
        let problem = ctx.matmul_problem(product, m, n, k)?;
        row.gpu_tiled = Some(repeat(reps, reps + 2, budget, || {
            Ok(problem.time(MatmulKernel::Tiled, 1)?.best_s())
        })?);
        if product == Product::Forward {
            row.gpu_naive = Some(repeat(reps, reps + 2, budget, || {
                Ok(problem.time(MatmulKernel::Naive, 1)?.best_s())
            })?);
        }
    }
    if devices.cpu {
        let p = CpuProduct::new(product, m, n, k);
        let mut c = vec![0.0f32; m * n];
        row.cpu = Some(repeat(reps, reps + 2, budget, || {
            let t = Instant::now();
            p.run(&mut c);
            Ok(t.elapsed().as_secs_f64())
        })?);
    }
    Ok(row)
}

/// (m, n, k) of `C[m, n]` for `product` of a square layer of `width` on `batch` rows: the
/// forward and input-gradient products are batch x width over width, the weight gradient
/// width x width over the batch.
pub fn product_shape(product: Product, batch: usize, width: usize) -> (usize, usize, usize) {
    match product {
        Product::Forward | Product::Backward => (batch, width, width),
        Product::WeightGrad => (width, width, batch),
    }
}

/// A product's operands on the host, laid out as the network stores them
/// ([`Product::shapes`]), for timing the CPU reference's gemm.
pub struct CpuProduct {
    pub product: Product,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl CpuProduct {
    /// Operands filled with a cheap deterministic pattern in [-0.5, 0.5): values do not
    /// change a gemm's speed, and generating them would dominate small shapes.
    pub fn new(product: Product, m: usize, n: usize, k: usize) -> Self {
        let pattern = |(rows, cols): (usize, usize), step: usize| -> Vec<f32> {
            (0..rows * cols)
                .map(|i| ((i * step) % 1000) as f32 * 1e-3 - 0.5)
                .collect()
        };
        let [a, b, _] = product.shapes(m, n, k);
        CpuProduct {
            product,
            m,
            n,
            k,
            a: pattern(a, 7919),
            b: pattern(b, 104_729),
        }
    }

    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }

    /// `c` (m x n, row-major) = the product, on every core.
    pub fn run(&self, c: &mut [f32]) {
        let (m, n, k) = (self.m, self.n, self.k);
        let (ik, ink, im) = (k as isize, n as isize, m as isize);
        let (a, b) = match self.product {
            // A [m, k]; B = W^T with W [n, k].
            Product::Forward => ((&self.a[..], ik, 1), (&self.b[..], 1, ik)),
            // A [m, k]; B [k, n].
            Product::Backward => ((&self.a[..], ik, 1), (&self.b[..], ink, 1)),
            // A = dY^T with dY [k, m]; B [k, n].
            Product::WeightGrad => ((&self.a[..], 1, im), (&self.b[..], ink, 1)),
        };
        sgemm(m, n, k, a, b, c);
    }
}

/// Times a `propagate` network of `depth` layers of `width` on `batch` (tanh, Xavier
/// uniform, as the README's example), forward or forward and backward, weight generation
/// and statistics included, on the devices opened.
pub(super) fn time_network(
    devices: &Devices,
    (depth, width, batch): (usize, usize, usize),
    backward: bool,
    quick: bool,
) -> Result<NetworkRow> {
    let (min, _, budget) = repeats(quick);
    let reps = min.min(3);
    let net = Network::uniform(depth, width, batch, Activation::Tanh, 1)?;
    let samplers = net.weight_samplers(&Scheme::parse_spec("xavier_uniform")?)?;
    let flops = net.forward_flops() + if backward { net.backward_flops() } else { 0.0 };
    let time = |gpu: bool| -> Result<Stat> {
        repeat(reps, reps + 2, budget, || {
            let pass = match (gpu, &devices.gpu) {
                (true, Some(ctx)) => {
                    let mut b = GpuBackend::for_network(ctx, &net, backward)?;
                    deep::run(&mut b, &net, &samplers, backward)?
                }
                _ => deep::run(&mut CpuBackend::new(), &net, &samplers, backward)?,
            };
            Ok(pass.seconds)
        })
    };
    Ok(NetworkRow {
        depth,
        width,
        batch,
        backward,
        flops,
        gpu: devices.gpu.is_some().then(|| time(true)).transpose()?,
        cpu: devices.cpu.then(|| time(false)).transpose()?,
    })
}
