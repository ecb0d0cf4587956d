//! The expression language: a formula over named scalar and vector variables, parsed once,
//! compiled to a flat tape and differentiated by reverse-mode AD.
//!
//! ```text
//! (1 - x)^2 + 100*(y - x^2)^2
//! sum(i=0..n-2, 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2)      with dims {"x": 50}
//! ```
//!
//! The grammar, the n-D syntax, the subgradient conventions at non-smooth points and the
//! limits are documented in docs/EXPRESSIONS.md.

mod compile;
pub mod lanes;
mod parse;
pub mod scalar;
pub mod tape;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::InvalidConfig;
use crate::problem::Objective;
pub use compile::FUNCTIONS;
use tape::{Tape, Workspace};

/// Resource limits of parsing and compiling, so hostile input fails cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExprLimits {
    /// Longest accepted expression, in bytes (default 100 000).
    pub max_length: usize,
    /// Deepest accepted nesting of parentheses, calls and unary operators (default 256).
    pub max_depth: usize,
    /// Most tape instructions after unrolling `sum`/`prod`, also bounding the unrolling work
    /// and the number of variables (default 1 000 000).
    pub max_tape: usize,
}

impl Default for ExprLimits {
    fn default() -> Self {
        Self {
            max_length: 100_000,
            max_depth: 256,
            max_tape: 1_000_000,
        }
    }
}

/// Why an expression was rejected: the field, the message and, for errors located in the
/// text, the 1-based column plus the expression with a caret under that column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ExprError {
    /// The request field at fault (`problem.expression`, `problem.dims.x`, …).
    pub field: String,
    /// What is wrong, without the location.
    pub message: String,
    /// 1-based column (in characters) in the expression, when the error has a place.
    pub column: Option<usize>,
    /// The expression (or a window of it) and a caret line under `column`.
    pub excerpt: Option<String>,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(col) = self.column {
            write!(f, " at column {col}")?;
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

impl ExprError {
    /// An error about the expression as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            field: "problem.expression".into(),
            message: message.into(),
            column: None,
            excerpt: None,
        }
    }

    /// An error at a column of the expression.
    pub fn at(column: usize, message: impl Into<String>) -> Self {
        Self {
            column: Some(column),
            ..Self::new(message)
        }
    }

    /// An error about another field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            ..Self::new(message)
        }
    }

    /// Attaches the caret excerpt of `src` (a window of ~80 characters around the column).
    fn with_source(mut self, src: &str) -> Self {
        const HALF: usize = 38;
        if let Some(col) = self.column {
            let chars: Vec<char> = src.chars().collect();
            let at = col - 1;
            let start = at.saturating_sub(HALF);
            let end = (at + HALF).min(chars.len());
            let mut line: String = chars[start..end]
                .iter()
                .map(|c| if c.is_control() { ' ' } else { *c })
                .collect();
            let mut caret = at - start;
            if start > 0 {
                line.insert(0, '…');
                caret += 1;
            }
            if end < chars.len() {
                line.push('…');
            }
            self.excerpt = Some(format!("{line}\n{}^", " ".repeat(caret)));
        }
        self
    }
}

impl From<ExprError> for InvalidConfig {
    fn from(e: ExprError) -> Self {
        let message = match e.column {
            Some(col) => format!("{} at column {col}", e.message),
            None => e.message,
        };
        InvalidConfig::new(e.field, message).at_column(e.column, e.excerpt)
    }
}

/// A named constant available to the expression: a number, a vector (`b[i]`) or a matrix
/// given as rows (`A[i, j]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ConstantValue {
    /// A number.
    Scalar(f64),
    /// A vector, indexed `name[i]`.
    Vector(Vec<f64>),
    /// A matrix as a list of rows, indexed `name[i, j]`.
    Matrix(Vec<Vec<f64>>),
}

