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
use crate::trigger::{BuiltinTrigger, CronSpec, CronTrigger, CronValue, FireTime};
use crate::tz::TimeZone;

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DOW_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The keyword form of a crontab trigger: `{"type": "crontab", "expr": "*/5 9-17 * * 1-5"}`.
///
/// ```
/// use scheduler_core::trigger::CrontabSpec;
/// let trigger = CrontabSpec::new("0 9 * * mon-fri").timezone("Europe/London").build()?;
/// assert_eq!(trigger.to_string(), "crontab['0 9 * * mon-fri']");
/// # Ok::<(), scheduler_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrontabSpec {
    /// The crontab line (5 fields) or alias (`@daily`).
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
    /// One cron trigger, or two (day-of-month, day-of-week) under Vixie's either-or rule.
    crons: Vec<BuiltinTrigger>,
}

/// One crontab field's grammar.
struct FieldDef {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Value of the first name (`jan` = 1, `sun` = 0).
    name_base: u32,
}

const FIELDS: [FieldDef; 5] = [
    FieldDef {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        name_base: 0,
    },
    FieldDef {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        name_base: 0,
    },
    FieldDef {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
        name_base: 0,
    },
    FieldDef {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTH_NAMES,
        name_base: 1,
    },
    FieldDef {
        name: "day of week",
        min: 0,
        max: 7,
        names: &DOW_NAMES,
        name_base: 0,
    },
];

impl TryFrom<CrontabSpec> for CrontabTrigger {
    type Error = Error;

    fn try_from(spec: CrontabSpec) -> Result<CrontabTrigger> {
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
            crate::trigger::Jitter::new(spec.jitter)?;
            return Ok(CrontabData {
                spec,
                crons: vec![every],
            }
            .into());
        }
        let line = expand_alias(&line).map_err(in_expr)?;
        let all: Vec<&str> = line.split_whitespace().collect();
        let (seconds, parts) = match all.len() {
            5 => (None, &all[..]),
            6 => (Some(all[0]), &all[1..]),
            n => return Err(Error::invalid("expr", fields_error(n, &spec.expr))),
        };
        let second = match seconds {
            Some(text) => Some(expand(&SECOND, text).map_err(in_expr)?),
            None => None,
        };
        let mut values = Vec::with_capacity(5);
        // Day of month: `?` is no restriction, `L` the last day (croner).
        let (dom_text, dom_last) = day_of_month(parts[2]).map_err(in_expr)?;
        // Day of week: `5L` (the last Friday) and `5#2` (the second Friday) become day-field
        // expressions of their own (croner).
        let (dow_text, dow_special) = day_of_week(parts[4]).map_err(in_expr)?;
        for (def, text) in FIELDS.iter().zip([
            parts[0],
            parts[1],
            dom_text.as_str(),
            parts[3],
            dow_text.as_str(),
        ]) {
            if text.is_empty() {
                values.push(Vec::new());
            } else {
                values.push(expand(def, text).map_err(in_expr)?);
            }
        }
        // cron(8) weekdays (0 and 7 = Sunday) to APScheduler's (0 = Monday .. 6 = Sunday).
        let mut dow: Vec<u32> = values[4].iter().map(|&d| (d + 6) % 7).collect();
        dow.sort_unstable();
        dow.dedup();
        let list =
            |v: &[u32]| CronValue::Expr(v.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
        let base = CronSpec {
            second: Some(second.as_deref().map_or_else(|| "0".into(), list)),
            minute: Some(list(&values[0])),
            hour: Some(list(&values[1])),
            month: Some(list(&values[3])),
            start_date: spec.start_date.clone(),
            end_date: spec.end_date.clone(),
            timezone,
            ..CronSpec::default()
        };
        let dom_star = matches!(parts[2].chars().next(), Some('*' | '?'));
        let dow_star = matches!(parts[4].chars().next(), Some('*' | '?'));
        let build =
            |day: Option<CronValue>, day_of_week: Option<CronValue>| -> Result<BuiltinTrigger> {
                let spec = CronSpec {
                    day,
                    day_of_week,
                    ..base.clone()
                };
                Ok(BuiltinTrigger::Cron(CronTrigger::try_from(spec)?))
            };
        // The day-of-month expression: its values, and `last` for `L`.
        let dom_expr = {
            let mut items: Vec<String> = values[2].iter().map(u32::to_string).collect();
            if dom_last {
                items.push("last".into());
            }
            CronValue::Expr(items.join(","))
        };
        // Vixie's rule: when neither day field starts with `*` (or `?`), a day matches if either
        // matches; otherwise both must.
        let either = !dom_star && !dow_star;
        let mut crons = Vec::new();
        if dow_special.is_empty() {
            if either {
                crons.push(build(Some(dom_expr), Some("*".into()))?);
                crons.push(build(Some("*".into()), Some(list(&dow)))?);
            } else {
                crons.push(build(Some(dom_expr), Some(list(&dow)))?);
            }
        } else {
            // `5L` / `5#2` are day-field expressions: each is a cron of its own, or'ed with the
            // plain weekdays (and with the day of month, under the either-or rule).
            if either {
                crons.push(build(Some(dom_expr), Some("*".into()))?);
            } else if !dom_star {
                return Err(Error::invalid(
                    "expr",
                    format!(
                        "day of week: '{}' mixes * with L or # items; list the weekdays instead",
                        parts[4]
                    ),
                ));
            }
            if !dow.is_empty() {
                crons.push(build(Some("*".into()), Some(list(&dow)))?);
            }
            for day in dow_special {
                crons.push(build(Some(CronValue::Expr(day)), Some("*".into()))?);
            }
        }
        crate::trigger::Jitter::new(spec.jitter)?;
        Ok(CrontabData { spec, crons }.into())
    }
}

