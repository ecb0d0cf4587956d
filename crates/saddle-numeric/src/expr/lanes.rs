//! `sum(i=lo..hi, body)` evaluated for all m index values at once ("lanes"): the body is
//! compiled once into element-wise instructions over lane slots, so the interpretation
//! cost is paid per instruction, not per term, and every instruction is a loop the
//! compiler vectorizes — 256 bits wide where the CPU has AVX2 (chosen at run time; see
//! [`crate::simd`]), with results bit for bit those of the portable build.
//!
//! The forward sweep keeps every lane value (the tape limit bounds how many there are), so
//! the reverse sweep can run when the sum's adjoint is known: it seeds the lanes with that
//! adjoint, as the unrolled sum would, and adds the gathered values' adjoints straight into
//! the outer ones. Lanes are processed in chunks small enough to stay in the L1 cache.

use super::scalar::Scalar;
use super::tape::{eval, partials, Node, Op};
use crate::simd::use_avx2;

/// Lanes are processed in chunks of this many, so a chunk's slots stay in the L1 cache.
const CHUNK: usize = 128;

/// The body of a `sum(i=lo..hi, body)` compiled once and evaluated for all m index values
/// at once.
///
/// Lane slots are `gathers`, then `consts`, then one per instruction, then a sink (the `b`
/// of one-operand instructions); each holds m values.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneTape {
    /// The number of index values m.
    pub lanes: usize,
    /// Gathered slots, read from the outer slots (x[i+1], or a broadcast outer value).
    pub gathers: Vec<Gather>,
    /// Index-dependent constants, one value per lane.
    pub consts: Vec<Vec<f64>>,
    /// Element-wise instructions over lane slots.
    pub nodes: Vec<Node>,
    /// The lane slot holding the summand.
    pub output: u32,
    /// How the reverse sweep writes each instruction's contributions.
    writes: Vec<AdjointWrites>,
    /// The gathers whose adjoints the reverse sweep writes (an unused gather has none).
    differentiated: Vec<bool>,
}

/// Where a gathered lane slot reads its values.
#[derive(Debug, Clone, PartialEq)]
pub enum Gather {
    /// Lane l reads outer slot `start + l` (e.g. `x[i+1]`), in place.
    Range(u32),
    /// Lane l reads outer slot `indices[l]`.
    Indices(Vec<u32>),
}

impl Gather {
    /// From the outer slot of every lane.
    pub fn new(indices: Vec<u32>) -> Self {
        let contiguous = indices.windows(2).all(|w| w[1] == w[0] + 1);
        match indices.first() {
            Some(start) if contiguous => Gather::Range(*start),
            _ => Gather::Indices(indices),
        }
    }
}

/// One instruction's part in the reverse sweep. The first contribution to an adjoint (in
/// reverse order) assigns instead of adding, so the adjoint rows are never zeroed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AdjointWrites {
    /// Whether the instruction's own adjoint is ever written (else it is zero: skipped).
    live: bool,
    /// Whether its contribution to operand `a`'s adjoint is the first one.
    a_first: bool,
    /// The same for `b` (binary instructions with `b ≠ a` only).
    b_first: bool,
}

impl LaneTape {
    /// A lane tape, with its reverse-sweep plan worked out once.
    pub fn new(
        lanes: usize,
        gathers: Vec<Gather>,
        consts: Vec<Vec<f64>>,
        nodes: Vec<Node>,
        output: u32,
    ) -> Self {
        let base = gathers.len() + consts.len();
        let mut written = vec![false; base + nodes.len() + 1];
        written[output as usize] = true;
        let mut writes = vec![
            AdjointWrites {
                live: false,
                a_first: false,
                b_first: false
            };
            nodes.len()
        ];
        for (j, node) in nodes.iter().enumerate().rev() {
            if !written[base + j] {
                continue;
            }
            let mut first = |s: u32| !std::mem::replace(&mut written[s as usize], true);
            let a_first = first(node.a);
            let b_first = node.op.is_binary() && node.b != node.a && first(node.b);
            writes[j] = AdjointWrites {
                live: true,
                a_first,
                b_first,
            };
        }
        Self {
            differentiated: written[..gathers.len()].to_vec(),
            lanes,
            gathers,
            consts,
            nodes,
            output,
            writes,
        }
    }

