//! Schedule-Free SGD and AdamW (Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The
//! Road Less Scheduled", NeurIPS 2024, Algorithm 1), following the authors' reference
//! implementations `SGDScheduleFreeReference` / `AdamWScheduleFreeReference`.
//!
//! The method keeps three sequences: z (the base optimizer's iterate), x (a weighted
//! average of z, the point to evaluate or deploy) and y = β·x + (1−β)·z, where gradients are
//! taken. saddle's parameter vector is y; the average x is in the state (`"x"`) and returned
//! by `average()`.

use serde::{Deserialize, Serialize};

use super::{check_betas, check_len, from_state, to_state, Optimizer, StepContext};
use crate::error::{check_min, InvalidConfig};

/// Hyperparameters of Schedule-Free SGD with the authors' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 1.0, "momentum": 0.9})))]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleFreeSgdConfig {
    /// Learning rate (default 1.0), ≥ 0.
    pub lr: f64,
    /// Interpolation β between the average and the base iterate (default 0.9), in (0, 1).
    pub momentum: f64,
    /// L2 penalty evaluated at y and added to the gradient (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Steps of linear lr warmup (default 0).
    pub warmup_steps: u64,
    /// Power r of the polynomial weighting (k+1)^r of the average (default 0), ≥ 0.
    pub r: f64,
    /// The average weights steps by lr_max^weight_lr_power (default 2), ≥ 0.
    pub weight_lr_power: f64,
}

impl Default for ScheduleFreeSgdConfig {
    fn default() -> Self {
        Self {
            lr: 1.0,
            momentum: 0.9,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
        }
    }
}

impl ScheduleFreeSgdConfig {
    /// The reference's checks: lr, weight_decay ≥ 0 and 0 < momentum < 1; r and the power ≥ 0.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)?;
        if !(self.momentum > 0.0 && self.momentum < 1.0) {
            return Err(InvalidConfig::new(
                "optimizer.momentum",
                format!("must be in (0, 1), got {}", self.momentum),
            ));
        }
        check_min("optimizer.r", self.r, 0.0)?;
        check_min("optimizer.weight_lr_power", self.weight_lr_power, 0.0)
    }
}

/// Hyperparameters of Schedule-Free AdamW with the authors' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"lr": 0.0025, "betas": [0.9, 0.999]})))]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleFreeAdamwConfig {
    /// Learning rate (default 0.0025), ≥ 0.
    pub lr: f64,
    /// (β1, β2): β1 interpolates y between the average and z, β2 decays g²
    /// (default [0.9, 0.999]), each in [0, 1).
    pub betas: [f64; 2],
    /// Term added to √v (default 1e-8), ≥ 0.
    pub eps: f64,
    /// Decoupled weight decay, applied to z at y (or at z with decay_at_z) (default 0), ≥ 0.
    pub weight_decay: f64,
    /// Steps of linear lr warmup (default 0).
    pub warmup_steps: u64,
    /// Power r of the polynomial weighting (k+1)^r of the average (default 0), ≥ 0.
    pub r: f64,
    /// The average weights steps by lr_max^weight_lr_power (default 2), ≥ 0.
    pub weight_lr_power: f64,
    /// Compute the weight decay at z instead of y (default false).
    pub decay_at_z: bool,
}

impl Default for ScheduleFreeAdamwConfig {
    fn default() -> Self {
        Self {
            lr: 0.0025,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
            decay_at_z: false,
        }
    }
}

impl ScheduleFreeAdamwConfig {
    /// lr, eps, weight_decay, r, weight_lr_power ≥ 0 and each beta in [0, 1).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_min("optimizer.lr", self.lr, 0.0)?;
        check_betas(self.betas)?;
        check_min("optimizer.eps", self.eps, 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay, 0.0)?;
        check_min("optimizer.r", self.r, 0.0)?;
        check_min("optimizer.weight_lr_power", self.weight_lr_power, 0.0)
    }
}

/// The state shared by both variants: k, the averaging bookkeeping, z, x and (AdamW) v.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ScheduleFreeState {
    k: u64,
    weight_sum: f64,
    lr_max: f64,
    z: Vec<f64>,
    x: Vec<f64>,
    exp_avg_sq: Vec<f64>,
}

impl ScheduleFreeState {
    fn new(dim: usize, adam: bool) -> Self {
        Self {
            k: 0,
            weight_sum: 0.0,
            lr_max: -1.0,
            z: vec![0.0; dim],
            x: vec![0.0; dim],
            exp_avg_sq: if adam { vec![0.0; dim] } else { Vec::new() },
        }
    }

    /// The warmup factor, then the averaging weight c_{k+1} = w_{k+1}/Σw for step lr `lr`.
    fn averaging_weight(&mut self, lr: f64, r: f64, weight_lr_power: f64) -> f64 {
        self.lr_max = lr.max(self.lr_max);
        let weight = ((self.k + 1) as f64).powf(r) * self.lr_max.powf(weight_lr_power);
        self.weight_sum += weight;
        if self.weight_sum == 0.0 {
            0.0
        } else {
            weight / self.weight_sum
        }
    }

