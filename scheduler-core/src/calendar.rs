//! Exclusion calendars: named periods in which a job's fire times are skipped (the trigger
//! moves on to its next fire time). Quartz's `HolidayCalendar`, `AnnualCalendar`,
//! `CronCalendar` and `DailyCalendar`; Temporal's `exclude_structured_calendar`.
//!
//! A calendar is judged on a fire time's wall-clock time in the **trigger's zone** (its real
//! UTC offset at that instant, DST included): `"2026-12-25"` excludes the 25th from local
//! midnight to midnight, whatever the zone.
//!
//! Definitions are JSON (or TOML) objects with a `type`:
//!
//! | `type` | fields | excludes |
//! |---|---|---|
//! | `dates` | `dates = ["2026-12-25", …]` | those whole days (Quartz `HolidayCalendar`) |
//! | `annual` | `days = ["12-25", "01-01", …]` | those month-days every year (`AnnualCalendar`) |
//! | `cron` | `expr = "* 0-8 * * mon-fri"` | every minute matching the 5-field crontab expression (`CronCalendar`) |
//! | `daily` | `start = "22:00"`, `end = "06:00"`, `invert = false` | that time-of-day range each day, `[start, end)`, across midnight when `end < start`; with `invert`, everything outside it (`DailyCalendar`) |
//!
//! Each may carry a `description`. A calendar that excludes every instant (a daily range of
//! the whole day, a cron expression matching every minute) is refused: no job could fire.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::trigger::{BuiltinTrigger, CrontabSpec, Trigger};

/// The longest calendar name accepted.
pub const MAX_CALENDAR_NAME_LEN: usize = 191;

/// Fire times skipped at most while looking for one no calendar excludes (a job whose every
/// fire time is excluded, e.g. one firing only on 25 December with a calendar excluding it,
/// would otherwise be searched forever). Past it the job has no next fire time the scheduler
/// can find, and it is paused with an error.
pub const MAX_EXCLUDED_SKIPS: usize = 100_000;

/// One exclusion calendar (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct ExclusionCalendar {
    kind: Kind,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Dates(Vec<NaiveDate>),
    Annual(Vec<(u32, u32)>),
    Cron(String, BuiltinTrigger),
    Daily {
        start: NaiveTime,
        end: NaiveTime,
        invert: bool,
    },
}

