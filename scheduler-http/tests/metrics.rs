//! `GET /metrics` on the `metrics` facade's Prometheus exporter: the router installs the
//! recorder (its own process here: the recorder is process-wide), runs are counted, and the
//! duration, lateness and job-store histograms are filled.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use scheduler_core::{Event, EventMask};
use serde_json::json;
use tower::ServiceExt as _;

mod common;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The value of the sample line that starts with `series` (`name{labels}`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn runs_are_counted_and_timed_through_the_metrics_facade() {
    let s = common::scheduler();
    let app = scheduler_http::router(s.clone(), scheduler_http::ApiOptions::default());
    let mut events = s.subscribe();
    s.start().await.unwrap();
    let now = s.clock().now();
    let body = json!({"id": "once", "func": "app:add", "args": [1, 2], "trigger": "date",
        "run_date": now.to_rfc3339()});
    let spec = scheduler_core::JobSpec::from_flat(body.as_object().unwrap().clone()).unwrap();
    s.add_job(spec).await.unwrap();
    s.wakeup();
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
            .await
            .expect("the job ran")
            .unwrap();
        if EventMask::JOB_EXECUTED.contains(event.code()) {
            assert!(matches!(event, Event::JobExecuted { .. }));
            break;
        }
    }
    let (status, text) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sample(&text, "rsched_runs_executed_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "rsched_runs_submitted_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "rsched_runs_failed_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "rsched_run_duration_seconds_count"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "rsched_run_lateness_seconds_count"),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("rsched_run_lateness_seconds_bucket{le=\"0.001\"}"),
        "histogram buckets, not a summary: {text}"
    );
    assert!(
        sample(
            &text,
            "rsched_store_acquire_seconds_count{jobstore=\"default\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "rsched_store_release_seconds_count{jobstore=\"default\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "rsched_jobs{state=\"scheduled\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "rsched_scheduler_running"),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("# HELP rsched_runs_executed_total Runs that finished successfully."));
    s.shutdown(false).await.unwrap();
}
