//! Is the problem convex? Exact for quadratics, by construction for the models the caller
//! knows to be convex, and only ever refuted (never proved) by sampling otherwise.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::eigen::{hessian_spectrum, jacobi_eigen, lanczos, normalize_with_sign, SpectrumOptions};
use super::hvp::{HessianSource, HvpOracle};
use crate::data::rng::Rng;
use crate::error::InvalidConfig;
use crate::model::ModelSpec;
use crate::problem::{Objective, ProblemConfig};
use crate::vecmath::{all_finite, norm2};

/// Quadratics up to this dimension get their exact spectrum by Jacobi; larger ones a
/// Cholesky factorization (and Lanczos for the witness).
pub const QUADRATIC_JACOBI_MAX_DIM: usize = 256;

/// What the caller knows about the problem's structure.
#[derive(Debug, Clone, Copy)]
pub enum ProblemFamily<'a> {
    /// f = ½xᵀAx − bᵀx (+ const) with this A: convex iff A is positive semidefinite.
    Quadratic(ArrayView2<'a, f64>),
    /// Convex by construction: linear/least-squares models with convex losses (MSE, logistic,
    /// softmax cross-entropy) and convex regularizers.
    ConvexByConstruction,
    /// Anything else: expressions, networks. Sampling can only refute convexity.
    General,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Convexity {
    /// Proven convex (quadratic spectrum or construction).
    Convex,
    /// Proven nonconvex: the witness has a clearly negative Hessian eigenvalue.
    Nonconvex,
    /// No negative curvature found at the sampled points, which proves nothing.
    Unknown,
}

/// How the verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConvexityBasis {
    /// The eigenvalues (or a Cholesky factorization) of the quadratic's matrix A.
    QuadraticMatrix,
    /// The caller's word that the problem is convex by construction.
    Construction,
    /// Hessian spectra at sampled points.
    Sampling,
}

/// A point where the Hessian has a negative eigenvalue, with its eigenvector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"point": [0.0, 0.0], "eigenvalue": -1.0, "direction": [0.0, 1.0]})))]
pub struct ConvexityWitness {
    /// The point (for a quadratic, whose Hessian is the same everywhere: the origin).
    pub point: Vec<f64>,
    /// The negative eigenvalue.
    pub eigenvalue: f64,
    /// Its unit eigenvector, largest component positive: f is concave along it.
    pub direction: Vec<f64>,
}

/// The convexity verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "verdict": "nonconvex", "basis": "sampling", "points_checked": 3, "min_eigenvalue": -1.0,
    "witness": {"point": [0.5, -1.0], "eigenvalue": -1.0, "direction": [0.0, 1.0]}
})))]
pub struct ConvexityReport {
    /// Convex, nonconvex or unknown.
    pub verdict: Convexity,
    /// What the verdict rests on.
    pub basis: ConvexityBasis,
    /// Points whose Hessian was examined (0 for construction and quadratics).
    pub points_checked: usize,
    /// The smallest eigenvalue seen (`None` for construction, and for large convex
    /// quadratics, which are checked by Cholesky).
    pub min_eigenvalue: Option<f64>,
    /// For a nonconvex verdict: where and along which direction f curves down.
    pub witness: Option<ConvexityWitness>,
}

/// Where [`convexity`] samples general objectives.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleRegion {
    /// Uniformly in the box lower ≤ x ≤ upper.
    Box {
        /// Lower corner (length n).
        lower: Vec<f64>,
        /// Upper corner (length n).
        upper: Vec<f64>,
    },
    /// The given points themselves, then points at a uniform distance in [0, `radius`] in a
    /// uniform random direction from them (taken in turn).
    Around {
        /// Centres, e.g. the run's initial and final points (each of length n).
        points: Vec<Vec<f64>>,
        /// The largest distance from a centre.
        radius: f64,
    },
}

impl SampleRegion {
    /// Around a run: its start and end points, within the larger of 1 and the distance
    /// between them.
    pub fn around_run(x0: &[f64], x_final: &[f64]) -> Self {
        let distance = x0
            .iter()
            .zip(x_final)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        SampleRegion::Around {
            points: vec![x0.to_vec(), x_final.to_vec()],
            radius: distance.max(1.0),
        }
    }
}

