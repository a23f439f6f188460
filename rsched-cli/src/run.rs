//! `rsched run`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use rsched::http::ApiOptions;

use crate::config_file;

/// Arguments of `rsched run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (default: ./rsched.toml if present, else no jobs).
    #[arg(long, short)]
    config: Option<PathBuf>,

    /// Do not apply schema migrations to SQL job stores (fail instead if they are needed).
    #[arg(long)]
    no_migrate: bool,
}

/// The daemon's embedded default store: `rsched.db` (SQLite) next to the configuration file,
/// or in the working directory without one.
fn default_store_url(file: Option<&std::path::Path>) -> String {
    let dir = file
        .and_then(std::path::Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    format!("sqlite://{}", dir.join("rsched.db").display())
}

/// Runs the daemon until SIGINT/SIGTERM; a second signal stops at once.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (mut config, file) = match config_file::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            crate::init_tracing();
            eprintln!("rsched: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let telemetry = match crate::init_tracing_with(&config.telemetry) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            crate::init_tracing();
            eprintln!("rsched: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let code = serve(args, &mut config, file.as_deref());
    telemetry.shutdown();
    code
}

/// The daemon itself, once its log and traces go where the configuration says.
fn serve(
    args: RunArgs,
    config: &mut rsched::Config,
    file: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    match &file {
        Some(file) => tracing::info!("Configuration: {}", file.display()),
        None => tracing::info!(
            "No {} here and no --config: starting with no jobs",
            config_file::DEFAULT_CONFIG
        ),
    }
    if !config.jobstores.contains_key("default") {
        let url = default_store_url(file);
        tracing::info!("Job store: {url} (the default; set [jobstores.default] url to change it)");
        config.jobstores.insert(
            "default".to_owned(),
            rsched::config::JobStoreConfig {
                url,
                prefix: None,
                collection: None,
                migrate: true,
            },
        );
    }
    if args.no_migrate {
        for store in config.jobstores.values_mut() {
            store.migrate = false;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut signals = ShutdownSignals::listen();
        // The listener and the API's options first: a configuration that would expose the API
        // exits before any job runs.
        let api = if config.api.enabled {
            let listener = tokio::net::TcpListener::bind(&config.api.listen)
                .await
                .with_context(|| format!("api.listen: cannot listen on {}", config.api.listen))?;
            let options =
                match config.api_options(Some(listener.local_addr()?), |name| std::env::var(name).ok()) {
                    Ok(options) => options,
                    Err(e) => {
                        eprintln!("rsched: {e}");
                        return Ok(ExitCode::from(2));
                    }
                };
            Some((listener, options))
        } else {
            None
        };
        if api.is_some() {
            // Before the scheduler starts, so `/metrics` counts its first runs.
            rsched::http::install_metrics_recorder();
        }
        let scheduler = match config.build_scheduler(rsched::registry_with_builtins()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rsched: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        let allowed_hosts = ApiOptions {
            allowed_hosts: config.api.allowed_hosts.clone(),
            ..ApiOptions::default()
        };
        if allowed_hosts.may_start() {
            scheduler.start().await?;
        } else {
            tracing::warn!(
                "Host name {} is not allowed to start the scheduler (allowed_hosts: {}): jobs will not run here",
                allowed_hosts.host_name,
                allowed_hosts.allowed_hosts.join(", ")
            );
        }
        if let Some((listener, options)) = api {
            let prefix = config.api.prefix.trim_end_matches('/').to_owned();
            // `api_options` validated the options: this is the API itself, not its 503 stand-in.
            let api = rsched::http::router(scheduler.clone(), options);
            // `/` leads to the dashboard (with no prefix, `/` is the API's info route).
            let app = if prefix.is_empty() {
                api
            } else {
                let ui = format!("{prefix}/ui");
                let root = axum::routing::get(move || async move {
                    axum::response::Redirect::temporary(&ui)
                });
                axum::Router::new().nest(&prefix, api).route("/", root)
            };
            tracing::info!("API on http://{}{prefix}", listener.local_addr()?);
            tokio::spawn(async move {
                // Client addresses, so failed sign-ins are throttled per address.
                let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
                if let Err(e) = axum::serve(listener, service).await {
                    tracing::error!("the API server stopped: {e}");
                }
            });
        }
        let first = signals.recv().await;
        tracing::info!("Received {first}: shutting down after running jobs finish (send it again to stop at once)");
        tokio::select! {
            result = scheduler.shutdown(true) => result?,
            second = signals.recv() => {
                tracing::warn!("Received {second} again: stopping at once");
                return Ok(ExitCode::from(130));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGINT and SIGTERM, listened for from the moment this is made: a signal that arrives while
/// the daemon starts up is not lost (nor does it kill the process before the jobs are shut down).
struct ShutdownSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    /// Must run inside the tokio runtime.
    fn listen() -> ShutdownSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            ShutdownSignals {
                streams: signal(SignalKind::interrupt())
                    .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        {
            ShutdownSignals {}
        }
    }

    /// Waits for the next SIGINT or SIGTERM; returns its name.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.streams {
            return tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
