//! `gpuinit shapeset`: Shapeset-3x2 images and labels as .npy (docs/SHAPESET.md), and a
//! PNG grid of examples, a row per class.

use std::path::{Path, PathBuf};

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
            "--out '{out}' does not end in .npy: name the labels with --labels"
        ))),
    }
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
    distinct(&[
        ("--out", Some(&a.out)),
        ("--labels", Some(&labels)),
        ("--png", png.as_deref()),
    ])?;
    let n = a.count;
    let mut images = create_as(&a.out, Format::Npy, &[n, SIDE as u64, SIDE as u64])?;
    let mut label_out = create_as(&labels, Format::Raw, &[])?;
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
        grid.draw(out.path())
            .map_err(|e| Error::write(format!("'{}'", path.display()), std::io::Error::other(e)))?;
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

    fn draw(&self, path: &Path) -> std::result::Result<(), String> {
        let cell = SIDE * Self::ZOOM + Self::GAP;
        let size = (
            (Self::GAP + cell * Self::PER_CLASS) as u32,
            (Self::GAP + cell * CLASSES) as u32,
        );
        let root = BitMapBackend::new(path, size).into_drawing_area();
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
        root.present().map_err(|e| e.to_string())
    }
}
