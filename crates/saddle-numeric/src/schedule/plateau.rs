//! torch.optim.lr_scheduler.ReduceLROnPlateau: multiply the lr by `factor` once the loss
//! has not improved for `patience` steps. The metric is f at the point each step started.

use serde::{Deserialize, Serialize};

use super::{check_min_at, from_state, require, to_state, Schedule};
use crate::error::InvalidConfig;

/// Whether the metric should go down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    /// Improvement means a lower loss.
    #[default]
    Min,
    /// Improvement means a higher value (for maximization).
    Max,
}

/// How `threshold` measures an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    /// Relative to the best value: better than best·(1 ∓ threshold).
    #[default]
    Rel,
    /// Absolute: better than best ∓ threshold.
    Abs,
}

fn default_factor() -> f64 {
    0.1
}
fn default_patience() -> u64 {
    10
}
fn default_threshold() -> f64 {
    1e-4
}
fn default_eps() -> f64 {
    1e-8
}

/// Parameters of ReduceLROnPlateau under torch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"factor": 0.5, "patience": 20})))]
#[serde(default, deny_unknown_fields)]
pub struct ReduceOnPlateauConfig {
    /// `min` or `max` (default `min`).
    pub mode: PlateauMode,
    /// Factor applied to the lr on a plateau (default 0.1), in [0, 1).
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Steps without improvement tolerated before a cut (default 10).
    #[serde(default = "default_patience")]
    pub patience: u64,
    /// The least change that counts as an improvement (default 1e-4), ≥ 0.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// `rel` or `abs` (default `rel`).
    pub threshold_mode: ThresholdMode,
    /// Steps to wait after a cut before counting again (default 0).
    pub cooldown: u64,
    /// The lr is never cut below this (default 0), ≥ 0.
    pub min_lr: f64,
    /// Cuts smaller than this are skipped (default 1e-8), ≥ 0.
    #[serde(default = "default_eps")]
    pub eps: f64,
}

impl Default for ReduceOnPlateauConfig {
    fn default() -> Self {
        Self {
            mode: PlateauMode::Min,
            factor: default_factor(),
            patience: default_patience(),
            threshold: default_threshold(),
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: default_eps(),
        }
    }
}

impl ReduceOnPlateauConfig {
    /// torch's check factor < 1, plus non-negative factor, threshold, min_lr and eps.
    pub fn validate(&self, prefix: &str) -> Result<(), InvalidConfig> {
        require(
            self.factor.is_finite() && (0.0..1.0).contains(&self.factor),
            prefix,
            "factor",
            format!("must be in [0, 1), got {}", self.factor),
        )?;
        check_min_at(prefix, "threshold", self.threshold, 0.0)?;
        check_min_at(prefix, "min_lr", self.min_lr, 0.0)?;
        check_min_at(prefix, "eps", self.eps, 0.0)
    }
}

/// The plateau detector's position.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct PlateauState {
    lr: f64,
    best: f64,
    num_bad_epochs: u64,
    cooldown_counter: u64,
}

/// ReduceLROnPlateau as torch's `step(metrics)`.
pub struct ReduceOnPlateau {
    config: ReduceOnPlateauConfig,
    state: PlateauState,
}

impl ReduceOnPlateau {
    /// Starts at `lr` with no best value yet.
    pub fn new(config: ReduceOnPlateauConfig, lr: f64) -> Self {
        let best = match config.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        Self {
            config,
            state: PlateauState {
                lr,
                best,
                num_bad_epochs: 0,
                cooldown_counter: 0,
            },
        }
    }

    fn is_better(&self, a: f64) -> bool {
        let (best, th) = (self.state.best, self.config.threshold);
        match (self.config.mode, self.config.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - th),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - th,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (th + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + th,
        }
    }
}

impl Schedule for ReduceOnPlateau {
    fn lr(&self) -> f64 {
        self.state.lr
    }

    fn step(&mut self, loss: f64) {
        if self.is_better(loss) {
            self.state.best = loss;
            self.state.num_bad_epochs = 0;
        } else {
            self.state.num_bad_epochs += 1;
        }
        if self.state.cooldown_counter > 0 {
            self.state.cooldown_counter -= 1;
            self.state.num_bad_epochs = 0;
        }
        if self.state.num_bad_epochs > self.config.patience {
            let old = self.state.lr;
            let new = (old * self.config.factor).max(self.config.min_lr);
            if old - new > self.config.eps {
                self.state.lr = new;
            }
            self.state.cooldown_counter = self.config.cooldown;
            self.state.num_bad_epochs = 0;
        }
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        self.state = from_state(state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_on_plateau_cuts_after_patience_bad_steps_then_cools_down() {
        let config = ReduceOnPlateauConfig {
            factor: 0.5,
            patience: 2,
            cooldown: 1,
            ..Default::default()
        };
        let mut s = ReduceOnPlateau::new(config, 1.0);
        let mut lrs = Vec::new();
        for loss in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] {
            s.step(loss);
            lrs.push(s.lr());
        }
        // best=1 at step 1; bad 1, 2, 3 > patience → cut; cooldown eats one; bad 1, 2, 3 → cut.
        assert_eq!(lrs, vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]);
    }
}
