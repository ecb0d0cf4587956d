//! Eigenvalues of symmetric matrices and Hessians: the cyclic Jacobi method for small dense
//! matrices, Lanczos with full reorthogonalization on Hessian-vector products for large ones.
use super::hvp::{HessianSource, HvpOracle};
use crate::data::rng::Rng;
use crate::problem::Objective;
use crate::vecmath::norm2;

/// Lanczos keeps every basis vector (k·n numbers); the iteration count is capped so that
/// the basis stays under this many numbers (128 MiB of f64).
pub const LANCZOS_BASIS_BUDGET: usize = 1 << 24;

/// The eigen-decomposition of a symmetric matrix: A = V·diag(values)·Vᵀ.
#[derive(Debug, Clone, PartialEq)]
pub struct SymmetricEigen {
    /// The eigenvalues, ascending.
    pub values: Vec<f64>,
    /// The eigenvectors as the columns of an n×n row-major matrix: column k belongs to
    /// `values[k]`.
    pub vectors: Vec<f64>,
}

impl SymmetricEigen {
    /// Eigenvector k as its own vector.
    pub fn vector(&self, k: usize) -> Vec<f64> {
        let n = self.values.len();
        (0..n).map(|i| self.vectors[i * n + k]).collect()
    }
}

/// Eigen-decomposition of the symmetric n×n row-major matrix `a` by the cyclic Jacobi method
/// (Golub & Van Loan, *Matrix Computations*, 4th ed., Algorithm 8.5.3 with the stable
/// rotation of Algorithm 8.5.1). Sweeps until the off-diagonal mass is below rounding
/// (convergence is quadratic, a handful of sweeps in practice; at most 100). Only the upper
/// triangle's symmetry is assumed, not checked: pass a symmetrized matrix.
pub fn jacobi_eigen(a: &[f64], n: usize) -> SymmetricEigen {
    assert_eq!(a.len(), n * n, "jacobi_eigen needs an n×n matrix");
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let frobenius2: f64 = a.iter().map(|x| x * x).sum();
    let target = (f64::EPSILON * 1e-2).powi(2) * frobenius2;
    for _sweep in 0..100 {
        let mut off2 = 0.0;
        for p in 0..n {
            for q in p + 1..n {
                off2 += 2.0 * a[p * n + q] * a[p * n + q];
            }
        }
        if off2 <= target || off2 == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let tau = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = if tau.abs() > 1e150 {
                    0.5 / tau
                } else {
                    tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt())
                };
                let t = if tau == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                // A ← Jᵀ·A·J with J the rotation [[c, s], [−s, c]] in the (p, q) plane.
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values = order.iter().map(|&k| a[k * n + k]).collect();
    let mut vectors = vec![0.0; n * n];
    for (new, &old) in order.iter().enumerate() {
        for i in 0..n {
            vectors[i * n + new] = v[i * n + old];
        }
    }
    SymmetricEigen { values, vectors }
}

/// What Lanczos found: the Ritz values of the Krylov subspace it built.
#[derive(Debug, Clone, PartialEq)]
pub struct LanczosResult {
    /// The Ritz values, ascending. The extremes approximate the extreme eigenvalues from
    /// inside: the smallest is ≥ λ_min and the largest ≤ λ_max.
    pub ritz_values: Vec<f64>,
    /// The unit Ritz vector of the smallest Ritz value.
    pub min_vector: Vec<f64>,
    /// The basis size reached; equal to n means the whole space was spanned (exact spectrum).
    pub steps: usize,
}

