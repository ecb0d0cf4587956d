//! Plateaus and saddle escapes along a run, detected online from (step, loss, ‖∇f‖, x)
//! records with constant memory per step: the executor's observer feeds
//! [`EpisodeDetector::observe`].

use serde::{Deserialize, Serialize};

use crate::diagnosis::passage::{Passage, PassageTracker};
use crate::error::{check_min, InvalidConfig};

/// At most this many saddle-passage candidates are kept for the curvature check.
const MAX_PASSAGE_CANDIDATES: usize = 16;
/// The largest `max_passage_dim` accepted: 17 copies of x of this size are 13.6 MB.
pub const MAX_PASSAGE_DIM: usize = 100_000;

/// What an episode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// A long stretch of tiny gradient norm.
    Plateau,
    /// The run left a saddle: either a plateau it left with a clear drop in loss, or (when
    /// `min_eigenvalue` is set) a closest approach to a stationary point where the Hessian
    /// has a negative eigenvalue, followed by a clear drop in loss — how optimizers with
    /// normalized steps (Adam) pass a saddle without stalling.
    SaddleEscape,
}

/// A stretch of the run worth pointing at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "kind": "saddle_escape", "start_step": 10, "end_step": 53, "left_at_step": 50,
    "loss_at_start": 5.0, "loss_at_end": 4.4, "min_grad_norm": 0.001
})))]
pub struct Episode {
    /// Plateau or saddle escape.
    pub kind: EpisodeKind,
    /// The plateau's first step (an escape found by curvature: the closest approach).
    pub start_step: u64,
    /// Plateau: its last step. Saddle escape: the step where the loss had fallen well below
    /// the plateau's (or the closest approach's) value.
    pub end_step: u64,
    /// The step where the gradient norm grew back (the run left the plateau); `None` when
    /// the run ended on the plateau.
    pub left_at_step: Option<u64>,
    /// Plateau: the loss at `start_step`. Saddle escape: the plateau's loss when the run
    /// left it.
    pub loss_at_start: f64,
    /// The loss at `end_step`.
    pub loss_at_end: f64,
    /// The smallest gradient norm on the plateau (or at the closest approach).
    pub min_grad_norm: f64,
    /// For an escape found by curvature: the smallest Hessian eigenvalue at the closest
    /// approach (its step is `start_step`), negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_eigenvalue: Option<f64>,
}

/// Thresholds of [`EpisodeDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"plateau_grad_ratio": 0.01, "min_plateau_steps": 20})))]
#[serde(default, deny_unknown_fields)]
pub struct EpisodeConfig {
    /// A step is on a plateau when ‖∇f‖ ≤ this fraction of the reference gradient norm.
    pub plateau_grad_ratio: f64,
    /// The run leaves a plateau when ‖∇f‖ exceeds `exit_factor` times the plateau threshold
    /// (hysteresis, so that a norm hovering at the threshold does not split the plateau).
    pub exit_factor: f64,
    /// Stretches shorter than this many steps are not plateaus.
    pub min_plateau_steps: u64,
    /// An escape needs the loss to fall below the plateau's loss by this fraction of the
    /// loss scale max(|f₀ − f_plateau|, |f_plateau|), f₀ the run's first loss.
    pub escape_drop: f64,
    /// The reference gradient norm; default the run's first nonzero one.
    pub grad_scale: Option<f64>,
    /// At most this many episodes are kept (later ones are dropped), bounding memory.
    pub max_episodes: usize,
    /// Saddle passages without a plateau are looked for in full-batch runs of at most this
    /// many parameters (0: never): the closest approach's x is copied whenever the gradient
    /// norm reaches a new low, and each candidate costs a Hessian spectrum after the run.
    pub max_passage_dim: usize,
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        Self {
            plateau_grad_ratio: 1e-2,
            exit_factor: 2.0,
            min_plateau_steps: 20,
            escape_drop: 0.1,
            grad_scale: None,
            max_episodes: 100,
            max_passage_dim: 10_000,
        }
    }
}

