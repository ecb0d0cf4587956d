//! Lexer and recursive-descent parser: expression text → syntax tree.
//!
//! Nesting is bounded by an explicit depth counter checked *before* every recursive call,
//! and chains of `+ - * /` are kept flat, so neither parsing nor the later passes can
//! overflow the stack whatever the input.

use super::{ExprError, ExprLimits};

/// A token with its 1-based column (counted in characters).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub col: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Num(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    DotDot,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Num(v) => format!("number `{v}`"),
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Caret => "`^`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Eq => "`=`".into(),
            Tok::DotDot => "`..`".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        let col = i + 1;
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let simple = match ch {
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' if next == Some('*') => {
                i += 1;
                Some(Tok::Caret)
            }
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '^' => Some(Tok::Caret),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Eq),
            '.' if next == Some('.') => {
                i += 1;
                Some(Tok::DotDot)
            }
            _ => None,
        };
        if let Some(kind) = simple {
            out.push(Token { kind, col });
            i += 1;
            continue;
        }
        if ch.is_ascii_digit() || (ch == '.' && next.is_some_and(|c| c.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            // A fraction, unless this is the `..` of a range (`0..n`).
            if i < chars.len() && chars[i] == '.' && chars.get(i + 1) != Some(&'.') {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value: f64 = text
                .parse()
                .map_err(|_| ExprError::at(col, format!("malformed number `{text}`")))?;
            if !value.is_finite() {
                return Err(ExprError::at(
                    col,
                    format!("the number `{text}` is too large for a float64"),
                ));
            }
            out.push(Token {
                kind: Tok::Num(value),
                col,
            });
            continue;
        }
        if ch.is_ascii_alphabetic() || ch == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                kind: Tok::Ident(chars[start..i].iter().collect()),
                col,
            });
            continue;
        }
        if ch == '.'
            && matches!(
                out.last(),
                Some(Token {
                    kind: Tok::Ident(_),
                    ..
                })
            )
        {
            return Err(ExprError::at(
                col,
                "unexpected `.`: names cannot contain dots (a numpy repr such as `np.float64(2.5)` must be written as the number `2.5`)",
            ));
        }
        return Err(ExprError::at(col, format!("unexpected character `{ch}`")));
    }
    out.push(Token {
        kind: Tok::End,
        col: chars.len() + 1,
    });
    Ok(out)
}

/// `+ - * /` inside a flat chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// `sum` or `prod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduce {
    Sum,
    Prod,
}

/// The syntax tree. Every node keeps the column it starts at, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    Num(f64),
    /// A variable, constant or bound index, by name.
    Name {
        name: String,
        col: usize,
    },
    /// `name[i]` or `name[i, j]`.
    Index {
        name: String,
        col: usize,
        indices: Vec<Ast>,
    },
    /// Unary minus.
    Neg(Box<Ast>),
    /// `first op₁ t₁ op₂ t₂ …`, evaluated left to right; `+ -` chains hold `* /` chains.
    Chain {
        first: Box<Ast>,
        rest: Vec<(ChainOp, Ast)>,
    },
    /// `base ^ exponent`.
    Pow {
        base: Box<Ast>,
        exp: Box<Ast>,
    },
    /// `name(args…)`.
    Call {
        name: String,
        col: usize,
        args: Vec<Ast>,
    },
    /// `sum(i=lo..hi, body)` / `prod(…)`; both bounds inclusive.
    Reduce {
        kind: Reduce,
        col: usize,
        var: String,
        lo: Box<Ast>,
        hi: Box<Ast>,
        body: Box<Ast>,
    },
}