    fn load(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let restored: ScheduleFreeState = from_state(state)?;
        check_len("z", &restored.z, self.z.len())?;
        check_len("x", &restored.x, self.x.len())?;
        check_len("exp_avg_sq", &restored.exp_avg_sq, self.exp_avg_sq.len())?;
        *self = restored;
        Ok(())
    }
}

fn warmup(k: u64, warmup_steps: u64) -> f64 {
    if k < warmup_steps {
        (k + 1) as f64 / warmup_steps as f64
    } else {
        1.0
    }
}

/// Schedule-Free SGD: g ← g + wd·y; z ← z − lr·g; x ← (1−c)·x + c·z; y ← β·x + (1−β)·z,
/// with c = w_{k+1}/Σw and w = (k+1)^r·lr_max^weight_lr_power.
pub struct ScheduleFreeSgd {
    config: ScheduleFreeSgdConfig,
    state: ScheduleFreeState,
}

impl ScheduleFreeSgd {
    /// Creates Schedule-Free SGD for `dim` parameters; z and x start at the first step's y.
    pub fn new(config: ScheduleFreeSgdConfig, dim: usize) -> Self {
        Self {
            config,
            state: ScheduleFreeState::new(dim, false),
        }
    }

    /// The averaged sequence x, the point the method's guarantees are about.
    pub fn average(&self) -> &[f64] {
        &self.state.x
    }
}

impl Optimizer for ScheduleFreeSgd {
    fn step(&mut self, y: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        if s.k == 0 {
            s.z.copy_from_slice(y);
            s.x.copy_from_slice(y);
        }
        let lr = cx.lr * warmup(s.k, c.warmup_steps);
        let ckp1 = s.averaging_weight(lr, c.r, c.weight_lr_power);
        let beta = c.momentum;
        for i in 0..y.len() {
            let mut g = cx.grad[i];
            if c.weight_decay != 0.0 {
                g += c.weight_decay * y[i];
            }
            let z = s.z[i] - lr * g;
            let x = s.x[i] * (1.0 - ckp1) + ckp1 * z;
            s.z[i] = z;
            s.x[i] = x;
            y[i] = x * beta + (1.0 - beta) * z;
        }
        s.k += 1;
        0
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.momentum = momentum;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        self.state.load(state)
    }
}

/// Schedule-Free AdamW: lr_k = lr·warmup·√(1−β2^(k+1)); z ← z − lr_k·wd·y;
/// v ← β2·v + (1−β2)·g²; z ← z − lr_k·g/(√v + eps); x ← (1−c)·x + c·z;
/// y ← β1·x + (1−β1)·z.
pub struct ScheduleFreeAdamw {
    config: ScheduleFreeAdamwConfig,
    state: ScheduleFreeState,
}

impl ScheduleFreeAdamw {
    /// Creates Schedule-Free AdamW for `dim` parameters; z and x start at the first step's y.
    pub fn new(config: ScheduleFreeAdamwConfig, dim: usize) -> Self {
        Self {
            config,
            state: ScheduleFreeState::new(dim, true),
        }
    }

    /// The averaged sequence x, the point the method's guarantees are about.
    pub fn average(&self) -> &[f64] {
        &self.state.x
    }
}

impl Optimizer for ScheduleFreeAdamw {
    fn step(&mut self, y: &mut [f64], cx: StepContext<'_>) -> usize {
        let c = &self.config;
        let s = &mut self.state;
        if s.k == 0 {
            s.z.copy_from_slice(y);
            s.x.copy_from_slice(y);
        }
        let [beta1, beta2] = c.betas;
        let bias_correction2 = 1.0 - beta2.powf((s.k + 1) as f64);
        let lr = cx.lr * warmup(s.k, c.warmup_steps) * bias_correction2.sqrt();
        let ckp1 = s.averaging_weight(lr, c.r, c.weight_lr_power);
        let decay = lr * c.weight_decay;
        for i in 0..y.len() {
            let g = cx.grad[i];
            let mut z = s.z[i];
            if c.weight_decay != 0.0 {
                let at = if c.decay_at_z { z } else { y[i] };
                z -= decay * at;
            }
            let v = s.exp_avg_sq[i] * beta2 + (1.0 - beta2) * g * g;
            s.exp_avg_sq[i] = v;
            z += -lr * g / (v.sqrt() + c.eps);
            let x = s.x[i] * (1.0 - ckp1) + ckp1 * z;
            s.z[i] = z;
            s.x[i] = x;
            y[i] = x * beta1 + (1.0 - beta1) * z;
        }
        s.k += 1;
        0
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.betas[0] = momentum;
    }

    fn state(&self) -> serde_json::Value {
        to_state(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        self.state.load(state)
    }
}