impl ExclusionCalendar {
    /// Reads a calendar definition (`{"type": "dates", "dates": [...]}`...).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the field: `type:
    /// expected one of dates, annual, cron, daily`, `dates[1]: '2026-13-01' is not a date
    /// (YYYY-MM-DD)`, `end: must differ from start (a daily range of the whole day would
    /// exclude every fire time)`, an unknown key.
    pub fn from_value(value: Value) -> Result<ExclusionCalendar> {
        let Value::Object(mut map) = value else {
            return Err(Error::invalid(
                "calendar",
                "expected an object with a \"type\" (dates, annual, cron, daily)",
            ));
        };
        let kind = match map.remove("type") {
            Some(Value::String(t)) => t,
            Some(other) => {
                return Err(Error::invalid(
                    "type",
                    format!("expected a string, got {other}"),
                ));
            }
            None => {
                return Err(Error::invalid(
                    "type",
                    "missing (one of dates, annual, cron, daily)",
                ));
            }
        };
        let description = match map.remove("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => Some(d),
            Some(other) => {
                return Err(Error::invalid(
                    "description",
                    format!("expected a string, got {other}"),
                ));
            }
        };
        let kind = match kind.as_str() {
            "dates" => {
                let dates = strings(&mut map, "dates")?
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                            Error::invalid(
                                &format!("dates[{i}]"),
                                format!("'{s}' is not a date (YYYY-MM-DD)"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut dates = dates;
                dates.sort_unstable();
                dates.dedup();
                Kind::Dates(dates)
            }
            "annual" => {
                let days = strings(&mut map, "days")?
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        month_day(&s).map_err(|e| Error::invalid(&format!("days[{i}]"), e))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut days = days;
                days.sort_unstable();
                days.dedup();
                if days.len() >= 366 {
                    return Err(Error::invalid(
                        "days",
                        "lists every day of the year: the calendar would exclude every fire time",
                    ));
                }
                Kind::Annual(days)
            }
            "cron" => {
                let expr = match map.remove("expr") {
                    Some(Value::String(e)) => e,
                    Some(other) => {
                        return Err(Error::invalid(
                            "expr",
                            format!("expected a crontab expression string, got {other}"),
                        ));
                    }
                    None => {
                        return Err(Error::invalid(
                            "expr",
                            "missing (a 5-field crontab expression, e.g. \"* 0-8 * * *\")",
                        ));
                    }
                };
                // Minutes, on wall-clock time: five fields or an alias, not the crontab
                // trigger's seconds, @every or zone forms.
                let line = expr.trim();
                let five = line.split_whitespace().count() == 5 && !line.contains("TZ=");
                let alias = line.starts_with('@') && !line.starts_with("@every");
                if !(five || alias) {
                    return Err(Error::invalid(
                        "expr",
                        format!(
                            "'{expr}': a calendar's crontab line has 5 fields (minute hour day-of-month month day-of-week) or is an alias such as @daily"
                        ),
                    ));
                }
                // Judged on wall-clock time: the expression runs in UTC on local wall times.
                let mut spec = CrontabSpec::new(expr.clone());
                spec.timezone = Some("UTC".to_owned());
                let cron = BuiltinTrigger::Crontab(spec.build().map_err(|e| e.in_field("expr"))?);
                if matches_every_minute(&cron) {
                    return Err(Error::invalid(
                        "expr",
                        format!(
                            "'{expr}' matches every minute: the calendar would exclude every fire time"
                        ),
                    ));
                }
                Kind::Cron(expr, cron)
            }
            "daily" => {
                let start = time_of_day(&mut map, "start")?;
                let end = time_of_day(&mut map, "end")?;
                let invert = match map.remove("invert") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => b,
                    Some(other) => {
                        return Err(Error::invalid(
                            "invert",
                            format!("expected true or false, got {other}"),
                        ));
                    }
                };
                if start == end {
                    return Err(Error::invalid(
                        "end",
                        "must differ from start (a daily range of the whole day, or of none, would exclude every fire time or none)",
                    ));
                }
                Kind::Daily { start, end, invert }
            }
            other => {
                return Err(Error::invalid(
                    "type",
                    format!(
                        "'{other}' is not a calendar type; expected one of dates, annual, cron, daily"
                    ),
                ));
            }
        };
        if let Some(key) = map.keys().next() {
            return Err(Error::invalid(
                key,
                format!("is not a field of a '{}' calendar", kind_name(&kind)),
            ));
        }
        Ok(ExclusionCalendar { kind, description })
    }

    /// The definition as JSON (what [`ExclusionCalendar::from_value`] reads back).
    pub fn to_value(&self) -> Value {
        let mut out = match &self.kind {
            Kind::Dates(dates) => json!({
                "type": "dates",
                "dates": dates.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect::<Vec<_>>(),
            }),
            Kind::Annual(days) => json!({
                "type": "annual",
                "days": days.iter().map(|(m, d)| format!("{m:02}-{d:02}")).collect::<Vec<_>>(),
            }),
            Kind::Cron(expr, _) => json!({"type": "cron", "expr": expr}),
            Kind::Daily { start, end, invert } => json!({
                "type": "daily",
                "start": start.format("%H:%M:%S").to_string(),
                "end": end.format("%H:%M:%S").to_string(),
                "invert": invert,
            }),
        };
        if let (Some(d), Some(map)) = (&self.description, out.as_object_mut()) {
            map.insert("description".into(), Value::String(d.clone()));
        }
        out
    }

    /// Whether the wall-clock time `local` falls in an excluded period.
    pub fn excludes_local(&self, local: NaiveDateTime) -> bool {
        match &self.kind {
            Kind::Dates(dates) => dates.binary_search(&local.date()).is_ok(),
            Kind::Annual(days) => days.binary_search(&(local.month(), local.day())).is_ok(),
            Kind::Cron(_, cron) => {
                let minute = local
                    .with_second(0)
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(local)
                    .and_utc();
                cron.next_fire_time(None, minute) == Some(minute)
            }
            Kind::Daily { start, end, invert } => {
                let t = local.time();
                let inside = if start < end {
                    *start <= t && t < *end
                } else {
                    t >= *start || t < *end
                };
                inside != *invert
            }
        }
    }

    /// If the wall-clock time `local` is excluded, when (wall-clock) the excluded period
    /// holding it ends: the first time after it that this calendar does not exclude.
    pub fn excluded_until_local(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        if !self.excludes_local(local) {
            return None;
        }
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
        let next_day = local.date().succ_opt().unwrap_or(local.date());
        Some(match &self.kind {
            Kind::Dates(_) | Kind::Annual(_) => midnight(next_day),
            Kind::Daily { start, end, invert } => {
                let t = local.time();
                let (today, tomorrow) = (local.date(), next_day);
                match (*invert, start < end) {
                    // Excluded inside [start, end).
                    (false, true) => today.and_time(*end),
                    (false, false) if t >= *start => tomorrow.and_time(*end),
                    (false, false) => today.and_time(*end),
                    // Excluded outside [start, end).
                    (true, true) if t < *start => today.and_time(*start),
                    (true, true) => tomorrow.and_time(*start),
                    (true, false) => today.and_time(*start),
                }
            }
            Kind::Cron(..) => {
                let mut minute = local
                    .with_second(0)
                    .and_then(|t| t.with_nanosecond(0))
                    .unwrap_or(local);
                // At most ~417 days of matching minutes in a row; past that, the period is
                // taken to have no end (the job then has no next fire time): the work is
                // bounded (well under a second).
                for _ in 0..600_000 {
                    minute += chrono::Duration::minutes(1);
                    if !self.excludes_local(minute) {
                        return Some(minute);
                    }
                }
                return Some(NaiveDateTime::MAX);
            }
        })
    }

    /// Whether the instant `at` is excluded, judged in `trigger`'s zone.
    pub fn excludes(&self, trigger: &BuiltinTrigger, at: DateTime<Utc>) -> bool {
        self.excludes_local(trigger.localize(at).naive_local())
    }
}

impl fmt::Display for ExclusionCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_value().to_string())
    }
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Dates(_) => "dates",
        Kind::Annual(_) => "annual",
        Kind::Cron(..) => "cron",
        Kind::Daily { .. } => "daily",
    }
}