impl EpisodeConfig {
    /// Rejects ratios outside their ranges, naming the field as `episodes.<field>`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("episodes.plateau_grad_ratio", self.plateau_grad_ratio, 0.0)?;
        check_min("episodes.exit_factor", self.exit_factor, 1.0)?;
        check_min("episodes.escape_drop", self.escape_drop, 0.0)?;
        if let Some(g) = self.grad_scale {
            if !(g.is_finite() && g > 0.0) {
                return Err(InvalidConfig::new(
                    "episodes.grad_scale",
                    format!("must be a finite number > 0, got {g}"),
                ));
            }
        }
        if self.max_passage_dim > MAX_PASSAGE_DIM {
            return Err(InvalidConfig::new(
                "episodes.max_passage_dim",
                format!(
                    "must be at most {MAX_PASSAGE_DIM} (each candidate keeps a copy of x), got {}",
                    self.max_passage_dim
                ),
            ));
        }
        if self.min_plateau_steps == 0 {
            return Err(InvalidConfig::new(
                "episodes.min_plateau_steps",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// A plateau in progress.
#[derive(Debug, Clone, Copy)]
struct OpenPlateau {
    start: u64,
    last: u64,
    length: u64,
    loss_start: f64,
    loss_last: f64,
    min_grad: f64,
}

/// A left plateau whose loss has not dropped yet.
#[derive(Debug, Clone, Copy)]
struct EscapeWatch {
    start: u64,
    left_at: u64,
    plateau_loss: f64,
    target: f64,
    min_grad: f64,
}

/// Finds plateaus (≥ `min_plateau_steps` consecutive records with ‖∇f‖ ≤
/// `plateau_grad_ratio`·g_ref, ended when ‖∇f‖ > `exit_factor`·that) and saddle escapes (a
/// left plateau followed by the loss falling `escape_drop`·scale below the plateau's loss).
///
/// Each observation is O(1) time and allocates nothing; memory grows only by the episodes
/// found (at most `max_episodes`). Non-finite records are ignored. With mini-batch
/// gradients the noise floor of ‖∇f‖ may keep it above the threshold: no plateau is then
/// reported, rather than a spurious one.
#[derive(Debug, Clone)]
pub struct EpisodeDetector {
    config: EpisodeConfig,
    grad_ref: Option<f64>,
    first_loss: Option<f64>,
    open: Option<OpenPlateau>,
    watch: Option<EscapeWatch>,
    passages: Option<PassageTracker>,
    episodes: Vec<Episode>,
}

/// What a detector found over a whole run.
#[derive(Debug, Clone, Default)]
pub struct EpisodeFindings {
    /// Plateaus and the escapes from them, in step order.
    pub episodes: Vec<Episode>,
    /// Saddle-passage candidates, to check with
    /// [`confirm_passages`](crate::diagnosis::confirm_passages).
    pub passages: Vec<Passage>,
}

impl EpisodeDetector {
    /// A detector with the given thresholds (validate them first).
    pub fn new(config: EpisodeConfig) -> Self {
        Self {
            grad_ref: config.grad_scale,
            config,
            first_loss: None,
            open: None,
            watch: None,
            passages: None,
            episodes: Vec::new(),
        }
    }

    /// Also looks for saddle passages over `dim` parameters, when `dim` is at most
    /// `max_passage_dim`. Only for deterministic (full-batch) gradients: the gradient norm of
    /// mini-batches dips and rises with the noise.
    pub fn with_passages(mut self, dim: usize) -> Self {
        if dim > 0 && dim <= self.config.max_passage_dim {
            self.passages = Some(PassageTracker::new(
                dim,
                self.config.escape_drop,
                MAX_PASSAGE_CANDIDATES,
            ));
        }
        self
    }

    /// Takes the record of `step`: f(x_k) = `loss`, ‖∇f(x_k)‖ = `grad_norm`, x_k = `params`.
    pub fn observe(&mut self, step: u64, loss: f64, grad_norm: f64, params: &[f64]) {
        if !(loss.is_finite() && grad_norm.is_finite()) {
            return;
        }
        let first_loss = *self.first_loss.get_or_insert(loss);
        if let Some(passages) = self.passages.as_mut() {
            passages.observe(step, loss, grad_norm, params, first_loss);
        }
        if self.grad_ref.is_none() && grad_norm > 0.0 {
            self.grad_ref = Some(grad_norm);
        }
        let threshold = self.config.plateau_grad_ratio * self.grad_ref.unwrap_or(0.0);

        if let Some(open) = self.open.as_mut() {
            if grad_norm > self.config.exit_factor * threshold {
                let open = *open;
                self.open = None;
                self.close(open, Some(step));
            } else {
                open.last = step;
                open.length += 1;
                open.loss_last = loss;
                open.min_grad = open.min_grad.min(grad_norm);
            }
        } else if grad_norm <= threshold {
            self.open = Some(OpenPlateau {
                start: step,
                last: step,
                length: 1,
                loss_start: loss,
                loss_last: loss,
                min_grad: grad_norm,
            });
        }
        if let Some(open) = self.open {
            if open.length == self.config.min_plateau_steps {
                // A new plateau: an older one's loss can no longer be said to drop from it.
                self.watch = None;
            }
        }
        if let Some(watch) = self.watch {
            if loss <= watch.target {
                self.watch = None;
                self.push(Episode {
                    kind: EpisodeKind::SaddleEscape,
                    start_step: watch.start,
                    end_step: step,
                    left_at_step: Some(watch.left_at),
                    loss_at_start: watch.plateau_loss,
                    loss_at_end: loss,
                    min_grad_norm: watch.min_grad,
                    min_eigenvalue: None,
                });
            }
        }
    }

    /// The episodes closed so far (a plateau still in progress is not among them).
    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// Ends the run: a plateau still in progress is reported with `left_at_step: None`.
    pub fn finish(mut self) -> EpisodeFindings {
        if let Some(open) = self.open.take() {
            self.close(open, None);
        }
        EpisodeFindings {
            episodes: self.episodes,
            passages: self
                .passages
                .map(PassageTracker::finish)
                .unwrap_or_default(),
        }
    }

    fn close(&mut self, open: OpenPlateau, left_at: Option<u64>) {
        if open.length < self.config.min_plateau_steps {
            return;
        }
        self.push(Episode {
            kind: EpisodeKind::Plateau,
            start_step: open.start,
            end_step: open.last,
            left_at_step: left_at,
            loss_at_start: open.loss_start,
            loss_at_end: open.loss_last,
            min_grad_norm: open.min_grad,
            min_eigenvalue: None,
        });
        if let Some(left_at) = left_at {
            let first = self.first_loss.unwrap_or(open.loss_last);
            let scale = (first - open.loss_last)
                .abs()
                .max(open.loss_last.abs())
                .max(f64::MIN_POSITIVE);
            self.watch = Some(EscapeWatch {
                start: open.start,
                left_at,
                plateau_loss: open.loss_last,
                target: open.loss_last - self.config.escape_drop * scale,
                min_grad: open.min_grad,
            });
        }
    }

    fn push(&mut self, episode: Episode) {
        if self.episodes.len() < self.config.max_episodes {
            self.episodes.push(episode);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Descent (0–9), a plateau at loss 5 (10–49), an escape (50–59, loss falling 0.2 per
    /// step), a dip too short to count (60–64), more descent (65–69), and a final plateau
    /// the run never leaves (70–99).
    fn synthetic_run() -> Vec<(u64, f64, f64)> {
        (0..100u64)
            .map(|k| {
                let (loss, grad) = match k {
                    0..=9 => (10.0 - 0.5 * k as f64, 1.0),
                    10..=49 => (5.0, 1e-3),
                    50..=59 => (5.0 - 0.2 * (k - 50) as f64, 0.5),
                    60..=64 => (3.0, 1e-4),
                    65..=69 => (3.0 - 0.1 * (k - 65) as f64, 0.5),
                    _ => (2.5, 1e-4),
                };
                (k, loss, grad)
            })
            .collect()
    }

    #[test]
    fn a_plateau_then_an_escape_is_reported_at_the_right_steps() {
        let mut detector = EpisodeDetector::new(EpisodeConfig::default());
        for (k, loss, grad) in synthetic_run() {
            detector.observe(k, loss, grad, &[]);
        }
        let episodes = detector.finish().episodes;
        let summary: Vec<_> = episodes
            .iter()
            .map(|e| (e.kind, e.start_step, e.end_step, e.left_at_step))
            .collect();
        assert_eq!(
            summary,
            vec![
                (EpisodeKind::Plateau, 10, 49, Some(50)),
                // Target 5 − 0.1·max(|10 − 5|, 5) = 4.5, first reached at step 53 (4.4).
                (EpisodeKind::SaddleEscape, 10, 53, Some(50)),
                (EpisodeKind::Plateau, 70, 99, None),
            ]
        );
        assert_eq!(episodes[1].loss_at_start, 5.0);
        assert!((episodes[1].loss_at_end - 4.4).abs() < 1e-12);
        assert_eq!(episodes[0].min_grad_norm, 1e-3);
    }

    #[test]
    fn a_plateau_left_without_a_drop_in_loss_is_not_an_escape() {
        let mut detector = EpisodeDetector::new(EpisodeConfig::default());
        for k in 0..100u64 {
            let grad = if (20..60).contains(&k) { 1e-3 } else { 1.0 };
            detector.observe(k, 1.0, grad, &[]);
        }
        let episodes = detector.finish().episodes;
        assert_eq!(episodes.len(), 1);
        assert_eq!(episodes[0].kind, EpisodeKind::Plateau);
        assert_eq!((episodes[0].start_step, episodes[0].end_step), (20, 59));
    }

    #[test]
    fn non_finite_records_are_ignored() {
        let mut detector = EpisodeDetector::new(EpisodeConfig {
            min_plateau_steps: 3,
            ..EpisodeConfig::default()
        });
        detector.observe(0, 1.0, 1.0, &[]);
        for k in 1..5 {
            detector.observe(k, 1.0, 1e-6, &[]);
        }
        detector.observe(5, f64::NAN, f64::INFINITY, &[]);
        detector.observe(6, 1.0, 1e-6, &[]);
        let episodes = detector.finish().episodes;
        assert_eq!(episodes.len(), 1);
        assert_eq!((episodes[0].start_step, episodes[0].end_step), (1, 6));
    }

    #[test]
    fn config_rejects_an_exit_factor_below_one() {
        let err = EpisodeConfig {
            exit_factor: 0.5,
            ..EpisodeConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "episodes.exit_factor");
    }
}
