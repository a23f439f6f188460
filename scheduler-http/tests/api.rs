//! Every route through `tower::ServiceExt::oneshot`, with a manual clock: Flask-APScheduler's
//! status codes and job JSON, and the 400s it lacks.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use scheduler_core::Scheduler;
use scheduler_http::{ApiOptions, Auth, AuthConfig, Role};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::{scheduler, scheduler_in};

struct Client {
    app: Router,
    auth: Option<String>,
}

impl Client {
    fn new(scheduler: &Scheduler, options: ApiOptions) -> Client {
        Client {
            app: scheduler_http::router(scheduler.clone(), options),
            auth: None,
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        let (status, _, body) = self.raw(method, uri, body, "application/json").await;
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or(Value::String(body))
        };
        (status, value)
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        content_type: &str,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() && !content_type.is_empty() {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(auth) = &self.auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}

const JOB1: &str =
    r#"{"id": "job1", "func": "app:add", "args": [1, 2], "trigger": "interval", "seconds": 5}"#;

#[tokio::test]
async fn scheduler_info_and_lifecycle() {
    let s = scheduler();
    let c = Client::new(&s, ApiOptions::default());
    let (status, info) = c.call("GET", "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["running"], false);
    assert_eq!(info["allowed_hosts"], json!(["*"]));
    assert!(info["current_host"].is_string());
    assert_eq!(info["scheduler_id"], s.id());

    assert_eq!(
        c.call("POST", "/start", None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = c.call("POST", "/start", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_message"], "Scheduler is already running");
    assert_eq!(
        c.call("POST", "/pause", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.call("POST", "/resume", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.call("GET", "/", None).await.1["running"], true);
    assert_eq!(
        c.call("POST", "/shutdown", None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = c.call("POST", "/shutdown", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_message"], "Scheduler is not running");
    let (status, body) = c.call("POST", "/pause", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_message"], "Scheduler is not running");
}

#[tokio::test]
async fn allowed_hosts_keep_the_scheduler_from_starting_elsewhere() {
    let s = scheduler();
    let options = ApiOptions {
        allowed_hosts: vec!["worker-1".into()],
        host_name: "worker-2".into(),
        ..ApiOptions::default()
    };
    assert!(!options.may_start());
    let c = Client::new(&s, options);
    let (status, body) = c.call("POST", "/start", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error_message"].as_str().unwrap().contains("worker-2"));
    assert!(!s.running());
    assert_eq!(
        c.call("GET", "/", None).await.1["allowed_hosts"],
        json!(["worker-1"])
    );
}

#[tokio::test]
async fn job_json_is_flask_apschedulers() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    let (status, job) = c.call("POST", "/jobs", Some(JOB1)).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["id"], "job1");
    assert_eq!(job["name"], "job1");
    assert_eq!(job["func"], "app:add");
    assert_eq!(job["args"], json!([1, 2]));
    assert_eq!(job["kwargs"], json!({}));
    assert_eq!(job["trigger"], "interval");
    assert_eq!(job["seconds"], 5);
    assert!(job.get("minutes").is_none(), "only non-zero parts");
    assert_eq!(job["start_date"], "2026-11-20T09:40:05+00:00");
    assert_eq!(job["misfire_grace_time"], 1);
    assert_eq!(job["max_instances"], 1);
    assert_eq!(job["next_run_time"], "2026-11-20T09:40:05+00:00");
    assert_eq!(job["trigger_description"], "interval[0:00:05]");
    // Keys in Flask-APScheduler's order.
    let (_, _, raw) = c.raw("GET", "/jobs/job1", None, "").await;
    let order: Vec<usize> = [
        "\"id\"",
        "\"name\"",
        "\"func\"",
        "\"args\"",
        "\"kwargs\"",
        "\"trigger\"",
        "\"misfire_grace_time\"",
        "\"max_instances\"",
        "\"next_run_time\"",
    ]
    .iter()
    .map(|k| raw.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");

    let cron = r#"{"id": "c", "func": "rsched:log", "trigger": "cron", "day_of_week": "mon-fri", "hour": 9, "minute": "*/5", "timezone": "Asia/Shanghai"}"#;
    let (status, job) = c.call("POST", "/jobs", Some(cron)).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["hour"], "9");
    assert_eq!(job["minute"], "*/5");
    assert_eq!(job["day_of_week"], "mon-fri");
    assert!(job.get("second").is_none(), "only the fields given");
    assert_eq!(job["next_run_time"], "2026-11-23T09:00:00+08:00");

    let date = r#"{"id": "d", "func": "rsched:log", "trigger": {"type": "date", "run_date": "2026-12-01 08:00:00.250000"}}"#;
    let (status, job) = c.call("POST", "/jobs", Some(date)).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["trigger"], "date");
    assert_eq!(job["run_date"], "2026-12-01T08:00:00.250000+00:00");

    let weeks =
        r#"{"id": "w", "func": "rsched:log", "trigger": "interval", "days": 8, "minutes": 90}"#;
    let job = c.call("POST", "/jobs", Some(weeks)).await.1;
    assert_eq!(
        (
            job["weeks"].clone(),
            job["days"].clone(),
            job["hours"].clone(),
            job["minutes"].clone()
        ),
        (json!(1), json!(1), json!(1), json!(30))
    );
}

/// The fields of a job's JSON that hold datetimes (and the zone), as strings.
fn dates(job: &Value) -> Value {
    let keys = [
        "run_date",
        "start_date",
        "end_date",
        "next_run_time",
        "timezone",
    ];
    let mut out = serde_json::Map::new();
    for key in keys {
        if let Some(v) = job.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// APScheduler's `convert_to_datetime` keeps the offset a date string was written with (a
/// fixed-offset `tzinfo`), and Flask-APScheduler echoes `run_date`, `start_date` and
/// `end_date` with `isoformat()`, so with it; `next_run_time` is the trigger's fire time:
/// `run_date` itself for a date trigger, a time in the trigger's zone for interval and cron.
#[tokio::test]
async fn dates_keep_the_utc_offset_the_client_gave() {
    // The scheduler's zone (Flask-APScheduler's `SCHEDULER_TIMEZONE`) has none of the offsets
    // given: Asia/Tokyo, +09:00.
    let s = scheduler_in(scheduler_core::TimeZone::get("Asia/Tokyo").unwrap());
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    let cases = [
        (
            r#"{"id": "d", "func": "rsched:log", "trigger": "date", "run_date": "2099-06-15T08:30:00+02:00"}"#,
            json!({"run_date": "2099-06-15T08:30:00+02:00", "next_run_time": "2099-06-15T08:30:00+02:00", "timezone": "Asia/Tokyo"}),
            "date[2099-06-15 08:30:00 UTC+02:00]",
        ),
        (
            r#"{"id": "d-india", "func": "rsched:log", "trigger": "date", "run_date": "2099-06-15T08:30:00-05:30"}"#,
            json!({"run_date": "2099-06-15T08:30:00-05:30", "next_run_time": "2099-06-15T08:30:00-05:30", "timezone": "Asia/Tokyo"}),
            "date[2099-06-15 08:30:00 UTC-05:30]",
        ),
        (
            r#"{"id": "d-z", "func": "rsched:log", "trigger": "date", "run_date": "2099-06-15T08:30:00.250000Z"}"#,
            json!({"run_date": "2099-06-15T08:30:00.250000+00:00", "next_run_time": "2099-06-15T08:30:00.250000+00:00", "timezone": "Asia/Tokyo"}),
            "date[2099-06-15 08:30:00 UTC]",
        ),
        // Without an offset: a wall time in the trigger's zone, as before.
        (
            r#"{"id": "d-naive", "func": "rsched:log", "trigger": "date", "run_date": "2099-01-15 08:30:00"}"#,
            json!({"run_date": "2099-01-15T08:30:00+09:00", "next_run_time": "2099-01-15T08:30:00+09:00", "timezone": "Asia/Tokyo"}),
            "date[2099-01-15 08:30:00 JST]",
        ),
        // The legacy trigger object, and a zone of its own: the offset still wins for display.
        (
            r#"{"id": "d-legacy", "func": "rsched:log", "trigger": {"type": "date", "run_date": "2099-06-15T08:30:00-05:30", "timezone": "Europe/Berlin"}}"#,
            json!({"run_date": "2099-06-15T08:30:00-05:30", "next_run_time": "2099-06-15T08:30:00-05:30", "timezone": "Europe/Berlin"}),
            "date[2099-06-15 08:30:00 UTC-05:30]",
        ),
        // Interval: start and end keep their offsets; fire times are in the trigger's zone.
        (
            r#"{"id": "i", "func": "rsched:log", "trigger": "interval", "hours": 1, "start_date": "2026-11-21T10:00:00-05:30", "end_date": "2026-12-31T23:00:00Z"}"#,
            json!({"start_date": "2026-11-21T10:00:00-05:30", "end_date": "2026-12-31T23:00:00+00:00", "next_run_time": "2026-11-22T00:30:00+09:00", "timezone": "Asia/Tokyo"}),
            "interval[1:00:00]",
        ),
        (
            r#"{"id": "i-ny", "func": "rsched:log", "trigger": "interval", "minutes": 30, "start_date": "2026-11-21T10:00:00+02:00", "timezone": "America/New_York"}"#,
            json!({"start_date": "2026-11-21T10:00:00+02:00", "next_run_time": "2026-11-21T03:00:00-05:00", "timezone": "America/New_York"}),
            "interval[0:30:00]",
        ),
        // Cron: the same.
        (
            r#"{"id": "c", "func": "rsched:log", "trigger": "cron", "hour": 9, "minute": 30, "start_date": "2026-11-25T00:00:00+02:00", "end_date": "2027-01-01T00:00:00-05:30"}"#,
            json!({"start_date": "2026-11-25T00:00:00+02:00", "end_date": "2027-01-01T00:00:00-05:30", "next_run_time": "2026-11-25T09:30:00+09:00", "timezone": "Asia/Tokyo"}),
            "cron[hour='9', minute='30']",
        ),
        (
            r#"{"id": "c-ny", "func": "rsched:log", "trigger": "cron", "hour": 9, "minute": 30, "start_date": "2026-11-25T00:00:00Z", "timezone": "America/New_York"}"#,
            json!({"start_date": "2026-11-25T00:00:00+00:00", "next_run_time": "2026-11-25T09:30:00-05:00", "timezone": "America/New_York"}),
            "cron[hour='9', minute='30']",
        ),
    ];
    for (body, want, description) in &cases {
        let (status, job) = c.call("POST", "/jobs", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}: {job}");
        assert_eq!(dates(&job), *want, "POST {body}");
        assert_eq!(job["trigger_description"], *description, "{body}");
        // Read back: the same strings.
        let id = job["id"].as_str().unwrap();
        let (status, again) = c.call("GET", &format!("/jobs/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(dates(&again), *want, "GET {id}");
    }
    let (_, list) = c.call("GET", "/jobs", None).await;
    assert_eq!(list.as_array().unwrap().len(), cases.len());
    for job in list.as_array().unwrap() {
        let (_, want, _) = cases
            .iter()
            .find(|(body, _, _)| body.contains(&format!("\"id\": {}", job["id"])))
            .unwrap();
        assert_eq!(dates(job), *want, "GET /jobs: {}", job["id"]);
    }

    // PATCH: a new trigger's dates keep their offsets too, and GET reads them back.
    let patches = [
        (
            "d",
            r#"{"trigger": "date", "run_date": "2099-07-01T06:00:00-05:30"}"#,
            json!({"run_date": "2099-07-01T06:00:00-05:30", "next_run_time": "2099-07-01T06:00:00-05:30", "timezone": "Asia/Tokyo"}),
        ),
        (
            "i",
            r#"{"trigger": "interval", "hours": 2, "start_date": "2026-11-22T00:00:00Z", "end_date": "2026-12-01T00:00:00+02:00"}"#,
            json!({"start_date": "2026-11-22T00:00:00+00:00", "end_date": "2026-12-01T00:00:00+02:00", "next_run_time": "2026-11-22T09:00:00+09:00", "timezone": "Asia/Tokyo"}),
        ),
        (
            "c",
            r#"{"trigger": "cron", "hour": 9, "minute": 30, "start_date": "2026-11-26T00:00:00-05:30"}"#,
            json!({"start_date": "2026-11-26T00:00:00-05:30", "next_run_time": "2026-11-27T09:30:00+09:00", "timezone": "Asia/Tokyo"}),
        ),
    ];
    for (id, body, want) in &patches {
        let (status, job) = c.call("PATCH", &format!("/jobs/{id}"), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}: {job}");
        assert_eq!(dates(&job), *want, "PATCH {id}");
        let (_, again) = c.call("GET", &format!("/jobs/{id}"), None).await;
        assert_eq!(dates(&again), *want, "GET {id} after PATCH");
    }
    // What the API echoes is a definition it takes back unchanged.
    let (_, job) = c.call("GET", "/jobs/d-india", None).await;
    let copy = json!({"id": "d-copy", "func": job["func"], "trigger": job["trigger"],
                      "run_date": job["run_date"], "timezone": job["timezone"]});
    let (status, copied) = c.call("POST", "/jobs", Some(&copy.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{copied}");
    assert_eq!(dates(&copied), dates(&job));
}

#[tokio::test]
async fn jobs_crud_with_flask_apscheduler_status_codes() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    assert_eq!(c.call("POST", "/jobs", Some(JOB1)).await.0, StatusCode::OK);
    let (status, body) = c.call("POST", "/jobs", Some(JOB1)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error_message"], "Job job1 already exists.");
    let b = r#"{"id": "b", "func": "rsched:log", "trigger": "interval", "seconds": 1}"#;
    assert_eq!(c.call("POST", "/jobs", Some(b)).await.0, StatusCode::OK);

    let (status, paused) = c.call("POST", "/jobs/b/pause", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["next_run_time"], Value::Null);
    let (_, list) = c.call("GET", "/jobs", None).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["job1", "b"], "paused jobs last");
    let (status, resumed) = c.call("POST", "/jobs/b/resume", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resumed["next_run_time"], "2026-11-20T09:40:01+00:00");
    let (_, list) = c.call("GET", "/jobs", None).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b", "job1"], "by next run time");

    // PATCH: trigger and options together.
    let (status, job) = c
        .call(
            "PATCH",
            "/jobs/job1",
            Some(r#"{"name": "renamed", "max_instances": 3, "trigger": "cron", "minute": "*/10"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["name"], "renamed");
    assert_eq!(job["max_instances"], 3);
    assert_eq!(job["trigger"], "cron");
    // Rescheduled from now (09:40:00), which `*/10` matches: APScheduler includes now.
    assert_eq!(job["next_run_time"], "2026-11-20T09:40:00+00:00");
    // A bad PATCH changes nothing.
    let (status, _) = c
        .call(
            "PATCH",
            "/jobs/job1",
            Some(r#"{"name": "again", "trigger": "cron", "minute": "61"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(c.call("GET", "/jobs/job1", None).await.1["name"], "renamed");

    let (status, job) = c.call("POST", "/jobs/job1/run", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["id"], "job1");
    // The run lands in the history (written in the background).
    let mut runs = Value::Null;
    for _ in 0..100 {
        runs = c.call("GET", "/jobs/job1/runs", None).await.1;
        if runs.as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(runs[0]["job_id"], "job1");
    assert_eq!(runs[0]["outcome"], "success");
    assert!(runs[0]["scheduler_id"].is_string());
    assert_eq!(
        c.call("GET", "/jobs/job1/runs?limit=0", None).await.0,
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        c.call("DELETE", "/jobs/job1", None).await.0,
        StatusCode::NO_CONTENT
    );
    for (method, uri) in [
        ("GET", "/jobs/job1"),
        ("DELETE", "/jobs/job1"),
        ("POST", "/jobs/job1/pause"),
        ("POST", "/jobs/job1/resume"),
        ("POST", "/jobs/job1/run"),
        ("GET", "/jobs/nobody/runs"),
    ] {
        let (status, body) = c.call(method, uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        let message = body["error_message"].as_str().unwrap();
        assert!(
            message == "Job job1 not found" || message == "Job nobody not found",
            "{method} {uri}: {message}"
        );
    }
    let (status, body) = c
        .call("PATCH", "/jobs/job1", Some(r#"{"name": "x"}"#))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_message"], "Job job1 not found");
}

#[tokio::test]
async fn client_mistakes_are_400_naming_the_field() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    let cases = [
        (r#"{"func": "rsched:log"}"#, "id"),
        (r#"{"id": "x"}"#, "func"),
        (r#"{"id": "x", "func": "app:nope"}"#, "func"),
        (r#"{"id": "x", "func": "app:add", "args": ["a"]}"#, "args"),
        (
            r#"{"id": "x", "func": "rsched:log", "trigger": "cron", "hour": 24}"#,
            "hour",
        ),
        (
            r#"{"id": "x", "func": "rsched:log", "trigger": "cron", "bogus": 1}"#,
            "bogus",
        ),
        (
            r#"{"id": "x", "func": "rsched:log", "trigger": "date", "run_date": "someday"}"#,
            "run_date",
        ),
        (
            r#"{"id": "x", "func": "rsched:log", "trigger": "interval", "seconds": -5}"#,
            "trigger",
        ),
        (
            r#"{"id": "x", "func": "rsched:log", "trigger": "weekly"}"#,
            "trigger",
        ),
        (r#"{"id": "", "func": "rsched:log"}"#, "id"),
        (r#"[1, 2]"#, "JSON object"),
        (r#"{"id": "x", "#, "malformed JSON"),
    ];
    for (body, field) in cases {
        let (status, answer) = c.call("POST", "/jobs", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error_message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let (status, _, _) = c.raw("POST", "/jobs", Some(JOB1), "text/plain").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(c.call("POST", "/jobs", Some(JOB1)).await.0, StatusCode::OK);
    let (status, answer) = c
        .call("PATCH", "/jobs/job1", Some(r#"{"id": "other"}"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error_message"].as_str().unwrap().starts_with("id:"));
    let (status, answer) = c
        .call("PATCH", "/jobs/job1", Some(r#"{"func": "app:nope"}"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(s.get_jobs(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn preview_health_and_metrics() {
    let s = scheduler();
    let c = Client::new(&s, ApiOptions::default());
    let (status, body) = c
        .call("POST", "/preview", Some(r#"{"trigger": {"type": "cron", "hour": 2, "minute": 30, "timezone": "America/New_York"}, "after": "2026-03-07T00:00:00-05:00", "count": 3}"#))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["fire_times"],
        json!([
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:30:00-04:00",
            "2026-03-09T02:30:00-04:00"
        ])
    );
    let (status, body) = c
        .call(
            "POST",
            "/preview",
            Some(r#"{"trigger": {"type": "cron", "hour": 25}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error_message"].as_str().unwrap().contains("hour"));

    let (status, body) = c.call("GET", "/healthz", None).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    let (status, headers, text) = c.raw("GET", "/metrics", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    // Other tests of this process run jobs through the same (process-wide) recorder: names and
    // types are checked here, values in tests/metrics.rs.
    for line in [
        "# TYPE rsched_runs_executed_total counter",
        "# TYPE rsched_runs_failed_total counter",
        "rsched_jobs{state=\"paused\"} 0",
        "rsched_scheduler_running 0",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}

fn argon2_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn auth() -> Arc<Auth> {
    let config: AuthConfig = serde_json::from_value(json!({
        "users": [
            {"username": "admin", "password_env": "ADMIN_PW", "role": "admin"},
            // bcrypt of "viewer-pw", cost 4
            {"username": "viewer", "password_hash": bcrypt::hash("viewer-pw", 4).unwrap(), "role": "read"},
            {"username": "argon", "password_hash": argon2_hash("argon-pw")}
        ],
        "tokens": [{"token_env": "TOKEN", "role": "admin"}]
    }))
    .unwrap();
    let env = |name: &str| match name {
        "ADMIN_PW" => Some("s3cret".to_owned()),
        "TOKEN" => Some("tok-123".to_owned()),
        _ => None,
    };
    Arc::new(Auth::from_config(&config, env).unwrap())
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn basic_and_bearer_auth_with_roles() {
    let s = scheduler();
    let options = ApiOptions {
        auth: Some(auth()),
        ..ApiOptions::default()
    };
    let mut c = Client::new(&s, options);
    let (status, headers, _) = c.raw("GET", "/jobs", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Basic realm=\"Authentication Required\""
    );
    c.auth = Some(basic("admin", "wrong"));
    assert_eq!(
        c.call("GET", "/jobs", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    c.auth = Some(basic("admin", "s3cret"));
    assert_eq!(c.call("GET", "/jobs", None).await.0, StatusCode::OK);
    assert_eq!(
        c.call("POST", "/start", None).await.0,
        StatusCode::NO_CONTENT
    );
    c.auth = Some(basic("argon", "argon-pw"));
    assert_eq!(
        c.call("POST", "/pause", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.call("POST", "/resume", None).await.0,
        StatusCode::NO_CONTENT
    );
    c.auth = Some(basic("argon", "argon-pw!"));
    assert_eq!(c.call("GET", "/", None).await.0, StatusCode::UNAUTHORIZED);
    c.auth = Some(basic("viewer", "viewer-pw"));
    assert_eq!(c.call("GET", "/", None).await.0, StatusCode::OK);
    assert_eq!(
        c.call("POST", "/pause", None).await.0,
        StatusCode::FORBIDDEN
    );
    c.auth = Some("Bearer tok-123".into());
    assert_eq!(
        c.call("POST", "/pause", None).await.0,
        StatusCode::NO_CONTENT
    );
    c.auth = Some("Bearer nope".into());
    assert_eq!(
        c.call("GET", "/jobs", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    c.auth = None;
    assert_eq!(
        c.call("GET", "/healthz", None).await.0,
        StatusCode::OK,
        "health needs no credentials"
    );
    assert!(Role::Read.allows(&axum::http::Method::GET));
    assert!(!Role::Read.allows(&axum::http::Method::DELETE));
}

#[test]
fn auth_config_mistakes_are_reported() {
    let bad = [
        json!({"users": [{"username": "a", "password_env": "UNSET"}]}),
        json!({"users": [{"username": "a"}]}),
        json!({"users": [{"username": "a", "password_hash": "plain"}]}),
        json!({"users": [{"username": "a", "password_hash": "$argon2id$nonsense"}]}),
        json!({}),
    ];
    for config in bad {
        let config: AuthConfig = serde_json::from_value(config.clone()).unwrap();
        assert!(Auth::from_config(&config, |_| None).is_err(), "{config:?}");
    }
}

#[tokio::test]
async fn events_stream_the_schedulers_events() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    let request = Request::builder()
        .uri("/events")
        .body(Body::empty())
        .unwrap();
    let response = c.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    assert_eq!(c.call("POST", "/jobs", Some(JOB1)).await.0, StatusCode::OK);
    let frame = body.frame().await.unwrap().unwrap();
    let text = String::from_utf8_lossy(frame.data_ref().unwrap()).into_owned();
    assert!(text.starts_with("event: job_added\n"), "{text}");
    assert!(text.contains("\"job_id\":\"job1\""), "{text}");
    assert!(
        text.contains(&format!("\"scheduler_id\":\"{}\"", s.id())),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_tasks_timeline_and_bodies_without_content_type() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    let (status, doc) = c.call("GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/",
        "/jobs",
        "/jobs/{id}",
        "/jobs/{id}/run",
        "/preview",
        "/metrics",
        "/events",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(
        doc["paths"]["/jobs"]["post"]["responses"]
            .get("409")
            .is_some()
    );

    let (status, quarantined) = c.call("GET", "/quarantine", None).await;
    assert_eq!((status, quarantined), (StatusCode::OK, json!([])));
    let (_, tasks) = c.call("GET", "/tasks", None).await;
    assert_eq!(tasks, json!(["app:add", "rsched:log"]));

    // Flask-APScheduler reads bodies with get_json(force=True): no Content-Type is fine.
    let (status, _, _) = c.raw("POST", "/jobs", Some(JOB1), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, timeline) = c.call("GET", "/timeline?seconds=20", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(timeline[0]["job_id"], "job1");
    assert_eq!(
        timeline[0]["fire_times"],
        json!([
            "2026-11-20T09:40:05+00:00",
            "2026-11-20T09:40:10+00:00",
            "2026-11-20T09:40:15+00:00",
            "2026-11-20T09:40:20+00:00"
        ])
    );
    assert_eq!(
        c.call("GET", "/timeline?seconds=0", None).await.0,
        StatusCode::BAD_REQUEST
    );

    let (status, _, page) = c.raw("GET", "/ui", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("__BASE__"));
}

#[tokio::test]
async fn calendars_through_the_api() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    // A bad definition names its field.
    let (status, body) = c
        .call(
            "PUT",
            "/calendars/holidays",
            Some(r#"{"type": "dates", "dates": ["2026-02-30"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .starts_with("dates[0]:"),
        "{body}"
    );
    let (status, body) = c
        .call(
            "PUT",
            "/calendars/holidays",
            Some(r#"{"type": "dates", "dates": ["2026-11-21"], "description": "a day off"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dates"], json!(["2026-11-21"]));
    let (status, body) = c.call("GET", "/calendars", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["holidays"]["description"], "a day off");
    let (status, _) = c.call("GET", "/calendars/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A job naming it skips the excluded day (the clock is 2026-11-20 09:40 UTC).
    let (status, job) = c
        .call(
            "POST",
            "/jobs",
            Some(
                r#"{"id": "daily", "func": "app:add", "args": [1, 2], "trigger": "cron",
                    "hour": 9, "minute": 0, "calendars": ["holidays"], "retries": 2,
                    "retry_delay": "30s"}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["next_run_time"], "2026-11-22T09:00:00+00:00");
    assert_eq!(job["calendars"], json!(["holidays"]));
    assert_eq!(
        (
            &job["retries"],
            &job["retry_delay"],
            &job["retry_backoff"],
            &job["retry_jitter"]
        ),
        (&json!(2), &json!(30), &json!(2.0), &json!(true))
    );
    let (status, body) = c
        .call(
            "POST",
            "/jobs",
            Some(r#"{"id": "x", "func": "app:add", "args": [1, 2], "calendars": ["nope"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .starts_with("calendars[0]: no calendar named 'nope'"),
        "{body}"
    );
    let (status, body) = c
        .call(
            "POST",
            "/jobs",
            Some(r#"{"id": "x", "func": "app:add", "args": [1, 2], "retries": -1}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .starts_with("retries:"),
        "{body}"
    );

    // The preview honours calendars.
    let (status, body) = c
        .call(
            "POST",
            "/preview",
            Some(
                r#"{"trigger": {"type": "cron", "hour": 9, "minute": 0, "timezone": "UTC"},
                    "count": 2, "after": "2026-11-20T10:00:00+00:00", "calendars": ["holidays"]}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["fire_times"],
        json!(["2026-11-22T09:00:00+00:00", "2026-11-23T09:00:00+00:00"])
    );

    // In use: not removed. Then removed once no job names it.
    let (status, body) = c.call("DELETE", "/calendars/holidays", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_message"].as_str().unwrap().contains("daily"),
        "{body}"
    );
    let (status, _) = c
        .call("PATCH", "/jobs/daily", Some(r#"{"calendars": []}"#))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.call("DELETE", "/calendars/holidays", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = c.call("DELETE", "/calendars/holidays", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn backfill_through_the_api() {
    let s = scheduler();
    let c = Client::new(&s, ApiOptions::default());
    let (status, _) = c
        .call(
            "POST",
            "/jobs",
            Some(
                r#"{"id": "hourly", "func": "app:add", "args": [1, 2], "trigger": "interval",
                    "hours": 1, "start_date": "2026-11-20T00:00:00+00:00"}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = r#"{"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T03:00:00Z"}"#;
    // Not while the scheduler is stopped.
    let (status, _) = c.call("POST", "/jobs/hourly/backfill", Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.start().await.unwrap();
    let next = s.get_job("hourly").await.unwrap().unwrap().next_run_time();
    let (status, report) = c.call("POST", "/jobs/hourly/backfill", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["fire_times"], 3);
    assert_eq!(report["overlap"], "buffer_all");
    // The three runs land in the history, marked, and the schedule did not move.
    let runs = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let (_, runs) = c.call("GET", "/jobs/hourly/runs", None).await;
            if runs.as_array().is_some_and(|r| r.len() == 3) {
                return runs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the backfilled runs are not in the history");
    for run in runs.as_array().unwrap() {
        assert_eq!(run["backfill"], true, "{run}");
        assert_eq!(run["attempt"], 1);
        assert_eq!(run["result"], 3, "{run}");
    }
    assert_eq!(
        s.get_job("hourly").await.unwrap().unwrap().next_run_time(),
        next
    );
    for (body, expected) in [
        (
            r#"{"start": "2026-11-20T03:00:00Z", "end": "2026-11-20T00:00:00Z"}"#,
            "end: must be after start",
        ),
        (
            r#"{"start": "2026-11-20T00:00:00Z", "end": "2028-06-01T00:00:00Z"}"#,
            "end: the range holds more than 10000 fire times",
        ),
        (
            r#"{"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T03:00:00Z", "overlap": "skip"}"#,
            "overlap: 'skip'",
        ),
        (
            r#"{"start": "yesterday", "end": "2026-11-20T03:00:00Z"}"#,
            "start:",
        ),
        (r#"{"end": "2026-11-20T03:00:00Z"}"#, "start: missing"),
    ] {
        let (status, answer) = c.call("POST", "/jobs/hourly/backfill", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer["error_message"]
                .as_str()
                .unwrap()
                .starts_with(expected),
            "{body}: {answer}"
        );
    }
    let (status, _) = c.call("POST", "/jobs/nope/backfill", Some(body)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = c
        .call(
            "POST",
            "/jobs/hourly/backfill",
            Some(r#"{"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T03:00:00Z", "until": 1}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error_message"]
            .as_str()
            .unwrap()
            .starts_with("until: unknown field"),
        "{answer}"
    );
}

#[tokio::test]
async fn tags_and_metadata_are_kept_changed_and_checked() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    let (status, job) = c
        .call(
            "POST",
            "/jobs",
            Some(
                r#"{"id": "tagged", "func": "rsched:log", "trigger": "interval", "minutes": 5,
                    "tags": ["billing", "eu"], "metadata": {"customer": 42, "plan": {"tier": "gold"}}}"#,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["tags"], json!(["billing", "eu"]));
    assert_eq!(
        job["metadata"],
        json!({"customer": 42, "plan": {"tier": "gold"}})
    );
    let (status, job) = c
        .call(
            "PATCH",
            "/jobs/tagged",
            Some(r#"{"tags": ["eu"], "metadata": null}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["tags"], json!(["eu"]));
    assert_eq!(job["metadata"], json!({}));
    // Bad tags and metadata are 400s naming the field.
    for (body, field) in [
        (r#"{"tags": ["a,b"]}"#, "tags[0]:"),
        (r#"{"tags": ["x", "x"]}"#, "tags[1]:"),
        (r#"{"tags": [""]}"#, "tags[0]:"),
        (r#"{"tags": [7]}"#, "tags[0]:"),
        (r#"{"metadata": [1]}"#, "metadata:"),
    ] {
        let (status, error) = c.call("PATCH", "/jobs/tagged", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        let message = error["error_message"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let big = format!(r#"{{"metadata": {{"blob": "{}"}}}}"#, "x".repeat(20_000));
    let (status, error) = c.call("PATCH", "/jobs/tagged", Some(&big)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["error_message"]
            .as_str()
            .unwrap()
            .starts_with("metadata:")
    );
    let too_many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let body = json!({"tags": too_many}).to_string();
    let (status, _) = c.call("PATCH", "/jobs/tagged", Some(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.shutdown(false).await.unwrap();
}

/// `GET /jobs` pages: 25 jobs, 5 tagged `billing`, 3 paused; pages follow `next_cursor` to the
/// end in the store's order, filters narrow `total`, bad parameters are 400s naming them, and
/// bulk pause/resume by tag change exactly the matching jobs. A job named "pause" keeps its
/// routes beside the bulk action's.
#[tokio::test]
async fn paged_filtered_listing_and_bulk_actions() {
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    for i in 0..25 {
        let tags = if i % 5 == 0 {
            json!(["billing"])
        } else {
            json!([])
        };
        let body = json!({"id": format!("job-{i:02}"), "name": format!("Report {i}"), "func": "rsched:log",
            "trigger": "interval", "minutes": 60 - i, "tags": tags});
        let (status, job) = c.call("POST", "/jobs", Some(&body.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{job}");
    }
    for id in ["job-03", "job-07", "job-11"] {
        let (status, _) = c.call("POST", &format!("/jobs/{id}/pause"), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Without parameters: Flask-APScheduler's array, as before.
    let (_, all) = c.call("GET", "/jobs", None).await;
    let all_ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(all_ids.len(), 25);
    // Pages of 10 walk the same order: by next run time, paused last.
    let mut walked = Vec::new();
    let mut uri = "/jobs?limit=10".to_owned();
    for page_no in 0.. {
        let (status, page) = c.call("GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["total"], 25);
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 10);
        walked.extend(jobs.iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/jobs?limit=10&cursor={cursor}"),
            None => {
                assert_eq!(page_no, 2, "three pages of 10, 10 and 5");
                break;
            }
        }
    }
    assert_eq!(walked, all_ids);
    // By id; filters.
    let (_, page) = c.call("GET", "/jobs?sort=id&limit=3", None).await;
    let ids: Vec<&str> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["job-00", "job-01", "job-02"]);
    let count = |uri: &'static str| {
        let c = &c;
        async move {
            let (status, page) = c.call("GET", uri, None).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {page}");
            assert_eq!(
                page["jobs"].as_array().unwrap().len() as u64,
                page["total"].as_u64().unwrap(),
                "{uri}"
            );
            page["total"].as_u64().unwrap()
        }
    };
    assert_eq!(count("/jobs?tag=billing").await, 5);
    assert_eq!(count("/jobs?state=paused").await, 3);
    assert_eq!(count("/jobs?state=scheduled").await, 22);
    assert_eq!(count("/jobs?q=REPORT%201").await, 11, "Report 1, 10..=19");
    assert_eq!(count("/jobs?q=job-2&tag=billing").await, 1, "job-20");
    assert_eq!(count("/jobs?state=running").await, 0);
    assert_eq!(count("/jobs?state=quarantined").await, 0);
    // Bad parameters name themselves.
    for (uri, field) in [
        ("/jobs?limit=0", "limit:"),
        ("/jobs?limit=1001", "limit:"),
        ("/jobs?limit=ten", "limit:"),
        ("/jobs?state=sleeping", "state:"),
        ("/jobs?sort=name", "sort:"),
        ("/jobs?cursor=not-a-cursor", "cursor:"),
        ("/jobs?q=a%00b", "q:"),
        ("/jobs?tag=%0A", "tag:"),
    ] {
        let (status, error) = c.call("GET", uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let message = error["error_message"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{uri}: {message}");
    }
    // A cursor of one order is refused by the other.
    let (_, page) = c.call("GET", "/jobs?sort=id&limit=1", None).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, _) = c
        .call("GET", &format!("/jobs?limit=1&cursor={cursor}"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Bulk pause by tag: the 5 billing jobs, none twice; resume brings them back.
    let (status, answer) = c.call("POST", "/jobs/pause?tag=billing", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["count"], 5);
    assert_eq!(count("/jobs?state=paused").await, 8);
    assert_eq!(count("/jobs?state=paused&tag=billing").await, 5);
    let (status, answer) = c.call("POST", "/jobs/resume?tag=billing", None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["count"], 5);
    assert_eq!(
        count("/jobs?state=paused").await,
        3,
        "the others stay paused"
    );
    let (status, error) = c.call("POST", "/jobs/pause", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no filter: {error}");
    assert_eq!(count("/jobs?state=paused").await, 3);
    // A job named "pause" is still read, changed and removed at its own URL.
    let (status, _) = c
        .call(
            "POST",
            "/jobs",
            Some(r#"{"id": "pause", "func": "rsched:log", "trigger": "interval", "minutes": 1}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, job) = c.call("GET", "/jobs/pause", None).await;
    assert_eq!(
        (status, job["id"].as_str()),
        (StatusCode::OK, Some("pause"))
    );
    let (status, job) = c
        .call("PATCH", "/jobs/pause", Some(r#"{"name": "renamed"}"#))
        .await;
    assert_eq!(
        (status, job["name"].as_str()),
        (StatusCode::OK, Some("renamed"))
    );
    let (status, _) = c.call("POST", "/jobs/pause/pause", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c.call("DELETE", "/jobs/pause", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(s.get_job("pause").await.unwrap().is_none());
    s.shutdown(false).await.unwrap();
}

/// The dashboard's reads: `GET /problems` (error, missed, crashed, timed-out runs of every job,
/// newest first, paged by `next_before`), `GET /summary` (jobs by state, history by outcome in
/// the last hour and day) and `include=last_run` on a page of jobs.
#[tokio::test]
async fn problems_summary_and_last_runs() {
    use scheduler_core::{Retention, RunOutcome, RunRecord};
    let s = scheduler();
    s.start().await.unwrap();
    let c = Client::new(&s, ApiOptions::default());
    for id in ["a", "b"] {
        let body = json!({"id": id, "func": "rsched:log", "trigger": "interval", "minutes": 5});
        let (status, _) = c.call("POST", "/jobs", Some(&body.to_string())).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = c.call("POST", "/jobs/b/pause", None).await;
    assert_eq!(status, StatusCode::OK);
    let now = s.clock().now();
    let record = |job: &str, minutes_ago: i64, outcome: RunOutcome| RunRecord {
        job_id: job.into(),
        scheduled_run_time: now - chrono::Duration::minutes(minutes_ago),
        started: Some(now - chrono::Duration::minutes(minutes_ago)),
        finished: Some(
            now - chrono::Duration::minutes(minutes_ago) + chrono::Duration::milliseconds(1500),
        ),
        outcome,
        error: (outcome == RunOutcome::Error).then(|| "boom".to_owned()),
        scheduler_id: "host-1".into(),
        attempt: 1,
        backfill: false,
        result: None,
    };
    s.jobstore("default")
        .unwrap()
        .history()
        .unwrap()
        .record_runs(
            &[
                record("a", 300, RunOutcome::Crashed),
                record("a", 30, RunOutcome::Error),
                record("b", 20, RunOutcome::Success),
                record("a", 10, RunOutcome::Success),
                record("b", 5, RunOutcome::Missed),
            ],
            Retention {
                per_job: 100,
                max_age: std::time::Duration::from_secs(86_400 * 7),
            },
        )
        .await
        .unwrap();
    let (status, page) = c.call("GET", "/problems?limit=2", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let outcomes = |page: &Value| -> Vec<String> {
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["job_id"].as_str().unwrap(),
                    r["outcome"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(outcomes(&page), ["b missed", "a error"], "newest first");
    let before = page["next_before"].as_str().unwrap().to_owned();
    let (_, next) = c
        .call(
            "GET",
            &format!("/problems?limit=2&before={}", before.replace('+', "%2B")),
            None,
        )
        .await;
    assert_eq!(outcomes(&next), ["a crashed"]);
    assert!(next["next_before"].is_null());
    for uri in ["/problems?limit=0", "/problems?before=yesterday"] {
        let (status, _) = c.call("GET", uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
    }
    let (status, summary) = c.call("GET", "/summary", None).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        summary["jobs"],
        json!({"scheduled": 1, "paused": 1, "running": 0, "quarantined": 0, "total": 2})
    );
    assert_eq!(
        summary["runs"]["1h"],
        json!({"error": 1, "success": 2, "missed": 1})
    );
    assert_eq!(summary["runs"]["24h"]["crashed"], 1);
    let (_, page) = c.call("GET", "/jobs?include=last_run&sort=id", None).await;
    let jobs = page["jobs"].as_array().unwrap();
    assert_eq!(jobs[0]["last_run"]["outcome"], "success");
    assert_eq!(jobs[0]["last_run"]["duration"], 1.5);
    assert_eq!(jobs[1]["last_run"]["outcome"], "missed");
    let (_, page) = c.call("GET", "/jobs?limit=5", None).await;
    assert!(
        page["jobs"][0].get("last_run").is_none(),
        "only when asked for"
    );
    s.shutdown(false).await.unwrap();
}
