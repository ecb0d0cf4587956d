//! Losses over a batch of model outputs, with their gradients, after `torch.nn`'s losses with
//! `reduction='mean'`.

use super::log1p::log1p_unit;
use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

/// How the model's output is compared with the targets.
///
/// `mse`, `mae`, `huber` and `bce` average over all n·k output elements (torch's `mean`
/// reduction); `cross_entropy` averages over the n rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error (`MSELoss`).
    Mse,
    /// Mean absolute error (`L1Loss`); its subgradient at 0 is 0, as torch's.
    Mae,
    /// Huber loss with δ = 1 (`HuberLoss`): ½d² for |d| < 1, |d| − ½ beyond.
    Huber,
    /// Binary cross-entropy from logits (`BCEWithLogitsLoss`); targets in [0, 1].
    Bce,
    /// Softmax cross-entropy from logits (`CrossEntropyLoss`); targets are class
    /// probabilities per row (labels are one-hot encoded when the problem is built).
    CrossEntropy,
}

impl Loss {
    /// The snake_case name used in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber => "huber",
            Loss::Bce => "bce",
            Loss::CrossEntropy => "cross_entropy",
        }
    }

    /// Whether outputs are class scores, so accuracy is defined.
    pub fn is_classification(self) -> bool {
        matches!(self, Loss::Bce | Loss::CrossEntropy)
    }

    /// The mean loss of outputs `z` (m×k logits or predictions) against targets `t` (m×k).
    /// With `dz`, also writes ∂loss/∂z (m×k) there.
    pub fn evaluate(
        self,
        z: ArrayView2<'_, f64>,
        t: ArrayView2<'_, f64>,
        dz: Option<ArrayViewMut2<'_, f64>>,
    ) -> f64 {
        let m = z.nrows();
        let count = (m * z.ncols()) as f64;
        let mut total = 0.0;
        match self {
            Loss::CrossEntropy => {
                let inv_m = 1.0 / m as f64;
                match dz {
                    Some(mut dz) => {
                        for ((zr, tr), mut dr) in
                            z.rows().into_iter().zip(t.rows()).zip(dz.rows_mut())
                        {
                            let mx = zr.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                            let mut s = 0.0;
                            for (d, &zj) in dr.iter_mut().zip(zr) {
                                *d = (zj - mx).exp();
                                s += *d;
                            }
                            let lse = mx + s.ln();
                            let t_sum = tr.sum();
                            for ((d, &zj), &tj) in dr.iter_mut().zip(zr).zip(tr) {
                                total += tj * (lse - zj);
                                // ∂/∂z_j of −Σ t log softmax(z) = softmax_j·Σt − t_j.
                                *d = (*d / s * t_sum - tj) * inv_m;
                            }
                        }
                    }
                    None => {
                        for (zr, tr) in z.rows().into_iter().zip(t.rows()) {
                            let mx = zr.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                            let lse = mx + zr.iter().map(|&zj| (zj - mx).exp()).sum::<f64>().ln();
                            total += zr
                                .iter()
                                .zip(tr)
                                .map(|(&zj, &tj)| tj * (lse - zj))
                                .sum::<f64>();
                        }
                    }
                }
                total * inv_m
            }
            elementwise => {
                let scale = 1.0 / count;
                match dz {
                    Some(dz) => Zip::from(dz).and(&z).and(&t).for_each(|d, &z, &t| {
                        let (value, slope) = elementwise.value_and_slope(z, t);
                        total += value;
                        *d = slope * scale;
                    }),
                    None => Zip::from(&z)
                        .and(&t)
                        .for_each(|&z, &t| total += elementwise.value_and_slope(z, t).0),
                }
                total * scale
            }
        }
    }

    /// An elementwise loss's ℓ(z, t) and ∂ℓ/∂z for one output (not for cross-entropy, which
    /// couples a row's outputs).
    #[inline]
    pub(crate) fn value_and_slope(self, z: f64, t: f64) -> (f64, f64) {
        match self {
            Loss::Mse => ((z - t) * (z - t), 2.0 * (z - t)),
            Loss::Mae => ((z - t).abs(), sign(z - t)),
            Loss::Huber => {
                let d = (z - t).abs();
                let value = if d < 1.0 { 0.5 * d * d } else { d - 0.5 };
                (value, (z - t).clamp(-1.0, 1.0))
            }
            Loss::Bce | Loss::CrossEntropy => bce_from_exp(z, t, (-z.abs()).exp()),
        }
    }

    /// The number of correct predictions among the m rows (cross-entropy: argmax of the
    /// logits equals argmax of the target row) or m·k elements (bce: z ≥ 0 ⇔ t ≥ ½), and how
    /// many were judged. `None` for regression losses.
    pub fn correct(self, z: ArrayView2<'_, f64>, t: ArrayView2<'_, f64>) -> Option<(usize, usize)> {
        match self {
            Loss::Bce => {
                let mut hits = 0;
                Zip::from(&z).and(&t).for_each(|&z, &t| {
                    if (z >= 0.0) == (t >= 0.5) {
                        hits += 1;
                    }
                });
                Some((hits, z.len()))
            }
            Loss::CrossEntropy => {
                let hits = z
                    .rows()
                    .into_iter()
                    .zip(t.rows())
                    .filter(|(zr, tr)| argmax(zr.iter().copied()) == argmax(tr.iter().copied()))
                    .count();
                Some((hits, z.nrows()))
            }
            _ => None,
        }
    }
}

