//! `rsched check`: validate a configuration and show each job's next fire times.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::Args;
use rsched::{BuiltinTrigger, TimeZone, isoformat};

use crate::config_file;

/// Arguments of `rsched check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file (default: ./rsched.toml).
    #[arg(long, short)]
    config: Option<PathBuf>,
}

/// Prints each job with its trigger and next 3 fire times; exits 2 on an invalid configuration.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (config, file) = match config_file::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("rsched: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let registry = rsched::registry_with_builtins();
    let checked = (|| {
        let zone = config.timezone()?.unwrap_or_else(TimeZone::system);
        let calendars = config.exclusion_calendars()?;
        let specs = config.job_specs(&registry)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| config.error("", e))?;
        runtime.block_on(config.scheduler_builder(registry.clone()))?;
        if config.api.enabled {
            // The exposure rule and the shape of [api.auth]; the secrets themselves are read
            // only by `rsched run`.
            config.api_options(None, |_| Some("not read by rsched check".to_owned()))?;
        }
        Ok::<_, rsched::ConfigError>((zone, specs, calendars))
    })();
    let (zone, specs, calendars) = match checked {
        Ok((zone, specs, calendars)) => (
            zone,
            specs,
            rsched::Calendars::new(
                calendars
                    .into_iter()
                    .map(|(name, c)| (name, std::sync::Arc::new(c)))
                    .collect(),
            ),
        ),
        Err(e) => {
            eprintln!("rsched: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let source = file.map_or_else(
        || "(no configuration file)".to_owned(),
        |f| f.display().to_string(),
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{source}: OK, {} job(s), time zone {zone}",
        specs.len()
    );
    let now = Utc::now();
    for spec in specs {
        let mut trigger = spec.trigger.unwrap_or_else(|| {
            BuiltinTrigger::from_json(r#"{"type":"date"}"#).unwrap_or_else(|_| unreachable!())
        });
        trigger.set_default_timezone(&zone);
        trigger.anchor(now);
        let names: Vec<std::sync::Arc<str>> = spec
            .calendars
            .iter()
            .map(|n| std::sync::Arc::from(n.as_str()))
            .collect();
        let fires: Vec<String> =
            rsched::calendar::allowed_fire_times(&trigger, &names, &calendars, now)
                .take(3)
                .map(|f| isoformat(&trigger.localize(f)))
                .collect();
        let _ = writeln!(out);
        let _ = writeln!(out, "{}  ({})", spec.id.unwrap_or_default(), spec.func);
        let _ = writeln!(out, "  trigger: {trigger}");
        if fires.is_empty() {
            let _ = writeln!(out, "  next:    (never: the trigger has no fire time left)");
        } else {
            let _ = writeln!(out, "  next:    {}", fires.join(", "));
        }
    }
    crate::write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
