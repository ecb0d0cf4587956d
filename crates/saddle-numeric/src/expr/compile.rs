//! Syntax tree → [`Tape`]: resolves names, infers the variables, unrolls `sum`/`prod` over
//! their (build-time) index ranges, folds constants and shares repeated subexpressions.

use std::collections::{BTreeMap, HashMap};

use super::parse::{Ast, ChainOp, Reduce};
use super::tape::{eval, Gather, LaneTape, Node, Op, Tape};
use super::{ConstantValue, ExprError, ExprLimits, Variable};

/// The functions of the language with the number of arguments each takes, for error
/// messages and documentation.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("sin", "1"),
    ("cos", "1"),
    ("tan", "1"),
    ("asin", "1"),
    ("acos", "1"),
    ("atan", "1"),
    ("atan2", "2"),
    ("sinh", "1"),
    ("cosh", "1"),
    ("tanh", "1"),
    ("asinh", "1"),
    ("acosh", "1"),
    ("atanh", "1"),
    ("exp", "1"),
    ("expm1", "1"),
    ("log", "1 or 2"),
    ("ln", "1"),
    ("log1p", "1"),
    ("log10", "1"),
    ("log2", "1"),
    ("sqrt", "1"),
    ("cbrt", "1"),
    ("abs", "1"),
    ("sign", "1"),
    ("sigmoid", "1"),
    ("softplus", "1"),
    ("relu", "1"),
    ("floor", "1"),
    ("ceil", "1"),
    ("round", "1"),
    ("trunc", "1"),
    ("min", "2 or more"),
    ("max", "2 or more"),
    ("pow", "2"),
    ("hypot", "2"),
    ("clamp", "3"),
    ("len", "1"),
    ("sum", "index range and summand"),
    ("prod", "index range and factor"),
];

fn unary_op(name: &str) -> Option<Op> {
    Some(match name {
        "sin" => Op::Sin,
        "cos" => Op::Cos,
        "tan" => Op::Tan,
        "asin" => Op::Asin,
        "acos" => Op::Acos,
        "atan" => Op::Atan,
        "sinh" => Op::Sinh,
        "cosh" => Op::Cosh,
        "tanh" => Op::Tanh,
        "asinh" => Op::Asinh,
        "acosh" => Op::Acosh,
        "atanh" => Op::Atanh,
        "exp" => Op::Exp,
        "expm1" => Op::Expm1,
        "ln" => Op::Ln,
        "log1p" => Op::Log1p,
        "log10" => Op::Log10,
        "log2" => Op::Log2,
        "sqrt" => Op::Sqrt,
        "cbrt" => Op::Cbrt,
        "abs" => Op::Abs,
        "sign" => Op::Sign,
        "sigmoid" => Op::Sigmoid,
        "softplus" => Op::Softplus,
        "relu" => Op::Relu,
        "floor" => Op::Floor,
        "ceil" => Op::Ceil,
        "round" => Op::Round,
        "trunc" => Op::Trunc,
        _ => return None,
    })
}

fn is_function(name: &str) -> bool {
    FUNCTIONS.iter().any(|(f, _)| *f == name)
}

/// Names that can never be variables.
pub(crate) fn is_reserved(name: &str) -> bool {
    name == "pi" || name == "e" || is_function(name)
}

/// A slot reference during the build; renumbered when the tape is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Input(u32),
    Const(u32),
    Node(u32),
    /// The index of a lane tape (operand of `SumLanes`).
    Lanes(u32),
}

/// A lane slot of the `sum` body being vectorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LaneSlot {
    Gather(u32),
    Const(u32),
    Node(u32),
}

/// A compile-time value: a known number, an outer slot, or a lane slot (one value per index
/// of the `sum` being vectorized; `LaneSlot::Const` lanes are known numbers).
#[derive(Debug, Clone, Copy)]
enum V {
    C(f64),
    S(Slot),
    L(LaneSlot),
}

/// The value a bound index name stands for.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// One index value (an unrolled sum).
    Scalar(f64),
    /// All index values of the vectorized sum: this lane constant.
    Lanes(u32),
}

/// An index: one value, or one per lane.
enum Idx {
    One(i64),
    Lanes(Vec<i64>),
}

/// Sums shorter than this are unrolled rather than vectorized.
const MIN_LANES: i64 = 4;

