//! saddle: optimization as a service.
//!
//! Layers point one way: [`http`] → [`jobs`] → {[`store`], `saddle_numeric`}. The numeric core
//! lives in its own crate and knows nothing of HTTP or SQL.

pub mod config;
pub mod error;
pub mod float;
pub mod http;
pub mod jobs;
pub mod startup;
pub mod store;
pub mod telemetry;