fn strings(map: &mut Map<String, Value>, key: &str) -> Result<Vec<String>> {
    match map.remove(key) {
        Some(Value::Array(items)) if !items.is_empty() => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(Error::invalid(
                    &format!("{key}[{i}]"),
                    format!("expected a string, got {other}"),
                )),
            })
            .collect(),
        Some(Value::Array(_)) => Err(Error::invalid(key, "must list at least one day")),
        Some(other) => Err(Error::invalid(
            key,
            format!("expected a list of strings, got {other}"),
        )),
        None => Err(Error::invalid(key, "missing")),
    }
}

fn month_day(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("'{s}' is not a month-day (MM-DD, e.g. \"12-25\")");
    let (m, d) = s.trim().split_once('-').ok_or_else(bad)?;
    let (m, d): (u32, u32) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    // 2000 is a leap year: 02-29 is a valid month-day.
    NaiveDate::from_ymd_opt(2000, m, d).ok_or_else(bad)?;
    Ok((m, d))
}

fn time_of_day(map: &mut Map<String, Value>, key: &str) -> Result<NaiveTime> {
    let text = match map.remove(key) {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(Error::invalid(
                key,
                format!("expected a time of day such as \"22:00\", got {other}"),
            ));
        }
        None => {
            return Err(Error::invalid(
                key,
                "missing (a time of day such as \"22:00\")",
            ));
        }
    };
    let t = text.trim();
    if t == "24:00" || t == "24:00:00" {
        return Ok(NaiveTime::MIN); // the end of the day is the next midnight
    }
    NaiveTime::parse_from_str(t, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
        .map_err(|_| {
            Error::invalid(
                key,
                format!("'{text}' is not a time of day (HH:MM or HH:MM:SS)"),
            )
        })
}

