//! The integration tests of `tests/api`, compiled again to run on PostgreSQL: each test gets
//! a fresh database `saddle_test_<random hex>` on the server of `SADDLE_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`, a user that may CREATE DATABASE),
//! dropped when the test ends. The tests fail, naming the variable, when the server is
//! unreachable.

/// The backend of this target's test databases (see `helpers::TestDatabase`).
pub const BACKEND: saddle::store::Backend = saddle::store::Backend::Postgres;

#[path = "../api/catalogue.rs"]
mod catalogue;
#[path = "../api/continuation.rs"]
mod continuation;
#[path = "../api/cors.rs"]
mod cors;
#[path = "../api/dashboard.rs"]
mod dashboard;
#[path = "../api/datasets.rs"]
mod datasets;
#[path = "../api/diagnosis.rs"]
mod diagnosis;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/events.rs"]
mod events;
#[path = "../api/functions.rs"]
mod functions;
#[path = "../api/fuzz.rs"]
mod fuzz;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/idempotency.rs"]
mod idempotency;
#[path = "../api/jobs.rs"]
mod jobs;
#[path = "../api/leases.rs"]
mod leases;
#[path = "../api/observability.rs"]
mod observability;
#[path = "../api/openapi.rs"]
mod openapi;
#[path = "../api/plots.rs"]
mod plots;
#[path = "../api/recovery.rs"]
mod recovery;
#[path = "../api/reference.rs"]
mod reference;
#[path = "../api/steps.rs"]
mod steps;
#[path = "../api/sweeps.rs"]
mod sweeps;
#[path = "../api/tenants.rs"]
mod tenants;
