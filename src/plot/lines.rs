//! Line charts: one or several named series over a shared x axis, on a linear or log y axis,
//! optionally with a moving average drawn over each raw curve.

use std::ops::Range;

use plotters::coord::combinators::{IntoLogRange, LogCoord};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{format_tick, png_of, svg_of, PlotError, PALETTE};

/// One named curve of (x, y) points in x order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points; non-finite ones (and, on a log axis, non-positive ones) are left out.
    pub points: Vec<(f64, f64)>,
}

/// How the y axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced decades; only positive values can be drawn.
    Log,
}

/// Everything a line chart shows.
#[derive(Debug, Clone)]
pub struct LineChart<'a> {
    /// The heading above the plot.
    pub title: &'a str,
    /// A smaller second line under the title (e.g. why the scale is not the one asked for).
    pub note: Option<&'a str>,
    /// The x axis label.
    pub x_label: &'a str,
    /// The y axis label.
    pub y_label: &'a str,
    /// The y axis scale.
    pub scale: Scale,
    /// When set (and above 1): draw each series faintly and its centred moving average over
    /// this many points on top (of the logarithms, on a log axis: a geometric mean).
    pub smooth: Option<usize>,
    /// The curves, each in its own colour; a legend appears for several series or smoothing.
    pub series: &'a [Series],
}

/// The size of a line chart in pixels.
const LINE_SIZE: (u32, u32) = (900, 540);

/// The centred moving average of `points` over `window` points, at the same x positions;
/// the window shrinks symmetrically near the ends, so the first and last points stay as they
/// are.
pub fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let half_before = (window - 1) / 2;
    let half_after = window / 2;
    points
        .iter()
        .enumerate()
        .map(|(k, &(x, _))| {
            // Symmetric near the ends too, so that a trend does not bend the average there.
            let room = k.min(points.len() - 1 - k);
            let from = k - half_before.min(room);
            let to = k + half_after.min(room) + 1;
            // Summed afresh (≤ 10⁷ additions): running sums lose the small values that
            // follow large ones.
            let sum: f64 = points[from..to].iter().map(|p| p.1).sum();
            (x, sum / (to - from) as f64)
        })
        .collect()
}

/// Draws the chart as an SVG document.
pub fn render_lines(chart: &LineChart<'_>) -> Result<String, PlotError> {
    svg_of(LINE_SIZE, |root| draw_lines(root, chart))
}

/// Draws the chart as a PNG image.
pub fn render_lines_png(chart: &LineChart<'_>) -> Result<Vec<u8>, PlotError> {
    png_of(LINE_SIZE, |root| draw_lines(root, chart))
}

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LineChart<'_>,
) -> Result<(), PlotError> {
    let drawable = |&(x, y): &(f64, f64)| {
        x.is_finite() && y.is_finite() && (chart.scale == Scale::Linear || y > 0.0)
    };
    let raw: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| s.points.iter().copied().filter(drawable).collect())
        .collect();
    let smooth = chart.smooth.filter(|w| *w > 1);
    // On a log axis, average the logarithms: an arithmetic mean of a decaying curve sits
    // above it by up to the window's spread of decades.
    let smoothed: Option<Vec<Vec<(f64, f64)>>> = smooth.map(|w| {
        raw.iter()
            .map(|p| match chart.scale {
                Scale::Linear => moving_average(p, w),
                Scale::Log => {
                    let logs: Vec<(f64, f64)> = p.iter().map(|&(x, y)| (x, y.ln())).collect();
                    moving_average(&logs, w)
                        .into_iter()
                        .map(|(x, y)| (x, y.exp()))
                        .collect()
                }
            })
            .collect()
    });
    let (x_range, y_range) = bounds(raw.iter().flatten(), chart.scale);

    let body = draw_header(root, chart.title, chart.note)?;
    let curves = Curves {
        chart,
        raw: &raw,
        smoothed: smoothed.as_deref(),
        smooth,
    };
    match chart.scale {
        Scale::Linear => curves.draw(&body, x_range, RangedCoordf64::from(y_range)),
        Scale::Log => curves.draw(&body, x_range, LogCoord::from(y_range.log_scale())),
    }
}

/// The drawable points of a chart, prepared once for either y coordinate type.
struct Curves<'a> {
    chart: &'a LineChart<'a>,
    raw: &'a [Vec<(f64, f64)>],
    smoothed: Option<&'a [Vec<(f64, f64)>]>,
    smooth: Option<usize>,
}

