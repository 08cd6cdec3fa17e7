//! Generation rows: each distribution at each size, on the GPU against its store
//! baselines and on the CPU reference against a parallel fill.

use std::time::Instant;

use rayon::prelude::*;

use super::{repeat, repeats, Row, Stat, SCHEMES};
use crate::cpu;
use crate::engine::{Devices, Generator};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, Kernel, Storage};
use crate::progress::Progress;
use crate::rng::{Distribution, Fans, Sampler, Scheme, SchemeOptions, Span};
use crate::stats::{Moments, Theory};

fn distribution(scheme: &str) -> Result<Distribution> {
    Scheme::parse(scheme, &SchemeOptions::default())?.distribution(Fans::new(4096, 4096)?)
}

/// Every (distribution, size) row, and the first dispatch's wall time on the GPU.
pub(super) fn rows(
    devices: &Devices,
    sizes: &[u64],
    quick: bool,
    progress: &mut dyn Progress,
) -> Result<(Vec<Row>, Option<f64>)> {
    let largest = *sizes.iter().max().unwrap_or(&4);
    let reps = repeats(quick);
    let buffer = devices
        .gpu
        .as_ref()
        .map(|c| device_buffer(c, largest))
        .transpose()?;
    let mut host = if devices.cpu {
        vec![0f32; crate::engine::host_len(largest)?]
    } else {
        Vec::new()
    };
    let mut first_dispatch = None;
    let mut rows = Vec::new();
    for &n in sizes {
        let gpu = devices.gpu.as_ref().zip(buffer.as_ref());
        let (store, store_only, clear_wall) = match gpu {
            Some((c, b)) => {
                progress.step(&format!("store baselines, {n} elements"));
                let (store, only, clear) = baselines(c, n, b, reps)?;
                (Some(store), Some(only), Some(clear))
            }
            None => (None, None, None),
        };
        let cpu_fill = (!host.is_empty())
            .then(|| fill(&mut host[..n as usize], reps))
            .transpose()?;
        for (family, scheme) in SCHEMES {
            progress.step(&format!("{family}, {n} elements"));
            let d = distribution(scheme)?;
            let s = d.sampler();
            let mut row = Row {
                distribution: family.into(),
                scheme: scheme.into(),
                elements: n,
                gpu: None,
                store,
                store_only,
                clear_wall,
                cpu: None,
                cpu_fill,
                theory_variance: Theory::of(&d).variance(),
                gpu_mean: None,
                gpu_variance: None,
                cpu_mean: None,
                cpu_variance: None,
            };
            if let Some((c, b)) = gpu {
                if first_dispatch.is_none() {
                    let t = c.time_generate(Kernel::Generate, &s, Span::whole(1, 0, n), b.raw())?;
                    first_dispatch = Some(t.wall_s);
                }
                let (t, m) = on_gpu(c, &s, n, b, reps)?;
                (row.gpu, row.gpu_mean, row.gpu_variance) =
                    (Some(t), Some(m.mean()), Some(m.variance()));
            }
            if !host.is_empty() {
                let (t, m) = on_cpu(&s, &mut host[..n as usize], reps)?;
                (row.cpu, row.cpu_mean, row.cpu_variance) =
                    (Some(t), Some(m.mean()), Some(m.variance()));
            }
            rows.push(row);
        }
    }
    Ok((rows, first_dispatch))
}

fn device_buffer(c: &GpuContext, elements: u64) -> Result<Storage> {
    if elements * 4 > c.limits().max_buffer_size {
        return Err(Error::invalid(format!(
            "size {elements} exceeds this device's largest buffer"
        )));
    }
    Ok(c.storage("bench", elements * 4))
}

/// The store kernel, the generation kernel specialized to a constant (its own stores and
/// dispatch shape, no Philox) and `clear_buffer`, each writing `n` elements of `buffer`.
fn baselines(
    c: &GpuContext,
    n: u64,
    buffer: &Storage,
    (min, max, budget): (usize, usize, f64),
) -> Result<(Stat, Stat, Stat)> {
    let constant = Distribution::Constant { value: 1.0 }.sampler();
    let store = repeat(min, max, budget, || {
        Ok(c.time_store(n, buffer.raw())?.best_s())
    })?;
    let only = repeat(min, max, budget, || {
        let t = c.time_generate(
            Kernel::Generate,
            &constant,
            Span::whole(1, 0, n),
            buffer.raw(),
        )?;
        Ok(t.best_s())
    })?;
    let clear = repeat(min, max, budget, || {
        Ok(c.time_clear(n, buffer.raw())?.wall_s)
    })?;
    Ok((store, only, clear))
}

/// A parallel fill of `out`: what the CPU can write.
fn fill(out: &mut [f32], (min, max, budget): (usize, usize, f64)) -> Result<Stat> {
    repeat(min, max, budget, || {
        let t = Instant::now();
        out.par_chunks_mut(1 << 16).for_each(|c| c.fill(1.0));
        Ok(t.elapsed().as_secs_f64())
    })
}

/// Timed generation of `n` elements into `buffer` (a new stream each repeat), and the
/// moments of stream 0.
fn on_gpu(
    c: &GpuContext,
    s: &Sampler,
    n: u64,
    buffer: &Storage,
    (min, max, budget): (usize, usize, f64),
) -> Result<(Stat, Moments)> {
    let mut stream = 0;
    let t = repeat(min, max, budget, || {
        stream += 1;
        let timing =
            c.time_generate(Kernel::Generate, s, Span::whole(1, stream, n), buffer.raw())?;
        Ok(timing.best_s())
    })?;
    let mut m = Moments::new();
    c.stream_values(s, Span::whole(1, 0, n), &mut |v| {
        m.push(v);
        Ok(())
    })?;
    Ok((t, m))
}

/// The same on the CPU reference, into `out`.
fn on_cpu(
    s: &Sampler,
    out: &mut [f32],
    (min, max, budget): (usize, usize, f64),
) -> Result<(Stat, Moments)> {
    let mut stream = 0;
    let t = repeat(min, max, budget, || {
        stream += 1;
        let t = Instant::now();
        cpu::generate(s, 1, stream, 0, out);
        Ok(t.elapsed().as_secs_f64())
    })?;
    cpu::generate(s, 1, 0, 0, out);
    Ok((t, Moments::of(out)))
}
