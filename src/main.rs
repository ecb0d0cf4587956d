//! The saddle binary: parse the configuration, set up logging, serve.

use std::time::Duration;

use clap::Parser;
use saddle::config::{Cli, Command};

/// How long the exit waits for job threads still running after the shutdown bound.
const RUNTIME_SHUTDOWN_WAIT: Duration = Duration::from_millis(200);

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.into_command() {
        Command::Serve(config) => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("saddle could not start its runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let code = runtime.block_on(serve(config));
            // Dropping the runtime would wait for every job thread; the shutdown bound is
            // already spent, and such a job resumes from its checkpoint at the next start.
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN_WAIT);
            code
        }
        Command::Openapi => {
            println!("{}", saddle::http::openapi_json());
            std::process::ExitCode::SUCCESS
        }
    }
}

async fn serve(config: saddle::config::ServeConfig) -> std::process::ExitCode {
    saddle::telemetry::init();
    let app = match saddle::startup::Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "saddle could not start");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = app.run_until_stopped().await {
        tracing::error!(error = %e, "saddle stopped with an error");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