/// sign(d) with sign(0) = 0, as `torch.sign`.
fn sign(d: f64) -> f64 {
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The index of the largest value (the first one on ties), as `torch.argmax`.
pub fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// bce's ℓ(z, t) and ∂ℓ/∂z from e = e^−|z|: max(z, 0) − z·t + log(1 + e), no overflow for
/// any z, and the slope σ(z) − t reusing e exactly as `sigmoid` computes it. Taking e as an
/// argument lets a caller compute the exponentials of several rows first and then this, the
/// rest, for all of them in one loop the compiler vectorizes.
#[inline(always)]
pub(crate) fn bce_from_exp(z: f64, t: f64, e: f64) -> (f64, f64) {
    let sigma = if z >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (z.max(0.0) - z * t + log1p_unit(e), sigma - t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn check_gradient(loss: Loss, z: Array2<f64>, t: Array2<f64>) {
        let mut dz = Array2::zeros(z.raw_dim());
        loss.evaluate(z.view(), t.view(), Some(dz.view_mut()));
        let h = 1e-6;
        for idx in 0..z.len() {
            let (i, j) = (idx / z.ncols(), idx % z.ncols());
            let mut zp = z.clone();
            zp[[i, j]] += h;
            let mut zm = z.clone();
            zm[[i, j]] -= h;
            let fd = (loss.evaluate(zp.view(), t.view(), None)
                - loss.evaluate(zm.view(), t.view(), None))
                / (2.0 * h);
            assert!(
                (fd - dz[[i, j]]).abs() < 1e-8,
                "{loss:?} [{i},{j}]: {fd} vs {}",
                dz[[i, j]]
            );
        }
    }

    #[test]
    fn every_loss_gradient_matches_central_differences() {
        let z = array![[0.3, -1.2], [2.5, 0.1], [-0.4, 1.7]];
        let t = array![[0.0, 1.0], [1.0, 0.0], [0.5, 0.2]];
        for loss in [
            Loss::Mse,
            Loss::Mae,
            Loss::Huber,
            Loss::Bce,
            Loss::CrossEntropy,
        ] {
            check_gradient(loss, z.clone(), t.clone());
        }
    }

    #[test]
    fn bce_from_logits_is_stable_for_large_logits() {
        let z = array![[800.0], [-800.0]];
        let t = array![[0.0], [1.0]];
        assert_eq!(Loss::Bce.evaluate(z.view(), t.view(), None), 800.0);
    }

    #[test]
    fn cross_entropy_of_uniform_logits_is_log_k() {
        let z = Array2::zeros((2, 4));
        let t = array![[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        let v = Loss::CrossEntropy.evaluate(z.view(), t.view(), None);
        assert!((v - 4f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn huber_is_quadratic_inside_delta_and_linear_outside() {
        let t = array![[0.0, 0.0]];
        let v = Loss::Huber.evaluate(array![[0.5, 3.0]].view(), t.view(), None);
        assert_eq!(v, (0.125 + 2.5) / 2.0);
    }

    #[test]
    fn accuracy_counts_argmax_and_sign_agreement() {
        let z = array![[2.0, 1.0], [0.0, 3.0], [5.0, -1.0]];
        let t = array![[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]];
        assert_eq!(Loss::CrossEntropy.correct(z.view(), t.view()), Some((2, 3)));
        let zb = array![[0.0], [-1.0], [2.0]];
        let tb = array![[1.0], [1.0], [1.0]];
        assert_eq!(Loss::Bce.correct(zb.view(), tb.view()), Some((2, 3)));
        assert_eq!(Loss::Mse.correct(zb.view(), tb.view()), None);
    }
}
