//! `gpuinit shapeset`: Shapeset-3x2 images and labels as .npy (docs/SHAPESET.md), and a
//! PNG grid of examples, a row per class.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use gpuinit::output::{distinct, PathOutput};
use gpuinit::shapeset::{self, Set, CLASSES, CLASS_NAMES, PIXELS, SIDE};
use gpuinit::{Error, Result};
use plotters::prelude::*;

use crate::cli::parse_u64;
use crate::output::{create_as, npy_header_of, Format};
use crate::render::say::Say;

#[derive(Clone, Copy, ValueEnum)]
enum SetArg {
    Train,
    Validation,
    Test,
}

#[derive(Args)]
pub struct ShapesetArgs {
    /// Images to write.
    #[arg(long, value_parser = parse_u64)]
    count: u64,
    /// The images: a .npy of f32 [count, 32, 32] in [0, 1] (- for standard output).
    #[arg(long)]
    out: String,
    /// The labels: a .npy of u8 [count], class indices (default: OUT with .labels.npy).
    #[arg(long)]
    labels: Option<String>,
    /// Which set: training images from index 0, validation from 2^56, test from 2^57.
    #[arg(long, value_enum, default_value = "train")]
    set: SetArg,
    /// The set's first image to write.
    #[arg(long, value_parser = parse_u64, default_value_t = 0)]
    first: u64,
    #[arg(long, value_parser = parse_u64, default_value_t = 1)]
    seed: u64,
    /// Also draw a PNG grid: a row per class, 8 examples each, from the images written.
    #[arg(long)]
    png: Option<PathBuf>,
}

/// `out` with `.npy` replaced by `.labels.npy`.
fn labels_path(out: &str) -> Result<String> {
    match out.strip_suffix(".npy") {
        Some(stem) if out != "-" => Ok(format!("{stem}.labels.npy")),
        _ => Err(Error::invalid(format!(
            "--out '{out}' does not end in .npy, so there is no labels file name to derive from it: name one with --labels"
        ))),
    }
}

/// The grid is a PNG: a file named otherwise (`.svg`, `.jpg`) is refused before anything is
/// written; a device or pipe takes the PNG as it is.
fn check_png_name(path: &str) -> Result<()> {
    let png = path.to_ascii_lowercase().ends_with(".png");
    if png || gpuinit::output::is_stdout(path) || gpuinit::output::is_special(path)? {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "--png '{path}' does not end in .png (the grid is written as PNG only)"
    )))
}

pub fn run(a: &ShapesetArgs) -> Result<()> {
    let set = match a.set {
        SetArg::Train => Set::Train,
        SetArg::Validation => Set::Validation,
        SetArg::Test => Set::Test,
    };
    if a.count == 0
        || a.first
            .checked_add(a.count)
            .is_none_or(|end| end > set.images())
    {
        return Err(Error::invalid(format!(
            "--first {} --count {} is not a nonempty range of the set's {} images",
            a.first,
            a.count,
            set.images()
        )));
    }
    let labels = match &a.labels {
        Some(l) => l.clone(),
        None => labels_path(&a.out)?,
    };
    let png = a.png.as_ref().map(|p| p.to_string_lossy().into_owned());
    if let Some(p) = &png {
        check_png_name(p)?;
    }
    distinct(&[
        ("--out", Some(&a.out)),
        ("--labels", Some(&labels)),
        ("--png", png.as_deref()),
    ])?;
    let n = a.count;
    let mut images = create_as(&a.out, Format::Npy, &[n, SIDE as u64, SIDE as u64])?;
    let mut label_out = create_as(&labels, Format::Raw, &[])?;
    // Refused before any image is drawn (temporary files go with the refusal).
    let pixel_bytes = n.saturating_mul((PIXELS * 4) as u64);
    images.check_space(pixel_bytes.saturating_add(n))?;
    label_out.check_space(n)?;
    label_out.write_bytes(&npy_header_of("|u1", &[n]))?;
    let png = a.png.as_deref().map(PathOutput::open).transpose()?;
    let mut grid = Grid::new();
    // Batches of 4096 images (16 MiB of pixels) at a time.
    let start = set.start() + a.first;
    for from in (0..n).step_by(4096) {
        let k = (n - from).min(4096);
        let (pixels, labs) = shapeset::batch(a.seed, start + from, k)?;
        images.write_f32s(&pixels)?;
        label_out.write_bytes(&labs)?;
        grid.take(&pixels, &labs);
    }
    images.finish()?;
    label_out.finish()?;
    if let (Some(out), Some(path)) = (png, &a.png) {
        let what = format!("'{}'", path.display());
        let bytes = grid
            .png()
            .map_err(|e| Error::write(&what, std::io::Error::other(e)))?;
        std::fs::write(out.path(), bytes).map_err(|e| Error::write(&what, e))?;
        out.finish()?;
        Say::stderr().line(&format!(
            "png: a row per class, top to bottom: {}",
            CLASS_NAMES.join(", ")
        ))?;
    }
    Say::stderr().line(&format!(
        "shapeset: {n} images of seed {} from index {start} ({} of the set) to {}, labels to {labels}",
        a.seed, a.first, a.out
    ))
}

/// Up to [`Grid::PER_CLASS`] examples of each class, for the PNG.
struct Grid(Vec<Vec<Vec<f32>>>);

impl Grid {
    const PER_CLASS: usize = 8;
    /// Pixels a pixel becomes, and the gap between images.
    const ZOOM: usize = 3;
    const GAP: usize = 4;

    fn new() -> Grid {
        Grid(vec![Vec::new(); CLASSES])
    }

    fn take(&mut self, pixels: &[f32], labels: &[u8]) {
        for (im, &l) in pixels.chunks_exact(PIXELS).zip(labels) {
            let row = &mut self.0[l as usize];
            if row.len() < Self::PER_CLASS {
                row.push(im.to_vec());
            }
        }
    }

    /// The grid as PNG bytes: drawn into memory, then encoded (so any path, a device
    /// included, can take it).
    fn png(&self) -> std::result::Result<Vec<u8>, String> {
        let cell = SIDE * Self::ZOOM + Self::GAP;
        let size = (
            (Self::GAP + cell * Self::PER_CLASS) as u32,
            (Self::GAP + cell * CLASSES) as u32,
        );
        let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            for (r, row) in self.0.iter().enumerate() {
                for (c, im) in row.iter().enumerate() {
                    let (x0, y0) = (Self::GAP + c * cell, Self::GAP + r * cell);
                    for (i, &v) in im.iter().enumerate() {
                        let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                        let (x, y) = (x0 + (i % SIDE) * Self::ZOOM, y0 + (i / SIDE) * Self::ZOOM);
                        let rect = [
                            (x as i32, y as i32),
                            ((x + Self::ZOOM) as i32, (y + Self::ZOOM) as i32),
                        ];
                        root.draw(&Rectangle::new(rect, RGBColor(g, g, g).filled()))
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            root.present().map_err(|e| e.to_string())?;
        }
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&rgb).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
        Ok(bytes)
    }
}