    /// Lane slots including the trailing sink.
    fn slots(&self) -> usize {
        self.gathers.len() + self.consts.len() + self.nodes.len() + 1
    }

    fn base(&self) -> usize {
        self.gathers.len() + self.consts.len()
    }

    /// The number of lanes in a chunk's rows.
    fn width(&self) -> usize {
        self.lanes.min(CHUNK)
    }

    /// The values of one chunk: every slot's row.
    fn chunk_len(&self) -> usize {
        self.slots() * self.width()
    }

    /// The length of the buffer the forward sweep keeps the lane values in.
    pub(super) fn values_len(&self) -> usize {
        self.lanes.div_ceil(CHUNK) * self.chunk_len()
    }

    /// The length of the reverse sweep's scratch buffer (one chunk of adjoints).
    pub(super) fn adjoints_len(&self) -> usize {
        self.chunk_len()
    }

    /// A buffer for the lane values, with the constant lanes in place (they never change).
    pub(super) fn new_values<S: Scalar>(&self) -> Vec<S> {
        let (c, g) = (self.width(), self.gathers.len());
        let mut vals = vec![S::cst(0.0); self.values_len()];
        for (q, chunk) in vals.chunks_exact_mut(self.chunk_len()).enumerate() {
            for (k, values) in self.consts.iter().enumerate() {
                let row = &mut chunk[(g + k) * c..][..c];
                for (slot, v) in row.iter_mut().zip(&values[q * CHUNK..]) {
                    *slot = S::cst(*v);
                }
            }
        }
        vals
    }

