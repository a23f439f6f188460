//! `rsched`: the rsched daemon and command-line tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod check;
mod config_file;
mod migrate;
mod next;
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
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
