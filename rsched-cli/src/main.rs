//! `rsched`: the rsched daemon and command-line tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod next;

/// rsched: APScheduler-style job scheduling for Rust services.
#[derive(Debug, Parser)]
#[command(name = "rsched", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a trigger's next fire times.
    Next(next::NextArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Next(args) => next::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rsched: {err:#}");
            ExitCode::from(1)
        }
    }
}
