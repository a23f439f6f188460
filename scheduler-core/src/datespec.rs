//! Date strings inside triggers, read by APScheduler 3's rules (`apscheduler.util.convert_to_datetime`).
//!
//! Accepted forms (APScheduler's `_DATE_REGEX`): `YYYY-MM-DD`, then optionally `[ T]HH:MM:SS`,
//! optionally `.ffffff`, optionally `Z` or `±HH:MM`. One- or two-digit month, day, hour, minute
//! and second are accepted, as APScheduler does.
//!
//! - Without an offset, the string is a wall time in the trigger's zone. A wall time inside a
//!   DST gap moves forward by the size of the gap; a repeated wall time takes its first
//!   occurrence.
//! - With `Z` or `±HH:MM` it is an absolute instant.
//! - As in APScheduler 3, the digits after the point are read as a whole number of
//!   **microseconds**: `10:05:00.5` is 5 µs past 10:05:00, not half a second. Write all six
//!   digits (`10:05:00.500000`) to mean half a second.

use crate::civil::{MICROS, Parts, days_in_month};
use crate::error::{Error, Result};
use crate::tz::{TimeZone, Wall};

/// A date string from a trigger, parsed but not yet placed in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateArg {
    /// Wall-clock microseconds since 1970-01-01 of the written fields.
    wall_micros: i64,
    /// The written UTC offset in seconds, if any.
    offset: Option<i32>,
    /// Whether only a date was written (no time of day).
    pub(crate) date_only: bool,
}

/// A date resolved against a trigger's zone: the instant, and how Python would compare it with
/// the trigger's own datetimes (by wall clock when the zone is the trigger's, else by instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bound {
    /// Unix microseconds.
    pub(crate) utc: i64,
    /// The normalized wall time in the trigger's zone when the string had no offset: Python
    /// compares datetimes that share a `tzinfo` by wall clock, ignoring `fold`.
    pub(crate) same_zone_wall: Option<i64>,
}

