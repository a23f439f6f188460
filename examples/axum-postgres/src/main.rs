//! `cargo run -p axum-postgres`: an axum service whose scheduler keeps its jobs in PostgreSQL.
//! See the README for the environment variables.

use anyhow::Context as _;
use axum_postgres::{App, Settings, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The scheduler logs in APScheduler's words (`Running job "do_job_1" ...`) through tracing.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let settings = Settings::from_env()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let listen = listener.local_addr()?;
    let app = App::build(&settings, listen).await?;
    println!("axum-postgres on http://{listen}/ (heartbeats: /heartbeats, API: /scheduler)");
    app.serve(listener, shutdown_signal()).await
}
