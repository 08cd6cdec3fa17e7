//! [`GlyphBackend`]: plotters' bitmap backend with its text rasterized by `ab_glyph` from an
//! embedded DejaVu Sans subset (`assets/fonts`), so no system font library is needed.

use std::path::Path;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

static FONT: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans-subset.ttf");
/// The font family plots name; [`GlyphBackend`] draws every family with the embedded font.
pub const FAMILY: &str = "sans-serif";

fn font() -> &'static FontRef<'static> {
    static F: OnceLock<FontRef<'static>> = OnceLock::new();
    F.get_or_init(|| FontRef::try_from_slice(FONT).expect("the embedded font parses"))
}

/// A bitmap backend whose text is rasterized from the embedded font.
pub struct GlyphBackend<'a> {
    inner: BitMapBackend<'a>,
}

impl<'a> GlyphBackend<'a> {
    pub fn new(path: &'a Path, size: (u32, u32)) -> Self {
        GlyphBackend {
            inner: BitMapBackend::new(path, size),
        }
    }

    /// Width, ascent and descent (pixels) of `text` at `size`.
    fn measure(text: &str, size: f64) -> (f32, f32, f32) {
        let f = font().as_scaled(PxScale::from(size as f32));
        let mut width = 0.0;
        let mut prev = None;
        for c in text.chars() {
            let g = f.glyph_id(c);
            if let Some(p) = prev {
                width += f.kern(p, g);
            }
            width += f.h_advance(g);
            prev = Some(g);
        }
        (width, f.ascent(), f.descent())
    }
}

type Backend<'a> = BitMapBackend<'a>;
type BackendError<'a> = DrawingErrorKind<<Backend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for GlyphBackend<'a> {
    type ErrorType = <Backend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> std::result::Result<(), BackendError<'a>> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> std::result::Result<(), BackendError<'a>> {
        self.inner.present()
    }
    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> std::result::Result<(), BackendError<'a>> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> std::result::Result<(), BackendError<'a>> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), BackendError<'a>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> std::result::Result<(), BackendError<'a>> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), BackendError<'a>> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> std::result::Result<(), BackendError<'a>> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> std::result::Result<(), BackendError<'a>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> std::result::Result<(u32, u32), BackendError<'a>> {
        let (w, a, d) = Self::measure(text, style.size());
        Ok((w.ceil() as u32, (a - d).ceil() as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> std::result::Result<(), BackendError<'a>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size();
        let (width, ascent, descent) = Self::measure(text, size);
        let height = ascent - descent;
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Right => -width,
            HPos::Center => -width / 2.0,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        let f = font().as_scaled(PxScale::from(size as f32));
        let mut x = dx;
        let mut prev = None;
        let mut result = Ok(());
        for c in text.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                x += f.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(f.scale(), ab_glyph::point(x, dy + ascent));
            x += f.h_advance(id);
            let Some(outline) = font().outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                if coverage <= 0.0 || result.is_err() {
                    return;
                }
                let (px, py) = trans.transform(
                    bounds.min.x as i32 + gx as i32,
                    bounds.min.y as i32 + gy as i32,
                );
                let (px, py) = (pos.0 + px, pos.1 + py);
                if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                    let shade = BackendColor {
                        alpha: color.alpha * f64::from(coverage.min(1.0)),
                        rgb: color.rgb,
                    };
                    result = self.inner.draw_pixel((px, py), shade);
                }
            });
        }
        result
    }
}