/// Whether a crontab (in UTC, on wall times) matches, as far as a sample tells, every minute:
/// every minute of one day, and one minute (a different one each time) of each day of four
/// years. A calendar matching all of them would leave a job no fire time.
fn matches_every_minute(cron: &BuiltinTrigger) -> bool {
    let base = NaiveDate::from_ymd_opt(2028, 1, 1)
        .unwrap_or_default()
        .and_time(NaiveTime::MIN);
    let matches = |t: NaiveDateTime| {
        let at = t.and_utc();
        cron.next_fire_time(None, at) == Some(at)
    };
    let day = (0..1440).map(|m| base + chrono::Duration::minutes(m));
    let years = (0..1461i64).map(|d| {
        base + chrono::Duration::days(d)
            + chrono::Duration::hours((d * 5) % 24)
            + chrono::Duration::minutes((d * 7) % 60)
    });
    day.chain(years).all(matches)
}

/// Named calendars, as a scheduler knows them: shared cheaply, read on every fire-time
/// computation of a job that names any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calendars(Arc<BTreeMap<String, Arc<ExclusionCalendar>>>);

impl Calendars {
    /// A set of calendars.
    pub fn new(calendars: BTreeMap<String, Arc<ExclusionCalendar>>) -> Self {
        Calendars(Arc::new(calendars))
    }

    /// The calendar named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<ExclusionCalendar>> {
        self.0.get(name)
    }

    /// The calendars by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<ExclusionCalendar>)> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// If any of `names` excludes `at` (judged in `trigger`'s zone), the instant at which the
    /// excluded periods holding it end (strictly after `at`); `None` when `at` is not excluded.
    /// Unknown names exclude nothing.
    pub fn excluded_until(
        &self,
        names: &[Arc<str>],
        trigger: &BuiltinTrigger,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if names.is_empty() {
            return None;
        }
        let calendars: Vec<&ExclusionCalendar> = names
            .iter()
            .filter_map(|n| self.0.get(&**n))
            .map(|c| &**c)
            .collect();
        let start = trigger.localize(at).naive_local();
        let mut local = start;
        let mut moved = false;
        // Periods of several calendars may chain (a holiday, then a night).
        for _ in 0..1000 {
            match calendars.iter().find_map(|c| c.excluded_until_local(local)) {
                Some(until) if until > local => {
                    local = until;
                    moved = true;
                    if local == NaiveDateTime::MAX {
                        break; // no end
                    }
                }
                _ => break,
            }
        }
        if !moved {
            return None;
        }
        if local == NaiveDateTime::MAX {
            return Some(DateTime::<Utc>::MAX_UTC);
        }
        // Back to an instant: of a wall time that occurs twice or not at all (DST), the earlier
        // reading, so no fire time that is allowed is passed over.
        let zone = trigger.timezone();
        let micros = local.and_utc().timestamp_micros();
        let earlier = [false, true]
            .into_iter()
            .map(|fold| zone.utc_of(crate::tz::Wall { micros, fold }))
            .min()
            .unwrap_or(micros);
        let until = DateTime::from_timestamp_micros(earlier).unwrap_or(at);
        Some(until.max(at + chrono::Duration::microseconds(1)))
    }

    /// Whether any of `names` excludes `at` (judged in `trigger`'s zone). Unknown names
    /// exclude nothing.
    pub fn excluded(
        &self,
        names: &[Arc<str>],
        trigger: &BuiltinTrigger,
        at: DateTime<Utc>,
    ) -> bool {
        if names.is_empty() {
            return false;
        }
        let local = trigger.localize(at).naive_local();
        names
            .iter()
            .filter_map(|n| self.0.get(&**n))
            .any(|c| c.excludes_local(local))
    }
}

