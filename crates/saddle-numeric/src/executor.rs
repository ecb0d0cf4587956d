//! The executor: the one place that owns the optimization loop, its records, stopping rules,
//! cancellation and divergence checks (after argmin's `Executor`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clip::ClipConfig;
use crate::error::{check_min, InvalidConfig};
use crate::model::Metrics;
use crate::optim::{Optimizer, StepContext};
use crate::problem::Objective;
use crate::schedule::Schedule;
use crate::vecmath::{all_finite, norm2};

/// When to stop. Only `max_steps` always applies; the others only when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"max_steps": 1000, "grad_tol": 1e-8})))]
#[serde(deny_unknown_fields)]
pub struct StopRule {
    /// The number of optimizer updates to make at most (default 1000).
    #[serde(default = "default_max_steps")]
    pub max_steps: u64,
    /// Stop once ‖∇f(x_k)‖₂ ≤ grad_tol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_tol: Option<f64>,
    /// Stop once f(x_k) ≤ loss_target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_target: Option<f64>,
    /// Stop after this many seconds of wall time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<f64>,
    /// Stop once the loss has stalled: |f_k − f_{k−window}| ≤ rel_tol·max(1, |f_{k−window}|).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_tol: Option<f64>,
    /// The number of steps `rel_tol` looks back (default 10 when rel_tol is given), ≥ 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
}

/// The look-back of the loss-plateau rule when `rel_tol` is given without `window`.
pub const DEFAULT_PLATEAU_WINDOW: u64 = 10;

fn default_max_steps() -> u64 {
    1000
}

impl Default for StopRule {
    fn default() -> Self {
        Self {
            max_steps: default_max_steps(),
            grad_tol: None,
            loss_target: None,
            max_seconds: None,
            rel_tol: None,
            window: None,
        }
    }
}

impl StopRule {
    /// Rejects negative tolerances and a max_steps above `max_steps_limit`.
    pub fn validate(&self, max_steps_limit: u64) -> Result<(), InvalidConfig> {
        if self.max_steps > max_steps_limit {
            return Err(InvalidConfig::new(
                "stop.max_steps",
                format!(
                    "must be at most {max_steps_limit} (this server's limit), got {}",
                    self.max_steps
                ),
            ));
        }
        if let Some(tol) = self.grad_tol {
            check_min("stop.grad_tol", tol, 0.0)?;
        }
        if let Some(target) = self.loss_target {
            if target.is_nan() {
                return Err(InvalidConfig::new("stop.loss_target", "must be a number"));
            }
        }
        if let Some(tol) = self.rel_tol {
            check_min("stop.rel_tol", tol, 0.0)?;
        }
        if let Some(window) = self.window {
            if self.rel_tol.is_none() {
                return Err(InvalidConfig::new(
                    "stop.window",
                    "only applies with rel_tol; give rel_tol too or remove window",
                ));
            }
            if window < 1 || window > max_steps_limit.max(1) {
                return Err(InvalidConfig::new(
                    "stop.window",
                    format!(
                        "must be between 1 and {}, got {window}",
                        max_steps_limit.max(1)
                    ),
                ));
            }
        }
        if let Some(secs) = self.max_seconds {
            if !(secs.is_finite() && secs > 0.0) {
                return Err(InvalidConfig::new(
                    "stop.max_seconds",
                    format!("must be a positive number of seconds, got {secs}"),
                ));
            }
        }
        Ok(())
    }

    /// The loss-plateau look-back in steps, or 0 when the rule is off.
    pub fn plateau_window(&self) -> usize {
        match self.rel_tol {
            Some(_) => self.window.unwrap_or(DEFAULT_PLATEAU_WINDOW) as usize,
            None => 0,
        }
    }
}

/// The last `window` losses, for the loss-plateau rule without allocating in the loop.
struct LossRing {
    losses: Vec<f64>,
    seen: usize,
}

impl LossRing {
    fn new(window: usize) -> Self {
        Self {
            losses: vec![0.0; window],
            seen: 0,
        }
    }

