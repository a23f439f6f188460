//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the schemas below.

use axum::Json;
use axum::extract::{OriginalUri, State};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};

use crate::Api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rsched",
        description = "Flask-APScheduler's REST API, plus events, metrics, previews and a dashboard."
    ),
    components(schemas(ErrorBody, SchedulerInfo, JobDoc, JobDefinition, PreviewRequest, CalendarDoc, BackfillRequest, JobsAnswer, JobPageDoc, BulkAnswer, JobStateParam, JobSortParam)),
    tags(
        (name = "scheduler", description = "The scheduler's state"),
        (name = "jobs", description = "Jobs, Flask-APScheduler's wire format"),
        (name = "calendars", description = "Exclusion calendars jobs name to skip periods"),
        (name = "ops", description = "Health, metrics and events")
    )
)]
pub(crate) struct ApiDoc;

/// Every error: `{"error_message": "hour: value 24 is out of range 0..=23"}` (the message starts
/// with the field it concerns, when it concerns one).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error_message: String,
}

/// `GET ""`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SchedulerInfo {
    current_host: String,
    allowed_hosts: Vec<String>,
    running: bool,
    /// This instance's id (rsched's addition): `host-pid-xxxx` or `[scheduler] id`.
    scheduler_id: String,
    /// `running`, `paused` or `stopped` (rsched's addition).
    state: String,
}

/// A job in Flask-APScheduler's format. The trigger's own fields sit flat beside these:
/// `seconds`, `start_date` (interval), `hour`, `minute` (cron, as strings), `run_date` (date)...
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobDoc {
    id: String,
    name: String,
    /// The registered task (`module:function`).
    func: String,
    args: Vec<Value>,
    kwargs: Map<String, Value>,
    /// The trigger type: `date`, `interval`, `cron`, `crontab`, `quartz`, `calendarinterval`, `and`, `or`.
    trigger: String,
    /// Seconds; `null` = no limit.
    misfire_grace_time: Option<f64>,
    max_instances: u32,
    /// Python `isoformat()` in the trigger's zone (a date trigger's `run_date` offset, when it
    /// was written with one); `null` when paused.
    next_run_time: Option<String>,
    coalesce: bool,
    /// Longest run in seconds; `null` = no limit.
    timeout: Option<f64>,
    /// Whether a run cut off by a crashed instance is run again elsewhere.
    recover: bool,
    /// How many times a failed run is retried (0 = never).
    retries: u32,
    /// Seconds before the first retry.
    retry_delay: f64,
    /// Each further retry waits this many times longer.
    retry_backoff: f64,
    /// Longest wait between attempts, in seconds.
    retry_max_delay: f64,
    /// Whether waits are shortened by a random 0–20 %.
    retry_jitter: bool,
    /// Exclusion calendars whose periods the job's fire times skip.
    calendars: Vec<String>,
    /// What a fire time does while max_instances runs are running (Temporal's overlap
    /// policies): `skip`, `buffer_one`, `buffer_all`, `cancel_other`, `terminate_other` or
    /// `allow_all`.
    overlap: String,
    /// Labels to find and act on jobs by.
    tags: Vec<String>,
    /// Free-form JSON object kept with the job (APScheduler 4's `metadata`).
    #[schema(value_type = Object)]
    metadata: Map<String, Value>,
    executor: String,
    jobstore: String,
    /// APScheduler's `str(trigger)`: `cron[minute='*/5']`.
    trigger_description: String,
    /// The trigger's zone.
    timezone: String,
}

/// `GET /jobs`: the full array without parameters, a page with any.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only
pub(crate) enum JobsAnswer {
    /// Every job (Flask-APScheduler).
    All(Vec<JobDoc>),
    /// One page.
    Page(JobPageDoc),
}

/// One page of `GET /jobs?limit=…`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobPageDoc {
    /// The jobs of this page (with `state=quarantined`: `{id, jobstore, reason, state}`).
    #[schema(value_type = Vec<Object>)]
    jobs: Vec<Value>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
    /// How many jobs match the filters, over every page.
    total: u64,
}

/// `POST /jobs/pause?…` and `/jobs/resume?…`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BulkAnswer {
    /// How many jobs were changed.
    count: u64,
    /// Their ids.
    ids: Vec<String>,
}

/// A job state to filter by.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a schema only
pub(crate) enum JobStateParam {
    Scheduled,
    Paused,
    Running,
    Quarantined,
}

/// A listing's order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a schema only
pub(crate) enum JobSortParam {
    NextRunTime,
    Id,
}