/// The fire times of `trigger` from `after` on (as [`BuiltinTrigger::fire_times`]) that none
/// of the calendars `names` excludes: what `rsched next --calendar` and the API's preview show.
/// It ends when the trigger does, or after [`MAX_EXCLUDED_SKIPS`] excluded periods in a row.
pub fn allowed_fire_times<'a>(
    trigger: &'a BuiltinTrigger,
    names: &'a [Arc<str>],
    calendars: &'a Calendars,
    after: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + 'a {
    let mut next = trigger.next_fire_time(None, after);
    std::iter::from_fn(move || {
        let mut skips = 0;
        loop {
            let fire = next?;
            match calendars.excluded_until(names, trigger, fire) {
                None => {
                    next = trigger.next_fire_time(Some(fire), fire);
                    return Some(fire);
                }
                Some(until) => {
                    skips += 1;
                    if skips >= MAX_EXCLUDED_SKIPS {
                        return None;
                    }
                    next = after_excluded(trigger, fire, until);
                }
            }
        }
    })
}

/// The trigger's first fire time at or after `until`, the end of an excluded period holding
/// `fire`: `next_fire_time(None, until)`, except for triggers that answer that with a time
/// before it (a date trigger's `run_date`, inside an `or`): then the next after `fire`.
/// `None` when the trigger has no fire time after `fire`.
pub(crate) fn after_excluded(
    trigger: &BuiltinTrigger,
    fire: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if until == DateTime::<Utc>::MAX_UTC {
        return None;
    }
    match trigger.next_fire_time(None, until) {
        Some(next) if next >= until => Some(next),
        _ => trigger
            .next_fire_time(Some(fire), until)
            .filter(|next| *next > fire),
    }
}

