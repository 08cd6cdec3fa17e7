//! `--plot`: per-layer activation histograms for each scheme, in the manner of Glorot and
//! Bengio's figure 6, above the std of activations, of back-propagated gradients and of
//! weight gradients against depth. SVG or PNG by the file's extension.
//!
//! PNG text is drawn by [`GlyphBackend`] (`glyph.rs`) from an embedded font; plotters itself
//! keeps its default (font-less) text layout, which the SVG output and criterion's own
//! plots (the benches share this build of plotters) rely on.

use std::path::Path;

use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

use gpuinit::propagate::{Activation, PropagateReport, Run};
use gpuinit::{Error, Result};

pub use super::glyph::{GlyphBackend, FAMILY};

/// Most layers drawn in one histogram panel.
const MAX_CURVES: usize = 8;

/// A plot's file format, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    Svg,
    Png,
}

impl PlotFormat {
    pub fn of(path: &Path) -> Result<PlotFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(PlotFormat::Svg),
            Some("png") => Ok(PlotFormat::Png),
            _ => Err(Error::invalid(format!(
                "--plot '{}' must end in .svg or .png",
                path.display()
            ))),
        }
    }
}

/// Draws `report` into `path` in `format` (the command line picks the format from the name
/// the user gave, and the path from the output module); the error says what failed.
pub fn draw(
    report: &PropagateReport,
    path: &Path,
    format: PlotFormat,
) -> std::result::Result<(), String> {
    let schemes = report.schemes.len().max(1);
    let cols = schemes.min(3) as u32;
    let hist_rows = schemes.div_ceil(3) as u32;
    let size = (460 * cols.max(2) + 40, 380 * hist_rows + 430);
    match format {
        PlotFormat::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_on(&root, report, cols, hist_rows).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())
        }
        PlotFormat::Png => {
            let root = GlyphBackend::new(path, size).into_drawing_area();
            draw_on(&root, report, cols, hist_rows).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())
        }
    }
}

/// Layers shown in a histogram panel: all, or MAX_CURVES spread from 1 to D.
fn shown_layers(depth: usize) -> Vec<usize> {
    if depth <= MAX_CURVES {
        return (1..=depth).collect();
    }
    let mut v: Vec<usize> = (0..MAX_CURVES)
        .map(|i| 1 + (i * (depth - 1) + (MAX_CURVES - 1) / 2) / (MAX_CURVES - 1))
        .collect();
    v.dedup();
    v
}

/// A sequential colour for layer `i` of `n` (viridis, dark to light, stopping short of its
/// pale yellow end so every curve shows on white).
fn depth_colour(i: usize, n: usize) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (190.0, 215.0, 50.0),
    ];
    let t = if n <= 1 {
        0.0
    } else {
        i as f64 / (n - 1) as f64
    } * (STOPS.len() - 1) as f64;
    let k = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Categorical colours for schemes (Tableau 10).
fn scheme_colour(i: usize) -> RGBColor {
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

/// The legend corner that covers the fewest points; `pts` are normalized to [0, 1]^2 and
/// the legend needs a `w` x `h` box (fractions of the plot).
pub fn legend_corner(pts: &[(f64, f64)], w: f64, h: f64) -> SeriesLabelPosition {
    let corners = [
        (SeriesLabelPosition::UpperRight, 1.0 - w, 1.0 - h),
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - h),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
        (SeriesLabelPosition::LowerRight, 1.0 - w, 0.0),
    ];
    let covered = |x0: f64, y0: f64| {
        pts.iter()
            .filter(|&&(x, y)| x >= x0 && x <= x0 + w && y >= y0 && y <= y0 + h)
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|&(_, x0, y0)| covered(x0, y0))
        .map(|c| c.0)
        .unwrap_or(SeriesLabelPosition::UpperRight)
}

