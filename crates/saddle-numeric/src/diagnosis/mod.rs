//! Which landscape feature a run ended in (issue 6): the point's classification from its
//! gradient and Hessian spectrum ([`diagnose`]), the plateaus and saddle escapes along the
//! way ([`EpisodeDetector`]) and whether the problem is convex at all ([`convexity()`]).
//!
//! Second-order information comes from [`Objective::hessian_vector_product`] when the
//! objective has it and from finite differences of gradients otherwise ([`HvpOracle`]), so
//! every objective, models included, can be diagnosed.
//!
//! Why it matters: in high dimensions most critical points are saddles, and first-order
//! methods slow down near them into long plateaus before escaping (Dauphin et al.,
//! "Identifying and attacking the saddle point problem in high-dimensional non-convex
//! optimization", NeurIPS 2014) — exactly what a user watching a stalled run wants named.

pub mod convexity;
pub mod eigen;
pub mod episodes;
pub mod hvp;
pub mod passage;

pub use convexity::{
    convexity, convexity_of, Convexity, ConvexityBasis, ConvexityOptions, ConvexityReport,
    ConvexityWitness, ProblemFamily, SampleRegion,
};
pub use eigen::{
    hessian_spectrum, jacobi_eigen, lanczos, HessianSpectrum, LanczosResult, SpectrumOptions,
    SymmetricEigen,
};
pub use episodes::{Episode, EpisodeConfig, EpisodeDetector, EpisodeFindings, EpisodeKind};
pub use hvp::{HessianSource, HvpOracle};
pub use passage::{confirm_passages, Passage};

use serde::{Deserialize, Serialize};

use crate::data::rng::Rng;
use crate::error::{check_min, InvalidConfig};
use crate::problem::Objective;
use crate::vecmath::{all_finite, norm2};

/// The largest `dense_max_dim` accepted: Jacobi costs O(n³) per sweep.
pub const MAX_DENSE_DIM: usize = 512;

/// The largest `lanczos_iterations` accepted: each costs a Hessian-vector product and the
/// reorthogonalization O(k·n).
pub const MAX_LANCZOS_ITERATIONS: usize = 1000;

/// The kind of point a run ended at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Stationary, f rises in every direction.
    LocalMinimum,
    /// Stationary, f falls in some direction (see `escape_direction`).
    SaddlePoint,
    /// Stationary, f falls in every direction.
    LocalMaximum,
    /// Gradient and curvature negligible and f constant within the probe radius: a plateau.
    FlatRegion,
    /// The gradient is not negligible: the run stopped before reaching a stationary point.
    NotStationary,
}

/// Tolerances and budgets of [`diagnose`]. Tolerances are relative: with f_s the scale of f
/// and x_s the scale of x, the gradient counts as zero below `grad_tol`·f_s/x_s, an
/// eigenvalue as zero within ±`curvature_tol`·f_s/x_s², and f as constant when it changes
/// by at most `flat_tol`·f_s over the probe sphere of radius `probe_radius`·x_s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"grad_tol": 1e-4, "curvature_tol": 1e-4, "f_scale": 31.0})))]
#[serde(default, deny_unknown_fields)]
pub struct DiagnosisOptions {
    /// Relative gradient-norm tolerance (stationarity).
    pub grad_tol: f64,
    /// Relative eigenvalue tolerance (zero curvature).
    pub curvature_tol: f64,
    /// Relative change of f on the probe sphere below which the region is flat.
    pub flat_tol: f64,
    /// Radius of the higher-order probe, relative to the scale of x.
    pub probe_radius: f64,
    /// Random directions within the Hessian's near-null space that the probe tries besides
    /// its eigenvectors (each direction is tried with both signs).
    pub probe_directions: usize,
    /// The scale of f; default max(|f(x)|, 1). The service may pass |f(x₀)| of the run.
    pub f_scale: Option<f64>,
    /// The scale of x; default max(‖x‖₂, 1).
    pub x_scale: Option<f64>,
    /// Up to this dimension the Hessian is built in full and its spectrum is exact.
    pub dense_max_dim: usize,
    /// Lanczos steps for larger dimensions (each one Hessian-vector product).
    pub lanczos_iterations: usize,
    /// Seed of the Lanczos start vector and of the probe's random directions.
    pub seed: u64,
}