/// The `sum` body being compiled in lane mode.
struct LaneBuilder {
    m: usize,
    gathers: Vec<Vec<Slot>>,
    gather_index: HashMap<Vec<Slot>, u32>,
    consts: Vec<Vec<f64>>,
    nodes: Vec<(Op, LaneSlot, LaneSlot, f64)>,
    shared: HashMap<(Op, LaneSlot, LaneSlot, u64), LaneSlot>,
}

/// A finished lane tape before renumbering.
struct LaneBuild {
    lane: LaneBuilder,
    output: LaneSlot,
}

/// Everything the compiler resolves names against.
pub(crate) struct Scope<'a> {
    pub variables: &'a [Variable],
    pub constants: &'a BTreeMap<String, ConstantValue>,
    /// Whether `n` is the built-in size constant (some vector is declared in `dims`).
    pub n_reserved: bool,
    /// Its value: the size of the one vector variable (`None` with several vectors).
    pub n: Option<usize>,
}

/// Collects the variable names of `ast` in order of first appearance.
pub(crate) fn infer_variables(
    ast: &Ast,
    constants: &BTreeMap<String, ConstantValue>,
    n_reserved: bool,
) -> Vec<(String, usize)> {
    fn walk(
        ast: &Ast,
        bound: &mut Vec<String>,
        skip: &dyn Fn(&str) -> bool,
        out: &mut Vec<(String, usize)>,
    ) {
        let mut note = |name: &str, col: usize, bound: &Vec<String>| {
            if !bound.iter().any(|b| b == name)
                && !skip(name)
                && !out.iter().any(|(o, _)| o == name)
            {
                out.push((name.to_string(), col));
            }
        };
        match ast {
            Ast::Num(_) => {}
            Ast::Name { name, col } => note(name, *col, bound),
            Ast::Index { name, col, indices } => {
                note(name, *col, bound);
                for i in indices {
                    walk(i, bound, skip, out);
                }
            }
            Ast::Neg(a) => walk(a, bound, skip, out),
            Ast::Chain { first, rest } => {
                walk(first, bound, skip, out);
                for (_, t) in rest {
                    walk(t, bound, skip, out);
                }
            }
            Ast::Pow { base, exp } => {
                walk(base, bound, skip, out);
                walk(exp, bound, skip, out);
            }
            Ast::Call { name, args, .. } => {
                if name == "len" {
                    return; // len(x) reads a size, not a value
                }
                for a in args {
                    walk(a, bound, skip, out);
                }
            }
            Ast::Reduce {
                var, lo, hi, body, ..
            } => {
                walk(lo, bound, skip, out);
                walk(hi, bound, skip, out);
                bound.push(var.clone());
                walk(body, bound, skip, out);
                bound.pop();
            }
        }
    }
    let skip = |name: &str| {
        is_reserved(name) || constants.contains_key(name) || (n_reserved && name == "n")
    };
    let mut out = Vec::new();
    walk(ast, &mut Vec::new(), &skip, &mut out);
    out
}

