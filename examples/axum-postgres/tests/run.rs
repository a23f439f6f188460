//! The example against a real PostgreSQL (`RSCHED_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): built as `main` builds it, with its own table
//! prefix and a 1 s interval, served on `127.0.0.1:0` and checked over HTTP. Skipped when the
//! server cannot be reached, unless `RSCHED_TEST_STRICT=1`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use axum_postgres::{App, JOB_ID, Settings};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rsched::SchedulerState;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn strict() -> bool {
    std::env::var("RSCHED_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// A pool on the test database, or `None` (after saying why) when it cannot be reached and the
/// run is not strict.
async fn connect(url: &str) -> Option<PgPool> {
    let connected = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await;
    match connected {
        Ok(pool) => Some(pool),
        Err(e) if strict() => {
            panic!("PostgreSQL at {url} is unreachable (RSCHED_TEST_STRICT=1): {e}")
        }
        Err(e) => {
            eprintln!(
                "skipped: PostgreSQL at {url} is unreachable ({e}); set RSCHED_TEST_POSTGRES_URL, or RSCHED_TEST_STRICT=1 to fail instead"
            );
            None
        }
    }
}

/// Drops every table whose name starts with `prefix` (the store's and the example's).
async fn drop_tables(pool: &PgPool, prefix: &str) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables \
         WHERE schemaname = current_schema() AND starts_with(tablename, $1)",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await
    .expect("list the test's tables");
    for table in tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\" CASCADE"))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("drop {table}: {e}"));
    }
}

/// Sends a bodiless request; returns the status and the body.
async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    method: Method,
    path: &str,
    origin: Option<&str>,
) -> (StatusCode, Bytes) {
    let mut request = Request::builder()
        .method(method.clone())
        .uri(format!("http://{addr}{path}"));
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"))
        .to_bytes();
    (status, body)
}

async fn get_json(client: &HttpClient, addr: SocketAddr, path: &str) -> Value {
    let (status, body) = send(client, addr, Method::GET, path, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "GET {path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "GET {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}

async fn scenario(url: String, prefix: String) {
    let settings = Settings {
        database_url: url,
        table_prefix: prefix,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        interval: Duration::from_secs(1),
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::build(&settings, addr).await.unwrap();
    let scheduler = app.scheduler.clone();
    let pool = app.state.pool.clone();
    let table = app.state.heartbeats_table().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let (status, body) = send(&client, addr, Method::GET, "/", None).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"Hello World!\n"[..])
    );

    // The job ran: the app's own route sees the row it wrote.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let beats = get_json(&client, addr, "/heartbeats").await;
        if beats["count"].as_i64().unwrap_or(0) >= 1 {
            assert_eq!(beats["job_id"], JOB_ID, "{beats}");
            assert!(beats["last_run"].is_string(), "{beats}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{JOB_ID} wrote no heartbeat within 30 s: {beats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... through the pool in the shared state, on this scheduler instance.
    let (rows, writer): (i64, Option<String>) = sqlx::query_as(&format!(
        "SELECT count(*), min(scheduler_id) FROM {table} WHERE job_id = $1"
    ))
    .bind(JOB_ID)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(rows >= 1);
    assert_eq!(writer.as_deref(), Some(scheduler.id()));

    // The scheduler API lists the job, with its trigger.
    let jobs = get_json(&client, addr, "/scheduler/jobs").await;
    let job = jobs
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["id"] == JOB_ID))
        .unwrap_or_else(|| panic!("GET /scheduler/jobs does not list {JOB_ID}: {jobs}"));
    assert_eq!(job["trigger"], "interval", "{job}");
    assert!(job["next_run_time"].is_string(), "{job}");

    // A page from another origin cannot change anything (CSRF) ...
    let pause = format!("/scheduler/jobs/{JOB_ID}/pause");
    let (status, body) = send(
        &client,
        addr,
        Method::POST,
        &pause,
        Some("http://evil.example"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let job = get_json(&client, addr, &format!("/scheduler/jobs/{JOB_ID}")).await;
    assert!(job["next_run_time"].is_string(), "paused anyway: {job}");
    // ... while the server's own origin can.
    let own = format!("http://{addr}");
    let run = format!("/scheduler/jobs/{JOB_ID}/run");
    let (status, body) = send(&client, addr, Method::POST, &run, Some(&own)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    // Graceful shutdown: the server stops, the scheduler stops, the pool closes.
    drop(client);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("graceful shutdown within 30 s")
        .expect("the server task")
        .expect("App::serve");
    assert_eq!(scheduler.state(), SchedulerState::Stopped);
    assert!(pool.is_closed());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "{addr} still accepts connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_api_lists_it_refuses_foreign_origins_and_shutdown_is_graceful() {
    let url = std::env::var("RSCHED_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let Some(admin) = connect(&url).await else {
        return;
    };
    let prefix = format!("axex{}_", std::process::id());
    // In its own task, so that the tables are dropped whether it passes or panics.
    let outcome = tokio::spawn(scenario(url, prefix.clone())).await;
    drop_tables(&admin, &prefix).await;
    admin.close().await;
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("the scenario did not finish: {e}");
    }
}
