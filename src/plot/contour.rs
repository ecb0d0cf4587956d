//! Contour lines of a function sampled on a regular grid, by marching squares, joined into
//! polylines so that a level costs a few SVG elements rather than one per grid cell.

use std::collections::HashMap;
use std::ops::Range;

/// f sampled on a regular grid: `values[j * xs.len() + i] = f(xs[i], ys[j])`.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The x coordinates of the columns, increasing.
    pub xs: Vec<f64>,
    /// The y coordinates of the rows, increasing.
    pub ys: Vec<f64>,
    /// The samples, row by row.
    pub values: Vec<f64>,
}

impl Grid {
    /// Samples `f` on `n × n` points spanning the box `x × y` (n ≥ 2).
    pub fn evaluate(
        x: Range<f64>,
        y: Range<f64>,
        n: usize,
        mut f: impl FnMut(f64, f64) -> f64,
    ) -> Self {
        let n = n.max(2);
        let axis = |r: &Range<f64>| -> Vec<f64> {
            (0..n)
                .map(|k| r.start + (r.end - r.start) * k as f64 / (n - 1) as f64)
                .collect()
        };
        let xs = axis(&x);
        let ys = axis(&y);
        let mut values = Vec::with_capacity(n * n);
        for &yj in &ys {
            for &xi in &xs {
                values.push(f(xi, yj));
            }
        }
        Self { xs, ys, values }
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.values[j * self.xs.len() + i]
    }
}

/// `count` contour levels spaced geometrically in f − min f over the grid's finite values, from
/// 10⁻⁴ of the range up to just below its top: valleys (where optimizers spend their time) get
/// as many lines as the walls. Empty when the function is constant or has no finite value.
pub fn contour_levels(grid: &Grid, count: usize) -> Vec<f64> {
    let finite = grid.values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let range = hi - lo;
    if count == 0 || !range.is_finite() || range <= 0.0 {
        return Vec::new();
    }
    let smallest_gap = grid
        .values
        .iter()
        .map(|v| v - lo)
        .filter(|g| g.is_finite() && *g > 0.0)
        .fold(f64::INFINITY, f64::min);
    let bottom = (range * 1e-4).max(smallest_gap).min(range);
    let ratio = range / bottom;
    (0..count)
        .map(|k| lo + bottom * ratio.powf(k as f64 / count as f64))
        .collect()
}

/// Where a crossing lies: on the horizontal edge from (i, j) to (i+1, j) or the vertical edge
/// from (i, j) to (i, j+1). Neighbouring cells name a shared edge alike, which joins segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Edge {
    Horizontal(usize, usize),
    Vertical(usize, usize),
}

/// The polylines where f = `level`, by marching squares (saddle cells resolved by the cell's
/// mean). Cells with a non-finite corner are skipped.
pub fn contour_lines(grid: &Grid, level: f64) -> Vec<Vec<(f64, f64)>> {
    let (nx, ny) = (grid.xs.len(), grid.ys.len());
    let mut points: HashMap<Edge, (f64, f64)> = HashMap::new();
    let mut segments: Vec<(Edge, Edge)> = Vec::new();
    let crossing = |a: f64, b: f64| (a - level) / (a - b);
    for j in 0..ny.saturating_sub(1) {
        for i in 0..nx.saturating_sub(1) {
            // Corners counter-clockwise from the bottom left.
            let v = [
                grid.at(i, j),
                grid.at(i + 1, j),
                grid.at(i + 1, j + 1),
                grid.at(i, j + 1),
            ];
            if v.iter().any(|c| !c.is_finite()) {
                continue;
            }
            let above = v.map(|c| c >= level);
            // Edges: bottom (0–1), right (1–2), top (3–2), left (0–3).
            let edges = [
                (Edge::Horizontal(i, j), 0, 1),
                (Edge::Vertical(i + 1, j), 1, 2),
                (Edge::Horizontal(i, j + 1), 3, 2),
                (Edge::Vertical(i, j), 0, 3),
            ];
            let mut cut = [None; 4];
            for (k, &(edge, a, b)) in edges.iter().enumerate() {
                if above[a] != above[b] {
                    let t = crossing(v[a], v[b]);
                    let point = match edge {
                        Edge::Horizontal(ei, ej) => (
                            grid.xs[ei] + t * (grid.xs[ei + 1] - grid.xs[ei]),
                            grid.ys[ej],
                        ),
                        Edge::Vertical(ei, ej) => (
                            grid.xs[ei],
                            grid.ys[ej] + t * (grid.ys[ej + 1] - grid.ys[ej]),
                        ),
                    };
                    points.entry(edge).or_insert(point);
                    cut[k] = Some(edge);
                }
            }
            match cut {
                [Some(a), Some(b), Some(c), Some(d)] => {
                    // A saddle: corners 0 and 2 are on one side, 1 and 3 on the other. If the
                    // centre sides with corner 0, the lines cut off corners 1 and 3.
                    let centre = v.iter().sum::<f64>() / 4.0 >= level;
                    if centre == above[0] {
                        segments.push((a, b));
                        segments.push((c, d));
                    } else {
                        segments.push((d, a));
                        segments.push((b, c));
                    }
                }
                _ => {
                    let mut ends = cut.iter().flatten();
                    if let (Some(&a), Some(&b)) = (ends.next(), ends.next()) {
                        segments.push((a, b));
                    }
                }
            }
        }
    }
    join(&segments)
        .into_iter()
        .map(|chain| chain.iter().map(|e| points[e]).collect())
        .collect()
}

