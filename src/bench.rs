//! `gpuinit bench`: generation throughput on the GPU against the device's own store
//! bandwidth and against the CPU reference, measured in one run on the same sizes.
//!
//! GPU figures are device time from timestamp queries where the adapter has them (else
//! wall-clock from submission to the end of a bounded wait, and labelled so). Setup
//! (adapter, device, pipelines) and the first dispatch are reported apart from steady
//! state; every steady-state figure is the median of repeats after a warm-up, with min
//! and max.

use std::fmt::Write as _;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::cpu;
use crate::distribution::{Distribution, Sampler};
use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, GpuContext, GpuOptions, Kernel};
use crate::progress::Progress;
use crate::propagate::gpu::Propagator;
use crate::scheme::{Fans, Scheme, SchemeOptions};
use crate::stats::{Moments, Theory};

const MI: u64 = 1 << 20;

/// The schemes benchmarked: one per distribution family, for a 4096 x 4096 layer.
pub const SCHEMES: [(&str, &str); 3] = [
    ("uniform", "xavier_uniform"),
    ("normal", "xavier_normal"),
    ("truncated_normal", "glorot_normal"),
];

/// Which sides to measure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum BenchDevice {
    Gpu,
    Cpu,
    #[default]
    Both,
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub quick: bool,
    /// Element counts; default a ladder from 1 Mi up to what the device allows.
    pub sizes: Option<Vec<u64>>,
    pub device: BenchDevice,
    pub gpu: GpuOptions,
}

/// Median, min and max of repeated timings, in seconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stat {
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub repeats: usize,
}

impl Stat {
    fn of(mut t: Vec<f64>) -> Stat {
        t.sort_by(f64::total_cmp);
        let n = t.len();
        let median = if n % 2 == 1 {
            t[n / 2]
        } else {
            (t[n / 2 - 1] + t[n / 2]) / 2.0
        };
        Stat {
            median_s: median,
            min_s: t[0],
            max_s: t[n - 1],
            repeats: n,
        }
    }
}

/// Repeats `f` after one warm-up until `min_repeats` runs and `budget_s` seconds have
/// passed (at most `max_repeats`).
fn repeat(
    min_repeats: usize,
    max_repeats: usize,
    budget_s: f64,
    mut f: impl FnMut() -> Result<f64>,
) -> Result<Stat> {
    f()?;
    let start = Instant::now();
    let mut t = Vec::new();
    while t.len() < min_repeats
        || (t.len() < max_repeats && start.elapsed().as_secs_f64() < budget_s)
    {
        t.push(f()?);
    }
    Ok(Stat::of(t))
}

/// One (distribution, size) row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub distribution: String,
    pub scheme: String,
    pub elements: u64,
    pub gpu: Option<Stat>,
    pub store: Option<Stat>,
    pub clear_wall: Option<Stat>,
    pub cpu: Option<Stat>,
    pub cpu_fill: Option<Stat>,
    pub theory_variance: f64,
    pub gpu_mean: Option<f64>,
    pub gpu_variance: Option<f64>,
    pub cpu_mean: Option<f64>,
    pub cpu_variance: Option<f64>,
}

impl Row {
    fn rate(&self, s: &Option<Stat>) -> Option<f64> {
        s.map(|s| self.elements as f64 / s.median_s)
    }
}

/// One deep-network layer's forward product, C[batch, width] = X[batch, width] W^T, on the
/// tiled WGSL kernel (`shaders/matmul.wgsl`), its naive baseline, and the CPU reference.
#[derive(Clone, Debug, Serialize)]
pub struct MatmulRow {
    pub batch: usize,
    pub width: usize,
    pub flops: f64,
    /// Wall-clock per product (one submission of `repeats` products, bounded wait).
    pub gpu_tiled: Option<Stat>,
    pub gpu_naive: Option<Stat>,
    pub cpu: Option<Stat>,
}

