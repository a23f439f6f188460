//! `rsched next`: a trigger's next fire times, one per line, or a batch of JSON requests.
//!
//! ```text
//! rsched next --trigger '{"type":"cron","hour":"9-17","minute":"*/5"}' --after 2026-03-08T00:00:00Z --count 3
//! rsched next --batch < requests.jsonl
//! rsched next --explain --trigger '{"type":"quartz","expr":"0 0 9 ? * MON-FRI"}'
//! ```
//!
//! Fire times are RFC 3339 with the trigger zone's real offset, as Python's `isoformat()`
//! writes them (`2026-03-08T09:00:00-05:00`). An invalid trigger is reported on stderr with
//! exit status 2.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Args;
use rsched::{BuiltinTrigger, TimeZone, isoformat};
use serde_json::{Value, json};

/// Arguments of `rsched next`.
#[derive(Debug, Args)]
pub struct NextArgs {
    /// The trigger as JSON, APScheduler's keyword arguments plus "type"
    /// (e.g. '{"type":"cron","day_of_week":"mon-fri","hour":9}').
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    trigger: Option<String>,

    /// Compute fire times at or after this instant (RFC 3339, e.g. 2026-03-08T00:00:00Z);
    /// defaults to now.
    #[arg(long, value_parser = parse_instant, conflicts_with = "batch")]
    after: Option<DateTime<Utc>>,

    /// Print only fire times before this instant (RFC 3339, exclusive): the fire times a
    /// backfill of [--after, --until) would run.
    #[arg(long, value_parser = parse_instant, conflicts_with = "batch")]
    until: Option<DateTime<Utc>>,

    /// How many fire times to print (default 10; with --until, up to the backfill limit of
    /// 10,000).
    #[arg(long, conflicts_with = "batch")]
    count: Option<usize>,

    /// Skip the periods of an exclusion calendar defined in a configuration file, as
    /// FILE:NAME (the table [calendars.NAME] of FILE); may be repeated.
    #[arg(long = "calendar", value_name = "FILE:NAME", conflicts_with = "batch")]
    calendars: Vec<String>,

    /// Read JSON lines {"id", "trigger", "after", "count"} on stdin and write one JSON line per
    /// request: {"id", "fires": [...]} or {"id", "error": "..."}.
    #[arg(long)]
    batch: bool,

    /// Zone for triggers that name none (default: the machine's local zone, like APScheduler).
    #[arg(long, value_parser = parse_zone)]
    timezone: Option<TimeZone>,

    /// First print the schedule in one line of words ("at second 0 of every 5th minute,
    /// Monday to Friday, in Asia/Shanghai"), for crontab, quartz, interval and date triggers.
    #[arg(long, conflicts_with = "batch")]
    explain: bool,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            format!("expected an RFC 3339 timestamp such as 2026-03-08T02:30:00-05:00 ({e})")
        })
}

fn parse_zone(s: &str) -> Result<TimeZone, String> {
    TimeZone::get(s).map_err(|e| e.to_string())
}

/// Runs `rsched next`.
pub fn run(args: NextArgs) -> anyhow::Result<ExitCode> {
    let zone = args.timezone.unwrap_or_else(TimeZone::system);
    if args.batch {
        return batch(&zone);
    }
    let text = args.trigger.unwrap_or_default();
    let trigger = match parse_trigger(&text, &zone) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rsched next: invalid trigger: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let calendars = match load_calendars(&args.calendars) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsched next: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let names: Vec<std::sync::Arc<str>> =
        calendars.iter().map(|(n, _)| n.as_str().into()).collect();
    let after = args.after.unwrap_or_else(Utc::now);
    if let Some(until) = args.until.filter(|u| *u <= after) {
        eprintln!("rsched next: --until ({until}) must be after --after ({after})");
        return Ok(ExitCode::from(2));
    }
    let count = args.count.unwrap_or(if args.until.is_some() {
        rsched::scheduler::backfill::MAX_BACKFILL
    } else {
        10
    });
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.explain {
        match trigger.describe() {
            Some(words) => writeln!(out, "{words}")?,
            None => writeln!(out, "{trigger}")?,
        }
    }
    let fires: Vec<_> = rsched::calendar::allowed_fire_times(&trigger, &names, &calendars, after)
        .take_while(|f| args.until.is_none_or(|u| *f < u))
        .take(count.saturating_add(usize::from(args.until.is_some() && args.count.is_none())))
        .collect();
    if args.until.is_some() && args.count.is_none() && fires.len() > count {
        eprintln!(
            "rsched next: more than {count} fire times in [--after, --until): a backfill of this range would be refused (at most {count}); narrow the range, or give --count to see the first ones"
        );
        return Ok(ExitCode::from(2));
    }
    for fire in fires {
        writeln!(out, "{}", isoformat(&trigger.localize(fire)))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The calendars of `--calendar FILE:NAME` arguments.
fn load_calendars(args: &[String]) -> anyhow::Result<rsched::Calendars> {
    let mut set = std::collections::BTreeMap::new();
    for arg in args {
        let (file, name) = arg.rsplit_once(':').with_context(|| {
            format!("--calendar {arg}: expected FILE:NAME, e.g. rsched.toml:holidays")
        })?;
        let config = rsched::Config::load(file.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut calendars = config
            .exclusion_calendars()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let calendar = calendars
            .remove(name)
            .with_context(|| format!("--calendar {arg}: {file} has no [calendars.{name}]"))?;
        set.insert(name.to_owned(), std::sync::Arc::new(calendar));
    }
    Ok(rsched::Calendars::new(set))
}

fn parse_trigger(text: &str, zone: &TimeZone) -> rsched::Result<BuiltinTrigger> {
    let mut trigger = BuiltinTrigger::from_json(text)?;
    trigger.set_default_timezone(zone);
    Ok(trigger)
}

fn batch(zone: &TimeZone) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = answer(&line, zone);
        serde_json::to_writer(&mut out, &reply)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One batch request to its reply.
fn answer(line: &str, zone: &TimeZone) -> Value {
    let request: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"id": null, "error": format!("invalid JSON request: {e}")}),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let result = (|| -> Result<Vec<String>, String> {
        let trigger = request.get("trigger").ok_or("missing \"trigger\"")?;
        let mut trigger = BuiltinTrigger::from_value(trigger.clone()).map_err(|e| e.to_string())?;
        trigger.set_default_timezone(zone);
        let after = match request.get("after") {
            None | Some(Value::Null) => Utc::now(),
            Some(Value::String(s)) => parse_instant(s).map_err(|e| format!("after: {e}"))?,
            Some(_) => return Err("after: expected an RFC 3339 string".into()),
        };
        let count = match request.get("count") {
            None | Some(Value::Null) => 10,
            Some(v) => v
                .as_u64()
                .and_then(|c| usize::try_from(c).ok())
                .ok_or("count: expected a non-negative whole number")?,
        };
        Ok(trigger
            .fire_times(after)
            .take(count)
            .map(|f| isoformat(&f))
            .collect())
    })();
    match result {
        Ok(fires) => json!({"id": id, "fires": fires}),
        Err(error) => json!({"id": id, "error": error}),
    }
}
