//! `rsched run`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config_file;

/// Arguments of `rsched run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (default: ./rsched.toml if present, else no jobs).
    #[arg(long, short)]
    config: Option<PathBuf>,
}

/// Runs the daemon until SIGINT/SIGTERM; a second signal stops at once.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    crate::init_tracing();
    let (config, file) = match config_file::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("rsched: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    match &file {
        Some(file) => tracing::info!("Configuration: {}", file.display()),
        None => tracing::info!(
            "No {} here and no --config: starting with no jobs",
            config_file::DEFAULT_CONFIG
        ),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let scheduler = match config.build_scheduler(rsched::registry_with_builtins()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rsched: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        if config.api.enabled {
            tracing::warn!("[api] enabled = true, but this build has no HTTP API yet; ignoring it");
        }
        scheduler.start().await?;
        let first = shutdown_signal().await;
        tracing::info!("Received {first}: shutting down after running jobs finish (send it again to stop at once)");
        tokio::select! {
            result = scheduler.shutdown(true) => result?,
            second = shutdown_signal() => {
                tracing::warn!("Received {second} again: stopping at once");
                return Ok(ExitCode::from(130));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits for SIGINT or SIGTERM; returns its name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
