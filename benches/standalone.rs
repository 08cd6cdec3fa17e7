//! The standalone Philox kernel issue 11 measured (`benches/standalone.wgsl`) against
//! gpuinit's uniform generation and store kernels, on the same adapter and buffer,
//! wall-clock medians as the issue measured it:
//!
//!     cargo bench --bench standalone [-- ELEMENTS]      (default 16 Mi; WGPU_BACKEND=gl too)
//!
//! If the yardstick's gen/store is far below 0.6 on an adapter, that adapter cannot give
//! gpuinit 0.6 either: the yardstick computes less than gpuinit's kernel does.

use std::time::{Duration, Instant};

mod common;

use gpuinit::gpu::Kernel;
use gpuinit::Distribution;

const WORKGROUP: u64 = 64;
/// Workgroups along x; the rest go along y.
const ROW: u64 = 32768;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(16 << 20);
    let Some(ctx) = common::gpu("standalone") else {
        return;
    };
    let dev = ctx.device();
    let limit = dev.limits().max_storage_buffer_binding_size / 4;
    let groups = n / 4 / WORKGROUP;
    if n > limit
        || !n.is_multiple_of(4 * WORKGROUP)
        || (groups > ROW && !groups.is_multiple_of(ROW))
    {
        eprintln!(
            "elements: a multiple of {} (of {} above that), at most {limit}",
            4 * WORKGROUP,
            4 * WORKGROUP * ROW
        );
        return;
    }
    let buffer = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("standalone"),
        size: n * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("standalone.wgsl"),
        source: wgpu::ShaderSource::Wgsl(include_str!("standalone.wgsl").into()),
    });
    let pipeline = |entry: &str| {
        dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    };
    let grid = (groups.min(ROW) as u32, groups.div_ceil(ROW) as u32);
    let bind = |p: &wgpu::ComputePipeline| {
        dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &p.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: buffer.as_entire_binding(),
            }],
        })
    };
    let run = |(p, bind): &(wgpu::ComputePipeline, wgpu::BindGroup)| {
        let start = Instant::now();
        let mut encoder = dev.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(p);
            pass.set_bind_group(0, bind, &[]);
            pass.dispatch_workgroups(grid.0, grid.1, 1);
        }
        ctx.queue().submit([encoder.finish()]);
        dev.poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(Duration::from_secs(120)),
        })
        .expect("the standalone kernel finishes within two minutes");
        start.elapsed().as_secs_f64()
    };
    let time = |f: &dyn Fn() -> f64| {
        f();
        median((0..7).map(|_| f()).collect())
    };
    let [gen, store] = ["main", "store"].map(|entry| {
        let p = pipeline(entry);
        let b = bind(&p);
        (p, b)
    });
    let uniform = Distribution::Uniform {
        low: -1.0,
        high: 1.0,
    }
    .sampler();
    let yard_store = time(&|| run(&store));
    let yard_gen = time(&|| run(&gen));
    let ours_store = time(&|| ctx.time_store(n, &buffer).expect("store").wall_s);
    let ours_gen = time(&|| {
        ctx.time_generate(
            Kernel::Generate,
            &uniform,
            gpuinit::rng::Span::whole(1, 0, n),
            &buffer,
        )
        .expect("uniform")
        .wall_s
    });
    let rate = |s: f64| n as f64 / s / 1e9;
    println!(
        "{} ({n} elements), Gsamples/s, wall-clock medians of 7:",
        ctx.label()
    );
    println!(
        "  standalone: store {:.3}, generation {:.3} (gen/store {:.2})",
        rate(yard_store),
        rate(yard_gen),
        yard_store / yard_gen
    );
    println!(
        "  gpuinit:    store {:.3}, uniform {:.3} (gen/store {:.2}; {:.2} of the standalone's rate)",
        rate(ours_store),
        rate(ours_gen),
        ours_store / ours_gen,
        yard_gen / ours_gen
    );
}
