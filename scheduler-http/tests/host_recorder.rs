//! A host application that exports metrics through its own `metrics` recorder (installed
//! before rsched's router) sees rsched's counters and histograms in it; `GET /metrics` then
//! says where they went instead of serving an empty page.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use scheduler_core::EventMask;
use serde_json::json;
use tower::ServiceExt as _;

mod common;

#[tokio::test]
async fn the_host_applications_recorder_sees_rsched_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the first recorder of this process");

    let s = common::scheduler();
    let app = scheduler_http::router(s.clone(), scheduler_http::ApiOptions::default());
    let mut events = s.subscribe();
    s.start().await.unwrap();
    let body = json!({"id": "once", "func": "app:add", "args": [1, 2], "trigger": "date",
        "run_date": s.clock().now().to_rfc3339()});
    s.add_job(scheduler_core::JobSpec::from_flat(body.as_object().unwrap().clone()).unwrap())
        .await
        .unwrap();
    s.wakeup();
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
            .await
            .expect("the job ran")
            .unwrap();
        if EventMask::JOB_EXECUTED.contains(event.code()) {
            break;
        }
    }
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str| {
        snapshot
            .iter()
            .find(|(key, ..)| key.key().name() == name)
            .map(|(.., v)| v)
    };
    assert_eq!(
        value("rsched_runs_executed_total"),
        Some(&DebugValue::Counter(1))
    );
    assert!(
        matches!(value("rsched_run_duration_seconds"), Some(DebugValue::Histogram(h)) if h.len() == 1)
    );
    assert!(matches!(
        value("rsched_store_acquire_seconds"),
        Some(DebugValue::Histogram(h)) if !h.is_empty()
    ));
    let response = app
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    s.shutdown(false).await.unwrap();
}
