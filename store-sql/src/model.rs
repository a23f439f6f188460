//! Rows ⇄ jobs: the `state` column, run times as microseconds since the Unix epoch (UTC), and
//! column readers that cope with each driver's types.

use chrono::{DateTime, Utc};
use scheduler_core::{Error, ErrorKind, Job, Release, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::db_error;

/// A time as stored: microseconds since the Unix epoch.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A stored time back (`None` for `NULL` or out of range).
pub(crate) fn time(us: Option<i64>) -> Option<DateTime<Utc>> {
    us.and_then(DateTime::from_timestamp_micros)
}

/// The state column: the job's JSON without its run times (those live in their own columns).
pub(crate) fn encode(job: &Job) -> Result<String> {
    job.stored_state()
}

/// A row back into a job, or the reason it cannot be.
pub(crate) fn decode(
    id: &str,
    state: &str,
    next_run_time: Option<i64>,
    fire_time: Option<i64>,
) -> std::result::Result<Job, String> {
    Job::from_stored_state(id, state, time(next_run_time), time(fire_time))
}

/// A text column. MySQL reports `TEXT` columns as `BLOB` through sqlx's `Any` driver, so bytes
/// are accepted too (and must be UTF-8).
pub(crate) fn text(row: &AnyRow, index: usize) -> Result<String> {
    match row.try_get::<String, _>(index) {
        Ok(s) => Ok(s),
        Err(e) => match row.try_get::<Vec<u8>, _>(index) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|u| {
                Error::new(
                    ErrorKind::Internal,
                    format!("column {index} is not UTF-8: {u}"),
                )
            }),
            Err(_) => Err(db_error(e)),
        },
    }
}

/// A nullable text column (see [`text`]).
pub(crate) fn opt_text(row: &AnyRow, index: usize) -> Result<Option<String>> {
    match row.try_get::<Option<String>, _>(index) {
        Ok(s) => Ok(s),
        Err(_) => match row.try_get::<Option<Vec<u8>>, _>(index) {
            Ok(bytes) => Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned())),
            Err(e) => Err(db_error(e)),
        },
    }
}

/// An attempt number as stored (a 32-bit integer column; out of range reads as 1).
pub(crate) fn attempt(row: &AnyRow, index: usize) -> Result<u32> {
    let n: i64 = row.try_get(index).map_err(db_error)?;
    Ok(u32::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1))
}

/// An attempt number to store (an `INTEGER`/`INT` column).
pub(crate) fn attempt_value(attempt: u32) -> i32 {
    i32::try_from(attempt).unwrap_or(i32::MAX)
}

/// A flag column: PostgreSQL `BOOLEAN`; SQLite `INTEGER` and MySQL `SMALLINT` 0/1 (sqlx's `Any`
/// driver reads no MySQL `TINYINT`).
pub(crate) fn flag(row: &AnyRow, index: usize) -> Result<bool> {
    match row.try_get::<bool, _>(index) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(index).map_err(db_error)? != 0),
    }
}

/// A run's return value as stored: its JSON text (`NULL` for none).
pub(crate) fn result_text(result: Option<&serde_json::Value>) -> Option<String> {
    result
        .filter(|v| !v.is_null())
        .map(serde_json::Value::to_string)
}

/// A stored return value back: `None` for `NULL`, JSON `null` or text that is not JSON.
pub(crate) fn result_value(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(|v| !v.is_null())
}

/// `(id, state, next_run_time, fire_time)` from a row.
pub(crate) fn columns(row: &AnyRow) -> Result<(String, String, Option<i64>, Option<i64>)> {
    Ok((
        text(row, 0)?,
        text(row, 1)?,
        row.try_get(2).map_err(db_error)?,
        row.try_get(3).map_err(db_error)?,
    ))
}

/// `(next_run_time, fire_time, keep)` written by a non-removing release.
pub(crate) fn release_values(release: Release) -> (Option<i64>, Option<i64>, i64) {
    match release {
        Release::Reschedule {
            next_run_time,
            fire_time,
        } => (Some(micros(next_run_time)), Some(micros(fire_time)), 0),
        Release::Pause => (None, None, 0),
        Release::Unchanged | Release::Remove => (None, None, 1),
    }
}
