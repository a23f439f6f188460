//! The `interval` trigger: APScheduler 3's `IntervalTrigger`.
//!
//! Fires at `start_date`, then every `interval` of elapsed time (not wall-clock time: across a
//! DST change a 1-day interval fires an hour earlier or later on the wall clock). The arithmetic
//! is APScheduler's, on floating-point Unix timestamps rounded to microseconds as CPython does,
//! so fractional intervals (`seconds = 1.5`) land on the same microsecond.
//!
//! Stricter than APScheduler 3: an interval of length 0 (APScheduler silently uses 1 second) or
//! a negative one is an error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::civil::{MICROS, py_fromtimestamp, py_timestamp};
use crate::datespec::{Bound, DateArg};
use crate::error::{Error, Result};
use crate::trigger::{FireTime, Jitter, resolve_zone};
use crate::tz::TimeZone;

/// The keyword form of an interval trigger: APScheduler's `IntervalTrigger(**kwargs)`.
///
/// ```
/// use scheduler_core::trigger::IntervalSpec;
/// let trigger = IntervalSpec { minutes: Some(5.0), ..Default::default() }.build()?;
/// assert_eq!(trigger.to_string(), "interval[0:05:00]");
/// # Ok::<(), scheduler_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalSpec {
    /// Weeks to wait (may be fractional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weeks: Option<f64>,
    /// Days to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
    /// Hours to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
    /// Minutes to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<f64>,
    /// Seconds to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// First fire time; defaults to one interval after the job is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Latest fire time (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// IANA zone for naive dates and for display; defaults to the scheduler's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Maximum random delay added to each fire time, in seconds (applied by the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

impl IntervalSpec {
    /// Validates the spec and builds the trigger.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a zero, negative or
    /// non-finite interval, a bad date or an unknown zone.
    pub fn build(self) -> Result<IntervalTrigger> {
        IntervalTrigger::try_from(self)
    }
}

/// A compiled interval trigger. Build it from an [`IntervalSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "IntervalSpec", into = "IntervalSpec")]
pub struct IntervalTrigger {
    data: Arc<IntervalData>,
}