impl Default for DiagnosisOptions {
    fn default() -> Self {
        Self {
            grad_tol: 1e-4,
            curvature_tol: 1e-4,
            flat_tol: 1e-4,
            probe_radius: 0.1,
            probe_directions: 8,
            f_scale: None,
            x_scale: None,
            dense_max_dim: 64,
            lanczos_iterations: 60,
            seed: 0,
        }
    }
}

impl DiagnosisOptions {
    /// Rejects non-finite or non-positive tolerances and scales, naming the field as
    /// `diagnosis.<field>`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        for (field, value) in [
            ("grad_tol", self.grad_tol),
            ("curvature_tol", self.curvature_tol),
            ("flat_tol", self.flat_tol),
        ] {
            check_min(&format!("diagnosis.{field}"), value, 0.0)?;
        }
        for (field, value) in [
            ("probe_radius", Some(self.probe_radius)),
            ("f_scale", self.f_scale),
            ("x_scale", self.x_scale),
        ] {
            if let Some(v) = value {
                if !(v.is_finite() && v > 0.0) {
                    return Err(InvalidConfig::new(
                        format!("diagnosis.{field}"),
                        format!("must be a finite number > 0, got {v}"),
                    ));
                }
            }
        }
        if !(2..=MAX_LANCZOS_ITERATIONS).contains(&self.lanczos_iterations) {
            return Err(InvalidConfig::new(
                "diagnosis.lanczos_iterations",
                format!(
                    "must be between 2 and {MAX_LANCZOS_ITERATIONS}, got {}",
                    self.lanczos_iterations
                ),
            ));
        }
        if self.dense_max_dim > MAX_DENSE_DIM {
            return Err(InvalidConfig::new(
                "diagnosis.dense_max_dim",
                format!(
                    "must be at most {MAX_DENSE_DIM} (the dense eigensolver costs O(n³)), got {}",
                    self.dense_max_dim
                ),
            ));
        }
        Ok(())
    }
}

/// What the higher-order probe saw: f(x + r·d) − f(x) over unit directions d.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"radius": 0.1, "directions": 14, "min_change": -0.001, "max_change": 0.001})))]
pub struct ProbeSummary {
    /// The radius r.
    pub radius: f64,
    /// The number of directions tried.
    pub directions: usize,
    /// The lowest f(x + r·d) − f(x).
    pub min_change: f64,
    /// The highest f(x + r·d) − f(x).
    pub max_change: f64,
}

/// The landscape feature at a point, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "feature": "saddle_point", "degenerate": false, "value": 0.0, "grad_norm": 0.0,
    "grad_tol": 1e-4, "curvature_tol": 1e-4, "min_eigenvalue": -2.0, "max_eigenvalue": 2.0,
    "morse_index": 1, "spectrum_exact": true, "hessian_source": "exact",
    "hessian_products": 2, "escape_direction": [0.0, 1.0], "probe": null
})))]
pub struct Diagnosis {
    /// What kind of point this is.
    pub feature: Feature,
    /// The Hessian is singular within tolerance, so the verdict comes from the higher-order
    /// probe rather than the eigenvalues (e.g. the monkey saddle x³ − 3xy² at the origin).
    pub degenerate: bool,
    /// f(x).
    pub value: f64,
    /// ‖∇f(x)‖₂.
    pub grad_norm: f64,
    /// The absolute gradient tolerance used (`grad_tol`·f_s/x_s).
    pub grad_tol: f64,
    /// The absolute eigenvalue tolerance used (`curvature_tol`·f_s/x_s²).
    pub curvature_tol: f64,
    /// The smallest Hessian eigenvalue (an upper-bound estimate unless `spectrum_exact`).
    pub min_eigenvalue: f64,
    /// The largest Hessian eigenvalue (a lower-bound estimate unless `spectrum_exact`).
    pub max_eigenvalue: f64,
    /// Eigenvalues below −`curvature_tol`: the Morse index, a lower bound unless
    /// `spectrum_exact`.
    pub morse_index: usize,
    /// Whether the whole spectrum was computed (n ≤ `dense_max_dim`).
    pub spectrum_exact: bool,
    /// Exact second derivatives or finite differences of gradients.
    pub hessian_source: HessianSource,
    /// Hessian-vector products made.
    pub hessian_products: usize,
    /// For saddles and maxima: a unit direction along which f decreases (the eigenvector of
    /// the most negative eigenvalue, its largest component positive; for degenerate points
    /// the probe direction with the largest decrease).
    pub escape_direction: Option<Vec<f64>>,
    /// The higher-order probe, when the Hessian was singular within tolerance.
    pub probe: Option<ProbeSummary>,
}