/// Parses a whole expression.
pub(crate) fn parse(src: &str, limits: &ExprLimits) -> Result<Ast, ExprError> {
    if src.len() > limits.max_length {
        return Err(ExprError::new(format!(
            "the expression is {} bytes long; the limit is {} bytes",
            src.len(),
            limits.max_length
        )));
    }
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        max_depth: limits.max_depth,
    };
    let ast = p.expr()?;
    let t = p.peek();
    if t.kind != Tok::End {
        let msg = match t.kind {
            Tok::RParen => "unmatched `)`".to_string(),
            _ => format!(
                "expected an operator or the end of the expression, found {}",
                t.kind.describe()
            ),
        };
        return Err(ExprError::at(t.col, msg));
    }
    Ok(ast)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.tokens[(self.pos + k).min(self.tokens.len() - 1)].kind
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, kind: Tok, what: &str) -> Result<Token, ExprError> {
        let t = self.peek();
        if t.kind == kind {
            Ok(self.bump())
        } else {
            Err(ExprError::at(
                t.col,
                format!("expected {what}, found {}", t.kind.describe()),
            ))
        }
    }

    /// Counts one level of nesting; fails before the recursion that would exceed the limit.
    fn enter(&mut self) -> Result<(), ExprError> {
        if self.depth >= self.max_depth {
            return Err(ExprError::at(
                self.peek().col,
                format!(
                    "the expression is nested more than {} levels deep",
                    self.max_depth
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// expr := term (('+' | '-') term)*
    fn expr(&mut self) -> Result<Ast, ExprError> {
        self.enter()?;
        let first = self.term()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek().kind {
                Tok::Plus => ChainOp::Add,
                Tok::Minus => ChainOp::Sub,
                _ => break,
            };
            self.bump();
            rest.push((op, self.term()?));
        }
        self.leave();
        Ok(chain(first, rest))
    }

    /// term := unary (('*' | '/') unary)*
    fn term(&mut self) -> Result<Ast, ExprError> {
        let first = self.unary()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek().kind {
                Tok::Star => ChainOp::Mul,
                Tok::Slash => ChainOp::Div,
                _ => break,
            };
            self.bump();
            rest.push((op, self.unary()?));
        }
        Ok(chain(first, rest))
    }

    /// unary := ('-' | '+') unary | power — so `-x^2` is `-(x^2)`.
    fn unary(&mut self) -> Result<Ast, ExprError> {
        match self.peek().kind {
            Tok::Minus | Tok::Plus => {
                let neg = self.bump().kind == Tok::Minus;
                self.enter()?;
                let inner = self.unary()?;
                self.leave();
                Ok(if neg {
                    Ast::Neg(Box::new(inner))
                } else {
                    inner
                })
            }
            _ => self.power(),
        }
    }

    /// power := postfix ('^' unary)? — right-associative, `2^-1` allowed.
    fn power(&mut self) -> Result<Ast, ExprError> {
        let base = self.primary()?;
        if self.peek().kind == Tok::Caret {
            self.bump();
            self.enter()?;
            let exp = self.unary()?;
            self.leave();
            return Ok(Ast::Pow {
                base: Box::new(base),
                exp: Box::new(exp),
            });
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Ast, ExprError> {
        let t = self.bump();
        match t.kind {
            Tok::Num(v) => Ok(Ast::Num(v)),
            Tok::LParen => {
                let inner = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(inner)
            }
            Tok::Ident(name) => match self.peek().kind {
                Tok::LParen => {
                    self.bump();
                    if (name == "sum" || name == "prod")
                        && matches!(self.peek().kind, Tok::Ident(_))
                        && matches!(self.peek_at(1), Tok::Eq | Tok::Comma)
                    {
                        return self.reduce(name, t.col);
                    }
                    let args = self.list(Tok::RParen, "`,` or `)`")?;
                    Ok(Ast::Call {
                        name,
                        col: t.col,
                        args,
                    })
                }
                Tok::LBracket => {
                    self.bump();
                    let indices = self.list(Tok::RBracket, "`,` or `]`")?;
                    if indices.is_empty() {
                        return Err(ExprError::at(t.col, format!("`{name}[]` needs an index")));
                    }
                    Ok(Ast::Index {
                        name,
                        col: t.col,
                        indices,
                    })
                }
                _ => Ok(Ast::Name { name, col: t.col }),
            },
            Tok::End => Err(ExprError::at(
                t.col,
                "unexpected end of the expression; expected a number, a variable or `(`",
            )),
            other => Err(ExprError::at(
                t.col,
                format!(
                    "expected a number, a variable, a function or `(`, found {}",
                    other.describe()
                ),
            )),
        }
    }

    /// Comma-separated expressions up to `close` (already past the opening bracket).
    fn list(&mut self, close: Tok, what: &str) -> Result<Vec<Ast>, ExprError> {
        let mut args = Vec::new();
        if self.peek().kind == close {
            self.bump();
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            let t = self.peek();
            if t.kind == Tok::Comma {
                self.bump();
            } else if t.kind == close {
                self.bump();
                return Ok(args);
            } else {
                return Err(ExprError::at(
                    t.col,
                    format!("expected {what}, found {}", t.kind.describe()),
                ));
            }
        }
    }

    /// `sum(i=lo..hi, body)` or `sum(i, lo, hi, body)`, past `sum(`.
    fn reduce(&mut self, name: String, col: usize) -> Result<Ast, ExprError> {
        let kind = if name == "sum" {
            Reduce::Sum
        } else {
            Reduce::Prod
        };
        let Tok::Ident(var) = self.bump().kind else {
            unreachable!("checked by the caller")
        };
        let (lo, hi);
        if self.bump().kind == Tok::Eq {
            lo = self.expr()?;
            self.expect(Tok::DotDot, "`..` between the bounds (`i=0..n-1`)")?;
            hi = self.expr()?;
        } else {
            lo = self.expr()?;
            self.expect(Tok::Comma, "`,` after the lower bound")?;
            hi = self.expr()?;
        }
        self.expect(Tok::Comma, "`,` before the summand")?;
        let body = self.expr()?;
        self.expect(Tok::RParen, "`)`")?;
        Ok(Ast::Reduce {
            kind,
            col,
            var,
            lo: Box::new(lo),
            hi: Box::new(hi),
            body: Box::new(body),
        })
    }
}

fn chain(first: Ast, rest: Vec<(ChainOp, Ast)>) -> Ast {
    if rest.is_empty() {
        first
    } else {
        Ast::Chain {
            first: Box::new(first),
            rest,
        }
    }
}
