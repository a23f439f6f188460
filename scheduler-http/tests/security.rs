//! Safe by default: each rule of `scheduler_http::security` tried as an attacker would, through
//! `tower::ServiceExt::oneshot`, next to the Flask-APScheduler client shapes that must keep
//! working.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use scheduler_core::{JobSpec, Scheduler};
use scheduler_http::{ApiOptions, Auth, AuthConfig};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::scheduler;

/// What `curl`, Python `requests` and Flask-APScheduler clients send: no Origin, no Sec-Fetch.
const PLAIN: &[(&str, &str)] = &[("host", "localhost:5000")];

/// A cross-origin web page in the user's browser.
const EVIL: &[(&str, &str)] = &[
    ("host", "localhost:5000"),
    ("origin", "http://evil.example"),
    ("sec-fetch-site", "cross-site"),
    ("sec-fetch-mode", "no-cors"),
];

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    if let Some(length) = body.map(str::len) {
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length.into());
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        headers,
        body,
    }
}

fn with(
    base: &[(&'static str, &'static str)],
    more: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    base.iter().chain(more).copied().collect()
}

const JSON: (&str, &str) = ("content-type", "application/json");
const LOG_JOB: &str = r#"{"id": "x", "func": "rsched:log", "trigger": "date"}"#;
const EXEC_JOB: &str = r#"{"id":"x","func":"rsched:exec","kwargs":{"program":"sh","args":["-c","id > /tmp/owned"]},"trigger":"date"}"#;