    /// Records f_k and returns f_{k−window} once that far back exists.
    fn push(&mut self, loss: f64) -> Option<f64> {
        let w = self.losses.len();
        if w == 0 {
            return None;
        }
        let slot = self.seen % w;
        let old = (self.seen >= w).then(|| self.losses[slot]);
        self.losses[slot] = loss;
        self.seen += 1;
        old
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `max_steps` updates were made.
    MaxSteps,
    /// The gradient norm reached `grad_tol`.
    GradTol,
    /// The loss reached `loss_target`.
    LossTarget,
    /// `max_seconds` of wall time elapsed.
    MaxSeconds,
    /// The loss changed by at most `rel_tol` (relative) over `window` steps.
    LossPlateau,
    /// The client cancelled the job.
    Cancelled,
    /// The loss, gradient or parameters became NaN or infinite.
    Diverged,
    /// The process running the job died.
    Interrupted,
}

impl StopReason {
    /// The snake_case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max_steps",
            StopReason::GradTol => "grad_tol",
            StopReason::LossTarget => "loss_target",
            StopReason::MaxSeconds => "max_seconds",
            StopReason::LossPlateau => "loss_plateau",
            StopReason::Cancelled => "cancelled",
            StopReason::Diverged => "diverged",
            StopReason::Interrupted => "interrupted",
        }
    }
}

/// One record of the history: record k describes the iterate x_k.
#[derive(Debug, Clone, Copy)]
pub struct StepRecord<'a> {
    /// k.
    pub step: u64,
    /// f(x_k).
    pub loss: f64,
    /// ‖∇f(x_k)‖₂ of the raw (unclipped) gradient.
    pub grad_norm: f64,
    /// The lr of the update from x_k to x_{k+1} (for the last record: the lr the next update
    /// would use).
    pub lr: f64,
    /// The momentum / β1 of that update, when a schedule cycles it.
    pub momentum: Option<f64>,
    /// x_k.
    pub params: &'a [f64],
    /// Objective evaluations made so far, this record's included (L-BFGS and line searches
    /// make several per step).
    pub evaluations: u64,
    /// For objectives over a dataset: the epoch (0-based) of the batch f(x_k) was taken on.
    pub epoch: Option<u64>,
    /// Evaluation metrics at x_k, every `eval_every` steps and at the last record.
    pub metrics: Option<Metrics>,
}

/// Receives every record as the run makes it. Returning `false` asks the run to stop as
/// cancelled (e.g. when nobody can store the history any more).
pub trait Observer {
    /// Called once per record, in step order.
    fn on_step(&mut self, record: &StepRecord<'_>) -> bool;

    /// Called with a periodic checkpoint (see [`Executor::with_checkpoint_every`]) right after
    /// the record of its step, before the update from there: resuming from it re-makes that
    /// record and goes on exactly as the run did. The default ignores it.
    fn on_checkpoint(&mut self, checkpoint: Checkpoint) {
        let _ = checkpoint;
    }
}

impl<F: FnMut(&StepRecord<'_>) -> bool> Observer for F {
    fn on_step(&mut self, record: &StepRecord<'_>) -> bool {
        self(record)
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// The number of updates made (the last record is step `steps`).
    pub steps: u64,
    /// f at the final point.
    pub final_loss: f64,
    /// The final point.
    pub final_params: Vec<f64>,
    /// ‖∇f‖₂ at the final point.
    pub final_grad_norm: f64,
    /// The lowest loss recorded.
    pub best_loss: f64,
    /// The point where `best_loss` was recorded.
    pub best_params: Vec<f64>,
    /// The step of `best_loss`.
    pub best_step: u64,
    /// Objective+gradient evaluations made (each evaluates both).
    pub evaluations: u64,
    /// Wall time of the loop.
    pub elapsed: Duration,
    /// For a diverged run: what became non-finite.
    pub divergence: Option<String>,
    /// Evaluation metrics at the final point, for objectives that have them.
    pub final_metrics: Option<Metrics>,
}

/// Owns the loop: evaluate, record, check the stopping rules, clip, step, advance the
/// schedule. Every buffer is allocated once, up front.
pub struct Executor<'c> {
    objective: Box<dyn Objective>,
    optimizer: Box<dyn Optimizer>,
    schedule: Box<dyn Schedule>,
    clip: Option<ClipConfig>,
    stop: StopRule,
    cancel: Option<&'c AtomicBool>,
    first_step: u64,
    first_evaluations: u64,
    checkpoint_every: Option<Duration>,
}

/// Steps between two looks at the clock for periodic checkpoints: reading the clock on every
/// step of a cheap objective would cost more than the step.
const CHECKPOINT_CLOCK_STEPS: u64 = 64;

/// Everything needed to continue a run exactly where it stopped: the point, the step and
/// evaluation counters, and the states of the optimizer, the schedule and the objective's
/// mini-batch sampler. Floats survive JSON exactly (shortest round-trip representation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The step number of `params` (the last record of the run).
    pub step: u64,
    /// Objective evaluations made up to and including that record.
    pub evaluations: u64,
    /// x at `step`.
    pub params: Vec<f64>,
    /// [`Optimizer::state`].
    pub optimizer: serde_json::Value,
    /// [`Schedule::state`]; `null` when a continuation brings its own schedule.
    pub schedule: serde_json::Value,
    /// [`Objective::state`].
    pub objective: serde_json::Value,
}

