//! `rsched:http` against a local axum server, through a real scheduler.
#![cfg(feature = "http-task")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use rsched::{Event, JobSpec, Scheduler};
use serde_json::{Value, json};

/// What the server saw: (method and path, headers of interest, body).
type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>, String)>>>;

async fn server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = |what: &'static str, seen: Seen| {
        move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                seen.lock().unwrap().push((
                    what.to_owned(),
                    header("x-token"),
                    header("content-type"),
                    body,
                ));
                "pong"
            }
        }
    };
    let app = Router::new()
        .route("/ping", get(record("GET /ping", seen.clone())))
        .route("/hook", post(record("POST /hook", seen.clone())))
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/big", get(|| async { "x".repeat(10_000) }))
        .route("/gone", get(|| async { StatusCode::GONE }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

async fn run_once(kwargs: Value) -> Event {
    let scheduler = Scheduler::builder()
        .registry(rsched::registry_with_builtins())
        .jobstore("default", rsched::memory::MemoryJobStore::new())
        .build()
        .unwrap();
    let mut events = scheduler.subscribe();
    scheduler.start().await.unwrap();
    let mut spec = JobSpec::new("rsched:http").id("http-test");
    spec.kwargs = kwargs.as_object().unwrap().clone();
    scheduler.add_job(spec).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let e @ (Event::JobExecuted { .. } | Event::JobError { .. }) =
                events.recv().await.unwrap()
            {
                return e;
            }
        }
    })
    .await
    .unwrap();
    scheduler.shutdown(true).await.unwrap();
    event
}

#[tokio::test]
async fn get_returns_status_and_body() {
    let (base, seen) = server().await;
    let event =
        run_once(json!({"url": format!("{base}/ping"), "headers": {"X-Token": "t1"}})).await;
    let Event::JobExecuted { retval, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(retval, json!({"status": 200, "body": "pong"}));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "GET /ping");
    assert_eq!(seen[0].1.as_deref(), Some("t1"));
}

#[tokio::test]
async fn post_sends_json() {
    let (base, seen) = server().await;
    let event = run_once(json!({
        "url": format!("{base}/hook"), "method": "post", "json": {"order": 42}
    }))
    .await;
    assert!(matches!(event, Event::JobExecuted { .. }), "{event:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "POST /hook");
    assert_eq!(seen[0].2.as_deref(), Some("application/json"));
    assert_eq!(seen[0].3, r#"{"order":42}"#);
}

#[tokio::test]
async fn a_status_outside_expect_status_is_a_job_error() {
    let (base, _) = server().await;
    let event = run_once(json!({"url": format!("{base}/broken")})).await;
    let Event::JobError { error, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(
        error,
        format!("GET {base}/broken answered 500: database down")
    );
    // 410 is what this caller expects.
    let event = run_once(json!({"url": format!("{base}/gone"), "expect_status": [200, 410]})).await;
    let Event::JobExecuted { retval, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(retval["status"], 410);
}

#[tokio::test]
async fn the_body_is_cut_and_the_timeout_applies() {
    let (base, _) = server().await;
    let event = run_once(json!({"url": format!("{base}/big")})).await;
    let Event::JobExecuted { retval, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(retval["body"].as_str().unwrap().len(), 2048 + 3);
    let event = run_once(json!({"url": format!("{base}/slow"), "timeout": "200ms"})).await;
    let Event::JobError { error, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(error, format!("GET {base}/slow timed out after 200ms"));
}

#[tokio::test]
async fn bad_arguments_name_the_field() {
    for (kwargs, expected) in [
        (
            json!({"url": "ftp://example.com/x"}),
            "url: only http and https",
        ),
        (json!({"url": "not a url"}), "url: 'not a url' is not a URL"),
        (
            json!({"url": "http://127.0.0.1:1/", "expect_status": "9xx"}),
            "expect_status: '9xx'",
        ),
        (
            json!({"url": "http://127.0.0.1:1/", "body": "a", "json": {}}),
            "body and json",
        ),
    ] {
        let event = run_once(kwargs.clone()).await;
        let Event::JobError { error, .. } = event else {
            panic!("{event:?}")
        };
        assert!(error.starts_with(expected), "{kwargs}: {error}");
    }
    // Unknown keys are refused when the job is added.
    let scheduler = Scheduler::builder()
        .registry(rsched::registry_with_builtins())
        .jobstore("default", rsched::memory::MemoryJobStore::new())
        .build()
        .unwrap();
    let mut spec = JobSpec::new("rsched:http").id("typo");
    spec.kwargs = json!({"url": "http://x/", "methd": "GET"})
        .as_object()
        .unwrap()
        .clone();
    let err = scheduler.add_job(spec).await.unwrap_err();
    assert!(err.message().contains("methd"), "{err}");
}