/// Builds the tape for `ast` over the inputs described by `scope`.
pub(crate) fn compile(
    ast: &Ast,
    scope: &Scope<'_>,
    limits: &ExprLimits,
) -> Result<Tape, ExprError> {
    let n_inputs: usize = scope.variables.iter().map(|v| v.size.unwrap_or(1)).sum();
    let mut c = Compiler {
        scope,
        bound: Vec::new(),
        consts: Vec::new(),
        const_index: HashMap::new(),
        nodes: Vec::new(),
        shared: HashMap::new(),
        lane: None,
        lane_tapes: Vec::new(),
        work: 0,
        size: n_inputs,
        max_work: limits.max_tape,
    };
    let out = match c.value(ast)? {
        V::C(v) => c.constant(v),
        V::S(s) => s,
        V::L(_) => unreachable!("lane values never leave their sum"),
    };
    let n_consts = c.consts.len();
    // Drop the instructions the result does not depend on (e.g. differences fused into a
    // square): walk back from the output, marking operands and the outer slots lane tapes read.
    let node_of = |s: Slot| match s {
        Slot::Node(j) => Some(j as usize),
        _ => None,
    };
    let mut live = vec![false; c.nodes.len()];
    if let Some(j) = node_of(out) {
        live[j] = true;
    }
    for j in (0..c.nodes.len()).rev() {
        if !live[j] {
            continue;
        }
        let (op, a, b, _) = c.nodes[j];
        let mut reads = vec![a, b];
        if let (Op::SumLanes, Slot::Lanes(k)) = (op, a) {
            reads.extend(c.lane_tapes[k as usize].lane.gathers.iter().flatten());
        }
        for i in reads.into_iter().filter_map(node_of) {
            live[i] = true;
        }
    }
    let renumber = renumbering(&live);
    let kept = live.iter().filter(|l| **l).count();
    let sink = (n_inputs + n_consts + kept) as u32;
    let number = |s: Slot| -> u32 {
        (match s {
            Slot::Input(i) => i as usize,
            Slot::Const(k) => n_inputs + k as usize,
            Slot::Node(j) => n_inputs + n_consts + renumber[j as usize] as usize,
            Slot::Lanes(k) => k as usize,
        }) as u32
    };
    let nodes = c
        .nodes
        .iter()
        .zip(&live)
        .filter(|(_, l)| **l)
        .map(|(n, _)| n)
        .map(|(op, a, b, k)| Node {
            op: *op,
            a: number(*a),
            b: if op.is_binary() { number(*b) } else { sink },
            c: *k,
        })
        .collect();
    let lanes = c
        .lane_tapes
        .into_iter()
        .map(|LaneBuild { lane, output }| {
            let (g, k) = (lane.gathers.len(), lane.consts.len());
            let mut live = vec![false; lane.nodes.len()];
            if let LaneSlot::Node(j) = output {
                live[j as usize] = true;
            }
            for j in (0..lane.nodes.len()).rev() {
                if live[j] {
                    let (_, a, b, _) = lane.nodes[j];
                    for s in [a, b] {
                        if let LaneSlot::Node(i) = s {
                            live[i as usize] = true;
                        }
                    }
                }
            }
            let renumber = renumbering(&live);
            let lane_sink = (g + k + live.iter().filter(|l| **l).count()) as u32;
            let lane_number = |s: LaneSlot| -> u32 {
                (match s {
                    LaneSlot::Gather(i) => i as usize,
                    LaneSlot::Const(i) => g + i as usize,
                    LaneSlot::Node(i) => g + k + renumber[i as usize] as usize,
                }) as u32
            };
            LaneTape::new(
                lane.m,
                lane.gathers
                    .iter()
                    .map(|idx| Gather::new(idx.iter().map(|s| number(*s)).collect()))
                    .collect(),
                lane.consts,
                lane.nodes
                    .iter()
                    .zip(&live)
                    .filter(|(_, l)| **l)
                    .map(|(n, _)| n)
                    .map(|(op, a, b, c)| Node {
                        op: *op,
                        a: lane_number(*a),
                        b: if op.is_binary() {
                            lane_number(*b)
                        } else {
                            lane_sink
                        },
                        c: *c,
                    })
                    .collect(),
                lane_number(output),
            )
        })
        .collect();
    Ok(Tape {
        n_inputs,
        consts: c.consts,
        nodes,
        output: number(out),
        lanes,
    })
}

/// The new index of every kept (live) instruction.
fn renumbering(live: &[bool]) -> Vec<u32> {
    let mut next = 0;
    live.iter()
        .map(|l| {
            let k = next;
            next += u32::from(*l);
            k
        })
        .collect()
}

/// True when `ast` contains a `sum` or `prod` (such bodies are unrolled, not vectorized).
fn contains_reduce(ast: &Ast) -> bool {
    match ast {
        Ast::Num(_) | Ast::Name { .. } => false,
        Ast::Reduce { .. } => true,
        Ast::Index { indices, .. } => indices.iter().any(contains_reduce),
        Ast::Neg(a) => contains_reduce(a),
        Ast::Chain { first, rest } => {
            contains_reduce(first) || rest.iter().any(|(_, t)| contains_reduce(t))
        }
        Ast::Pow { base, exp } => contains_reduce(base) || contains_reduce(exp),
        Ast::Call { args, .. } => args.iter().any(contains_reduce),
    }
}

/// The constant-operand form of `op` (`x + c` → AddC), with the constant on the right
/// (`x op c`) or on the left (`c op x`).
fn const_form(op: Op, right: bool, c: f64) -> Option<(Op, f64)> {
    Some(match (op, right) {
        (Op::Add, _) => (Op::AddC, c),
        (Op::Mul, _) => (Op::MulC, c),
        (Op::Sub, true) => (Op::AddC, -c),
        (Op::Sub, false) => (Op::RSubC, c),
        (Op::Div, true) => (Op::DivC, c),
        (Op::Div, false) => (Op::RDivC, c),
        _ => return None,
    })
}