/// A tick label: plain decimals from 0.01 to 1000, else scientific.
fn tick(y: f64) -> String {
    let a = y.abs();
    if a == 0.0 {
        "0".into()
    } else if (0.01..1000.0).contains(&a) {
        let t = format!("{y:.3}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{y:.0e}")
    }
}

pub type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &PropagateReport,
    cols: u32,
    hist_rows: u32,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let net = &report.network;
    let d = net.depth();
    let widths = if net.widths.iter().all(|&w| w == net.widths[0]) {
        format!("width {}, depth {d}", net.widths[0])
    } else {
        format!(
            "widths {}",
            net.widths
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-")
        )
    };
    let device = report
        .schemes
        .first()
        .map(|s| s.main_run().device.clone())
        .unwrap_or_default();
    let title = format!(
        "{} network, {widths}, batch {}, seed {} ({device})",
        net.activation.name(),
        net.batch,
        net.seed
    );
    let root = root.titled(&title, (FAMILY, 20))?;
    let (w, h) = root.dim_in_pixel();
    let hist_h = h.saturating_sub(400);
    let (top, bottom) = root.split_vertically(hist_h);
    let panels = top.split_evenly((hist_rows as usize, cols as usize));
    for (s, area) in report.schemes.iter().zip(panels.iter()) {
        histogram_panel(area, s.main_run(), net.activation, d)?;
    }
    let backward = report.backward;
    let n_bottom = if backward { 3 } else { 1 };
    let bottoms = if backward {
        bottom.split_evenly((1, n_bottom))
    } else {
        // One panel, not stretched across the whole width.
        let (left, _) = bottom.split_horizontally(w.min(2 * w / 3).max(w / 2));
        vec![left]
    };
    let runs: Vec<&Run> = report.schemes.iter().map(|s| s.main_run()).collect();
    depth_panel(&bottoms[0], &runs, "activation std by layer", d, |r, l| {
        Some(r.layers[l].activation.std)
    })?;
    if backward {
        depth_panel(
            &bottoms[1],
            &runs,
            "back-propagated gradient std (dL/dz)",
            d,
            |r, l| r.layers[l].gradient.as_ref().map(|g| g.std),
        )?;
        depth_panel(
            &bottoms[2],
            &runs,
            "weight gradient std (dL/dW)",
            d,
            |r, l| r.layers[l].weight_gradient.as_ref().map(|g| g.std),
        )?;
    }
    Ok(())
}

/// (layer, density points, histogram range) of one histogram curve.
type Curve = (usize, Vec<(f64, f64)>, (f64, f64));

/// The x range and y top shared by every curve: the activation's range when it is bounded;
/// otherwise the first layer's range, as in Glorot and Bengio's figure, so that shrinking
/// layers show as spikes (clipped at 8 times the first layer's peak) and growing ones run
/// off the sides. The top leaves headroom for the legend.
fn histogram_axes(curves: &[Curve], activation: Activation) -> ((f64, f64), f64) {
    let peak = |pts: &[(f64, f64)]| pts.iter().map(|q| q.1).fold(0.0f64, f64::max);
    let ((x0, x1), ymax) = match (activation.hist_range(), curves.first()) {
        (Some((lo, hi)), _) => (
            (f64::from(lo), f64::from(hi)),
            curves.iter().map(|c| peak(&c.1)).fold(0.0f64, f64::max),
        ),
        (None, Some((_, first, range))) => {
            let all = curves.iter().map(|c| peak(&c.1)).fold(0.0f64, f64::max);
            (*range, all.min(8.0 * peak(first)))
        }
        (None, None) => ((-1.0, 1.0), 1.0),
    };
    // A constant layer has no range.
    let x = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let y = if ymax > 0.0 && ymax.is_finite() {
        ymax * 1.55
    } else {
        1.0
    };
    (x, y)
}

