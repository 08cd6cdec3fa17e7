//! A shape from eight uniform numbers, and shapes to pixels: coverage by 2x2 samples a
//! pixel, painted over the background in order. Only +, -, *, / and sqrt (each correctly
//! rounded by IEEE 754), so every machine draws the same pixels.

use super::{PIXELS, SIDE};

/// Uniform numbers one shape takes; attempts at placing a second shape.
pub const WORDS_PER_SHAPE: u64 = 8;
pub const ATTEMPTS: u64 = 6;
/// The most of the background shape's area the second may cover (the paper's 50%).
pub const MAX_OVERLAP: f64 = 0.5;
/// Radius of a shape's bounding circle, in pixels, and its grey levels (background 0).
const RADIUS: (f64, f64) = (5.0, 11.0);
const GREY: (f64, f64) = (0.25, 1.0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Triangle,
    Parallelogram,
    Ellipse,
}

/// A shape as drawn: its outline in its own frame (bounding radius 1), then where it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub shape: Shape,
    /// Triangle and parallelogram corners, counter-clockwise, centred, farthest at 1.
    pub corners: [(f64, f64); 4],
    /// Ellipse: the minor semi-axis (the major one is 1).
    pub minor: f64,
    /// Bounding radius in pixels, centre in pixels, rotation (cos, sin), grey level.
    pub radius: f64,
    pub center: (f64, f64),
    pub rotation: (f64, f64),
    pub grey: f64,
}

/// (cos, sin) of 2 atan(t), by the rational parametrization.
fn half_angle(t: f64) -> (f64, f64) {
    let d = 1.0 + t * t;
    ((1.0 - t * t) / d, 2.0 * t / d)
}

impl Placed {
    /// The shape from `u(0) .. u(7)`, each uniform in [0, 1): relative length, inner angle
    /// (45 to 135 degrees), rotation (two numbers), bounding radius, centre (two), grey.
    pub fn draw(shape: Shape, u: impl Fn(u64) -> f64) -> Placed {
        let r = 0.5 + 0.5 * u(0);
        let root2 = 2f64.sqrt();
        let (cos_a, sin_a) = half_angle(root2 - 1.0 + 2.0 * u(1));
        // Half a turn from t in [-1, 1), then a quarter turn times 0..3.
        let (mut c, mut s) = half_angle(2.0 * u(2) - 1.0);
        for _ in 0..(u(3) * 4.0) as u32 {
            (c, s) = (-s, c);
        }
        let radius = RADIUS.0 + (RADIUS.1 - RADIUS.0) * u(4);
        let room = SIDE as f64 - 2.0 * radius;
        let corners = match shape {
            Shape::Triangle => [(0.0, 0.0), (1.0, 0.0), (r * cos_a, r * sin_a), (0.0, 0.0)],
            _ => [
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0 + r * cos_a, r * sin_a),
                (r * cos_a, r * sin_a),
            ],
        };
        Placed {
            shape,
            corners: normalized(corners, if shape == Shape::Triangle { 3 } else { 4 }),
            minor: r,
            radius,
            center: (radius + room * u(5), radius + room * u(6)),
            rotation: (c, s),
            grey: GREY.0 + (GREY.1 - GREY.0) * u(7),
        }
    }

    fn sides(&self) -> usize {
        match self.shape {
            Shape::Triangle => 3,
            _ => 4,
        }
    }

    /// Whether the point (x, y), in pixels, is inside.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let (dx, dy) = (x - self.center.0, y - self.center.1);
        let (c, s) = self.rotation;
        let lx = (c * dx + s * dy) / self.radius;
        let ly = (c * dy - s * dx) / self.radius;
        if self.shape == Shape::Ellipse {
            let m = ly / self.minor;
            return lx * lx + m * m <= 1.0;
        }
        let n = self.sides();
        (0..n).all(|k| {
            let (a, b) = (self.corners[k], self.corners[(k + 1) % n]);
            (b.0 - a.0) * (ly - a.1) - (b.1 - a.1) * (lx - a.0) >= 0.0
        })
    }

    /// The fraction of each pixel covered (2x2 samples), over the shape's bounding box.
    fn coverage(&self) -> Vec<f32> {
        let mut out = vec![0.0; PIXELS];
        let lo = |c: f64| (c - self.radius - 1.0).max(0.0) as usize;
        let hi = |c: f64| ((c + self.radius + 1.0) as usize).min(SIDE - 1);
        for py in lo(self.center.1)..=hi(self.center.1) {
            for px in lo(self.center.0)..=hi(self.center.0) {
                let hits = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]
                    .iter()
                    .filter(|(ox, oy)| self.contains(px as f64 + ox, py as f64 + oy))
                    .count();
                out[py * SIDE + px] = hits as f32 / 4.0;
            }
        }
        out
    }
}

/// Corners moved so their mean is the origin and scaled so the farthest is at 1.
fn normalized(mut corners: [(f64, f64); 4], n: usize) -> [(f64, f64); 4] {
    let (mx, my) = corners[..n]
        .iter()
        .fold((0.0, 0.0), |(x, y), c| (x + c.0, y + c.1));
    let (mx, my) = (mx / n as f64, my / n as f64);
    let far = corners[..n]
        .iter()
        .map(|c| ((c.0 - mx) * (c.0 - mx) + (c.1 - my) * (c.1 - my)).sqrt())
        .fold(0.0, f64::max);
    for c in &mut corners[..n] {
        *c = ((c.0 - mx) / far, (c.1 - my) / far);
    }
    corners
}

/// The part of `back`'s area that `front` covers.
pub fn overlap(back: &Placed, front: &Placed) -> f64 {
    let (a, b) = (back.coverage(), front.coverage());
    let area: f64 = a.iter().map(|&x| f64::from(x)).sum();
    let shared: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x.min(y))).sum();
    if area > 0.0 {
        shared / area
    } else {
        0.0
    }
}

/// The second shape: the first of [`ATTEMPTS`] placements (numbers `u(attempt, j)`) that
/// covers at most half of `back`, or the one that covers least.
pub fn place_second(back: &Placed, shape: Shape, u: impl Fn(u64, u64) -> f64) -> Placed {
    let mut best: Option<(f64, Placed)> = None;
    for attempt in 0..ATTEMPTS {
        let cand = Placed::draw(shape, |j| u(attempt, j));
        let f = overlap(back, &cand);
        if f <= MAX_OVERLAP {
            return cand;
        }
        if best.is_none_or(|(g, _)| f < g) {
            best = Some((f, cand));
        }
    }
    best.expect("at least one attempt").1
}

/// The shapes painted in order over a black background.
pub fn render(shapes: &[Placed]) -> Vec<f32> {
    let mut px = vec![0.0f32; PIXELS];
    for s in shapes {
        let grey = s.grey as f32;
        for (p, c) in px.iter_mut().zip(s.coverage()) {
            *p = *p * (1.0 - c) + grey * c;
        }
    }
    px
}
