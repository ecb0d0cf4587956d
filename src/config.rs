//! Typed configuration: command-line flags, each with an environment-variable override.

use std::net::SocketAddr;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use saddle_numeric::data::CsvLimits;
use saddle_numeric::expr::ExprLimits;

/// saddle: optimization jobs over HTTP, every step recorded.
#[derive(Debug, Parser)]
#[command(
    name = "saddle",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings of `serve` when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeConfig,
}

impl Cli {
    /// The subcommand, `serve` with the top-level flags when none was given.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(Box::new(self.serve)))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the job workers (the default).
    Serve(Box<ServeConfig>),
    /// Print the OpenAPI document generated from the code.
    Openapi,
    /// Create, list and revoke API keys, in the database directly (the server may be running).
    Keys(KeysCommand),
}

/// `saddle keys`: API keys of tenants.
#[derive(Debug, Args)]
pub struct KeysCommand {
    /// Database URL (as for `serve`).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://saddle.db")]
    pub database_url: String,

    /// What to do with keys.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// The `saddle keys` actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key for a tenant and print it, once, on standard output.
    Create {
        /// The tenant the key acts for (1 to 64 ASCII letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        tenant: String,
    },
    /// List every key (without secrets).
    List,
    /// Revoke a key: requests with it are refused from then on.
    Revoke {
        /// The key's id, as `keys create` or `keys list` show it.
        id: String,
    },
}

/// Whether requests need an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Every `/v1/` request needs a tenant's key.
    On,
    /// No keys: every request acts for the tenant `default`.
    Off,
    /// Off when listening on a loopback address, on otherwise.
    Auto,
}

/// Settings of `saddle serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SADDLE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database URL; a SQLite file is created and migrated at start.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://saddle.db")]
    pub database_url: String,

    /// Jobs run at the same time (default: the number of CPU cores).
    #[arg(long, env = "SADDLE_WORKERS")]
    pub workers: Option<usize>,

    /// Threads one job may use: a model on a batch of 2 048 rows or more is evaluated in
    /// shards of rows on up to this many threads. Results do not depend on it. Raise it when
    /// fewer jobs than cores run at a time (workers × threads ≤ cores).
    #[arg(long, env = "SADDLE_THREADS_PER_JOB", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256).map(usize::from))]
    pub threads_per_job: usize,

    /// The largest `stop.max_steps` a job may ask for.
    #[arg(long, env = "SADDLE_MAX_STEPS_LIMIT", default_value_t = 10_000_000)]
    pub max_steps_limit: u64,

    /// The largest number of parameters a job may have.
    #[arg(long, env = "SADDLE_MAX_PARAMS", default_value_t = 10_000_000)]
    pub max_params: usize,

    /// The largest request body, in bytes.
    #[arg(long, env = "SADDLE_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// The most data rows a dataset may have (uploads answer 413 above it).
    #[arg(long, env = "SADDLE_MAX_DATASET_ROWS", default_value_t = 1_000_000)]
    pub max_dataset_rows: usize,

    /// The most columns (features and targets) a dataset may have.
    #[arg(long, env = "SADDLE_MAX_DATASET_COLUMNS", default_value_t = 1_000)]
    pub max_dataset_columns: usize,

    /// The largest CSV upload, in bytes (JSON uploads are bounded by --max-body-bytes).
    #[arg(long, env = "SADDLE_MAX_DATASET_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_dataset_bytes: u64,

    /// The longest expression (problem kind `expression`), in bytes.
    #[arg(long, env = "SADDLE_MAX_EXPRESSION_BYTES", default_value_t = 100_000)]
    pub max_expression_bytes: usize,

    /// The deepest nesting of parentheses, calls and unary operators in an expression
    /// (at most 4096: each level costs parser stack).
    #[arg(long, env = "SADDLE_MAX_EXPRESSION_DEPTH", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=4096).map(usize::from))]
    pub max_expression_depth: usize,

    /// The most instructions a compiled expression may have after unrolling `sum`/`prod`.
    #[arg(long, env = "SADDLE_MAX_TAPE", default_value_t = 1_000_000)]
    pub max_tape: usize,

    /// Seconds to wait, on SIGTERM/SIGINT, for requests to finish and running jobs to store
    /// their checkpoints before the process exits.
    #[arg(long, env = "SADDLE_SHUTDOWN_SECONDS", default_value_t = 10)]
    pub shutdown_seconds: u64,

    /// Seconds between the checkpoints a running job stores to resume from after a crash
    /// (0: none; a job interrupted by a crash then starts again from its beginning).
    #[arg(long, env = "SADDLE_CHECKPOINT_SECONDS", default_value_t = 5.0, value_parser = parse_non_negative)]
    pub checkpoint_seconds: f64,

    /// Origins whose browser pages may call the API (CORS), comma-separated, each
    /// `scheme://host[:port]` as browsers send it, or `*` for any (default: none, so only
    /// pages served by saddle itself can).
    #[arg(long, env = "SADDLE_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    // -- tenants, API keys and quotas --
    /// Whether `/v1/` requests need an API key (`Authorization: Bearer <key>`): `auto` is off
    /// on a loopback address and on for any other.
    #[arg(long, env = "SADDLE_AUTH", value_enum, default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,

    /// The token of the admin API (`/v1/admin/keys`); without it the admin API is off.
    #[arg(long, env = "SADDLE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The most queued and running jobs one tenant may have (submissions above it answer 429).
    #[arg(
        long,
        env = "SADDLE_MAX_ACTIVE_JOBS_PER_TENANT",
        default_value_t = 1000
    )]
    pub max_active_jobs_per_tenant: u64,

    // Request limits (issue 8, hardening).
    /// Requests per second each client may make (keyed by its bearer token, else its IP
    /// address); 0 turns the limit off. /healthz and /metrics are exempt.
    #[arg(long, env = "SADDLE_RATE_LIMIT_RPS", default_value_t = 100.0, value_parser = parse_non_negative)]
    pub rate_limit_rps: f64,

    /// The most requests a client may make at once after an idle spell (the token bucket's size).
    #[arg(long, env = "SADDLE_RATE_LIMIT_BURST", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// The largest `stop.max_seconds` a job may ask for (wall-clock seconds).
    #[arg(long, env = "SADDLE_MAX_SECONDS_LIMIT", default_value_t = 86_400.0, value_parser = parse_non_negative)]
    pub max_seconds_limit: f64,

    // -- running many processes on one PostgreSQL database --
    /// What this process does: `all` serves the API and runs jobs, `api` only serves the API
    /// (jobs are left to workers), `worker` only runs jobs (and answers /healthz and /metrics).
    #[arg(long, env = "SADDLE_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,

    /// Database connections this process keeps at most (default: 8 on SQLite, 16 on
    /// PostgreSQL).
    #[arg(long, env = "SADDLE_DB_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: Option<u32>,

    /// How long a worker's claim on a running job lasts without a heartbeat, in seconds; a job
    /// whose worker died is resumed elsewhere from its last checkpoint after this long.
    #[arg(long, env = "SADDLE_LEASE_SECONDS", default_value_t = 15.0, value_parser = parse_positive)]
    pub lease_seconds: f64,

    /// How often a worker renews the leases of its running jobs and picks up cancels made
    /// through other processes, in seconds (well under the lease).
    #[arg(long, env = "SADDLE_HEARTBEAT_SECONDS", default_value_t = 1.0, value_parser = parse_positive)]
    pub heartbeat_seconds: f64,
}