/// Sampling budget and tolerances of [`convexity`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConvexityOptions {
    /// Where to sample general objectives.
    pub region: SampleRegion,
    /// How many points to examine (each costs one Hessian spectrum).
    pub samples: usize,
    /// Seed of the sampled points (and of Lanczos).
    pub seed: u64,
    /// An eigenvalue is clearly negative below −(`tol`·max|λ| + noise), noise being the
    /// finite-difference rounding floor 10³·ε·(1 + ‖∇f‖)/h when the Hessian is not exact.
    /// For quadratics: A is PSD when λ_min ≥ −`tol`·max|λ|.
    pub tol: f64,
    /// Dimension and Lanczos budget of each spectrum.
    pub spectrum: SpectrumOptions,
}

impl ConvexityOptions {
    /// Defaults (16 samples, seed 0, tol 10⁻⁶) for a region.
    pub fn new(region: SampleRegion) -> Self {
        Self {
            region,
            samples: 16,
            seed: 0,
            tol: 1e-6,
            spectrum: SpectrumOptions::default(),
        }
    }
}

/// The convexity verdict: exact for [`ProblemFamily::Quadratic`], granted for
/// [`ProblemFamily::ConvexByConstruction`], and for [`ProblemFamily::General`] either
/// `nonconvex` with the first sampled point whose Hessian has a clearly negative eigenvalue,
/// or `unknown` (sampling never proves convexity). Errors name a region whose dimensions do
/// not match the objective.
pub fn convexity(
    objective: &mut dyn Objective,
    family: ProblemFamily<'_>,
    options: &ConvexityOptions,
) -> Result<ConvexityReport, InvalidConfig> {
    match family {
        ProblemFamily::ConvexByConstruction => Ok(ConvexityReport {
            verdict: Convexity::Convex,
            basis: ConvexityBasis::Construction,
            points_checked: 0,
            min_eigenvalue: None,
            witness: None,
        }),
        ProblemFamily::Quadratic(a) => quadratic_convexity(a, options),
        ProblemFamily::General => sampled_convexity(objective, options),
    }
}

/// [`convexity`] for a configured problem, choosing its family: the sphere and every model
/// without hidden layers (linear, logistic, softmax: affine in the parameters, under losses
/// convex in the outputs — MSE, MAE, Huber, BCE and cross-entropy from logits — plus an
/// l2 penalty) are convex by construction; the quadratic is decided from its matrix; the
/// Rosenbrock function, MLPs and any other kind of problem are sampled.
pub fn convexity_of(
    config: &ProblemConfig,
    objective: &mut dyn Objective,
    options: &ConvexityOptions,
) -> Result<ConvexityReport, InvalidConfig> {
    // `if let` rather than `match`: problem kinds added later are sampled by default.
    if let ProblemConfig::Builtin(builtin) = config {
        match (builtin.name.as_str(), &builtin.a) {
            ("sphere", _) => {
                return convexity(objective, ProblemFamily::ConvexByConstruction, options)
            }
            ("quadratic", Some(rows)) => {
                let n = rows.len();
                if rows.iter().all(|r| r.len() == n) {
                    let a = Array2::from_shape_fn((n, n), |(i, j)| rows[i][j]);
                    return convexity(objective, ProblemFamily::Quadratic(a.view()), options);
                }
            }
            _ => {}
        }
    }
    if let ProblemConfig::Model(model) = config {
        if !matches!(model.model, ModelSpec::Mlp(_)) {
            return convexity(objective, ProblemFamily::ConvexByConstruction, options);
        }
    }
    convexity(objective, ProblemFamily::General, options)
}

