//! Jobs as the store keeps them: the job's state JSON in the `{prefix}jobs` hash, its run
//! times as decimal µs since the epoch (UTC) in sorted sets and hashes.

use chrono::{DateTime, Utc};
use redis::Value as RedisValue;
use scheduler_core::{Job, Result};

/// A time as stored: decimal µs since the epoch.
pub(crate) fn micros(t: DateTime<Utc>) -> String {
    t.timestamp_micros().to_string()
}

/// A time as Redis hands it back: decimal µs (a sorted-set score may come as `1.7e+15`).
pub(crate) fn time(text: &str) -> Option<DateTime<Utc>> {
    if text.is_empty() {
        return None;
    }
    let us = text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| {
            #[allow(clippy::cast_possible_truncation)]
            let us = f.round() as i64;
            us
        })
    })?;
    DateTime::from_timestamp_micros(us)
}

/// A Redis value as text (empty for nil and arrays).
pub(crate) fn text(value: &RedisValue) -> String {
    match value {
        RedisValue::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        RedisValue::SimpleString(s) => s.clone(),
        RedisValue::Int(i) => i.to_string(),
        RedisValue::Double(d) => d.to_string(),
        _ => String::new(),
    }
}

/// A Redis array (or set) as its items; nil is empty, a single value one item.
pub(crate) fn items(value: RedisValue) -> Vec<RedisValue> {
    match value {
        RedisValue::Array(items) | RedisValue::Set(items) => items,
        RedisValue::Nil => Vec::new(),
        other => vec![other],
    }
}

/// The `add`/`update` script arguments of a job: id, state, next run time, fire time (when it
/// differs from the next run time by jitter).
pub(crate) fn job_args(job: &Job) -> Result<[String; 4]> {
    let next = job.next_run_time();
    let fire = job.fire_time().filter(|f| Some(*f) != next);
    Ok([
        job.id().to_owned(),
        job.stored_state()?,
        next.map(micros).unwrap_or_default(),
        fire.map(micros).unwrap_or_default(),
    ])
}