impl<'c> Executor<'c> {
    /// Prepares a run of `optimizer` on `objective` with the lr from `schedule`.
    pub fn new(
        objective: Box<dyn Objective>,
        optimizer: Box<dyn Optimizer>,
        schedule: Box<dyn Schedule>,
        stop: StopRule,
    ) -> Self {
        Self {
            objective,
            optimizer,
            schedule,
            clip: None,
            stop,
            cancel: None,
            first_step: 0,
            first_evaluations: 0,
            checkpoint_every: None,
        }
    }

    /// Continues from `checkpoint`: numbers records from its step, counts evaluations on from
    /// its count and restores the optimizer, objective and (unless `fresh_schedule`) schedule
    /// states, so the run is bit for bit the continuation of the one that made it. Run it from
    /// `checkpoint.params`.
    pub fn resume(
        mut self,
        checkpoint: &Checkpoint,
        fresh_schedule: bool,
    ) -> Result<Self, InvalidConfig> {
        self.first_step = checkpoint.step;
        // The resumed run evaluates x at `step` again; that evaluation stands in for the one
        // the first run made there, so the cumulative count goes on exactly.
        self.first_evaluations = checkpoint.evaluations.saturating_sub(1);
        self.optimizer.load_state(&checkpoint.optimizer)?;
        self.objective.load_state(&checkpoint.objective)?;
        if !fresh_schedule {
            self.schedule.load_state(&checkpoint.schedule)?;
        }
        Ok(self)
    }

    /// The checkpoint at the end of a run that produced `outcome`.
    pub fn checkpoint(&self, outcome: &RunOutcome) -> Checkpoint {
        Checkpoint {
            step: self.first_step + outcome.steps,
            evaluations: self.first_evaluations + outcome.evaluations,
            params: outcome.final_params.clone(),
            optimizer: self.optimizer.state(),
            schedule: self.schedule.state(),
            objective: self.objective.state(),
        }
    }

    /// Clips every gradient before the update.
    pub fn with_clip(mut self, clip: Option<ClipConfig>) -> Self {
        self.clip = clip;
        self
    }