/// Why a point cannot be diagnosed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiagnosisError {
    /// `x` does not have the objective's dimension.
    #[error("the point has {got} coordinates but the objective has {expected}")]
    DimensionMismatch {
        /// The objective's n.
        expected: usize,
        /// x's length.
        got: usize,
    },
    /// The objective has no parameters.
    #[error("the objective has no parameters")]
    NoParameters,
    /// f, ∇f or the Hessian at (or near) `x` is not finite: e.g. a diverged run.
    #[error("{0} is not finite at the point")]
    NonFinite(&'static str),
}

/// Classifies `x`: not stationary when ‖∇f‖ exceeds the gradient tolerance; otherwise by the
/// Hessian's extreme eigenvalues (minimum: all > tol, maximum: all < −tol, saddle: some
/// < −tol with its index and escape direction); when the smallest eigenvalue is zero within
/// tolerance, f is sampled on a sphere around x within the Hessian's near-null space (the
/// eigenvectors with |λ| ≤ tol and seeded random combinations of them; with Lanczos only
/// the softest Ritz vector), where the quadratic model says nothing: constant → flat region,
/// some decrease → degenerate saddle (all decrease → degenerate maximum), otherwise a
/// degenerate minimum. Directions of clear positive curvature are left out, so a large
/// probe radius cannot mistake a neighbouring basin for an escape.
///
/// Costs one gradient, n Hessian-vector products (n ≤ `dense_max_dim`, else
/// `lanczos_iterations`; two gradients each by finite differences) and, for singular
/// Hessians, up to 2·(n + `probe_directions`) values.
pub fn diagnose(
    objective: &mut dyn Objective,
    x: &[f64],
    options: &DiagnosisOptions,
) -> Result<Diagnosis, DiagnosisError> {
    let n = objective.dim();
    if n == 0 {
        return Err(DiagnosisError::NoParameters);
    }
    if x.len() != n {
        return Err(DiagnosisError::DimensionMismatch {
            expected: n,
            got: x.len(),
        });
    }
    let mut grad = vec![0.0; n];
    let value = objective.value_and_grad(x, &mut grad);
    if !value.is_finite() {
        return Err(DiagnosisError::NonFinite("f"));
    }
    if !all_finite(&grad) {
        return Err(DiagnosisError::NonFinite("the gradient"));
    }
    let grad_norm = norm2(&grad);
    let f_scale = options.f_scale.unwrap_or(value.abs().max(1.0));
    let x_scale = options.x_scale.unwrap_or(norm2(x).max(1.0));
    let grad_tol = options.grad_tol * f_scale / x_scale;
    let curvature_tol = options.curvature_tol * f_scale / (x_scale * x_scale);

    let spectrum = hessian_spectrum(
        objective,
        x,
        curvature_tol,
        &SpectrumOptions {
            dense_max_dim: options.dense_max_dim,
            lanczos_iterations: options.lanczos_iterations,
            seed: options.seed,
        },
    );
    if !(spectrum.min_eigenvalue.is_finite()
        && spectrum.max_eigenvalue.is_finite()
        && all_finite(&spectrum.min_eigenvector))
    {
        return Err(DiagnosisError::NonFinite("the Hessian"));
    }
    let mut diagnosis = Diagnosis {
        feature: Feature::NotStationary,
        degenerate: false,
        value,
        grad_norm,
        grad_tol,
        curvature_tol,
        min_eigenvalue: spectrum.min_eigenvalue,
        max_eigenvalue: spectrum.max_eigenvalue,
        morse_index: spectrum.negative_count,
        spectrum_exact: spectrum.exact,
        hessian_source: spectrum.source,
        hessian_products: spectrum.products,
        escape_direction: None,
        probe: None,
    };
    if grad_norm > grad_tol {
        return Ok(diagnosis);
    }
    let (lo, hi) = (spectrum.min_eigenvalue, spectrum.max_eigenvalue);
    if lo < -curvature_tol {
        diagnosis.feature = if hi < -curvature_tol {
            Feature::LocalMaximum
        } else {
            Feature::SaddlePoint
        };
        diagnosis.escape_direction = Some(spectrum.min_eigenvector);
        return Ok(diagnosis);
    }
    if lo > curvature_tol {
        diagnosis.feature = Feature::LocalMinimum;
        return Ok(diagnosis);
    }

    // Singular within tolerance: the quadratic model cannot decide, sample f itself.
    let radius = options.probe_radius * x_scale;
    let threshold = options.flat_tol * f_scale;
    let null_space: Vec<Vec<f64>> = match &spectrum.eigen {
        Some(eig) => (0..n)
            .filter(|&k| eig.values[k].abs() <= curvature_tol)
            .map(|k| eig.vector(k))
            .collect(),
        None => vec![spectrum.min_eigenvector.clone()],
    };
    let probe = probe_sphere(
        objective,
        x,
        value,
        radius,
        threshold,
        &null_space,
        options.probe_directions,
        options.seed,
    );
    diagnosis.degenerate = true;
    diagnosis.feature = if probe.max_change.abs() <= threshold
        && probe.min_change.abs() <= threshold
        && hi <= curvature_tol
    {
        Feature::FlatRegion
    } else if probe.min_change < -threshold {
        diagnosis.escape_direction = Some(probe.steepest);
        if probe.all_decrease {
            Feature::LocalMaximum
        } else {
            Feature::SaddlePoint
        }
    } else {
        Feature::LocalMinimum
    };
    diagnosis.probe = Some(ProbeSummary {
        radius,
        directions: probe.directions,
        min_change: probe.min_change,
        max_change: probe.max_change,
    });
    Ok(diagnosis)
}

