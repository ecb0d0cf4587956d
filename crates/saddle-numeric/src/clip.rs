//! Gradient clipping, applied to the raw gradient before the optimizer step.

use serde::{Deserialize, Serialize};

use crate::error::{check_min, InvalidConfig};
use crate::vecmath::norm2;

/// How to clip: by global norm (`torch.nn.utils.clip_grad_norm_`) or element-wise by value
/// (`clip_grad_value_`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"max_norm": 1.0})))]
#[serde(untagged)]
pub enum ClipConfig {
    /// Scale g by min(max_norm / (‖g‖₂ + 1e-6), 1), as `clip_grad_norm_`.
    Norm {
        /// The largest allowed ‖g‖₂.
        max_norm: f64,
    },
    /// Clamp each component of g to [−max_value, max_value], as `clip_grad_value_`.
    Value {
        /// The largest allowed |gᵢ|.
        max_value: f64,
    },
}

impl ClipConfig {
    /// Rejects non-positive or non-finite thresholds.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        match *self {
            ClipConfig::Norm { max_norm } => check_min("clip.max_norm", max_norm, 0.0),
            ClipConfig::Value { max_value } => check_min("clip.max_value", max_value, 0.0),
        }
    }

    /// Clips `g` in place and returns the norm scale applied (1 for value clipping).
    pub fn apply(&self, g: &mut [f64]) -> f64 {
        match *self {
            ClipConfig::Norm { max_norm } => {
                let scale = (max_norm / (norm2(g) + 1e-6)).min(1.0);
                // torch multiplies by the clamped coefficient unconditionally.
                for v in g.iter_mut() {
                    *v *= scale;
                }
                scale
            }
            ClipConfig::Value { max_value } => {
                for v in g.iter_mut() {
                    *v = v.clamp(-max_value, max_value);
                }
                1.0
            }
        }
    }
}
