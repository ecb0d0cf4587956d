//! The compiled form of an expression: a flat, topologically ordered instruction array
//! (a Wengert list) over numbered slots, evaluated forward for the value and backward for
//! the gradient (reverse-mode AD, Griewank & Walther 2008, ch. 3) without allocating.
//!
//! Slots `0..n` hold the inputs, the next ones the constants (written once at build time),
//! then one slot per instruction. Local derivatives follow PyTorch's `derivatives.yaml`,
//! including its choices at non-differentiable points (see EXPRESSIONS.md).

use super::scalar::{Dual, Scalar};

/// One instruction of the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// −a.
    Neg,
    /// a·a (torch's `pow(a, 2)` kernel).
    Square,
    /// a·a·a (torch's `pow(a, 3)` kernel).
    Cube,
    /// a^c for a constant real c.
    PowC,
    /// a + c.
    AddC,
    /// a · c.
    MulC,
    /// c − a.
    RSubC,
    /// a / c.
    DivC,
    /// c / a.
    RDivC,
    /// sin a.
    Sin,
    /// cos a.
    Cos,
    /// tan a.
    Tan,
    /// asin a.
    Asin,
    /// acos a.
    Acos,
    /// atan a.
    Atan,
    /// sinh a.
    Sinh,
    /// cosh a.
    Cosh,
    /// tanh a.
    Tanh,
    /// asinh a.
    Asinh,
    /// acosh a.
    Acosh,
    /// atanh a.
    Atanh,
    /// eᵃ.
    Exp,
    /// eᵃ − 1.
    Expm1,
    /// ln a.
    Ln,
    /// ln(1 + a).
    Log1p,
    /// log₁₀ a.
    Log10,
    /// log₂ a.
    Log2,
    /// √a.
    Sqrt,
    /// ∛a.
    Cbrt,
    /// |a|.
    Abs,
    /// sign a (0 at 0).
    Sign,
    /// 1 / (1 + e⁻ᵃ).
    Sigmoid,
    /// ln(1 + eᵃ), torch's softplus (β = 1, threshold 20).
    Softplus,
    /// max(a, 0).
    Relu,
    /// ⌊a⌋.
    Floor,
    /// ⌈a⌉.
    Ceil,
    /// Round half away from zero.
    Round,
    /// Integer part.
    Trunc,
    /// a + b.
    Add,
    /// a − b.
    Sub,
    /// a · b.
    Mul,
    /// a / b.
    Div,
    /// aᵇ.
    Pow,
    /// atan2(a, b).
    Atan2,
    /// √(a² + b²).
    Hypot,
    /// min(a, b).
    Min,
    /// max(a, b).
    Max,
}

impl Op {
    /// True for operations reading both `a` and `b`.
    #[inline(always)]
    pub fn is_binary(self) -> bool {
        self as u8 >= Op::Add as u8
    }
}

/// One instruction: `slot[out] = op(slot[a], slot[b], c)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// First operand slot.
    pub a: u32,
    /// Second operand slot (equal to `a` for unary operations).
    pub b: u32,
    /// The constant of `PowC`, `AddC`, `MulC`, `RSubC`, `DivC`, `RDivC`.
    pub c: f64,
}

/// A compiled expression: inputs, constants and instructions.
#[derive(Debug, Clone, PartialEq)]
pub struct Tape {
    /// Number of scalar inputs n.
    pub n_inputs: usize,
    /// Constant slots, following the inputs.
    pub consts: Vec<f64>,
    /// Instructions in evaluation order.
    pub nodes: Vec<Node>,
    /// The slot holding the result.
    pub output: u32,
}

impl Tape {
    /// Total number of slots: inputs + constants + instructions.
    pub fn slots(&self) -> usize {
        self.n_inputs + self.consts.len() + self.nodes.len()
    }

    /// The first instruction's slot.
    #[inline(always)]
    fn base(&self) -> usize {
        self.n_inputs + self.consts.len()
    }

    /// Writes the constants into a fresh slot buffer (done once per buffer).
    pub fn init_slots<S: Scalar>(&self, vals: &mut [S]) {
        for (k, c) in self.consts.iter().enumerate() {
            vals[self.n_inputs + k] = S::cst(*c);
        }
    }

    /// Forward sweep: fills every instruction slot; inputs must already be in place.
    #[inline]
    pub fn forward<S: Scalar>(&self, vals: &mut [S]) -> S {
        let base = self.base();
        for (k, node) in self.nodes.iter().enumerate() {
            let a = vals[node.a as usize];
            let b = vals[node.b as usize];
            vals[base + k] = eval(node.op, a, b, node.c);
        }
        vals[self.output as usize]
    }

