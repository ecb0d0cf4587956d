//! The compiled form of an expression: a flat, topologically ordered instruction array
//! (a Wengert list) over numbered slots, evaluated forward for the value and backward for
//! the gradient (reverse-mode AD, Griewank & Walther 2008, ch. 3) without allocating.
//!
//! Slots `0..n` hold the inputs, the next ones the constants (written once at build time),
//! then one slot per instruction. Local derivatives follow PyTorch's `derivatives.yaml`,
//! including its choices at non-differentiable points (see docs/EXPRESSIONS.md).

pub use super::lanes::{Gather, LaneTape};
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
    /// (a + c)², fused so the square's operand needs no slot of its own.
    SqAddC,
    /// (c − a)².
    SqRSubC,
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
    /// Round half to even (as torch.round).
    Round,
    /// Integer part.
    Trunc,
    /// The sum over the lanes of lane tape number `a`: a `sum` evaluated for all its index
    /// values at once.
    SumLanes,
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
    /// (a − b)².
    SqSub,
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
    /// Second operand slot (the sink slot, after all others, for one-operand operations).
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
    /// The vectorized `sum` bodies referenced by `SumLanes` instructions.
    pub lanes: Vec<LaneTape>,
}

/// The slot buffers one evaluation mode (values or duals) needs.
#[derive(Debug, Clone)]
struct Buffers<S> {
    vals: Vec<S>,
    adj: Vec<S>,
    pa: Vec<S>,
    pb: Vec<S>,
    /// Per `sum`: every lane value of the last forward sweep.
    lane_vals: Vec<Vec<S>>,
    /// Per `sum`: one chunk of lane adjoints.
    lane_adj: Vec<Vec<S>>,
}

impl<S: Scalar> Buffers<S> {
    fn new(tape: &Tape) -> Self {
        let zero = S::cst(0.0);
        let mut vals = vec![zero; tape.slots() + 1];
        for (k, c) in tape.consts.iter().enumerate() {
            vals[tape.n_inputs + k] = S::cst(*c);
        }
        Self {
            adj: vec![zero; tape.slots() + 1],
            vals,
            pa: vec![zero; tape.nodes.len()],
            pb: vec![zero; tape.nodes.len()],
            lane_vals: tape.lanes.iter().map(LaneTape::new_values).collect(),
            lane_adj: (tape.lanes.iter())
                .map(|lt| vec![zero; lt.adjoints_len()])
                .collect(),
        }
    }
}

impl Tape {
    /// Number of slots: inputs + constants + instructions (the buffers add one sink slot,
    /// the `b` operand of every one-operand instruction).
    pub fn slots(&self) -> usize {
        self.n_inputs + self.consts.len() + self.nodes.len()
    }

    /// The number of values one scratch buffer holds (outer slots and all lanes).
    pub fn size(&self) -> usize {
        self.slots()
            + self
                .lanes
                .iter()
                .map(|lt| lt.values_len() + lt.adjoints_len())
                .sum::<usize>()
    }

    /// The first instruction's slot.
    #[inline(always)]
    fn base(&self) -> usize {
        self.n_inputs + self.consts.len()
    }

    /// Forward sweep for the value only; inputs must already be in place.
    #[inline]
    fn forward<S: Scalar>(&self, buf: &mut Buffers<S>) -> S {
        let base = self.base();
        let Buffers {
            vals, lane_vals, ..
        } = buf;
        for (k, node) in self.nodes.iter().enumerate() {
            let v = if node.op == Op::SumLanes {
                let lane = node.a as usize;
                self.lanes[lane].forward(&vals[..base + k], &mut lane_vals[lane])
            } else {
                eval(
                    node.op,
                    vals[node.a as usize],
                    vals[node.b as usize],
                    node.c,
                )
            };
            vals[base + k] = v;
        }
        vals[self.output as usize]
    }

    /// Forward sweep that also records every instruction's local partial derivatives, so
    /// the reverse sweep is a dispatch-free multiply-add loop.
    #[inline]
    fn forward_partials<S: Scalar>(&self, buf: &mut Buffers<S>) -> S {
        let base = self.base();
        let Buffers {
            vals,
            pa,
            pb,
            lane_vals,
            ..
        } = buf;
        for (k, node) in self.nodes.iter().enumerate() {
            if node.op == Op::SumLanes {
                let lane = node.a as usize;
                vals[base + k] = self.lanes[lane].forward(&vals[..base + k], &mut lane_vals[lane]);
                continue;
            }
            let (a, b) = (vals[node.a as usize], vals[node.b as usize]);
            let out = eval(node.op, a, b, node.c);
            let (da, db) = partials(node.op, a, b, out, node.c);
            vals[base + k] = out;
            pa[k] = da;
            pb[k] = db;
        }
        vals[self.output as usize]
    }