    /// Lanes `start..start + w` of lane slot `s`: a contiguous gather is read in place from
    /// the outer slots, every other slot from the chunk's rows.
    #[inline(always)]
    fn operand<'v, S>(
        &self,
        s: u32,
        outer: &'v [S],
        chunk: &'v [S],
        start: usize,
        w: usize,
    ) -> &'v [S] {
        match self.gathers.get(s as usize) {
            Some(Gather::Range(first)) => &outer[*first as usize + start..][..w],
            _ => &chunk[s as usize * self.width()..][..w],
        }
    }

    /// The operand rows of `node` (a one-operand instruction gets `a` twice: its `b` is the
    /// sink, whose row is not in `chunk` while the instruction is evaluated).
    #[inline(always)]
    fn operands<'v, S>(
        &self,
        node: &Node,
        outer: &'v [S],
        chunk: &'v [S],
        start: usize,
        w: usize,
    ) -> (&'v [S], &'v [S]) {
        let a = self.operand(node.a, outer, chunk, start, w);
        let b = if node.op.is_binary() {
            self.operand(node.b, outer, chunk, start, w)
        } else {
            a
        };
        (a, b)
    }

    /// Evaluates every lane from the outer slots, keeping the lane values in `vals` for the
    /// reverse sweep, and returns their sum, added left to right as the unrolled sum would.
    pub(super) fn forward<S: Scalar>(&self, outer: &[S], vals: &mut [S]) -> S {
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { self.forward_avx2(outer, vals) };
        }
        self.forward_body(outer, vals)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn forward_avx2<S: Scalar>(&self, outer: &[S], vals: &mut [S]) -> S {
        self.forward_body(outer, vals)
    }

    #[inline(always)]
    fn forward_body<S: Scalar>(&self, outer: &[S], vals: &mut [S]) -> S {
        let (c, base) = (self.width(), self.base());
        let mut total = None;
        for (q, chunk) in vals.chunks_exact_mut(self.chunk_len()).enumerate() {
            let start = q * CHUNK;
            let w = (self.lanes - start).min(CHUNK);
            for (k, gather) in self.gathers.iter().enumerate() {
                if let Gather::Indices(idx) = gather {
                    for (slot, i) in chunk[k * c..][..w].iter_mut().zip(&idx[start..]) {
                        *slot = outer[*i as usize];
                    }
                }
            }
            for (j, node) in self.nodes.iter().enumerate() {
                let (lower, upper) = chunk.split_at_mut((base + j) * c);
                let (a, b) = self.operands(node, outer, lower, start, w);
                lanes_forward(node.op, a, b, node.c, &mut upper[..w]);
            }
            let out = self.operand(self.output, outer, chunk, start, w);
            let (mut t, rest) = match total {
                Some(t) => (t, out),
                None => (out[0], &out[1..]),
            };
            for v in rest {
                t = t + *v;
            }
            total = Some(t);
        }
        total.expect("a vectorized sum has at least one lane")
    }

    /// Adds `g`·∂sum/∂(outer slot) into `outer_adj`, from the lane values `vals` the forward
    /// sweep kept; `adj` is the scratch for one chunk's adjoints.
    pub(super) fn reverse<S: Scalar>(
        &self,
        outer: &[S],
        outer_adj: &mut [S],
        g: S,
        vals: &[S],
        adj: &mut [S],
    ) {
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { self.reverse_avx2(outer, outer_adj, g, vals, adj) };
        }
        self.reverse_body(outer, outer_adj, g, vals, adj)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn reverse_avx2<S: Scalar>(
        &self,
        outer: &[S],
        outer_adj: &mut [S],
        g: S,
        vals: &[S],
        adj: &mut [S],
    ) {
        self.reverse_body(outer, outer_adj, g, vals, adj)
    }

    #[inline(always)]
    fn reverse_body<S: Scalar>(
        &self,
        outer: &[S],
        outer_adj: &mut [S],
        g: S,
        vals: &[S],
        adj: &mut [S],
    ) {
        let (c, base) = (self.width(), self.base());
        for (q, chunk) in vals.chunks_exact(self.chunk_len()).enumerate() {
            let start = q * CHUNK;
            let w = (self.lanes - start).min(CHUNK);
            adj[self.output as usize * c..][..w].fill(g);
            for (j, (node, writes)) in self.nodes.iter().zip(&self.writes).enumerate().rev() {
                if !writes.live {
                    continue;
                }
                let slot = (base + j) * c;
                let (lower, upper) = adj.split_at_mut(slot);
                let (a, b) = self.operands(node, outer, chunk, start, w);
                let operands = [a, b, &chunk[slot..][..w], &upper[..w]];
                let slots = (node.a as usize, node.b as usize);
                lanes_reverse(node.op, operands, node.c, lower, slots, c, *writes);
            }
            for ((k, gather), _) in self
                .gathers
                .iter()
                .enumerate()
                .zip(&self.differentiated)
                .filter(|(_, d)| **d)
            {
                let d = &adj[k * c..][..w];
                match gather {
                    Gather::Range(s) => {
                        for (o, d) in outer_adj[*s as usize + start..][..w].iter_mut().zip(d) {
                            *o = *o + *d;
                        }
                    }
                    Gather::Indices(idx) => {
                        for (d, i) in d.iter().zip(&idx[start..]) {
                            outer_adj[*i as usize] = outer_adj[*i as usize] + *d;
                        }
                    }
                }
            }
        }
    }
}

