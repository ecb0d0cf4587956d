//! torch.optim.LBFGS (Liu & Nocedal, "On the limited memory BFGS method for large scale
//! optimization", Math. Programming 1989; torch's port of minFunc), with torch's
//! `_strong_wolfe` line search and `_cubic_interpolate` ported operation for operation.
//!
//! One [`Optimizer::step`] is one torch `step(closure)` call: up to `max_iter` L-BFGS
//! iterations and at most `max_eval` evaluations, the caller's evaluation at x included.

use serde::{Deserialize, Serialize};

use super::{check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};
use crate::problem::Objective;

/// The line-search evaluation limit torch uses (`_strong_wolfe`'s default `max_ls`).
const MAX_LS: usize = 25;

/// The line search to use between L-BFGS iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LineSearchFn {
    /// The strong Wolfe line search of torch (bracketing plus cubic-interpolation zoom).
    StrongWolfe,
}

/// Hyperparameters of L-BFGS under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 1.0, "max_iter": 1, "max_eval": 26, "history_size": 10, "line_search_fn": "strong_wolfe"})))]
#[serde(default, deny_unknown_fields)]
pub struct LbfgsConfig {
    /// Step length factor (default 1), ≥ 0.
    pub lr: f64,
    /// L-BFGS iterations per step (default 20), ≥ 1.
    pub max_iter: u32,
    /// Evaluations per step at most (default null = max_iter·5/4, rounded down), ≥ 1.
    pub max_eval: Option<u32>,
    /// Stop when max|g| ≤ tolerance_grad (default 1e-7), ≥ 0.
    pub tolerance_grad: f64,
    /// Stop on a change of f or of x below this (default 1e-9), ≥ 0.
    pub tolerance_change: f64,
    /// Number of (s, y) pairs kept (default 100), ≥ 1.
    pub history_size: u32,
    /// `strong_wolfe`, or null for a fixed step of lr (default null).
    pub line_search_fn: Option<LineSearchFn>,
    /// Maximize the objective instead of minimizing it (default false).
    pub maximize: bool,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        Self {
            lr: 1.0,
            max_iter: 20,
            max_eval: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            line_search_fn: None,
            maximize: false,
        }
    }
}

/// The most L-BFGS iterations one step may make: a step cannot be cancelled midway, so its
/// work must stay bounded.
pub const MAX_ITER_LIMIT: u32 = 10_000;
/// The most evaluations one step may make.
pub const MAX_EVAL_LIMIT: u32 = 100_000;
/// The most (s, y) pairs kept: memory is 2 · history_size · dim floats.
pub const HISTORY_SIZE_LIMIT: u32 = 1_000;

impl LbfgsConfig {
    /// Checks lr and the tolerances ≥ 0, and max_iter, max_eval, history_size from 1 to
    /// their limits.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        let within = |field: &str, v: u32, limit: u32| {
            if (1..=limit).contains(&v) {
                Ok(())
            } else {
                Err(InvalidConfig::new(
                    field,
                    format!("must be from 1 to {limit}, got {v}"),
                ))
            }
        };
        within("optimizer.max_iter", self.max_iter, MAX_ITER_LIMIT)?;
        if let Some(e) = self.max_eval {
            within("optimizer.max_eval", e, MAX_EVAL_LIMIT)?;
        }
        within(
            "optimizer.history_size",
            self.history_size,
            HISTORY_SIZE_LIMIT,
        )?;
        check_min("optimizer.tolerance_grad", self.tolerance_grad, 0.0)?;
        check_min("optimizer.tolerance_change", self.tolerance_change, 0.0)
    }

    /// The evaluation budget of one step: `max_eval`, or torch's default max_iter·5//4.
    pub fn effective_max_eval(&self) -> u32 {
        self.max_eval
            .unwrap_or_else(|| self.max_iter.saturating_mul(5) / 4)
    }
}

