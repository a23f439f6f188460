//! The `crontab` trigger: a crontab line that means what cron(8) means, and the forms the Rust
//! schedulers users come from write (tokio-cron-scheduler, croner, Temporal).
//!
//! `minute hour day-of-month month day-of-week`, or six fields with `second` first, with:
//!
//! - `*`, `*/n`, `a`, `a-b`, `a-b/n` and comma lists in every field;
//! - month names `jan`..`dec` and weekday names `sun`..`sat` (also in ranges, `mon-fri/2`);
//! - day of week 0 and 7 = Sunday, 1 = Monday (cron(8), *not* APScheduler 3's `from_crontab`,
//!   which maps 0 to Monday);
//! - the aliases `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
//!   `@hourly`;
//! - Vixie cron's rule: when neither the day-of-month nor the day-of-week field starts with
//!   `*`, a day matches if *either* matches (`0 0 1,15 * mon` runs on the 1st, the 15th and
//!   every Monday); otherwise both must match.
//!
//! - croner's `?` (no restriction) in the day fields, `L` (the last day of the month) in the
//!   day of month, `5L` (the last Friday) and `5#2` (the second Friday) in the day of week;
//! - Temporal's `@every 90s` / `@every 1h30m/15m` (every interval since the Unix epoch, plus
//!   an offset), a leading `CRON_TZ=Zone` or `TZ=Zone`, and a trailing `# comment`.
//!
//! APScheduler-only forms (`last`, `2nd mon`, `a/n` without a range) and Quartz's `W` and
//! `L-n` are errors naming the field.
//! Each field is expanded to its list of values and evaluated by the `cron` trigger (an `or` of
//! two for the either-or rule), so DST behaves exactly as for `cron`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::trigger::combining::earliest;
use crate::trigger::line::{
    Bounds, DAY, Dialect, FieldDef, HOUR, Item, Line, LineDefs, MINUTE, SECOND, compile, describe,
    in_expr, parse_field, value,
};
use crate::trigger::{BuiltinTrigger, FireTime};
use crate::tz::TimeZone;

const MONTH_NAMES: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];
const DOW_NAMES: &[(&str, u32)] = &[
    ("sun", 0),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
];

/// The keyword form of a crontab trigger: `{"type": "crontab", "expr": "*/5 9-17 * * 1-5"}`.
///
/// ```
/// use scheduler_core::trigger::CrontabSpec;
/// let trigger = CrontabSpec::new("0 9 * * mon-fri").timezone("Europe/London").build()?;
/// assert_eq!(trigger.to_string(), "crontab['0 9 * * mon-fri']");
/// assert_eq!(trigger.describe(), "at 09:00, Monday to Friday");
/// # Ok::<(), scheduler_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrontabSpec {
    /// The crontab line (5 or 6 fields), alias (`@daily`) or `@every 90s`.
    pub expr: String,
    /// Earliest fire time (inclusive); a date string, naive ones in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Latest fire time (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// IANA zone the line is read in; defaults to the scheduler's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Maximum random delay added to each fire time, in seconds (applied by the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

impl CrontabSpec {
    /// A spec for the crontab line `expr`.
    pub fn new(expr: impl Into<String>) -> Self {
        CrontabSpec {
            expr: expr.into(),
            ..Default::default()
        }
    }

    /// Sets the time zone by IANA name.
    #[must_use]
    pub fn timezone(mut self, name: impl Into<String>) -> Self {
        self.timezone = Some(name.into());
        self
    }

    /// Validates the line and builds the trigger.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the crontab field
    /// and value: `expr: hour: value 24 is out of range 0..=23`.
    pub fn build(self) -> Result<CrontabTrigger> {
        CrontabTrigger::try_from(self)
    }
}

/// A compiled crontab trigger. Build it from a [`CrontabSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CrontabSpec", into = "CrontabSpec")]
pub struct CrontabTrigger {
    data: Arc<CrontabData>,
}