/// Runs `$body` with `$o` bound to the constant `op`, so each arm is compiled for one
/// operation and its lane loop carries no dispatch.
macro_rules! specialize {
    ($op:expr, $o:ident => $body:block) => {
        match $op {
            Op::Neg => {
                let $o = Op::Neg;
                $body
            }
            Op::Square => {
                let $o = Op::Square;
                $body
            }
            Op::Cube => {
                let $o = Op::Cube;
                $body
            }
            Op::PowC => {
                let $o = Op::PowC;
                $body
            }
            Op::AddC => {
                let $o = Op::AddC;
                $body
            }
            Op::MulC => {
                let $o = Op::MulC;
                $body
            }
            Op::RSubC => {
                let $o = Op::RSubC;
                $body
            }
            Op::DivC => {
                let $o = Op::DivC;
                $body
            }
            Op::RDivC => {
                let $o = Op::RDivC;
                $body
            }
            Op::SqAddC => {
                let $o = Op::SqAddC;
                $body
            }
            Op::SqRSubC => {
                let $o = Op::SqRSubC;
                $body
            }
            Op::Sin => {
                let $o = Op::Sin;
                $body
            }
            Op::Cos => {
                let $o = Op::Cos;
                $body
            }
            Op::Tan => {
                let $o = Op::Tan;
                $body
            }
            Op::Asin => {
                let $o = Op::Asin;
                $body
            }
            Op::Acos => {
                let $o = Op::Acos;
                $body
            }
            Op::Atan => {
                let $o = Op::Atan;
                $body
            }
            Op::Sinh => {
                let $o = Op::Sinh;
                $body
            }
            Op::Cosh => {
                let $o = Op::Cosh;
                $body
            }
            Op::Tanh => {
                let $o = Op::Tanh;
                $body
            }
            Op::Asinh => {
                let $o = Op::Asinh;
                $body
            }
            Op::Acosh => {
                let $o = Op::Acosh;
                $body
            }
            Op::Atanh => {
                let $o = Op::Atanh;
                $body
            }
            Op::Exp => {
                let $o = Op::Exp;
                $body
            }
            Op::Expm1 => {
                let $o = Op::Expm1;
                $body
            }
            Op::Ln => {
                let $o = Op::Ln;
                $body
            }
            Op::Log1p => {
                let $o = Op::Log1p;
                $body
            }
            Op::Log10 => {
                let $o = Op::Log10;
                $body
            }
            Op::Log2 => {
                let $o = Op::Log2;
                $body
            }
            Op::Sqrt => {
                let $o = Op::Sqrt;
                $body
            }
            Op::Cbrt => {
                let $o = Op::Cbrt;
                $body
            }
            Op::Abs => {
                let $o = Op::Abs;
                $body
            }
            Op::Sign => {
                let $o = Op::Sign;
                $body
            }
            Op::Sigmoid => {
                let $o = Op::Sigmoid;
                $body
            }
            Op::Softplus => {
                let $o = Op::Softplus;
                $body
            }
            Op::Relu => {
                let $o = Op::Relu;
                $body
            }
            Op::Floor => {
                let $o = Op::Floor;
                $body
            }
            Op::Ceil => {
                let $o = Op::Ceil;
                $body
            }
            Op::Round => {
                let $o = Op::Round;
                $body
            }
            Op::Trunc => {
                let $o = Op::Trunc;
                $body
            }
            Op::SumLanes => {
                let $o = Op::SumLanes;
                $body
            }
            Op::Add => {
                let $o = Op::Add;
                $body
            }
            Op::Sub => {
                let $o = Op::Sub;
                $body
            }
            Op::Mul => {
                let $o = Op::Mul;
                $body
            }
            Op::Div => {
                let $o = Op::Div;
                $body
            }
            Op::Pow => {
                let $o = Op::Pow;
                $body
            }
            Op::Atan2 => {
                let $o = Op::Atan2;
                $body
            }
            Op::Hypot => {
                let $o = Op::Hypot;
                $body
            }
            Op::Min => {
                let $o = Op::Min;
                $body
            }
            Op::Max => {
                let $o = Op::Max;
                $body
            }
            Op::SqSub => {
                let $o = Op::SqSub;
                $body
            }
        }
    };
}

