//! Saddle passages: a run that came close to a saddle and went downhill past it without ever
//! stalling there (Adam's normalized steps do this), so no plateau marks the spot.
//!
//! Along a descent path the gradient norm falls while the path approaches a stationary point
//! and grows again while it leaves along a direction of negative curvature
//! (d‖∇f‖²/dt = −2η ∇fᵀ∇²f∇f for gradient flow). The tracker keeps the point of the smallest
//! gradient norm since the last passage — the closest approach — and, once the loss has
//! fallen clearly below the loss there, hands it over as a *candidate*. After the run,
//! [`confirm_passages`] keeps the candidates where the Hessian has a clearly negative
//! eigenvalue: the run passed a saddle region, not the bottom of a bowl it oscillated in.

use crate::diagnosis::eigen::{hessian_spectrum, SpectrumOptions};
use crate::diagnosis::episodes::{Episode, EpisodeKind};
use crate::diagnosis::DiagnosisOptions;
use crate::Objective;

/// A negative eigenvalue must be at least this fraction of the largest one to mark a saddle:
/// off the floor of a steep valley (Rosenbrock's) the Hessian is slightly indefinite
/// (λ_min ≈ −0.2 beside λ_max ≈ 10³) with no saddle anywhere near.
pub const RELATIVE_CURVATURE: f64 = 1e-2;

/// A closest approach counts when the gradient norm fell there to at most this fraction of
/// its largest value before: a run that starts on a hillside and only speeds up has not
/// approached anything.
pub const DIP: f64 = 0.9;

/// A closest approach followed by a clear drop in loss, not yet checked for curvature.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The step of the closest approach (smallest ‖∇f‖ since the previous passage).
    pub step: u64,
    /// f there.
    pub loss: f64,
    /// ‖∇f‖ there.
    pub grad_norm: f64,
    /// x there.
    pub params: Vec<f64>,
    /// The first step whose loss fell `escape_drop`·scale below `loss`.
    pub escaped_at: u64,
    /// The loss at `escaped_at`.
    pub loss_at_escape: f64,
}

/// The closest approach so far.
#[derive(Debug, Clone, Copy)]
struct Approach {
    step: u64,
    loss: f64,
    grad_norm: f64,
    /// The largest gradient norm before it (since the previous passage).
    peak_before: f64,
}

/// Finds passage candidates online: O(1) per record plus a copy of x whenever the gradient
/// norm reaches a new low (into a buffer allocated once).
#[derive(Debug, Clone)]
pub(crate) struct PassageTracker {
    approach: Option<Approach>,
    /// After a passage, while the gradient norm keeps growing the run is still leaving the
    /// same saddle: the next approach starts once it falls again.
    leaving: bool,
    last_grad_norm: f64,
    /// The largest gradient norm since the previous passage.
    peak: f64,
    approach_params: Vec<f64>,
    escape_drop: f64,
    max_candidates: usize,
    candidates: Vec<Passage>,
}

impl PassageTracker {
    /// A tracker for `dim` parameters keeping at most `max_candidates` candidates.
    pub(crate) fn new(dim: usize, escape_drop: f64, max_candidates: usize) -> Self {
        Self {
            approach: None,
            leaving: false,
            last_grad_norm: f64::INFINITY,
            peak: 0.0,
            approach_params: vec![0.0; dim],
            escape_drop,
            max_candidates,
            candidates: Vec::new(),
        }
    }

    /// Takes a finite record; `first_loss` is the run's first loss (the loss scale).
    pub(crate) fn observe(
        &mut self,
        step: u64,
        loss: f64,
        grad_norm: f64,
        params: &[f64],
        first_loss: f64,
    ) {
        if params.len() != self.approach_params.len() {
            return;
        }
        let falling = grad_norm < self.last_grad_norm;
        self.last_grad_norm = grad_norm;
        if self.leaving {
            if !falling {
                return;
            }
            self.leaving = false;
        }
        let peak = self.peak;
        self.peak = peak.max(grad_norm);
        match self.approach {
            Some(a) if grad_norm >= a.grad_norm => {
                let scale = (first_loss - a.loss)
                    .abs()
                    .max(a.loss.abs())
                    .max(f64::MIN_POSITIVE);
                if loss <= a.loss - self.escape_drop * scale {
                    let dipped = a.grad_norm <= DIP * a.peak_before;
                    if dipped && self.candidates.len() < self.max_candidates {
                        self.candidates.push(Passage {
                            step: a.step,
                            loss: a.loss,
                            grad_norm: a.grad_norm,
                            params: self.approach_params.clone(),
                            escaped_at: step,
                            loss_at_escape: loss,
                        });
                    }
                    self.approach = None;
                    self.leaving = true;
                    self.peak = 0.0;
                }
            }
            _ => {
                self.approach = Some(Approach {
                    step,
                    loss,
                    grad_norm,
                    peak_before: peak,
                });
                self.approach_params.copy_from_slice(params);
            }
        }
    }