impl DateArg {
    /// Parses `text`, naming `field` in errors.
    pub(crate) fn parse(field: &str, text: &str) -> Result<DateArg> {
        let bad = || {
            Error::invalid(
                field,
                format!(
                    "invalid date '{text}' (expected YYYY-MM-DD, YYYY-MM-DD HH:MM:SS[.ffffff] \
                     or YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM])"
                ),
            )
        };
        let mut p = Cursor {
            s: text.as_bytes(),
            i: 0,
        };
        let year = p.digits(4, 4).ok_or_else(bad)?;
        p.expect(b'-').ok_or_else(bad)?;
        let month = p.digits(1, 2).ok_or_else(bad)?;
        p.expect(b'-').ok_or_else(bad)?;
        let day = p.digits(1, 2).ok_or_else(bad)?;
        let (mut hour, mut minute, mut second, mut micro, mut offset) = (0, 0, 0, 0, None);
        let date_only = p.at_end();
        if !date_only {
            if !matches!(p.peek(), Some(b' ' | b'T')) {
                return Err(bad());
            }
            p.i += 1;
            hour = p.digits(1, 2).ok_or_else(bad)?;
            p.expect(b':').ok_or_else(bad)?;
            minute = p.digits(1, 2).ok_or_else(bad)?;
            p.expect(b':').ok_or_else(bad)?;
            second = p.digits(1, 2).ok_or_else(bad)?;
            if p.peek() == Some(b'.') {
                p.i += 1;
                micro = p.digits(1, 6).ok_or_else(bad)?;
            }
            match p.peek() {
                None => {}
                Some(b'Z') => {
                    p.i += 1;
                    offset = Some(0);
                }
                Some(sign @ (b'+' | b'-')) => {
                    p.i += 1;
                    let h = p.digits(2, 2).ok_or_else(bad)?;
                    p.expect(b':').ok_or_else(bad)?;
                    let m = p.digits(2, 2).ok_or_else(bad)?;
                    let secs = i32::try_from(h * 3600 + m * 60).map_err(|_| bad())?;
                    if secs >= 86_400 {
                        return Err(Error::invalid(
                            field,
                            format!(
                                "invalid date '{text}': the UTC offset must be less than 24 hours"
                            ),
                        ));
                    }
                    offset = Some(if sign == b'-' { -secs } else { secs });
                }
                Some(_) => return Err(bad()),
            }
            if !p.at_end() {
                return Err(bad());
            }
        }
        let month = u32::try_from(month).map_err(|_| bad())?;
        let day = u32::try_from(day).map_err(|_| bad())?;
        let year = i64::from(u32::try_from(year).map_err(|_| bad())?);
        if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(Error::invalid(
                field,
                format!("invalid date '{text}': no such day"),
            ));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(Error::invalid(
                field,
                format!("invalid date '{text}': no such time of day"),
            ));
        }
        let (hour, minute, second) = (
            u32::try_from(hour).map_err(|_| bad())?,
            u32::try_from(minute).map_err(|_| bad())?,
            u32::try_from(second).map_err(|_| bad())?,
        );
        let wall_micros = Parts::to_wall(year, month, day, hour, minute, second) * MICROS
            + i64::try_from(micro).map_err(|_| bad())?;
        Ok(DateArg {
            wall_micros,
            offset,
            date_only,
        })
    }

    /// Parses an optional date argument (see [`DateArg::parse`]).
    pub(crate) fn parse_opt(field: &str, text: Option<&str>) -> Result<Option<DateArg>> {
        text.map(|s| DateArg::parse(field, s)).transpose()
    }

    /// Places the date in `tz` (APScheduler's `localize`: `fold = 0`, then normalized).
    pub(crate) fn resolve(&self, tz: &TimeZone) -> Bound {
        match self.offset {
            Some(offset) => {
                let utc = self.wall_micros - i64::from(offset) * MICROS;
                // APScheduler turns `Z` into `timezone.utc`; a trigger in "UTC" shares that object.
                let same_zone_wall = (offset == 0 && tz.name() == "UTC").then_some(utc);
                Bound {
                    utc,
                    same_zone_wall,
                }
            }
            None => {
                let utc = tz.utc_of(Wall {
                    micros: self.wall_micros,
                    fold: false,
                });
                Bound {
                    utc,
                    same_zone_wall: Some(tz.wall_of(utc).micros),
                }
            }
        }
    }

    /// The fixed-offset zone of the written UTC offset, if any: APScheduler's
    /// `convert_to_datetime` keeps it as the datetime's `tzinfo` (`Z` is `UTC`, `+02:00` is
    /// `UTC+02:00`), so the date is shown with the offset it was written with.
    pub(crate) fn offset_zone(&self) -> Option<TimeZone> {
        // `parse` keeps offsets under 24 hours, which `TimeZone::fixed` always accepts.
        self.offset.and_then(|o| TimeZone::fixed(o).ok())
    }

    /// How Flask-APScheduler's job JSON shows this date, the instant `utc` (Unix µs) of it:
    /// `isoformat()` with the written offset, else in the trigger's zone `tz`.
    pub(crate) fn flask_value(&self, utc: i64, tz: &TimeZone) -> serde_json::Value {
        match self.offset_zone() {
            Some(zone) => crate::trigger::flask_time(&zone, Some(utc)),
            None => crate::trigger::flask_time(tz, Some(utc)),
        }
    }

    /// The calendar date written, as days since 1970-01-01 (for date-only fields).
    pub(crate) fn days(&self) -> i64 {
        self.wall_micros.div_euclid(MICROS * crate::civil::DAY)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i == self.s.len()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// Between `min` and `max` ASCII digits (greedy), as an integer.
    fn digits(&mut self, min: usize, max: usize) -> Option<u64> {
        let start = self.i;
        let mut value: u64 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    value = value * 10 + u64::from(c - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_apscheduler_forms() {
        for text in [
            "2026-03-08",
            "2026-3-8",
            "2026-03-08 02:30:00",
            "2026-03-08T02:30:00",
            "2026-03-08T02:30:00.123456",
            "2026-03-08T02:30:00+01:00",
            "2026-03-08T02:30:00Z",
            "2026-03-08 2:3:4.5-07:00",
        ] {
            assert!(DateArg::parse("run_date", text).is_ok(), "{text}");
        }
    }

    #[test]
    fn rejects_bad_dates_naming_the_field() {
        for text in [
            "",
            "2026/08/13 14:00:01",
            "2026-02-29T10:00:00",
            "2026-08-13T25:00:00",
            "2026-08-13T14:00",
            "2026-08-13T14:00:00+0100",
            "2026-08-13T14:00:00 ",
            "not a date",
            "2026-08-13T14:00:00.1234567",
        ] {
            let err = DateArg::parse("run_date", text).unwrap_err();
            assert!(
                err.message().starts_with("run_date: invalid date"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn naive_gap_time_moves_forward() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let bound = DateArg::parse("start_date", "2026-03-08 02:30:00")
            .unwrap()
            .resolve(&ny);
        assert_eq!(bound.utc, Parts::to_wall(2026, 3, 8, 7, 30, 0) * MICROS);
        assert_eq!(
            bound.same_zone_wall,
            Some(Parts::to_wall(2026, 3, 8, 3, 30, 0) * MICROS)
        );
    }

    #[test]
    fn fraction_counts_microseconds_like_apscheduler() {
        let utc = TimeZone::utc();
        let bound = DateArg::parse("start_date", "1970-01-01T00:00:00.5Z")
            .unwrap()
            .resolve(&utc);
        assert_eq!(bound.utc, 5);
    }
}