impl From<CrontabData> for CrontabTrigger {
    fn from(data: CrontabData) -> Self {
        CrontabTrigger {
            data: Arc::new(data),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct CrontabData {
    spec: CrontabSpec,
    /// One cron trigger, or several or'ed (Vixie's either-or rule, `5L` / `5#2` items), or the
    /// interval of `@every`.
    crons: Vec<BuiltinTrigger>,
}

const MONTH: FieldDef = FieldDef {
    name: "month",
    min: 1,
    max: 12,
    names: MONTH_NAMES,
};
const WEEKDAY: FieldDef = FieldDef {
    name: "day of week",
    min: 0,
    max: 7,
    names: DOW_NAMES,
};
const DEFS: LineDefs = LineDefs {
    second: &SECOND,
    minute: &MINUTE,
    hour: &HOUR,
    day: &DAY,
    month: &MONTH,
    weekday: &WEEKDAY,
};

/// What a crontab expression is once its comment and zone prefix are read.
enum Parsed {
    /// `@every INTERVAL[/OFFSET]`: the interval trigger.
    Every(BuiltinTrigger),
    /// A line of fields.
    Line(Line),
}

/// Reads `spec.expr`: the zone it names, and the line or `@every`.
fn parse(spec: &CrontabSpec) -> Result<(Option<String>, Parsed)> {
    let (line, zone) = preprocess(&spec.expr).map_err(in_expr)?;
    let timezone = match (zone, &spec.timezone) {
        (Some(zone), Some(given)) if zone != *given => {
            return Err(Error::invalid(
                "expr",
                format!("CRON_TZ={zone} disagrees with timezone {given:?}: give the zone once"),
            ));
        }
        (Some(zone), _) => Some(zone),
        (None, given) => given.clone(),
    };
    if let Some(every) = line.strip_prefix("@every") {
        let every = every_trigger(every.trim(), &line, timezone.clone()).map_err(in_expr)?;
        return Ok((timezone, Parsed::Every(every)));
    }
    let line = expand_alias(&line).map_err(in_expr)?;
    let all: Vec<&str> = line.split_whitespace().collect();
    let (seconds, parts) = match all.len() {
        5 => (None, &all[..]),
        6 => (Some(all[0]), &all[1..]),
        n => return Err(Error::invalid("expr", fields_error(n, &spec.expr))),
    };
    let read = || -> Result<Line> {
        Ok(Line {
            dialect: Dialect::Crontab,
            second: seconds
                .map(|text| parse_field(&SECOND, text, false))
                .transpose()?,
            minute: parse_field(&MINUTE, parts[0], false)?,
            hour: parse_field(&HOUR, parts[1], false)?,
            day: day_of_month(parts[2])?,
            month: parse_field(&MONTH, parts[3], false)?,
            weekday: day_of_week(parts[4])?,
            year: None,
            // Vixie's rule looks at the first character only: `*/2` counts as unrestricted.
            day_star: matches!(parts[2].chars().next(), Some('*' | '?')),
            weekday_star: matches!(parts[4].chars().next(), Some('*' | '?')),
        })
    };
    Ok((timezone, Parsed::Line(read().map_err(in_expr)?)))
}

impl TryFrom<CrontabSpec> for CrontabTrigger {
    type Error = Error;

    fn try_from(spec: CrontabSpec) -> Result<CrontabTrigger> {
        let (timezone, parsed) = parse(&spec)?;
        crate::trigger::Jitter::new(spec.jitter)?;
        let crons = match parsed {
            Parsed::Every(every) => vec![every],
            Parsed::Line(line) => {
                let bounds = Bounds {
                    start_date: spec.start_date.clone(),
                    end_date: spec.end_date.clone(),
                    timezone,
                };
                compile(&line, &DEFS, &bounds)?
            }
        };
        Ok(CrontabData { spec, crons }.into())
    }
}

/// What to say about a line of `n` fields: how many rsched reads, and what the line looks like.
fn fields_error(n: usize, expr: &str) -> String {
    let hint = if n == 7 {
        " (7 fields with a year: this looks like Quartz or the `cron` crate, which the `crontab` trigger does not read: write the 6 fields without the year, seconds first)"
    } else {
        ""
    };
    format!(
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got {n} in '{expr}'{hint}"
    )
}

/// Strips a trailing `# comment` and a leading `CRON_TZ=Zone` / `TZ=Zone` (Temporal, croner):
/// the line left, and the zone it names.
fn preprocess(expr: &str) -> Result<(String, Option<String>)> {
    // A comment starts with a `#` at the start or after whitespace (a `#` inside a field is
    // croner's nth weekday: `5#2`).
    let cut = expr
        .char_indices()
        .find(|&(i, c)| c == '#' && (i == 0 || expr[..i].ends_with(char::is_whitespace)))
        .map(|(i, _)| i);
    let line = cut.map_or(expr, |i| &expr[..i]);
    let line = line.trim();
    let mut zone = None;
    let mut rest = line;
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(after) = line.strip_prefix(prefix) {
            let (name, tail) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            if name.is_empty() {
                return Err(Error::invalid(
                    "",
                    format!("{prefix} names no zone (write {prefix}Asia/Shanghai 0 9 * * *)"),
                ));
            }
            TimeZone::get(name).map_err(|e| {
                Error::invalid(
                    "",
                    format!("{}: {}", prefix.trim_end_matches('='), e.message()),
                )
            })?;
            zone = Some(name.to_owned());
            rest = tail.trim();
            break;
        }
    }
    Ok((rest.to_owned(), zone))
}

/// `@every 90s`, `@every 1h30m/15m` (Temporal): every interval, counted from the Unix epoch
/// (plus the offset after `/`), as an `interval` trigger.
fn every_trigger(text: &str, line: &str, timezone: Option<String>) -> Result<BuiltinTrigger> {
    let usage = || {
        Error::invalid(
            "",
            format!(
                "'{line}': expected @every INTERVAL[/OFFSET] with durations such as 90s or 1h30m"
            ),
        )
    };
    if text.is_empty() {
        return Err(usage());
    }
    let (every, offset) = match text.split_once('/') {
        Some((every, offset)) => (every.trim(), Some(offset.trim())),
        None => (text, None),
    };
    let duration = |s: &str| {
        crate::duration::DurationValue::parse_str(s)
            .map(|d| d.0)
            .map_err(|e| Error::invalid("", format!("@every: {e}")))
    };
    let every = duration(every)?;
    if every.is_zero() {
        return Err(Error::invalid(
            "",
            "@every: the interval must be longer than 0",
        ));
    }
    let offset = offset.map(duration).transpose()?.unwrap_or_default();
    if offset >= every {
        return Err(Error::invalid(
            "",
            "@every: the offset after / must be shorter than the interval",
        ));
    }
    let start = chrono::Duration::from_std(offset)
        .ok()
        .and_then(|offset| chrono::DateTime::<chrono::Utc>::UNIX_EPOCH.checked_add_signed(offset))
        .ok_or_else(usage)?;
    let spec = crate::trigger::IntervalSpec {
        seconds: Some(every.as_secs_f64()),
        start_date: Some(start.to_rfc3339()),
        timezone,
        ..Default::default()
    };
    Ok(BuiltinTrigger::Interval(spec.build()?))
}

/// The day-of-month field: `?` is `*`; `L` (the last day), `15W` and `LW` (the nearest
/// weekday, croner). Quartz's `L-3` is refused by name.
fn day_of_month(text: &str) -> Result<Vec<Item>> {
    if text == "?" {
        return Ok(vec![Item::All]);
    }
    let mut items = Vec::new();
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        if upper == "L" {
            items.push(Item::LastDay);
        } else if upper.starts_with("L-") {
            return Err(Error::invalid(
                "",
                format!(
                    "day of month: '{item}' (days before the last) is Quartz syntax: use type \"quartz\" (seconds first, day of week 1 = Sunday)"
                ),
            ));
        } else if let Some(day) = upper.strip_suffix('W') {
            let n = if day == "L" {
                0
            } else if day.is_empty() || !day.bytes().all(|c| c.is_ascii_digit()) {
                return Err(Error::invalid(
                    "",
                    format!("day of month: '{item}': W needs a day before it (15W, LW)"),
                ));
            } else {
                value(&DAY, day, item)?
            };
            items.push(Item::MonthDay {
                from_end: day == "L",
                n,
                weekday: true,
            });
        } else {
            items.extend(parse_field(&DAY, item, false)?);
        }
    }
    Ok(items)
}

/// The day-of-week field (cron(8) numbering, 0 and 7 = Sunday): `?` is `*`; `5L` (the last
/// Friday) and `5#2` (the second Friday), croner's forms.
fn day_of_week(text: &str) -> Result<Vec<Item>> {
    if text == "?" {
        return Ok(vec![Item::All]);
    }
    let mut items = Vec::new();
    for item in text.split(',') {
        if let Some((day, nth)) = item.split_once('#') {
            let day = value(&WEEKDAY, day, item)?;
            let nth = match nth.parse::<u32>() {
                Ok(n @ 1..=5) => n,
                _ => {
                    return Err(Error::invalid(
                        "",
                        format!("day of week: '{item}': the number after # must be 1 to 5"),
                    ));
                }
            };
            items.push(Item::Nth(day, nth));
        } else if item.len() > 1 && (item.ends_with('L') || item.ends_with('l')) {
            items.push(Item::LastOf(value(
                &WEEKDAY,
                &item[..item.len() - 1],
                item,
            )?));
        } else {
            items.extend(parse_field(&WEEKDAY, item, false)?);
        }
    }
    Ok(items)
}

/// `@every` in words: `every 1:30:00 from the Unix epoch, offset 0:15:00`.
fn every_words(every: &crate::trigger::IntervalTrigger) -> String {
    let spec = every.spec();
    let secs = spec.seconds.unwrap_or_default();
    let interval = crate::duration::DurationValue(Duration::from_secs_f64(secs)).to_string();
    let offset = spec
        .start_date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map_or(0, |d| d.timestamp());
    if offset == 0 {
        format!("every {interval}, counted from the Unix epoch")
    } else {
        let offset = crate::duration::DurationValue(Duration::from_secs(offset.unsigned_abs()));
        format!("every {interval}, counted from the Unix epoch plus {offset}")
    }
}

impl From<CrontabTrigger> for CrontabSpec {
    fn from(t: CrontabTrigger) -> CrontabSpec {
        t.data.spec.clone()
    }
}

fn expand_alias(expr: &str) -> Result<String> {
    if !expr.starts_with('@') {
        return Ok(expr.to_owned());
    }
    Ok(match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => {
            return Err(Error::invalid(
                "",
                format!(
                    "unknown alias '{expr}' (expected @yearly, @annually, @monthly, @weekly, \
                     @daily, @midnight or @hourly)"
                ),
            ));
        }
    }
    .to_owned())
}