struct Compiler<'a, 's> {
    scope: &'a Scope<'s>,
    bound: Vec<(String, Bound)>,
    consts: Vec<f64>,
    const_index: HashMap<u64, u32>,
    nodes: Vec<(Op, Slot, Slot, f64)>,
    shared: HashMap<(Op, Slot, Slot, u64), Slot>,
    lane: Option<LaneBuilder>,
    lane_tapes: Vec<LaneBuild>,
    /// Syntax-tree nodes visited (unrolling work).
    work: usize,
    /// Values the scratch buffers will hold.
    size: usize,
    max_work: usize,
}

impl Compiler<'_, '_> {
    fn constant(&mut self, v: f64) -> Slot {
        let next = self.consts.len() as u32;
        let k = *self.const_index.entry(v.to_bits()).or_insert(next);
        if k == next {
            self.consts.push(v);
        }
        Slot::Const(k)
    }

    fn grow(&mut self, by: usize) -> Result<(), ExprError> {
        self.size = self.size.saturating_add(by);
        if self.size > self.max_work {
            Err(self.too_big())
        } else {
            Ok(())
        }
    }

    fn emit(&mut self, op: Op, a: Slot, b: Slot, c: f64) -> Result<V, ExprError> {
        let key = (op, a, b, c.to_bits());
        if let Some(s) = self.shared.get(&key) {
            return Ok(V::S(*s));
        }
        self.grow(1)?;
        let s = Slot::Node(self.nodes.len() as u32);
        self.nodes.push((op, a, b, c));
        self.shared.insert(key, s);
        Ok(V::S(s))
    }

    fn too_big(&self) -> ExprError {
        ExprError::new(format!(
            "the expression unrolls to more than {} operations (the tape limit)",
            self.max_work
        ))
    }

    fn lanes(&mut self) -> &mut LaneBuilder {
        self.lane
            .as_mut()
            .expect("lane values exist only inside a vectorized sum")
    }

    fn lane_const(&mut self, values: Vec<f64>) -> Result<V, ExprError> {
        let m = self.lanes().m;
        self.grow(m)?;
        let lane = self.lanes();
        lane.consts.push(values);
        Ok(V::L(LaneSlot::Const(lane.consts.len() as u32 - 1)))
    }

    fn gather(&mut self, slots: Vec<Slot>) -> Result<LaneSlot, ExprError> {
        if let Some(k) = self.lanes().gather_index.get(&slots) {
            return Ok(LaneSlot::Gather(*k));
        }
        let m = self.lanes().m;
        self.grow(m)?;
        let lane = self.lanes();
        let k = lane.gathers.len() as u32;
        lane.gathers.push(slots.clone());
        lane.gather_index.insert(slots, k);
        Ok(LaneSlot::Gather(k))
    }

    fn lane_emit(&mut self, op: Op, a: LaneSlot, b: LaneSlot, c: f64) -> Result<V, ExprError> {
        let key = (op, a, b, c.to_bits());
        if let Some(s) = self.lanes().shared.get(&key) {
            return Ok(V::L(*s));
        }
        let m = self.lanes().m;
        self.grow(m)?;
        let lane = self.lanes();
        let s = LaneSlot::Node(lane.nodes.len() as u32);
        lane.nodes.push((op, a, b, c));
        lane.shared.insert(key, s);
        Ok(V::L(s))
    }

    /// Known numbers per lane, or `None` for values computed at run time.
    fn known(&self, v: V) -> Option<Vec<f64>> {
        match v {
            V::C(c) => Some(vec![c; self.lane.as_ref().map_or(1, |l| l.m)]),
            V::L(LaneSlot::Const(k)) => Some(self.lane.as_ref()?.consts[k as usize].clone()),
            _ => None,
        }
    }

    /// The lane slot holding `v` (broadcasting numbers and outer slots).
    fn lane_slot(&mut self, v: V) -> Result<LaneSlot, ExprError> {
        match v {
            V::L(s) => Ok(s),
            V::C(c) => {
                let m = self.lanes().m;
                match self.lane_const(vec![c; m])? {
                    V::L(s) => Ok(s),
                    _ => unreachable!(),
                }
            }
            V::S(s) => {
                let m = self.lanes().m;
                self.gather(vec![s; m])
            }
        }
    }

