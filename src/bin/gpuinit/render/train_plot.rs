//! `train --plot`: test error against updates (log scale), a line per scheme, in the spirit
//! of Glorot and Bengio's training curves. SVG or PNG by the file's extension.

use std::path::Path;

use gpuinit::train::Report;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::render::plot::{
    draw_lines, legend_corner, DrawResult, GlyphBackend, PlotFormat, FAMILY,
};

/// Draws `report` into `path` in `format`; the error says what failed.
pub fn draw(report: &Report, path: &Path, format: PlotFormat) -> std::result::Result<(), String> {
    let size = (760, 480);
    match format {
        PlotFormat::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_on(&root, report).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())
        }
        PlotFormat::Png => {
            let root = GlyphBackend::new(path, size).into_drawing_area();
            draw_on(&root, report).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())
        }
    }
}

fn draw_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &Report) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let o = &r.options;
    let last = o.updates.max(2) as f64;
    let title = format!(
        "Shapeset-3x2 test error: {} hidden layers of {} {}, minibatches of {}",
        o.depth,
        o.width,
        o.activation.name(),
        o.batch
    );
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 17))
        .margin(10)
        .margin_right(24)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d((1.0..last).log_scale(), 0.0..100.0)?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.05))
        .x_desc("updates (log scale)")
        .y_desc("test error (%)")
        .x_label_formatter(&|x| format!("{}", x.round() as u64))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    let series: Vec<Vec<(f64, f64)>> = r
        .runs
        .iter()
        .map(|run| {
            let pts = run.checkpoints.iter();
            pts.map(|c| (c.updates as f64, 100.0 * c.test_error))
                .collect()
        })
        .collect();
    let normalized: Vec<(f64, f64)> = series
        .iter()
        .flatten()
        .map(|&(x, y)| (x.ln() / last.ln(), y / 100.0))
        .collect();
    let corner = legend_corner(&normalized, 0.4, 0.04 + 0.06 * r.runs.len() as f64);
    let several = r.runs.iter().any(|run| run.device != r.runs[0].device);
    let lines = r
        .runs
        .iter()
        .map(|run| {
            let pct = 100.0 * run.test_error;
            let on = if several {
                format!(" on {}", run.device)
            } else {
                String::new()
            };
            format!("{}{on} (lr {}): {pct:.1}%", run.scheme, run.lr)
        })
        .zip(series)
        .collect();
    draw_lines(&mut chart, lines, corner, 12)
}