/// Checks a calendar name: non-empty, at most [`MAX_CALENDAR_NAME_LEN`] characters, no
/// control characters nor `/` (it is a path segment of the API).
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the problem.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("calendar", "the name must not be empty"));
    }
    if name.chars().count() > MAX_CALENDAR_NAME_LEN {
        return Err(Error::invalid(
            "calendar",
            format!("the name is longer than {MAX_CALENDAR_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(|c| c.is_control() || c == '/') {
        return Err(Error::invalid(
            "calendar",
            format!("the name {name:?} has a control character or '/'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn cal(v: Value) -> ExclusionCalendar {
        ExclusionCalendar::from_value(v).unwrap()
    }

    fn err(v: Value) -> String {
        ExclusionCalendar::from_value(v)
            .unwrap_err()
            .message()
            .to_owned()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn each_kind_excludes_its_periods() {
        let dates = cal(json!({"type": "dates", "dates": ["2026-12-25", "2027-01-01"]}));
        assert!(dates.excludes_local(local("2026-12-25 00:00:00")));
        assert!(dates.excludes_local(local("2026-12-25 23:59:59")));
        assert!(!dates.excludes_local(local("2026-12-26 00:00:00")));
        let annual = cal(json!({"type": "annual", "days": ["12-25", "02-29"]}));
        assert!(annual.excludes_local(local("2031-12-25 09:00:00")));
        assert!(annual.excludes_local(local("2028-02-29 09:00:00")));
        assert!(!annual.excludes_local(local("2031-12-24 09:00:00")));
        let cron = cal(json!({"type": "cron", "expr": "* 0-8 * * mon-fri"}));
        assert!(cron.excludes_local(local("2026-12-01 08:59:30"))); // a Tuesday
        assert!(!cron.excludes_local(local("2026-12-01 09:00:00")));
        assert!(!cron.excludes_local(local("2026-12-05 03:00:00"))); // a Saturday
        let night = cal(json!({"type": "daily", "start": "22:00", "end": "06:00"}));
        assert!(night.excludes_local(local("2026-12-01 23:00:00")));
        assert!(night.excludes_local(local("2026-12-01 05:59:59")));
        assert!(!night.excludes_local(local("2026-12-01 06:00:00")));
        let office =
            cal(json!({"type": "daily", "start": "09:00", "end": "17:00", "invert": true}));
        assert!(office.excludes_local(local("2026-12-01 08:00:00")));
        assert!(!office.excludes_local(local("2026-12-01 12:00:00")));
    }

    #[test]
    fn definitions_round_trip() {
        for v in [
            json!({"type": "dates", "dates": ["2026-12-25"], "description": "Christmas"}),
            json!({"type": "annual", "days": ["01-01"]}),
            json!({"type": "cron", "expr": "* 0-8 * * *"}),
            json!({"type": "daily", "start": "22:00:00", "end": "06:00:00", "invert": false}),
        ] {
            assert_eq!(cal(v.clone()).to_value(), v);
        }
    }

    #[test]
    fn bad_definitions_name_the_field() {
        assert!(err(json!({"dates": []})).starts_with("type: missing"));
        assert!(err(json!({"type": "weekly"})).starts_with("type: 'weekly' is not"));
        assert!(err(json!({"type": "dates", "dates": ["2026-13-01"]})).starts_with("dates[0]:"));
        assert!(err(json!({"type": "dates", "dates": []})).starts_with("dates:"));
        assert!(err(json!({"type": "annual", "days": ["02-30"]})).starts_with("days[0]:"));
        let every_day: Vec<String> = (1..=12)
            .flat_map(|m: u32| {
                let len = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m as usize - 1];
                (1..=len).map(move |d| format!("{m:02}-{d:02}"))
            })
            .collect();
        assert!(
            err(json!({"type": "annual", "days": every_day})).contains("every day of the year")
        );
        assert!(err(json!({"type": "cron", "expr": "* * *"})).starts_with("expr"));
        assert!(err(json!({"type": "cron", "expr": "* * * * *"})).contains("every minute"));
        for expr in [
            "0-59 * * * *",
            "* 0-23 * * *",
            "* * * * 0-6",
            "*/1 * 1-31 * *",
        ] {
            assert!(
                err(json!({"type": "cron", "expr": expr})).contains("every minute"),
                "{expr}"
            );
        }
        // Almost everything is fine: all but minute 59, all but the 31st.
        cal(json!({"type": "cron", "expr": "0-58 * * * *"}));
        cal(json!({"type": "cron", "expr": "* * 1-30 * *"}));
        assert!(
            err(json!({"type": "daily", "start": "00:00", "end": "24:00"})).starts_with("end:")
        );
        assert!(
            err(json!({"type": "daily", "start": "25:00", "end": "01:00"})).starts_with("start:")
        );
        assert!(
            err(json!({"type": "dates", "dates": ["2026-12-25"], "extra": 1}))
                .starts_with("extra:")
        );
    }

    #[test]
    fn calendars_are_judged_in_the_triggers_zone_across_dst() {
        // 09:00 every day in New York; DST starts on 2027-03-14.
        let trigger: BuiltinTrigger = CrontabSpec::new("0 9 * * *")
            .timezone("America/New_York")
            .build()
            .unwrap()
            .into();
        let set = Calendars::new(BTreeMap::from([(
            "dst-day".to_owned(),
            Arc::new(cal(json!({"type": "dates", "dates": ["2027-03-14"]}))),
        )]));
        let names = [Arc::<str>::from("dst-day")];
        // 2027-03-14 09:00 EDT is 13:00 UTC; the day before, 09:00 EST is 14:00 UTC.
        let on = Utc.with_ymd_and_hms(2027, 3, 14, 13, 0, 0).unwrap();
        let before = Utc.with_ymd_and_hms(2027, 3, 13, 14, 0, 0).unwrap();
        assert!(set.excluded(&names, &trigger, on));
        assert!(!set.excluded(&names, &trigger, before));
        // In UTC, 2027-03-14 02:00 is still the 13th in New York.
        let early = Utc.with_ymd_and_hms(2027, 3, 14, 2, 0, 0).unwrap();
        assert!(!set.excluded(&names, &trigger, early));
        assert!(!set.excluded(&[Arc::from("unknown")], &trigger, on));
        // The excluded day ends at local midnight, 04:00 UTC (EDT).
        assert_eq!(
            set.excluded_until(&names, &trigger, on),
            Some(Utc.with_ymd_and_hms(2027, 3, 15, 4, 0, 0).unwrap())
        );
        assert_eq!(set.excluded_until(&names, &trigger, before), None);
    }

    #[test]
    fn long_cron_exclusions_end_and_endless_ones_stop() {
        // January to November excluded: a per-minute trigger's next allowed time is 1 December.
        let trigger: BuiltinTrigger = CrontabSpec::new("* * * * *")
            .timezone("UTC")
            .build()
            .unwrap()
            .into();
        let set = Calendars::new(BTreeMap::from([(
            "most".to_owned(),
            Arc::new(cal(json!({"type": "cron", "expr": "* * * 1-11 *"}))),
        )]));
        let names = [Arc::<str>::from("most")];
        let at = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            set.excluded_until(&names, &trigger, at),
            Some(Utc.with_ymd_and_hms(2027, 12, 1, 0, 0, 0).unwrap())
        );
        let fires: Vec<_> = allowed_fire_times(&trigger, &names, &set, at)
            .take(2)
            .collect();
        assert_eq!(
            fires,
            [
                Utc.with_ymd_and_hms(2027, 12, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2027, 12, 1, 0, 1, 0).unwrap()
            ]
        );
    }

    #[test]
    fn an_or_trigger_with_a_past_date_moves_past_an_exclusion() {
        // or[date 2025-01-01, every day 09:00] with weekends excluded: Saturday's 09:00 is
        // passed over to Monday's, not taken for the end of the trigger.
        let trigger = BuiltinTrigger::from_value(json!({"type": "or", "triggers": [
            {"type": "date", "run_date": "2025-01-01T00:00:00+00:00"},
            {"type": "crontab", "expr": "0 9 * * *", "timezone": "UTC"}
        ]}))
        .unwrap();
        let set = Calendars::new(BTreeMap::from([(
            "weekends".to_owned(),
            Arc::new(cal(json!({"type": "cron", "expr": "* * * * sat,sun"}))),
        )]));
        let names = [Arc::<str>::from("weekends")];
        let saturday = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let until = set.excluded_until(&names, &trigger, saturday).unwrap();
        // One step past Saturday (Sunday, still excluded: the caller goes on), not the end.
        assert_eq!(
            after_excluded(&trigger, saturday, until),
            Some(Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap())
        );
        // A job with that trigger, after Friday's run: Monday, not the end of its trigger.
        let job = crate::JobSpec::new("x")
            .trigger(trigger)
            .calendar("weekends")
            .into_job(&crate::JobDefaults::default())
            .unwrap();
        let friday = Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
        assert_eq!(
            job.next_fire_time(Some(friday), friday, &set),
            Some(Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap())
        );
    }

    #[test]
    fn excluded_periods_end_where_each_kind_says() {
        let until = |c: Value, at: &str| {
            cal(c)
                .excluded_until_local(local(at))
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        };
        let night = json!({"type": "daily", "start": "22:00", "end": "06:00"});
        assert_eq!(
            until(night.clone(), "2026-12-01 23:00:00").as_deref(),
            Some("2026-12-02 06:00:00")
        );
        assert_eq!(
            until(night.clone(), "2026-12-01 01:00:00").as_deref(),
            Some("2026-12-01 06:00:00")
        );
        assert_eq!(until(night, "2026-12-01 12:00:00"), None);
        let office = json!({"type": "daily", "start": "09:00", "end": "17:00", "invert": true});
        assert_eq!(
            until(office.clone(), "2026-12-01 07:00:00").as_deref(),
            Some("2026-12-01 09:00:00")
        );
        assert_eq!(
            until(office, "2026-12-01 18:00:00").as_deref(),
            Some("2026-12-02 09:00:00")
        );
        let cron = json!({"type": "cron", "expr": "* 0-8 * * *"});
        assert_eq!(
            until(cron, "2026-12-01 03:17:20").as_deref(),
            Some("2026-12-01 09:00:00")
        );
        let dates = json!({"type": "dates", "dates": ["2026-12-25"]});
        assert_eq!(
            until(dates, "2026-12-25 10:00:00").as_deref(),
            Some("2026-12-26 00:00:00")
        );
    }
}