/// Lanczos iteration with full reorthogonalization (Golub & Van Loan, §10.1 and §10.3.1;
/// each new vector is orthogonalized twice against the whole basis, "twice is enough") on
/// the symmetric operator `apply(v, out)`, for at most `iterations` steps from a seeded
/// random start. When the Krylov subspace becomes invariant the iteration restarts from a
/// fresh random vector orthogonal to the basis, so repeated eigenvalues are not missed.
pub fn lanczos(
    n: usize,
    iterations: usize,
    seed: u64,
    apply: &mut dyn FnMut(&[f64], &mut [f64]),
) -> LanczosResult {
    let k = iterations.clamp(1, n.max(1));
    let mut rng = Rng::new(seed);
    let mut basis = vec![0.0; k * n];
    let mut w = vec![0.0; n];
    let mut alphas = Vec::with_capacity(k);
    let mut betas: Vec<f64> = Vec::with_capacity(k);
    let mut scale: f64 = 0.0;

    let mut start = vec![0.0; n];
    start.iter_mut().for_each(|s| *s = rng.normal());
    let s_norm = norm2(&start);
    basis[..n]
        .iter_mut()
        .zip(&start)
        .for_each(|(b, s)| *b = s / s_norm);

    for j in 0..k {
        let (done, rest) = basis.split_at_mut((j + 1) * n);
        let q = &done[j * n..];
        apply(q, &mut w);
        let alpha = dot(q, &w);
        axpy(-alpha, q, &mut w);
        if j > 0 {
            axpy(-betas[j - 1], &done[(j - 1) * n..j * n], &mut w);
        }
        reorthogonalize(done, n, &mut w);
        alphas.push(alpha);
        scale = scale.max(alpha.abs());
        if j + 1 == k {
            break;
        }
        let mut beta = norm2(&w);
        scale = scale.max(beta);
        if beta <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            // Invariant subspace: continue from a random vector orthogonal to it (β = 0
            // keeps T block diagonal, which is exact for an invariant subspace).
            w.iter_mut().for_each(|x| *x = rng.normal());
            reorthogonalize(done, n, &mut w);
            let fresh = norm2(&w);
            if fresh <= 1e-8 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= fresh);
            beta = 0.0;
            rest[..n].copy_from_slice(&w);
        } else {
            rest[..n]
                .iter_mut()
                .zip(&w)
                .for_each(|(r, x)| *r = x / beta);
        }
        betas.push(beta);
    }

    let m = alphas.len();
    let mut t = vec![0.0; m * m];
    for i in 0..m {
        t[i * m + i] = alphas[i];
        if i + 1 < m {
            t[i * m + i + 1] = betas[i];
            t[(i + 1) * m + i] = betas[i];
        }
    }
    let eig = jacobi_eigen(&t, m);
    let mut min_vector = vec![0.0; n];
    for i in 0..m {
        axpy(
            eig.vectors[i * m],
            &basis[i * n..(i + 1) * n],
            &mut min_vector,
        );
    }
    normalize_with_sign(&mut min_vector);
    LanczosResult {
        ritz_values: eig.values,
        min_vector,
        steps: m,
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(yi, xi)| *yi += alpha * xi);
}

/// Classical Gram–Schmidt of `w` against the rows of `basis` (each of length n), twice.
fn reorthogonalize(basis: &[f64], n: usize, w: &mut [f64]) {
    for _ in 0..2 {
        for q in basis.chunks_exact(n) {
            let c = dot(q, w);
            axpy(-c, q, w);
        }
    }
}

/// Scales `v` to unit length and flips its sign so that its largest-magnitude component
/// (the first, on ties) is positive: eigenvectors are defined up to sign, reports should not be.
pub fn normalize_with_sign(v: &mut [f64]) {
    let norm = norm2(v);
    if norm == 0.0 || !norm.is_finite() {
        return;
    }
    let mut largest = 0.0_f64;
    let mut sign = 1.0;
    for x in v.iter() {
        if x.abs() > largest {
            largest = x.abs();
            sign = x.signum();
        }
    }
    v.iter_mut().for_each(|x| *x *= sign / norm);
}

/// How the extreme eigenvalues of a Hessian are computed.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumOptions {
    /// Up to this dimension the full Hessian is built (n products) and decomposed by Jacobi.
    pub dense_max_dim: usize,
    /// Lanczos steps above `dense_max_dim` (also capped by n and [`LANCZOS_BASIS_BUDGET`]).
    pub lanczos_iterations: usize,
    /// Seed of Lanczos's random start vector.
    pub seed: u64,
}

impl Default for SpectrumOptions {
    fn default() -> Self {
        Self {
            dense_max_dim: 64,
            lanczos_iterations: 60,
            seed: 0,
        }
    }
}

/// The extreme eigenvalues of ∇²f(x) and what they say about the point.
#[derive(Debug, Clone, PartialEq)]
pub struct HessianSpectrum {
    /// The smallest eigenvalue (Lanczos: its Ritz estimate, an upper bound).
    pub min_eigenvalue: f64,
    /// The largest eigenvalue (Lanczos: its Ritz estimate, a lower bound).
    pub max_eigenvalue: f64,
    /// The unit eigenvector of `min_eigenvalue`, its largest component positive.
    pub min_eigenvector: Vec<f64>,
    /// The number of eigenvalues below −`negative_below` (the Morse index): exact when
    /// `exact`, otherwise a lower bound (by Cauchy interlacing of the Ritz values).
    pub negative_count: usize,
    /// Whether the whole spectrum was computed (dense Jacobi, or Lanczos spanning Rⁿ).
    pub exact: bool,
    /// Whether the products were exact or finite differences.
    pub source: HessianSource,
    /// The Hessian-vector products made.
    pub products: usize,
    /// The full eigen-decomposition, when the Hessian was built densely.
    pub eigen: Option<SymmetricEigen>,
}