/// The seconds field of a 6-field line (tokio-cron-scheduler, croner).
const SECOND: FieldDef = FieldDef {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    name_base: 0,
};

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

/// The day-of-month field: `?` is `*`; an `L` item is the month's last day (returned apart).
/// Quartz's `L-3`, `15W` and `LW` are refused by name.
fn day_of_month(text: &str) -> Result<(String, bool)> {
    if text == "?" {
        return Ok(("*".into(), false));
    }
    let mut last = false;
    let mut rest = Vec::new();
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        if upper == "L" {
            last = true;
        } else if upper.contains('W') || upper.starts_with("L-") {
            return Err(Error::invalid(
                "",
                format!(
                    "day of month: '{item}' (nearest weekday, or days before the last) is Quartz syntax the crontab trigger does not read"
                ),
            ));
        } else {
            rest.push(item);
        }
    }
    Ok((rest.join(","), last))
}

/// The day-of-week field (cron(8) numbering, 0 and 7 = Sunday): `?` is `*`; `5L` (the last
/// Friday) and `5#2` (the second Friday) items become APScheduler day-field expressions
/// (`last fri`, `2nd fri`), returned apart from the plain items.
fn day_of_week(text: &str) -> Result<(String, Vec<String>)> {
    if text == "?" {
        return Ok(("*".into(), Vec::new()));
    }
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let weekday = |s: &str, item: &str| -> Result<&'static str> {
        let lower = s.to_ascii_lowercase();
        let v = match lower.parse::<usize>() {
            Ok(v) if v <= 7 => v % 7,
            Ok(_) => {
                return Err(Error::invalid(
                    "",
                    format!("day of week: value {s} in '{item}' is out of range 0..=7"),
                ));
            }
            Err(_) => NAMES.iter().position(|n| *n == lower).ok_or_else(|| {
                Error::invalid(
                    "",
                    format!("day of week: invalid name '{s}' in '{item}' (expected sun..sat)"),
                )
            })?,
        };
        Ok(NAMES[v])
    };
    let mut plain = Vec::new();
    let mut special = Vec::new();
    for item in text.split(',') {
        if let Some((day, nth)) = item.split_once('#') {
            let nth = match nth {
                "1" => "1st",
                "2" => "2nd",
                "3" => "3rd",
                "4" => "4th",
                "5" => "5th",
                _ => {
                    return Err(Error::invalid(
                        "",
                        format!("day of week: '{item}': the number after # must be 1 to 5"),
                    ));
                }
            };
            special.push(format!("{nth} {}", weekday(day, item)?));
        } else if item.len() > 1 && (item.ends_with('L') || item.ends_with('l')) {
            special.push(format!("last {}", weekday(&item[..item.len() - 1], item)?));
        } else {
            plain.push(item);
        }
    }
    Ok((plain.join(","), special))
}

