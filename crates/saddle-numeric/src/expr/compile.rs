//! Syntax tree → [`Tape`]: resolves names, infers the variables, unrolls `sum`/`prod` over
//! their (build-time) index ranges, folds constants and shares repeated subexpressions.

use std::collections::{BTreeMap, HashMap};

use super::parse::{Ast, ChainOp, Reduce};
use super::tape::{eval, Node, Op, Tape};
use super::{ConstantValue, ExprError, ExprLimits, Variable};

/// The functions of the language: name, arity (None = two or more), and how to build them.
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
}

/// A compile-time value: a known number or a slot computed at run time.
#[derive(Debug, Clone, Copy)]
enum V {
    C(f64),
    S(Slot),
}

/// Everything the compiler resolves names against.
pub(crate) struct Scope<'a> {
    pub variables: &'a [Variable],
    pub constants: &'a BTreeMap<String, ConstantValue>,
    /// The value of `n` when it is the built-in dimension constant.
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
        work: 0,
        max_work: limits.max_tape,
    };
    let out = c.value(ast)?;
    let out = match out {
        V::C(v) => c.constant(v),
        V::S(s) => s,
    };
    let n_consts = c.consts.len();
    let number = |s: Slot| -> u32 {
        (match s {
            Slot::Input(i) => i as usize,
            Slot::Const(k) => n_inputs + k as usize,
            Slot::Node(j) => n_inputs + n_consts + j as usize,
        }) as u32
    };
    let nodes = c
        .nodes
        .iter()
        .map(|(op, a, b, k)| Node {
            op: *op,
            a: number(*a),
            b: number(*b),
            c: *k,
        })
        .collect();
    Ok(Tape {
        n_inputs,
        consts: c.consts,
        nodes,
        output: number(out),
    })
}

struct Compiler<'a, 's> {
    scope: &'a Scope<'s>,
    bound: Vec<(String, f64)>,
    consts: Vec<f64>,
    const_index: HashMap<u64, u32>,
    nodes: Vec<(Op, Slot, Slot, f64)>,
    shared: HashMap<(Op, Slot, Slot, u64), Slot>,
    work: usize,
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

    fn emit(&mut self, op: Op, a: Slot, b: Slot, c: f64) -> Result<V, ExprError> {
        let key = (op, a, b, c.to_bits());
        if let Some(s) = self.shared.get(&key) {
            return Ok(V::S(*s));
        }
        if self.nodes.len() >= self.max_work {
            return Err(self.too_big());
        }
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

    fn unary(&mut self, op: Op, a: V) -> Result<V, ExprError> {
        match a {
            V::C(x) => Ok(V::C(eval(op, x, x, 0.0))),
            V::S(s) => self.emit(op, s, s, 0.0),
        }
    }

    fn with_const(&mut self, op: Op, a: Slot, c: f64) -> Result<V, ExprError> {
        self.emit(op, a, a, c)
    }

    fn binary(&mut self, op: Op, a: V, b: V) -> Result<V, ExprError> {
        match (a, b) {
            (V::C(x), V::C(y)) => Ok(V::C(eval(op, x, y, 0.0))),
            (V::S(s), V::C(c)) => match op {
                Op::Add => self.with_const(Op::AddC, s, c),
                Op::Sub => self.with_const(Op::AddC, s, -c),
                Op::Mul => self.with_const(Op::MulC, s, c),
                Op::Div => self.with_const(Op::DivC, s, c),
                _ => {
                    let k = self.constant(c);
                    self.emit(op, s, k, 0.0)
                }
            },
            (V::C(c), V::S(s)) => match op {
                Op::Add => self.with_const(Op::AddC, s, c),
                Op::Sub => self.with_const(Op::RSubC, s, c),
                Op::Mul => self.with_const(Op::MulC, s, c),
                Op::Div => self.with_const(Op::RDivC, s, c),
                _ => {
                    let k = self.constant(c);
                    self.emit(op, k, s, 0.0)
                }
            },
            (V::S(x), V::S(y)) => self.emit(op, x, y, 0.0),
        }
    }

    fn power(&mut self, base: V, exp: V) -> Result<V, ExprError> {
        match (base, exp) {
            (V::S(s), V::C(p)) => {
                if p == 1.0 {
                    Ok(base)
                } else if p == 0.0 {
                    // torch: x**0 is 1 everywhere (even at NaN), with a zero gradient.
                    Ok(V::C(1.0))
                } else if p == 2.0 {
                    self.emit(Op::Square, s, s, 0.0)
                } else if p == 3.0 {
                    self.emit(Op::Cube, s, s, 0.0)
                } else {
                    self.with_const(Op::PowC, s, p)
                }
            }
            (V::C(x), V::C(p)) => Ok(V::C(super::tape::pow_const(x, p))),
            _ => self.binary(Op::Pow, base, exp),
        }
    }

    /// An index expression: must fold to a whole number.
    fn index(&mut self, ast: &Ast, col: usize) -> Result<i64, ExprError> {
        match self.value(ast)? {
            V::C(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
            V::C(v) => Err(ExprError::at(
                col,
                format!("an index or range bound must be a whole number, got {v}"),
            )),
            V::S(_) => Err(ExprError::at(
                col,
                "an index or range bound must not depend on the variables",
            )),
        }
    }

    fn bound_value(&self, name: &str) -> Option<f64> {
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
                let lo = self.index(lo, *col)?;
                let hi = self.index(hi, *col)?;
                let (op, mut acc) = match kind {
                    Reduce::Sum => (Op::Add, V::C(0.0)),
                    Reduce::Prod => (Op::Mul, V::C(1.0)),
                };
                let mut first = true;
                let mut i = lo;
                while i <= hi {
                    self.bound.push((var.clone(), i as f64));
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

    fn name(&mut self, name: &str, col: usize) -> Result<V, ExprError> {
        if let Some(v) = self.bound_value(name) {
            return Ok(V::C(v));
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
        if name == "n" {
            if let Some(n) = self.scope.n {
                return Ok(V::C(n as f64));
            }
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
        if self.bound_value(name).is_none() {
            if let Some(var) = self.variable(name) {
                let Some(len) = var.size else {
                    return Err(ExprError::at(
                        col,
                        format!("`{name}` is a scalar variable and cannot be indexed"),
                    ));
                };
                arity(1)?;
                let i = check(idx[0], len, "")?;
                return Ok(V::S(Slot::Input((var.offset + i) as u32)));
            }
            match self.scope.constants.get(name) {
                Some(ConstantValue::Vector(v)) => {
                    arity(1)?;
                    return Ok(V::C(v[check(idx[0], v.len(), "")?]));
                }
                Some(ConstantValue::Matrix(m)) => {
                    arity(2)?;
                    let i = check(idx[0], m.len(), " (rows)")?;
                    let j = check(idx[1], m[i].len(), " (columns)")?;
                    return Ok(V::C(m[i][j]));
                }
                _ => {}
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
        .all(|(k, n)| (n.a as usize) < base + k && (n.b as usize) < base + k)
}