/// The state L-BFGS carries between steps (torch's `state[param0]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LbfgsState {
    func_evals: u64,
    n_iter: u64,
    /// The last search direction d.
    d: Vec<f64>,
    /// The last step length t.
    t: f64,
    /// The ring of stored curvature pairs: y (old_dirs) and s (old_stps), `history_size`
    /// slots of `dim` values each; logical pair i lives in slot (start + i) % history_size.
    old_dirs: Vec<f64>,
    old_stps: Vec<f64>,
    ro: Vec<f64>,
    start: usize,
    len: usize,
    h_diag: f64,
    prev_flat_grad: Vec<f64>,
    prev_loss: f64,
}

/// Scratch buffers of the line search, allocated once.
struct Scratch {
    flat_grad: Vec<f64>,
    x_trial: Vec<f64>,
    g_new: Vec<f64>,
    g_prev: Vec<f64>,
    bracket_g: [Vec<f64>; 2],
    al: Vec<f64>,
}

/// L-BFGS exactly as torch.optim.LBFGS computes it (see the module doc).
pub struct Lbfgs {
    config: LbfgsConfig,
    state: LbfgsState,
    scratch: Scratch,
    dim: usize,
}

impl Lbfgs {
    /// Creates L-BFGS for `dim` parameters, preallocating `history_size` curvature pairs.
    pub fn new(config: LbfgsConfig, dim: usize) -> Self {
        let h = config.history_size as usize;
        Self {
            state: LbfgsState {
                d: vec![0.0; dim],
                old_dirs: vec![0.0; h * dim],
                old_stps: vec![0.0; h * dim],
                ro: vec![0.0; h],
                h_diag: 1.0,
                prev_flat_grad: vec![0.0; dim],
                ..Default::default()
            },
            scratch: Scratch {
                flat_grad: vec![0.0; dim],
                x_trial: vec![0.0; dim],
                g_new: vec![0.0; dim],
                g_prev: vec![0.0; dim],
                bracket_g: [vec![0.0; dim], vec![0.0; dim]],
                al: vec![0.0; h],
            },
            config,
            dim,
        }
    }

    /// Total evaluations made by all steps so far (torch's `state["func_evals"]`).
    pub fn func_evals(&self) -> u64 {
        self.state.func_evals
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(u, v)| u * v).sum()
}

fn abs_max(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m: f64, v| m.max(v.abs()))
}

/// torch's `_cubic_interpolate`: the minimizer of the cubic through (x1, f1, g1) and
/// (x2, f2, g2), clamped to `bounds` (default: the interval between x1 and x2).
pub fn cubic_interpolate(
    x1: f64,
    f1: f64,
    g1: f64,
    x2: f64,
    f2: f64,
    g2: f64,
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (xmin_bound, xmax_bound) = match bounds {
        Some(b) => b,
        None if x1 <= x2 => (x1, x2),
        None => (x2, x1),
    };
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(xmin_bound).min(xmax_bound)
    } else {
        (xmin_bound + xmax_bound) / 2.0
    }
}

/// f and ∇f at x + t·d (torch's `_directional_evaluate`), negated when maximizing.
fn directional_evaluate(
    objective: &mut dyn Objective,
    x: &[f64],
    t: f64,
    d: &[f64],
    x_trial: &mut [f64],
    grad: &mut [f64],
    flip: bool,
) -> f64 {
    for ((xt, xi), di) in x_trial.iter_mut().zip(x).zip(d) {
        *xt = xi + t * di;
    }
    let f = objective.value_and_grad(x_trial, grad);
    if flip {
        grad.iter_mut().for_each(|g| *g = -*g);
        -f
    } else {
        f
    }
}

/// The result of a line search: (f, t, evaluations); the gradient is left in `flat_grad`.
struct LineSearchResult {
    f: f64,
    t: f64,
    evals: usize,
}

