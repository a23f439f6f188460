//! The `date` trigger: APScheduler 3's `DateTrigger`. Fires once, at `run_date`; the
//! scheduler then removes the job.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::civil::{MICROS, Parts};
use crate::datespec::{Bound, DateArg};
use crate::error::{Error, Result};
use crate::trigger::{FireTime, resolve_zone};
use crate::tz::TimeZone;

/// The keyword form of a date trigger: APScheduler's `DateTrigger(run_date, timezone)`.
///
/// ```
/// use scheduler_core::trigger::DateSpec;
/// let trigger = DateSpec {
///     run_date: Some("2026-08-13 14:00:01".into()),
///     timezone: Some("UTC".into()),
/// }.build()?;
/// assert_eq!(trigger.to_string(), "date[2026-08-13 14:00:01 UTC]");
/// # Ok::<(), scheduler_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateSpec {
    /// When to run; a date string, naive ones in `timezone`. Defaults to the moment the job is
    /// added (run once, now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_date: Option<String>,
    /// IANA zone for a naive `run_date`; defaults to the scheduler's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl DateSpec {
    /// Validates the spec and builds the trigger.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a bad date or zone.
    pub fn build(self) -> Result<DateTrigger> {
        DateTrigger::try_from(self)
    }
}

/// A compiled date trigger. Build it from a [`DateSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DateSpec", into = "DateSpec")]
pub struct DateTrigger {
    data: Arc<DateData>,
}

impl From<DateData> for DateTrigger {
    fn from(data: DateData) -> Self {
        DateTrigger {
            data: Arc::new(data),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct DateData {
    spec: DateSpec,
    run_date: Option<DateArg>,
    tz: TimeZone,
    /// The fixed-offset zone of a `run_date` written with a UTC offset: APScheduler keeps it
    /// (`convert_to_datetime`), and its fire time is that datetime, so it is shown in it.
    offset_zone: Option<TimeZone>,
    bound: Option<Bound>,
    /// Run date fixed by [`DateTrigger::anchor`] when the spec has none (Unix µs).
    anchored: Option<i64>,
}

impl TryFrom<DateSpec> for DateTrigger {
    type Error = Error;

    fn try_from(spec: DateSpec) -> Result<DateTrigger> {
        let tz = resolve_zone(spec.timezone.as_deref())?.unwrap_or_else(TimeZone::utc);
        let run_date = DateArg::parse_opt("run_date", spec.run_date.as_deref())?;
        let bound = run_date.as_ref().map(|d| d.resolve(&tz));
        let offset_zone = run_date.as_ref().and_then(DateArg::offset_zone);
        Ok(DateData {
            spec,
            run_date,
            tz,
            offset_zone,
            bound,
            anchored: None,
        }
        .into())
    }
}

impl From<DateTrigger> for DateSpec {
    fn from(t: DateTrigger) -> DateSpec {
        let mut spec = t.data.spec.clone();
        if spec.run_date.is_none() {
            if let Some(at) = t
                .data
                .anchored
                .and_then(chrono::DateTime::from_timestamp_micros)
            {
                // In the trigger's zone, as APScheduler's `datetime.now(timezone)`: read back,
                // the written offset is the zone's at that instant, so it is shown the same.
                spec.run_date = Some(crate::trigger::isoformat(&crate::trigger::localize(
                    &t.data.tz,
                    at.timestamp_micros(),
                )));
            }
        }
        spec
    }
}

impl DateTrigger {
    /// The zone for a naive `run_date` (and for calendars).
    pub fn timezone(&self) -> &TimeZone {
        &self.data.tz
    }

    /// The zone the fire time is shown in: the fixed offset `run_date` was written with
    /// (`2099-06-15T08:30:00+02:00` is shown in `UTC+02:00`; `Z` in `UTC`), as APScheduler's
    /// `DateTrigger` returns `run_date` with the fixed-offset `tzinfo` `convert_to_datetime`
    /// gave it; else [`DateTrigger::timezone`].
    pub fn display_timezone(&self) -> &TimeZone {
        self.data.offset_zone.as_ref().unwrap_or(&self.data.tz)
    }

    /// The keyword form this trigger was built from.
    pub fn spec(&self) -> &DateSpec {
        &self.data.spec
    }

    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        // Only copy shared data when something changes: jobs cloned from one trigger share it.
        if self.data.spec.timezone.is_none() && self.data.tz != *tz {
            Arc::make_mut(&mut self.data).set_default_timezone(tz)
        }
    }

    pub(crate) fn anchor(&mut self, now: i64) {
        if self.data.run_date.is_none() && self.data.anchored.is_none() {
            Arc::make_mut(&mut self.data).anchor(now)
        }
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        self.data.next_fire(prev, now)
    }
}

impl DateTrigger {
    /// Flask-APScheduler's `trigger_to_dict` for a date: `run_date`, with the UTC offset it was
    /// written with (else in the trigger's zone).
    pub(crate) fn flask_fields(&self, out: &mut Map<String, Value>) {
        let d = &*self.data;
        let at = d.bound.map(|b| b.utc).or(d.anchored);
        out.insert(
            "run_date".into(),
            super::flask_time(self.display_timezone(), at),
        );
    }
}

impl DateData {
    /// Uses `tz` when the spec named no zone.
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        if self.spec.timezone.is_none() {
            self.tz = tz.clone();
            self.bound = self.run_date.as_ref().map(|d| d.resolve(&self.tz));
        }
    }

    pub(crate) fn anchor(&mut self, now: i64) {
        if self.run_date.is_none() && self.anchored.is_none() {
            self.anchored = Some(now);
        }
    }

    /// `run_date` when there is no previous fire time, else `None`.
    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        if prev.is_some() {
            return None;
        }
        let utc = self.bound.map(|b| b.utc).or(self.anchored).unwrap_or(now);
        let mut fire = FireTime::at(utc, &self.tz);
        if self.bound.is_some_and(|b| b.same_zone_wall.is_none()) {
            fire.zone = 0; // a fixed UTC offset: Python compares it by instant
        }
        Some(fire)
    }
}

