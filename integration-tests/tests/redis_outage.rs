//! Connection loss: the Redis server is killed and restarted while a scheduler runs a job
//! every second. The scheduler logs, retries with backoff and resumes; no run is lost or made
//! twice. The test runs its own `redis-server` on a free port (with an append-only file, so a
//! killed server restarts with its data), leaving the shared one alone.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rsched::{EngineOptions, JobContext, JobSpec, Scheduler, TaskRegistry};

struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Server {
    fn start(port: u16, dir: &std::path::Path) -> Option<Server> {
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(Server {
            child,
            port,
            dir: dir.to_owned(),
        })
    }

    async fn ready(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_until<F: Fn() -> bool>(what: &str, check: F) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_survives_a_redis_restart_without_losing_or_repeating_runs() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("rsched-redis-outage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(mut server) = Server::start(port, &dir) else {
        assert!(
            !integration_tests::strict(),
            "redis-server is not installed"
        );
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    server.ready().await;

    let runs: Arc<Mutex<Vec<DateTime<Utc>>>> = Arc::default();
    let sink = runs.clone();
    let mut registry = TaskRegistry::new();
    registry.register("app:tick", move |ctx: JobContext, (): ()| {
        sink.lock().unwrap().push(ctx.scheduled_run_time());
        async { Ok::<_, std::convert::Infallible>(()) }
    });
    let url = format!("redis://127.0.0.1:{port}/0");
    let store = rsched::redis::RedisJobStore::open(
        &url,
        rsched::redis::RedisOptions {
            prefix: "outage:".to_owned(),
        },
    )
    .await
    .unwrap();
    let options = EngineOptions {
        retry_interval: Duration::from_millis(200),
        max_poll_interval: Duration::from_millis(500),
        ..EngineOptions::default()
    };
    let scheduler = Scheduler::builder()
        .registry(registry)
        .jobstore("default", store)
        .options(options)
        .build()
        .unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .add_job(
            JobSpec::new("app:tick")
                .id("tick")
                .coalesce(false)
                .misfire_grace_time(None)
                .trigger(
                    rsched::BuiltinTrigger::from_json(r#"{"type":"interval","seconds":1}"#)
                        .unwrap(),
                ),
        )
        .await
        .unwrap();
    wait_until("two runs before the outage", || {
        runs.lock().unwrap().len() >= 2
    })
    .await;

    server.kill();
    let down_at = runs.lock().unwrap().len();
    // The outage itself: the server stays away for a while.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut server = Server::start(port, &server.dir.clone()).unwrap();
    server.ready().await;
    wait_until("runs after the restart", || {
        runs.lock().unwrap().len() >= down_at + 5
    })
    .await;
    scheduler.shutdown(true).await.unwrap();
    server.kill();

    let runs = runs.lock().unwrap().clone();
    for pair in runs.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "every scheduled time once, in order: {runs:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
