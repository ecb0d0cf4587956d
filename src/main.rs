//! The saddle binary: parse the configuration, set up logging, serve.

use std::time::Duration;

use clap::Parser;
use saddle::config::{Cli, Command, KeysAction, KeysCommand};
use saddle::store::Store;
use saddle::tenant::{create_api_key, Tenant};

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
            let code = runtime.block_on(serve(*config));
            // Dropping the runtime would wait for every job thread; the shutdown bound is
            // already spent, and such a job resumes from its checkpoint at the next start.
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN_WAIT);
            code
        }
        Command::Openapi => {
            println!("{}", saddle::http::openapi_json());
            std::process::ExitCode::SUCCESS
        }
        Command::Keys(command) => {
            let outcome = tokio::runtime::Runtime::new()
                .map_err(|e| format!("could not start a runtime: {e}"))
                .and_then(|runtime| runtime.block_on(manage_keys(command)));
            match outcome {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("saddle keys: {message}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

/// `saddle keys …`: the new key alone goes to standard output (so `KEY=$(saddle keys create
/// --tenant acme)` works); what is said about it goes to standard error.
async fn manage_keys(command: KeysCommand) -> Result<(), String> {
    let store = Store::connect(&command.database_url)
        .await
        .map_err(|e| format!("could not open {}: {e}", command.database_url))?;
    match command.action {
        KeysAction::Create { tenant } => {
            let tenant = Tenant::parse(&tenant)?;
            let (row, key) = create_api_key(&store, &tenant)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "created key {} for tenant `{}`; it is shown only this once:",
                row.api_key_id, row.tenant
            );
            println!("{key}");
        }
        KeysAction::List => {
            let keys = store.list_api_keys().await.map_err(|e| e.to_string())?;
            println!(
                "{:<36}  {:<24}  {:<10}  {:<27}  revoked_at",
                "id", "tenant", "prefix", "created_at"
            );
            for key in keys {
                println!(
                    "{:<36}  {:<24}  {:<10}  {:<27}  {}",
                    key.api_key_id,
                    key.tenant,
                    key.key_prefix,
                    key.created_at,
                    key.revoked_at.as_deref().unwrap_or("-")
                );
            }
        }
        KeysAction::Revoke { id } => {
            let row = store.revoke_api_key(&id).await.map_err(|e| e.to_string())?;
            eprintln!("revoked key {} of tenant `{}`", row.api_key_id, row.tenant);
        }
    }
    store.close().await;
    Ok(())
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
