//! `gpuinit propagate`'s text: the network above the tables, and a section per scheme.

use std::fmt::Write as _;

use gpuinit::propagate::{fmt_num, Activation, Network, Run, SchemeReport, TOLERANCE};

use crate::cli::propagate::PropagateArgs;

/// The per-layer table of one run, and its closing ratio line.
fn table(run: &Run, net: &Network) -> String {
    let mut s = String::new();
    let backward = run.layers.iter().any(|l| l.gradient.is_some());
    let _ = write!(
        s,
        "{:>6} {:>6} {:>11} {:>11} {:>10}",
        "layer", "width", "mean", "std", "saturated"
    );
    if backward {
        let _ = write!(s, " {:>11} {:>11}", "grad std", "wgrad std");
    }
    s.push('\n');
    for l in &run.layers {
        let a = &l.activation;
        let name = if l.layer == 0 {
            "input".to_string()
        } else {
            l.layer.to_string()
        };
        let sat = match a.saturated {
            Some(f) if l.layer > 0 => format!("{:.1}%", 100.0 * f),
            _ => "-".into(),
        };
        let _ = write!(
            s,
            "{name:>6} {:>6} {:>11} {:>11} {sat:>10}",
            l.width,
            fmt_num(a.mean),
            fmt_num(a.std)
        );
        if backward {
            let g = l.gradient.as_ref().map_or("-".into(), |g| fmt_num(g.std));
            let w = l
                .weight_gradient
                .as_ref()
                .map_or("-".into(), |g| fmt_num(g.std));
            let _ = write!(s, " {g:>11} {w:>11}");
        }
        if a.nonfinite > 0 {
            let _ = write!(s, "  ({} inf/nan)", a.nonfinite);
        }
        s.push('\n');
    }
    let d = net.depth();
    let _ = write!(
        s,
        "std ratio layer {d} / layer 1: {}",
        fmt_num(run.std_ratio())
    );
    if d > 1 {
        let per = run.std_ratio().powf(1.0 / (d - 1) as f64);
        let _ = write!(s, " ({} per layer)", fmt_num(per));
    }
    if let Some(g) = run.gradient_std_ratio() {
        let _ = write!(
            s,
            "; gradient std ratio layer 1 / layer {d}: {}",
            fmt_num(g)
        );
    }
    s.push('\n');
    s
}

/// The lines above the tables: the network, and where its inputs come from.
pub fn header(net: &Network, args: &PropagateArgs) -> String {
    let d = net.depth();
    let widths = if net.widths.iter().all(|&w| w == net.widths[0]) {
        format!("{} x {} layers", net.widths[0], d)
    } else {
        let w: Vec<String> = net.widths.iter().map(usize::to_string).collect();
        w.join(" -> ")
    };
    let slope = if net.activation == Activation::LeakyRelu {
        format!(" (slope {})", net.negative_slope)
    } else {
        String::new()
    };
    let drawn = if args.seed.is_none() {
        " (drawn; pass --seed to repeat)"
    } else {
        ""
    };
    let gradient = if args.backward {
        "; top gradient N(0, 1) (stream 2^64-2)"
    } else {
        ""
    };
    format!(
        "network: {widths}, activation {}{slope}, batch {}, seed {}{drawn}\ninput N(0, 1) (stream 2^64-1); layer l's weights on stream l; biases 0{gradient}; saturated: {}\n",
        net.activation,
        net.batch,
        net.seed,
        net.activation.saturation_rule()
    )
}

/// One scheme's section: its weights, each device's time, the table, the comparison.
pub fn section(report: &SchemeReport, net: &Network, backward: bool) -> String {
    let main = report.main_run();
    let mut s = format!(
        "\n{}: layer 1 weights {}, fan_in*E[W^2] = {}\n",
        report.scheme,
        main.layer1_weights,
        fmt_num(main.layer1_fan_in_variance)
    );
    let flops = net.forward_flops() + if backward { net.backward_flops() } else { 0.0 };
    for r in [&report.gpu, &report.cpu].into_iter().flatten() {
        let _ = writeln!(
            s,
            "{}: {:.3} s ({:.1} GFLOP/s with weight generation and statistics)",
            r.device,
            r.seconds,
            flops / r.seconds / 1e9
        );
    }
    s += &table(main, net);
    if let Some(c) = &report.comparison {
        let verdict = if c.within_tolerance() {
            "within tolerance".to_string()
        } else {
            format!("OUTSIDE tolerance at {}", c.worst().at)
        };
        let _ = writeln!(
            s,
            "GPU vs CPU reference: worst std {:.2e} (relative), mean {:.2e} (of std), min/max {:.2e}, counts {} values; {verdict} (tolerance {:.0e} relative)",
            c.std.deviation,
            c.mean.deviation,
            c.extremes.deviation,
            c.counts.deviation.max(c.histogram.deviation),
            TOLERANCE.rel
        );
    }
    s
}