impl From<IntervalData> for IntervalTrigger {
    fn from(data: IntervalData) -> Self {
        IntervalTrigger {
            data: Arc::new(data),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct IntervalData {
    spec: IntervalSpec,
    /// The interval in whole microseconds (`timedelta` precision).
    micros: i64,
    start: Option<DateArg>,
    end: Option<DateArg>,
    tz: TimeZone,
    start_bound: Option<Bound>,
    end_bound: Option<Bound>,
    /// Start fixed by [`IntervalTrigger::anchor`] when the spec has none (Unix µs).
    anchored_start: Option<i64>,
    jitter: Jitter,
}

impl TryFrom<IntervalSpec> for IntervalTrigger {
    type Error = Error;

    fn try_from(spec: IntervalSpec) -> Result<IntervalTrigger> {
        const UNITS: [(&str, f64); 5] = [
            ("weeks", 604_800e6),
            ("days", 86_400e6),
            ("hours", 3_600e6),
            ("minutes", 60e6),
            ("seconds", 1e6),
        ];
        let values = [
            spec.weeks,
            spec.days,
            spec.hours,
            spec.minutes,
            spec.seconds,
        ];
        let mut total = 0.0_f64;
        for ((name, unit), value) in UNITS.iter().zip(values) {
            if let Some(v) = value {
                if !v.is_finite() {
                    return Err(Error::invalid(
                        name,
                        format!("must be a finite number, got {v}"),
                    ));
                }
                total += v * unit;
            }
        }
        let total = total.round_ties_even();
        if total <= 0.0 || !total.is_finite() {
            return Err(Error::invalid(
                "interval",
                "must be positive: give weeks, days, hours, minutes or seconds adding up to more than 0",
            ));
        }
        if total > 1e17 {
            return Err(Error::invalid(
                "interval",
                "is too long (at most about 3,000 years)",
            ));
        }
        #[allow(clippy::cast_possible_truncation)] // 0 < total <= 1e17, whole
        let micros = total as i64;
        let tz = resolve_zone(spec.timezone.as_deref())?.unwrap_or_else(TimeZone::utc);
        let start = DateArg::parse_opt("start_date", spec.start_date.as_deref())?;
        let end = DateArg::parse_opt("end_date", spec.end_date.as_deref())?;
        let jitter = Jitter::new(spec.jitter)?;
        let mut trigger = IntervalData {
            spec,
            micros,
            start,
            end,
            tz,
            start_bound: None,
            end_bound: None,
            anchored_start: None,
            jitter,
        };
        trigger.resolve_bounds();
        Ok(trigger.into())
    }
}

impl From<IntervalTrigger> for IntervalSpec {
    fn from(t: IntervalTrigger) -> IntervalSpec {
        let mut spec = t.data.spec.clone();
        if spec.start_date.is_none() {
            if let Some(start) = t
                .data
                .anchored_start
                .and_then(chrono::DateTime::from_timestamp_micros)
            {
                // In the trigger's zone, as APScheduler's `datetime.now(timezone) + interval`:
                // read back, the written offset is the zone's at that instant, so it is shown
                // the same.
                spec.start_date = Some(crate::trigger::isoformat(&crate::trigger::localize(
                    &t.data.tz,
                    start.timestamp_micros(),
                )));
            }
        }
        spec
    }
}

impl IntervalTrigger {
    /// The interval.
    pub fn interval(&self) -> Duration {
        self.data.interval()
    }

    /// The zone for naive dates and display (fire times are shown in it; `start_date` and
    /// `end_date` written with a UTC offset keep theirs).
    pub fn timezone(&self) -> &TimeZone {
        &self.data.tz
    }

    /// The keyword form this trigger was built from.
    pub fn spec(&self) -> &IntervalSpec {
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
        if self.data.start.is_none() && self.data.anchored_start.is_none() {
            Arc::make_mut(&mut self.data).anchor(now)
        }
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        self.data.next_fire(prev, now)
    }
}

impl IntervalData {
    /// The interval.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.micros.unsigned_abs())
    }

    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        if self.spec.timezone.is_none() {
            self.tz = tz.clone();
            self.resolve_bounds();
        }
    }

    pub(crate) fn anchor(&mut self, now: i64) {
        if self.start.is_none() && self.anchored_start.is_none() {
            self.anchored_start = Some(now + self.micros);
        }
    }

    fn resolve_bounds(&mut self) {
        self.start_bound = self.start.as_ref().map(|d| d.resolve(&self.tz));
        self.end_bound = self.end.as_ref().map(|d| d.resolve(&self.tz));
    }

    /// APScheduler's `IntervalTrigger.get_next_fire_time`, `now` in Unix µs.
    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        let start = self
            .start_bound
            .map(|b| b.utc)
            .or(self.anchored_start)
            .unwrap_or(now + self.micros);
        let length = py_timestamp(self.micros);
        let next = match prev {
            Some(prev) => py_timestamp(prev.utc) + length,
            None if start > now => py_timestamp(start),
            None => {
                let start_ts = py_timestamp(start);
                let elapsed = py_timestamp(now) - start_ts;
                start_ts + length * (elapsed / length).ceil()
            }
        };
        if let Some(end) = &self.end_bound {
            if next > py_timestamp(end.utc) {
                return None;
            }
        }
        Some(FireTime::at(py_fromtimestamp(next)?, &self.tz))
    }
}

impl IntervalTrigger {
    /// Flask-APScheduler's `trigger_to_dict` for an interval: `start_date` always, `end_date`
    /// when set (each with the UTC offset it was written with, as APScheduler's
    /// `convert_to_datetime` keeps it, else in the trigger's zone), then the interval re-split
    /// into `weeks, days, hours, minutes, seconds` (only the non-zero parts; seconds keep a
    /// fraction, which Flask-APScheduler drops).
    pub(crate) fn flask_fields(&self, out: &mut Map<String, Value>) {
        let d = &*self.data;
        let start = match (&d.start, d.start_bound) {
            (Some(arg), Some(start)) => arg.flask_value(start.utc, &d.tz),
            _ => super::flask_time(&d.tz, d.anchored_start),
        };
        out.insert("start_date".into(), start);
        if let (Some(arg), Some(end)) = (&d.end, d.end_bound) {
            out.insert("end_date".into(), arg.flask_value(end.utc, &d.tz));
        }
        let secs = d.micros.div_euclid(MICROS);
        let micros = d.micros.rem_euclid(MICROS);
        let parts = [
            ("weeks", secs / 604_800),
            ("days", secs % 604_800 / 86_400),
            ("hours", secs % 86_400 / 3_600),
            ("minutes", secs % 3_600 / 60),
        ];
        for (name, n) in parts {
            if n > 0 {
                out.insert(name.into(), Value::from(n));
            }
        }
        if micros > 0 {
            #[allow(clippy::cast_precision_loss)]
            let s = (secs % 60) as f64 + micros as f64 / 1e6;
            out.insert("seconds".into(), Value::from(s));
        } else if secs % 60 > 0 {
            out.insert("seconds".into(), Value::from(secs % 60));
        }
    }
}