/// The extreme eigenvalues of ∇²f(x): dense Jacobi for n ≤ `dense_max_dim`, otherwise
/// Lanczos; eigenvalues below −`negative_below` (≥ 0) count as negative.
pub fn hessian_spectrum(
    objective: &mut dyn Objective,
    x: &[f64],
    negative_below: f64,
    options: &SpectrumOptions,
) -> HessianSpectrum {
    let n = x.len();
    if n == 0 {
        return HessianSpectrum {
            min_eigenvalue: 0.0,
            max_eigenvalue: 0.0,
            min_eigenvector: Vec::new(),
            negative_count: 0,
            exact: true,
            source: HessianSource::Exact,
            products: 0,
            eigen: None,
        };
    }
    let mut oracle = HvpOracle::new(n);
    let negative = |values: &[f64]| values.iter().filter(|&&l| l < -negative_below).count();
    if n <= options.dense_max_dim {
        let mut h = vec![0.0; n * n];
        oracle.dense_hessian(objective, x, &mut h);
        let eig = jacobi_eigen(&h, n);
        let mut min_eigenvector = eig.vector(0);
        normalize_with_sign(&mut min_eigenvector);
        HessianSpectrum {
            min_eigenvalue: eig.values[0],
            max_eigenvalue: eig.values[n - 1],
            min_eigenvector,
            negative_count: negative(&eig.values),
            exact: true,
            source: oracle.source(),
            products: oracle.products(),
            eigen: Some(eig),
        }
    } else {
        let budget = (LANCZOS_BASIS_BUDGET / n).max(2);
        let iterations = options.lanczos_iterations.min(budget);
        let result = lanczos(n, iterations, options.seed, &mut |v, out| {
            oracle.apply(objective, x, v, out);
        });
        HessianSpectrum {
            min_eigenvalue: result.ritz_values[0],
            max_eigenvalue: result.ritz_values[result.steps - 1],
            min_eigenvector: result.min_vector,
            negative_count: negative(&result.ritz_values),
            exact: result.steps == n,
            source: oracle.source(),
            products: oracle.products(),
            eigen: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::builtin::Quadratic;

    /// A random symmetric n×n matrix with standard normal entries.
    pub(crate) fn random_symmetric(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let x = rng.normal();
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        a
    }

    #[test]
    fn jacobi_eigendecomposition_reconstructs_a_random_symmetric_matrix() {
        let n = 12;
        let a = random_symmetric(n, 7);
        let eig = jacobi_eigen(&a, n);
        assert!(eig.values.windows(2).all(|w| w[0] <= w[1]));
        let mut worst: f64 = 0.0;
        for i in 0..n {
            for j in 0..n {
                let vdv: f64 = (0..n)
                    .map(|k| eig.vectors[i * n + k] * eig.values[k] * eig.vectors[j * n + k])
                    .sum();
                worst = worst.max((vdv - a[i * n + j]).abs());
                let vtv: f64 = (0..n)
                    .map(|k| eig.vectors[k * n + i] * eig.vectors[k * n + j])
                    .sum();
                let identity = if i == j { 1.0 } else { 0.0 };
                assert!((vtv - identity).abs() < 1e-12, "VᵀV[{i}][{j}] = {vtv}");
            }
        }
        assert!(worst < 1e-12, "max |V·Λ·Vᵀ − A| = {worst}");
    }

    proptest::proptest! {
        #[test]
        fn jacobi_reconstructs_every_small_symmetric_matrix(
            n in 1usize..10,
            seed in proptest::prelude::any::<u64>(),
            scale in -6i32..6,
        ) {
            let a: Vec<f64> = random_symmetric(n, seed)
                .iter()
                .map(|v| v * 10f64.powi(scale))
                .collect();
            let eig = jacobi_eigen(&a, n);
            let norm = norm2(&a);
            for i in 0..n {
                for j in 0..n {
                    let vdv: f64 = (0..n)
                        .map(|k| eig.vectors[i * n + k] * eig.values[k] * eig.vectors[j * n + k])
                        .sum();
                    proptest::prop_assert!((vdv - a[i * n + j]).abs() <= 1e-13 * n as f64 * norm);
                }
            }
            proptest::prop_assert!(eig.values.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn jacobi_finds_the_eigenvalues_of_a_two_by_two_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3 with vectors (1, −1)/√2 and (1, 1)/√2.
        let eig = jacobi_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((eig.values[0] - 1.0).abs() < 1e-15 && (eig.values[1] - 3.0).abs() < 1e-15);
        let mut v = eig.vector(0);
        normalize_with_sign(&mut v);
        assert!((v[0].abs() - 0.5f64.sqrt()).abs() < 1e-15 && (v[0] + v[1]).abs() < 1e-15);
    }

    /// A random 200-D quadratic: A = Q·diag(d)·Qᵀ with Q the eigenvectors of a random
    /// symmetric matrix and d random in [−1, 2] plus two isolated extremes (−3 and 5).
    fn random_quadratic_matrix(n: usize) -> (Vec<f64>, f64, f64) {
        let q = jacobi_eigen(&random_symmetric(n, 11), n).vectors;
        let mut rng = Rng::new(3);
        let mut d: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 2.0)).collect();
        d[17] = -3.0;
        d[101] = 5.0;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| q[i * n + k] * d[k] * q[j * n + k]).sum();
            }
        }
        for i in 0..n {
            for j in 0..i {
                let s = 0.5 * (a[i * n + j] + a[j * n + i]);
                a[i * n + j] = s;
                a[j * n + i] = s;
            }
        }
        (a, -3.0, 5.0)
    }

    #[test]
    fn lanczos_matches_jacobi_on_the_extreme_eigenvalues_of_a_random_200_dimensional_quadratic() {
        let n = 200;
        let (a, lo, hi) = random_quadratic_matrix(n);
        let dense = jacobi_eigen(&a, n);
        assert!((dense.values[0] - lo).abs() < 1e-10 && (dense.values[n - 1] - hi).abs() < 1e-10);

        let rows: Vec<Vec<f64>> = a.chunks(n).map(|r| r.to_vec()).collect();
        let mut quadratic = Quadratic::from_config(Some(&rows), Some(&vec![0.0; n]), n).unwrap();
        let x = vec![0.1; n];
        let spectrum = hessian_spectrum(&mut quadratic, &x, 1e-8, &SpectrumOptions::default());
        assert!(!spectrum.exact);
        assert_eq!(spectrum.source, HessianSource::Exact);
        assert_eq!(spectrum.products, 60);
        let (min_err, max_err) = (
            (spectrum.min_eigenvalue - dense.values[0]).abs(),
            (spectrum.max_eigenvalue - dense.values[n - 1]).abs(),
        );
        assert!(
            min_err < 1e-8,
            "λ_min: Lanczos {} vs Jacobi {}",
            spectrum.min_eigenvalue,
            dense.values[0]
        );
        assert!(
            max_err < 1e-8,
            "λ_max: Lanczos {} vs Jacobi {}",
            spectrum.max_eigenvalue,
            dense.values[n - 1]
        );
        let mut expected = dense.vector(0);
        normalize_with_sign(&mut expected);
        let alignment = dot(&expected, &spectrum.min_eigenvector);
        assert!(alignment > 1.0 - 1e-8, "eigenvector alignment {alignment}");
        // The negative eigenvalues d < 0 number about a third; Lanczos sees at least one.
        let true_index = dense.values.iter().filter(|&&l| l < -1e-8).count();
        assert!(spectrum.negative_count >= 1 && spectrum.negative_count <= true_index);
    }

    #[test]
    fn lanczos_restarts_after_an_invariant_subspace_and_finds_every_eigenvalue() {
        // diag(1, 1, 1, 4): a start vector's Krylov space is 2-dimensional.
        let d = [1.0, 1.0, 1.0, 4.0];
        let result = lanczos(4, 4, 5, &mut |v, out| {
            out.iter_mut()
                .zip(v)
                .zip(&d)
                .for_each(|((o, x), di)| *o = di * x);
        });
        assert_eq!(result.steps, 4);
        for (got, want) in result.ritz_values.iter().zip(&d) {
            assert!((got - want).abs() < 1e-12, "{:?}", result.ritz_values);
        }
    }
}