    /// The candidates found.
    pub(crate) fn finish(self) -> Vec<Passage> {
        self.candidates
    }
}

/// Turns the candidates with a clearly negative Hessian eigenvalue at their closest approach
/// into [`EpisodeKind::SaddleEscape`] episodes (with `min_eigenvalue` set) and merges them
/// into `episodes` in step order. A candidate overlapping an escape already found from a
/// plateau is the same event and is left out. "Clearly negative" is below both
/// −`curvature_tol`·|f|/‖x‖² (the scaling [`crate::diagnosis::diagnose`] uses) and
/// −[`RELATIVE_CURVATURE`]·λ_max, and λ_max must be clearly positive. Costs one Hessian
/// spectrum per candidate.
pub fn confirm_passages(
    objective: &mut dyn Objective,
    candidates: Vec<Passage>,
    episodes: &mut Vec<Episode>,
    options: &DiagnosisOptions,
) {
    let spectrum_options = SpectrumOptions {
        dense_max_dim: options.dense_max_dim,
        lanczos_iterations: options.lanczos_iterations,
        seed: options.seed,
    };
    let known: Vec<(u64, u64)> = episodes
        .iter()
        .filter(|e| e.kind == EpisodeKind::SaddleEscape)
        .map(|e| (e.start_step, e.end_step))
        .collect();
    for passage in candidates {
        if passage.params.len() != objective.dim()
            || known
                .iter()
                .any(|&(start, end)| passage.step <= end && start <= passage.escaped_at)
        {
            continue;
        }
        let f_scale = options.f_scale.unwrap_or(passage.loss.abs().max(1.0));
        let x_norm = passage.params.iter().map(|v| v * v).sum::<f64>().sqrt();
        let x_scale = options.x_scale.unwrap_or(x_norm.max(1.0));
        let curvature_tol = options.curvature_tol * f_scale / (x_scale * x_scale);
        let spectrum =
            hessian_spectrum(objective, &passage.params, curvature_tol, &spectrum_options);
        let clearly_negative = -curvature_tol.max(RELATIVE_CURVATURE * spectrum.max_eigenvalue);
        // Curvature of both signs: a saddle, not the top of a hill the run rolled off.
        let saddle =
            spectrum.min_eigenvalue < clearly_negative && spectrum.max_eigenvalue > curvature_tol;
        if spectrum.min_eigenvalue.is_finite() && spectrum.max_eigenvalue.is_finite() && saddle {
            episodes.push(Episode {
                kind: EpisodeKind::SaddleEscape,
                start_step: passage.step,
                end_step: passage.escaped_at,
                left_at_step: Some(passage.step),
                loss_at_start: passage.loss,
                loss_at_end: passage.loss_at_escape,
                min_grad_norm: passage.grad_norm,
                min_eigenvalue: Some(spectrum.min_eigenvalue),
            });
        }
    }
    episodes.sort_by_key(|e| (e.start_step, e.end_step));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::FnObjective;

    /// A straight path from (1, 0) through (0.5, 0.5) to (0, 1) on x² − y²: the gradient
    /// norm is smallest at step 50, where the loss is 0, and the loss ends at −1.
    fn across_the_saddle() -> Vec<(u64, f64, f64, [f64; 2])> {
        (0..=100u64)
            .map(|k| {
                let t = k as f64 / 100.0;
                let x = [1.0 - t, t];
                let loss = x[0] * x[0] - x[1] * x[1];
                let grad = 2.0 * (x[0] * x[0] + x[1] * x[1]).sqrt();
                (k, loss, grad, x)
            })
            .collect()
    }

    /// a·x² + b·y² with its gradient: a saddle when a and b differ in sign.
    fn diagonal(a: f64, b: f64) -> FnObjective<impl FnMut(&[f64], &mut [f64]) -> f64 + Send> {
        FnObjective::new(2, move |x: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * a * x[0];
            g[1] = 2.0 * b * x[1];
            a * x[0] * x[0] + b * x[1] * x[1]
        })
    }

    fn candidates_of(path: &[(u64, f64, f64, [f64; 2])]) -> Vec<Passage> {
        let mut tracker = PassageTracker::new(2, 0.1, 16);
        let first = path[0].1;
        for (k, loss, grad, x) in path {
            tracker.observe(*k, *loss, *grad, x, first);
        }
        tracker.finish()
    }

    #[test]
    fn a_path_across_a_saddle_is_a_confirmed_escape_at_its_closest_approach() {
        let candidates = candidates_of(&across_the_saddle());
        assert_eq!(candidates.len(), 1);
        let c = &candidates[0];
        assert_eq!(c.step, 50);
        // Loss 1 − 2t ≤ 0 − 0.1·max(|1 − 0|, 0) = −0.1 first at t = 0.55.
        assert_eq!(c.escaped_at, 55);
        let mut episodes = Vec::new();
        confirm_passages(
            &mut diagonal(1.0, -1.0),
            candidates,
            &mut episodes,
            &DiagnosisOptions::default(),
        );
        assert_eq!(episodes.len(), 1);
        assert_eq!(episodes[0].kind, EpisodeKind::SaddleEscape);
        assert_eq!((episodes[0].start_step, episodes[0].end_step), (50, 55));
        assert!((episodes[0].min_eigenvalue.unwrap() + 2.0).abs() < 1e-6);
    }

    #[test]
    fn the_same_path_over_a_bowl_is_not_an_escape() {
        // The candidate is found from the loss alone; the positive curvature rejects it.
        let candidates = candidates_of(&across_the_saddle());
        let mut episodes = Vec::new();
        confirm_passages(
            &mut diagonal(1.0, 1.0),
            candidates,
            &mut episodes,
            &DiagnosisOptions::default(),
        );
        assert!(episodes.is_empty());
    }

    #[test]
    fn a_steady_descent_into_a_minimum_has_no_candidate() {
        let path: Vec<_> = (0..100u64)
            .map(|k| {
                let r = 0.9f64.powi(k as i32);
                (k, r * r, 2.0 * r, [r, 0.0])
            })
            .collect();
        assert!(candidates_of(&path).is_empty());
    }

    #[test]
    fn rolling_off_a_hill_top_is_not_a_saddle_escape() {
        let mut episodes = Vec::new();
        confirm_passages(
            &mut diagonal(-1.0, -1.0),
            candidates_of(&across_the_saddle()),
            &mut episodes,
            &DiagnosisOptions::default(),
        );
        assert!(episodes.is_empty());
    }

    #[test]
    fn a_run_that_only_speeds_up_from_its_start_has_no_candidate() {
        // Down a hillside from its top: the gradient norm grows from the first step.
        let path: Vec<_> = (0..50u64)
            .map(|k| {
                let r = 0.1 + 0.02 * k as f64;
                (k, -r * r, 2.0 * r, [r, 0.0])
            })
            .collect();
        assert!(candidates_of(&path).is_empty());
    }

    #[test]
    fn a_passage_inside_a_plateau_escape_is_not_reported_twice() {
        let mut episodes = vec![Episode {
            kind: EpisodeKind::SaddleEscape,
            start_step: 40,
            end_step: 60,
            left_at_step: Some(52),
            loss_at_start: 0.0,
            loss_at_end: -0.2,
            min_grad_norm: 1e-3,
            min_eigenvalue: None,
        }];
        confirm_passages(
            &mut diagonal(1.0, -1.0),
            candidates_of(&across_the_saddle()),
            &mut episodes,
            &DiagnosisOptions::default(),
        );
        assert_eq!(episodes.len(), 1);
        assert_eq!(episodes[0].min_eigenvalue, None);
    }
}
