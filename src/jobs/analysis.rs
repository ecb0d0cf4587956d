//! What a finished run ended in: the landscape at its final point (minimum, saddle with its
//! escape direction, maximum, plateau), a convexity verdict, and the distance to the nearest
//! known minimum.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use saddle_numeric::data::Dataset;
use saddle_numeric::diagnosis::{
    convexity_of, diagnose, ConvexityOptions, ConvexityReport, Diagnosis, DiagnosisOptions,
    SampleRegion,
};
use saddle_numeric::functions::nearest_minimum;
use saddle_numeric::problem::{Initial, ProblemConfig};
use saddle_numeric::{Objective, RunOutcome, StopReason};

use crate::float::{floats, Float};

/// The known global minimum nearest to the final point (builtin functions and quadratics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"x_star": [1.0, 1.0], "f_star": 0.0, "distance": 2.3e-6, "gap": 5.1e-12}))]
pub struct KnownMinimumReport {
    /// The minimizer x*.
    pub x_star: Vec<Float>,
    /// f(x*).
    pub f_star: Float,
    /// ‖x_final − x*‖₂.
    pub distance: Float,
    /// f(x_final) − f*.
    pub gap: Float,
}

/// The analysis of a run's end point.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The landscape at the final point.
    pub diagnosis: Option<Diagnosis>,
    /// Convex, nonconvex (with a witness) or unknown.
    pub convexity: Option<ConvexityReport>,
    /// Distance and gap to the nearest known minimum.
    pub known_minimum: Option<KnownMinimumReport>,
}

/// Analyses the end of a run. `objective` is the run's own; mini-batch model problems are
/// rebuilt full-batch (from `dataset` for stored data) so the verdict is about the whole
/// training loss, not the last batch. Failures leave the part out and are logged.
pub fn analyse(
    problem: &ProblemConfig,
    x0: &[f64],
    outcome: &RunOutcome,
    objective: &mut dyn Objective,
    dataset: Option<Dataset>,
) -> Analysis {
    let x = &outcome.final_params;
    if outcome.stop_reason == StopReason::Diverged || !x.iter().all(|v| v.is_finite()) {
        return Analysis {
            diagnosis: None,
            convexity: None,
            known_minimum: None,
        };
    }
    let mut full_batch = full_batch_objective(problem, x, dataset);
    let objective: &mut dyn Objective = match full_batch.as_mut() {
        Some(full) => full.as_mut(),
        None => objective,
    };
    let diagnosis = diagnose(objective, x, &DiagnosisOptions::default())
        .map_err(|e| tracing::warn!(error = ?e, "no diagnosis"))
        .ok();
    let convexity = convexity_of(
        problem,
        objective,
        &ConvexityOptions::new(SampleRegion::around_run(x0, x)),
    )
    .map_err(|e| tracing::warn!(error = %e, "no convexity verdict"))
    .ok();
    let known_minimum = match problem {
        ProblemConfig::Builtin(b) => nearest_minimum(b, x).map(|m| KnownMinimumReport {
            x_star: floats(&m.x_star),
            f_star: Float(m.f_star),
            distance: Float(m.distance),
            gap: Float(outcome.final_loss - m.f_star),
        }),
        _ => None,
    };
    Analysis {
        diagnosis,
        convexity,
        known_minimum,
    }
}

/// A mini-batch model problem rebuilt over its whole training set.
fn full_batch_objective(
    problem: &ProblemConfig,
    x: &[f64],
    dataset: Option<Dataset>,
) -> Option<Box<dyn Objective>> {
    let ProblemConfig::Model(model) = problem else {
        return None;
    };
    model.batch_size?;
    let mut whole = model.clone();
    whole.batch_size = None;
    let dataset = std::cell::RefCell::new(dataset);
    ProblemConfig::Model(whole)
        .build_with(&Initial::Vector(x.to_vec()), &|_| {
            dataset.borrow_mut().take()
        })
        .map(|(objective, _)| objective)
        .map_err(|e| tracing::warn!(error = %e, "no full-batch objective for the diagnosis"))
        .ok()
}
