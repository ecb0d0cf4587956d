//! Figures as SVG strings: loss curves (one or several named series) and 2-D trajectories over
//! the objective's contours. Pure rendering: data in, SVG out; no HTTP and no database here.

mod contour;
mod lines;
mod trajectory;

pub use contour::{contour_levels, contour_lines, Grid};
pub use lines::{moving_average, render_lines, LineChart, Scale, Series};
pub use trajectory::{render_trajectory, TrajectoryChart};

/// Rendering failed inside the drawing library (a bug, never the client's fault).
#[derive(Debug, thiserror::Error)]
#[error("plot rendering failed: {0}")]
pub struct PlotError(String);

impl PlotError {
    fn from_drawing<E: std::fmt::Debug>(e: E) -> Self {
        PlotError(format!("{e:?}"))
    }
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

/// A legend entry with room to spare: plotters sizes the legend box from a rough estimate
/// of the text's width, which wide fonts (DejaVu Sans, the usual Linux sans-serif) overrun.
/// No-break spaces survive SVG's whitespace collapsing.
fn legend_text(text: &str) -> String {
    format!("{text}\u{a0}\u{a0}\u{a0}")
}

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
