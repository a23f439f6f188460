//! Every shared store's server goes away for 10 s under a job that runs every second: the
//! scheduler logs, retries with backoff and resumes when the server is back, and every fire
//! time runs once, in order — none lost, none twice. Each test runs a private server of its own
//! on a free port (its data in a temporary directory, so it restarts with it), leaving the
//! shared services other tests use alone: Redis (killed; append-only file with fsync always),
//! PostgreSQL (`pg_ctl stop -m immediate`: a crash, recovered from its WAL), MariaDB (killed)
//! and the MongoDB-protocol server (killed; sync on commit).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::processes::free_port;
use rsched::{EngineOptions, JobContext, JobSpec, Scheduler, TaskRegistry};

/// One outage at a time: each runs a server of its own.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long the server stays away, in seconds.
const OUTAGE_SECS: usize = 10;
const OUTAGE: Duration = Duration::from_secs(OUTAGE_SECS as u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Redis,
    Postgres,
    MariaDb,
    Mongo,
}

/// A private server: its port, its data directory, its process while it runs.
struct Server {
    kind: Kind,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn quiet(command: &mut Command) -> &mut Command {
    command.stdout(Stdio::null()).stderr(Stdio::null())
}

fn ok(command: &mut Command) -> bool {
    quiet(command).status().is_ok_and(|s| s.success())
}

const PG_BIN: &str = "/usr/lib/postgresql";

/// `/usr/lib/postgresql/<version>/bin/<tool>`, the newest version installed.
fn pg_tool(tool: &str) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(PG_BIN)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(tool)))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions.pop()
}

impl Server {
    /// Creates the server's data directory (PostgreSQL and MariaDB: an empty cluster);
    /// `None` when the server's programs are not installed.
    fn create(kind: Kind) -> Option<Server> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "rsched-outage-{}-{kind:?}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let data = dir.join("data");
        let made = match kind {
            Kind::Redis | Kind::Mongo => true,
            Kind::Postgres => {
                // initdb refuses to run as root: the cluster belongs to `postgres`.
                ok(Command::new("chown").arg("postgres").arg(&dir))
                    && ok(Command::new("runuser")
                        .args(["-u", "postgres", "--"])
                        .arg(pg_tool("initdb")?)
                        .arg("-D")
                        .arg(&data)
                        .args(["-A", "trust", "-U", "postgres", "--no-sync"]))
            }
            Kind::MariaDb => ok(Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--user=root", "--skip-test-db"])),
        };
        made.then_some(Server {
            kind,
            port,
            dir,
            child: None,
        })
    }