    /// Reverse sweep after [`Tape::forward`]: leaves ∂f/∂slot in `adj` (so the gradient in
    /// `adj[..n]`), seeding the output with 1.
    #[inline]
    pub fn reverse<S: Scalar>(&self, vals: &[S], adj: &mut [S]) {
        let base = self.base();
        adj.fill(S::cst(0.0));
        adj[self.output as usize] = S::cst(1.0);
        for (k, node) in self.nodes.iter().enumerate().rev() {
            let g = adj[base + k];
            let a = vals[node.a as usize];
            let b = vals[node.b as usize];
            let (pa, pb) = partials(node.op, a, b, vals[base + k], node.c);
            adj[node.a as usize] = adj[node.a as usize] + g * pa;
            if node.op.is_binary() {
                adj[node.b as usize] = adj[node.b as usize] + g * pb;
            }
        }
    }
}

/// Scratch buffers for evaluating one tape; allocated once, reused by every evaluation.
#[derive(Debug, Clone)]
pub struct Workspace {
    vals: Vec<f64>,
    adj: Vec<f64>,
    dvals: Vec<Dual>,
    dadj: Vec<Dual>,
}

impl Workspace {
    /// Buffers for `tape`; the second-order ones are allocated on first use.
    pub fn new(tape: &Tape) -> Self {
        let mut vals = vec![0.0; tape.slots()];
        tape.init_slots(&mut vals);
        Self {
            vals,
            adj: vec![0.0; tape.slots()],
            dvals: Vec::new(),
            dadj: Vec::new(),
        }
    }

    /// f(x).
    pub fn value(&mut self, tape: &Tape, x: &[f64]) -> f64 {
        self.vals[..tape.n_inputs].copy_from_slice(x);
        tape.forward(&mut self.vals)
    }

    /// f(x), writing ∇f(x) into `grad`.
    pub fn value_and_grad(&mut self, tape: &Tape, x: &[f64], grad: &mut [f64]) -> f64 {
        let f = self.value(tape, x);
        tape.reverse(&self.vals, &mut self.adj);
        grad.copy_from_slice(&self.adj[..tape.n_inputs]);
        f
    }

    /// ∇²f(x)·v by forward-over-reverse; also returns f(x).
    pub fn hessian_vector_product(
        &mut self,
        tape: &Tape,
        x: &[f64],
        v: &[f64],
        out: &mut [f64],
    ) -> f64 {
        if self.dvals.len() != tape.slots() {
            self.dvals = vec![Dual::default(); tape.slots()];
            self.dadj = vec![Dual::default(); tape.slots()];
            tape.init_slots(&mut self.dvals);
        }
        for ((slot, xi), vi) in self.dvals.iter_mut().zip(x).zip(v) {
            *slot = Dual::new(*xi, *vi);
        }
        let f = tape.forward(&mut self.dvals);
        tape.reverse(&self.dvals, &mut self.dadj);
        for (o, d) in out.iter_mut().zip(&self.dadj[..tape.n_inputs]) {
            *o = d.d;
        }
        f.v
    }
}

/// torch's `pow(a, p)` for a constant exponent: the special kernels for common exponents,
/// `std::pow` otherwise (aten/src/ATen/native/cpu/PowKernel.cpp).
#[inline(always)]
pub fn pow_const<S: Scalar>(a: S, p: f64) -> S {
    if p == 2.0 {
        a * a
    } else if p == 3.0 {
        a * a * a
    } else if p == 1.0 {
        a
    } else if p == 0.0 {
        S::cst(1.0)
    } else if p == 0.5 {
        a.sqrt()
    } else if p == -0.5 {
        S::cst(1.0) / a.sqrt()
    } else if p == -1.0 {
        S::cst(1.0) / a
    } else if p == -2.0 {
        S::cst(1.0) / (a * a)
    } else {
        a.powf(p)
    }
}

/// max/min with NaN propagation, like torch.maximum.
#[inline(always)]
fn pick<S: Scalar>(a: S, b: S, want_max: bool) -> S {
    let (x, y) = (a.val(), b.val());
    if x.is_nan() {
        a
    } else if y.is_nan() {
        b
    } else if (x > y) == want_max || x == y {
        a
    } else {
        b
    }
}

