//! The `cron` trigger: APScheduler 3's `CronTrigger`, fire time for fire time.
//!
//! The search is a port of `CronTrigger.get_next_fire_time` (APScheduler 3.11): walk the
//! fields from year to second; when a field has no allowed value left, increment the next more
//! significant field and reset the less significant ones. The two ways of moving the cursor
//! reproduce APScheduler's DST behaviour exactly:
//!
//! - *setting* a field builds the wall time directly (keeping the cursor's `fold`), so a wall
//!   time inside a DST gap can be produced; its instant is read with the pre-transition offset,
//!   so `hour=2, minute=30` fires at 03:30 on a spring-forward night;
//! - *incrementing* a field adds the naive wall-clock difference as elapsed time (UTC), so
//!   `hour='*'` steps from 01:00 straight to 03:00 across a gap and visits 01:00 twice across
//!   a repeated hour.
//!
//! The search ends at year 9999, like APScheduler's, or earlier when the expression provably
//! never matches (a fixed day of month that no allowed month has, or 800 scanned years without a
//! match: the Gregorian calendar repeats every 400 years).

mod field;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::civil::{DAY, MICROS, Parts, days_from_civil, days_in_month};
use crate::datespec::{Bound, DateArg};
use crate::error::{Error, Result};
use crate::trigger::{FireTime, Jitter, resolve_zone};
use crate::tz::{TimeZone, ZoneCursor};

use field::{Field, Kind};

/// Calendar years the search may scan without a match before it concludes there is none.
const YEAR_SCAN_LIMIT: u32 = 800;

/// The value of one cron field as the user wrote it: a number (`"hour": 9`) or an expression
/// string (`"hour": "9-17"`). Kept as written so it serializes back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronValue {
    /// A single number.
    Int(i64),
    /// An expression: `*`, `*/n`, `a`, `a-b`, `a-b/n`, `a/n`, lists, names, `last`, `2nd mon`.
    Expr(String),
}

impl fmt::Display for CronValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CronValue::Int(v) => write!(f, "{v}"),
            CronValue::Expr(s) => f.write_str(s),
        }
    }
}

impl From<&str> for CronValue {
    fn from(s: &str) -> Self {
        CronValue::Expr(s.to_owned())
    }
}

impl From<String> for CronValue {
    fn from(s: String) -> Self {
        CronValue::Expr(s)
    }
}

macro_rules! cron_value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for CronValue {
            fn from(v: $t) -> Self {
                CronValue::Int(i64::from(v))
            }
        }
    )*};
}
cron_value_from_int!(i32, i64, u8, u16, u32);

impl Serialize for CronValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            CronValue::Int(v) => s.serialize_i64(*v),
            CronValue::Expr(e) => s.serialize_str(e),
        }
    }
}