/// A job definition, flat as Flask-APScheduler takes it: job options plus the trigger's fields
/// (`{"id": "job1", "func": "rsched:log", "trigger": "interval", "seconds": 5}`), or the legacy
/// `"trigger": {"type": "cron", ...}`. Without a trigger the job runs once, now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobDefinition {
    #[schema(min_length = 1, max_length = 191)]
    id: String,
    func: String,
    name: Option<String>,
    args: Option<Vec<Value>>,
    kwargs: Option<Map<String, Value>>,
    /// A trigger type, or a trigger object with `type`.
    #[schema(value_type = Object)]
    trigger: Option<Value>,
    /// Seconds, a duration string (`"30s"`), or `null` for no limit.
    #[schema(value_type = Object)]
    misfire_grace_time: Option<Value>,
    #[schema(minimum = 1)]
    max_instances: Option<u32>,
    coalesce: Option<bool>,
    /// Longest run: seconds, a duration string (`"30s"`), or `null` for no limit.
    #[schema(value_type = Object)]
    timeout: Option<Value>,
    /// Run again a run cut off by a crashed instance (default false).
    recover: Option<bool>,
    /// Retries of a failed run (error, timed out, crashed), 0..=1000 (default 0).
    #[schema(minimum = 0, maximum = 1000)]
    retries: Option<u32>,
    /// Wait before the first retry: seconds or a duration string (default `"1s"`).
    #[schema(value_type = Object)]
    retry_delay: Option<Value>,
    /// Multiplier of the wait for each further retry, at least 1.0 (default 2.0).
    #[schema(minimum = 1.0)]
    retry_backoff: Option<f64>,
    /// Longest wait between attempts: seconds or a duration string (default `"1h"`).
    #[schema(value_type = Object)]
    retry_max_delay: Option<Value>,
    /// Shorten waits by a random 0–20 % (default true).
    retry_jitter: Option<bool>,
    /// Names of exclusion calendars (`GET /calendars`) whose periods the job's fire times skip.
    calendars: Option<Vec<String>>,
    /// What a fire time does while max_instances runs are running: `skip` (the default:
    /// recorded skipped), `buffer_one` (one waits), `buffer_all` (up to 1,000 wait, oldest
    /// first), `cancel_other` / `terminate_other` (the runs are cancelled / stopped, the new
    /// one waits for them) or `allow_all` (runs anyway).
    overlap: Option<String>,
    /// Labels (at most 32, each 1–64 characters without commas).
    tags: Option<Vec<String>>,
    /// Free-form JSON object kept with the job, at most 16 KiB as JSON.
    #[schema(value_type = Object)]
    metadata: Option<Map<String, Value>>,
    executor: Option<String>,
    jobstore: Option<String>,
    replace_existing: Option<bool>,
    /// RFC 3339; `null` adds the job paused.
    #[schema(format = DateTime)]
    next_run_time: Option<String>,
}

/// `POST /preview`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviewRequest {
    /// A trigger object with `type`: `{"type": "cron", "minute": "*/5"}`.
    #[schema(value_type = Object)]
    trigger: Value,
    /// How many fire times (1..=1000, default 10).
    count: Option<u32>,
    /// RFC 3339 start (default now).
    after: Option<String>,
    /// Names of exclusion calendars whose periods the fire times skip.
    calendars: Option<Vec<String>>,
}

/// `POST /jobs/{id}/backfill`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BackfillRequest {
    /// RFC 3339: the first instant of the range (inclusive).
    #[schema(format = DateTime)]
    start: String,
    /// RFC 3339: the end of the range (exclusive).
    #[schema(format = DateTime)]
    end: String,
    /// `buffer_all` (one after another, the default) or `allow_all` (all at once).
    overlap: Option<String>,
}

/// An exclusion calendar: `{"type": "dates", "dates": ["2026-12-25"]}`, `{"type": "annual",
/// "days": ["12-25"]}`, `{"type": "cron", "expr": "* 0-8 * * mon-fri"}` (5-field crontab,
/// minutes matching it are excluded), `{"type": "daily", "start": "22:00", "end": "06:00",
/// "invert": false}`; each may have a `description`. Judged in each job's trigger zone.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CalendarDoc {
    /// `dates`, `annual`, `cron` or `daily`.
    #[serde(rename = "type")]
    kind: String,
    /// `dates`: the excluded days, `YYYY-MM-DD`.
    dates: Option<Vec<String>>,
    /// `annual`: the excluded month-days, `MM-DD`.
    days: Option<Vec<String>>,
    /// `cron`: a 5-field crontab expression.
    expr: Option<String>,
    /// `daily`: start of the excluded time-of-day range (`HH:MM[:SS]`).
    start: Option<String>,
    /// `daily`: its end (exclusive; before `start` = across midnight).
    end: Option<String>,
    /// `daily`: exclude everything outside the range instead.
    invert: Option<bool>,
    description: Option<String>,
}

/// Serves the document for where this router is mounted: every path carries the mount prefix
/// (Flask-APScheduler's info route is the prefix itself, `/scheduler`, which a `servers` base
/// plus `/` could not express), and `func` lists the tasks this scheduler has registered.
pub(crate) async fn document(State(api): State<Api>, OriginalUri(uri): OriginalUri) -> Json<Value> {
    let base = uri.path().trim_end_matches("/openapi.json").to_owned();
    let mut doc = serde_json::to_value(&*api.openapi).unwrap_or_default();
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        let old = std::mem::take(paths);
        for (path, item) in old {
            let full = match (path.as_str(), base.is_empty()) {
                ("/", false) => base.clone(),
                (_, _) => format!("{base}{path}"),
            };
            paths.insert(full, item);
        }
    }
    if let Some(func) = doc.pointer_mut("/components/schemas/JobDefinition/properties/func") {
        let names: Vec<Value> = api
            .scheduler
            .registry()
            .names()
            .into_iter()
            .map(Value::from)
            .collect();
        func["enum"] = Value::Array(names);
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("servers".into(), serde_json::json!([{ "url": "/" }]));
    }
    Json(doc)
}