/// One variable of the compiled expression and where it sits in the flat parameter vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "x", "offset": 0, "size": 50})))]
pub struct Variable {
    /// Its name in the expression.
    pub name: String,
    /// Index of its first component in x.
    pub offset: usize,
    /// `None` for a scalar, `Some(len)` for a vector declared in `dims`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
}

/// The `expression` problem kind: minimize a formula typed by the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"expression": "(1 - x)^2 + 100*(y - x^2)^2"})))]
#[serde(deny_unknown_fields)]
pub struct ExpressionProblem {
    /// The formula, e.g. `(1 - x)^2 + 100*(y - x^2)^2`; see docs/EXPRESSIONS.md for the grammar.
    pub expression: String,
    /// The order of the variables in x and `initial`; by default, order of first appearance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<String>>,
    /// Sizes of vector variables, e.g. `{"x": 50}`; undeclared variables are scalars.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dims: BTreeMap<String, usize>,
    /// Named constants (numbers, vectors, matrices) the formula may use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constants: BTreeMap<String, ConstantValue>,
}

impl ExpressionProblem {
    /// A problem from a formula alone (variables inferred, all scalar).
    pub fn new(expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            variables: None,
            dims: BTreeMap::new(),
            constants: BTreeMap::new(),
        }
    }

    /// Parses and compiles with the default [`ExprLimits`].
    pub fn compile(&self) -> Result<CompiledExpression, ExprError> {
        self.compile_with_limits(&ExprLimits::default())
    }

    /// Parses and compiles, checking names, sizes and indices, within `limits`.
    ///
    /// The recursive passes run on a helper thread whose stack is sized from
    /// `limits.max_depth` (debug builds use ~9 kB of stack per nesting level), so the
    /// outcome never depends on the caller's stack; if that thread cannot be started, they
    /// run on the caller's.
    pub fn compile_with_limits(
        &self,
        limits: &ExprLimits,
    ) -> Result<CompiledExpression, ExprError> {
        let stack = (limits.max_depth.saturating_mul(32 * 1024)).max(4 << 20) + (1 << 20);
        std::thread::scope(|scope| {
            match std::thread::Builder::new()
                .name("saddle-expr".into())
                .stack_size(stack)
                .spawn_scoped(scope, || self.compile_here(limits))
            {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => self.compile_here(limits),
            }
        })
    }

    fn compile_here(&self, limits: &ExprLimits) -> Result<CompiledExpression, ExprError> {
        let src = self.expression.as_str();
        let ast = parse::parse(src, limits).map_err(|e| e.with_source(src))?;
        self.check_constants()?;
        let mut total = 0usize;
        for (name, size) in &self.dims {
            let field = format!("problem.dims.{name}");
            if *size == 0 {
                return Err(ExprError::field(
                    field,
                    "a vector needs at least 1 component",
                ));
            }
            check_name(name, &field)?;
            total = total.saturating_add(*size);
        }
        if total > limits.max_tape {
            return Err(ExprError::field(
                "problem.dims",
                format!(
                    "{total} components in all; the limit is {}",
                    limits.max_tape
                ),
            ));
        }
        let declares_n = self.dims.contains_key("n")
            || self
                .variables
                .as_ref()
                .is_some_and(|v| v.iter().any(|s| s == "n"));
        let n_reserved = !self.dims.is_empty() && !declares_n;
        let inferred = compile::infer_variables(&ast, &self.constants, n_reserved);
        let names: Vec<String> = match &self.variables {
            Some(list) => {
                for (i, name) in list.iter().enumerate() {
                    let field = format!("problem.variables[{i}]");
                    check_name(name, &field)?;
                    if list[..i].contains(name) {
                        return Err(ExprError::field(field, format!("`{name}` is listed twice")));
                    }
                    if self.constants.contains_key(name) {
                        return Err(ExprError::field(
                            field,
                            format!("`{name}` is also a constant"),
                        ));
                    }
                }
                if let Some((name, col)) = inferred.iter().find(|(n, _)| !list.contains(n)) {
                    return Err(ExprError::at(
                        *col,
                        format!(
                            "unknown variable `{name}`; `variables` lists: {}",
                            list.join(", ")
                        ),
                    )
                    .with_source(src));
                }
                list.clone()
            }
            None => inferred.into_iter().map(|(n, _)| n).collect(),
        };
        for name in self.dims.keys() {
            if !names.contains(name) {
                return Err(ExprError::field(
                    format!("problem.dims.{name}"),
                    format!("`{name}` is not a variable of the expression"),
                ));
            }
        }
        if names.is_empty() {
            return Err(ExprError::new(
                "the expression has no variables; there is nothing to optimize",
            ));
        }
        let mut offset = 0;
        let variables: Vec<Variable> = names
            .into_iter()
            .map(|name| {
                let size = self.dims.get(&name).copied();
                let v = Variable { name, offset, size };
                offset += size.unwrap_or(1);
                v
            })
            .collect();
        let scope = compile::Scope {
            variables: &variables,
            constants: &self.constants,
            n_reserved,
            n: match (n_reserved, self.dims.len()) {
                (true, 1) => self.dims.values().next().copied(),
                _ => None,
            },
        };
        let tape = compile::compile(&ast, &scope, limits).map_err(|e| e.with_source(src))?;
        Ok(CompiledExpression {
            tape: Arc::new(tape),
            variables,
        })
    }

    fn check_constants(&self) -> Result<(), ExprError> {
        for (name, value) in &self.constants {
            let field = format!("problem.constants.{name}");
            check_name(name, &field)?;
            if self.dims.contains_key(name) {
                return Err(ExprError::field(
                    field,
                    format!("`{name}` is also in `dims`"),
                ));
            }
            let finite = match value {
                ConstantValue::Scalar(v) => v.is_finite(),
                ConstantValue::Vector(v) => v.iter().all(|x| x.is_finite()),
                ConstantValue::Matrix(m) => m.iter().flatten().all(|x| x.is_finite()),
            };
            if !finite {
                return Err(ExprError::field(field, "must hold finite numbers only"));
            }
        }
        Ok(())
    }
}

