//! The `calendarinterval` trigger: APScheduler's `CalendarIntervalTrigger`.
//!
//! Fires every `years`/`months`/`weeks`/`days` at the same wall-clock time (`hour:minute:second`
//! in `timezone`), so a monthly report stays at 09:00 across DST changes. Adding months keeps
//! the day of month; when that day does not exist (the 31st in April) the month is skipped, as
//! APScheduler does. A fire time inside a DST gap is skipped (the next date is tried); a
//! repeated wall time fires at its first occurrence.
//!
//! One deliberate difference from APScheduler 3.11: with no previous fire time, the first fire
//! time is the first one at or after `now` (APScheduler's own documentation says so, but its
//! code returns `start_date` even when it is long past, which makes the scheduler report a
//! missed run for every newly added job).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::civil::{DAY, MICROS, Parts, civil_from_days, days_from_civil, days_in_month};
use crate::datespec::DateArg;
use crate::error::{Error, Result};
use crate::trigger::{FireTime, Jitter, resolve_zone};
use crate::tz::{TimeZone, Wall};

/// Dates the search may step through before concluding the trigger has finished.
const STEP_LIMIT: u32 = 1_000_000;

/// The keyword form of a calendar interval trigger.
///
/// ```
/// use scheduler_core::trigger::CalendarIntervalSpec;
/// let trigger = CalendarIntervalSpec {
///     months: 1, hour: 9, start_date: Some("2026-01-31".into()),
///     timezone: Some("Europe/Paris".into()), ..Default::default()
/// }.build()?;
/// assert_eq!(trigger.to_string(), "calendarinterval[months=1, time='09:00:00']");
/// # Ok::<(), scheduler_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarIntervalSpec {
    /// Years to add each time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub years: u32,
    /// Months to add each time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub months: u32,
    /// Weeks to add each time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weeks: u32,
    /// Days to add each time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub days: u32,
    /// Hour of day to fire at (0..=23), in `timezone`.
    #[serde(default)]
    pub hour: u32,
    /// Minute (0..=59).
    #[serde(default)]
    pub minute: u32,
    /// Second (0..=59).
    #[serde(default)]
    pub second: u32,
    /// First date (`YYYY-MM-DD`); defaults to the day the job is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Last date (`YYYY-MM-DD`, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// IANA zone of the wall-clock time; defaults to the scheduler's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Maximum random delay added to each fire time, in seconds (applied by the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl CalendarIntervalSpec {
    /// Validates the spec and builds the trigger.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when the interval is 0
    /// days long, the time of day is out of range, a date is not `YYYY-MM-DD` or
    /// `end_date` is before `start_date`.
    pub fn build(self) -> Result<CalendarIntervalTrigger> {
        CalendarIntervalTrigger::try_from(self)
    }
}

/// A compiled calendar interval trigger. Build it from a [`CalendarIntervalSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CalendarIntervalSpec", into = "CalendarIntervalSpec")]
pub struct CalendarIntervalTrigger {
    data: Arc<CalendarIntervalData>,
}

