//! The `crontab` trigger: a classic 5-field crontab line that means what cron(8) means.
//!
//! `minute hour day-of-month month day-of-week`, with:
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
//! APScheduler-only forms (`last`, `2nd mon`, `L`, `#`, `?`, `a/n` without a range) are errors.
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
        let line = expand_alias(spec.expr.trim()).map_err(in_expr)?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(Error::invalid(
                "expr",
                format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), got {} in '{}'",
                    parts.len(),
                    spec.expr
                ),
            ));
        }
        let mut values = Vec::with_capacity(5);
        for (def, text) in FIELDS.iter().zip(&parts) {
            values.push(expand(def, text).map_err(in_expr)?);
        }
        // cron(8) weekdays (0 and 7 = Sunday) to APScheduler's (0 = Monday .. 6 = Sunday).
        let mut dow: Vec<u32> = values[4].iter().map(|&d| (d + 6) % 7).collect();
        dow.sort_unstable();
        dow.dedup();
        let list =
            |v: &[u32]| CronValue::Expr(v.iter().map(u32::to_string).collect::<Vec<_>>().join(","));
        let base = CronSpec {
            minute: Some(list(&values[0])),
            hour: Some(list(&values[1])),
            month: Some(list(&values[3])),
            start_date: spec.start_date.clone(),
            end_date: spec.end_date.clone(),
            timezone: spec.timezone.clone(),
            ..CronSpec::default()
        };
        let dom_star = parts[2].starts_with('*');
        let dow_star = parts[4].starts_with('*');
        let build =
            |day: Option<CronValue>, day_of_week: Option<CronValue>| -> Result<BuiltinTrigger> {
                let spec = CronSpec {
                    day,
                    day_of_week,
                    ..base.clone()
                };
                Ok(BuiltinTrigger::Cron(CronTrigger::try_from(spec)?))
            };
        let crons = if dom_star || dow_star {
            vec![build(Some(list(&values[2])), Some(list(&dow)))?]
        } else {
            vec![
                build(Some(list(&values[2])), Some("*".into()))?,
                build(Some("*".into()), Some(list(&dow)))?,
            ]
        };
        crate::trigger::Jitter::new(spec.jitter)?;
        Ok(CrontabData { spec, crons }.into())
    }
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
    fn rejects_non_cron8_forms_with_the_field_named() {
        assert!(err("0 */5 * * * *").starts_with("expr: expected 5 fields"));
        assert!(
            err("59 23 last * *").starts_with("expr: day of month: unrecognized expression 'last'")
        );
        assert!(err("0 0 L * *").starts_with("expr: day of month: unrecognized"));
        assert!(err("0 0 ? * *").starts_with("expr: day of month: unrecognized"));
        assert!(err("0 0 * * 1#2").starts_with("expr: day of week:"));
        assert!(err("@every 5m").starts_with("expr: unknown alias '@every 5m'"));
        assert!(err("5/10 * * * *").contains("a step needs a range"));
        assert_eq!(
            err("0 24 * * *"),
            "expr: hour: value 24 is out of range 0..=23"
        );
        assert!(err("0 0 * * 8").contains("value 8 is out of range 0..=7"));
        assert!(err("0 0 * * fri-mon").contains("reversed"));
        assert!(err("").starts_with("expr: expected 5 fields"));
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