fn histogram_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &Run,
    activation: Activation,
    depth: usize,
) -> DrawResult<DB> {
    let curves: Vec<Curve> = shown_layers(depth)
        .iter()
        .filter_map(|&l| {
            let h = run.layers[l].activation.histogram.as_ref()?;
            let pts = h.density();
            (!pts.is_empty()).then_some((l, pts, (f64::from(h.lo), f64::from(h.hi))))
        })
        .collect();
    let ((x0, x1), ymax) = histogram_axes(&curves, activation);
    let x_desc = if activation.hist_range().is_some() {
        "activation value"
    } else {
        "activation value (on layer 1's range)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: {} activations by layer", run.scheme, activation.name()),
            (FAMILY, 17),
        )
        .margin(8)
        .margin_right(20)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(x0..x1, 0.0..ymax)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .x_desc(x_desc)
        .y_desc("density")
        .y_labels(7)
        .y_label_formatter(&|y| tick(*y))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    let n = curves.len();
    let normalized: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|&(x, y)| ((x - x0) / (x1 - x0), y / ymax)))
        .collect();
    let corner = legend_corner(&normalized, 0.3, 0.03 + 0.05 * n as f64);
    for (i, (l, pts, _)) in curves.into_iter().enumerate() {
        // Keep to the axes: plotters maps points to i32 pixels, which far-off ones overflow.
        let pts: Vec<(f64, f64)> = pts
            .into_iter()
            .filter(|&(x, _)| x >= x0 && x <= x1)
            .map(|(x, y)| (x, y.min(ymax)))
            .collect();
        let c = depth_colour(i, n);
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
            .label(format!("layer {l}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 11))
        .draw()?;
    Ok(())
}

fn depth_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[&Run],
    title: &str,
    depth: usize,
    value: impl Fn(&Run, usize) -> Option<f64>,
) -> DrawResult<DB> {
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            (1..=depth)
                .filter_map(|l| value(r, l).map(|v| (l as f64, v)))
                .filter(|&(_, v)| v > 0.0 && v.is_finite())
                .collect()
        })
        .collect();
    let ys = series.iter().flatten().map(|p| p.1);
    let (mut lo, mut hi) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let has_points = hi >= lo;
    if !has_points {
        (lo, hi) = (0.1, 10.0);
    }
    // At least a factor 10 of range, with a margin, so flat lines sit mid-panel.
    let mid = (lo * hi).sqrt();
    let (lo, hi) = (lo.min(mid / 3.2) / 1.3, hi.max(mid * 3.2) * 1.3);
    // Headroom above the data for the legend: a third of the panel, in log space.
    let hi = hi * (hi / lo).powf(0.45);
    let x1 = (depth as f64).max(2.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 17))
        .margin(8)
        .margin_right(20)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(1.0..x1, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.05))
        .x_desc("layer")
        .y_desc("std (log scale)")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_labels(8)
        .y_label_formatter(&|y| tick(*y))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()?;
    let (llo, lhi) = (lo.ln(), hi.ln());
    let normalized: Vec<(f64, f64)> = series
        .iter()
        .flatten()
        .map(|&(x, y)| ((x - 1.0) / (x1 - 1.0), (y.ln() - llo) / (lhi - llo)))
        .collect();
    let corner = legend_corner(&normalized, 0.45, 0.03 + 0.06 * runs.len() as f64);
    let lines = runs.iter().map(|r| r.scheme.clone()).zip(series).collect();
    draw_lines(&mut chart, lines, corner, 11)
}

/// A line with markers per `(label, points)`, in the scheme colours, and their legend at
/// `corner`.
pub fn draw_lines<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    lines: Vec<(String, Vec<(f64, f64)>)>,
    corner: SeriesLabelPosition,
    font: u32,
) -> DrawResult<DB>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate<From = (f64, f64)>,
{
    for (i, (label, pts)) in lines.into_iter().enumerate() {
        let c = scheme_colour(i);
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, font))
        .draw()?;
    Ok(())
}
