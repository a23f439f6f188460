//! Proleptic Gregorian calendar arithmetic on plain integers, plus the few floating-point
//! helpers that reproduce CPython's `datetime.timestamp()` / `datetime.fromtimestamp()`.
//!
//! Trigger code works on "wall seconds": seconds since 1970-01-01T00:00:00 of a wall clock
//! (a local time read as if it were UTC). Everything here is pure and allocation-free, so the
//! cron search can call it in its inner loop.

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;
/// Microseconds in a second.
pub(crate) const MICROS: i64 = 1_000_000;

/// Days since 1970-01-01 of the given civil date (Howard Hinnant's `days_from_civil`).
pub(crate) const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = month as i64;
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + day as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01 (`civil_from_days`).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // month, day are tiny and positive
pub(crate) const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// Whether `year` is a Gregorian leap year.
pub(crate) const fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days in `month` (1..=12) of `year`.
pub(crate) const fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 => {
            if is_leap(year) {
                29
            } else {
                28
            }
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Weekday of a day count, Monday = 0 .. Sunday = 6 (Python's `date.weekday()`).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // rem_euclid(7) is 0..=6
pub(crate) const fn weekday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday (3).
    (days + 3).rem_euclid(7) as u32
}

/// ISO 8601 week number (1..=53) of a day count (Python's `date.isocalendar()[1]`).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // result is 1..=53
pub(crate) const fn iso_week(days: i64) -> u32 {
    // The ISO week of a date is the week of its Thursday; week 1 holds the year's first Thursday.
    let thursday = days - weekday(days) as i64 + 3;
    let (year, _, _) = civil_from_days(thursday);
    let ordinal = thursday - days_from_civil(year, 1, 1);
    (ordinal / 7 + 1) as u32
}

/// A wall time broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    /// Days since 1970-01-01 (for weekday and ISO week).
    pub(crate) days: i64,
}

impl Parts {
    /// Breaks whole wall seconds into fields.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // rem_euclid(DAY) fits
    pub(crate) const fn from_wall(wall: i64) -> Parts {
        let days = wall.div_euclid(DAY);
        let secs = wall.rem_euclid(DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Parts {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            days,
        }
    }

    /// Whole wall seconds of the given fields (which must form a valid date).
    pub(crate) const fn to_wall(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> i64 {
        days_from_civil(year, month, day) * DAY
            + (hour as i64) * 3600
            + (minute as i64) * 60
            + second as i64
    }
}

/// CPython's `datetime.timestamp()` of an instant given in microseconds: the exact integer
/// microsecond count divided by 10**6, correctly rounded to a double.
#[allow(clippy::cast_precision_loss)] // exact below 2**53 µs (year 2255), as in CPython
pub(crate) fn py_timestamp(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// CPython's `datetime.fromtimestamp(t)` rounding (`_PyTime_ROUND_HALF_EVEN` on the
/// microseconds), returning microseconds since the epoch; `None` for non-finite or huge `t`.
#[allow(clippy::cast_possible_truncation)] // range-checked before the casts
pub(crate) fn py_fromtimestamp(t: f64) -> Option<i64> {
    if !t.is_finite() || t.abs() > 1e14 {
        return None;
    }
    let mut int_part = t.trunc();
    let mut frac = (t - int_part) * 1e6;
    frac = round_half_even(frac);
    if frac >= 1e6 {
        frac -= 1e6;
        int_part += 1.0;
    } else if frac < 0.0 {
        frac += 1e6;
        int_part -= 1.0;
    }
    Some(int_part as i64 * MICROS + frac as i64)
}

/// CPython's `_PyTime_RoundHalfEven`.
fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - rounded).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        let start = days_from_civil(1900, 1, 1);
        let end = days_from_civil(2301, 1, 1);
        let mut expect = (1900, 1, 1);
        for days in start..end {
            assert_eq!(civil_from_days(days), expect);
            let (y, m, d) = expect;
            expect = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn weekdays_and_iso_weeks() {
        // 2026-01-01 is a Thursday in ISO week 1; 2027-01-01 is a Friday in week 53 of 2026.
        assert_eq!(weekday(days_from_civil(2026, 1, 1)), 3);
        assert_eq!(iso_week(days_from_civil(2026, 1, 1)), 1);
        assert_eq!(iso_week(days_from_civil(2027, 1, 1)), 53);
        assert_eq!(iso_week(days_from_civil(2026, 12, 28)), 53);
        assert_eq!(iso_week(days_from_civil(2024, 12, 30)), 1);
        assert_eq!(weekday(days_from_civil(1969, 12, 31)), 2);
    }

    #[test]
    fn fromtimestamp_rounds_like_cpython() {
        assert_eq!(py_fromtimestamp(1.5), Some(1_500_000));
        assert_eq!(py_fromtimestamp(-1.5), Some(-1_500_000));
        assert_eq!(py_fromtimestamp(0.000_000_5), Some(0)); // half to even
        assert_eq!(py_fromtimestamp(0.000_001_5), Some(2));
        assert_eq!(py_fromtimestamp(f64::NAN), None);
    }
}
