//! The saddle binary: parse the configuration, set up logging, serve.

use clap::Parser;
use saddle::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.into_command() {
        Command::Serve(config) => {
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
        Command::Openapi => {
            println!("{}", saddle::http::openapi_json());
            std::process::ExitCode::SUCCESS
        }
    }
}
