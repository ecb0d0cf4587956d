//! The number types the tape is evaluated over: plain `f64` for values and gradients, and
//! [`Dual`] (value + directional derivative) for forward-over-reverse Hessian-vector products
//! (Griewank & Walther, *Evaluating Derivatives*, 2nd ed., §5.3).

use std::ops::{Add, Div, Mul, Neg, Sub};

/// Arithmetic and elementary functions shared by `f64` and [`Dual`], so every operation's
/// value and local partial derivatives are written once and serve both first- and
/// second-order sweeps.
pub trait Scalar:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// A constant (zero tangent).
    fn cst(v: f64) -> Self;
    /// The value part, used for branch decisions (relu, abs, max ties).
    fn val(self) -> f64;
    /// sin.
    fn sin(self) -> Self;
    /// cos.
    fn cos(self) -> Self;
    /// exp.
    fn exp(self) -> Self;
    /// exp(x) − 1, accurate near 0.
    fn exp_m1(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// ln(1 + x), accurate near 0.
    fn ln_1p(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Real cube root.
    fn cbrt(self) -> Self;
    /// tan.
    fn tan(self) -> Self;
    /// asin.
    fn asin(self) -> Self;
    /// acos.
    fn acos(self) -> Self;
    /// atan.
    fn atan(self) -> Self;
    /// sinh.
    fn sinh(self) -> Self;
    /// cosh.
    fn cosh(self) -> Self;
    /// tanh.
    fn tanh(self) -> Self;
    /// asinh.
    fn asinh(self) -> Self;
    /// acosh.
    fn acosh(self) -> Self;
    /// atanh.
    fn atanh(self) -> Self;
    /// x^p for a real exponent p (`f64::powf`).
    fn powf(self, p: f64) -> Self;
    /// x^y with both operands active.
    fn pow(self, y: Self) -> Self;
    /// atan2(self, x).
    fn atan2(self, x: Self) -> Self;
    /// √(self² + y²) without undue overflow.
    fn hypot(self, y: Self) -> Self;
    /// Multiplies by a plain number (no tangent).
    fn scale(self, k: f64) -> Self;
}

impl Scalar for f64 {
    #[inline(always)]
    fn cst(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn val(self) -> f64 {
        self
    }
    #[inline(always)]
    fn sin(self) -> Self {
        f64::sin(self)
    }
    #[inline(always)]
    fn cos(self) -> Self {
        f64::cos(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn exp_m1(self) -> Self {
        f64::exp_m1(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        f64::ln_1p(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn cbrt(self) -> Self {
        f64::cbrt(self)
    }
    #[inline(always)]
    fn tan(self) -> Self {
        f64::tan(self)
    }
    #[inline(always)]
    fn asin(self) -> Self {
        f64::asin(self)
    }
    #[inline(always)]
    fn acos(self) -> Self {
        f64::acos(self)
    }
    #[inline(always)]
    fn atan(self) -> Self {
        f64::atan(self)
    }
    #[inline(always)]
    fn sinh(self) -> Self {
        f64::sinh(self)
    }
    #[inline(always)]
    fn cosh(self) -> Self {
        f64::cosh(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    #[inline(always)]
    fn asinh(self) -> Self {
        f64::asinh(self)
    }
    #[inline(always)]
    fn acosh(self) -> Self {
        f64::acosh(self)
    }
    #[inline(always)]
    fn atanh(self) -> Self {
        f64::atanh(self)
    }
    #[inline(always)]
    fn powf(self, p: f64) -> Self {
        f64::powf(self, p)
    }
    #[inline(always)]
    fn pow(self, y: Self) -> Self {
        f64::powf(self, y)
    }
    #[inline(always)]
    fn atan2(self, x: Self) -> Self {
        f64::atan2(self, x)
    }
    #[inline(always)]
    fn hypot(self, y: Self) -> Self {
        f64::hypot(self, y)
    }
    #[inline(always)]
    fn scale(self, k: f64) -> Self {
        self * k
    }
}

/// A number with a tangent: `v + d·ε`, ε² = 0. Evaluating the reverse sweep over duals
/// yields the gradient in the value parts and H·ẋ in the tangent parts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Dual {
    /// The value.
    pub v: f64,
    /// The directional derivative along the seed direction.
    pub d: f64,
}

impl Dual {
    /// A dual number from its two parts.
    #[inline(always)]
    pub fn new(v: f64, d: f64) -> Self {
        Self { v, d }
    }

    /// Applies f with derivative `df` at `self.v` to the tangent.
    #[inline(always)]
    fn chain(self, fv: f64, df: f64) -> Self {
        Self::new(fv, df * self.d)
    }
}

impl Add for Dual {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Self::new(self.v + o.v, self.d + o.d)
    }
}

impl Sub for Dual {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Self::new(self.v - o.v, self.d - o.d)
    }
}

impl Mul for Dual {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Self::new(self.v * o.v, self.d * o.v + self.v * o.d)
    }
}

impl Div for Dual {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        let q = self.v / o.v;
        Self::new(q, (self.d - q * o.d) / o.v)
    }
}

impl Neg for Dual {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Self::new(-self.v, -self.d)
    }
}

impl Scalar for Dual {
    fn cst(v: f64) -> Self {
        Self::new(v, 0.0)
    }
    fn val(self) -> f64 {
        self.v
    }
    fn sin(self) -> Self {
        self.chain(self.v.sin(), self.v.cos())
    }
    fn cos(self) -> Self {
        self.chain(self.v.cos(), -self.v.sin())
    }
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    fn exp_m1(self) -> Self {
        self.chain(self.v.exp_m1(), self.v.exp())
    }
    fn ln(self) -> Self {
        self.chain(self.v.ln(), 1.0 / self.v)
    }
    fn ln_1p(self) -> Self {
        self.chain(self.v.ln_1p(), 1.0 / (1.0 + self.v))
    }
    fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        self.chain(s, 0.5 / s)
    }
    fn cbrt(self) -> Self {
        let c = self.v.cbrt();
        self.chain(c, 1.0 / (3.0 * c * c))
    }
    fn tan(self) -> Self {
        let t = self.v.tan();
        self.chain(t, 1.0 + t * t)
    }
    fn asin(self) -> Self {
        self.chain(self.v.asin(), 1.0 / (1.0 - self.v * self.v).sqrt())
    }
    fn acos(self) -> Self {
        self.chain(self.v.acos(), -1.0 / (1.0 - self.v * self.v).sqrt())
    }
    fn atan(self) -> Self {
        self.chain(self.v.atan(), 1.0 / (1.0 + self.v * self.v))
    }
    fn sinh(self) -> Self {
        self.chain(self.v.sinh(), self.v.cosh())
    }
    fn cosh(self) -> Self {
        self.chain(self.v.cosh(), self.v.sinh())
    }
    fn tanh(self) -> Self {
        let t = self.v.tanh();
        self.chain(t, 1.0 - t * t)
    }
    fn asinh(self) -> Self {
        self.chain(self.v.asinh(), 1.0 / (self.v * self.v + 1.0).sqrt())
    }
    fn acosh(self) -> Self {
        self.chain(self.v.acosh(), 1.0 / (self.v * self.v - 1.0).sqrt())
    }
    fn atanh(self) -> Self {
        self.chain(self.v.atanh(), 1.0 / (1.0 - self.v * self.v))
    }
    fn powf(self, p: f64) -> Self {
        let df = if p == 0.0 {
            0.0
        } else {
            p * self.v.powf(p - 1.0)
        };
        self.chain(self.v.powf(p), df)
    }
    fn pow(self, y: Self) -> Self {
        let out = self.v.powf(y.v);
        let da = if y.v == 0.0 {
            0.0
        } else {
            y.v * self.v.powf(y.v - 1.0)
        };
        let db = if self.v == 0.0 && y.v >= 0.0 {
            0.0
        } else {
            out * self.v.ln()
        };
        Self::new(out, da * self.d + db * y.d)
    }
    fn atan2(self, x: Self) -> Self {
        let r2 = self.v * self.v + x.v * x.v;
        Self::new(self.v.atan2(x.v), (x.v * self.d - self.v * x.d) / r2)
    }
    fn hypot(self, y: Self) -> Self {
        let h = self.v.hypot(y.v);
        Self::new(h, (self.v * self.d + y.v * y.d) / h)
    }
    fn scale(self, k: f64) -> Self {
        Self::new(self.v * k, self.d * k)
    }
}
