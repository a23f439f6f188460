//! Python-style renderings used in APScheduler's log lines.

use chrono::{DateTime, FixedOffset, Timelike};
use std::time::Duration;

/// Python's `str(timedelta)`: `0:00:03.123456`, `1 day, 2:03:04`.
pub fn timedelta(d: Duration) -> String {
    let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    crate::trigger::timedelta_str(micros)
}

/// Python's `str(datetime)` of an aware datetime: `2026-11-20 09:40:00+08:00`
/// (`.ffffff` only when there are microseconds).
pub fn py_datetime(dt: &DateTime<FixedOffset>) -> String {
    let mut out = dt.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = dt.nanosecond() / 1000 % 1_000_000;
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out.push_str(&dt.format("%:z").to_string());
    out
}
