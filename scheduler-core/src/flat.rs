//! Job definitions in Flask-APScheduler's flat form: one JSON object (or TOML table) holding the
//! job's options and, beside them, its trigger's fields.
//!
//! ```json
//! {"id": "job1", "func": "app:job_do_sth", "args": [1, 2], "trigger": "interval", "seconds": 5}
//! ```
//!
//! This is the shape of Flask-APScheduler's `JOBS` entries and of its REST API bodies
//! (`flask_apscheduler.scheduler.APScheduler.add_job` / `modify_job`). The legacy form with the
//! trigger as an object, `"trigger": {"type": "cron", "minute": "*"}`, is accepted too; an object
//! without `type` is a `date` trigger, as in Flask-APScheduler's `fix_job_def`.
//!
//! Errors are [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) whose message starts
//! with the offending key: `hour: value 24 is out of range 0..=23`, `id: missing`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::duration::GraceTime;
use crate::error::{Error, Result};
use crate::job::{JobChanges, JobSpec};
use crate::trigger::BuiltinTrigger;

/// The keys of a flat job definition that are job options; every other key is a trigger field.
pub const JOB_KEYS: &[&str] = &[
    "id",
    "name",
    "func",
    "args",
    "kwargs",
    "trigger",
    "executor",
    "jobstore",
    "coalesce",
    "max_instances",
    "misfire_grace_time",
    "timeout",
    "recover",
    "retries",
    "retry_delay",
    "retry_backoff",
    "retry_max_delay",
    "retry_jitter",
    "calendars",
    "overlap",
    "tags",
    "metadata",
    "replace_existing",
    "next_run_time",
];

/// Splits a flat definition into (job options, trigger fields).
fn split(definition: Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    definition
        .into_iter()
        .partition(|(k, _)| JOB_KEYS.contains(&k.as_str()))
}

fn string(key: &str, value: Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(Error::invalid(
            key,
            format!("expected a string, got {}", kind(&other)),
        )),
    }
}

fn boolean(key: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid(key, format!("expected true or false, got {}", kind(value))))
}

fn max_instances(value: &Value) -> Result<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            Error::invalid(
                "max_instances",
                format!("expected a whole number of at least 1, got {value}"),
            )
        })
}

fn args(value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(Error::invalid(
            "args",
            format!("expected a list, got {}", kind(&other)),
        )),
    }
}

fn kwargs(value: Value) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(Error::invalid(
            "kwargs",
            format!("expected an object, got {}", kind(&other)),
        )),
    }
}

fn grace(value: &Value) -> Result<Option<std::time::Duration>> {
    GraceTime::parse_value(value)
        .map(|g| g.0)
        .map_err(|e| Error::invalid("misfire_grace_time", e))
}

/// `timeout`: seconds or a duration string; `null` = no limit.
fn timeout(value: &Value) -> Result<Option<std::time::Duration>> {
    let t = GraceTime::parse_value(value).map_err(|e| Error::invalid("timeout", e))?;
    match t.0 {
        Some(d) if d.is_zero() => Err(Error::invalid(
            "timeout",
            "must be more than 0 seconds (null for no limit)",
        )),
        other => Ok(other),
    }
}

/// `retries`: a whole number from 0 to [`MAX_RETRIES`](crate::retry::MAX_RETRIES).
fn retries(value: &Value) -> Result<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n <= crate::retry::MAX_RETRIES)
        .ok_or_else(|| {
            Error::invalid(
                "retries",
                format!(
                    "expected a whole number from 0 to {}, got {value}",
                    crate::retry::MAX_RETRIES
                ),
            )
        })
}

/// `retry_delay`, `retry_max_delay`: seconds or a duration string (`"1s"`, `"1h30m"`).
fn retry_duration(key: &str, value: &Value) -> Result<std::time::Duration> {
    let d = crate::duration::DurationValue::parse_value(value)
        .map_err(|e| Error::invalid(key, e))?
        .0;
    if d.is_zero() {
        return Err(Error::invalid(key, "must be more than 0 seconds"));
    }
    Ok(d)
}

