//! torch.optim.lr_scheduler.SequentialLR: schedule i runs from milestone i−1 to milestone i,
//! each starting from its own step 0 at the optimizer's base lr.

use serde::{Deserialize, Serialize};

use super::{from_state, require, to_state, Schedule, ScheduleBase, ScheduleConfig};
use crate::error::InvalidConfig;

/// Parameters of SequentialLR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"schedulers": [{"name": "linear", "start_factor": 0.1, "total_iters": 10}, {"name": "cosine", "t_max": 90}], "milestones": [10]})))]
#[serde(deny_unknown_fields)]
pub struct SequentialConfig {
    /// The schedules, in order (required, at least one).
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub schedulers: Vec<ScheduleConfig>,
    /// The steps at which the next schedule takes over (required; one fewer than
    /// schedulers, strictly increasing).
    pub milestones: Vec<u64>,
}

impl SequentialConfig {
    /// One milestone fewer than schedulers, increasing; every part valid.
    pub fn validate(&self, prefix: &str, base: ScheduleBase) -> Result<(), InvalidConfig> {
        require(
            !self.schedulers.is_empty(),
            prefix,
            "schedulers",
            "must list at least one schedule",
        )?;
        require(
            self.milestones.len() + 1 == self.schedulers.len(),
            prefix,
            "milestones",
            format!(
                "must have one entry fewer than schedulers ({}), got {}",
                self.schedulers.len(),
                self.milestones.len()
            ),
        )?;
        require(
            self.milestones.windows(2).all(|w| w[0] < w[1]),
            prefix,
            "milestones",
            "must be strictly increasing",
        )?;
        for (i, s) in self.schedulers.iter().enumerate() {
            s.validate_at(&format!("{prefix}.schedulers[{i}]"), base)?;
        }
        Ok(())
    }
}

/// The sequence of schedules and the global step.
pub struct Sequential {
    parts: Vec<Box<dyn Schedule>>,
    milestones: Vec<u64>,
    step: u64,
}

impl Sequential {
    /// Builds every part up front at its step 0.
    pub fn new(config: &SequentialConfig, base: ScheduleBase) -> Self {
        Self {
            parts: config.schedulers.iter().map(|s| s.build(base)).collect(),
            milestones: config.milestones.clone(),
            step: 0,
        }
    }

    fn active(&self) -> usize {
        self.milestones.partition_point(|m| *m <= self.step)
    }
}

/// The position of a sequential schedule: the global step and every part's position.
#[derive(Serialize, Deserialize)]
struct SequentialState {
    step: u64,
    parts: Vec<serde_json::Value>,
}

impl Schedule for Sequential {
    fn lr(&self) -> f64 {
        self.parts[self.active()].lr()
    }

    fn momentum(&self) -> Option<f64> {
        self.parts[self.active()].momentum()
    }

    fn step(&mut self, loss: f64) {
        let before = self.active();
        self.step += 1;
        let after = self.active();
        // At a milestone the next part takes over from its own step 0.
        if after == before {
            self.parts[after].step(loss);
        }
    }

    fn state(&self) -> serde_json::Value {
        to_state(&SequentialState {
            step: self.step,
            parts: self.parts.iter().map(|p| p.state()).collect(),
        })
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: SequentialState = from_state(state)?;
        if restored.parts.len() != self.parts.len() {
            return Err(InvalidConfig::new(
                "state.parts",
                format!("expected {} schedule states", self.parts.len()),
            ));
        }
        for (p, s) in self.parts.iter_mut().zip(&restored.parts) {
            p.load_state(s)?;
        }
        self.step = restored.step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_hands_over_at_the_milestone_from_the_next_schedules_start() {
        let config: SequentialConfig = serde_json::from_value(serde_json::json!({
            "schedulers": [
                {"name": "linear", "start_factor": 0.5, "end_factor": 1.0, "total_iters": 2},
                {"name": "exponential", "gamma": 0.5}
            ],
            "milestones": [3]
        }))
        .unwrap();
        let base = ScheduleBase {
            lr: 1.0,
            total_steps: 10,
        };
        config.validate("schedule", base).unwrap();
        let mut s = Sequential::new(&config, base);
        let got: Vec<f64> = (0..6)
            .map(|_| {
                let lr = s.lr();
                s.step(0.0);
                lr
            })
            .collect();
        assert_eq!(got, vec![0.5, 0.75, 1.0, 1.0, 0.5, 0.25]);
    }
}
