//! The `quartz` trigger: a cron expression as Quartz's `CronExpression` and the `cron` crate
//! read it.
//!
//! `second minute hour day-of-month month day-of-week [year]`, with:
//!
//! - `*`, `a`, `a-b`, `a/n` (from `a` on, every `n`), `*/n`, `a-b/n` and comma lists; a range
//!   whose end is before its start wraps around (`FRI-MON`, `22-2`), as in Quartz;
//! - month names `JAN`..`DEC`, weekday names `SUN`..`SAT` (any case; the `cron` crate's full
//!   names `Monday`, `January`, `Tues`, `Thurs` too);
//! - day of week **1 = Sunday .. 7 = Saturday** (Quartz, the `cron` crate);
//! - `?` (no restriction) in the day of month or the day of week;
//! - day of month `L` (the last day), `L-3` (three days before it), `15W` (the weekday nearest
//!   the 15th, within the month), `LW` (the last weekday), `L-3W`;
//! - day of week `L` alone (Saturday, as Quartz reads it), `6L` (the last Friday of the month),
//!   `6#3` (the third Friday);
//! - year 1970..=9999 (Quartz stops at 2099, the `cron` crate at 2100);
//! - the `cron` crate's `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`.
//!
//! Both day fields must match, as in the `cron` crate (Quartz itself refuses a line that
//! restricts both; write `?` in one). Fire times come from the `cron` trigger's search, so
//! daylight saving time follows APScheduler's rules, where Quartz and the `cron` crate differ:
//! a wall time that a spring-forward gap skips fires at the same offset after the gap
//! (02:30 → 03:30) instead of never; in a repeated hour, a time fires once, at its first
//! occurrence.

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
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
];
const DOW_NAMES: &[(&str, u32)] = &[
    ("sun", 1),
    ("mon", 2),
    ("tue", 3),
    ("wed", 4),
    ("thu", 5),
    ("fri", 6),
    ("sat", 7),
    ("sunday", 1),
    ("monday", 2),
    ("tues", 3),
    ("tuesday", 3),
    ("wednesday", 4),
    ("thurs", 5),
    ("thursday", 5),
    ("friday", 6),
    ("saturday", 7),
];

const MONTH: FieldDef = FieldDef {
    name: "month",
    min: 1,
    max: 12,
    names: MONTH_NAMES,
};
const WEEKDAY: FieldDef = FieldDef {
    name: "day of week",
    min: 1,
    max: 7,
    names: DOW_NAMES,
};
const YEAR: FieldDef = FieldDef {
    name: "year",
    min: 1970,
    max: 9999,
    names: &[],
};
const DEFS: LineDefs = LineDefs {
    second: &SECOND,
    minute: &MINUTE,
    hour: &HOUR,
    day: &DAY,
    month: &MONTH,
    weekday: &WEEKDAY,
};

/// The keyword form of a quartz trigger:
/// `{"type": "quartz", "expr": "0 0 9 ? * MON-FRI"}`.
///
/// ```
/// use scheduler_core::trigger::QuartzSpec;
/// let trigger = QuartzSpec::new("0 0 9 ? * MON-FRI").timezone("Asia/Shanghai").build()?;
/// assert_eq!(trigger.to_string(), "quartz['0 0 9 ? * MON-FRI']");
/// assert_eq!(trigger.describe(), "at 09:00, Monday to Friday");
/// # Ok::<(), scheduler_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuartzSpec {
    /// The expression: 6 or 7 fields (seconds first, optional year) or an alias (`@daily`).
    pub expr: String,
    /// Earliest fire time (inclusive); a date string, naive ones in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Latest fire time (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// IANA zone the expression is read in; defaults to the scheduler's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Maximum random delay added to each fire time, in seconds (applied by the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