/// (batch, width) of the layers timed: a 1024-wide MLP layer and a wider one.
fn layer_shapes(quick: bool) -> &'static [(usize, usize)] {
    if quick {
        &[(256, 512)]
    } else {
        &[(256, 1024), (512, 2048)]
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub gpuinit_version: &'static str,
    pub git_revision: &'static str,
    pub adapter: Option<AdapterSummary>,
    pub gpu_timing: &'static str,
    pub workgroup_size: Option<u32>,
    pub cpu_model: String,
    pub cpu_threads: usize,
    pub setup_s: Option<f64>,
    pub first_dispatch_s: Option<f64>,
    pub rows: Vec<Row>,
    pub layers: Vec<MatmulRow>,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn distribution(scheme: &str) -> Result<Distribution> {
    Scheme::parse(scheme, &SchemeOptions::default())?.distribution(Fans::new(4096, 4096)?)
}

/// The sizes to run: `--sizes`, or the ladder 1, 4, 16, 64, 256 Mi up to what one buffer
/// holds (64 Mi on CPU adapters, where 256 Mi takes minutes; 1 and 4 Mi with --quick).
fn ladder(opts: &BenchOptions, ctx: Option<&GpuContext>) -> Result<Vec<u64>> {
    if let Some(s) = &opts.sizes {
        if s.is_empty() || s.iter().any(|&n| n == 0 || n % 4 != 0) {
            return Err(Error::invalid(format!(
                "--sizes must be positive multiples of 4, got {s:?}"
            )));
        }
        return Ok(s.clone());
    }
    let top = match ctx {
        _ if opts.quick => 4 * MI,
        Some(c) => {
            let max = c.device().limits().max_buffer_size / 4;
            let on_cpu = c.adapter_summary().is_some_and(|a| a.device_type == "Cpu");
            max.min(if on_cpu { 64 * MI } else { 256 * MI })
        }
        None => 64 * MI,
    };
    Ok([1, 4, 16, 64, 256]
        .iter()
        .map(|m| m * MI)
        .filter(|&n| n <= top)
        .collect())
}

/// Runs the benchmark.
pub fn run(opts: &BenchOptions, progress: &mut dyn Progress) -> Result<Report> {
    let t0 = Instant::now();
    let ctx = match opts.device {
        BenchDevice::Gpu | BenchDevice::Both => Some(GpuContext::new(&opts.gpu)?),
        BenchDevice::Cpu => None,
    };
    let setup_s = ctx.as_ref().map(|_| t0.elapsed().as_secs_f64());
    let sizes = ladder(opts, ctx.as_ref())?;
    let largest = *sizes.iter().max().unwrap_or(&MI);
    let (min_rep, max_rep, budget) = if opts.quick {
        (3, 5, 0.3)
    } else {
        (5, 15, 1.0)
    };
    let buffer = match &ctx {
        Some(c) => {
            if largest * 4 > c.device().limits().max_buffer_size {
                return Err(Error::invalid(format!(
                    "size {largest} exceeds this device's largest buffer"
                )));
            }
            Some(c.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("bench"),
                size: largest * 4,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        }
        None => None,
    };
    let mut host = match opts.device {
        BenchDevice::Cpu | BenchDevice::Both => vec![0f32; largest as usize],
        BenchDevice::Gpu => Vec::new(),
    };
    let mut first_dispatch_s = None;
    let mut rows = Vec::new();
    for &n in &sizes {
        let (store, clear_wall) = match (&ctx, &buffer) {
            (Some(c), Some(b)) => {
                progress.step(&format!("store baseline, {n} elements"));
                let store = repeat(min_rep, max_rep, budget, || {
                    Ok(c.time_store(n, b)?.best_s())
                })?;
                let clear = repeat(min_rep, max_rep, budget, || Ok(c.time_clear(n, b)?.wall_s))?;
                (Some(store), Some(clear))
            }
            _ => (None, None),
        };
        let cpu_fill = (!host.is_empty()).then(|| {
            repeat(min_rep, max_rep, budget, || {
                let t = Instant::now();
                host[..n as usize]
                    .par_chunks_mut(1 << 16)
                    .for_each(|c| c.fill(1.0));
                Ok(t.elapsed().as_secs_f64())
            })
        });
        let cpu_fill = cpu_fill.transpose()?;
        for (family, scheme) in SCHEMES {
            progress.step(&format!("{family}, {n} elements"));
            let d = distribution(scheme)?;
            let s: Sampler = d.sampler();
            let mut row = Row {
                distribution: family.into(),
                scheme: scheme.into(),
                elements: n,
                gpu: None,
                store,
                clear_wall,
                cpu: None,
                cpu_fill,
                theory_variance: Theory::of(&d).variance(),
                gpu_mean: None,
                gpu_variance: None,
                cpu_mean: None,
                cpu_variance: None,
            };
            if let (Some(c), Some(b)) = (&ctx, &buffer) {
                if first_dispatch_s.is_none() {
                    first_dispatch_s =
                        Some(c.time_generate(Kernel::Generate, &s, 1, 0, 0, n, b)?.wall_s);
                }
                let mut stream = 0;
                row.gpu = Some(repeat(min_rep, max_rep, budget, || {
                    stream += 1;
                    Ok(c.time_generate(Kernel::Generate, &s, 1, stream, 0, n, b)?
                        .best_s())
                })?);
                let mut m = Moments::new();
                c.stream_out(Kernel::Generate, &s, 1, 0, 0, n, |w| {
                    m.push(bytemuck::cast_slice::<u32, f32>(w));
                    Ok(())
                })?;
                row.gpu_mean = Some(m.mean());
                row.gpu_variance = Some(m.variance());
            }
            if !host.is_empty() {
                let out = &mut host[..n as usize];
                let mut stream = 0;
                row.cpu = Some(repeat(min_rep, max_rep, budget, || {
                    stream += 1;
                    let t = Instant::now();
                    cpu::generate(&s, 1, stream, 0, out);
                    Ok(t.elapsed().as_secs_f64())
                })?);
                // Statistics of stream 0, as on the GPU.
                cpu::generate(&s, 1, 0, 0, out);
                let m = Moments::of(out);
                row.cpu_mean = Some(m.mean());
                row.cpu_variance = Some(m.variance());
            }
            rows.push(row);
        }
    }
    // Matmul pipelines built once for every layer shape.
    let prop = ctx.as_ref().map(Propagator::new).transpose()?;
    let mut layers = Vec::new();
    for &(batch, width) in layer_shapes(opts.quick) {
        progress.step(&format!("forward layer, batch {batch}, width {width}"));
        layers.push(time_layer(
            opts,
            prop.as_ref(),
            batch,
            width,
            (min_rep.min(3), budget),
        )?);
    }
    Ok(Report {
        gpuinit_version: env!("CARGO_PKG_VERSION"),
        git_revision: env!("GPUINIT_GIT_REV"),
        adapter: ctx.as_ref().and_then(GpuContext::adapter_summary),
        gpu_timing: match &ctx {
            Some(c) if c.has_timestamps() => "device time (timestamp queries)",
            Some(_) => "wall-clock (no timestamp queries: submit to end of a bounded wait)",
            None => "not measured",
        },
        workgroup_size: ctx.as_ref().map(GpuContext::workgroup_size),
        cpu_model: cpu_model(),
        cpu_threads: rayon::current_num_threads(),
        setup_s,
        first_dispatch_s,
        rows,
        layers,
    })
}

/// Times one layer's forward product on the GPU kernels and on the CPU reference.
fn time_layer(
    opts: &BenchOptions,
    prop: Option<&Propagator>,
    batch: usize,
    width: usize,
    (repeats, budget): (usize, f64),
) -> Result<MatmulRow> {
    use crate::propagate::{cpu::matmul_forward, gpu::MatmulKernel, Activation};
    let mut row = MatmulRow {
        batch,
        width,
        flops: 2.0 * (batch * width * width) as f64,
        gpu_tiled: None,
        gpu_naive: None,
        cpu: None,
    };
    if let Some(prop) = prop {
        let problem = prop.matmul_problem(batch, width, width)?;
        for (kernel, slot) in [
            (MatmulKernel::Tiled, &mut row.gpu_tiled),
            (MatmulKernel::Naive, &mut row.gpu_naive),
        ] {
            *slot = Some(repeat(repeats, repeats + 2, budget, || {
                Ok(problem.time(kernel, 1)?.as_secs_f64())
            })?);
        }
    }
    if opts.device != BenchDevice::Gpu {
        let x: Vec<f32> = (0..batch * width)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let w: Vec<f32> = (0..width * width)
            .map(|i| ((i * 104_729) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        row.cpu = Some(repeat(repeats, repeats + 2, budget, || {
            let t = Instant::now();
            std::hint::black_box(matmul_forward(
                &x,
                &w,
                batch,
                width,
                width,
                Activation::Linear,
                0.0,
            ));
            Ok(t.elapsed().as_secs_f64())
        })?);
    }
    Ok(row)
}

fn g(x: Option<f64>, scale: f64, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{:.*}", digits, v / scale))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

impl Report {
    fn header_lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        match &self.adapter {
            Some(a) => v.push(format!(
                "adapter: {} | backend {} | {} | driver {} {} | workgroup size {}",
                a.name,
                a.backend,
                a.device_type,
                a.driver,
                a.driver_info,
                self.workgroup_size.unwrap_or(0)
            )),
            None => v.push("adapter: none (CPU only)".into()),
        }
        v.push(format!(
            "cpu: {} | {} threads",
            self.cpu_model, self.cpu_threads
        ));
        v.push(format!(
            "gpuinit {} (git {})",
            self.gpuinit_version, self.git_revision
        ));
        v.push(format!("GPU timing: {}", self.gpu_timing));
        if let (Some(s), Some(f)) = (self.setup_s, self.first_dispatch_s) {
            v.push(format!(
                "setup (adapter, device, pipelines): {:.3} s; first dispatch (wall, smallest size): {:.3} s",
                s, f
            ));
        }
        v
    }

    const COLUMNS: [&'static str; 13] = [
        "distribution",
        "elements",
        "GPU Gsamples/s",
        "GPU GB/s",
        "store GB/s",
        "gen/store",
        "clear GB/s (wall)",
        "CPU Gsamples/s",
        "CPU fill Gsamples/s",
        "GPU/CPU",
        "theory var",
        "GPU mean / var",
        "CPU mean / var",
    ];

    fn cells(r: &Row) -> [String; 13] {
        let gpu = r.rate(&r.gpu);
        let store = r.rate(&r.store);
        let cpu = r.rate(&r.cpu);
        let mv = |m: Option<f64>, v: Option<f64>| match (m, v) {
            (Some(m), Some(v)) => format!("{m:+.2e} / {v:.5e}"),
            _ => "-".into(),
        };
        [
            r.distribution.clone(),
            format!("{} Mi", r.elements / MI).replace(" 0 Mi", &format!(" {}", r.elements)),
            g(gpu, 1e9, 3),
            g(gpu, 1e9 / 4.0, 2),
            g(store, 1e9 / 4.0, 2),
            ratio(gpu, store),
            g(r.rate(&r.clear_wall), 1e9 / 4.0, 2),
            g(cpu, 1e9, 3),
            g(r.rate(&r.cpu_fill), 1e9, 2),
            ratio(gpu, cpu),
            format!("{:.5e}", r.theory_variance),
            mv(r.gpu_mean, r.gpu_variance),
            mv(r.cpu_mean, r.cpu_variance),
        ]
    }

    pub fn table(&self) -> String {
        let rows: Vec<[String; 13]> = self.rows.iter().map(Self::cells).collect();
        let mut width = Self::COLUMNS.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let mut s = self.header_lines().join("\n") + "\n\n";
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(width)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            padded.join("  ") + "\n"
        };
        s += &line(Self::COLUMNS.to_vec());
        for r in &rows {
            s += &line(r.iter().map(String::as_str).collect());
        }
        let _ = writeln!(s, "\nmedians of repeats after a warm-up; rates are elements (f32) per second; GB/s counts bytes written");
        s += "\n";
        s += &self.layers_table();
        s
    }

    /// GFLOP/s of one deep-network layer's forward product.
    fn layers_table(&self) -> String {
        let gf = |r: &MatmulRow, t: &Option<Stat>| {
            t.map_or("-".into(), |t| format!("{:.2}", r.flops / t.median_s / 1e9))
        };
        let mut s = String::from(
            "forward layer C = X W^T (GFLOP/s; GPU wall-clock per submitted product)\n batch   width  GPU tiled  GPU naive  tiled/naive  CPU reference  GPU/CPU\n",
        );
        for r in &self.layers {
            let rate = |t: &Option<Stat>| t.map(|t| r.flops / t.median_s);
            let _ = writeln!(
                s,
                "{:>6}  {:>6}  {:>9}  {:>9}  {:>11}  {:>13}  {:>7}",
                r.batch,
                r.width,
                gf(r, &r.gpu_tiled),
                gf(r, &r.gpu_naive),
                ratio(rate(&r.gpu_tiled), rate(&r.gpu_naive)),
                gf(r, &r.cpu),
                ratio(rate(&r.gpu_tiled), rate(&r.cpu)),
            );
        }
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = self.header_lines().join("  \n") + "\n\n| ";
        s += &Self::COLUMNS.join(" | ");
        s += " |\n|";
        s += &"---:|".repeat(Self::COLUMNS.len());
        s += "\n";
        for r in &self.rows {
            s += &format!("| {} |\n", Self::cells(r).join(" | "));
        }
        s + "\n```text\n" + &self.layers_table() + "```\n"
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
