//! saddle: optimization as a service.
//!
//! Layers point one way: [`http`] → [`jobs`] → {[`store`], `saddle_numeric`}. The numeric core
//! lives in its own crate and knows nothing of HTTP or SQL; [`plot`] turns numbers into SVG
//! and knows nothing of either. [`tenant`] names the owner of every resource and makes and
//! hashes API keys.

pub mod config;
pub mod error;
pub mod float;
pub mod http;
pub mod jobs;
pub mod plot;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tenant;