    /// Stops as `cancelled` at the next step once `flag` is set.
    pub fn with_cancel_flag(mut self, flag: &'c AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Hands the observer a [`Checkpoint`] about every `interval` of wall time (the clock is
    /// read every few steps), so a run killed midway can resume from its latest one.
    pub fn with_checkpoint_every(mut self, interval: Option<Duration>) -> Self {
        self.checkpoint_every = interval;
        self
    }

    /// Numbers the first record `step` (for continued runs); `max_steps` counts from there.
    pub fn starting_at_step(mut self, step: u64) -> Self {
        self.first_step = step;
        self
    }

    /// The optimizer, e.g. to checkpoint its state after the run.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }

    /// The schedule, e.g. to checkpoint its position after the run.
    pub fn schedule(&self) -> &dyn Schedule {
        self.schedule.as_ref()
    }

    /// The objective, e.g. to checkpoint its mini-batch position after the run.
    pub fn objective(&self) -> &dyn Objective {
        self.objective.as_ref()
    }

    /// The objective, e.g. to diagnose the final point after the run.
    pub fn objective_mut(&mut self) -> &mut dyn Objective {
        self.objective.as_mut()
    }

    /// Runs from `x0` until a stopping rule fires, reporting every record to `observer`.
    pub fn run(&mut self, x0: &[f64], observer: &mut dyn Observer) -> RunOutcome {
        let started = Instant::now();
        let deadline = self
            .stop
            .max_seconds
            // A limit past what an Instant can hold is no limit.
            .and_then(|s| started.checked_add(Duration::try_from_secs_f64(s).ok()?));
        let n = x0.len();
        let mut x = x0.to_vec();
        let mut raw_grad = vec![0.0; n];
        let mut grad = vec![0.0; n];
        let mut best_params = x.clone();
        let mut best_loss = f64::INFINITY;
        let mut best_step = self.first_step;
        let mut evaluations: u64 = self.first_evaluations;
        let mut updates: u64 = 0;
        let mut ring = LossRing::new(self.stop.plateau_window());
        let mut next_checkpoint = self.checkpoint_every.map(|every| started + every);

        let mut last_metrics: Option<Metrics>;
        let (loss, grad_norm, reason, divergence) = loop {
            let step = self.first_step + updates;
            let loss = self.objective.value_and_grad(&x, &mut raw_grad);
            evaluations += 1;
            let grad_norm = norm2(&raw_grad);
            let lr = self.schedule.lr();
            let momentum = self.schedule.momentum();
            let epoch = self.objective.epoch();
            // Decide before reporting, so the last record can carry the final metrics.
            let divergence = non_finite(loss, &raw_grad, &x);
            let stop = match divergence {
                Some(_) => Some(StopReason::Diverged),
                None => {
                    let loss_back = ring.push(loss);
                    self.should_stop(updates, loss, grad_norm, loss_back, deadline)
                }
            };
            let metrics_due = divergence.is_none()
                && (stop.is_some()
                    || self
                        .objective
                        .eval_every()
                        .is_some_and(|e| e > 0 && step.is_multiple_of(e)));
            let metrics = if metrics_due {
                self.objective.metrics(&x)
            } else {
                None
            };
            last_metrics = metrics;
            let record = StepRecord {
                step,
                loss,
                grad_norm,
                lr,
                momentum,
                params: &x,
                evaluations,
                epoch,
                metrics,
            };
            let keep_going = observer.on_step(&record);
            if loss < best_loss {
                best_loss = loss;
                best_step = step;
                best_params.copy_from_slice(&x);
            }

            if let Some(reason) = stop {
                break (loss, grad_norm, reason, divergence);
            }
            if !keep_going || self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break (loss, grad_norm, StopReason::Cancelled, None);
            }
            if let (Some(due), Some(every)) = (next_checkpoint, self.checkpoint_every) {
                if updates.is_multiple_of(CHECKPOINT_CLOCK_STEPS) {
                    let now = Instant::now();
                    if now >= due {
                        // Taken before the update from x_k, like the checkpoint at the end
                        // of a run: `resume` evaluates x_k again and goes on from there.
                        observer.on_checkpoint(Checkpoint {
                            step,
                            evaluations,
                            params: x.clone(),
                            optimizer: self.optimizer.state(),
                            schedule: self.schedule.state(),
                            objective: self.objective.state(),
                        });
                        next_checkpoint = Some(now + every);
                    }
                }
            }

            grad.copy_from_slice(&raw_grad);
            if let Some(clip) = &self.clip {
                clip.apply(&mut grad);
            }
            if let Some(m) = momentum {
                self.optimizer.set_momentum(m);
            }
            let extra = self.optimizer.step(
                &mut x,
                StepContext {
                    loss,
                    grad: &grad,
                    lr,
                    objective: self.objective.as_mut(),
                },
            );
            evaluations += extra as u64;
            self.schedule.step(loss);
            self.objective.advance();
            updates += 1;
        };

        let final_metrics = match (last_metrics, reason) {
            (Some(m), _) => Some(m),
            (None, StopReason::Diverged) => None,
            (None, _) => self.objective.metrics(&x),
        };
        RunOutcome {
            final_metrics,
            stop_reason: reason,
            steps: updates,
            final_loss: loss,
            final_params: x,
            final_grad_norm: grad_norm,
            best_loss: if best_loss.is_finite() {
                best_loss
            } else {
                loss
            },
            best_params,
            best_step,
            evaluations: evaluations - self.first_evaluations,
            elapsed: started.elapsed(),
            divergence,
        }
    }

