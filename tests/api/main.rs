//! Integration tests: the real server on a random port with a temporary database, over HTTP.

mod datasets;
mod errors;
mod helpers;
mod jobs;
mod openapi;
mod reference;
mod steps;