/// out[l] = op(a[l], b[l]) for every lane.
#[inline(always)]
fn lanes_forward<S: Scalar>(op: Op, a: &[S], b: &[S], c: f64, out: &mut [S]) {
    specialize!(op, o => {
        for ((r, x), y) in out.iter_mut().zip(a).zip(b) {
            *r = eval(o, *x, *y, c);
        }
    })
}

/// Writes g[l]·∂out/∂a and g[l]·∂out/∂b into the adjoint lanes of slots `sa` and `sb` in
/// `lower` (slots `stride` apart; `g.len()` lanes in use): assigned where `writes` says the
/// contribution is the first, added otherwise.
#[inline(always)]
fn lanes_reverse<S: Scalar>(
    op: Op,
    operands: [&[S]; 4],
    c: f64,
    lower: &mut [S],
    (sa, sb): (usize, usize),
    stride: usize,
    writes: AdjointWrites,
) {
    let [a, b, out, g] = operands;
    let w = g.len();
    if !op.is_binary() || sa == sb {
        let da = &mut lower[sa * stride..][..w];
        return if writes.a_first {
            reverse_one::<S, true>(op, a, b, out, g, c, da)
        } else {
            reverse_one::<S, false>(op, a, b, out, g, c, da)
        };
    }
    let (da, db) = if sa < sb {
        let (p, q) = lower.split_at_mut(sb * stride);
        (&mut p[sa * stride..][..w], &mut q[..w])
    } else {
        let (p, q) = lower.split_at_mut(sa * stride);
        (&mut q[..w], &mut p[sb * stride..][..w])
    };
    match (writes.a_first, writes.b_first) {
        (false, false) => reverse_two::<S, false, false>(op, a, b, out, g, c, da, db),
        (true, false) => reverse_two::<S, true, false>(op, a, b, out, g, c, da, db),
        (false, true) => reverse_two::<S, false, true>(op, a, b, out, g, c, da, db),
        (true, true) => reverse_two::<S, true, true>(op, a, b, out, g, c, da, db),
    }
}

/// `*adjoint = v` for the first contribution to an adjoint, `*adjoint += v` after it.
#[inline(always)]
fn contribute<S: Scalar, const FIRST: bool>(adjoint: &mut S, v: S) {
    *adjoint = if FIRST { v } else { *adjoint + v };
}

// The adjoint rows are parameters of their own (inlined) functions so that the compiler
// knows they alias nothing else and vectorizes the loops without run-time overlap checks.

/// One adjoint row: a one-operand instruction, or a binary one whose operands are one slot.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn reverse_one<S: Scalar, const FIRST: bool>(
    op: Op,
    a: &[S],
    b: &[S],
    out: &[S],
    g: &[S],
    c: f64,
    da: &mut [S],
) {
    let w = da.len();
    let (a, b, out, g) = (&a[..w], &b[..w], &out[..w], &g[..w]);
    specialize!(op, o => {
        for l in 0..w {
            let (pa, pb) = partials(o, a[l], b[l], out[l], c);
            contribute::<S, FIRST>(&mut da[l], g[l] * pa);
            if o.is_binary() {
                da[l] = da[l] + g[l] * pb;
            }
        }
    })
}

/// Two adjoint rows: a binary instruction over two slots.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn reverse_two<S: Scalar, const FIRST_A: bool, const FIRST_B: bool>(
    op: Op,
    a: &[S],
    b: &[S],
    out: &[S],
    g: &[S],
    c: f64,
    da: &mut [S],
    db: &mut [S],
) {
    let w = da.len();
    let (a, b, out, g, db) = (&a[..w], &b[..w], &out[..w], &g[..w], &mut db[..w]);
    specialize!(op, o => {
        for l in 0..w {
            let (pa, pb) = partials(o, a[l], b[l], out[l], c);
            contribute::<S, FIRST_A>(&mut da[l], g[l] * pa);
            contribute::<S, FIRST_B>(&mut db[l], g[l] * pb);
        }
    })
}
