//! `gpuinit bench`: generation throughput against the device's store rate and the CPU
//! reference, and one layer's product, as a table, JSON or Markdown.

use std::fmt::Write as _;
use std::time::Instant;

use clap::Args;
use gpuinit::bench::{self, BenchOptions, Report, Row, Stat};
use gpuinit::{DeviceChoice, Devices, Result};

use crate::cli::{any_device, parse_size, GpuArgs, ReportArgs};
use crate::output::ReportFiles;
use crate::render::progress::Reporter;
use crate::render::say::{out, Say};
use crate::render::table::Table;

#[derive(Args)]
pub struct BenchArgs {
    /// 1 and 4 Mi elements, fewer repeats (about 30 s on a 2-core machine with lavapipe).
    #[arg(long)]
    quick: bool,
    /// Element counts, comma-separated (suffixes k, Mi: 1Mi,16Mi).
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    sizes: Option<Vec<u64>>,
    /// Which sides to measure (auto: the GPU and the CPU when there is a GPU, else the CPU).
    #[arg(long, value_parser = any_device(), default_value = "auto")]
    device: DeviceChoice,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    gpu: GpuArgs,
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let files = ReportFiles::open(&a.report.json, &a.report.markdown)?;
    let opts = BenchOptions {
        quick: a.quick,
        sizes: a.sizes.clone(),
    };
    let t0 = Instant::now();
    let devices = Devices::open(a.device, &a.gpu.options()?, true)?;
    let setup_s = devices.gpu.as_ref().map(|_| t0.elapsed().as_secs_f64());
    if let Some(n) = &devices.notice {
        Say::stderr().line(n)?;
    }
    let sizes = bench::sizes(&opts, &devices)?;
    let mut progress = Reporter::new("bench", bench::steps(&opts, &sizes));
    let report = bench::run(&opts, &devices, &sizes, setup_s, &mut progress)?;
    drop(progress);
    files.write(
        || serde_json::to_string_pretty(&report).expect("the report serializes") + "\n",
        || markdown(&report),
    )?;
    out(&table(&report))
}

const MI: u64 = 1 << 20;

fn g(x: Option<f64>, scale: f64, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{:.*}", digits, v / scale))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

fn header_lines(r: &Report) -> Vec<String> {
    let mut v = Vec::new();
    match &r.adapter {
        Some(a) => v.push(format!(
            "adapter: {} | backend {} | {} | driver {} | workgroup size {} | mulhilo {}-bit",
            a.name,
            a.backend,
            a.device_type,
            [a.driver.trim(), a.driver_info.trim()].join(" ").trim(),
            r.workgroup_size.unwrap_or(0),
            r.mulhilo_bits.unwrap_or(0)
        )),
        None => v.push("adapter: none (CPU only)".into()),
    }
    v.push(format!("cpu: {} | {} threads", r.cpu_model, r.cpu_threads));
    v.push(format!(
        "gpuinit {} (git {})",
        r.gpuinit_version, r.git_revision
    ));
    v.push(format!("GPU timing: {}", r.gpu_timing));
    if let (Some(s), Some(f)) = (r.setup_s, r.first_dispatch_s) {
        v.push(format!(
            "setup (adapter, device, pipelines): {s:.3} s; first dispatch (wall, smallest size): {f:.3} s"
        ));
    }
    v
}

const COLUMNS: [&str; 14] = [
    "distribution",
    "elements",
    "GPU Gsamples/s",
    "GPU GB/s",
    "store GB/s",
    "store-only gen GB/s",
    "gen/store",
    "clear GB/s (wall)",
    "CPU Gsamples/s",
    "CPU fill Gsamples/s",
    "GPU/CPU",
    "theory var",
    "GPU mean / var",
    "CPU mean / var",
];

fn cells(r: &Row) -> Vec<String> {
    let gpu = r.rate(&r.gpu);
    let store = r.store_rate();
    let cpu = r.rate(&r.cpu);
    let mv = |m: Option<f64>, v: Option<f64>| match (m, v) {
        (Some(m), Some(v)) => format!("{m:+.2e} / {v:.5e}"),
        _ => "-".into(),
    };
    let elements = if r.elements.is_multiple_of(MI) {
        format!("{} Mi", r.elements / MI)
    } else {
        r.elements.to_string()
    };
    vec![
        r.distribution.clone(),
        elements,
        g(gpu, 1e9, 3),
        g(gpu, 1e9 / 4.0, 2),
        g(r.rate(&r.store), 1e9 / 4.0, 2),
        g(r.rate(&r.store_only), 1e9 / 4.0, 2),
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

fn rows(r: &Report) -> Table {
    let mut t = Table::new(&COLUMNS, true);
    for row in &r.rows {
        t.row(cells(row));
    }
    t
}

fn gflops(flops: f64, t: &Option<Stat>) -> String {
    t.map_or("-".into(), |t| format!("{:.2}", flops / t.median_s / 1e9))
}

/// GFLOP/s of one deep-network layer's products.
fn layers(r: &Report) -> String {
    let mut t = Table::new(
        &[
            "product",
            "batch",
            "width",
            "GPU tiled",
            "GPU naive",
            "tiled/naive",
            "CPU reference",
            "GPU/CPU",
        ],
        true,
    );
    for m in &r.layers {
        let rate = |t: &Option<Stat>| t.map(|t| m.flops / t.median_s);
        t.row(vec![
            m.product.to_string(),
            m.batch.to_string(),
            m.width.to_string(),
            gflops(m.flops, &m.gpu_tiled),
            gflops(m.flops, &m.gpu_naive),
            ratio(rate(&m.gpu_tiled), rate(&m.gpu_naive)),
            gflops(m.flops, &m.cpu),
            ratio(rate(&m.gpu_tiled), rate(&m.cpu)),
        ]);
    }
    format!(
        "one layer's products: forward C = X W^T, backward dX = dY W, weight gradient dW = dY^T X \
         (GFLOP/s; GPU time as in the header, one product per pass)\n{}",
        t.text()
    )
}

/// GFLOP/s of whole networks.
fn networks(r: &Report) -> String {
    let mut t = Table::new(
        &[
            "network",
            "batch",
            "passes",
            "GPU",
            "CPU reference",
            "GPU/CPU",
        ],
        true,
    );
    for n in &r.networks {
        let rate = |t: &Option<Stat>| t.map(|t| n.flops / t.median_s);
        t.row(vec![
            format!("{} x {}", n.width, n.depth),
            n.batch.to_string(),
            if n.backward {
                "forward + backward"
            } else {
                "forward"
            }
            .into(),
            gflops(n.flops, &n.gpu),
            gflops(n.flops, &n.cpu),
            ratio(rate(&n.gpu), rate(&n.cpu)),
        ]);
    }
    format!(
        "propagate, tanh, xavier_uniform (GFLOP/s of the products, wall-clock with weight generation and statistics)\n{}",
        t.text()
    )
}

pub fn table(r: &Report) -> String {
    let mut s = header_lines(r).join("\n") + "\n\n" + &rows(r).text();
    let _ = writeln!(s, "\nmedians of repeats after a warm-up; rates are elements (f32) per second; GB/s counts bytes written");
    let _ = writeln!(s, "gen/store: against the faster of the store kernel and the generation kernel storing a constant");
    s + "\n" + &layers(r) + "\n" + &networks(r)
}

pub fn markdown(r: &Report) -> String {
    header_lines(r).join("  \n")
        + "\n\n"
        + &rows(r).markdown()
        + "\n```text\n"
        + &layers(r)
        + "\n"
        + &networks(r)
        + "```\n"
}
