//! Figures as SVG strings: loss curves (one or several named series) and 2-D trajectories over
//! the objective's contours. Pure rendering: data in, SVG out; no HTTP and no database here.

mod contour;
mod lines;
mod trajectory;

pub use contour::{contour_levels, contour_lines, Grid};
pub use lines::{moving_average, render_lines, render_lines_png, LineChart, Scale, Series};
pub use trajectory::{render_trajectory, render_trajectory_png, TrajectoryChart};

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Rendering failed inside the drawing library (a bug, never the client's fault).
#[derive(Debug, thiserror::Error)]
#[error("plot rendering failed: {0}")]
pub struct PlotError(String);

impl PlotError {
    fn from_drawing<E: std::fmt::Debug>(e: E) -> Self {
        PlotError(format!("{e:?}"))
    }
}

/// Registers the one font every figure uses, DejaVu Sans shipped inside the binary (by the
/// `dejavu` crate): the PNG rasterizer needs glyphs, and SVG text is laid out with its metrics
/// (viewers without DejaVu substitute a similar sans-serif).
fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_err()
        {
            tracing::error!("the embedded DejaVu Sans font could not be read");
        }
    });
}

/// Runs `draw` on an SVG canvas of `size` pixels and returns the document.
fn svg_of(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    register_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(PlotError::from_drawing)?;
    }
    Ok(svg)
}

/// Runs `draw` on an RGB raster of `size` pixels and returns it encoded as PNG.
fn png_of(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<Vec<u8>, PlotError> {
    register_fonts();
    let mut rgb = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(PlotError::from_drawing)?;
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(PlotError::from_drawing)?;
        writer
            .write_image_data(&rgb)
            .map_err(PlotError::from_drawing)?;
        writer.finish().map_err(PlotError::from_drawing)?;
    }
    Ok(out)
}

/// The colours of successive series (Tableau 10), distinct in print and for most colour-blind
/// readers.
const PALETTE: [(u8, u8, u8); 10] = [
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

/// Tick labels that stay short: plain decimals for moderate magnitudes, scientific notation
/// for very large or very small ones.
pub fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let text = format!("{v:.1e}");
        // 1.0e-4 reads better as 1e-4.
        return text.replace(".0e", "e");
    }
    let text = format!("{v:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::format_tick;

    #[test]
    fn tick_labels_are_short_for_every_magnitude() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(1500.0), "1500");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(1e-4), "1e-4");
        assert_eq!(format_tick(2.5e7), "2.5e7");
        assert_eq!(format_tick(-3.0), "-3");
    }
}
