//! Integration tests: the real server on a random port with a temporary database, over HTTP.

mod catalogue;
mod continuation;
mod cors;
mod dashboard;
mod datasets;
mod diagnosis;
mod errors;
mod events;
mod functions;
mod fuzz;
mod helpers;
mod idempotency;
mod jobs;
mod observability;
mod openapi;
mod plots;
mod recovery;
mod reference;
mod steps;
mod sweeps;
mod tenants;