/// Joins segments that share an edge into maximal chains.
fn join(segments: &[(Edge, Edge)]) -> Vec<Vec<Edge>> {
    let mut touching: HashMap<Edge, Vec<usize>> = HashMap::new();
    for (s, &(a, b)) in segments.iter().enumerate() {
        touching.entry(a).or_default().push(s);
        touching.entry(b).or_default().push(s);
    }
    let mut used = vec![false; segments.len()];
    let mut chains = Vec::new();
    for start in 0..segments.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let (a, b) = segments[start];
        let mut forward = vec![a, b];
        extend(&mut forward, segments, &touching, &mut used);
        let mut backward = vec![a];
        extend(&mut backward, segments, &touching, &mut used);
        backward.reverse();
        backward.extend_from_slice(&forward[1..]);
        chains.push(backward);
    }
    chains
}

/// Follows unused segments from the chain's last edge.
fn extend(
    chain: &mut Vec<Edge>,
    segments: &[(Edge, Edge)],
    touching: &HashMap<Edge, Vec<usize>>,
    used: &mut [bool],
) {
    while let Some(&end) = chain.last() {
        let next = touching[&end].iter().copied().find(|&s| !used[s]);
        let Some(s) = next else { break };
        used[s] = true;
        let (a, b) = segments[s];
        chain.push(if a == end { b } else { a });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_circle_of_the_sphere_function_is_one_closed_line_at_the_right_radius() {
        let grid = Grid::evaluate(-2.0..2.0, -2.0..2.0, 81, |x, y| x * x + y * y);
        let lines = contour_lines(&grid, 1.0);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line.first(), line.last(), "the circle closes");
        for (x, y) in line {
            let r = (x * x + y * y).sqrt();
            assert!((r - 1.0).abs() < 0.01, "radius {r}");
        }
    }

    #[test]
    fn levels_are_geometric_above_the_minimum_and_below_the_maximum() {
        let grid = Grid::evaluate(-1.0..1.0, -1.0..1.0, 21, |x, y| x * x + y * y + 3.0);
        let levels = contour_levels(&grid, 10);
        assert_eq!(levels.len(), 10);
        assert!(levels[0] > 3.0);
        assert!(*levels.last().unwrap() < 5.0);
        let gaps: Vec<f64> = levels.iter().map(|l| l - 3.0).collect();
        let ratio = gaps[1] / gaps[0];
        for w in gaps.windows(2) {
            assert!((w[1] / w[0] - ratio).abs() < 1e-9);
        }
        let flat = Grid::evaluate(0.0..1.0, 0.0..1.0, 5, |_, _| 2.0);
        assert!(contour_levels(&flat, 10).is_empty());
    }
}
