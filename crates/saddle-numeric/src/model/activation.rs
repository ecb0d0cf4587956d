//! Hidden-layer activations with the values and derivatives of their `torch.nn` namesakes.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

/// An element-wise activation, named as in `torch.nn.functional`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(z, 0); relu'(0) = 0 as in torch.
    Relu,
    /// z for z > 0, else 0.01·z (torch's default negative slope).
    LeakyRelu,
    /// tanh z.
    Tanh,
    /// 1 / (1 + e^−z).
    Sigmoid,
    /// The exact GELU z·Φ(z) = ½z(1 + erf(z/√2)), torch's default (`approximate='none'`).
    Gelu,
    /// ln(1 + e^z), and z itself above 20 (torch's beta = 1, threshold = 20).
    Softplus,
    /// z.
    Identity,
}

const LEAKY_SLOPE: f64 = 0.01;
const SOFTPLUS_THRESHOLD: f64 = 20.0;

/// The logistic function, evaluated without overflow for either sign of z.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The standard normal CDF Φ(z) = ½(1 + erf(z/√2)).
#[inline]
fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + libm::erf(z * std::f64::consts::FRAC_1_SQRT_2))
}

impl Activation {
    /// a = act(z).
    #[inline]
    pub fn value(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu => {
                if z > 0.0 {
                    z
                } else {
                    LEAKY_SLOPE * z
                }
            }
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => sigmoid(z),
            Activation::Gelu => z * normal_cdf(z),
            Activation::Softplus => {
                if z > SOFTPLUS_THRESHOLD {
                    z
                } else {
                    z.exp().ln_1p()
                }
            }
            Activation::Identity => z,
        }
    }

    /// act'(z), given z and a = act(z) (tanh and sigmoid use a, as torch's backward does).
    #[inline]
    pub fn derivative(self, z: f64, a: f64) -> f64 {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu => {
                if z > 0.0 {
                    1.0
                } else {
                    LEAKY_SLOPE
                }
            }
            Activation::Tanh => 1.0 - a * a,
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Gelu => {
                let pdf = (-0.5 * z * z).exp()
                    * (0.5 * std::f64::consts::FRAC_2_SQRT_PI)
                    * std::f64::consts::FRAC_1_SQRT_2;
                normal_cdf(z) + z * pdf
            }
            Activation::Softplus => {
                if z > SOFTPLUS_THRESHOLD {
                    1.0
                } else {
                    sigmoid(z)
                }
            }
            Activation::Identity => 1.0,
        }
    }

    /// a ← act(z), element-wise over a batch.
    pub fn forward(self, z: ArrayView2<'_, f64>, a: ArrayViewMut2<'_, f64>) {
        // One monomorphized loop per activation keeps the match out of the inner loop.
        macro_rules! map {
            ($f:expr) => {
                Zip::from(a).and(&z).for_each(|a, &z| *a = $f(z))
            };
        }
        match self {
            Activation::Relu => map!(|z: f64| z.max(0.0)),
            Activation::Tanh => map!(f64::tanh),
            Activation::Identity => map!(|z| z),
            other => map!(|z| other.value(z)),
        }
    }

    /// dz ← dz ⊙ act'(z), element-wise over a batch (dz holds ∂L/∂a on entry).
    pub fn backward(
        self,
        z: ArrayView2<'_, f64>,
        a: ArrayView2<'_, f64>,
        dz: ArrayViewMut2<'_, f64>,
    ) {
        match self {
            Activation::Identity => {}
            Activation::Relu => Zip::from(dz).and(&z).for_each(|d, &z| {
                if z <= 0.0 {
                    *d = 0.0;
                }
            }),
            Activation::Tanh => Zip::from(dz).and(&a).for_each(|d, &a| *d *= 1.0 - a * a),
            other => Zip::from(dz)
                .and(&z)
                .and(&a)
                .for_each(|d, &z, &a| *d *= other.derivative(z, a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 7] = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Softplus,
        Activation::Identity,
    ];

    #[test]
    fn derivatives_match_central_differences() {
        let h = 1e-6;
        for act in ALL {
            for z in [-3.1, -0.7, 0.3, 1.9, 25.0] {
                let fd = (act.value(z + h) - act.value(z - h)) / (2.0 * h);
                let an = act.derivative(z, act.value(z));
                assert!((fd - an).abs() < 1e-8, "{act:?} at {z}: {fd} vs {an}");
            }
        }
    }

    #[test]
    fn gelu_matches_torch_values() {
        // torch.nn.functional.gelu(torch.tensor([-1., 0.5, 2.], dtype=torch.float64))
        // equals 0.5·z·(1 + erf(z/√2)); these are that closed form with Python's math.erf.
        let expected = [
            (-1.0, -0.15865525393145707),
            (0.5, 0.34573123063700656),
            (2.0, 1.9544997361036416),
        ];
        for (z, g) in expected {
            assert!((Activation::Gelu.value(z) - g).abs() < 1e-15, "gelu({z})");
        }
    }

    #[test]
    fn relu_has_zero_derivative_at_zero_as_in_torch() {
        assert_eq!(Activation::Relu.derivative(0.0, 0.0), 0.0);
    }

    #[test]
    fn sigmoid_does_not_overflow() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
    }
}
