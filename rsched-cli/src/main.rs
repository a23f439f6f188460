//! `rsched`: the rsched daemon and command-line tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod check;
mod config_file;
mod migrate;
mod next;
#[cfg(feature = "otel")]
mod otel;
mod run;

/// rsched: APScheduler-style job scheduling for Rust services.
#[derive(Debug, Parser)]
#[command(name = "rsched", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the scheduler daemon with the jobs of a configuration file.
    Run(run::RunArgs),
    /// Validate a configuration file and print each job's next fire times.
    Check(check::CheckArgs),
    /// Print a trigger's next fire times.
    Next(next::NextArgs),
    /// Load-test a store: jobs due at once, or interval jobs for a while.
    Bench(bench::BenchArgs),
    /// Apply the schema migrations of a SQL job store.
    Migrate(migrate::MigrateArgs),
}

/// Logs to stderr through `tracing`, filtered by `RUST_LOG` (default `info`).
pub(crate) fn init_tracing() {
    let _ = init_tracing_with(&rsched::config::TelemetryConfig::default());
}

/// What [`init_tracing_with`] set up that must be shut down at exit (the OTLP exporter's last
/// batch).
pub(crate) struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered.
    pub(crate) fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                tracing::warn!("Could not send the last traces: {e}");
            }
        }
    }
}

/// [`init_tracing`], plus the OTLP export of `[telemetry]` (the `otel` feature).
///
/// # Errors
/// `[telemetry] otlp_endpoint` set in a build without the `otel` feature, or an endpoint the
/// exporter refuses.
pub(crate) fn init_tracing_with(
    telemetry: &rsched::config::TelemetryConfig,
) -> anyhow::Result<Telemetry> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let endpoint = telemetry
        .otlp_endpoint
        .clone()
        .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok())
        .filter(|e| !e.is_empty());
    #[cfg(feature = "otel")]
    {
        let provider = match &endpoint {
            Some(endpoint) => Some(otel::provider(
                endpoint,
                telemetry.service_name.as_deref().unwrap_or("rsched"),
            )?),
            None => None,
        };
        let otel = provider.as_ref().map(otel::layer);
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .with(otel)
            .try_init();
        Ok(Telemetry { provider })
    }
    #[cfg(not(feature = "otel"))]
    {
        if telemetry.otlp_endpoint.is_some() {
            anyhow::bail!(
                "telemetry.otlp_endpoint: this rsched was built without the `otel` feature (cargo install rsched-cli --features otel)"
            );
        }
        let _ = endpoint;
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init();
        Ok(Telemetry {})
    }
}

/// Writes `text` to stdout; a closed pipe (`rsched check | head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    // A process-pool worker: the same binary, serving the same tasks on stdin/stdout.
    // The bench's no-op tasks are there for `rsched bench --executor processpool`.
    rsched::process::run_worker_if_requested(|| {
        let mut registry = rsched::registry_with_builtins();
        bench::executor::register_tasks(&mut registry);
        registry
    });
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::run(args),
        Command::Next(args) => next::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Migrate(args) => migrate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rsched: {err:#}");
            ExitCode::from(1)
        }
    }
}