    fn url(&self) -> String {
        let port = self.port;
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{port}/0"),
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{port}/mysql"),
            Kind::Mongo => format!("mongodb://127.0.0.1:{port}/rsched"),
        }
    }

    fn start(&mut self) {
        let port = self.port.to_string();
        let data = self.dir.join("data");
        match self.kind {
            Kind::Redis => {
                self.child = quiet(
                    Command::new("redis-server")
                        .args(["--bind", "127.0.0.1", "--port", &port, "--save", ""])
                        .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                        .arg(&self.dir),
                )
                .spawn()
                .ok();
            }
            Kind::Postgres => {
                let options = format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1",
                    self.dir.display()
                );
                let started = ok(Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(pg_tool("pg_ctl").expect("pg_ctl"))
                    .arg("-D")
                    .arg(&data)
                    .args(["-o", &options, "-w", "-l"])
                    .arg(self.dir.join("log"))
                    .arg("start"));
                assert!(started, "the private PostgreSQL server starts");
            }
            Kind::MariaDb => {
                self.child = quiet(
                    Command::new("mariadbd")
                        .arg("--no-defaults")
                        .arg(format!("--datadir={}", data.display()))
                        .arg(format!("--socket={}", self.dir.join("sock").display()))
                        .args([
                            "--user=root",
                            "--bind-address=127.0.0.1",
                            "--skip-grant-tables",
                        ])
                        .arg(format!("--port={port}")),
                )
                .spawn()
                .ok();
            }
            Kind::Mongo => {
                self.child = quiet(
                    Command::new(mongo_server())
                        .args(["--host", "127.0.0.1", "--port", &port, "--standalone"])
                        .arg("--sync-on-commit")
                        .arg("--storage-path")
                        .arg(&data),
                )
                .spawn()
                .ok();
            }
        }
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the private {:?} server did not start on {}",
            self.kind, self.port
        );
    }

    /// Takes the server away: killed, or for PostgreSQL an immediate (crash) shutdown.
    fn stop(&mut self) {
        if self.kind == Kind::Postgres {
            let _ = quiet(
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(pg_tool("pg_ctl").expect("pg_ctl"))
                    .arg("-D")
                    .arg(self.dir.join("data"))
                    .args(["-m", "immediate", "-w", "stop"]),
            )
            .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The MongoDB-protocol server's launcher: `RSCHED_TEST_MONGO_SERVER`, default
/// `/tmp/secantus/bin/secantusd-py` (where `.ci/run` installs SecantusDB).
fn mongo_server() -> PathBuf {
    std::env::var_os("RSCHED_TEST_MONGO_SERVER").map_or_else(
        || PathBuf::from("/tmp/secantus/bin/secantusd-py"),
        PathBuf::from,
    )
}

fn installed(kind: Kind) -> bool {
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|p| Path::new(&p).join(name).exists())
        })
    };
    match kind {
        Kind::Redis => on_path("redis-server"),
        Kind::Postgres => pg_tool("initdb").is_some() && on_path("runuser"),
        Kind::MariaDb => on_path("mariadbd") && on_path("mariadb-install-db"),
        Kind::Mongo => mongo_server().exists(),
    }
}

async fn wait_until<F: Fn() -> bool>(what: &str, check: F) {
    for _ in 0..1200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn outage(kind: Kind) {
    let _serial = SERIAL.lock().await;
    // The scheduler's log, shown when a test fails (`RUST_LOG` chooses the level).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
    let created = if installed(kind) {
        Server::create(kind)
    } else {
        None
    };
    let Some(mut server) = created else {
        assert!(
            !integration_tests::strict(),
            "a private {kind:?} server cannot be run here"
        );
        eprintln!("skipped: a private {kind:?} server cannot be run here");
        return;
    };
    server.start();

    let runs: Arc<Mutex<Vec<DateTime<Utc>>>> = Arc::default();
    let sink = runs.clone();
    let mut registry = TaskRegistry::new();
    registry.register("app:tick", move |ctx: JobContext, (): ()| {
        sink.lock().unwrap().push(ctx.scheduled_run_time());
        async { Ok::<_, std::convert::Infallible>(()) }
    });
    let store = rsched::store_from_url(&server.url()).await.unwrap();
    let options = EngineOptions {
        retry_interval: Duration::from_millis(200),
        max_poll_interval: Duration::from_millis(500),
        ..EngineOptions::default()
    };
    let scheduler = Scheduler::builder()
        .registry(registry)
        .jobstore_arc("default", store)
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

    server.stop();
    let down_at = runs.lock().unwrap().len();
    tokio::time::sleep(OUTAGE).await;
    server.start();
    // The fire times of the outage run once the server is back, then the schedule goes on.
    wait_until("the outage's fire times and five more", || {
        runs.lock().unwrap().len() >= down_at + OUTAGE_SECS + 5
    })
    .await;
    scheduler.shutdown(true).await.unwrap();

    let runs = runs.lock().unwrap().clone();
    for pair in runs.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "{kind:?}: every fire time once, in order: {runs:?}"
        );
    }
    eprintln!(
        "{kind:?}: {} fire times ran once each across a {} s outage",
        runs.len(),
        OUTAGE_SECS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted() {
    outage(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashed_and_restarted() {
    outage(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_killed_and_restarted() {
    outage(Kind::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_protocol_server_killed_and_restarted() {
    outage(Kind::Mongo).await;
}
