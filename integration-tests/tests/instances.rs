//! Several `rsched run` processes on one store: each fire time of each job runs once while any
//! instance is alive — also when one is killed with SIGKILL and another joins.
//!
//! Per persistent store: 3 instances, 100 interval jobs every second (on a whole-second grid);
//! at 10 s one instance is killed, at 15 s a fourth starts, at 25 s all stop. The jobs run
//! `rsched:log`, whose log lines (job id, scheduled time, instance) the test collects from the
//! processes' stderr: a sink outside the scheduler. Asserted: no (job, fire time) ran twice,
//! and every fire time in the window ran or appears as missed in the run history kept by the
//! store — except runs cut off by the
//! crash itself, which are at most once by design (and only around the kill).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// One crash test at a time: they are heavy for a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

const JOBS: usize = 100;

fn rsched_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let binary = dir.join("rsched");
    binary.exists().then_some(binary)
}

fn config(store: &str) -> String {
    let mut text = format!(
        "[scheduler]\nlease = \"2s\"\nmax_poll_interval = \"1s\"\n\n[jobstores.default]\n{store}\n"
    );
    for i in 0..JOBS {
        text.push_str(&format!(
            "\n[[jobs]]\nid = \"j{i:03}\"\nfunc = \"rsched:log\"\ntrigger = \"interval\"\nseconds = 1\nstart_date = \"2026-01-01 00:00:00\"\ntimezone = \"UTC\"\n"
        ));
    }
    text
}

/// What the instances said, line by line.
type Lines = Arc<Mutex<Vec<String>>>;

fn spawn(binary: &Path, config: &Path, lines: &Lines) -> Child {
    let mut child = Command::new(binary)
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    child
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &line[start..];
    let value = rest.split_whitespace().next()?;
    Some(value.trim_matches('"'))
}

struct Outcome {
    ran: HashMap<(String, DateTime<Utc>), usize>,
    missed: HashSet<(String, DateTime<Utc>)>,
}

fn parse(lines: &[String]) -> Outcome {
    let mut ran = HashMap::new();
    for line in lines {
        if line.contains("rsched::log:") {
            if let (Some(id), Some(at)) = (field(line, "job_id"), field(line, "scheduled_run_time"))
            {
                if let Ok(at) = DateTime::parse_from_rfc3339(at) {
                    *ran.entry((id.to_owned(), at.with_timezone(&Utc)))
                        .or_insert(0) += 1;
                }
            }
        }
    }
    Outcome {
        ran,
        missed: HashSet::new(),
    }
}

/// The run times the store's history records as missed (a coalesced record stands for the
/// count its message gives, one second apart).
fn history_missed(store: &str) -> HashSet<(String, DateTime<Utc>)> {
    let config: rsched::config::JobStoreConfig =
        toml::from_str(store).expect("the store's TOML lines");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = rsched::store_from_config(&config).await.unwrap();
        let mut missed = HashSet::new();
        for i in 0..JOBS {
            let id = format!("j{i:03}");
            for run in store
                .history()
                .expect("the store keeps history")
                .job_runs(&id, 1000)
                .await
                .unwrap()
            {
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

fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn crash_test(name: &str, store: Option<String>, cleanup: impl FnOnce()) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(binary) = rsched_binary() else {
        assert!(
            !integration_tests::strict(),
            "the rsched binary is not built (cargo build -p rsched-cli)"
        );
        eprintln!("skipped: the rsched binary is not built");
        return;
    };
    let Some(store) = store else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rsched-instances-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rsched.toml");
    std::fs::write(&path, config(&store)).unwrap();

    let lines: Lines = Arc::default();
    let begin = Instant::now();
    let t0 = Utc::now();
    let mut instances: Vec<Child> = (0..3).map(|_| spawn(&binary, &path, &lines)).collect();
    let at = |secs: u64| {
        let target = Duration::from_secs(secs);
        if let Some(left) = target.checked_sub(begin.elapsed()) {
            std::thread::sleep(left);
        }
    };
    at(10);
    let killed_at = Utc::now();
    instances[0].kill().unwrap();
    instances[0].wait().unwrap();
    at(15);
    instances.push(spawn(&binary, &path, &lines));
    at(25);
    let stopped_at = Utc::now();
    for child in instances.iter_mut().skip(1) {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for child in instances.iter_mut().skip(1) {
        let _ = child.wait();
    }

    let lines = lines.lock().unwrap().clone();
    let mut outcome = parse(&lines);
    // Missed run times come from the run history in the store, which every instance writes.
    outcome.missed = history_missed(&store);
    let twice: Vec<_> = outcome.ran.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{name}: ran more than once: {twice:?}");

    // The window: from when all three instances surely ran until shortly before the stop.
    let from = whole_second(t0) + chrono::Duration::seconds(4);
    let to = whole_second(stopped_at) - chrono::Duration::seconds(2);
    let crash = whole_second(killed_at);
    let mut lost = Vec::new();
    let mut fire = from;
    while fire <= to {
        for i in 0..JOBS {
            let key = (format!("j{i:03}"), fire);
            let near_crash = (fire - crash).num_seconds().abs() <= 1;
            if !outcome.ran.contains_key(&key) && !outcome.missed.contains(&key) && !near_crash {
                lost.push(key);
            }
        }
        fire += chrono::Duration::seconds(1);
    }
    assert!(
        lost.is_empty(),
        "{name}: {} fire times neither ran nor appear as missed in the run history, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let instances_seen: HashSet<&str> = lines
        .iter()
        .filter(|l| l.contains("rsched::log:"))
        .filter_map(|l| field(l, "scheduler_id"))
        .collect();
    eprintln!(
        "{name}: {} runs by {} instances, {} missed in the history, none twice",
        outcome.ran.len(),
        instances_seen.len(),
        outcome.missed.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    cleanup();
}

/// Drops a namespace through the conformance backends.
fn drop_namespace(
    backend: impl integration_tests::conformance::Backend,
    ns: String,
) -> impl FnOnce() {
    move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(backend.cleanup(&ns));
    }
}

fn ns(name: &str) -> String {
    format!("crash{}_{name}_", std::process::id())
}

#[test]
fn sqlite_file_shared_by_processes() {
    let path = std::env::temp_dir().join(format!("rsched-crash-{}.db", std::process::id()));
    crash_test(
        "sqlite",
        Some(format!("url = \"sqlite://{}\"", path.display())),
        || {},
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[test]
fn postgres() {
    let url = integration_tests::backends::postgres_url();
    crash_test(
        "postgres",
        Some(format!("url = \"{url}\"\nprefix = \"{}\"", ns("pg"))),
        drop_namespace(integration_tests::backends::Sql::POSTGRES, ns("pg")),
    );
}

#[test]
fn mariadb() {
    let url = integration_tests::backends::mysql_url();
    crash_test(
        "mariadb",
        Some(format!("url = \"{url}\"\nprefix = \"{}\"", ns("my"))),
        drop_namespace(integration_tests::backends::Sql::MYSQL, ns("my")),
    );
}

#[test]
fn redis() {
    let url = integration_tests::backends::redis_url();
    crash_test(
        "redis",
        Some(format!("url = \"{url}\"\nprefix = \"{}:\"", ns("redis"))),
        drop_namespace(integration_tests::backends::Redis, ns("redis")),
    );
}

#[test]
fn mongodb_protocol() {
    let url = integration_tests::backends::mongo_url();
    crash_test(
        "mongodb",
        Some(format!(
            "url = \"{url}\"\ncollection = \"{}jobs\"",
            ns("mongo")
        )),
        drop_namespace(integration_tests::backends::Mongo, ns("mongo")),
    );
}