fn quadratic_convexity(
    a: ArrayView2<'_, f64>,
    options: &ConvexityOptions,
) -> Result<ConvexityReport, InvalidConfig> {
    let n = a.nrows();
    if a.ncols() != n {
        return Err(InvalidConfig::new(
            "problem.a",
            format!("must be square, got {}×{}", n, a.ncols()),
        ));
    }
    if let Some(((i, j), _)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(InvalidConfig::new(
            format!("problem.a[{i}][{j}]"),
            "must be a finite number",
        ));
    }
    let mut sym = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            sym[i * n + j] = 0.5 * (a[[i, j]] + a[[j, i]]);
        }
    }
    let nonconvex = |eigenvalue: f64, mut direction: Vec<f64>| {
        normalize_with_sign(&mut direction);
        ConvexityReport {
            verdict: Convexity::Nonconvex,
            basis: ConvexityBasis::QuadraticMatrix,
            points_checked: 0,
            min_eigenvalue: Some(eigenvalue),
            witness: Some(ConvexityWitness {
                point: vec![0.0; n],
                eigenvalue,
                direction,
            }),
        }
    };
    if n <= QUADRATIC_JACOBI_MAX_DIM {
        let eig = jacobi_eigen(&sym, n);
        let (lo, hi) = match (eig.values.first(), eig.values.last()) {
            (Some(&lo), Some(&hi)) => (lo, hi),
            _ => (0.0, 0.0),
        };
        let tol = options.tol * lo.abs().max(hi.abs());
        if lo >= -tol {
            return Ok(ConvexityReport {
                verdict: Convexity::Convex,
                basis: ConvexityBasis::QuadraticMatrix,
                points_checked: 0,
                min_eigenvalue: Some(lo),
                witness: None,
            });
        }
        return Ok(nonconvex(lo, eig.vector(0)));
    }
    // Large: A + δI is positive definite iff its Cholesky factorization succeeds, with
    // δ = tol·‖A‖_F ≥ tol·max|λ|.
    let frobenius = norm2(&sym);
    let delta = options.tol * frobenius;
    if cholesky_succeeds(&sym, n, delta) {
        return Ok(ConvexityReport {
            verdict: Convexity::Convex,
            basis: ConvexityBasis::QuadraticMatrix,
            points_checked: 0,
            min_eigenvalue: None,
            witness: None,
        });
    }
    let result = lanczos(
        n,
        options.spectrum.lanczos_iterations.max(2),
        options.seed,
        &mut |v, out| {
            for (o, row) in out.iter_mut().zip(sym.chunks_exact(n)) {
                *o = row.iter().zip(v).map(|(a, x)| a * x).sum();
            }
        },
    );
    Ok(nonconvex(result.ritz_values[0], result.min_vector))
}

