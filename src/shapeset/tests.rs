use super::render::{overlap, MAX_OVERLAP};
use super::*;

/// FNV-1a 64 of the pixels' bits and the labels: a fingerprint of what was drawn.
fn fingerprint(pixels: &[f32], labels: &[u8]) -> u64 {
    let bytes = pixels
        .iter()
        .flat_map(|p| p.to_bits().to_le_bytes())
        .chain(labels.iter().copied());
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// An image is a function of (seed, index) alone: the same alone or in a batch, and
/// different for another seed or index.
#[test]
fn an_image_depends_on_its_seed_and_index_alone() {
    let (pixels, labels) = batch(7, 1000, 64).unwrap();
    for (k, i) in (1000..1064).enumerate() {
        let im = image(7, i).unwrap();
        assert_eq!(im.pixels, pixels[k * PIXELS..(k + 1) * PIXELS]);
        assert_eq!(im.label, labels[k]);
    }
    assert_ne!(image(7, 5).unwrap().pixels, image(8, 5).unwrap().pixels);
    assert_ne!(image(7, 5).unwrap().pixels, image(7, 6).unwrap().pixels);
    assert!(image(7, MAX_IMAGES).is_err());
    assert!(batch(7, MAX_IMAGES - 2, 3).is_err());
    assert!(batch(7, MAX_IMAGES - 3, 3).is_ok());
}

/// The drawing is IEEE arithmetic alone, so these bits are the same on every machine; a
/// change to the generator changes this fingerprint (and must say so in SHAPESET.md).
#[test]
fn the_first_images_are_what_they_were() {
    let (pixels, labels) = batch(1, 0, 32).unwrap();
    assert_eq!(
        format!("{:016x}", fingerprint(&pixels, &labels)),
        "fca9bc2ed840f148"
    );
}

/// Each label names the shapes drawn; every pixel is in [0, 1]; each shape shows.
#[test]
fn labels_name_the_shapes_drawn() {
    for i in 0..2000 {
        let im = image(3, i).unwrap();
        let (a, b) = shapes_of(im.label);
        let mut want: Vec<Shape> = [Some(a), b].into_iter().flatten().collect();
        let mut got: Vec<Shape> = im.shapes.iter().map(|s| s.shape).collect();
        want.sort_by_key(|s| *s as u8);
        got.sort_by_key(|s| *s as u8);
        assert_eq!(got, want, "image {i}");
        assert!(
            im.pixels.iter().all(|p| (0.0..=1.0).contains(p)),
            "image {i}"
        );
        let lit = im.pixels.iter().filter(|&&p| p > 0.0).count();
        // The smallest shape (a 45-degree triangle, r = 0.5, R = 5) covers about 12 pixels.
        assert!(lit >= 10, "image {i}: {lit} pixels lit");
        for s in &im.shapes {
            assert!(
                s.contains(s.center.0, s.center.1),
                "image {i}: centre outside"
            );
            assert!(!s.contains(s.center.0 + 1.01 * s.radius, s.center.1));
        }
    }
}

/// The classes are equally likely (chi-square over 9 classes, 18000 images, seed 11:
/// a correct generator fails at p < 1e-6 with that probability); and a second shape covers
/// at most half of the first in nearly every image (the rest took the best of the
/// attempts).
#[test]
fn classes_are_equally_likely_and_overlap_is_bounded() {
    let n = 18_000;
    let (_, labels) = batch(11, 0, n).unwrap();
    let mut counts = [0u64; CLASSES];
    for &l in &labels {
        counts[l as usize] += 1;
    }
    let e = n as f64 / CLASSES as f64;
    let x2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
    let p = crate::stats::chi_square_p(x2, (CLASSES - 1) as f64);
    assert!(p > 1e-6, "{counts:?}: X2 = {x2}, p = {p}");
    let mut over = 0;
    for i in 0..2000 {
        let im = image(11, i).unwrap();
        if let [a, b] = im.shapes[..] {
            over += usize::from(overlap(&a, &b) > MAX_OVERLAP);
        }
    }
    assert!(over < 20, "{over} of 2000 images overlap more than half");
}

/// A broken label (one class never drawn) fails the chi-square above.
#[test]
fn the_class_test_has_power() {
    let (_, labels) = batch(11, 0, 18_000).unwrap();
    let mut counts = [0u64; CLASSES];
    for &l in &labels {
        // Class 8 folded into class 0, as an off-by-one in the class draw would.
        counts[if l == 8 { 0 } else { l as usize }] += 1;
    }
    let e = 18_000.0 / CLASSES as f64;
    let x2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
    assert!(crate::stats::chi_square_p(x2, 8.0) < 1e-6);
}
