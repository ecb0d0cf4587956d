//! Integration tests: the real server on a random port with a temporary database, over HTTP.
//!
//! This target runs them on SQLite; `tests/api_postgres` compiles the same files and runs
//! them on PostgreSQL.

/// The backend of this target's test databases (see `helpers::TestDatabase`).
pub const BACKEND: saddle::store::Backend = saddle::store::Backend::Sqlite;

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
mod leases;
mod observability;
mod openapi;
mod plots;
mod recovery;
mod reference;
mod steps;
mod sweeps;
mod tenants;
