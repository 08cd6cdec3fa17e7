//! Shapeset-3x2 (Glorot and Bengio 2010, section 2.1), generated (docs/SHAPESET.md):
//! 32x32 grey images of one or two shapes (triangle, parallelogram, ellipse) with random
//! shape parameters, scale, rotation, translation and grey level, labelled by which shapes
//! are present regardless of order or overlap (9 classes). Image `i` of a seed is a pure
//! function of (seed, i): its parameters are words `64 i ..` of gpuinit's stream
//! [`STREAM`], turned into pixels with IEEE arithmetic alone (no libm), so a training
//! stream is drawn on the fly and a test set is a fixed range of indices, the same bits on
//! every machine.

mod render;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::rng::philox::word;
pub use render::{Placed, Shape};

/// Side of an image, in pixels.
pub const SIDE: usize = 32;
pub const PIXELS: usize = SIDE * SIDE;
pub const CLASSES: usize = 9;
/// The stream images draw their words from: "SHAPESET" in ASCII.
pub const STREAM: u64 = 0x5348_4150_4553_4554;
/// Words an image may use (class, order, and eight attempts at placing the second shape).
pub const WORDS_PER_IMAGE: u64 = 64;
/// Images a seed holds: indices below 2^58 (so that word indices stay below 2^64).
pub const MAX_IMAGES: u64 = 1 << 58;
/// Where the sets start: training images from 0, validation from 2^56, test from 2^57.
pub const VALIDATION_START: u64 = 1 << 56;
pub const TEST_START: u64 = 1 << 57;
/// The paper's test set size.
pub const TEST_IMAGES: u64 = 10_000;

/// The classes, in label order: one shape, then two (unordered, with repetition).
pub const CLASS_NAMES: [&str; CLASSES] = [
    "triangle",
    "parallelogram",
    "ellipse",
    "triangle+triangle",
    "triangle+parallelogram",
    "triangle+ellipse",
    "parallelogram+parallelogram",
    "parallelogram+ellipse",
    "ellipse+ellipse",
];

/// The shapes of class `c`.
pub fn shapes_of(class: u8) -> (Shape, Option<Shape>) {
    use Shape::{Ellipse as E, Parallelogram as P, Triangle as T};
    match class {
        0 => (T, None),
        1 => (P, None),
        2 => (E, None),
        3 => (T, Some(T)),
        4 => (T, Some(P)),
        5 => (T, Some(E)),
        6 => (P, Some(P)),
        7 => (P, Some(E)),
        _ => (E, Some(E)),
    }
}

/// Which of the sets an index range belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    Train,
    Validation,
    Test,
}

impl Set {
    /// The index of the set's first image.
    pub fn start(self) -> u64 {
        match self {
            Set::Train => 0,
            Set::Validation => VALIDATION_START,
            Set::Test => TEST_START,
        }
    }

    /// How many images the set holds.
    pub fn images(self) -> u64 {
        match self {
            Set::Train | Set::Validation => VALIDATION_START,
            Set::Test => MAX_IMAGES - TEST_START,
        }
    }
}

/// One image: pixels row-major in [0, 1], and its class.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub pixels: Vec<f32>,
    pub label: u8,
    /// The shapes as drawn, background first.
    pub shapes: Vec<Placed>,
}

/// The word `j` of image `index`'s parameters, as a uniform f64 in [0, 1) with 24 bits.
struct Words {
    seed: u64,
    base: u64,
}

impl Words {
    fn u(&self, j: u64) -> f64 {
        f64::from(word(self.seed, STREAM, self.base + j) >> 8) * (1.0 / 16_777_216.0)
    }

    fn raw(&self, j: u64) -> u32 {
        word(self.seed, STREAM, self.base + j)
    }
}

/// Image `index` of `seed`.
pub fn image(seed: u64, index: u64) -> Result<Image> {
    check(index, 1)?;
    let w = Words {
        seed,
        base: index * WORDS_PER_IMAGE,
    };
    // Classes equally likely: the top of a 32-bit word times 9.
    let label = ((u64::from(w.raw(0)) * CLASSES as u64) >> 32) as u8;
    let (a, b) = shapes_of(label);
    // Which of the two is drawn first (in the background).
    let (first, second) = match b {
        Some(b) if w.raw(1) & 1 == 1 => (b, Some(a)),
        _ => (a, b),
    };
    let back = Placed::draw(first, |j| w.u(2 + j));
    let mut shapes = vec![back];
    if let Some(s) = second {
        shapes.push(render::place_second(&back, s, |attempt, j| {
            w.u(2 + render::WORDS_PER_SHAPE * (1 + attempt) + j)
        }));
    }
    let pixels = render::render(&shapes);
    Ok(Image {
        pixels,
        label,
        shapes,
    })
}

/// Images `first .. first + count` of `seed`: pixels (count x 1024) and labels, on every
/// core.
pub fn batch(seed: u64, first: u64, count: u64) -> Result<(Vec<f32>, Vec<u8>)> {
    check(first, count)?;
    let images: Vec<Image> = (first..first + count)
        .into_par_iter()
        .map(|i| image(seed, i))
        .collect::<Result<_>>()?;
    let mut pixels = Vec::with_capacity(images.len() * PIXELS);
    let mut labels = Vec::with_capacity(images.len());
    for im in images {
        pixels.extend_from_slice(&im.pixels);
        labels.push(im.label);
    }
    Ok((pixels, labels))
}

fn check(first: u64, count: u64) -> Result<()> {
    match first.checked_add(count) {
        Some(end) if end <= MAX_IMAGES => Ok(()),
        _ => Err(Error::invalid(format!(
            "images {first} .. {first} + {count} run past the last image index 2^58"
        ))),
    }
}

#[cfg(test)]
mod tests;