impl fmt::Display for DateTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.data.fmt(f)
    }
}

impl fmt::Display for DateData {
    /// `date[2026-08-13 14:00:01 UTC]`: APScheduler's `datetime_repr` of the run date.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let utc = self.bound.map(|b| b.utc).or(self.anchored);
        let Some(utc) = utc else {
            return f.write_str("date[now]");
        };
        let secs = utc.div_euclid(MICROS);
        let zone = self.offset_zone.as_ref().unwrap_or(&self.tz);
        let (wall, name) = (
            secs + i64::from(zone.offset_at(secs)),
            zone.abbreviation(secs),
        );
        let p = Parts::from_wall(wall);
        write!(
            f,
            "date[{:04}-{:02}-{:02} {:02}:{:02}:{:02} {name}]",
            p.year, p.month, p.day, p.hour, p.minute, p.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_date(t: &DateTrigger) -> Value {
        let mut out = Map::new();
        t.flask_fields(&mut out);
        out["run_date"].clone()
    }

    #[test]
    fn run_date_keeps_its_offset_and_fires_at_the_same_instant() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        for (text, shown, zone, description) in [
            (
                "2099-06-15T08:30:00+02:00",
                "2099-06-15T08:30:00+02:00",
                "UTC+02:00",
                "date[2099-06-15 08:30:00 UTC+02:00]",
            ),
            (
                "2099-06-15T08:30:00-05:30",
                "2099-06-15T08:30:00-05:30",
                "UTC-05:30",
                "date[2099-06-15 08:30:00 UTC-05:30]",
            ),
            (
                "2099-06-15T08:30:00Z",
                "2099-06-15T08:30:00+00:00",
                "UTC",
                "date[2099-06-15 08:30:00 UTC]",
            ),
            (
                "2099-06-15 08:30:00",
                "2099-06-15T08:30:00+02:00",
                "Europe/Berlin",
                "date[2099-06-15 08:30:00 CEST]",
            ),
        ] {
            let mut t = DateSpec {
                run_date: Some(text.into()),
                timezone: None,
            }
            .build()
            .unwrap();
            let utc_before = t.next_fire(None, 0).map(|f| f.utc);
            t.set_default_timezone(&berlin);
            assert_eq!(run_date(&t), Value::from(shown), "{text}");
            assert_eq!(t.display_timezone().name(), zone, "{text}");
            assert_eq!(t.timezone(), &berlin, "{text}");
            assert_eq!(t.to_string(), description, "{text}");
            if text.contains('T') {
                // An absolute instant: the zone does not move it.
                assert_eq!(t.next_fire(None, 0).map(|f| f.utc), utc_before);
            }
        }
    }

    #[test]
    fn an_implicit_run_date_is_kept_in_the_trigger_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let mut t = DateSpec::default().build().unwrap();
        t.set_default_timezone(&berlin);
        t.anchor(1_781_512_200 * MICROS); // 2026-06-15T08:30:00Z
        assert_eq!(run_date(&t), Value::from("2026-06-15T10:30:00+02:00"));
        let spec = DateSpec::from(t.clone());
        assert_eq!(spec.run_date.as_deref(), Some("2026-06-15T10:30:00+02:00"));
        let mut back = spec.build().unwrap();
        back.set_default_timezone(&berlin);
        assert_eq!(run_date(&back), run_date(&t));
        assert_eq!(
            back.next_fire(None, 0).map(|f| f.utc),
            t.next_fire(None, 0).map(|f| f.utc)
        );
    }
}
