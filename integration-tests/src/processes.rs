//! `rsched run` processes for the multi-process tests: the binary cargo built beside the test,
//! spawned on a configuration file, its log lines collected with the time (this host's real
//! clock) each one arrived. Jobs run `rsched:log`, whose lines (job id, scheduled time,
//! instance) are the runs' record: a sink outside the scheduler.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The `rsched` binary cargo built for this test run (`target/<profile>/rsched`), if any.
pub fn rsched_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let binary = dir.join("rsched");
    binary.exists().then_some(binary)
}

/// The binary, or `None` after saying the test is skipped (a failure under
/// `RSCHED_TEST_STRICT=1`).
pub fn rsched_binary_or_skip() -> Option<PathBuf> {
    let binary = rsched_binary();
    if binary.is_none() {
        assert!(
            !crate::strict(),
            "the rsched binary is not built (cargo build -p rsched-cli)"
        );
        eprintln!("skipped: the rsched binary is not built");
    }
    binary
}

/// One line an instance wrote to stderr, and when it arrived (UTC, this host's clock).
#[derive(Debug, Clone)]
pub struct Line {
    /// When the test read it.
    pub at: DateTime<Utc>,
    /// The line.
    pub text: String,
}

/// What the instances said, line by line.
pub type Lines = Arc<Mutex<Vec<Line>>>;

/// Spawns `rsched run --config config` at `RUST_LOG=info` with extra environment variables;
/// its stderr lines go to `lines`.
pub fn spawn(binary: &Path, config: &Path, lines: &Lines, env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(binary);
    command
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("rsched run starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let lines = lines.clone();
    std::thread::spawn(move || {
        for text in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = Line {
                at: Utc::now(),
                text,
            };
            lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    child
}

/// Stops an instance as a service manager would (SIGTERM) and waits for it.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Sends a signal (`"STOP"`, `"CONT"`, `"KILL"`...) to an instance.
pub fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
}

/// The value of `name=` in a tracing line.
pub fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &line[start..];
    let value = rest.split_whitespace().next()?;
    Some(value.trim_matches('"'))
}

/// One run of `rsched:log`, from its log line.
#[derive(Debug, Clone)]
pub struct LogRun {
    /// The job.
    pub job_id: String,
    /// Its scheduled run time.
    pub scheduled: DateTime<Utc>,
    /// The instance that ran it.
    pub instance: String,
    /// When its line arrived (after the run started).
    pub seen: DateTime<Utc>,
}

/// The `rsched:log` runs in `lines`.
pub fn log_runs(lines: &[Line]) -> Vec<LogRun> {
    let mut runs = Vec::new();
    for line in lines {
        if !line.text.contains("rsched::log:") {
            continue;
        }
        let (Some(id), Some(at)) = (
            field(&line.text, "job_id"),
            field(&line.text, "scheduled_run_time"),
        ) else {
            continue;
        };
        let Ok(at) = DateTime::parse_from_rfc3339(at) else {
            continue;
        };
        runs.push(LogRun {
            job_id: id.to_owned(),
            scheduled: at.with_timezone(&Utc),
            instance: field(&line.text, "scheduler_id").unwrap_or("").to_owned(),
            seen: line.at,
        });
    }
    runs
}

/// How many times each (job, fire time) ran.
pub fn run_counts(runs: &[LogRun]) -> HashMap<(String, DateTime<Utc>), usize> {
    let mut counts = HashMap::new();
    for run in runs {
        *counts
            .entry((run.job_id.clone(), run.scheduled))
            .or_insert(0) += 1;
    }
    counts
}

/// A configuration of `jobs` interval jobs `j000`… running `rsched:log` every second on a
/// whole-second grid, with `scheduler` lines under `[scheduler]` and `store` lines under
/// `[jobstores.default]`, plus `extra` at the end (an `[api]` table, say).
pub fn config(jobs: usize, scheduler: &str, store: &str, extra: &str) -> String {
    let mut text = format!("[scheduler]\n{scheduler}\n\n[jobstores.default]\n{store}\n\n{extra}\n");
    for i in 0..jobs {
        text.push_str(&format!(
            "\n[[jobs]]\nid = \"j{i:03}\"\nfunc = \"rsched:log\"\ntrigger = \"interval\"\nseconds = 1\nstart_date = \"2026-01-01 00:00:00\"\ntimezone = \"UTC\"\n"
        ));
    }
    text
}

/// The run times of jobs `j000`… that the store's run history records as not run: `missed`
/// (a coalesced record stands for the count its message gives, one second apart) or `skipped`
/// for `max_instances` (a dead instance's run counts until a survivor has reaped its record).
pub fn history_missed(store: &str, jobs: usize) -> HashSet<(String, DateTime<Utc>)> {
    let config: rsched::config::JobStoreConfig =
        toml::from_str(store).expect("the store's TOML lines");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = rsched::store_from_config(&config)
            .await
            .expect("the store opens");
        let mut missed = HashSet::new();
        for i in 0..jobs {
            let id = format!("j{i:03}");
            let runs = store
                .history()
                .expect("the store keeps history")
                .job_runs(&id, 1000)
                .await
                .expect("the history reads");
            for run in runs {
                if run.outcome == rsched::RunOutcome::Skipped {
                    missed.insert((id.clone(), run.scheduled_run_time));
                    continue;
                }
                if run.outcome != rsched::RunOutcome::Missed {
                    continue;
                }
                let count = run
                    .error
                    .as_deref()
                    .and_then(|e| e.split_whitespace().next())
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(1);
                for k in 0..count {
                    missed.insert((
                        id.clone(),
                        run.scheduled_run_time + chrono::Duration::seconds(k),
                    ));
                }
            }
        }
        missed
    })
}