    /// Reverse sweep after [`Tape::forward_partials`]: leaves ∂f/∂slot in `adj` (so the
    /// gradient in `adj[..n]`), seeding the output with 1.
    #[inline]
    fn reverse<S: Scalar>(&self, buf: &mut Buffers<S>) {
        let base = self.base();
        let Buffers {
            vals,
            adj,
            pa,
            pb,
            lane_vals,
            lane_adj,
        } = buf;
        adj.fill(S::cst(0.0));
        adj[self.output as usize] = S::cst(1.0);
        for (k, node) in self.nodes.iter().enumerate().rev() {
            let g = adj[base + k];
            if node.op == Op::SumLanes {
                let lane = node.a as usize;
                let (lane_vals, lane_adj) = (&lane_vals[lane], &mut lane_adj[lane]);
                self.lanes[lane].reverse(vals, adj, g, lane_vals, lane_adj);
                continue;
            }
            adj[node.a as usize] = adj[node.a as usize] + g * pa[k];
            adj[node.b as usize] = adj[node.b as usize] + g * pb[k];
        }
    }
}

/// `dst.copy_from_slice(src)`, with the few-element cases inlined: a libc `memmove` call
/// costs as much as a 2-D Rosenbrock gradient.
#[inline(always)]
fn copy(dst: &mut [f64], src: &[f64]) {
    match src.len() {
        1 => dst[..1].copy_from_slice(&src[..1]),
        2 => dst[..2].copy_from_slice(&src[..2]),
        3 => dst[..3].copy_from_slice(&src[..3]),
        4 => dst[..4].copy_from_slice(&src[..4]),
        _ => dst.copy_from_slice(src),
    }
}

/// Tapes without `sum` lanes and with at most this many instructions take the small path.
const SMALL_NODES: usize = 64;

/// What one step of the small path does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// One tape instruction as it is.
    Op(Op),
    /// `a + b`, whose unit partials need not be recorded (g·1 = g).
    Add,
    /// `a · b`, inlined (no dispatch on the operation).
    Mul,
    /// `(c − a)²`, inlined.
    SqRSubC,
    /// `c·a²`: `Square(a)` then `MulC(·, c)`.
    ScaledSquare,
    /// `c·(a − b)²`: `SqSub(a, b)` then `MulC(·, c)`.
    ScaledSqSub,
    /// `a − b²`: `Square(b)` then `Sub(a, ·)`.
    SubSquare,
    /// `c·(a − b²)²`: `Square(b)`, `SqSub(a, ·)`, `MulC(·, c)`.
    ScaledSqSubSquare,
}

/// One step of the small path: one instruction, or a few consecutive ones fused.
#[derive(Debug, Clone, Copy)]
struct Step {
    kind: Kind,
    a: u32,
    b: u32,
    c: f64,
    /// The slot of the step's (last instruction's) result.
    out: u32,
    /// Whether the reverse sweep's contributions to the adjoints of `a` and `b` are the
    /// first ones to those slots.
    first: [bool; 2],
}

impl Kind {
    /// Whether the step contributes to the adjoint of its `b` slot.
    fn reads_b(self) -> bool {
        match self {
            Kind::Op(op) => op.is_binary(),
            Kind::SqRSubC | Kind::ScaledSquare => false,
            Kind::Add | Kind::Mul | Kind::ScaledSqSub | Kind::SubSquare => true,
            Kind::ScaledSqSubSquare => true,
        }
    }
}

/// Adds `v` to an adjoint. The first contribution starts from 0 instead of reading the
/// slot, so adjoints are never zeroed beforehand (`0 + v`, not `v`: signed zeros come out
/// as in the generic sweeps).
#[inline(always)]
fn accumulate(adjoint: &mut f64, v: f64, first: bool) {
    *adjoint = if first { 0.0 } else { *adjoint } + v;
}

/// The small-tape path of [`Workspace::value_and_grad`]: the tape's instructions with
/// chains of single-use intermediates fused into super-instructions, so the 2-D Rosenbrock
/// runs 3 steps instead of 5 and the fused intermediates' adjoints stay in registers.
///
/// Every fused step does the same floating-point operations in the same order as the
/// instructions it replaces, in both sweeps (including the `0 + g·p` that starts an
/// intermediate's adjoint), so values and gradients are bit for bit those of the generic
/// path. No adjoint is zeroed beforehand (the first contribution to each starts from 0;
/// inputs that get none are zeroed after), and one-operand steps skip the sink slot.
#[derive(Debug, Clone)]
struct Small {
    steps: Vec<Step>,
    /// Local partials recorded by the forward sweep, one entry per step: ∂/∂a, ∂/∂b, and
    /// the fused steps' inner partial (zipped with `steps`, so indexing is unchecked-free).
    partials: Vec<[f64; 3]>,
    /// Inputs no step contributes to: their gradient is 0.
    untouched: Vec<u32>,
}

