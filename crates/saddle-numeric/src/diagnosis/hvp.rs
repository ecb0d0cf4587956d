//! Hessian-vector products for every objective: exact when the objective provides them,
//! central finite differences of its gradient otherwise.

use serde::{Deserialize, Serialize};

use crate::problem::Objective;
use crate::vecmath::norm2;

/// Where second-order information came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HessianSource {
    /// The objective's own [`Objective::hessian_vector_product`].
    Exact,
    /// Central differences of gradients ([`HvpOracle`] documents the step).
    FiniteDifferences,
}

/// Computes ∇²f(x)·v, exactly when the objective supports it and otherwise as
/// `(∇f(x + h·v̂) − ∇f(x − h·v̂)) / 2h · ‖v‖` with v̂ = v/‖v‖ and h = ε^{1/3}·(1 + ‖x‖₂).
///
/// ε^{1/3} ≈ 6·10⁻⁶ balances the O(h²) truncation error of central differences against the
/// O(ε/h) rounding error (Nocedal & Wright, *Numerical Optimization*, 2nd ed., §8.1); scaling
/// by 1 + ‖x‖₂ keeps the step meaningful relative to large parameter vectors. The buffers are
/// allocated once, so repeated products (Lanczos) do not allocate.
pub struct HvpOracle {
    exact: Option<bool>,
    probe: Vec<f64>,
    grad_plus: Vec<f64>,
    grad_minus: Vec<f64>,
    products: usize,
}

impl HvpOracle {
    /// An oracle for objectives of dimension `n`.
    pub fn new(n: usize) -> Self {
        Self {
            exact: None,
            probe: vec![0.0; n],
            grad_plus: vec![0.0; n],
            grad_minus: vec![0.0; n],
            products: 0,
        }
    }

    /// The finite-difference step used at `x`: ε^{1/3}·(1 + ‖x‖₂).
    pub fn step(x: &[f64]) -> f64 {
        f64::EPSILON.cbrt() * (1.0 + norm2(x))
    }

    /// Writes ∇²f(x)·v into `out` and says how it was computed. The first call asks the
    /// objective for exact products; if it declines, every later call differences gradients.
    pub fn apply(
        &mut self,
        objective: &mut dyn Objective,
        x: &[f64],
        v: &[f64],
        out: &mut [f64],
    ) -> HessianSource {
        self.products += 1;
        if self.exact != Some(false) {
            let supported = objective.hessian_vector_product(x, v, out);
            self.exact = Some(supported);
            if supported {
                return HessianSource::Exact;
            }
        }
        let v_norm = norm2(v);
        if v_norm == 0.0 {
            out.fill(0.0);
            return HessianSource::FiniteDifferences;
        }
        let h = Self::step(x);
        let t = h / v_norm;
        for ((p, xi), vi) in self.probe.iter_mut().zip(x).zip(v) {
            *p = xi + t * vi;
        }
        objective.value_and_grad(&self.probe, &mut self.grad_plus);
        for ((p, xi), vi) in self.probe.iter_mut().zip(x).zip(v) {
            *p = xi - t * vi;
        }
        objective.value_and_grad(&self.probe, &mut self.grad_minus);
        let scale = v_norm / (2.0 * h);
        for ((o, gp), gm) in out.iter_mut().zip(&self.grad_plus).zip(&self.grad_minus) {
            *o = (gp - gm) * scale;
        }
        HessianSource::FiniteDifferences
    }

    /// How the products were computed so far (`Exact` until an objective declines).
    pub fn source(&self) -> HessianSource {
        if self.exact == Some(false) {
            HessianSource::FiniteDifferences
        } else {
            HessianSource::Exact
        }
    }

    /// The number of products made.
    pub fn products(&self) -> usize {
        self.products
    }

    /// Writes the full Hessian (n×n, row-major) into `out` from n products with the unit
    /// vectors, then symmetrizes it (finite differences are not exactly symmetric).
    pub fn dense_hessian(&mut self, objective: &mut dyn Objective, x: &[f64], out: &mut [f64]) {
        let n = x.len();
        let mut unit = vec![0.0; n];
        for i in 0..n {
            unit[i] = 1.0;
            self.apply(objective, x, &unit, &mut out[i * n..(i + 1) * n]);
            unit[i] = 0.0;
        }
        for i in 0..n {
            for j in 0..i {
                let s = 0.5 * (out[i * n + j] + out[j * n + i]);
                out[i * n + j] = s;
                out[j * n + i] = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::Rosenbrock;
    use crate::problem::FnObjective;

    /// Rosenbrock without its exact Hessian, so the oracle must difference gradients.
    fn rosenbrock_gradient_only(n: usize) -> impl Objective {
        let mut inner = Rosenbrock { dim: n };
        FnObjective::new(n, move |x: &[f64], g: &mut [f64]| {
            inner.value_and_grad(x, g)
        })
    }

    #[test]
    fn finite_difference_products_match_the_exact_rosenbrock_hessian() {
        let x = [-1.2, 1.0, 0.3, 2.0];
        let v = [0.5, -1.0, 2.0, 0.25];
        let mut exact = vec![0.0; 4];
        let mut oracle = HvpOracle::new(4);
        let source = oracle.apply(&mut Rosenbrock { dim: 4 }, &x, &v, &mut exact);
        assert_eq!(source, HessianSource::Exact);

        let mut fd = vec![0.0; 4];
        let mut oracle = HvpOracle::new(4);
        let source = oracle.apply(&mut rosenbrock_gradient_only(4), &x, &v, &mut fd);
        assert_eq!(source, HessianSource::FiniteDifferences);
        for (e, f) in exact.iter().zip(&fd) {
            assert!((e - f).abs() <= 1e-6 * (1.0 + e.abs()), "{e} vs {f}");
        }
    }

    #[test]
    fn exact_rosenbrock_product_matches_the_hand_computed_hessian_at_the_minimum() {
        // ∇²f(1, 1) = [[802, −400], [−400, 200]].
        let mut out = vec![0.0; 2];
        HvpOracle::new(2).apply(
            &mut Rosenbrock { dim: 2 },
            &[1.0, 1.0],
            &[1.0, 2.0],
            &mut out,
        );
        assert_eq!(out, vec![802.0 - 800.0, -400.0 + 400.0]);
    }

    #[test]
    fn dense_hessian_of_a_gradient_only_objective_is_symmetric() {
        let mut f = rosenbrock_gradient_only(3);
        let mut h = vec![0.0; 9];
        HvpOracle::new(3).dense_hessian(&mut f, &[0.3, -0.7, 1.1], &mut h);
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(h[i * 3 + j], h[j * 3 + i]);
            }
        }
        assert!((h[0] - (1200.0 * 0.09 + 400.0 * 0.7 + 2.0)).abs() < 1e-5);
    }
}
