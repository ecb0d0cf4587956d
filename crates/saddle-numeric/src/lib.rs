//! saddle's numeric core: objectives, optimizers that follow `torch.optim` step for step,
//! learning-rate schedules, gradient clipping and the executor that owns the optimization loop;
//! datasets ([`data`]) and the models fitted to them ([`model`]); and the diagnosis of where a
//! run ended ([`diagnosis`]: minimum, saddle, plateau; episodes; convexity).
//!
//! Pure, synchronous and deterministic: nothing here knows about HTTP, SQL or async runtimes,
//! so the same code serves the job runner, the benchmarks and anyone embedding the crate.

pub mod builtin;
pub mod catalogue;
pub mod clip;
pub mod data;
pub mod diagnosis;
pub mod error;
pub mod executor;
pub mod expr;
pub mod functions;
pub mod model;
pub mod optim;
pub mod problem;
pub mod schedule;
mod simd;
pub mod vecmath;

pub use catalogue::{CatalogueEntry, Hyperparameter};
pub use error::InvalidConfig;
pub use executor::{Executor, RunOutcome, StepRecord, StopReason, StopRule};
pub use optim::{Optimizer, OptimizerConfig};
pub use problem::Objective;
pub use schedule::{Schedule, ScheduleConfig};