impl Small {
    /// The small program for `tape`, or `None` if it has lanes or is long.
    fn new(tape: &Tape) -> Option<Self> {
        if !tape.lanes.is_empty() || tape.nodes.len() > SMALL_NODES {
            return None;
        }
        let base = tape.base();
        let n = tape.nodes.len();
        // How often each instruction's result is read (the output counts as a read).
        let mut uses = vec![0usize; n];
        let mut read = |s: u32| {
            if let Some(j) = (s as usize).checked_sub(base).filter(|j| *j < n) {
                uses[j] += 1;
            }
        };
        read(tape.output);
        for node in &tape.nodes {
            read(node.a);
            if node.op.is_binary() {
                read(node.b);
            }
        }
        // Node j's result feeds only node j + 1, as operand a (`first`) or b.
        let feeds = |j: usize, first: bool| {
            let next = &tape.nodes[j + 1];
            let slot = (base + j) as u32;
            uses[j] == 1
                && if first {
                    next.a == slot && !(next.op.is_binary() && next.b == slot)
                } else {
                    next.op.is_binary() && next.b == slot && next.a != slot
                }
        };
        let mut steps = Vec::with_capacity(n);
        let mut j = 0;
        while j < n {
            let node = tape.nodes[j];
            let op_at = |k: usize| tape.nodes.get(k).map(|x| x.op);
            let step = |kind, a, b, c, last: usize| Step {
                kind,
                a,
                b,
                c,
                out: (base + last) as u32,
                first: [false; 2],
            };
            let (s, len) = match (node.op, op_at(j + 1), op_at(j + 2)) {
                (Op::Square, Some(Op::SqSub), Some(Op::MulC))
                    if feeds(j, false) && feeds(j + 1, true) =>
                {
                    let (next, last) = (tape.nodes[j + 1], tape.nodes[j + 2]);
                    (
                        step(Kind::ScaledSqSubSquare, next.a, node.a, last.c, j + 2),
                        3,
                    )
                }
                (Op::Square, Some(Op::MulC), _) if feeds(j, true) => (
                    step(
                        Kind::ScaledSquare,
                        node.a,
                        node.b,
                        tape.nodes[j + 1].c,
                        j + 1,
                    ),
                    2,
                ),
                (Op::SqSub, Some(Op::MulC), _) if feeds(j, true) => (
                    step(
                        Kind::ScaledSqSub,
                        node.a,
                        node.b,
                        tape.nodes[j + 1].c,
                        j + 1,
                    ),
                    2,
                ),
                (Op::Square, Some(Op::Sub), _) if feeds(j, false) => (
                    step(Kind::SubSquare, tape.nodes[j + 1].a, node.a, 0.0, j + 1),
                    2,
                ),
                (Op::Add, _, _) => (step(Kind::Add, node.a, node.b, 0.0, j), 1),
                (Op::Mul, _, _) => (step(Kind::Mul, node.a, node.b, 0.0, j), 1),
                (Op::SqRSubC, _, _) => (step(Kind::SqRSubC, node.a, node.b, node.c, j), 1),
                (op, _, _) => (step(Kind::Op(op), node.a, node.b, node.c, j), 1),
            };
            steps.push(s);
            j += len;
        }
        // Scanned in reverse-sweep order; the output's adjoint is the seed.
        let mut written = vec![false; tape.slots() + 1];
        written[tape.output as usize] = true;
        for st in steps.iter_mut().rev() {
            let mut first = |s: u32| !std::mem::replace(&mut written[s as usize], true);
            let a = first(st.a);
            st.first = [a, st.kind.reads_b() && first(st.b)];
        }
        Some(Self {
            partials: vec![[0.0; 3]; steps.len()],
            steps,
            untouched: (0..tape.n_inputs as u32)
                .filter(|s| !written[*s as usize])
                .collect(),
        })
    }