    /// Applies `op` to operands of which at least one is a lane value.
    fn lane_op(&mut self, op: Op, a: V, b: V, c: f64) -> Result<V, ExprError> {
        if let (Some(x), Some(y)) = (self.known(a), self.known(b)) {
            let folded = x.iter().zip(&y).map(|(u, v)| eval(op, *u, *v, c)).collect();
            return self.lane_const(folded);
        }
        let (la, lb) = (self.lane_slot(a)?, self.lane_slot(b)?);
        self.lane_emit(op, la, lb, c)
    }

    fn unary(&mut self, op: Op, a: V) -> Result<V, ExprError> {
        self.unary_c(op, a, 0.0)
    }

    /// A one-operand operation with its constant `c` (PowC, AddC, …).
    fn unary_c(&mut self, op: Op, a: V, c: f64) -> Result<V, ExprError> {
        match a {
            V::C(x) => Ok(V::C(eval(op, x, x, c))),
            V::S(s) => self.emit(op, s, s, c),
            V::L(_) => self.lane_op(op, a, a, c),
        }
    }

    fn binary(&mut self, op: Op, a: V, b: V) -> Result<V, ExprError> {
        match (a, b) {
            (V::C(x), V::C(y)) => Ok(V::C(eval(op, x, y, 0.0))),
            (v, V::C(c)) | (V::C(c), v) if !matches!(v, V::L(LaneSlot::Const(_))) => {
                let right = matches!(b, V::C(_));
                if let Some((cop, k)) = const_form(op, right, c) {
                    return self.unary_c(cop, v, k);
                }
                match v {
                    V::S(s) => {
                        let k = self.constant(c);
                        let (x, y) = if right { (s, k) } else { (k, s) };
                        self.emit(op, x, y, 0.0)
                    }
                    _ => self.lane_op(op, a, b, 0.0),
                }
            }
            (V::S(x), V::S(y)) => self.emit(op, x, y, 0.0),
            _ => self.lane_op(op, a, b, 0.0),
        }
    }

    fn power(&mut self, base: V, exp: V) -> Result<V, ExprError> {
        let p = match exp {
            V::C(p) => p,
            _ => return self.binary(Op::Pow, base, exp),
        };
        match base {
            V::C(x) => Ok(V::C(super::tape::pow_const(x, p))),
            V::L(LaneSlot::Const(_)) => self.unary_c(Op::PowC, base, p),
            _ if p == 1.0 => Ok(base),
            // torch: x**0 is 1 everywhere (even at NaN), with a zero gradient.
            _ if p == 0.0 => Ok(V::C(1.0)),
            _ if p == 2.0 => match self.fused_square(base)? {
                Some(v) => Ok(v),
                None => self.unary(Op::Square, base),
            },
            _ if p == 3.0 => self.unary(Op::Cube, base),
            _ => self.unary_c(Op::PowC, base, p),
        }
    }

    /// `(a - b)^2`, `(a + c)^2`, `(c - a)^2` as one instruction when `base` is such a
    /// difference (the difference's own instruction is dropped if nothing else uses it).
    fn fused_square(&mut self, base: V) -> Result<Option<V>, ExprError> {
        let fused = |op: Op| match op {
            Op::Sub => Some(Op::SqSub),
            Op::AddC => Some(Op::SqAddC),
            Op::RSubC => Some(Op::SqRSubC),
            _ => None,
        };
        Ok(match base {
            V::S(Slot::Node(j)) => {
                let (op, a, b, c) = self.nodes[j as usize];
                match fused(op) {
                    Some(f) => Some(self.emit(f, a, b, c)?),
                    None => None,
                }
            }
            V::L(LaneSlot::Node(j)) => {
                let (op, a, b, c) = self.lanes().nodes[j as usize];
                match fused(op) {
                    Some(f) => Some(self.lane_emit(f, a, b, c)?),
                    None => None,
                }
            }
            _ => None,
        })
    }