impl QuartzSpec {
    /// A spec for the Quartz expression `expr`.
    pub fn new(expr: impl Into<String>) -> Self {
        QuartzSpec {
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

    /// Validates the expression and builds the trigger.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the field and value
    /// (`expr: day of week: value 0 in '0' is out of range 1..=7 ...`), and saying so when the
    /// expression looks like another dialect (five fields: cron(8), use `crontab`).
    pub fn build(self) -> Result<QuartzTrigger> {
        QuartzTrigger::try_from(self)
    }
}

/// A compiled quartz trigger. Build it from a [`QuartzSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "QuartzSpec", into = "QuartzSpec")]
pub struct QuartzTrigger {
    data: Arc<QuartzData>,
}

#[derive(Debug, Clone, PartialEq)]
struct QuartzData {
    spec: QuartzSpec,
    /// One cron trigger, or several or'ed (each `6L` / `6#3` item is one).
    crons: Vec<BuiltinTrigger>,
}

/// The `cron` crate's aliases, as Quartz lines.
fn expand_alias(expr: &str) -> Result<&str> {
    if !expr.starts_with('@') {
        return Ok(expr);
    }
    Ok(match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 0 1 1 ?",
        "@monthly" => "0 0 0 1 * ?",
        "@weekly" => "0 0 0 ? * 1",
        "@daily" | "@midnight" => "0 0 0 * * ?",
        "@hourly" => "0 0 * * * ?",
        _ => {
            let hint = if expr.to_ascii_lowercase().starts_with("@every") {
                " (@every is Temporal's form: use type \"crontab\")"
            } else {
                ""
            };
            return Err(Error::invalid(
                "",
                format!(
                    "unknown alias '{expr}' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly){hint}"
                ),
            ));
        }
    })
}

/// Reads the expression into a line.
fn parse(expr: &str) -> Result<Line> {
    let text = expand_alias(expr.trim())?;
    let all: Vec<&str> = text.split_whitespace().collect();
    if all.len() != 6 && all.len() != 7 {
        let hint = if all.len() == 5 {
            " (5 fields: this looks like a cron(8) line; use type \"crontab\", or put the seconds first)"
        } else {
            ""
        };
        return Err(Error::invalid(
            "",
            format!(
                "expected 6 fields (second minute hour day-of-month month day-of-week) or 7 (and year), got {} in '{expr}'{hint}",
                all.len()
            ),
        ));
    }
    Ok(Line {
        dialect: Dialect::Quartz,
        second: Some(parse_field(&SECOND, all[0], true)?),
        minute: parse_field(&MINUTE, all[1], true)?,
        hour: parse_field(&HOUR, all[2], true)?,
        day: day_of_month(all[3])?,
        month: parse_field(&MONTH, all[4], true)?,
        weekday: day_of_week(all[5])?,
        year: all
            .get(6)
            .map(|text| parse_field(&YEAR, text, false))
            .transpose()?,
        day_star: matches!(all[3], "*" | "?"),
        weekday_star: matches!(all[5], "*" | "?"),
    })
}

/// The day of month: `?`, `L`, `L-3`, `15W`, `LW`, `L-3W` and the plain forms.
fn day_of_month(text: &str) -> Result<Vec<Item>> {
    if text == "?" {
        return Ok(vec![Item::All]);
    }
    let mut items = Vec::new();
    for item in text.split(',') {
        let upper = item.to_ascii_uppercase();
        let (body, weekday) = match upper.strip_suffix('W') {
            Some(body) => (body, true),
            None => (upper.as_str(), false),
        };
        if let Some(rest) = body.strip_prefix('L') {
            let n = match rest.strip_prefix('-') {
                None if rest.is_empty() => 0,
                Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
                    match n.parse::<u32>() {
                        Ok(n @ 0..=30) => n,
                        _ => {
                            return Err(Error::invalid(
                                "",
                                format!(
                                    "day of month: '{item}': at most 30 days before the last day (L-30)"
                                ),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(Error::invalid(
                        "",
                        format!(
                            "day of month: unrecognized expression '{item}' (expected L, L-n, LW, L-nW, nW or the plain forms)"
                        ),
                    ));
                }
            };
            items.push(if n == 0 && !weekday {
                Item::LastDay
            } else {
                Item::MonthDay {
                    from_end: true,
                    n,
                    weekday,
                }
            });
        } else if weekday {
            if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
                return Err(Error::invalid(
                    "",
                    format!("day of month: '{item}': W needs a day before it (15W, LW)"),
                ));
            }
            items.push(Item::MonthDay {
                from_end: false,
                n: value(&DAY, body, item)?,
                weekday: true,
            });
        } else {
            items.extend(parse_field(&DAY, item, true)?);
        }
    }
    Ok(items)
}

/// The day of week (1 = Sunday): `?`, `L` (Saturday), `6L`, `6#3` and the plain forms.
fn day_of_week(text: &str) -> Result<Vec<Item>> {
    if text == "?" {
        return Ok(vec![Item::All]);
    }
    let mut items = Vec::new();
    for item in text.split(',') {
        let weekday = |day: &str| {
            value(&WEEKDAY, day, item).map_err(|e| {
                if day == "0" {
                    Error::invalid(
                        "",
                        format!(
                            "day of week: 0 in '{item}' is not a Quartz weekday (1 = Sunday .. 7 = Saturday); for cron(8)'s numbering (0 = Sunday) use type \"crontab\""
                        ),
                    )
                } else {
                    e
                }
            })
        };
        if let Some((day, nth)) = item.split_once('#') {
            let day = weekday(day)?;
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
        } else if item.eq_ignore_ascii_case("L") {
            items.push(Item::Value(7));
        } else if item.len() > 1 && (item.ends_with('L') || item.ends_with('l')) {
            items.push(Item::LastOf(weekday(&item[..item.len() - 1])?));
        } else {
            let single = !item.contains(['-', '/', '*']);
            items.extend(if single {
                vec![Item::Value(weekday(item)?)]
            } else {
                parse_field(&WEEKDAY, item, true)?
            });
        }
    }
    Ok(items)
}

impl TryFrom<QuartzSpec> for QuartzTrigger {
    type Error = Error;

    fn try_from(spec: QuartzSpec) -> Result<QuartzTrigger> {
        let line = parse(&spec.expr).map_err(in_expr)?;
        crate::trigger::Jitter::new(spec.jitter)?;
        let bounds = Bounds {
            start_date: spec.start_date.clone(),
            end_date: spec.end_date.clone(),
            timezone: spec.timezone.clone(),
        };
        let crons = compile(&line, &DEFS, &bounds)?;
        Ok(QuartzTrigger {
            data: Arc::new(QuartzData { spec, crons }),
        })
    }
}

impl From<QuartzTrigger> for QuartzSpec {
    fn from(t: QuartzTrigger) -> QuartzSpec {
        t.data.spec.clone()
    }
}

impl QuartzTrigger {
    /// The zone the expression is read in.
    pub fn timezone(&self) -> &TimeZone {
        use crate::trigger::Trigger;
        self.data.crons[0].timezone()
    }

    /// The keyword form this trigger was built from.
    pub fn spec(&self) -> &QuartzSpec {
        &self.data.spec
    }

    /// Maximum random delay per fire time (applied by the scheduler).
    pub fn jitter(&self) -> Option<Duration> {
        crate::trigger::Jitter::new(self.data.spec.jitter)
            .ok()
            .and_then(|j| j.duration())
    }

    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        if self.data.spec.timezone.is_none() {
            let data = Arc::make_mut(&mut self.data);
            for c in &mut data.crons {
                c.set_default_timezone(tz);
            }
        }
    }

    /// The expression in plain words, without the zone: `at 09:00, Monday to Friday`.
    pub fn describe(&self) -> String {
        parse(&self.data.spec.expr)
            .map(|line| describe(&line))
            .unwrap_or_default()
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        match &self.data.crons[..] {
            [BuiltinTrigger::Cron(cron)] => cron.next_fire(prev, now),
            crons => earliest(crons, prev, now),
        }
    }
}

impl fmt::Display for QuartzTrigger {
    /// `quartz['0 0 9 ? * MON-FRI']`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quartz['{}']", self.data.spec.expr.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(expr: &str) -> String {
        QuartzSpec::new(expr)
            .build()
            .unwrap_err()
            .message()
            .to_owned()
    }

    /// Fire times after 2026-01-01 00:00 UTC (a Thursday), in UTC.
    fn fires(expr: &str, n: usize) -> Vec<String> {
        let t: BuiltinTrigger = QuartzSpec::new(expr)
            .timezone("UTC")
            .build()
            .unwrap()
            .into();
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
    fn quartz_rules() {
        // 1 = Sunday: 2-6 is Monday to Friday.
        assert_eq!(
            fires("0 0 9 ? * 2-6", 2),
            ["2026-01-01 Thu 09:00:00", "2026-01-02 Fri 09:00:00"]
        );
        assert_eq!(
            fires("0 0 9 ? * MON-FRI 2027", 1),
            ["2027-01-01 Fri 09:00:00"]
        );
        // a/n starts at a; ranges wrap.
        assert_eq!(
            fires("10/20 0 0 * * ?", 3),
            [
                "2026-01-01 Thu 00:00:10",
                "2026-01-01 Thu 00:00:30",
                "2026-01-01 Thu 00:00:50"
            ]
        );
        assert_eq!(
            fires("0 0 22-2/2 * * ?", 3),
            [
                "2026-01-01 Thu 00:00:00",
                "2026-01-01 Thu 02:00:00",
                "2026-01-01 Thu 22:00:00"
            ]
        );
        assert_eq!(
            fires("0 0 0 ? * FRI-MON", 4),
            [
                "2026-01-02 Fri 00:00:00",
                "2026-01-03 Sat 00:00:00",
                "2026-01-04 Sun 00:00:00",
                "2026-01-05 Mon 00:00:00"
            ]
        );
        // L, L-3, LW, 15W; 6L (the last Friday), 6#3 (the third Friday); L alone in the day
        // of week is Saturday.
        assert_eq!(
            fires("0 0 0 L * ?", 2),
            ["2026-01-31 Sat 00:00:00", "2026-02-28 Sat 00:00:00"]
        );
        assert_eq!(fires("0 0 0 L-3 * ?", 1), ["2026-01-28 Wed 00:00:00"]);
        assert_eq!(
            fires("0 0 0 LW * ?", 2),
            ["2026-01-30 Fri 00:00:00", "2026-02-27 Fri 00:00:00"]
        );
        assert_eq!(fires("0 0 0 15W * ?", 2)[1], "2026-02-16 Mon 00:00:00");
        assert_eq!(fires("0 0 0 ? * 6L", 1), ["2026-01-30 Fri 00:00:00"]);
        assert_eq!(fires("0 0 0 ? * 6#3", 1), ["2026-01-16 Fri 00:00:00"]);
        assert_eq!(fires("0 0 0 ? * L", 1), ["2026-01-03 Sat 00:00:00"]);
        // Both day fields restricted: both must match (the `cron` crate).
        assert_eq!(fires("0 0 0 13 * FRI", 1), ["2026-02-13 Fri 00:00:00"]);
        assert_eq!(fires("@weekly", 1), ["2026-01-04 Sun 00:00:00"]);
    }

    #[test]
    fn errors_name_the_field_and_the_dialect() {
        assert!(err("0 9 * * mon").contains("looks like a cron(8) line; use type \"crontab\""));
        assert!(err("0 0 9 ? * 0").contains("use type \"crontab\""));
        assert!(err("60 0 9 ? * 1").contains("second: value 60"));
        assert!(err("0 0 9 L-31 * ?").contains("at most 30"));
        assert!(err("0 0 9 W * ?").contains("W needs a day"));
        assert!(err("0 0 9 ? * 2#6").contains("1 to 5"));
        assert!(err("0 0 9 1 * 6L").contains("need ? in the day of month"));
        assert!(err("0 0 9 ? * * 2030-2027").contains("reversed"));
        assert!(err("0 0 9 ? * * 1969").contains("out of range 1970..=9999"));
        assert!(err("@every 5m").contains("use type \"crontab\""));
        assert!(err("").starts_with("expr: expected 6 fields"));
    }

    #[test]
    fn display_and_words() {
        let t = QuartzSpec::new("0 */5 * ? * MON-FRI").build().unwrap();
        assert_eq!(t.to_string(), "quartz['0 */5 * ? * MON-FRI']");
        assert_eq!(
            t.describe(),
            "at second 0 of every 5th minute, Monday to Friday"
        );
        let words = |e: &str| QuartzSpec::new(e).build().unwrap().describe();
        assert_eq!(
            words("0 30 9 LW * ? 2027"),
            "at 09:30, on the last weekday of the month, in 2027"
        );
        assert_eq!(
            words("0 0 12 ? JAN-MAR 6#3"),
            "at 12:00, on the 3rd Friday of the month, in January to March"
        );
    }
}