impl Curves<'_> {
    fn draw<DB: DrawingBackend, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: Range<f64>,
        y: Y,
    ) -> Result<(), PlotError>
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let chart = self.chart;
        let log = chart.scale == Scale::Log;
        // Over more than a decade, label 1, 2 and 5 × 10ᵏ only: the other mantissas crowd.
        let wide_log = log && (y.range().end / y.range().start).log10() > 1.2;
        let mut ctx = ChartBuilder::on(area)
            .margin(18)
            .margin_top(6)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(RangedCoordf64::from(x), y)
            .map_err(PlotError::from_drawing)?;
        ctx.configure_mesh()
            .x_desc(chart.x_label)
            .y_desc(chart.y_label)
            .x_labels(8)
            .y_labels(if log { 20 } else { 8 })
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| {
                if wide_log && !is_one_two_five(*v) {
                    String::new()
                } else {
                    format_tick(*v)
                }
            })
            .label_style(("sans-serif", 17))
            .axis_desc_style(("sans-serif", 19))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(PlotError::from_drawing)?;
        for (k, points) in self.raw.iter().enumerate() {
            let (r, g, b) = PALETTE[k % PALETTE.len()];
            let color = RGBColor(r, g, b);
            let name = &chart.series[k].name;
            let (line, label) = match (self.smoothed, self.smooth) {
                (Some(smoothed), Some(window)) => {
                    ctx.draw_series(LineSeries::new(
                        points.iter().copied(),
                        color.mix(0.35).stroke_width(1),
                    ))
                    .map_err(PlotError::from_drawing)?;
                    (
                        smoothed[k].as_slice(),
                        format!("{name} (moving average of {window} points)"),
                    )
                }
                _ => (points.as_slice(), name.clone()),
            };
            ctx.draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))
                .map_err(PlotError::from_drawing)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 24, y)], color.stroke_width(2))
                });
        }
        if chart.series.len() > 1 || self.smooth.is_some() {
            ctx.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(PlotError::from_drawing)?;
        }
        Ok(())
    }
}

/// True for 1, 2 and 5 × 10ᵏ.
fn is_one_two_five(v: f64) -> bool {
    if v <= 0.0 {
        return false;
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-6 * m)
}

/// The x and y ranges that hold every point with a little room; a sensible default box when
/// there is nothing to draw.
fn bounds<'a>(
    points: impl Iterator<Item = &'a (f64, f64)>,
    scale: Scale,
) -> (Range<f64>, Range<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (
            0.0..1.0,
            match scale {
                Scale::Linear => 0.0..1.0,
                Scale::Log => 0.1..10.0,
            },
        );
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let y = match scale {
        Scale::Linear => {
            let pad = if y1 > y0 {
                (y1 - y0) * 0.05
            } else {
                y0.abs().max(1.0) * 0.1
            };
            (y0 - pad)..(y1 + pad)
        }
        Scale::Log => {
            // A fifth of a decade of room at each end, a decade each way for a flat curve.
            let factor = if y1 > y0 { 10f64.powf(0.2) } else { 10.0 };
            (y0 / factor)..(y1 * factor)
        }
    };
    (x0..x1, y)
}

/// Paints the background, fills the top strip of `root` with the title (and the note under
/// it) and returns the area below it.
pub(super) fn draw_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    note: Option<&str>,
) -> Result<DrawingArea<DB, Shift>, PlotError> {
    root.fill(&WHITE).map_err(PlotError::from_drawing)?;
    let (width, _) = root.dim_in_pixel();
    let height = if note.is_some() { 70 } else { 48 };
    let (header, body) = root.split_vertically(height);
    let centre = (width / 2) as i32;
    let title_style = TextStyle::from(("sans-serif", 27).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    header
        .draw(&Text::new(shorten(title, 80), (centre, 12), title_style))
        .map_err(PlotError::from_drawing)?;
    if let Some(note) = note {
        let note_style = TextStyle::from(("sans-serif", 18).into_font())
            .color(&RGBColor(80, 80, 80))
            .pos(Pos::new(HPos::Center, VPos::Top));
        header
            .draw(&Text::new(shorten(note, 120), (centre, 44), note_style))
            .map_err(PlotError::from_drawing)?;
    }
    Ok(body)
}

/// Cuts long user-given text so that it fits the figure.
fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max_chars - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moving_average_is_centred_and_shrinks_symmetrically_at_the_ends() {
        let line: Vec<(f64, f64)> = (0..5).map(|k| (k as f64, k as f64)).collect();
        assert_eq!(
            moving_average(&line, 3),
            line,
            "a straight line is its own average"
        );
        assert_eq!(moving_average(&line, 1), line);
        let zigzag = [(0.0, 0.0), (1.0, 3.0), (2.0, 0.0), (3.0, 3.0), (4.0, 0.0)];
        assert_eq!(
            moving_average(&zigzag, 3),
            vec![(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 1.0), (4.0, 0.0)]
        );
    }

    #[test]
    fn a_chart_of_two_series_is_an_svg_with_both_curves_and_a_legend() {
        let series = [
            Series {
                name: "adam".into(),
                points: (0..50)
                    .map(|k| (k as f64, 1.0 / (k as f64 + 1.0)))
                    .collect(),
            },
            Series {
                name: "sgd".into(),
                points: (0..50)
                    .map(|k| (k as f64, 2.0 / (k as f64 + 1.0)))
                    .collect(),
            },
        ];
        let svg = render_lines(&LineChart {
            title: "two <runs> & more",
            note: None,
            x_label: "step",
            y_label: "loss",
            scale: Scale::Log,
            smooth: None,
            series: &series,
        })
        .unwrap();
        assert!(svg.starts_with("<svg"));
        // Each series: its curve and its legend line, in its palette colour.
        assert_eq!(svg.matches("stroke=\"#1F77B4\"").count(), 2);
        assert_eq!(svg.matches("stroke=\"#FF7F0E\"").count(), 2);
        assert!(svg.contains("two &lt;runs&gt; &amp; more"));
        assert!(svg.contains("\nadam\n") && svg.contains("\nsgd\n"));
    }
}