    /// An index expression: must fold to whole numbers (one, or one per lane).
    fn index(&mut self, ast: &Ast, col: usize) -> Result<Idx, ExprError> {
        let whole = |v: f64| -> Result<i64, ExprError> {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                Ok(v as i64)
            } else {
                Err(ExprError::at(
                    col,
                    format!("an index or range bound must be a whole number, got {v}"),
                ))
            }
        };
        let v = self.value(ast)?;
        match (v, self.known(v)) {
            (V::C(c), _) => Ok(Idx::One(whole(c)?)),
            (V::L(_), Some(values)) => Ok(Idx::Lanes(
                values.into_iter().map(whole).collect::<Result<_, _>>()?,
            )),
            _ => Err(ExprError::at(
                col,
                "an index or range bound must not depend on the variables",
            )),
        }
    }

    fn bound_value(&self, name: &str) -> Option<Bound> {
        self.bound
            .iter()
            .rev()
            .find(|(b, _)| b == name)
            .map(|(_, v)| *v)
    }

    fn variable(&self, name: &str) -> Option<&Variable> {
        self.scope.variables.iter().find(|v| v.name == name)
    }

    fn unknown_name(&self, name: &str, col: usize) -> ExprError {
        let known: Vec<&str> = self
            .scope
            .variables
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        ExprError::at(
            col,
            format!(
                "unknown variable `{name}`; the variables are: {}",
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )
    }

    fn value(&mut self, ast: &Ast) -> Result<V, ExprError> {
        self.work += 1;
        if self.work > self.max_work {
            return Err(self.too_big());
        }
        match ast {
            Ast::Num(v) => Ok(V::C(*v)),
            Ast::Name { name, col } => self.name(name, *col),
            Ast::Index { name, col, indices } => self.indexed(name, *col, indices),
            Ast::Neg(a) => {
                let a = self.value(a)?;
                self.unary(Op::Neg, a)
            }
            Ast::Chain { first, rest } => {
                let mut acc = self.value(first)?;
                for (op, term) in rest {
                    let t = self.value(term)?;
                    let op = match op {
                        ChainOp::Add => Op::Add,
                        ChainOp::Sub => Op::Sub,
                        ChainOp::Mul => Op::Mul,
                        ChainOp::Div => Op::Div,
                    };
                    acc = self.binary(op, acc, t)?;
                }
                Ok(acc)
            }
            Ast::Pow { base, exp } => {
                let b = self.value(base)?;
                let e = self.value(exp)?;
                self.power(b, e)
            }
            Ast::Call { name, col, args } => self.call(name, *col, args),
            Ast::Reduce {
                kind,
                col,
                var,
                lo,
                hi,
                body,
            } => {
                let bound = |c: &mut Self, ast: &Ast| match c.index(ast, *col)? {
                    Idx::One(i) => Ok(i),
                    Idx::Lanes(_) => Err(ExprError::at(
                        *col,
                        "a range bound must not depend on an enclosing vectorized index",
                    )),
                };
                let lo = bound(self, lo)?;
                let hi = bound(self, hi)?;
                if *kind == Reduce::Sum
                    && hi - lo + 1 >= MIN_LANES
                    && self.lane.is_none()
                    && !contains_reduce(body)
                {
                    return self.vectorized_sum(var, lo, hi, body);
                }
                let (op, mut acc) = match kind {
                    Reduce::Sum => (Op::Add, V::C(0.0)),
                    Reduce::Prod => (Op::Mul, V::C(1.0)),
                };
                let mut first = true;
                let mut i = lo;
                while i <= hi {
                    self.bound.push((var.clone(), Bound::Scalar(i as f64)));
                    let term = self.value(body);
                    self.bound.pop();
                    let term = term?;
                    acc = if first {
                        term
                    } else {
                        self.binary(op, acc, term)?
                    };
                    first = false;
                    i += 1;
                }
                Ok(acc)
            }
        }
    }

    /// Compiles `sum(var=lo..hi, body)` once over all lanes and sums the lanes at run time.
    fn vectorized_sum(&mut self, var: &str, lo: i64, hi: i64, body: &Ast) -> Result<V, ExprError> {
        let m = (hi - lo + 1) as usize;
        if m > self.max_work.saturating_sub(self.size) {
            return Err(self.too_big());
        }
        self.lane = Some(LaneBuilder {
            m,
            gathers: Vec::new(),
            gather_index: HashMap::new(),
            consts: Vec::new(),
            nodes: Vec::new(),
            shared: HashMap::new(),
        });
        let result = self
            .lane_const((lo..=hi).map(|i| i as f64).collect())
            .and_then(|iota| {
                let V::L(LaneSlot::Const(k)) = iota else {
                    unreachable!()
                };
                self.bound.push((var.to_string(), Bound::Lanes(k)));
                let v = self.value(body);
                self.bound.pop();
                v
            });
        let known = result.as_ref().ok().and_then(|v| self.known(*v));
        let lane = self.lane.take().expect("set above");
        match result? {
            V::L(LaneSlot::Const(_)) => {
                let values = known.expect("lane constants are known");
                Ok(V::C(values[1..].iter().fold(values[0], |acc, v| acc + v)))
            }
            V::L(output) => {
                let k = self.lane_tapes.len() as u32;
                self.lane_tapes.push(LaneBuild { lane, output });
                self.grow(1)?;
                let s = Slot::Node(self.nodes.len() as u32);
                self.nodes
                    .push((Op::SumLanes, Slot::Lanes(k), Slot::Lanes(k), 0.0));
                Ok(V::S(s))
            }
            term => {
                // The summand does not depend on the index: add it m times, as unrolled.
                let mut acc = term;
                for _ in 1..m {
                    acc = self.binary(Op::Add, acc, term)?;
                }
                Ok(acc)
            }
        }
    }

    fn name(&mut self, name: &str, col: usize) -> Result<V, ExprError> {
        match self.bound_value(name) {
            Some(Bound::Scalar(v)) => return Ok(V::C(v)),
            Some(Bound::Lanes(k)) => return Ok(V::L(LaneSlot::Const(k))),
            None => {}
        }
        match name {
            "pi" => return Ok(V::C(std::f64::consts::PI)),
            "e" => return Ok(V::C(std::f64::consts::E)),
            _ => {}
        }
        if let Some(var) = self.variable(name) {
            return match var.size {
                None => Ok(V::S(Slot::Input(var.offset as u32))),
                Some(len) => Err(ExprError::at(
                    col,
                    format!("`{name}` is a vector of {len} numbers; index it, e.g. `{name}[0]`"),
                )),
            };
        }
        if name == "n" && self.scope.n_reserved {
            return match self.scope.n {
                Some(n) => Ok(V::C(n as f64)),
                None => Err(ExprError::at(
                    col,
                    "`n` is ambiguous with several vector variables; use `len(x)`",
                )),
            };
        }
        match self.scope.constants.get(name) {
            Some(ConstantValue::Scalar(v)) => Ok(V::C(*v)),
            Some(_) => Err(ExprError::at(
                col,
                format!("the constant `{name}` is an array; index it, e.g. `{name}[0]`"),
            )),
            None if is_function(name) => Err(ExprError::at(
                col,
                format!("`{name}` is a function; call it as `{name}(…)`"),
            )),
            None => Err(self.unknown_name(name, col)),
        }
    }

    fn indexed(&mut self, name: &str, col: usize, indices: &[Ast]) -> Result<V, ExprError> {
        let mut idx = Vec::with_capacity(indices.len());
        for i in indices {
            idx.push(self.index(i, col)?);
        }
        let m = idx
            .iter()
            .find_map(|i| match i {
                Idx::Lanes(v) => Some(v.len()),
                Idx::One(_) => None,
            })
            .unwrap_or(1);
        let lane_of = |i: &Idx, l: usize| match i {
            Idx::One(v) => *v,
            Idx::Lanes(v) => v[l],
        };
        let check = |i: i64, len: usize, what: &str| -> Result<usize, ExprError> {
            if i >= 0 && (i as usize) < len {
                Ok(i as usize)
            } else {
                Err(ExprError::at(
                    col,
                    format!(
                        "index {i} is out of range for `{name}`{what} (valid: 0..={}, indices are 0-based)",
                        len as i64 - 1
                    ),
                ))
            }
        };
        let arity = |want: usize| -> Result<(), ExprError> {
            if idx.len() == want {
                Ok(())
            } else {
                Err(ExprError::at(
                    col,
                    format!("`{name}` takes {want} index(es), got {}", idx.len()),
                ))
            }
        };
        let lanes = idx.iter().any(|i| matches!(i, Idx::Lanes(_)));
        if self.bound_value(name).is_none() {
            if let Some(var) = self.variable(name) {
                let Some(len) = var.size else {
                    return Err(ExprError::at(
                        col,
                        format!(
                            "`{name}` is a scalar variable and cannot be indexed (declare its size in `dims`, e.g. \"dims\": {{\"{name}\": 10}})"
                        ),
                    ));
                };
                arity(1)?;
                let offset = var.offset;
                let slots = (0..m)
                    .map(|l| {
                        check(lane_of(&idx[0], l), len, "")
                            .map(|i| Slot::Input((offset + i) as u32))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                return if lanes {
                    Ok(V::L(self.gather(slots)?))
                } else {
                    Ok(V::S(slots[0]))
                };
            }
            let values = match self.scope.constants.get(name) {
                Some(ConstantValue::Vector(v)) => {
                    arity(1)?;
                    Some(
                        (0..m)
                            .map(|l| check(lane_of(&idx[0], l), v.len(), "").map(|i| v[i]))
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                }
                Some(ConstantValue::Matrix(rows)) => {
                    arity(2)?;
                    Some(
                        (0..m)
                            .map(|l| {
                                let i = check(lane_of(&idx[0], l), rows.len(), " (rows)")?;
                                let j = check(lane_of(&idx[1], l), rows[i].len(), " (columns)")?;
                                Ok(rows[i][j])
                            })
                            .collect::<Result<Vec<_>, ExprError>>()?,
                    )
                }
                _ => None,
            };
            if let Some(values) = values {
                return if lanes {
                    self.lane_const(values)
                } else {
                    Ok(V::C(values[0]))
                };
            }
        }
        if self.variable(name).is_none() && !self.scope.constants.contains_key(name) {
            return Err(self.unknown_name(name, col));
        }
        Err(ExprError::at(
            col,
            format!("`{name}` is a number and cannot be indexed"),
        ))
    }

    fn call(&mut self, name: &str, col: usize, args: &[Ast]) -> Result<V, ExprError> {
        let arity_error = |want: &str| {
            ExprError::at(
                col,
                format!(
                    "`{name}` takes {want} argument{}, got {}",
                    if want == "1" { "" } else { "s" },
                    args.len()
                ),
            )
        };
        if name == "len" {
            let [Ast::Name { name: v, col: vc }] = args else {
                return Err(ExprError::at(
                    col,
                    "`len` takes the name of a vector, e.g. `len(x)`",
                ));
            };
            if let Some(var) = self.variable(v) {
                return Ok(V::C(var.size.unwrap_or(1) as f64));
            }
            return match self.scope.constants.get(v) {
                Some(ConstantValue::Vector(c)) => Ok(V::C(c.len() as f64)),
                Some(ConstantValue::Matrix(m)) => Ok(V::C(m.len() as f64)),
                Some(ConstantValue::Scalar(_)) => Ok(V::C(1.0)),
                None => Err(self.unknown_name(v, *vc)),
            };
        }
        if name == "sum" || name == "prod" {
            return Err(ExprError::at(
                col,
                format!("`{name}` needs an index range: `{name}(i=0..n-1, <expression in i>)`"),
            ));
        }
        if let Some(op) = unary_op(name) {
            if args.len() != 1 {
                return Err(arity_error("1"));
            }
            let a = self.value(&args[0])?;
            return self.unary(op, a);
        }
        let mut vals = Vec::with_capacity(args.len());
        match name {
            "log" | "atan2" | "pow" | "hypot" | "min" | "max" | "clamp" => {
                for a in args {
                    vals.push(self.value(a)?);
                }
            }
            _ => {
                return Err(ExprError::at(
                    col,
                    format!(
                        "unknown function `{name}`; the functions are: {}",
                        FUNCTIONS
                            .iter()
                            .map(|(f, _)| *f)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        }
        match (name, vals.as_slice()) {
            ("log", [a]) => self.unary(Op::Ln, *a),
            ("log", [a, base]) => {
                let num = self.unary(Op::Ln, *a)?;
                let den = self.unary(Op::Ln, *base)?;
                self.binary(Op::Div, num, den)
            }
            ("log", _) => Err(arity_error("1 or 2")),
            ("atan2", [y, x]) => self.binary(Op::Atan2, *y, *x),
            ("hypot", [a, b]) => self.binary(Op::Hypot, *a, *b),
            ("pow", [a, b]) => self.power(*a, *b),
            ("atan2" | "hypot" | "pow", _) => Err(arity_error("2")),
            ("min" | "max", [first, rest @ ..]) if !rest.is_empty() => {
                let op = if name == "min" { Op::Min } else { Op::Max };
                let mut acc = *first;
                for v in rest {
                    acc = self.binary(op, acc, *v)?;
                }
                Ok(acc)
            }
            ("min" | "max", _) => Err(arity_error("2 or more")),
            ("clamp", [x, lo, hi]) => {
                let low = self.binary(Op::Max, *x, *lo)?;
                self.binary(Op::Min, low, *hi)
            }
            _ => Err(arity_error("3")),
        }
    }
}

/// For tests: every operand refers to an earlier slot.
#[cfg(test)]
pub(crate) fn is_topological(tape: &Tape) -> bool {
    let base = tape.n_inputs + tape.consts.len();
    tape.nodes
        .iter()
        .enumerate()
        .all(|(k, n)| (n.a as usize) < base + k && (!n.op.is_binary() || (n.b as usize) < base + k))
}