async fn add(s: &Scheduler, id: &str, func: &str) {
    s.add_job(JobSpec::new(func).id(id).trigger(
        scheduler_core::BuiltinTrigger::from_json(r#"{"type":"interval","seconds":5}"#).unwrap(),
    ))
    .await
    .unwrap();
}

fn error_of(answer: &Answer) -> String {
    answer.body["error_message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn cross_origin_requests_change_nothing() {
    let s = scheduler();
    s.start().await.unwrap();
    add(&s, "job1", "rsched:log").await;
    s.put_calendar(
        "kept",
        scheduler_core::ExclusionCalendar::from_value(
            json!({"type": "dates", "dates": ["2030-01-01"]}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let app = scheduler_http::router(s.clone(), ApiOptions::default());

    // (a) of the issue: a "simple" cross-origin POST with no Content-Type.
    let a = send(&app, "POST", "/jobs", &with(EVIL, &[]), Some(LOG_JOB)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(error_of(&a).contains("allowed_origins"), "{}", error_of(&a));
    assert!(s.get_job("x").await.unwrap().is_none());

    // Every route that changes state, from a foreign Origin (no Sec-Fetch header needed):
    // refused, and the job is as it was.
    let evil_origin = [
        ("host", "localhost:5000"),
        ("origin", "http://evil.example"),
    ];
    for (method, uri, body) in [
        ("POST", "/jobs", Some(LOG_JOB)),
        ("PATCH", "/jobs/job1", Some(r#"{"args": [5, 5]}"#)),
        ("DELETE", "/jobs/job1", None),
        ("POST", "/jobs/job1/pause", None),
        ("POST", "/jobs/pause?q=job", None),
        ("POST", "/jobs/resume?q=job", None),
        ("POST", "/jobs/job1/run", None),
        ("POST", "/start", None),
        ("POST", "/pause", None),
        ("POST", "/shutdown", None),
        ("POST", "/preview", Some(r#"{"trigger": {"type": "date"}}"#)),
        ("PUT", "/jobs/job1", Some("{}")),
        (
            "PUT",
            "/calendars/all-days",
            Some(r#"{"type": "daily", "start": "00:00", "end": "23:59"}"#),
        ),
        ("DELETE", "/calendars/kept", None),
        (
            "POST",
            "/jobs/job1/backfill",
            Some(r#"{"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T01:00:00Z"}"#),
        ),
    ] {
        let a = send(&app, method, uri, &with(&evil_origin, &[JSON]), body).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{method} {uri}");
    }
    // Same host, another port, is another origin (a page on localhost:8080).
    for origin in ["http://localhost:8080", "null", "http://127.0.0.1:5000"] {
        let headers = [("host", "localhost:5000"), ("origin", origin), JSON];
        let a = send(&app, "POST", "/jobs/job1/pause", &headers, None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{origin}");
    }
    // Sec-Fetch-Site: cross-site alone is refused too.
    let headers = [("host", "localhost:5000"), ("sec-fetch-site", "cross-site")];
    let a = send(&app, "POST", "/jobs/job1/pause", &headers, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The event stream is not readable cross-origin either (EventSource sends Origin).
    let a = send(&app, "GET", "/events", &evil_origin, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let job = s.get_job("job1").await.unwrap().unwrap();
    assert!(!job.is_paused());
    assert!(
        job.args().is_empty(),
        "PATCH from another origin changed the job"
    );
    assert!(
        s.get_calendar("all-days").is_none() && s.get_calendar("kept").is_some(),
        "a calendar was changed from another origin"
    );
    assert_eq!(
        s.state(),
        scheduler_core::SchedulerState::Running,
        "POST /pause or /shutdown from another origin took effect"
    );

    // Reads stay open, but no CORS header lets the page read them.
    let a = send(&app, "GET", "/jobs", &evil_origin, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    // The dashboard's own requests: same origin, JSON.
    let own = [
        ("host", "localhost:5000"),
        ("origin", "http://localhost:5000"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "cors"),
    ];
    let a = send(&app, "POST", "/jobs", &with(&own, &[JSON]), Some(LOG_JOB)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let a = send(&app, "POST", "/jobs/job1/pause", &own, None).await;
    assert_eq!(a.status, StatusCode::OK);
    // ...but a browser body without Content-Type is refused even from the same origin.
    let a = send(
        &app,
        "POST",
        "/jobs",
        &own,
        Some(r#"{"id": "y", "func": "rsched:log", "trigger": "date"}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(s.get_job("y").await.unwrap().is_none());
    // A form post (text/plain or urlencoded) is not JSON: 415.
    let a = send(
        &app,
        "POST",
        "/jobs",
        &with(&own, &[("content-type", "text/plain")]),
        Some(LOG_JOB),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Flask-APScheduler clients: no Origin, no Content-Type, exactly as before.
    let a = send(
        &app,
        "POST",
        "/jobs",
        PLAIN,
        Some(r#"{"id": "z", "func": "rsched:log", "trigger": "date"}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let a = send(&app, "DELETE", "/jobs/z", PLAIN, None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    // And a client that sends no Host at all (HTTP/1.0, tests) is not a browser either.
    let a = send(&app, "POST", "/jobs/job1/resume", &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn allowed_origins_may_change_state_and_get_cors_headers() {
    let s = scheduler();
    let options = ApiOptions {
        allowed_origins: vec!["https://ops.example.com".into()],
        ..ApiOptions::default()
    };
    let app = scheduler_http::router(s.clone(), options);
    let ops = [
        ("host", "localhost:5000"),
        ("origin", "https://ops.example.com"),
        ("sec-fetch-site", "cross-site"),
        JSON,
    ];
    let a = send(&app, "POST", "/jobs", &ops, Some(LOG_JOB)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://ops.example.com"
    );
    // The CORS preflight a JSON POST from that page sends first.
    let preflight = [
        ("host", "localhost:5000"),
        ("origin", "https://ops.example.com"),
        ("access-control-request-method", "PATCH"),
        ("access-control-request-headers", "content-type"),
    ];
    let a = send(&app, "OPTIONS", "/jobs/x", &preflight, None).await;
    assert!(a.status.is_success(), "{}", a.status);
    assert!(
        a.headers[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );
    // Other origins are still refused, and get no CORS header.
    let evil = [
        ("host", "localhost:5000"),
        ("origin", "https://evil.example.com"),
        JSON,
    ];
    let a = send(&app, "DELETE", "/jobs/x", &evil, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(!a.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    assert!(s.get_job("x").await.unwrap().is_some());
}

#[tokio::test]
async fn foreign_host_names_are_not_served() {
    let s = scheduler();
    // (b) of the issue: DNS rebinding, a foreign Host on a loopback listener.
    let app = scheduler_http::router(s.clone(), ApiOptions::default());
    for (method, uri, body) in [
        ("POST", "/jobs", Some(LOG_JOB)),
        ("GET", "/jobs", None),
        ("GET", "/ui", None),
    ] {
        let a = send(
            &app,
            method,
            uri,
            &[("host", "evil.example:5000"), JSON],
            body,
        )
        .await;
        assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST, "{method} {uri}");
        assert!(error_of(&a).contains("server_names"), "{}", error_of(&a));
    }
    assert!(s.get_job("x").await.unwrap().is_none());
    for host in [
        "localhost:5000",
        "127.0.0.1:5000",
        "[::1]:5000",
        "localhost",
        "LOCALHOST:80",
    ] {
        let a = send(&app, "GET", "/jobs", &[("host", host)], None).await;
        assert_eq!(a.status, StatusCode::OK, "{host}");
    }
    for host in [
        "127.0.0.2:5000",
        "localhost.evil.example",
        "sched.example.com",
    ] {
        let a = send(&app, "GET", "/jobs", &[("host", host)], None).await;
        assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
    }

    // A name a reverse proxy forwards.
    let options = ApiOptions {
        server_names: vec!["sched.example.com".into()],
        ..ApiOptions::default()
    };
    let app = scheduler_http::router(s.clone(), options);
    for host in [
        "sched.example.com",
        "Sched.Example.com:443",
        "localhost:5000",
    ] {
        assert_eq!(
            send(&app, "GET", "/jobs", &[("host", host)], None)
                .await
                .status,
            StatusCode::OK,
            "{host}"
        );
    }

    // Off loopback, any name is served unless server_names says otherwise.
    let public: SocketAddr = "0.0.0.0:5000".parse().unwrap();
    let options = ApiOptions {
        listen: Some(public),
        allow_anonymous: true,
        ..ApiOptions::default()
    };
    let app = scheduler_http::router(s.clone(), options);
    assert_eq!(
        send(&app, "GET", "/jobs", &[("host", "10.1.2.3:5000")], None)
            .await
            .status,
        StatusCode::OK
    );
    let options = ApiOptions {
        listen: Some(public),
        allow_anonymous: true,
        server_names: vec!["sched.example.com".into()],
        ..ApiOptions::default()
    };
    let app = scheduler_http::router(s.clone(), options);
    assert_eq!(
        send(&app, "GET", "/jobs", &[("host", "sched.example.com")], None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "GET", "/jobs", &[("host", "10.1.2.3:5000")], None)
            .await
            .status,
        StatusCode::MISDIRECTED_REQUEST
    );
}

#[tokio::test]
async fn an_anonymous_api_off_loopback_is_refused() {
    let s = scheduler();
    let public: SocketAddr = "0.0.0.0:5000".parse().unwrap();
    let exposed = ApiOptions {
        listen: Some(public),
        ..ApiOptions::default()
    };
    let e = exposed.validate().unwrap_err();
    assert_eq!(e.field(), "listen");
    assert!(
        e.message().contains("[api.auth]") && e.message().contains("allow_anonymous"),
        "{e}"
    );
    assert!(scheduler_http::try_router(s.clone(), exposed.clone()).is_err());
    // The router built anyway serves nothing but the reason.
    let app = scheduler_http::router(s.clone(), exposed.clone());
    for (method, uri) in [("GET", "/jobs"), ("POST", "/jobs")] {
        let a = send(&app, method, uri, &with(PLAIN, &[JSON]), Some(LOG_JOB)).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(error_of(&a).contains("allow_anonymous"), "{}", error_of(&a));
    }
    assert!(s.get_job("x").await.unwrap().is_none());

    let allowed = ApiOptions {
        allow_anonymous: true,
        ..exposed.clone()
    };
    assert!(allowed.validate().is_ok());
    let with_auth = ApiOptions {
        auth: Some(token_auth()),
        ..exposed.clone()
    };
    assert!(with_auth.validate().is_ok());
    for loopback in ["127.0.0.1:5000", "[::1]:5000"] {
        let options = ApiOptions {
            listen: Some(loopback.parse().unwrap()),
            ..ApiOptions::default()
        };
        assert!(options.validate().is_ok(), "{loopback}");
    }

    // Mistakes in the other settings name their field.
    for (options, field) in [
        (
            ApiOptions {
                allowed_origins: vec!["ops.example.com".into()],
                ..ApiOptions::default()
            },
            "allowed_origins[0]",
        ),
        (
            ApiOptions {
                allowed_origins: vec!["https://ok.example".into(), "*".into()],
                ..ApiOptions::default()
            },
            "allowed_origins[1]",
        ),
        (
            ApiOptions {
                server_names: vec!["https://sched.example.com".into()],
                ..ApiOptions::default()
            },
            "server_names[0]",
        ),
        (
            ApiOptions {
                server_names: vec!["sched.example.com:443".into()],
                ..ApiOptions::default()
            },
            "server_names[0]",
        ),
        (
            ApiOptions {
                tasks: Some(vec!["app:*".into(), "app:[".into()]),
                ..ApiOptions::default()
            },
            "tasks[1]",
        ),
    ] {
        assert_eq!(options.validate().unwrap_err().field(), field);
    }
}

#[tokio::test]
async fn the_api_schedules_only_the_tasks_it_is_allowed() {
    let s = scheduler();
    // A job of the configuration file (or the application) may use rsched:exec.
    add(&s, "from-config", "rsched:exec").await;
    add(&s, "logger", "rsched:log").await;
    let app = scheduler_http::router(s.clone(), ApiOptions::default());

    // (a) again, this time from a client without Origin: the task itself is refused.
    let a = send(&app, "POST", "/jobs", &with(PLAIN, &[JSON]), Some(EXEC_JOB)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(
        error_of(&a).contains("[api] tasks") && error_of(&a).contains("rsched:exec"),
        "{}",
        error_of(&a)
    );
    assert!(s.get_job("x").await.unwrap().is_none());
    // rsched:http (a request to any URL from the scheduler's network) is refused alike.
    let http_job = r#"{"id":"x","func":"rsched:http","kwargs":{"url":"http://169.254.169.254/"},"trigger":"date"}"#;
    let a = send(&app, "POST", "/jobs", &with(PLAIN, &[JSON]), Some(http_job)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(error_of(&a).contains("rsched:http"), "{}", error_of(&a));
    assert!(s.get_job("x").await.unwrap().is_none());
    // An unknown overlap policy is a 400 naming the field.
    let a = send(
        &app,
        "POST",
        "/jobs",
        &with(PLAIN, &[JSON]),
        Some(r#"{"id":"y","func":"rsched:log","trigger":"date","overlap":"queue"}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(error_of(&a).starts_with("overlap"), "{}", error_of(&a));
    // Nor can a job be turned into one, nor an exec job be steered.
    let a = send(
        &app,
        "PATCH",
        "/jobs/logger",
        &with(PLAIN, &[JSON]),
        Some(r#"{"func": "rsched:exec", "kwargs": {"program": "sh"}}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = send(
        &app,
        "PATCH",
        "/jobs/from-config",
        &with(PLAIN, &[JSON]),
        Some(r#"{"kwargs": {"program": "sh", "args": ["-c", "id"]}}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.get_job("logger").await.unwrap().unwrap().func(),
        "rsched:log"
    );
    assert!(
        s.get_job("from-config")
            .await
            .unwrap()
            .unwrap()
            .kwargs()
            .is_empty()
    );
    // What does not change what it runs stays allowed: pause, resume, delete.
    assert_eq!(
        send(&app, "POST", "/jobs/from-config/pause", PLAIN, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "POST", "/jobs/from-config/resume", PLAIN, None)
            .await
            .status,
        StatusCode::OK
    );
    // The list of tasks the API (and the dashboard's form) offers leaves it out.
    let a = send(&app, "GET", "/tasks", PLAIN, None).await;
    assert_eq!(a.body, json!(["app:add", "rsched:log"]));
    // An unknown task is still the scheduler's 400.
    let a = send(
        &app,
        "POST",
        "/jobs",
        &with(PLAIN, &[JSON]),
        Some(r#"{"id": "u", "func": "app:nope", "trigger": "date"}"#),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // [api] tasks as globs.
    let options = ApiOptions {
        tasks: Some(vec!["app:*".into()]),
        ..ApiOptions::default()
    };
    let app = scheduler_http::router(s.clone(), options);
    assert_eq!(
        send(&app, "GET", "/tasks", PLAIN, None).await.body,
        json!(["app:add"])
    );
    let a = send(&app, "POST", "/jobs", &with(PLAIN, &[JSON]), Some(LOG_JOB)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(error_of(&a).contains("only app:*"), "{}", error_of(&a));
    let add_job = r#"{"id": "sum", "func": "app:add", "args": [1, 2], "trigger": "date"}"#;
    assert_eq!(
        send(&app, "POST", "/jobs", &with(PLAIN, &[JSON]), Some(add_job))
            .await
            .status,
        StatusCode::OK
    );

    // Allowing rsched:exec is an explicit choice.
    let options = ApiOptions {
        tasks: Some(vec!["rsched:*".into()]),
        ..ApiOptions::default()
    };
    let app = scheduler_http::router(s.clone(), options);
    assert_eq!(
        send(&app, "POST", "/jobs", &with(PLAIN, &[JSON]), Some(EXEC_JOB))
            .await
            .status,
        StatusCode::OK
    );
}

fn token_auth() -> Arc<Auth> {
    let config: AuthConfig =
        serde_json::from_value(json!({"tokens": [{"token_env": "TOKEN"}]})).unwrap();
    Arc::new(Auth::from_config(&config, |_| Some("right-token".to_owned())).unwrap())
}

async fn from(app: &Router, client: &str, token: Option<&str>) -> Answer {
    let mut request = Request::builder().uri("/jobs").header("host", "localhost");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let mut request = request.body(Body::empty()).unwrap();
    let addr: SocketAddr = client.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    let response = app.clone().oneshot(request).await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: Value::Null,
    }
}

#[tokio::test]
async fn without_credentials_only_clients_on_this_host_are_served() {
    // The library default (listen unknown, no auth), served on 0.0.0.0 by mistake: a client on
    // the network says `Host: localhost` to pass the Host check.
    let app = scheduler_http::router(scheduler(), ApiOptions::default());
    let remote = from(&app, "192.0.2.7:40000", None).await;
    assert_eq!(remote.status, StatusCode::FORBIDDEN);
    for local in ["127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"] {
        assert_eq!(
            from(&app, local, None).await.status,
            StatusCode::OK,
            "{local}"
        );
    }
    // With credentials, the network may sign in.
    let app = scheduler_http::router(
        scheduler(),
        ApiOptions {
            auth: Some(token_auth()),
            ..ApiOptions::default()
        },
    );
    assert_eq!(
        from(&app, "192.0.2.7:40000", Some("right-token"))
            .await
            .status,
        StatusCode::OK
    );
    // allow_anonymous is the user's explicit choice.
    let app = scheduler_http::router(
        scheduler(),
        ApiOptions {
            allow_anonymous: true,
            ..ApiOptions::default()
        },
    );
    assert_eq!(
        from(&app, "192.0.2.7:40000", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address() {
    let s = scheduler();
    let options = ApiOptions {
        auth: Some(token_auth()),
        ..ApiOptions::default()
    };
    let app = scheduler_http::router(s, options);
    let attacker = "192.0.2.7:40000";
    for i in 0..scheduler_http::security::FAILED_SIGN_INS_PER_MINUTE {
        assert_eq!(
            from(&app, attacker, Some("guess")).await.status,
            StatusCode::UNAUTHORIZED,
            "guess {i}"
        );
    }
    let a = from(&app, attacker, Some("guess")).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Locked out, even the right token is not checked: guessing cannot go on.
    assert_eq!(
        from(&app, attacker, Some("right-token")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other addresses are not affected.
    let user = "198.51.100.1:50000";
    assert_eq!(
        from(&app, user, Some("right-token")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        from(&app, user, Some("typo")).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Requests without credentials (a browser before its login prompt) are not failures.
    let browser = "198.51.100.2:50000";
    for _ in 0..30 {
        assert_eq!(
            from(&app, browser, None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from(&app, browser, Some("right-token")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_dashboard_cannot_be_framed_or_fed_scripts() {
    let s = scheduler();
    let app = scheduler_http::router(s, ApiOptions::default());
    for (uri, headers) in [
        ("/ui", PLAIN),
        ("/jobs", PLAIN),
        ("/ui", &[("host", "evil.example")][..]),
    ] {
        let a = send(&app, "GET", uri, headers, None).await;
        let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(a.headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(a.headers[header::REFERRER_POLICY], "no-referrer");
    }
    // The page itself works under that policy: no inline script, no inline handler, no
    // inline style.
    let page = send(&app, "GET", "/ui", PLAIN, None).await.body;
    let page = page.as_str().unwrap();
    assert!(page.contains("<script src="), "{page}");
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script src=").count()
    );
    let lower = page.to_ascii_lowercase();
    for inline in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        " style=",
        "javascript:",
    ] {
        assert!(!lower.contains(inline), "the page has {inline}");
    }
}