/// Whether the symmetric n×n matrix `a` + `shift`·I has a Cholesky factor (Golub & Van
/// Loan, Algorithm 4.2.2), i.e. is positive definite.
fn cholesky_succeeds(a: &[f64], n: usize, shift: f64) -> bool {
    let mut l = a.to_vec();
    for i in 0..n {
        l[i * n + i] += shift;
    }
    for j in 0..n {
        let mut d = l[j * n + j];
        for k in 0..j {
            d -= l[j * n + k] * l[j * n + k];
        }
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        l[j * n + j] = d;
        for i in j + 1..n {
            let mut s = l[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = s / d;
        }
    }
    true
}

fn sampled_convexity(
    objective: &mut dyn Objective,
    options: &ConvexityOptions,
) -> Result<ConvexityReport, InvalidConfig> {
    let n = objective.dim();
    let check = |field: &str, len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(InvalidConfig::new(
                format!("convexity.{field}"),
                format!("must have the objective's {n} coordinates, got {len}"),
            ))
        }
    };
    match &options.region {
        SampleRegion::Box { lower, upper } => {
            check("lower", lower.len())?;
            check("upper", upper.len())?;
        }
        SampleRegion::Around { points, radius } => {
            if points.is_empty() {
                return Err(InvalidConfig::new(
                    "convexity.points",
                    "needs at least one point",
                ));
            }
            for p in points {
                check("points", p.len())?;
            }
            if !(radius.is_finite() && *radius >= 0.0) {
                return Err(InvalidConfig::new(
                    "convexity.radius",
                    format!("must be a finite number >= 0, got {radius}"),
                ));
            }
        }
    }

    let mut rng = Rng::derived(options.seed, 0x434f_4e56_4558);
    let mut point = vec![0.0; n];
    let mut grad = vec![0.0; n];
    let mut report = ConvexityReport {
        verdict: Convexity::Unknown,
        basis: ConvexityBasis::Sampling,
        points_checked: 0,
        min_eigenvalue: None,
        witness: None,
    };
    for s in 0..options.samples {
        match &options.region {
            SampleRegion::Box { lower, upper } => {
                for ((p, lo), hi) in point.iter_mut().zip(lower).zip(upper) {
                    *p = rng.uniform(*lo, *hi);
                }
            }
            SampleRegion::Around { points, radius } => {
                let centre = &points[s % points.len()];
                if s < points.len() {
                    point.copy_from_slice(centre);
                } else {
                    point.iter_mut().for_each(|p| *p = rng.normal());
                    let distance = radius * rng.uniform(0.0, 1.0) / norm2(&point);
                    point
                        .iter_mut()
                        .zip(centre)
                        .for_each(|(p, c)| *p = c + distance * *p);
                }
            }
        }
        let value = objective.value_and_grad(&point, &mut grad);
        if !(value.is_finite() && all_finite(&grad)) {
            continue;
        }
        let spectrum = hessian_spectrum(objective, &point, 0.0, &options.spectrum);
        let (lo, hi) = (spectrum.min_eigenvalue, spectrum.max_eigenvalue);
        if !(lo.is_finite() && hi.is_finite() && all_finite(&spectrum.min_eigenvector)) {
            continue;
        }
        report.points_checked += 1;
        report.min_eigenvalue = Some(report.min_eigenvalue.map_or(lo, |m: f64| m.min(lo)));
        let noise = match spectrum.source {
            HessianSource::Exact => 0.0,
            HessianSource::FiniteDifferences => {
                1e3 * f64::EPSILON * (1.0 + norm2(&grad)) / HvpOracle::step(&point)
            }
        };
        if lo < -(options.tol * lo.abs().max(hi.abs()) + noise) {
            report.verdict = Convexity::Nonconvex;
            report.witness = Some(ConvexityWitness {
                point: point.clone(),
                eigenvalue: lo,
                direction: spectrum.min_eigenvector,
            });
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::Quadratic;
    use crate::diagnosis::eigen::tests::random_symmetric;
    use crate::problem::FnObjective;
    use ndarray::{array, Array2};

    fn unused_objective(n: usize) -> impl Objective {
        FnObjective::new(n, |_: &[f64], g: &mut [f64]| {
            g.fill(0.0);
            0.0
        })
    }

    #[test]
    fn a_positive_semidefinite_quadratic_is_convex() {
        // Eigenvalues 0 and 5: semidefinite, still convex.
        let a = array![[1.0, 2.0], [2.0, 4.0]];
        let report = convexity(
            &mut unused_objective(2),
            ProblemFamily::Quadratic(a.view()),
            &ConvexityOptions::new(SampleRegion::Around {
                points: vec![vec![0.0; 2]],
                radius: 1.0,
            }),
        )
        .unwrap();
        assert_eq!(report.verdict, Convexity::Convex);
        assert_eq!(report.basis, ConvexityBasis::QuadraticMatrix);
        assert!(report.min_eigenvalue.unwrap().abs() < 1e-14);
    }

    #[test]
    fn an_indefinite_quadratic_is_nonconvex_with_its_eigenvector_as_witness() {
        let a = array![[2.0, 0.0], [0.0, -1.0]];
        let mut q = Quadratic::from_config(
            Some(&[vec![2.0, 0.0], vec![0.0, -1.0]]),
            Some(&[0.0, 0.0]),
            2,
        )
        .unwrap();
        assert_eq!(q.matrix(), &a);
        let matrix = q.matrix().clone();
        let report = convexity(
            &mut q,
            ProblemFamily::Quadratic(matrix.view()),
            &ConvexityOptions::new(SampleRegion::Around {
                points: vec![vec![0.0; 2]],
                radius: 1.0,
            }),
        )
        .unwrap();
        assert_eq!(report.verdict, Convexity::Nonconvex);
        let witness = report.witness.unwrap();
        assert!((witness.eigenvalue + 1.0).abs() < 1e-14);
        assert_eq!(witness.direction, vec![0.0, 1.0]);
    }

    #[test]
    fn large_quadratics_are_decided_by_cholesky() {
        let n = QUADRATIC_JACOBI_MAX_DIM + 4;
        let b = random_symmetric(n, 5);
        // BᵀB is positive semidefinite; BᵀB − 50·I is not (its smallest eigenvalue is ≈ 0).
        let mut btb = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            for j in 0..n {
                btb[[i, j]] = (0..n).map(|k| b[k * n + i] * b[k * n + j]).sum();
            }
        }
        let options = ConvexityOptions::new(SampleRegion::Around {
            points: vec![vec![0.0; n]],
            radius: 1.0,
        });
        let convex = convexity(
            &mut unused_objective(n),
            ProblemFamily::Quadratic(btb.view()),
            &options,
        )
        .unwrap();
        assert_eq!(convex.verdict, Convexity::Convex);
        for i in 0..n {
            btb[[i, i]] -= 50.0;
        }
        let report = convexity(
            &mut unused_objective(n),
            ProblemFamily::Quadratic(btb.view()),
            &options,
        )
        .unwrap();
        assert_eq!(report.verdict, Convexity::Nonconvex);
        assert!(report.witness.unwrap().eigenvalue < -40.0);
    }

    #[test]
    fn convex_by_construction_is_taken_at_its_word() {
        let report = convexity(
            &mut unused_objective(3),
            ProblemFamily::ConvexByConstruction,
            &ConvexityOptions::new(SampleRegion::Around {
                points: vec![vec![0.0; 3]],
                radius: 1.0,
            }),
        )
        .unwrap();
        assert_eq!(report.verdict, Convexity::Convex);
        assert_eq!(report.basis, ConvexityBasis::Construction);
    }

    /// A one-hidden-unit network w₃·tanh(w₁·t + w₂) fitted by least squares to three points.
    fn tiny_network() -> impl Objective {
        let data = [(-1.0, -0.5), (0.5, 0.2), (2.0, 0.9)];
        FnObjective::new(3, move |w: &[f64], g: &mut [f64]| {
            g.fill(0.0);
            let mut f = 0.0;
            for (t, y) in data {
                let h = (w[0] * t + w[1]).tanh();
                let r = w[2] * h - y;
                f += r * r;
                let dh = 1.0 - h * h;
                g[0] += 2.0 * r * w[2] * dh * t;
                g[1] += 2.0 * r * w[2] * dh;
                g[2] += 2.0 * r * h;
            }
            f
        })
    }

    #[test]
    fn a_small_network_is_nonconvex_with_a_witness() {
        let mut net = tiny_network();
        let report = convexity(
            &mut net,
            ProblemFamily::General,
            &ConvexityOptions::new(SampleRegion::Box {
                lower: vec![-2.0; 3],
                upper: vec![2.0; 3],
            }),
        )
        .unwrap();
        assert_eq!(report.verdict, Convexity::Nonconvex);
        assert_eq!(report.basis, ConvexityBasis::Sampling);
        let witness = report.witness.unwrap();
        assert!(witness.eigenvalue < -1e-3, "{}", witness.eigenvalue);
        // The witness is real: f curves down along the direction (second difference < 0).
        let h = 1e-3;
        let mut at = |s: f64| {
            let p: Vec<f64> = witness
                .point
                .iter()
                .zip(&witness.direction)
                .map(|(x, d)| x + s * d)
                .collect();
            net.value(&p)
        };
        let second = (at(h) - 2.0 * at(0.0) + at(-h)) / (h * h);
        assert!((second - witness.eigenvalue).abs() < 1e-3 * (1.0 + second.abs()));
    }

    #[test]
    fn sampling_a_convex_function_never_claims_convexity() {
        let mut sphere = crate::builtin::Sphere { dim: 4 };
        let report = convexity(
            &mut sphere,
            ProblemFamily::General,
            &ConvexityOptions::new(SampleRegion::Around {
                points: vec![vec![1.0; 4], vec![-2.0; 4]],
                radius: 3.0,
            }),
        )
        .unwrap();
        assert_eq!(report.verdict, Convexity::Unknown);
        assert_eq!(report.points_checked, 16);
        assert!((report.min_eigenvalue.unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn configured_problems_are_sorted_into_their_families() {
        let verdict = |json: serde_json::Value, x0: Vec<f64>| {
            let config: ProblemConfig = serde_json::from_value(json).unwrap();
            let (mut objective, x0) = config.build(&crate::problem::Initial::Vector(x0)).unwrap();
            let region = SampleRegion::around_run(&x0, &vec![1.0; x0.len()]);
            let report =
                convexity_of(&config, objective.as_mut(), &ConvexityOptions::new(region)).unwrap();
            (report.verdict, report.basis)
        };
        use serde_json::json;
        assert_eq!(
            verdict(json!({"kind": "builtin", "name": "sphere"}), vec![2.0, 3.0]),
            (Convexity::Convex, ConvexityBasis::Construction)
        );
        assert_eq!(
            verdict(
                json!({"kind": "builtin", "name": "quadratic", "a": [[1.0, 3.0], [3.0, 1.0]], "b": [0.0, 0.0]}),
                vec![0.5, 0.5]
            ),
            (Convexity::Nonconvex, ConvexityBasis::QuadraticMatrix)
        );
        assert_eq!(
            verdict(
                json!({"kind": "builtin", "name": "rosenbrock"}),
                vec![-1.5, 2.0]
            ),
            (Convexity::Nonconvex, ConvexityBasis::Sampling)
        );
        let data =
            json!({"features": [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]], "targets": [1.0, 0.0, 1.0]});
        assert_eq!(
            verdict(
                json!({"kind": "model", "model": {"type": "logistic"}, "data": data}),
                vec![0.0; 3]
            ),
            (Convexity::Convex, ConvexityBasis::Construction)
        );
    }

    #[test]
    fn a_box_of_the_wrong_dimension_is_named() {
        let err = convexity(
            &mut unused_objective(3),
            ProblemFamily::General,
            &ConvexityOptions::new(SampleRegion::Box {
                lower: vec![0.0; 2],
                upper: vec![1.0; 3],
            }),
        )
        .unwrap_err();
        assert_eq!(err.field, "convexity.lower");
    }
}
