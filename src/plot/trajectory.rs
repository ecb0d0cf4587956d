//! The path of a 2-D optimization over the contour lines of its objective.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::contour::{contour_lines, Grid};
use super::lines::draw_header;
use super::{format_tick, png_of, svg_of, PlotError};

/// Everything a trajectory plot shows.
#[derive(Debug, Clone)]
pub struct TrajectoryChart<'a> {
    /// The heading above the plot.
    pub title: &'a str,
    /// A smaller second line under the title (e.g. how the contour levels are spaced).
    pub note: Option<&'a str>,
    /// The objective sampled over the plotted box (the box is the grid's extent).
    pub grid: &'a Grid,
    /// The values to draw contour lines at, increasing.
    pub levels: &'a [f64],
    /// The iterates in step order; the first is marked as the start, the last as the end.
    pub path: &'a [(f64, f64)],
    /// Known minimizers to mark.
    pub minima: &'a [(f64, f64)],
}

/// The size of a trajectory plot in pixels.
const TRAJECTORY_SIZE: (u32, u32) = (760, 720);
/// The path's colour: red stands out against the blue-to-green contours.
const PATH: RGBColor = RGBColor(214, 39, 40);
const START: RGBColor = RGBColor(44, 160, 44);

/// The viridis colour map cut at 85 % (its last, yellow stretch is unreadable on white),
/// at `t` in [0, 1].
fn contour_colour(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (170.0, 220.0, 50.0),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let k = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws the trajectory plot as an SVG document.
pub fn render_trajectory(chart: &TrajectoryChart<'_>) -> Result<String, PlotError> {
    svg_of(TRAJECTORY_SIZE, |root| draw_trajectory(root, chart))
}

/// Draws the trajectory plot as a PNG image.
pub fn render_trajectory_png(chart: &TrajectoryChart<'_>) -> Result<Vec<u8>, PlotError> {
    png_of(TRAJECTORY_SIZE, |root| draw_trajectory(root, chart))
}

fn draw_trajectory<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &TrajectoryChart<'_>,
) -> Result<(), PlotError> {
    let grid = chart.grid;
    let (x0, x1) = (grid.xs[0], grid.xs[grid.xs.len() - 1]);
    let (y0, y1) = (grid.ys[0], grid.ys[grid.ys.len() - 1]);
    {
        let body = draw_header(root, chart.title, chart.note)?;
        let mut ctx = ChartBuilder::on(&body)
            .margin(18)
            .margin_top(6)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(RangedCoordf64::from(x0..x1), RangedCoordf64::from(y0..y1))
            .map_err(PlotError::from_drawing)?;
        ctx.configure_mesh()
            .x_desc("x[0]")
            .y_desc("x[1]")
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| format_tick(*v))
            .label_style(("sans-serif", 17))
            .axis_desc_style(("sans-serif", 19))
            .bold_line_style(BLACK.mix(0.08))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(PlotError::from_drawing)?;

        let top = chart.levels.len().saturating_sub(1).max(1) as f64;
        for (k, &level) in chart.levels.iter().enumerate() {
            let colour = contour_colour(k as f64 / top);
            let lines = contour_lines(grid, level);
            let drawn = ctx
                .draw_series(
                    lines
                        .into_iter()
                        .map(move |line| PathElement::new(line, colour.stroke_width(1))),
                )
                .map_err(PlotError::from_drawing)?;
            if k == chart.levels.len() / 2 {
                drawn.label("contours of f").legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(1))
                });
            }
        }

        if let (Some(&start), Some(&end)) = (chart.path.first(), chart.path.last()) {
            ctx.draw_series(LineSeries::new(
                chart.path.iter().copied(),
                PATH.stroke_width(2),
            ))
            .map_err(PlotError::from_drawing)?
            .label("path")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], PATH.stroke_width(2)));
            ctx.draw_series([
                Circle::new(start, 7, START.filled()),
                Circle::new(start, 7, BLACK.stroke_width(1)),
            ])
            .map_err(PlotError::from_drawing)?
            .label("start")
            .legend(|(x, y)| Circle::new((x + 12, y), 5, START.filled()));
            ctx.draw_series([
                Circle::new(end, 7, WHITE.filled()),
                Circle::new(end, 7, PATH.stroke_width(3)),
            ])
            .map_err(PlotError::from_drawing)?
            .label("end")
            .legend(|(x, y)| Circle::new((x + 12, y), 5, PATH.stroke_width(3)));
        }
        if !chart.minima.is_empty() {
            ctx.draw_series(
                chart
                    .minima
                    .iter()
                    .map(|&m| Cross::new(m, 7, BLACK.stroke_width(3))),
            )
            .map_err(PlotError::from_drawing)?
            .label("known minimum")
            .legend(|(x, y)| Cross::new((x + 12, y), 5, BLACK.stroke_width(3)));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::contour_levels;

    #[test]
    fn a_sphere_trajectory_has_contours_the_path_and_its_markers() {
        let grid = Grid::evaluate(-2.0..2.0, -2.0..2.0, 60, |x, y| x * x + y * y);
        let levels = contour_levels(&grid, 12);
        let path: Vec<(f64, f64)> = (0..20)
            .map(|k| {
                let s = 0.8f64.powi(k);
                (1.5 * s, -s)
            })
            .collect();
        let chart = TrajectoryChart {
            title: "sphere · sgd",
            note: Some("contours log-spaced"),
            grid: &grid,
            levels: &levels,
            path: &path,
            minima: &[(0.0, 0.0)],
        };
        let svg = render_trajectory(&chart).unwrap();
        let png = render_trajectory_png(&chart).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(svg.starts_with("<svg"));
        assert!(
            svg.matches("<polyline").count() > 12,
            "contours and the path"
        );
        assert!(svg.matches("<circle").count() >= 4, "start and end markers");
        for label in [
            "sphere · sgd",
            "\nstart\n",
            "\nend\n",
            "\nknown minimum\n",
            "\npath\n",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
    }
}