impl From<CalendarIntervalData> for CalendarIntervalTrigger {
    fn from(data: CalendarIntervalData) -> Self {
        CalendarIntervalTrigger {
            data: Arc::new(data),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct CalendarIntervalData {
    spec: CalendarIntervalSpec,
    /// Days since 1970-01-01.
    start_day: Option<i64>,
    end_day: Option<i64>,
    /// Seconds after midnight.
    time: i64,
    tz: TimeZone,
    jitter: Jitter,
}

fn date_only(field: &str, text: &str) -> Result<i64> {
    let date = DateArg::parse(field, text)?;
    if !date.date_only {
        return Err(Error::invalid(
            field,
            format!(
                "expected a date (YYYY-MM-DD), got '{text}'; the time of day is set by hour, minute and second"
            ),
        ));
    }
    Ok(date.days())
}

impl TryFrom<CalendarIntervalSpec> for CalendarIntervalTrigger {
    type Error = Error;

    fn try_from(spec: CalendarIntervalSpec) -> Result<CalendarIntervalTrigger> {
        if spec.years == 0 && spec.months == 0 && spec.weeks == 0 && spec.days == 0 {
            return Err(Error::invalid(
                "interval",
                "must be at least 1 day long: give years, months, weeks or days",
            ));
        }
        for (name, value, max) in [
            ("hour", spec.hour, 23),
            ("minute", spec.minute, 59),
            ("second", spec.second, 59),
        ] {
            if value > max {
                return Err(Error::invalid(
                    name,
                    format!("value {value} is out of range 0..={max}"),
                ));
            }
        }
        let tz = resolve_zone(spec.timezone.as_deref())?.unwrap_or_else(TimeZone::utc);
        let start_day = spec
            .start_date
            .as_deref()
            .map(|s| date_only("start_date", s))
            .transpose()?;
        let end_day = spec
            .end_date
            .as_deref()
            .map(|s| date_only("end_date", s))
            .transpose()?;
        if let (Some(start), Some(end)) = (start_day, end_day) {
            if start > end {
                return Err(Error::invalid(
                    "end_date",
                    "cannot be earlier than start_date",
                ));
            }
        }
        let time =
            i64::from(spec.hour) * 3600 + i64::from(spec.minute) * 60 + i64::from(spec.second);
        let jitter = Jitter::new(spec.jitter)?;
        Ok(CalendarIntervalData {
            spec,
            start_day,
            end_day,
            time,
            tz,
            jitter,
        }
        .into())
    }
}

impl From<CalendarIntervalTrigger> for CalendarIntervalSpec {
    fn from(t: CalendarIntervalTrigger) -> CalendarIntervalSpec {
        let mut spec = t.data.spec.clone();
        if spec.start_date.is_none() {
            if let Some(day) = t.data.start_day {
                let (y, m, d) = civil_from_days(day);
                spec.start_date = Some(format!("{y:04}-{m:02}-{d:02}"));
            }
        }
        spec
    }
}

impl CalendarIntervalTrigger {
    /// The zone of the wall-clock time.
    pub fn timezone(&self) -> &TimeZone {
        &self.data.tz
    }

    /// The keyword form this trigger was built from.
    pub fn spec(&self) -> &CalendarIntervalSpec {
        &self.data.spec
    }

    /// Maximum random delay per fire time (applied by the scheduler).
    pub fn jitter(&self) -> Option<Duration> {
        self.data.jitter.duration()
    }

    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        // Only copy shared data when something changes: jobs cloned from one trigger share it.
        if self.data.spec.timezone.is_none() && self.data.tz != *tz {
            Arc::make_mut(&mut self.data).set_default_timezone(tz)
        }
    }

    pub(crate) fn anchor(&mut self, now: i64) {
        if self.data.start_day.is_none() {
            Arc::make_mut(&mut self.data).anchor(now)
        }
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        self.data.next_fire(prev, now)
    }
}

impl CalendarIntervalData {
    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        if self.spec.timezone.is_none() {
            self.tz = tz.clone();
        }
    }

    pub(crate) fn anchor(&mut self, now: i64) {
        if self.start_day.is_none() {
            self.start_day = Some(self.tz.wall_of(now).micros.div_euclid(DAY * MICROS));
        }
    }

    /// The date after `day` (days since 1970-01-01), APScheduler's way: add years and months
    /// keeping the day of month (skipping months that lack it), then weeks and days.
    fn step(&self, day: i64) -> Option<i64> {
        let (mut year, mut month, dom) = civil_from_days(day);
        for _ in 0..10_000 {
            let m = i64::from(month) + i64::from(self.spec.months);
            year += i64::from(self.spec.years) + (m - 1).div_euclid(12);
            month = u32::try_from((m - 1).rem_euclid(12) + 1).ok()?;
            if year > 9999 {
                return None;
            }
            if dom <= days_in_month(year, month) {
                return Some(
                    days_from_civil(year, month, dom)
                        + i64::from(self.spec.days)
                        + 7 * i64::from(self.spec.weeks),
                );
            }
        }
        None
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        let mut day = match prev {
            Some(prev) => self.step(self.tz.wall_of(prev.utc).micros.div_euclid(DAY * MICROS))?,
            None => self
                .start_day
                .unwrap_or_else(|| self.tz.wall_of(now).micros.div_euclid(DAY * MICROS)),
        };
        for _ in 0..STEP_LIMIT {
            if self.end_day.is_some_and(|end| day > end) || day > days_from_civil(9999, 12, 31) {
                return None;
            }
            let wall = (day * DAY + self.time) * MICROS;
            let utc = self.tz.utc_of(Wall {
                micros: wall,
                fold: false,
            });
            let normalized = self.tz.wall_of(utc).micros;
            if normalized != wall {
                // Inside a DST gap: skip this date (APScheduler steps on from the shifted date).
                day = self.step(normalized.div_euclid(DAY * MICROS))?;
            } else if prev.is_none() && utc < now {
                day = self.step(day)?;
            } else {
                return Some(FireTime {
                    utc,
                    wall,
                    zone: self.tz.key(),
                });
            }
        }
        None
    }
}

impl fmt::Display for CalendarIntervalTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.data.fmt(f)
    }
}

impl fmt::Display for CalendarIntervalData {
    /// `calendarinterval[months=1, time='09:00:00']`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("calendarinterval[")?;
        for (name, value) in [
            ("years", self.spec.years),
            ("months", self.spec.months),
            ("weeks", self.spec.weeks),
            ("days", self.spec.days),
        ] {
            if value > 0 {
                write!(f, "{name}={value}, ")?;
            }
        }
        let p = Parts::from_wall(self.time);
        write!(f, "time='{:02}:{:02}:{:02}']", p.hour, p.minute, p.second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_micros(y: i64, mo: u32, d: u32, h: u32) -> i64 {
        Parts::to_wall(y, mo, d, h, 0, 0) * MICROS
    }

    #[test]
    fn month_end_days_skip_short_months() {
        let t = CalendarIntervalSpec {
            months: 1,
            hour: 9,
            start_date: Some("2026-01-31".into()),
            timezone: Some("UTC".into()),
            ..Default::default()
        }
        .build()
        .unwrap();
        let first = t.next_fire(None, utc_micros(2026, 1, 1, 0)).unwrap();
        assert_eq!(first.utc, utc_micros(2026, 1, 31, 9));
        let second = t.next_fire(Some(&first), first.utc).unwrap();
        assert_eq!(second.utc, utc_micros(2026, 3, 31, 9));
    }

    #[test]
    fn gap_dates_are_skipped_and_first_fire_is_not_in_the_past() {
        let t = CalendarIntervalSpec {
            days: 1,
            hour: 2,
            minute: 30,
            start_date: Some("2026-03-07".into()),
            timezone: Some("America/New_York".into()),
            ..Default::default()
        }
        .build()
        .unwrap();
        let first = t.next_fire(None, utc_micros(2026, 3, 7, 12)).unwrap();
        // 2026-03-08 02:30 does not exist in New York: the next fire is 2026-03-09 02:30 EDT.
        assert_eq!(first.utc, utc_micros(2026, 3, 9, 6) + 30 * 60 * MICROS);
    }
}