/// The start of the second `t` is in.
pub fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The fire times in `[from, to]` of jobs `j000`… that neither ran nor are in `missed`,
/// leaving out those `skip` says (a crash's own second, say).
pub fn lost(
    jobs: usize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ran: &HashMap<(String, DateTime<Utc>), usize>,
    missed: &HashSet<(String, DateTime<Utc>)>,
    skip: impl Fn(DateTime<Utc>) -> bool,
) -> Vec<(String, DateTime<Utc>)> {
    let mut lost = Vec::new();
    let mut fire = whole_second(from);
    while fire <= to {
        for i in 0..jobs {
            let key = (format!("j{i:03}"), fire);
            if !ran.contains_key(&key) && !missed.contains(&key) && !skip(fire) {
                lost.push(key);
            }
        }
        fire += chrono::Duration::seconds(1);
    }
    lost
}

/// A free TCP port on 127.0.0.1 (for a private server or an instance's API).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET http://127.0.0.1:{port}{path}`: (status, body), or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// `POST http://127.0.0.1:{port}{path}` with a JSON `body`: (status, body), or `None` when
/// nothing answers.
pub fn http_post(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// A SQLite file the multi-process tests share, in the temp directory under `name` (with this
/// process's id): its `[jobstores.default]` line, and the cleanup that removes the file and
/// its `-wal` / `-shm` companions.
pub fn sqlite_file(name: &str) -> (String, impl FnOnce() + use<>) {
    let path = std::env::temp_dir().join(format!("rsched-{name}-{}.db", std::process::id()));
    let store = format!("url = \"sqlite://{}\"", path.display());
    let cleanup = move || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    (store, cleanup)
}

/// A shared store server the multi-process tests run on, each test in a namespace of its own
/// (a table prefix, a key prefix or a collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// PostgreSQL at [`crate::backends::postgres_url`].
    Postgres,
    /// MySQL/MariaDB at [`crate::backends::mysql_url`].
    MariaDb,
    /// Redis at [`crate::backends::redis_url`].
    Redis,
    /// The MongoDB protocol at [`crate::backends::mongo_url`].
    Mongo,
}

impl Shared {
    /// The `[jobstores.default]` lines of namespace `ns`, and the cleanup that drops it.
    pub fn namespace(self, ns: &str) -> (String, impl FnOnce() + use<>) {
        use crate::backends::{Mongo, Redis, Sql, mongo_url, mysql_url, postgres_url, redis_url};
        use crate::conformance::Backend as _;
        let store = match self {
            Shared::Postgres => format!("url = \"{}\"\nprefix = \"{ns}\"", postgres_url()),
            Shared::MariaDb => format!("url = \"{}\"\nprefix = \"{ns}\"", mysql_url()),
            Shared::Redis => format!("url = \"{}\"\nprefix = \"{ns}:\"", redis_url()),
            Shared::Mongo => format!("url = \"{}\"\ncollection = \"{ns}jobs\"", mongo_url()),
        };
        let ns = ns.to_owned();
        let cleanup = move || {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                match self {
                    Shared::Postgres => Sql::POSTGRES.cleanup(&ns).await,
                    Shared::MariaDb => Sql::MYSQL.cleanup(&ns).await,
                    Shared::Redis => Redis.cleanup(&ns).await,
                    Shared::Mongo => Mongo.cleanup(&ns).await,
                }
            });
        };
        (store, cleanup)
    }
}