    /// f(x) with ∂f/∂slot left in `buf.adj`; the inputs must already be in `buf.vals`.
    // Kept out of line so the generic path's code (and the `sum` lanes' performance) is as
    // it was without this path.
    #[inline(never)]
    fn value_and_grad(&mut self, tape: &Tape, buf: &mut Buffers<f64>) -> f64 {
        let Buffers { vals, adj, .. } = buf;
        for (st, p) in self.steps.iter().zip(self.partials.iter_mut()) {
            let (a, b, c) = (vals[st.a as usize], vals[st.b as usize], st.c);
            let out = match st.kind {
                Kind::Op(op) => {
                    let out = eval(op, a, b, c);
                    (p[0], p[1]) = partials(op, a, b, out, c);
                    out
                }
                Kind::Add => a + b,
                Kind::Mul => {
                    (p[0], p[1]) = (b, a);
                    a * b
                }
                Kind::SqRSubC => {
                    let t = c - a;
                    p[0] = -(t * 2.0);
                    t * t
                }
                Kind::ScaledSquare => {
                    p[0] = a * 2.0;
                    (a * a) * c
                }
                Kind::ScaledSqSub => {
                    let t = a - b;
                    let t2 = t * 2.0;
                    (p[0], p[1]) = (t2, -t2);
                    (t * t) * c
                }
                Kind::SubSquare => {
                    (p[1], p[2]) = (-1.0, b * 2.0);
                    a - b * b
                }
                Kind::ScaledSqSubSquare => {
                    let t = a - b * b;
                    let t2 = t * 2.0;
                    *p = [t2, -t2, b * 2.0];
                    (t * t) * c
                }
            };
            vals[st.out as usize] = out;
        }
        adj[tape.output as usize] = 1.0;
        for (st, p) in self.steps.iter().zip(&self.partials).rev() {
            let g = adj[st.out as usize];
            let (a, b) = (st.a as usize, st.b as usize);
            let [fa, fb] = st.first;
            match st.kind {
                Kind::Op(op) => {
                    accumulate(&mut adj[a], g * p[0], fa);
                    if op.is_binary() {
                        accumulate(&mut adj[b], g * p[1], fb);
                    }
                }
                Kind::Add => {
                    accumulate(&mut adj[a], g, fa);
                    accumulate(&mut adj[b], g, fb);
                }
                Kind::Mul => {
                    accumulate(&mut adj[a], g * p[0], fa);
                    accumulate(&mut adj[b], g * p[1], fb);
                }
                Kind::SqRSubC => accumulate(&mut adj[a], g * p[0], fa),
                Kind::ScaledSquare => {
                    let g1 = 0.0 + g * st.c;
                    accumulate(&mut adj[a], g1 * p[0], fa);
                }
                Kind::ScaledSqSub => {
                    let g1 = 0.0 + g * st.c;
                    accumulate(&mut adj[a], g1 * p[0], fa);
                    accumulate(&mut adj[b], g1 * p[1], fb);
                }
                Kind::SubSquare => {
                    accumulate(&mut adj[a], g, fa);
                    let g1 = 0.0 + g * p[1];
                    accumulate(&mut adj[b], g1 * p[2], fb);
                }
                Kind::ScaledSqSubSquare => {
                    let g1 = 0.0 + g * st.c;
                    accumulate(&mut adj[a], g1 * p[0], fa);
                    let g2 = 0.0 + g1 * p[1];
                    accumulate(&mut adj[b], g2 * p[2], fb);
                }
            }
        }
        for s in &self.untouched {
            adj[*s as usize] = 0.0;
        }
        vals[tape.output as usize]
    }
}

/// Scratch buffers for evaluating one tape; allocated once, reused by every evaluation.
#[derive(Debug, Clone)]
pub struct Workspace {
    values: Buffers<f64>,
    duals: Option<Buffers<Dual>>,
    small: Option<Small>,
}

impl Workspace {
    /// Buffers for `tape`; the second-order ones are allocated on first use.
    pub fn new(tape: &Tape) -> Self {
        Self {
            values: Buffers::new(tape),
            duals: None,
            small: Small::new(tape),
        }
    }

    /// f(x).
    pub fn value(&mut self, tape: &Tape, x: &[f64]) -> f64 {
        copy(&mut self.values.vals[..tape.n_inputs], x);
        tape.forward(&mut self.values)
    }