impl fmt::Display for IntervalTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.data.fmt(f)
    }
}

impl fmt::Display for IntervalData {
    /// `interval[0:05:00]`, `interval[1 day, 2:03:04]`: Python's `str(timedelta)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interval[{}]", timedelta_str(self.micros))
    }
}

/// Python's `str(timedelta)` for a non-negative number of microseconds.
pub(crate) fn timedelta_str(micros: i64) -> String {
    let days = micros / (86_400 * MICROS);
    let rest = micros % (86_400 * MICROS);
    let secs = rest / MICROS;
    let us = rest % MICROS;
    let mut out = String::new();
    if days != 0 {
        out.push_str(&format!("{days} day{}, ", if days == 1 { "" } else { "s" }));
    }
    out.push_str(&format!(
        "{}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));
    if us != 0 {
        out.push_str(&format!(".{us:06}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_like_python_timedelta() {
        assert_eq!(timedelta_str(300 * MICROS), "0:05:00");
        assert_eq!(timedelta_str((86_400 + 7384) * MICROS), "1 day, 2:03:04");
        assert_eq!(timedelta_str(14 * 86_400 * MICROS), "14 days, 0:00:00");
        assert_eq!(timedelta_str(1_500_000), "0:00:01.500000");
    }

    #[test]
    fn dates_are_shown_with_the_offset_they_were_written_with() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        let fields = |t: &IntervalTrigger| {
            let mut out = Map::new();
            t.flask_fields(&mut out);
            (out["start_date"].clone(), out.get("end_date").cloned())
        };
        let mut given = IntervalSpec {
            minutes: Some(5.0),
            start_date: Some("2026-01-01T10:00:00-05:30".into()),
            end_date: Some("2026-02-01 00:00:00".into()),
            ..Default::default()
        }
        .build()
        .unwrap();
        given.set_default_timezone(&shanghai);
        assert_eq!(
            fields(&given),
            (
                Value::from("2026-01-01T10:00:00-05:30"),
                Some(Value::from("2026-02-01T00:00:00+08:00"))
            )
        );
        // A start the scheduler filled in is in the trigger's zone, and stays so once stored
        // (its keyword form is what a store keeps).
        let mut implicit = IntervalSpec {
            minutes: Some(5.0),
            ..Default::default()
        }
        .build()
        .unwrap();
        implicit.set_default_timezone(&shanghai);
        implicit.anchor(1_767_225_600 * MICROS); // 2026-01-01T00:00:00Z
        let spec = IntervalSpec::from(implicit.clone());
        assert_eq!(
            spec.start_date.as_deref(),
            Some("2026-01-01T08:05:00+08:00")
        );
        let mut back = spec.build().unwrap();
        back.set_default_timezone(&shanghai);
        assert_eq!(fields(&back), fields(&implicit));
        assert_eq!(fields(&back).0, Value::from("2026-01-01T08:05:00+08:00"));
        assert_eq!(
            back.next_fire(None, 0).map(|f| f.utc),
            implicit.next_fire(None, 0).map(|f| f.utc)
        );
    }

    #[test]
    fn zero_and_negative_intervals_are_errors() {
        for spec in [
            IntervalSpec::default(),
            IntervalSpec {
                seconds: Some(0.0),
                ..Default::default()
            },
            IntervalSpec {
                minutes: Some(-5.0),
                ..Default::default()
            },
            IntervalSpec {
                seconds: Some(0.000_000_1),
                ..Default::default()
            },
        ] {
            let err = spec.build().unwrap_err();
            assert!(
                err.message().starts_with("interval: must be positive"),
                "{err}"
            );
        }
    }
}
