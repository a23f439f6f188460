//! The wire format: Flask-APScheduler's job JSON and error bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scheduler_core::{ErrorKind, Job, isoformat};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// A job as Flask-APScheduler's `job_to_dict` renders it, keys in its order: `id, name, func,
/// args, kwargs`, the trigger's fields (`trigger`, then e.g. `start_date`, `seconds`), then
/// `misfire_grace_time` (seconds, or `null` for no limit), `max_instances`, `next_run_time`
/// (`null` when paused). rsched adds `coalesce`, `timeout` (seconds or `null`), `recover`, the retry policy
/// (`retries`, `retry_delay` and `retry_max_delay` in seconds, `retry_backoff`, `retry_jitter`),
/// `calendars` (names), `overlap`, `executor`, `jobstore` and
/// `trigger_description` (APScheduler's `str(trigger)`). Datetimes are Python `isoformat()`
/// strings: `run_date`, `start_date` and `end_date` with the UTC offset the client wrote them
/// with (APScheduler's `convert_to_datetime` keeps it), else in the trigger's zone;
/// `next_run_time` in the trigger's zone, or for a date trigger with an offset, in that offset
/// (see [`BuiltinTrigger::display_timezone`](scheduler_core::BuiltinTrigger::display_timezone)).
#[derive(Debug)]
pub struct JobJson<'a>(pub &'a Job);

impl Serialize for JobJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let job = self.0;
        let trigger = job.trigger().flask_fields();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", job.id())?;
        map.serialize_entry("name", job.name())?;
        map.serialize_entry("func", job.func())?;
        map.serialize_entry("args", job.args())?;
        map.serialize_entry("kwargs", job.kwargs())?;
        // `trigger` first, as Flask-APScheduler writes it.
        if let Some(kind) = trigger.get("trigger") {
            map.serialize_entry("trigger", kind)?;
        }
        for (k, v) in trigger.iter().filter(|(k, _)| *k != "trigger") {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry(
            "misfire_grace_time",
            &job.misfire_grace_time().map(|d| seconds(d.as_secs_f64())),
        )?;
        map.serialize_entry("max_instances", &job.max_instances())?;
        map.serialize_entry(
            "next_run_time",
            &job.next_run_time()
                .map(|t| isoformat(&job.trigger().display_time(t))),
        )?;
        map.serialize_entry("coalesce", &job.coalesce())?;
        map.serialize_entry("timeout", &job.timeout().map(|d| seconds(d.as_secs_f64())))?;
        map.serialize_entry("recover", &job.recover())?;
        let retry = job.retry();
        map.serialize_entry("retries", &retry.retries)?;
        map.serialize_entry("retry_delay", &seconds(retry.delay.as_secs_f64()))?;
        map.serialize_entry("retry_backoff", &retry.backoff)?;
        map.serialize_entry("retry_max_delay", &seconds(retry.max_delay.as_secs_f64()))?;
        map.serialize_entry("retry_jitter", &retry.jitter)?;
        map.serialize_entry("calendars", job.calendars())?;
        map.serialize_entry("overlap", job.overlap().as_str())?;
        map.serialize_entry("tags", job.tags())?;
        map.serialize_entry("metadata", job.metadata())?;
        map.serialize_entry("executor", job.executor())?;
        map.serialize_entry("jobstore", job.jobstore())?;
        map.serialize_entry("trigger_description", &job.trigger().to_string())?;
        map.end()
    }
}

/// Whole seconds as an integer (as Python keeps `misfire_grace_time = 1`), else a float.
fn seconds(secs: f64) -> Value {
    if secs.fract() == 0.0 && secs < 9.0e15 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = secs as u64;
        Value::from(whole)
    } else {
        Value::from(secs)
    }
}

/// The job as a JSON value (for events and tests).
pub fn job_value(job: &Job) -> Value {
    serde_json::to_value(JobJson(job)).unwrap_or(Value::Null)
}

/// An error response: `{"error_message": "..."}` with a status, as Flask-APScheduler answers.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message for `error_message`.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Flask-APScheduler's 404 body: `Job X not found`.
    pub fn job_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("Job {id} not found"))
    }
}

impl From<scheduler_core::Error> for ApiError {
    /// Maps the core's error kinds to statuses: invalid input 400, not found 404, conflicts 409,
    /// lifecycle errors 400 with APScheduler's wording, `max_instances` 409, an unreachable store
    /// 503; anything else is the server's fault (500).
    fn from(e: scheduler_core::Error) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists | ErrorKind::MaxInstancesReached | ErrorKind::LeaseLost => {
                StatusCode::CONFLICT
            }
            ErrorKind::Unsupported => StatusCode::BAD_REQUEST,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::AlreadyRunning => {
                return Self::bad_request("Scheduler is already running");
            }
            ErrorKind::NotRunning => return Self::bad_request("Scheduler is not running"),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error_message".into(), Value::String(self.message));
        (self.status, Json(Value::Object(body))).into_response()
    }
}