/// `retry_backoff`: a number of at least 1.
fn backoff(value: &Value) -> Result<f64> {
    value
        .as_f64()
        .filter(|b| b.is_finite() && *b >= 1.0)
        .ok_or_else(|| {
            Error::invalid(
                "retry_backoff",
                format!("expected a number of at least 1.0, got {value}"),
            )
        })
}

/// `calendars`: a list of calendar names (a single name is accepted too).
fn calendars(value: Value) -> Result<Vec<String>> {
    strings(
        "calendars",
        value,
        "a calendar name",
        "a list of calendar names",
    )
}

/// `tags`: a list of strings (a single string is one tag).
fn tags(value: Value) -> Result<Vec<String>> {
    strings("tags", value, "a string", "a list of strings")
}

/// A list of strings under `key` (`null`: none; a single string: a list of one); `item` and
/// `list` say what was expected.
fn strings(key: &str, value: Value, item: &str, list: &str) -> Result<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(Error::invalid(
                    &format!("{key}[{i}]"),
                    format!("expected {item}, got {}", kind(&other)),
                )),
            })
            .collect(),
        other => Err(Error::invalid(
            key,
            format!("expected {list}, got {}", kind(&other)),
        )),
    }
}

/// `metadata`: a JSON object (`null`: none).
fn metadata(value: Value) -> Result<Map<String, Value>> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid(
            "metadata",
            format!("expected an object, got {}", kind(&other)),
        )),
    }
}