impl Lbfgs {
    /// torch's `_strong_wolfe` with c1 = 1e-4, c2 = 0.9, from x along `state.d`, starting at
    /// step `t` with f, g = `scratch.flat_grad` and g·d = `gtd`. On return `flat_grad` holds
    /// the gradient at the accepted point.
    #[allow(clippy::too_many_arguments)]
    fn strong_wolfe(
        &mut self,
        objective: &mut dyn Objective,
        x: &[f64],
        mut t: f64,
        f: f64,
        gtd: f64,
        max_ls: usize,
    ) -> LineSearchResult {
        const C1: f64 = 1e-4;
        const C2: f64 = 0.9;
        let tolerance_change = self.config.tolerance_change;
        let flip = self.config.maximize;
        let d = &self.state.d;
        let sc = &mut self.scratch;
        let d_norm = abs_max(d);
        sc.g_prev.copy_from_slice(&sc.flat_grad);
        let mut f_new =
            directional_evaluate(objective, x, t, d, &mut sc.x_trial, &mut sc.g_new, flip);
        let mut ls_func_evals = 1;
        let mut gtd_new = dot(&sc.g_new, d);

        let (mut t_prev, mut f_prev, mut gtd_prev) = (0.0, f, gtd);
        let mut done = false;
        let mut ls_iter = 0;
        let mut bracket = [0.0; 2];
        let mut bracket_f = [0.0; 2];
        let mut bracket_gtd = [0.0; 2];
        let mut single = false;
        while ls_iter < max_ls {
            if f_new > (f + C1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev) {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                sc.bracket_g[0].copy_from_slice(&sc.g_prev);
                sc.bracket_g[1].copy_from_slice(&sc.g_new);
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            if gtd_new.abs() <= -C2 * gtd {
                bracket = [t, t];
                bracket_f = [f_new, f_new];
                sc.bracket_g[0].copy_from_slice(&sc.g_new);
                single = true;
                done = true;
                break;
            }
            if gtd_new >= 0.0 {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                sc.bracket_g[0].copy_from_slice(&sc.g_prev);
                sc.bracket_g[1].copy_from_slice(&sc.g_new);
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            // Interpolate between the last two points, extrapolating at most 10×.
            let min_step = t + 0.01 * (t - t_prev);
            let max_step = t * 10.0;
            let tmp = t;
            t = cubic_interpolate(
                t_prev,
                f_prev,
                gtd_prev,
                t,
                f_new,
                gtd_new,
                Some((min_step, max_step)),
            );
            t_prev = tmp;
            f_prev = f_new;
            std::mem::swap(&mut sc.g_prev, &mut sc.g_new);
            gtd_prev = gtd_new;
            f_new = directional_evaluate(objective, x, t, d, &mut sc.x_trial, &mut sc.g_new, flip);
            ls_func_evals += 1;
            gtd_new = dot(&sc.g_new, d);
            ls_iter += 1;
        }
        if ls_iter == max_ls {
            bracket = [0.0, t];
            bracket_f = [f, f_new];
            sc.bracket_g[0].copy_from_slice(&sc.flat_grad);
            sc.bracket_g[1].copy_from_slice(&sc.g_new);
            single = false;
        }

        // Zoom: shrink the bracket until a point satisfies the strong Wolfe conditions.
        let mut insuf_progress = false;
        let last = if single { 0 } else { 1 };
        let (mut low_pos, mut high_pos) = if bracket_f[0] <= bracket_f[last] {
            (0, 1)
        } else {
            (1, 0)
        };
        while !done && ls_iter < max_ls {
            if (bracket[1] - bracket[0]).abs() * d_norm < tolerance_change {
                break;
            }
            t = cubic_interpolate(
                bracket[0],
                bracket_f[0],
                bracket_gtd[0],
                bracket[1],
                bracket_f[1],
                bracket_gtd[1],
                None,
            );
            let (b_max, b_min) = (bracket[0].max(bracket[1]), bracket[0].min(bracket[1]));
            let eps = 0.1 * (b_max - b_min);
            if (b_max - t).min(t - b_min) < eps {
                if insuf_progress || t >= b_max || t <= b_min {
                    t = if (t - b_max).abs() < (t - b_min).abs() {
                        b_max - eps
                    } else {
                        b_min + eps
                    };
                    insuf_progress = false;
                } else {
                    insuf_progress = true;
                }
            } else {
                insuf_progress = false;
            }
            f_new = directional_evaluate(objective, x, t, d, &mut sc.x_trial, &mut sc.g_new, flip);
            ls_func_evals += 1;
            gtd_new = dot(&sc.g_new, d);
            ls_iter += 1;

            if f_new > (f + C1 * t * gtd) || f_new >= bracket_f[low_pos] {
                // Armijo fails or no lower than the lowest point: the new point is the high end.
                bracket[high_pos] = t;
                bracket_f[high_pos] = f_new;
                sc.bracket_g[high_pos].copy_from_slice(&sc.g_new);
                bracket_gtd[high_pos] = gtd_new;
                (low_pos, high_pos) = if bracket_f[0] <= bracket_f[1] {
                    (0, 1)
                } else {
                    (1, 0)
                };
            } else {
                if gtd_new.abs() <= -C2 * gtd {
                    done = true;
                } else if gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0.0 {
                    // The old high end becomes the new low end.
                    bracket[high_pos] = bracket[low_pos];
                    bracket_f[high_pos] = bracket_f[low_pos];
                    sc.bracket_g.swap(0, 1);
                    bracket_gtd[high_pos] = bracket_gtd[low_pos];
                }
                bracket[low_pos] = t;
                bracket_f[low_pos] = f_new;
                sc.bracket_g[low_pos].copy_from_slice(&sc.g_new);
                bracket_gtd[low_pos] = gtd_new;
            }
        }
        let (bg0, bg1) = sc.bracket_g.split_at(1);
        let g_low = if low_pos == 0 { &bg0[0] } else { &bg1[0] };
        sc.flat_grad.copy_from_slice(g_low);
        LineSearchResult {
            f: bracket_f[low_pos],
            t: bracket[low_pos],
            evals: ls_func_evals,
        }
    }

    /// Computes the L-BFGS direction into `state.d` from `flat_grad` (two-loop recursion),
    /// first storing the newest curvature pair when sᵀy > 1e-10.
    fn update_direction(&mut self) {
        let n = self.dim;
        let h = self.config.history_size as usize;
        let st = &mut self.state;
        let sc = &mut self.scratch;
        // y = g − g_prev, s = d·t.
        let t = st.t;
        let ys: f64 = sc
            .flat_grad
            .iter()
            .zip(&st.prev_flat_grad)
            .zip(&st.d)
            .map(|((g, pg), d)| (g - pg) * (d * t))
            .sum();
        if ys > 1e-10 {
            let slot = if st.len == h {
                let slot = st.start;
                st.start = (st.start + 1) % h;
                slot
            } else {
                st.len += 1;
                (st.start + st.len - 1) % h
            };
            let y = &mut st.old_dirs[slot * n..(slot + 1) * n];
            let s = &mut st.old_stps[slot * n..(slot + 1) * n];
            for i in 0..n {
                y[i] = sc.flat_grad[i] - st.prev_flat_grad[i];
                s[i] = st.d[i] * t;
            }
            st.ro[slot] = 1.0 / ys;
            st.h_diag = ys / dot(y, y);
        }
        let slot_of = |i: usize| (st.start + i) % h;
        // q = −g, kept in d.
        for (q, g) in st.d.iter_mut().zip(&sc.flat_grad) {
            *q = -g;
        }
        for i in (0..st.len).rev() {
            let k = slot_of(i);
            let s = &st.old_stps[k * n..(k + 1) * n];
            let y = &st.old_dirs[k * n..(k + 1) * n];
            let al = dot(s, &st.d) * st.ro[k];
            sc.al[i] = al;
            for (q, yi) in st.d.iter_mut().zip(y) {
                *q += -al * yi;
            }
        }
        let h_diag = st.h_diag;
        st.d.iter_mut().for_each(|r| *r *= h_diag);
        for i in 0..st.len {
            let k = slot_of(i);
            let s = &st.old_stps[k * n..(k + 1) * n];
            let y = &st.old_dirs[k * n..(k + 1) * n];
            let be_i = dot(y, &st.d) * st.ro[k];
            let coef = sc.al[i] - be_i;
            for (r, si) in st.d.iter_mut().zip(s) {
                *r += coef * si;
            }
        }
    }
}

impl Optimizer for Lbfgs {
    fn step(&mut self, x: &mut [f64], cx: StepContext<'_>) -> usize {
        let flip = self.config.maximize;
        let lr = cx.lr;
        let max_iter = self.config.max_iter;
        let max_eval = self.config.effective_max_eval() as usize;
        let tolerance_grad = self.config.tolerance_grad;
        let tolerance_change = self.config.tolerance_change;
        let objective = cx.objective;

        // The caller's evaluation at x is torch's initial closure() call.
        let mut loss = if flip { -cx.loss } else { cx.loss };
        for (fg, g) in self.scratch.flat_grad.iter_mut().zip(cx.grad) {
            *fg = if flip { -g } else { *g };
        }
        let mut current_evals = 1;
        self.state.func_evals += 1;
        if abs_max(&self.scratch.flat_grad) <= tolerance_grad {
            return 0;
        }

        let mut n_iter = 0;
        while n_iter < max_iter {
            n_iter += 1;
            self.state.n_iter += 1;
            if self.state.n_iter == 1 {
                for (d, g) in self.state.d.iter_mut().zip(&self.scratch.flat_grad) {
                    *d = -g;
                }
                self.state.start = 0;
                self.state.len = 0;
                self.state.h_diag = 1.0;
            } else {
                self.update_direction();
            }
            self.state
                .prev_flat_grad
                .copy_from_slice(&self.scratch.flat_grad);
            self.state.prev_loss = loss;

            let t = if self.state.n_iter == 1 {
                let l1: f64 = self.scratch.flat_grad.iter().map(|g| g.abs()).sum();
                (1.0f64).min(1.0 / l1) * lr
            } else {
                lr
            };
            self.state.t = t;
            let gtd = dot(&self.scratch.flat_grad, &self.state.d);
            if gtd > -tolerance_change {
                break;
            }

            let ls_func_evals;
            let opt_cond;
            if self.config.line_search_fn.is_some() {
                // torch calls `_strong_wolfe` with its default max_ls = 25, whatever max_eval.
                let result = self.strong_wolfe(objective, x, t, loss, gtd, MAX_LS);
                loss = result.f;
                self.state.t = result.t;
                ls_func_evals = result.evals;
                for (xi, di) in x.iter_mut().zip(&self.state.d) {
                    *xi += result.t * di;
                }
                opt_cond = abs_max(&self.scratch.flat_grad) <= tolerance_grad;
            } else {
                for (xi, di) in x.iter_mut().zip(&self.state.d) {
                    *xi += t * di;
                }
                if n_iter != max_iter {
                    let f = objective.value_and_grad(x, &mut self.scratch.flat_grad);
                    if flip {
                        self.scratch.flat_grad.iter_mut().for_each(|g| *g = -*g);
                    }
                    loss = if flip { -f } else { f };
                    opt_cond = abs_max(&self.scratch.flat_grad) <= tolerance_grad;
                    ls_func_evals = 1;
                } else {
                    opt_cond = false;
                    ls_func_evals = 0;
                }
            }
            current_evals += ls_func_evals;
            self.state.func_evals += ls_func_evals as u64;

            if n_iter == max_iter || current_evals >= max_eval || opt_cond {
                break;
            }
            let t = self.state.t;
            if self
                .state
                .d
                .iter()
                .fold(0.0f64, |m, d| m.max((d * t).abs()))
                <= tolerance_change
            {
                break;
            }
            if (loss - self.state.prev_loss).abs() < tolerance_change {
                break;
            }
        }
        current_evals - 1
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: LbfgsState = from_state(state)?;
        let n = self.dim;
        let h = self.config.history_size as usize;
        check_len("d", &restored.d, n)?;
        check_len("prev_flat_grad", &restored.prev_flat_grad, n)?;
        check_len("old_dirs", &restored.old_dirs, h * n)?;
        check_len("old_stps", &restored.old_stps, h * n)?;
        check_len("ro", &restored.ro, h)?;
        if restored.len > h || restored.start >= h.max(1) {
            return Err(InvalidConfig::new(
                "state.len",
                format!("the history holds at most {h} pairs"),
            ));
        }
        self.state = restored;
        Ok(())
    }
}
