//! `rsched migrate`: applies the embedded schema migrations of a SQL job store.

use std::process::ExitCode;

use clap::Args;
use rsched::sql::{SqlJobStore, SqlOptions};

/// Arguments of `rsched migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store's URL: `sqlite://rsched.db`, `postgres://…`, `mysql://…`.
    #[arg(long)]
    url: String,

    /// The store's table prefix.
    #[arg(long, default_value = rsched::sql::DEFAULT_TABLE_PREFIX)]
    prefix: String,
}

/// Runs `rsched migrate`: exit 0 with the schema version reached, 2 on bad arguments, 1 when
/// the database refuses.
pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    crate::init_tracing();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let options = SqlOptions {
            table_prefix: args.prefix.clone(),
            migrate: true,
            ..SqlOptions::default()
        };
        match SqlJobStore::open(&args.url, options).await {
            Ok(store) => {
                let version = store.schema_version().await?;
                crate::write_stdout(&format!(
                    "{}: tables {}* at schema version {version}\n",
                    rsched::config::redact_url(&args.url),
                    args.prefix
                ))?;
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) if e.kind() == rsched::ErrorKind::InvalidInput => {
                eprintln!("rsched migrate: {e}");
                Ok(ExitCode::from(2))
            }
            Err(e) => {
                eprintln!(
                    "rsched migrate: {}: {e}",
                    rsched::config::redact_url(&args.url)
                );
                Ok(ExitCode::from(1))
            }
        }
    })
}