impl<'de> Deserialize<'de> for CronValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = CronValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or a cron expression string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<CronValue, E> {
                Ok(CronValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<CronValue, E> {
                i64::try_from(v)
                    .map(CronValue::Int)
                    .map_err(|_| E::custom(format!("value {v} is out of range")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<CronValue, E> {
                Ok(CronValue::Expr(v.to_owned()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The keyword form of a cron trigger: APScheduler's `CronTrigger(**kwargs)` arguments.
///
/// This is both the JSON shape (`{"type": "cron", "hour": "9-17", "minute": "*/5"}`) and a
/// builder for Rust code:
///
/// ```
/// use scheduler_core::trigger::CronSpec;
/// let trigger = CronSpec::new().day_of_week("mon-fri").hour("9-17").minute("*/5")
///     .timezone("America/New_York").build()?;
/// assert_eq!(trigger.to_string(), "cron[day_of_week='mon-fri', hour='9-17', minute='*/5']");
/// # Ok::<(), scheduler_core::Error>(())
/// ```
///
/// Omitted fields follow APScheduler 3: fields more significant than the most significant
/// given one are `*`; fields less significant than the least significant given one take their
/// minimum (`second` defaults to 0 when `minute` is given). `day_of_week` 0 is Monday.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSpec {
    /// 4-digit year (1970..=9999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<CronValue>,
    /// Month, 1..=12 or `jan`..`dec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<CronValue>,
    /// Day of month, 1..=31, `last`, `last fri`, `1st`..`5th mon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<CronValue>,
    /// ISO week, 1..=53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<CronValue>,
    /// Weekday, 0..=6 with 0 = Monday, or `mon`..`sun`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_week: Option<CronValue>,
    /// Hour, 0..=23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<CronValue>,
    /// Minute, 0..=59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<CronValue>,
    /// Second, 0..=59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<CronValue>,
    /// Earliest fire time (inclusive); a date string, naive ones in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Latest fire time (inclusive); a date string, naive ones in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// IANA zone the fields are matched in; defaults to the scheduler's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Maximum random delay added to each fire time, in seconds (applied by the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

macro_rules! spec_setters {
    ($($field:ident),*) => {$(
        #[doc = concat!("Sets the `", stringify!($field), "` field.")]
        #[must_use]
        pub fn $field(mut self, value: impl Into<CronValue>) -> Self {
            self.$field = Some(value.into());
            self
        }
    )*};
}

impl CronSpec {
    /// An empty spec (every field omitted: fires every second... once you set one, the
    /// defaults above apply).
    pub fn new() -> Self {
        Self::default()
    }

    spec_setters!(year, month, day, week, day_of_week, hour, minute, second);

    /// Sets the time zone by IANA name.
    #[must_use]
    pub fn timezone(mut self, name: impl Into<String>) -> Self {
        self.timezone = Some(name.into());
        self
    }

    /// Sets `start_date` (a date string in APScheduler's formats).
    #[must_use]
    pub fn start_date(mut self, date: impl Into<String>) -> Self {
        self.start_date = Some(date.into());
        self
    }

    /// Sets `end_date` (a date string in APScheduler's formats).
    #[must_use]
    pub fn end_date(mut self, date: impl Into<String>) -> Self {
        self.end_date = Some(date.into());
        self
    }

    /// Validates the spec and compiles the trigger.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the field and the
    /// value: `hour: value 24 is out of range 0..=23`.
    pub fn build(self) -> Result<CronTrigger> {
        CronTrigger::try_from(self)
    }

    fn value(&self, kind: Kind) -> Option<&CronValue> {
        match kind {
            Kind::Year => self.year.as_ref(),
            Kind::Month => self.month.as_ref(),
            Kind::Day => self.day.as_ref(),
            Kind::Week => self.week.as_ref(),
            Kind::DayOfWeek => self.day_of_week.as_ref(),
            Kind::Hour => self.hour.as_ref(),
            Kind::Minute => self.minute.as_ref(),
            Kind::Second => self.second.as_ref(),
        }
    }
}

/// A compiled cron trigger. Build it from a [`CronSpec`] (or deserialize it from JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CronSpec", into = "CronSpec")]
pub struct CronTrigger {
    data: Arc<CronData>,
}

impl From<CronData> for CronTrigger {
    fn from(data: CronData) -> Self {
        CronTrigger {
            data: Arc::new(data),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct CronData {
    spec: CronSpec,
    fields: [Field; 8],
    start: Option<DateArg>,
    end: Option<DateArg>,
    tz: TimeZone,
    start_bound: Option<Bound>,
    end_bound: Option<Bound>,
    jitter: Jitter,
    /// Proven at construction never to match.
    impossible: bool,
    /// Whether moving to another day, month or year lands on that wall time (the `quartz`
    /// trigger, as Quartz and the `cron` crate) instead of adding the wall-clock difference as elapsed time
    /// (APScheduler 3's `_increment_field_value`, which, across a DST change, lands an hour
    /// off and can then pass over the day: `month=1, day=1, hour=0` in Sydney, searched from
    /// May, finds 2028-01-01, not 2027-01-01). Hours, minutes and seconds still move by elapsed
    /// time, so gaps and repeated hours behave as APScheduler's.
    civil: bool,
}

impl TryFrom<CronSpec> for CronTrigger {
    type Error = Error;

    fn try_from(spec: CronSpec) -> Result<CronTrigger> {
        let explicit = resolve_zone(spec.timezone.as_deref())?;
        let start = DateArg::parse_opt("start_date", spec.start_date.as_deref())?;
        let end = DateArg::parse_opt("end_date", spec.end_date.as_deref())?;
        let jitter = Jitter::new(spec.jitter)?;

        // APScheduler 3's defaults: fields after the last given one take their minimum.
        let mut remaining = Kind::ALL
            .iter()
            .filter(|k| spec.value(**k).is_some())
            .count();
        let mut assign_defaults = false;
        let mut fields = Vec::with_capacity(8);
        for kind in Kind::ALL {
            let field = match spec.value(kind) {
                Some(value) => {
                    remaining -= 1;
                    assign_defaults = remaining == 0;
                    Field::parse(kind, &value.to_string(), false)?
                }
                None if assign_defaults => Field::parse(kind, kind.default_expr(), true)?,
                None => Field::parse(kind, "*", true)?,
            };
            fields.push(field);
        }
        let fields: [Field; 8] = fields
            .try_into()
            .unwrap_or_else(|_| unreachable!("one field per kind"));
        let impossible = never_matches(&fields);
        let tz = explicit.unwrap_or_else(TimeZone::utc);
        let mut trigger = CronData {
            spec,
            fields,
            start,
            end,
            start_bound: None,
            end_bound: None,
            tz,
            jitter,
            impossible,
            civil: false,
        };
        trigger.resolve_bounds();
        Ok(trigger.into())
    }
}

impl From<CronTrigger> for CronSpec {
    fn from(t: CronTrigger) -> CronSpec {
        t.data.spec.clone()
    }
}

/// Whether every allowed month is too short for every allowed (fixed) day of month.
fn never_matches(fields: &[Field; 8]) -> bool {
    let Some(min_day) = fields[2].min_fixed_day() else {
        return false;
    };
    let month = &fields[1];
    !(1..=12).any(|m| month.allows(m) && days_in_month(2000, m) >= min_day)
}

/// The cursor of the search: a wall time (whole seconds) with its `fold`.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    wall: i64,
    fold: bool,
    p: Parts,
}

impl Cursor {
    fn new(wall: i64, fold: bool) -> Cursor {
        Cursor {
            wall,
            fold,
            p: Parts::from_wall(wall),
        }
    }

    /// The wall time of the real fields in `values` (indexed like [`Kind::ALL`]), which must
    /// form a valid date; `near` is a cursor whose day count can be reused.
    fn with_fields(near: &Cursor, values: &[u32; 8], fold: bool) -> Cursor {
        let (year, month, day) = (i64::from(values[0]), values[1], values[2]);
        let days = if year == near.p.year && month == near.p.month {
            near.p.days + i64::from(day) - i64::from(near.p.day)
        } else {
            days_from_civil(year, month, day)
        };
        let p = Parts {
            year,
            month,
            day,
            hour: values[5],
            minute: values[6],
            second: values[7],
            days,
        };
        let wall =
            days * DAY + i64::from(p.hour) * 3600 + i64::from(p.minute) * 60 + i64::from(p.second);
        Cursor { wall, fold, p }
    }

    /// The values of the real fields, indexed like [`Kind::ALL`] (week and day of week 0:
    /// [`Cursor::with_fields`] ignores them).
    #[inline]
    fn real_values(&self) -> [u32; 8] {
        let p = &self.p;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // years 1..=9999
        let year = p.year as u32;
        [year, p.month, p.day, 0, 0, p.hour, p.minute, p.second]
    }

    fn from_utc(zone: &mut ZoneCursor<'_>, utc_secs: i64) -> Cursor {
        let (wall, fold) = zone.wall_of_secs(utc_secs);
        Cursor::new(wall, fold)
    }

    /// Unix seconds.
    fn utc(&self, zone: &mut ZoneCursor<'_>) -> i64 {
        zone.utc_of_secs(self.wall, self.fold)
    }
}

impl CronTrigger {
    /// The zone the fields are matched in.
    pub fn timezone(&self) -> &TimeZone {
        &self.data.tz
    }

    /// Whether the spec named a zone (otherwise the scheduler's default applies).
    pub fn has_explicit_timezone(&self) -> bool {
        self.data.spec.timezone.is_some()
    }

    /// The keyword form this trigger was built from.
    pub fn spec(&self) -> &CronSpec {
        &self.data.spec
    }

    /// Maximum random delay per fire time (applied by the scheduler).
    pub fn jitter(&self) -> Option<std::time::Duration> {
        self.data.jitter.duration()
    }

    /// Uses `tz` when the spec named no zone (naive `start_date`/`end_date` are re-read in it).
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        // Only copy shared data when something changes: jobs cloned from one trigger share it.
        if self.data.spec.timezone.is_none() && self.data.tz != *tz {
            Arc::make_mut(&mut self.data).set_default_timezone(tz)
        }
    }

    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        self.data.next_fire(prev, now)
    }

    /// Moves to another day, month or year by wall time (see `CronData::civil`): what cron(8),
    /// Quartz and the Rust peers do.
    pub(crate) fn civil(mut self) -> CronTrigger {
        Arc::make_mut(&mut self.data).civil = true;
        self
    }
}

impl CronData {
    /// Uses `tz` when the spec named no zone (naive `start_date`/`end_date` are re-read in it).
    pub fn set_default_timezone(&mut self, tz: &TimeZone) {
        if self.spec.timezone.is_none() {
            self.tz = tz.clone();
            self.resolve_bounds();
        }
    }

    fn resolve_bounds(&mut self) {
        self.start_bound = self.start.as_ref().map(|d| d.resolve(&self.tz));
        self.end_bound = self.end.as_ref().map(|d| d.resolve(&self.tz));
    }

    /// The next fire time after `prev` (or from `now` on when there is none), exactly as
    /// APScheduler's `get_next_fire_time(previous_fire_time, now)`; `now` in Unix µs.
    pub(crate) fn next_fire(&self, prev: Option<&FireTime>, now: i64) -> Option<FireTime> {
        let tz = &self.tz;
        let zone = &mut ZoneCursor::new(tz);
        let start = match prev {
            Some(prev) => {
                let mut start = now.min(prev.utc + 1);
                // `start_date == previous_fire_time`: by wall clock when both are in this zone.
                let same = if prev.zone == tz.key() {
                    let (wall, _) = zone.wall_of_secs(start.div_euclid(MICROS));
                    wall * MICROS + start.rem_euclid(MICROS) == prev.wall
                } else {
                    start == prev.utc
                };
                if same {
                    start += 1;
                }
                start
            }
            None => self.start_bound.map_or(now, |b| now.max(b.utc)),
        };
        if self.impossible {
            return None;
        }
        // datetime_ceil: round up to a whole second.
        let secs = start.div_euclid(MICROS) + i64::from(start.rem_euclid(MICROS) > 0);
        let mut cur = Cursor::from_utc(zone, secs);
        if cur.p.year > i64::from(Kind::Year.max()) {
            return None; // past the search's end, as APScheduler's year field
        }
        let mut fieldnum: isize = 0;
        let mut year = cur.p.year;
        let mut years_scanned = 0;
        while let Ok(idx) = usize::try_from(fieldnum) {
            let Some(field) = self.fields.get(idx) else {
                break;
            };
            if field.allows_all {
                // Every value matches: APScheduler's loop would move on without change.
                fieldnum += 1;
                continue;
            }
            let curr = field.kind.value(&cur.p);
            match field.next_value(&cur.p) {
                None => (cur, fieldnum) = self.increment(zone, &cur, fieldnum - 1)?,
                Some(next) if next > curr => {
                    if field.kind.is_real() {
                        cur = self.set_field(&cur, idx, next);
                        fieldnum += 1;
                    } else {
                        (cur, fieldnum) = self.increment(zone, &cur, fieldnum)?;
                    }
                }
                Some(_) => fieldnum += 1,
            }
            if let Some(end) = &self.end_bound {
                let past = match end.same_zone_wall {
                    Some(wall) => cur.wall * MICROS > wall,
                    None => cur.utc(zone) * MICROS > end.utc,
                };
                if past {
                    return None;
                }
            }
            if cur.p.year != year {
                year = cur.p.year;
                years_scanned += 1;
                if years_scanned > YEAR_SCAN_LIMIT {
                    return None;
                }
            }
        }
        if fieldnum < 0 {
            return None;
        }
        Some(FireTime {
            utc: cur.utc(zone) * MICROS,
            wall: cur.wall * MICROS,
            zone: tz.key(),
        })
    }

    /// `_increment_field_value`: increments field `fieldnum` (falling back to more significant
    /// fields when it is at its maximum or not a real datetime component), resets the less
    /// significant ones to their minimum, and moves the cursor by the naive difference as
    /// elapsed time. `None` when the search ran past year 9999.
    fn increment(
        &self,
        zone: &mut ZoneCursor<'_>,
        cur: &Cursor,
        mut fieldnum: isize,
    ) -> Option<(Cursor, isize)> {
        // APScheduler's loop walks down from `fieldnum` past fields that are not datetime
        // components or are at their maximum; the first other one is incremented, the ones
        // above it keep their value and the ones below it go to their minimum.
        let now = cur.real_values();
        let field = loop {
            let idx = usize::try_from(fieldnum).ok()?;
            let kind = Kind::ALL[idx];
            if kind.is_real() && now[idx] != kind.max_at(&cur.p) {
                break idx;
            }
            fieldnum -= 1;
        };
        let mut values = now;
        values[field] += 1;
        for (idx, value) in values.iter_mut().enumerate().skip(field + 1) {
            *value = Kind::ALL[idx].min();
        }
        let target = Cursor::with_fields(cur, &values, cur.fold);
        if self.civil && field <= 2 {
            // Another day: its wall time, read with the first offset if repeated.
            return Some((
                Cursor {
                    fold: false,
                    ..target
                },
                fieldnum,
            ));
        }
        let utc = cur.utc(zone) + (target.wall - cur.wall);
        let (wall, fold) = zone.wall_of_secs(utc);
        // Usually no DST change lies between: the wall clock lands exactly on the target.
        let next = if wall == target.wall {
            Cursor { fold, ..target }
        } else {
            Cursor::new(wall, fold)
        };
        Some((next, fieldnum))
    }

    /// `_set_field_value`: sets field `fieldnum` to `value` and the less significant real
    /// fields to their minimum, keeping `fold` and without normalizing the wall time.
    fn set_field(&self, cur: &Cursor, fieldnum: usize, value: u32) -> Cursor {
        let mut values = cur.real_values();
        values[fieldnum] = value;
        for (idx, v) in values.iter_mut().enumerate().skip(fieldnum + 1) {
            *v = Kind::ALL[idx].min();
        }
        Cursor::with_fields(cur, &values, cur.fold)
    }
}

impl CronTrigger {
    /// Flask-APScheduler's `trigger_to_dict` for a cron trigger: `start_date` / `end_date` when
    /// set (with the UTC offset they were written with, else in the trigger's zone), then each
    /// field the user gave, as APScheduler's `str(field)`.
    pub(crate) fn flask_fields(&self, out: &mut Map<String, Value>) {
        let d = &*self.data;
        if let (Some(arg), Some(start)) = (&d.start, d.start_bound) {
            out.insert("start_date".into(), arg.flask_value(start.utc, &d.tz));
        }
        if let (Some(arg), Some(end)) = (&d.end, d.end_bound) {
            out.insert("end_date".into(), arg.flask_value(end.utc, &d.tz));
        }
        for field in d.fields.iter().filter(|f| !f.is_default) {
            out.insert(field.kind.name().into(), Value::String(field.to_string()));
        }
    }
}

impl fmt::Display for CronTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.data.fmt(f)
    }
}

impl fmt::Display for CronData {
    /// APScheduler's `str(trigger)`: `cron[hour='9-17', minute='*/5']`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cron[")?;
        let mut first = true;
        for field in self.fields.iter().filter(|f| !f.is_default) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}='{}'", field.kind.name(), field)?;
        }
        f.write_str("]")
    }
}