impl CrontabTrigger {
    /// The zone the line is read in.
    pub fn timezone(&self) -> &TimeZone {
        self.data.timezone()
    }

    /// The keyword form this trigger was built from.
    pub fn spec(&self) -> &CrontabSpec {
        &self.data.spec
    }

    /// Maximum random delay per fire time (applied by the scheduler).
    pub fn jitter(&self) -> Option<Duration> {
        self.data.jitter()
    }

    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        Arc::make_mut(&mut self.data).set_default_timezone(tz)
    }

    /// The line in plain words, without the zone: `at 09:00, Monday to Friday`,
    /// `every 90s since 1970-01-01 00:00:00 UTC`.
    pub fn describe(&self) -> String {
        match parse(&self.data.spec) {
            Ok((_, Parsed::Line(line))) => describe(&line),
            Ok((_, Parsed::Every(BuiltinTrigger::Interval(every)))) => every_words(&every),
            _ => String::new(),
        }
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        self.data.next_fire(prev, now)
    }
}

impl CrontabData {
    /// The zone the line is read in.
    pub fn timezone(&self) -> &TimeZone {
        use crate::trigger::Trigger;
        self.crons[0].timezone()
    }

    /// Maximum random delay per fire time (applied by the scheduler).
    pub fn jitter(&self) -> Option<Duration> {
        crate::trigger::Jitter::new(self.spec.jitter)
            .ok()
            .and_then(|j| j.duration())
    }

    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        for c in &mut self.crons {
            c.set_default_timezone(tz);
        }
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        match &self.crons[..] {
            [BuiltinTrigger::Cron(cron)] => cron.next_fire(prev, now),
            crons => earliest(crons, prev, now),
        }
    }
}