impl From<CrontabTrigger> for CrontabSpec {
    fn from(t: CrontabTrigger) -> CrontabSpec {
        t.data.spec.clone()
    }
}

/// Places an error about the line under the `expr` key: `expr: hour: value 24 ...`.
fn in_expr(e: Error) -> Error {
    Error::invalid("expr", e.message())
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

/// Expands one field to its sorted, deduplicated values (cron(8) numbering).
fn expand(def: &FieldDef, text: &str) -> Result<Vec<u32>> {
    let field = def.name;
    let mut bits = 0u64;
    for item in text.split(',') {
        let unrecognized = || {
            Error::invalid(
                "",
                format!(
                    "{field}: unrecognized expression '{item}' (expected *, */n, a, a-b, a-b/n or a comma-separated list)"
                ),
            )
        };
        if item.is_empty() {
            return Err(Error::invalid(
                "",
                format!("{field}: empty expression in '{text}'"),
            ));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                if step.is_empty() || !step.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(unrecognized());
                }
                let step: u32 = step.parse().map_err(|_| {
                    Error::invalid("", format!("{field}: step {step} is out of range"))
                })?;
                if step == 0 {
                    return Err(Error::invalid(
                        "",
                        format!("{field}: step must be at least 1, got 0"),
                    ));
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let (first, last) = if range == "*" {
            (def.min, def.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(def, a, item)?, value(def, b, item)?);
            if a > b {
                return Err(Error::invalid(
                    "",
                    format!(
                        "{field}: range '{item}' is reversed (its start must not be after its end)"
                    ),
                ));
            }
            (a, b)
        } else {
            let v = value(def, range, item)?;
            if step.is_some() {
                return Err(Error::invalid(
                    "",
                    format!(
                        "{field}: a step needs a range or * in '{item}' (cron(8) has no 'a/n' form; write '{range}-{}/n')",
                        def.max
                    ),
                ));
            }
            (v, v)
        };
        let mut v = first;
        while v <= last {
            bits |= 1 << v;
            v += step.unwrap_or(1);
        }
    }
    Ok((0..64).filter(|v| bits & (1 << v) != 0).collect())
}

fn value(def: &FieldDef, text: &str, item: &str) -> Result<u32> {
    let field = def.name;
    let v = if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) {
        text.parse::<u32>().map_err(|_| {
            Error::invalid(
                "",
                format!(
                    "{field}: value {text} is out of range {}..={}",
                    def.min, def.max
                ),
            )
        })?
    } else {
        let lower = text.to_ascii_lowercase();
        match def.names.iter().position(|n| *n == lower) {
            Some(i) => u32::try_from(i).unwrap_or(0) + def.name_base,
            None if def.names.is_empty() => {
                return Err(Error::invalid(
                    "",
                    format!(
                        "{field}: unrecognized expression '{item}' (expected *, */n, a, a-b, a-b/n or a comma-separated list)"
                    ),
                ));
            }
            None => {
                return Err(Error::invalid(
                    "",
                    format!(
                        "{field}: invalid name '{text}' (expected {}..{})",
                        def.names[0],
                        def.names[def.names.len() - 1]
                    ),
                ));
            }
        }
    };
    if v < def.min || v > def.max {
        return Err(Error::invalid(
            "",
            format!(
                "{field}: value {v} is out of range {}..={}",
                def.min, def.max
            ),
        ));
    }
    Ok(v)
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
        earliest(&self.crons, prev, now)
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
        assert!(err("0 0 15W * *").contains("Quartz syntax"));
        assert!(err("0 0 L-3 * *").contains("Quartz syntax"));
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
    fn weekdays_follow_cron8() {
        let t = CrontabSpec::new("0 12 * * 0-1,7").build().unwrap();
        let BuiltinTrigger::Cron(cron) = &t.data.crons[0] else {
            panic!()
        };
        // Sunday and Monday in APScheduler's numbering: mon = 0, sun = 6.
        assert_eq!(cron.spec().day_of_week, Some(CronValue::Expr("0,6".into())));
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