    fn should_stop(
        &self,
        updates: u64,
        loss: f64,
        grad_norm: f64,
        loss_back: Option<f64>,
        deadline: Option<Instant>,
    ) -> Option<StopReason> {
        if self.stop.loss_target.is_some_and(|t| loss <= t) {
            return Some(StopReason::LossTarget);
        }
        if self.stop.grad_tol.is_some_and(|t| grad_norm <= t) {
            return Some(StopReason::GradTol);
        }
        if let (Some(tol), Some(back)) = (self.stop.rel_tol, loss_back) {
            if (loss - back).abs() <= tol * back.abs().max(1.0) {
                return Some(StopReason::LossPlateau);
            }
        }
        if updates >= self.stop.max_steps {
            return Some(StopReason::MaxSteps);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(StopReason::MaxSeconds);
        }
        None
    }
}

/// Names the first non-finite quantity of a step, if any.
fn non_finite(loss: f64, grad: &[f64], x: &[f64]) -> Option<String> {
    if !loss.is_finite() {
        return Some(format!("the loss is {loss}"));
    }
    if !all_finite(x) {
        let i = x.iter().position(|v| !v.is_finite()).unwrap_or(0);
        return Some(format!("parameter {i} is {}", x[i]));
    }
    if !all_finite(grad) {
        let i = grad.iter().position(|v| !v.is_finite()).unwrap_or(0);
        return Some(format!("gradient component {i} is {}", grad[i]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::Rosenbrock;
    use crate::optim::{AdamConfig, OptimizerConfig, SgdConfig};
    use crate::problem::FnObjective;
    use crate::schedule::Constant;

    fn run(
        objective: Box<dyn Objective>,
        optimizer: OptimizerConfig,
        stop: StopRule,
        x0: &[f64],
    ) -> (RunOutcome, Vec<(u64, f64, f64)>) {
        let lr = optimizer.lr();
        let mut exec = Executor::new(
            objective,
            optimizer.build(x0.len()),
            Box::new(Constant::new(lr)),
            stop,
        );
        let mut records = Vec::new();
        let mut observer = |r: &StepRecord<'_>| {
            records.push((r.step, r.loss, r.grad_norm));
            true
        };
        let outcome = exec.run(x0, &mut observer);
        (outcome, records)
    }

    #[test]
    fn a_run_of_n_updates_records_steps_zero_through_n() {
        let (outcome, records) = run(
            Box::new(Rosenbrock { dim: 2 }),
            OptimizerConfig::Adam(AdamConfig::default()),
            StopRule {
                max_steps: 5,
                ..Default::default()
            },
            &[-1.5, 2.0],
        );
        assert_eq!(outcome.stop_reason, StopReason::MaxSteps);
        assert_eq!(outcome.steps, 5);
        assert_eq!(
            records.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5]
        );
        assert_eq!(records[0].1, 12.5);
        assert_eq!(outcome.evaluations, 6);
    }

    #[test]
    fn gradient_descent_on_a_parabola_stops_at_grad_tol() {
        let parabola = FnObjective::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * x[0];
            x[0] * x[0]
        });
        let (outcome, _) = run(
            Box::new(parabola),
            OptimizerConfig::Sgd(SgdConfig {
                lr: 0.25,
                ..Default::default()
            }),
            StopRule {
                max_steps: 1000,
                grad_tol: Some(1e-10),
                ..Default::default()
            },
            &[1.0],
        );
        assert_eq!(outcome.stop_reason, StopReason::GradTol);
        // x ← x − 0.25·2x = x/2, so |2x| ≤ 1e-10 after 35 halvings.
        assert_eq!(outcome.steps, 35);
    }

    #[test]
    fn a_nan_loss_ends_the_run_as_diverged_at_that_step() {
        let log = FnObjective::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = 1.0 / x[0];
            x[0].ln()
        });
        let (outcome, records) = run(
            Box::new(log),
            OptimizerConfig::Sgd(SgdConfig {
                lr: 1.0,
                ..Default::default()
            }),
            StopRule::default(),
            &[0.5],
        );
        assert_eq!(outcome.stop_reason, StopReason::Diverged);
        assert!(records.last().unwrap().1.is_nan());
        assert!(outcome.divergence.unwrap().contains("loss is NaN"));
    }

    #[test]
    fn a_stalled_loss_stops_the_run_as_loss_plateau_after_the_window() {
        let line = FnObjective::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = 1.0;
            1.0 + x[0]
        });
        let (outcome, _) = run(
            Box::new(line),
            OptimizerConfig::Sgd(SgdConfig {
                lr: 0.0,
                ..Default::default()
            }),
            StopRule {
                max_steps: 100,
                rel_tol: Some(0.0),
                window: Some(3),
                ..Default::default()
            },
            &[1.0],
        );
        // With lr 0 the loss never moves: the rule fires as soon as f_{k−3} exists.
        assert_eq!(outcome.stop_reason, StopReason::LossPlateau);
        assert_eq!(outcome.steps, 3);
    }

    #[test]
    fn the_plateau_rule_waits_for_the_relative_change_to_fall_below_rel_tol() {
        let parabola = FnObjective::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * x[0];
            x[0] * x[0]
        });
        let (outcome, records) = run(
            Box::new(parabola),
            OptimizerConfig::Sgd(SgdConfig {
                lr: 0.25,
                ..Default::default()
            }),
            StopRule {
                max_steps: 1000,
                rel_tol: Some(1e-6),
                window: Some(2),
                ..Default::default()
            },
            &[1.0],
        );
        // f_k = 4^-k; |f_k − f_{k−2}| = 15·4^-k ≤ 1e-6 first at k = 12.
        assert_eq!(outcome.stop_reason, StopReason::LossPlateau);
        assert_eq!(outcome.steps, 12);
        let (f, back) = (records[12].1, records[10].1);
        assert!((f - back).abs() <= 1e-6 && (records[11].1 - records[9].1).abs() > 1e-6);
    }

    #[test]
    fn window_without_rel_tol_is_rejected_naming_the_field() {
        let stop = StopRule {
            window: Some(5),
            ..Default::default()
        };
        assert_eq!(stop.validate(10_000).unwrap_err().field, "stop.window");
    }

    #[test]
    fn the_cancel_flag_stops_the_run_at_the_next_step() {
        let flag = AtomicBool::new(true);
        let mut exec = Executor::new(
            Box::new(Rosenbrock { dim: 2 }),
            OptimizerConfig::Adam(AdamConfig::default()).build(2),
            Box::new(Constant::new(1e-3)),
            StopRule::default(),
        )
        .with_cancel_flag(&flag);
        let outcome = exec.run(&[0.0, 0.0], &mut |_: &StepRecord<'_>| true);
        assert_eq!(outcome.stop_reason, StopReason::Cancelled);
        assert_eq!(outcome.steps, 0);
    }

    #[test]
    fn resuming_from_a_periodic_checkpoint_repeats_the_rest_of_the_run_bit_for_bit() {
        struct Collect {
            records: Vec<(u64, f64, f64, u64)>,
            checkpoints: Vec<Checkpoint>,
        }
        impl Observer for Collect {
            fn on_step(&mut self, r: &StepRecord<'_>) -> bool {
                self.records
                    .push((r.step, r.loss, r.grad_norm, r.evaluations));
                true
            }
            fn on_checkpoint(&mut self, checkpoint: Checkpoint) {
                self.checkpoints.push(checkpoint);
            }
        }
        let executor = |max_steps| {
            Executor::new(
                Box::new(Rosenbrock { dim: 2 }),
                OptimizerConfig::Adam(AdamConfig::default()).build(2),
                Box::new(Constant::new(1e-2)),
                StopRule {
                    max_steps,
                    ..Default::default()
                },
            )
        };
        let mut whole = Collect {
            records: Vec::new(),
            checkpoints: Vec::new(),
        };
        executor(300)
            .with_checkpoint_every(Some(Duration::ZERO))
            .run(&[-1.5, 2.0], &mut whole);
        // The clock is read every CHECKPOINT_CLOCK_STEPS steps.
        let steps: Vec<u64> = whole.checkpoints.iter().map(|c| c.step).collect();
        assert_eq!(steps, vec![0, 64, 128, 192, 256]);

        let checkpoint = whole.checkpoints[2].clone();
        let mut rest = Collect {
            records: Vec::new(),
            checkpoints: Vec::new(),
        };
        // max_steps counts the resumed run's own updates: the rest of the budget.
        let mut resumed = executor(300 - 128).resume(&checkpoint, false).unwrap();
        resumed.run(&checkpoint.params, &mut rest);
        // Bit for bit: f64 equality, not a tolerance.
        assert_eq!(rest.records, whole.records[128..].to_vec());
    }
}