/// What a `saddle serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Serve the API and run jobs: the single-process default.
    All,
    /// Serve the API only; workers elsewhere run the jobs.
    Api,
    /// Run jobs only (and answer /healthz and /metrics).
    Worker,
}

/// Accepts a finite number > 0 (seconds).
fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a finite number > 0, got `{s}`")),
    }
}

/// Accepts a finite, non-negative number (seconds, requests per second).
fn parse_non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a finite number ≥ 0, got `{s}`")),
    }
}

/// Accepts `*` or an origin as a browser sends it in `Origin`: `scheme://host[:port]`, with
/// no path, query or trailing slash (which would never match and silently allow nothing).
fn parse_origin(s: &str) -> Result<String, String> {
    let origin = s.trim();
    if origin == "*" {
        return Ok(origin.to_string());
    }
    let fail = || format!("expected `*` or an origin like `https://example.com:8443`, got `{s}`");
    let (scheme, rest) = origin.split_once("://").ok_or_else(fail)?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let host_ok = !rest.is_empty()
        && !rest.contains(['/', '?', '#', '*'])
        && rest.chars().all(|c| c.is_ascii_graphic());
    if scheme_ok && host_ok {
        Ok(origin.to_string())
    } else {
        Err(fail())
    }
}

impl ServeConfig {
    /// The per-client rate limit, `None` when it is off.
    pub fn rate_limit(&self) -> Option<crate::http::RateLimit> {
        (self.rate_limit_rps > 0.0).then_some(crate::http::RateLimit {
            per_second: self.rate_limit_rps,
            burst: self.rate_limit_burst,
        })
    }

    /// The dataset limits, as the CSV reader takes them.
    pub fn dataset_limits(&self) -> CsvLimits {
        CsvLimits {
            max_rows: self.max_dataset_rows,
            max_columns: self.max_dataset_columns,
            max_bytes: self.max_dataset_bytes,
        }
    }

    /// The expression limits, as the parser and compiler take them.
    pub fn expression_limits(&self) -> ExprLimits {
        ExprLimits {
            max_length: self.max_expression_bytes,
            max_depth: self.max_expression_depth,
            max_tape: self.max_tape,
        }
    }

    /// The interval between a running job's checkpoints, `None` when they are off.
    pub fn checkpoint_every(&self) -> Option<Duration> {
        (self.checkpoint_seconds > 0.0).then(|| Duration::from_secs_f64(self.checkpoint_seconds))
    }

    /// Whether requests need an API key, with `auto` resolved against the listen address.
    pub fn keys_required(&self) -> bool {
        match self.auth {
            AuthMode::On => true,
            AuthMode::Off => false,
            AuthMode::Auto => !self.listen.ip().is_loopback(),
        }
    }

    /// The worker count, defaulting to the number of cores; 0 for an API-only process.
    pub fn worker_count(&self) -> usize {
        if self.role == Role::Api {
            return 0;
        }
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }

    /// How the database is opened.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            max_connections: self.db_max_connections,
        }
    }

    /// How workers hold their jobs.
    pub fn lease(&self) -> crate::jobs::Lease {
        crate::jobs::Lease {
            duration: Duration::from_secs_f64(self.lease_seconds),
            heartbeat: Duration::from_secs_f64(
                self.heartbeat_seconds.min(self.lease_seconds / 2.0),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_checked_for_the_shape_browsers_send() {
        assert_eq!(parse_origin("*").unwrap(), "*");
        assert_eq!(
            parse_origin(" https://a.example:8443 ").unwrap(),
            "https://a.example:8443"
        );
        assert!(parse_origin("http://localhost:3000").is_ok());
        for bad in [
            "",
            "example.com",
            "https://a.example/",
            "https://a.example/x",
            "://x",
            "https://",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad} was accepted");
        }
    }
}