/// The value of one operation.
#[inline(always)]
pub fn eval<S: Scalar>(op: Op, a: S, b: S, c: f64) -> S {
    match op {
        Op::Neg => -a,
        Op::Square => a * a,
        Op::Cube => a * a * a,
        Op::PowC => pow_const(a, c),
        Op::AddC => a + S::cst(c),
        Op::MulC => a.scale(c),
        Op::RSubC => S::cst(c) - a,
        Op::DivC => a / S::cst(c),
        Op::RDivC => S::cst(c) / a,
        Op::Sin => a.sin(),
        Op::Cos => a.cos(),
        Op::Tan => a.tan(),
        Op::Asin => a.asin(),
        Op::Acos => a.acos(),
        Op::Atan => a.atan(),
        Op::Sinh => a.sinh(),
        Op::Cosh => a.cosh(),
        Op::Tanh => a.tanh(),
        Op::Asinh => a.asinh(),
        Op::Acosh => a.acosh(),
        Op::Atanh => a.atanh(),
        Op::Exp => a.exp(),
        Op::Expm1 => a.exp_m1(),
        Op::Ln => a.ln(),
        Op::Log1p => a.ln_1p(),
        Op::Log10 => a.ln().scale(std::f64::consts::LOG10_E),
        Op::Log2 => a.ln().scale(std::f64::consts::LOG2_E),
        Op::Sqrt => a.sqrt(),
        Op::Cbrt => a.cbrt(),
        Op::Abs => {
            if a.val() < 0.0 {
                -a
            } else if a.val() > 0.0 {
                a
            } else {
                // ±0 → +0 and NaN stays NaN, with a zero tangent (abs'(0) = 0).
                S::cst(a.val().abs())
            }
        }
        Op::Sign => S::cst(sign(a.val())),
        Op::Sigmoid => S::cst(1.0) / (S::cst(1.0) + (-a).exp()),
        Op::Softplus => {
            if a.val() > 20.0 {
                a
            } else {
                a.exp().ln_1p()
            }
        }
        Op::Relu => {
            if a.val() > 0.0 || a.val().is_nan() {
                a
            } else {
                S::cst(0.0)
            }
        }
        Op::Floor => S::cst(a.val().floor()),
        Op::Ceil => S::cst(a.val().ceil()),
        Op::Round => S::cst(a.val().round()),
        Op::Trunc => S::cst(a.val().trunc()),
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
        Op::Pow => a.pow(b),
        Op::Atan2 => a.atan2(b),
        Op::Hypot => (a * a + b * b).sqrt(),
        Op::Min => pick(a, b, false),
        Op::Max => pick(a, b, true),
    }
}

/// The sign with sign(0) = 0 and sign(NaN) = NaN, as torch.sign.
#[inline(always)]
pub fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v * 0.0
    }
}

/// The local partial derivatives (∂out/∂a, ∂out/∂b) of one operation at (a, b) with result
/// `out`, following torch's `derivatives.yaml` formulas.
#[inline(always)]
pub fn partials<S: Scalar>(op: Op, a: S, b: S, out: S, c: f64) -> (S, S) {
    let one = S::cst(1.0);
    let zero = S::cst(0.0);
    let d = match op {
        Op::Neg => S::cst(-1.0),
        Op::Square => a.scale(2.0),
        Op::Cube => (a * a).scale(3.0),
        Op::PowC => {
            if c == 0.0 {
                zero
            } else {
                pow_const(a, c - 1.0).scale(c)
            }
        }
        Op::AddC => one,
        Op::MulC => S::cst(c),
        Op::RSubC => S::cst(-1.0),
        Op::DivC => S::cst(1.0 / c),
        Op::RDivC => -(S::cst(c) / (a * a)),
        Op::Sin => a.cos(),
        Op::Cos => -a.sin(),
        Op::Tan => one + out * out,
        Op::Asin => one / (one - a * a).sqrt(),
        Op::Acos => -(one / (one - a * a).sqrt()),
        Op::Atan => one / (a * a + one),
        Op::Sinh => a.cosh(),
        Op::Cosh => a.sinh(),
        Op::Tanh => one - out * out,
        Op::Asinh => one / (a * a + one).sqrt(),
        Op::Acosh => one / (a * a - one).sqrt(),
        Op::Atanh => one / (one - a * a),
        Op::Exp => out,
        Op::Expm1 => out + one,
        Op::Ln => one / a,
        Op::Log1p => one / (a + one),
        Op::Log10 => one / a.scale(std::f64::consts::LN_10),
        Op::Log2 => one / a.scale(std::f64::consts::LN_2),
        Op::Sqrt => one / out.scale(2.0),
        Op::Cbrt => one / (out * out).scale(3.0),
        Op::Abs => S::cst(sign(a.val())),
        Op::Sign | Op::Floor | Op::Ceil | Op::Round | Op::Trunc => zero,
        Op::Sigmoid => (one - out) * out,
        Op::Softplus => {
            if a.val() > 20.0 {
                one
            } else {
                let z = a.exp();
                z / (z + one)
            }
        }
        Op::Relu => {
            if a.val() > 0.0 {
                one
            } else {
                zero
            }
        }
        Op::Add => return (one, one),
        Op::Sub => return (one, S::cst(-1.0)),
        Op::Mul => return (b, a),
        Op::Div => return (one / b, -(a / (b * b))),
        Op::Pow => {
            let da = if b.val() == 0.0 {
                zero
            } else {
                b * a.pow(b - one)
            };
            let db = if a.val() == 0.0 && b.val() >= 0.0 {
                zero
            } else {
                out * a.ln()
            };
            return (da, db);
        }
        Op::Atan2 => {
            let r = one / (a * a + b * b);
            return (b * r, -(a * r));
        }
        Op::Hypot => return (a / out, b / out),
        Op::Min | Op::Max => {
            let (x, y) = (a.val(), b.val());
            let first = if op == Op::Max { x > y } else { x < y };
            return if x == y {
                (S::cst(0.5), S::cst(0.5))
            } else if first || x.is_nan() || y.is_nan() {
                if first {
                    (one, zero)
                } else {
                    (one, one)
                }
            } else {
                (zero, one)
            };
        }
    };
    (d, zero)
}