/// Rejects names that are not identifiers or that the language reserves.
fn check_name(name: &str, field: &str) -> Result<(), ExprError> {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident {
        return Err(ExprError::field(
            field,
            format!("`{name}` is not a name (letters, digits and `_`, not starting with a digit)"),
        ));
    }
    if compile::is_reserved(name) {
        return Err(ExprError::field(
            field,
            format!("`{name}` is reserved (a constant or a function)"),
        ));
    }
    Ok(())
}

/// A compiled expression: the tape and the layout of its variables in x.
#[derive(Debug, Clone)]
pub struct CompiledExpression {
    tape: Arc<Tape>,
    variables: Vec<Variable>,
}

impl CompiledExpression {
    /// The number of scalar parameters n.
    pub fn dim(&self) -> usize {
        self.tape.n_inputs
    }

    /// The variables in x order.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The tape, for inspection.
    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    /// An objective evaluating this expression, with its own scratch buffers.
    pub fn objective(&self) -> ExpressionObjective {
        ExpressionObjective {
            ws: Workspace::new(&self.tape),
            tape: Arc::clone(&self.tape),
        }
    }
}

/// An expression as an [`Objective`]: value and gradient by reverse-mode AD over a tape,
/// Hessian-vector products by forward-over-reverse; no allocation per evaluation.
#[derive(Debug, Clone)]
pub struct ExpressionObjective {
    tape: Arc<Tape>,
    ws: Workspace,
}

impl Objective for ExpressionObjective {
    fn dim(&self) -> usize {
        self.tape.n_inputs
    }

    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        self.ws.value_and_grad(&self.tape, x, grad)
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        self.ws.value(&self.tape, x)
    }

    fn hessian_vector_product(&mut self, x: &[f64], v: &[f64], out: &mut [f64]) -> bool {
        self.ws.hessian_vector_product(&self.tape, x, v, out);
        true
    }
}

#[cfg(test)]
mod tests;