/// The probe's raw findings.
struct ProbeOutcome {
    directions: usize,
    min_change: f64,
    max_change: f64,
    steepest: Vec<f64>,
    all_decrease: bool,
}

/// Evaluates f(x + r·d) − f(x) for d = ± each vector of the orthonormal `basis` and ±
/// `random` seeded unit combinations of them (when the basis has more than one vector);
/// non-finite values are skipped.
#[allow(clippy::too_many_arguments)]
fn probe_sphere(
    objective: &mut dyn Objective,
    x: &[f64],
    value: f64,
    radius: f64,
    threshold: f64,
    basis: &[Vec<f64>],
    random: usize,
    seed: u64,
) -> ProbeOutcome {
    let n = x.len();
    let mut rng = Rng::derived(seed, 0x0050_524f_4245);
    let mut direction = vec![0.0; n];
    let mut point = vec![0.0; n];
    let mut outcome = ProbeOutcome {
        directions: 0,
        min_change: f64::INFINITY,
        max_change: f64::NEG_INFINITY,
        steepest: vec![0.0; n],
        all_decrease: true,
    };
    let combinations = if basis.len() > 1 { random } else { 0 };
    for k in 0..basis.len() + combinations {
        if let Some(v) = basis.get(k) {
            direction.copy_from_slice(v);
        } else {
            direction.fill(0.0);
            for v in basis {
                let c = rng.normal();
                direction.iter_mut().zip(v).for_each(|(d, vi)| *d += c * vi);
            }
            let norm = norm2(&direction);
            if norm == 0.0 {
                continue;
            }
            direction.iter_mut().for_each(|d| *d /= norm);
        }
        for sign in [1.0, -1.0] {
            for ((p, xi), di) in point.iter_mut().zip(x).zip(&direction) {
                *p = xi + sign * radius * di;
            }
            let change = objective.value(&point) - value;
            if !change.is_finite() {
                continue;
            }
            outcome.directions += 1;
            outcome.max_change = outcome.max_change.max(change);
            outcome.all_decrease &= change < -threshold;
            if change < outcome.min_change {
                outcome.min_change = change;
                outcome
                    .steepest
                    .iter_mut()
                    .zip(&direction)
                    .for_each(|(s, d)| *s = sign * d);
            }
        }
    }
    if outcome.directions == 0 {
        outcome.min_change = 0.0;
        outcome.max_change = 0.0;
        outcome.all_decrease = false;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::Rosenbrock;
    use crate::problem::FnObjective;

    fn diagnose_fn(
        n: usize,
        f: impl FnMut(&[f64], &mut [f64]) -> f64 + Send,
        x: &[f64],
    ) -> Diagnosis {
        diagnose(&mut FnObjective::new(n, f), x, &DiagnosisOptions::default()).unwrap()
    }

    #[test]
    fn x_squared_minus_y_squared_is_a_saddle_of_index_one_escaping_along_y() {
        let d = diagnose_fn(
            2,
            |x, g| {
                g[0] = 2.0 * x[0];
                g[1] = -2.0 * x[1];
                x[0] * x[0] - x[1] * x[1]
            },
            &[0.0, 0.0],
        );
        assert_eq!(d.feature, Feature::SaddlePoint);
        assert!(!d.degenerate);
        assert_eq!(d.morse_index, 1);
        assert!(d.spectrum_exact);
        assert_eq!(d.hessian_source, HessianSource::FiniteDifferences);
        assert!((d.min_eigenvalue + 2.0).abs() < 1e-8 && (d.max_eigenvalue - 2.0).abs() < 1e-8);
        let e = d.escape_direction.unwrap();
        assert!(e[0].abs() < 1e-8 && (e[1] - 1.0).abs() < 1e-8, "{e:?}");
    }

    #[test]
    fn x_squared_plus_y_squared_is_a_minimum() {
        let d = diagnose_fn(
            2,
            |x, g| {
                g[0] = 2.0 * x[0];
                g[1] = 2.0 * x[1];
                x[0] * x[0] + x[1] * x[1]
            },
            &[0.0, 0.0],
        );
        assert_eq!(d.feature, Feature::LocalMinimum);
        assert_eq!(d.morse_index, 0);
        assert!(d.escape_direction.is_none());
    }

    #[test]
    fn minus_x_squared_minus_y_squared_is_a_maximum() {
        let d = diagnose_fn(
            2,
            |x, g| {
                g[0] = -2.0 * x[0];
                g[1] = -2.0 * x[1];
                -x[0] * x[0] - x[1] * x[1]
            },
            &[0.0, 0.0],
        );
        assert_eq!(d.feature, Feature::LocalMaximum);
        assert_eq!(d.morse_index, 2);
    }

    #[test]
    fn the_far_side_of_a_gaussian_well_is_a_flat_region() {
        // f = 1 − exp(−‖x‖²) at (3, 3): ‖∇f‖ ≈ 1.3e-7, eigenvalues ≈ 3e-8 and −1.1e-6.
        let d = diagnose_fn(
            2,
            |x, g| {
                let e = (-(x[0] * x[0] + x[1] * x[1])).exp();
                g[0] = 2.0 * x[0] * e;
                g[1] = 2.0 * x[1] * e;
                1.0 - e
            },
            &[3.0, 3.0],
        );
        assert_eq!(d.feature, Feature::FlatRegion, "{d:?}");
        assert!(d.degenerate);
        let probe = d.probe.unwrap();
        assert!(probe.max_change.abs() < 1e-6 && probe.min_change.abs() < 1e-6);
    }

    #[test]
    fn the_monkey_saddle_is_a_degenerate_saddle_not_a_minimum() {
        // f = x³ − 3xy²: gradient and Hessian vanish at the origin; f = r³·cos 3θ.
        let d = diagnose_fn(
            2,
            |x, g| {
                g[0] = 3.0 * x[0] * x[0] - 3.0 * x[1] * x[1];
                g[1] = -6.0 * x[0] * x[1];
                x[0].powi(3) - 3.0 * x[0] * x[1] * x[1]
            },
            &[0.0, 0.0],
        );
        assert_eq!(d.feature, Feature::SaddlePoint, "{d:?}");
        assert!(d.degenerate);
        assert_eq!(d.morse_index, 0);
        let e = d.escape_direction.unwrap();
        let along = e[0].powi(3) - 3.0 * e[0] * e[1] * e[1];
        assert!(
            along < -0.9,
            "f falls along the escape direction as r³·{along}"
        );
        assert!(d.probe.unwrap().min_change < -9e-4);
    }

    #[test]
    fn a_quartic_bowl_is_a_degenerate_minimum() {
        // x⁴ + y⁴: singular Hessian at the origin, but f rises in every direction.
        let d = diagnose(
            &mut FnObjective::new(2, |x: &[f64], g: &mut [f64]| {
                g[0] = 4.0 * x[0].powi(3);
                g[1] = 4.0 * x[1].powi(3);
                x[0].powi(4) + x[1].powi(4)
            }),
            &[0.0, 0.0],
            &DiagnosisOptions {
                flat_tol: 1e-6,
                ..DiagnosisOptions::default()
            },
        )
        .unwrap();
        assert_eq!(d.feature, Feature::LocalMinimum);
        assert!(d.degenerate);
    }

    #[test]
    fn a_degenerate_minimum_beside_a_deeper_basin_is_not_mistaken_for_a_saddle() {
        // f = x⁴ + y² − 20y³: ∇²f(0) = diag(0, 2), a strict local minimum, yet f(0, 0.1) =
        // −0.01. The probe stays in the null space (the x axis), where f rises as x⁴.
        let d = diagnose_fn(
            2,
            |x, g| {
                g[0] = 4.0 * x[0].powi(3);
                g[1] = 2.0 * x[1] - 60.0 * x[1] * x[1];
                x[0].powi(4) + x[1] * x[1] - 20.0 * x[1].powi(3)
            },
            &[0.0, 0.0],
        );
        assert_eq!(d.feature, Feature::LocalMinimum, "{d:?}");
        assert!(d.degenerate);
        assert_eq!(d.probe.unwrap().directions, 2);
    }

    #[test]
    fn rosenbrock_is_a_minimum_at_one_one() {
        let d = diagnose(
            &mut Rosenbrock { dim: 2 },
            &[1.0, 1.0],
            &DiagnosisOptions::default(),
        )
        .unwrap();
        assert_eq!(d.feature, Feature::LocalMinimum);
        assert_eq!(d.hessian_source, HessianSource::Exact);
        // ∇²f(1, 1) = [[802, −400], [−400, 200]]: eigenvalues 501 ∓ √(301² + 400²).
        let root = (301.0f64 * 301.0 + 400.0 * 400.0).sqrt();
        assert!((d.min_eigenvalue - (501.0 - root)).abs() < 1e-9);
        assert!((d.max_eigenvalue - (501.0 + root)).abs() < 1e-9);
    }

    #[test]
    fn rosenbrock_far_from_its_minimum_is_not_stationary() {
        let d = diagnose(
            &mut Rosenbrock { dim: 2 },
            &[-1.5, 2.0],
            &DiagnosisOptions::default(),
        )
        .unwrap();
        assert_eq!(d.feature, Feature::NotStationary);
        assert!(d.grad_norm > d.grad_tol);
    }

    #[test]
    fn a_large_saddle_is_classified_through_lanczos() {
        // f = Σ cᵢxᵢ² with c = (−1, 1, 2, …): a saddle of index 1 in 100 dimensions.
        let n = 100;
        let coef: Vec<f64> = (0..n)
            .map(|i| if i == 0 { -1.0 } else { i as f64 })
            .collect();
        let d = diagnose_fn(
            n,
            move |x, g| {
                let mut f = 0.0;
                for i in 0..x.len() {
                    g[i] = 2.0 * coef[i] * x[i];
                    f += coef[i] * x[i] * x[i];
                }
                f
            },
            &vec![0.0; n],
        );
        assert_eq!(d.feature, Feature::SaddlePoint);
        assert!(!d.spectrum_exact);
        assert_eq!(d.morse_index, 1);
        assert!((d.min_eigenvalue + 2.0).abs() < 1e-6);
        assert!(d.escape_direction.unwrap()[0] > 1.0 - 1e-6);
    }

    #[test]
    fn a_diverged_point_is_refused() {
        let mut f = FnObjective::new(1, |_: &[f64], g: &mut [f64]| {
            g[0] = f64::NAN;
            f64::INFINITY
        });
        let err = diagnose(&mut f, &[0.0], &DiagnosisOptions::default()).unwrap_err();
        assert_eq!(err, DiagnosisError::NonFinite("f"));
    }

    #[test]
    fn the_diagnosis_serializes_with_snake_case_names() {
        let d = diagnose_fn(
            1,
            |x, g| {
                g[0] = 2.0 * x[0];
                x[0] * x[0]
            },
            &[0.0],
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["feature"], "local_minimum");
        assert_eq!(json["hessian_source"], "finite_differences");
    }

    /// f = x² + y⁴/4 − y²/2: a saddle at the origin (∇² = diag(2, −1)), minima at (0, ±1).
    fn double_well(x: &[f64], g: &mut [f64]) -> f64 {
        let (a, b) = (x[0], x[1]);
        g[0] = 2.0 * a;
        g[1] = b * b * b - b;
        a * a + 0.25 * b.powi(4) - 0.5 * b * b
    }

    /// Gradient descent (lr 0.1) from `x0`, feeding every record to an episode detector.
    fn descend(x0: &[f64], steps: u64) -> (crate::RunOutcome, Vec<Episode>) {
        use crate::optim::{OptimizerConfig, SgdConfig};
        use crate::schedule::Constant;
        use crate::{Executor, StepRecord, StopRule};
        let mut executor = Executor::new(
            Box::new(FnObjective::new(2, double_well)),
            OptimizerConfig::Sgd(SgdConfig {
                lr: 0.1,
                ..Default::default()
            })
            .build(2),
            Box::new(Constant::new(0.1)),
            StopRule {
                max_steps: steps,
                ..Default::default()
            },
        );
        let mut detector = EpisodeDetector::new(EpisodeConfig::default());
        let outcome = executor.run(x0, &mut |r: &StepRecord<'_>| {
            detector.observe(r.step, r.loss, r.grad_norm, r.params);
            true
        });
        (outcome, detector.finish().episodes)
    }

    #[test]
    fn gradient_descent_past_a_saddle_shows_a_plateau_an_escape_and_ends_at_a_minimum() {
        let (outcome, episodes) = descend(&[1.0, 1e-8], 400);
        let kinds: Vec<_> = episodes.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EpisodeKind::Plateau,
                EpisodeKind::SaddleEscape,
                EpisodeKind::Plateau
            ],
            "{episodes:?}"
        );
        // ‖∇f‖ ≤ 0.02 once 2·0.8ᵏ ≤ 0.02 (k = 21); y grows by 1.1 per step from 1e-8 and the
        // gradient exceeds 0.04 again near k = 160; the loss then falls below −0.1.
        let (plateau, escape) = (&episodes[0], &episodes[1]);
        assert_eq!(plateau.start_step, 21);
        assert!((150..170).contains(&plateau.end_step), "{plateau:?}");
        assert_eq!(escape.left_at_step, Some(plateau.end_step + 1));
        assert!(escape.end_step > plateau.end_step && escape.loss_at_end <= -0.1);
        assert_eq!(episodes[2].left_at_step, None);

        let d = diagnose(
            &mut FnObjective::new(2, double_well),
            &outcome.final_params,
            &DiagnosisOptions::default(),
        )
        .unwrap();
        assert_eq!(d.feature, Feature::LocalMinimum, "{d:?}");
    }

    #[test]
    fn gradient_descent_along_the_stable_manifold_ends_at_the_saddle() {
        let (outcome, episodes) = descend(&[1.0, 0.0], 300);
        assert_eq!(episodes.len(), 1);
        assert_eq!(episodes[0].left_at_step, None);
        let d = diagnose(
            &mut FnObjective::new(2, double_well),
            &outcome.final_params,
            &DiagnosisOptions::default(),
        )
        .unwrap();
        assert_eq!(d.feature, Feature::SaddlePoint);
        assert_eq!(d.morse_index, 1);
        assert_eq!(d.escape_direction.unwrap(), vec![0.0, 1.0]);
    }

    /// An MLP on XOR, full batch, at its seeded torch-default initialization.
    fn xor_network(hidden: serde_json::Value) -> (Box<dyn Objective>, Vec<f64>) {
        use crate::problem::{Initial, ProblemConfig};
        use serde_json::json;
        let config: ProblemConfig = serde_json::from_value(json!({
            "kind": "model",
            "model": {"type": "mlp", "hidden": hidden, "activation": "tanh"},
            "data": {
                "features": [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
                "targets": [0.0, 1.0, 1.0, 0.0]
            }
        }))
        .unwrap();
        let initial: Initial =
            serde_json::from_value(json!({"init": "torch_default", "seed": 3})).unwrap();
        config.build(&initial).unwrap()
    }

    #[test]
    fn a_network_model_is_diagnosed_and_refuted_convex_through_finite_differences() {
        let (mut net, x0) = xor_network(serde_json::json!([6]));
        assert_eq!(x0.len(), 25);
        let d = diagnose(net.as_mut(), &x0, &DiagnosisOptions::default()).unwrap();
        assert_eq!(d.hessian_source, HessianSource::FiniteDifferences);
        assert!(d.spectrum_exact);
        assert_eq!(d.hessian_products, 25);
        assert!(d.min_eigenvalue <= d.max_eigenvalue);

        let report = convexity(
            net.as_mut(),
            ProblemFamily::General,
            &ConvexityOptions::new(SampleRegion::Around {
                points: vec![x0],
                radius: 1.0,
            }),
        )
        .unwrap();
        assert_eq!(report.verdict, Convexity::Nonconvex);
        assert!(report.witness.unwrap().eigenvalue < 0.0);
    }

    #[test]
    fn a_wide_network_is_diagnosed_by_lanczos() {
        let (mut net, x0) = xor_network(serde_json::json!([16, 16]));
        assert_eq!(x0.len(), 337);
        let d = diagnose(net.as_mut(), &x0, &DiagnosisOptions::default()).unwrap();
        assert!(!d.spectrum_exact);
        assert_eq!(d.hessian_products, 60);
        assert!(d.min_eigenvalue.is_finite() && d.min_eigenvalue <= d.max_eigenvalue);
    }

    #[test]
    fn options_reject_a_negative_tolerance_naming_the_field() {
        let err = DiagnosisOptions {
            curvature_tol: -1.0,
            ..DiagnosisOptions::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "diagnosis.curvature_tol");
    }
}