    /// f(x), writing ∇f(x) into `grad`.
    pub fn value_and_grad(&mut self, tape: &Tape, x: &[f64], grad: &mut [f64]) -> f64 {
        copy(&mut self.values.vals[..tape.n_inputs], x);
        let f = match &mut self.small {
            Some(small) => small.value_and_grad(tape, &mut self.values),
            None => {
                let f = tape.forward_partials(&mut self.values);
                tape.reverse(&mut self.values);
                f
            }
        };
        copy(grad, &self.values.adj[..tape.n_inputs]);
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
        let duals = self.duals.get_or_insert_with(|| Buffers::new(tape));
        for ((slot, xi), vi) in duals.vals.iter_mut().zip(x).zip(v) {
            *slot = Dual::new(*xi, *vi);
        }
        let f = tape.forward_partials(duals);
        tape.reverse(duals);
        for (o, d) in out.iter_mut().zip(&duals.adj[..tape.n_inputs]) {
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
        Op::SqAddC => {
            let t = a + S::cst(c);
            t * t
        }
        Op::SqRSubC => {
            let t = S::cst(c) - a;
            t * t
        }
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
        Op::Round => S::cst(a.val().round_ties_even()),
        Op::Trunc => S::cst(a.val().trunc()),
        // Evaluated by the tape itself; never reached through `eval`.
        Op::SumLanes => a,
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
        Op::Pow => a.pow(b),
        Op::Atan2 => a.atan2(b),
        Op::Hypot => a.hypot(b),
        Op::Min => pick(a, b, false),
        Op::Max => pick(a, b, true),
        Op::SqSub => {
            let t = a - b;
            t * t
        }
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
        // The chain rule through the fused difference: 2t·(±1), exactly as unfused.
        Op::SqAddC => (a + S::cst(c)).scale(2.0),
        Op::SqRSubC => -(S::cst(c) - a).scale(2.0),
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
        Op::Sign | Op::Floor | Op::Ceil | Op::Round | Op::Trunc | Op::SumLanes => zero,
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
        Op::SqSub => {
            let t2 = (a - b).scale(2.0);
            return (t2, -t2);
        }
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

#[cfg(test)]
mod small_path_tests {
    use super::*;
    use crate::expr::ExpressionProblem;

    /// The generic sweeps, which the small path must reproduce.
    fn generic(tape: &Tape, x: &[f64]) -> (f64, Vec<f64>) {
        let mut buf = Buffers::new(tape);
        buf.vals[..x.len()].copy_from_slice(x);
        let f = tape.forward_partials(&mut buf);
        tape.reverse(&mut buf);
        (f, buf.adj[..x.len()].to_vec())
    }

    #[test]
    fn fused_small_path_equals_the_generic_sweeps_bit_for_bit() {
        let sources = [
            "(1 - x)^2 + 100*(y - x^2)^2",
            "100*(x - y^2)^2 + 3*x^2 + (x - y)^2*2.5 - (y - x^2)",
            "7*(x - x^2)^2 + 2*(x - x)^2 + x - x^2",
            "sin(x*y) + (x - y^2)^2 * 4 + exp(-x^2) + (x^2)*(y^2)",
            "(x - y)^2 + 0.5*(x - y)^2 + x^2 + x^2*x^2",
            "-0.0*(x - y^2)^2",
            "x",
            "3 + 0*y",
            "(2 - x)^2*(x*y) + (0.5 - y)^2 + y*y",
        ];
        let points = [
            [-1.5, 2.0],
            [0.0, -0.0],
            [1e-200, 3.7],
            [f64::NAN, 1.0],
            [0.3, 1e300],
            [-2.25, -0.125],
        ];
        for src in sources {
            let compiled = ExpressionProblem::new(src).compile().unwrap();
            let tape = compiled.tape();
            let mut ws = Workspace::new(tape);
            assert!(ws.small.is_some(), "{src} takes the small path");
            let n = tape.n_inputs;
            for p in &points {
                let x = &p[..n];
                let mut g = vec![0.0; n];
                let f = ws.value_and_grad(tape, x, &mut g);
                let (f0, g0) = generic(tape, x);
                // Bits, signed zeros included; any NaN is one value (Rust leaves NaN
                // payloads and signs unspecified).
                let bits = |v: &[f64]| {
                    v.iter()
                        .map(|d| if d.is_nan() { u64::MAX } else { d.to_bits() })
                        .collect::<Vec<_>>()
                };
                assert_eq!(bits(&[f]), bits(&[f0]), "{src} at {x:?}");
                assert_eq!(bits(&g), bits(&g0), "{src} at {x:?}");
            }
        }
    }

    #[test]
    fn rosenbrock_is_fused_into_three_steps() {
        let compiled = ExpressionProblem::new("(1 - x)^2 + 100*(y - x^2)^2")
            .compile()
            .unwrap();
        let small = Small::new(compiled.tape()).unwrap();
        let kinds: Vec<Kind> = small.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [Kind::SqRSubC, Kind::ScaledSqSubSquare, Kind::Add]);
    }
}