/// `null` pauses; otherwise an RFC 3339 time (Python's `isoformat()` output included).
fn next_run_time(value: Value) -> Result<Option<DateTime<Utc>>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| {
                Error::invalid(
                    "next_run_time",
                    format!(
                        "expected a time with an offset, e.g. 2026-11-20T09:40:00+00:00, got '{text}' ({e})"
                    ),
                )
            }),
        other => Err(Error::invalid(
            "next_run_time",
            format!("expected a time string or null, got {}", kind(&other)),
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The trigger of a definition: `trigger = "interval"` with flat fields, or the legacy object;
/// `None` (no trigger, no fields) means "run once, now".
fn trigger(
    trigger: Option<Value>,
    mut fields: Map<String, Value>,
) -> Result<Option<BuiltinTrigger>> {
    let in_trigger = |e: Error, fields: &Map<String, Value>| {
        // "hour: ..." names a flat key already; anything else is about the trigger as a whole.
        let head = e.message().split([':', '.', '[']).next().unwrap_or("");
        if fields.contains_key(head) {
            e
        } else {
            e.in_field("trigger")
        }
    };
    match trigger {
        None | Some(Value::Null) if fields.is_empty() => Ok(None),
        None | Some(Value::Null) => {
            let key = fields.keys().next().cloned().unwrap_or_default();
            Err(Error::invalid(
                &key,
                "is a trigger field, but the job has no trigger (add e.g. \"trigger\": \"interval\")",
            ))
        }
        Some(Value::String(kind)) => {
            let names = fields.clone();
            fields.insert("type".into(), Value::String(kind));
            BuiltinTrigger::from_value(Value::Object(fields))
                .map(Some)
                .map_err(|e| in_trigger(e, &names))
        }
        Some(Value::Object(mut table)) => {
            if let Some(key) = fields.keys().next() {
                return Err(Error::invalid(
                    key,
                    "trigger fields go either flat in the job or inside the trigger object, not both",
                ));
            }
            table
                .entry("type")
                .or_insert_with(|| Value::String("date".into()));
            BuiltinTrigger::from_value(Value::Object(table))
                .map(Some)
                .map_err(|e| e.in_field("trigger"))
        }
        Some(other) => Err(Error::invalid(
            "trigger",
            format!(
                "expected a trigger type (\"cron\", \"interval\", \"date\", ...) or an object, got {}",
                kind(&other)
            ),
        )),
    }
}

impl JobSpec {
    /// Reads a job from its flat definition (see the [module docs](crate::flat)). `id` and `func`
    /// are required; `replace_existing` defaults to false; `next_run_time: null` adds the job
    /// paused. The task and its arguments are checked later, when the job is added.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the key:
    /// `id: missing`, `func: expected a string, got a number`, `hour: value 24 is out of range
    /// 0..=23`, `seconds: ...`.
    pub fn from_flat(definition: Map<String, Value>) -> Result<JobSpec> {
        let (mut options, fields) = split(definition);
        let mut take = |key: &str| options.remove(key);
        let id = take("id")
            .filter(|v| !v.is_null())
            .ok_or_else(|| Error::invalid("id", "missing (every job needs an id)"))?;
        let id = string("id", id)?;
        let func = take("func").filter(|v| !v.is_null()).ok_or_else(|| {
            Error::invalid("func", "missing (the task to run, e.g. \"rsched:exec\")")
        })?;
        let func = string("func", func)?;
        let mut spec = JobSpec::new(func).id(id);
        if let Some(v) = take("name").filter(|v| !v.is_null()) {
            spec.name = Some(string("name", v)?);
        }
        if let Some(v) = take("args") {
            spec.args = args(v)?;
        }
        if let Some(v) = take("kwargs") {
            spec.kwargs = kwargs(v)?;
        }
        if let Some(v) = take("executor").filter(|v| !v.is_null()) {
            spec.executor = Some(string("executor", v)?);
        }
        if let Some(v) = take("jobstore").filter(|v| !v.is_null()) {
            spec.jobstore = Some(string("jobstore", v)?);
        }
        if let Some(v) = take("coalesce") {
            spec.coalesce = Some(boolean("coalesce", &v)?);
        }
        if let Some(v) = take("max_instances") {
            spec.max_instances = Some(max_instances(&v)?);
        }
        if let Some(v) = take("misfire_grace_time") {
            spec.misfire_grace_time = Some(grace(&v)?);
        }
        if let Some(v) = take("timeout") {
            spec.timeout = timeout(&v)?;
        }
        if let Some(v) = take("recover") {
            spec.recover = boolean("recover", &v)?;
        }
        if let Some(v) = take("retries") {
            spec.retry.retries = retries(&v)?;
        }
        if let Some(v) = take("retry_delay") {
            spec.retry.delay = retry_duration("retry_delay", &v)?;
        }
        if let Some(v) = take("retry_backoff") {
            spec.retry.backoff = backoff(&v)?;
        }
        if let Some(v) = take("retry_max_delay") {
            spec.retry.max_delay = retry_duration("retry_max_delay", &v)?;
        }
        if let Some(v) = take("retry_jitter") {
            spec.retry.jitter = boolean("retry_jitter", &v)?;
        }
        spec.retry.validate()?;
        if let Some(v) = take("calendars") {
            spec.calendars = calendars(v)?;
        }
        if let Some(v) = take("overlap") {
            spec.overlap = crate::job::Overlap::parse(&string("overlap", v)?)?;
        }
        if let Some(v) = take("tags") {
            spec.tags = tags(v)?;
            crate::job::validate_tags(spec.tags.clone())?;
        }
        if let Some(v) = take("metadata") {
            spec.metadata = crate::job::validate_metadata(metadata(v)?)?;
        }
        if let Some(v) = take("replace_existing") {
            spec.replace_existing = boolean("replace_existing", &v)?;
        }
        if let Some(v) = take("next_run_time") {
            spec.next_run_time = Some(next_run_time(v)?);
        }
        spec.trigger = trigger(take("trigger"), fields)?;
        Ok(spec)
    }
}

impl JobChanges {
    /// Reads changes from a flat definition, as Flask-APScheduler's `PATCH /jobs/{id}` body
    /// (`APScheduler.modify_job`): job options replace the job's, and a `trigger` (with its flat
    /// fields) replaces the trigger. All are applied together by
    /// [`Scheduler::modify_job`](crate::Scheduler::modify_job).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the key; `id`,
    /// `jobstore` and `replace_existing` cannot be changed.
    pub fn from_flat(definition: Map<String, Value>) -> Result<JobChanges> {
        let (mut options, fields) = split(definition);
        for key in ["id", "jobstore", "replace_existing"] {
            if options.contains_key(key) {
                return Err(Error::invalid(
                    key,
                    "cannot be changed (remove it from the request)",
                ));
            }
        }
        let mut take = |key: &str| options.remove(key);
        let mut changes = JobChanges::default();
        if let Some(v) = take("name") {
            changes.name = Some(string("name", v)?);
        }
        if let Some(v) = take("func") {
            changes.func = Some(string("func", v)?);
        }
        if let Some(v) = take("args") {
            changes.args = Some(args(v)?);
        }
        if let Some(v) = take("kwargs") {
            changes.kwargs = Some(kwargs(v)?);
        }
        if let Some(v) = take("executor") {
            changes.executor = Some(string("executor", v)?);
        }
        if let Some(v) = take("coalesce") {
            changes.coalesce = Some(boolean("coalesce", &v)?);
        }
        if let Some(v) = take("max_instances") {
            changes.max_instances = Some(max_instances(&v)?);
        }
        if let Some(v) = take("misfire_grace_time") {
            changes.misfire_grace_time = Some(grace(&v)?);
        }
        if let Some(v) = take("timeout") {
            changes.timeout = Some(timeout(&v)?);
        }
        if let Some(v) = take("recover") {
            changes.recover = Some(boolean("recover", &v)?);
        }
        if let Some(v) = take("retries") {
            changes.retries = Some(retries(&v)?);
        }
        if let Some(v) = take("retry_delay") {
            changes.retry_delay = Some(retry_duration("retry_delay", &v)?);
        }
        if let Some(v) = take("retry_backoff") {
            changes.retry_backoff = Some(backoff(&v)?);
        }
        if let Some(v) = take("retry_max_delay") {
            changes.retry_max_delay = Some(retry_duration("retry_max_delay", &v)?);
        }
        if let Some(v) = take("retry_jitter") {
            changes.retry_jitter = Some(boolean("retry_jitter", &v)?);
        }
        if let Some(v) = take("calendars") {
            changes.calendars = Some(calendars(v)?);
        }
        if let Some(v) = take("overlap") {
            changes.overlap = Some(crate::job::Overlap::parse(&string("overlap", v)?)?);
        }
        if let Some(v) = take("tags") {
            changes.tags = Some(tags(v)?);
        }
        if let Some(v) = take("metadata") {
            changes.metadata = Some(metadata(v)?);
        }
        if let Some(v) = take("next_run_time") {
            changes.next_run_time = Some(next_run_time(v)?);
        }
        changes.trigger = trigger(take("trigger"), fields)?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn flat_and_legacy_triggers() {
        let flat = JobSpec::from_flat(obj(json!({
            "id": "job1", "func": "app:f", "args": [1, 2], "trigger": "interval", "seconds": 5
        })))
        .unwrap();
        assert_eq!(flat.trigger.unwrap().to_string(), "interval[0:00:05]");
        assert_eq!(flat.args, vec![json!(1), json!(2)]);
        let legacy = JobSpec::from_flat(obj(json!({
            "id": "job1", "func": "app:f", "trigger": {"type": "cron", "minute": "*/5"}
        })))
        .unwrap();
        assert_eq!(legacy.trigger.unwrap().to_string(), "cron[minute='*/5']");
        let untyped = JobSpec::from_flat(obj(json!({
            "id": "job1", "func": "app:f", "trigger": {"run_date": "2030-01-01 00:00:00"}
        })))
        .unwrap();
        assert!(untyped.trigger.unwrap().to_string().starts_with("date["));
        let none = JobSpec::from_flat(obj(json!({"id": "a", "func": "app:f"}))).unwrap();
        assert!(none.trigger.is_none());
        // TOML's `trigger = "quartz"`, `expr = "…"`.
        let quartz = JobSpec::from_flat(obj(json!({
            "id": "q", "func": "app:f", "trigger": "quartz", "expr": "0 0 9 ? * MON-FRI 2027"
        })))
        .unwrap();
        assert_eq!(
            quartz.trigger.unwrap().to_string(),
            "quartz['0 0 9 ? * MON-FRI 2027']"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = |v: Value| JobSpec::from_flat(obj(v)).unwrap_err().message().to_owned();
        assert!(err(json!({"func": "app:f"})).starts_with("id: missing"));
        assert!(err(json!({"id": "a"})).starts_with("func: missing"));
        assert!(err(json!({"id": "a", "func": 3})).starts_with("func: expected a string"));
        assert_eq!(
            err(json!({"id": "a", "func": "f", "trigger": "cron", "hour": 24})),
            "hour: value 24 is out of range 0..=23"
        );
        assert!(
            err(json!({"id": "a", "func": "f", "trigger": "interval", "seconds": 0}))
                .starts_with("trigger.interval: must be positive")
        );
        assert!(err(json!({"id": "a", "func": "f", "trigger": "weekly"})).starts_with("trigger"));
        assert!(err(json!({"id": "a", "func": "f", "hour": 3})).starts_with("hour: is a trigger"));
        assert!(
            err(json!({"id": "a", "func": "f", "trigger": "date", "run_date": "tomorrow"}))
                .starts_with("run_date:")
        );
        assert!(
            err(json!({"id": "a", "func": "f", "max_instances": 0})).starts_with("max_instances:")
        );
        assert!(err(json!({"id": "a", "func": "f", "retries": -1})).starts_with("retries:"));
        assert!(
            err(json!({"id": "a", "func": "f", "retry_delay": "soon"})).starts_with("retry_delay:")
        );
        assert!(
            err(json!({"id": "a", "func": "f", "retry_backoff": 0.5}))
                .starts_with("retry_backoff:")
        );
        assert!(
            err(json!({"id": "a", "func": "f", "retry_delay": "2h", "retry_max_delay": "1h"}))
                .starts_with("retry_max_delay:")
        );
        let spec = JobSpec::from_flat(obj(json!({
            "id": "a", "func": "f", "retries": 3, "retry_delay": "30s", "retry_backoff": 1.5,
            "retry_max_delay": 600, "retry_jitter": false
        })))
        .unwrap();
        assert_eq!(
            spec.retry,
            crate::RetryPolicy {
                retries: 3,
                delay: std::time::Duration::from_secs(30),
                backoff: 1.5,
                max_delay: std::time::Duration::from_secs(600),
                jitter: false,
            }
        );
        assert!(
            err(json!({"id": "a", "func": "f", "next_run_time": "soon"}))
                .starts_with("next_run_time:")
        );
    }

    #[test]
    fn changes() {
        let c = JobChanges::from_flat(obj(json!({
            "name": "n", "trigger": "cron", "minute": "*", "misfire_grace_time": null
        })))
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("n"));
        assert_eq!(c.misfire_grace_time, Some(None));
        assert_eq!(c.trigger.unwrap().to_string(), "cron[minute='*']");
        let e = JobChanges::from_flat(obj(json!({"id": "b"}))).unwrap_err();
        assert!(e.message().starts_with("id: cannot be changed"));
        let e = JobChanges::from_flat(obj(json!({"minute": "*"}))).unwrap_err();
        assert!(e.message().starts_with("minute: is a trigger field"));
    }
}