impl fmt::Display for CrontabTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.data.fmt(f)
    }
}

impl fmt::Display for CrontabData {
    /// `crontab['*/5 9-17 * * 1-5']`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "crontab['{}']", self.spec.expr.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(expr: &str) -> String {
        CrontabSpec::new(expr)
            .build()
            .unwrap_err()
            .message()
            .to_owned()
    }

    #[test]
    fn rejects_what_no_dialect_here_reads_with_the_field_named() {
        assert!(err("0 0 0 */5 * * * *").starts_with("expr: expected 5 fields"));
        assert!(err("0 0 9 ? * MON-FRI 2027").contains("this looks like Quartz"));
        assert!(
            err("59 23 last * *").starts_with("expr: day of month: unrecognized expression 'last'")
        );
        assert!(err("0 0 L-3 * *").contains("Quartz syntax: use type \"quartz\""));
        assert!(err("0 0 W * *").contains("W needs a day"));
        assert!(err("0 0 32W * *").contains("out of range 1..=31"));
        assert!(err("0 0 * * 1#6").contains("1 to 5"));
        assert!(err("0 0 * * 9L").contains("out of range 0..=7"));
        assert!(err("@every").contains("@every INTERVAL"));
        assert!(err("@every 0s").contains("longer than 0"));
        assert!(err("@every 1h/2h").contains("shorter than the interval"));
        // Durations too long for the calendar are errors, not panics.
        assert!(
            CrontabSpec::new("@every 900000000y/800000000y")
                .build()
                .is_err()
        );
        assert!(CrontabSpec::new("@every 900000000y").build().is_err());
        assert!(err("@fortnightly").starts_with("expr: unknown alias '@fortnightly'"));
        assert!(err("CRON_TZ=Mars/Olympus 0 9 * * *").starts_with("expr: CRON_TZ:"));
        assert!(err("5/10 * * * *").contains("a step needs a range"));
        assert_eq!(
            err("0 24 * * *"),
            "expr: hour: value 24 is out of range 0..=23"
        );
        assert!(err("60 0 * * * *").contains("second: value 60 is out of range 0..=59"));
        assert!(err("0 0 * * 8").contains("value 8 is out of range 0..=7"));
        assert!(err("0 0 * * fri-mon").contains("reversed"));
        assert!(err("").starts_with("expr: expected 5 fields"));
        let conflict = CrontabSpec::new("CRON_TZ=Asia/Shanghai 0 9 * * *")
            .timezone("Europe/Paris")
            .build()
            .unwrap_err();
        assert!(conflict.message().contains("disagrees"), "{conflict}");
    }

    /// Fire times after 2026-01-01 00:00 UTC (a Thursday), in UTC.
    fn fires(expr: &str, n: usize) -> Vec<String> {
        let spec = CrontabSpec::new(expr);
        // A line that names its zone gets no other.
        let spec = if expr.contains("TZ=") {
            spec
        } else {
            spec.timezone("UTC")
        };
        let t: BuiltinTrigger = spec.build().unwrap().into();
        let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        t.fire_times(start)
            .take(n)
            .map(|f| {
                f.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%d %a %H:%M:%S")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn the_dialects_rust_users_bring() {
        // Six fields, seconds first (tokio-cron-scheduler, croner).
        assert_eq!(
            fires("30 */20 9 * * *", 3),
            [
                "2026-01-01 Thu 09:00:30",
                "2026-01-01 Thu 09:20:30",
                "2026-01-01 Thu 09:40:30"
            ]
        );
        // `?` is no restriction (Quartz, croner), names are case-insensitive.
        assert_eq!(
            fires("0 0 9 ? * MON-FRI", 2),
            ["2026-01-01 Thu 09:00:00", "2026-01-02 Fri 09:00:00"]
        );
        // L: the last day; 5L: the last Friday; 1#2: the second Monday.
        assert_eq!(
            fires("0 0 L * *", 2),
            ["2026-01-31 Sat 00:00:00", "2026-02-28 Sat 00:00:00"]
        );
        assert_eq!(
            fires("0 0 * * 5L", 2),
            ["2026-01-30 Fri 00:00:00", "2026-02-27 Fri 00:00:00"]
        );
        assert_eq!(
            fires("0 0 * * 1#2", 2),
            ["2026-01-12 Mon 00:00:00", "2026-02-09 Mon 00:00:00"]
        );
        // W: the weekday nearest the day (croner); LW: the last weekday.
        assert_eq!(
            fires("0 0 3W * *", 2),
            ["2026-01-02 Fri 00:00:00", "2026-02-03 Tue 00:00:00"]
        );
        assert_eq!(
            fires("0 0 LW * *", 2),
            ["2026-01-30 Fri 00:00:00", "2026-02-27 Fri 00:00:00"]
        );
        // Day of month or day of week (cron(8)), with the special forms too.
        assert_eq!(
            fires("0 0 15 * 5L", 3),
            [
                "2026-01-15 Thu 00:00:00",
                "2026-01-30 Fri 00:00:00",
                "2026-02-15 Sun 00:00:00"
            ]
        );
        // @every: elapsed time from the epoch (2026-01-01 is a multiple of 90 s), with an
        // offset.
        assert_eq!(
            fires("@every 90s", 2),
            ["2026-01-01 Thu 00:00:00", "2026-01-01 Thu 00:01:30"]
        );
        assert_eq!(
            fires("@every 1h30m/15m", 2),
            ["2026-01-01 Thu 00:15:00", "2026-01-01 Thu 01:45:00"]
        );
        // CRON_TZ= and a trailing comment.
        assert_eq!(
            fires("CRON_TZ=Asia/Shanghai 0 9 * * mon # weekly report", 1),
            ["2026-01-05 Mon 01:00:00"]
        );
        assert_eq!(fires("TZ=UTC 0 9 * * * #", 1), ["2026-01-01 Thu 09:00:00"]);
        // Five fields still mean what cron(8) means: second 0.
        assert_eq!(
            fires("*/30 * * * *", 2),
            ["2026-01-01 Thu 00:00:00", "2026-01-01 Thu 00:30:00"]
        );
    }

    #[test]
    fn plain_words() {
        let words = |e: &str| CrontabSpec::new(e).build().unwrap().describe();
        assert_eq!(
            words("*/5 9-17 * * 1-5"),
            "every 5th minute, in hours 9 to 17, Monday to Friday"
        );
        assert_eq!(words("0 9 * * mon"), "at 09:00, on Monday");
        assert_eq!(words("30 * * * *"), "at minute 30 of every hour");
        assert_eq!(words("* * * * * *"), "every second");
        assert_eq!(
            words("0 0,12 1,15 * 5L"),
            "at 00:00 and 12:00, on days 1 and 15 or on the last Friday of the month"
        );
        assert_eq!(
            words("15 30 9 * jan-mar *"),
            "at 09:30:15, in January to March"
        );
        assert_eq!(
            words("@every 1h30m/15m"),
            "every 1h 30m, counted from the Unix epoch plus 15m"
        );
        let t: BuiltinTrigger = CrontabSpec::new("CRON_TZ=Asia/Shanghai 0 */5 * * * mon-fri")
            .build()
            .unwrap()
            .into();
        assert_eq!(
            t.describe().unwrap(),
            "at second 0 of every 5th minute, Monday to Friday, in Asia/Shanghai"
        );
    }

    #[test]
    fn weekdays_follow_cron8() {
        let t = CrontabSpec::new("0 12 * * 0-1,7").build().unwrap();
        let BuiltinTrigger::Cron(cron) = &t.data.crons[0] else {
            panic!()
        };
        // Sunday and Monday in APScheduler's numbering: mon = 0, sun = 6.
        assert_eq!(
            cron.spec().day_of_week,
            Some(crate::trigger::CronValue::Expr("0,6".into()))
        );
    }

    #[test]
    fn either_or_only_when_both_day_fields_are_restricted() {
        assert_eq!(
            CrontabSpec::new("0 0 1 * mon")
                .build()
                .unwrap()
                .data
                .crons
                .len(),
            2
        );
        assert_eq!(
            CrontabSpec::new("0 0 */2 * mon")
                .build()
                .unwrap()
                .data
                .crons
                .len(),
            1
        );
        assert_eq!(
            CrontabSpec::new("0 0 1 * *")
                .build()
                .unwrap()
                .data
                .crons
                .len(),
            1
        );
    }
}
