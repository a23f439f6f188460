//! Several `rsched run` processes on one store: each fire time of each job runs once while any
//! instance is alive — also when one is killed with SIGKILL and another joins, and when one is
//! stopped with SIGSTOP past its lease and then wakes.
//!
//! Per persistent store: 3 instances, 100 interval jobs every second (on a whole-second grid);
//! at 10 s one instance is killed, at 15 s a fourth starts, at 25 s all stop. The jobs run
//! `rsched:log`, whose log lines (job id, scheduled time, instance) the test collects from the
//! processes' stderr: a sink outside the scheduler. Asserted: no (job, fire time) ran twice,
//! and every fire time in the window ran or appears as missed in the run history kept by the
//! store — except runs cut off by the
//! crash itself, which are at most once by design (and only around the kill).

use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use integration_tests::processes::{
    Lines, Shared, config, history_missed, log_runs, lost, rsched_binary_or_skip, run_counts,
    signal, spawn, sqlite_file, stop, whole_second,
};

/// One crash test at a time: they are heavy for a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

const JOBS: usize = 100;

fn crash_test(name: &str, store: String, cleanup: impl FnOnce()) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(binary) = rsched_binary_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rsched-instances-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rsched.toml");
    let scheduler = "lease = \"2s\"\nmax_poll_interval = \"1s\"";
    std::fs::write(&path, config(JOBS, scheduler, &store, "")).unwrap();

    let lines: Lines = Lines::default();
    let begin = Instant::now();
    let t0 = Utc::now();
    let mut instances: Vec<Child> = (0..3).map(|_| spawn(&binary, &path, &lines, &[])).collect();
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
    instances.push(spawn(&binary, &path, &lines, &[]));
    at(25);
    let stopped_at = Utc::now();
    for child in instances.iter_mut().skip(1) {
        stop(child);
    }

    let lines = lines.lock().unwrap().clone();
    let runs = log_runs(&lines);
    let ran = run_counts(&runs);
    // Missed run times come from the run history in the store, which every instance writes.
    let missed = history_missed(&store, JOBS);
    let twice: Vec<_> = ran.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{name}: ran more than once: {twice:?}");

    // The window: from when all three instances surely ran until shortly before the stop.
    let from = whole_second(t0) + chrono::Duration::seconds(4);
    let to = whole_second(stopped_at) - chrono::Duration::seconds(2);
    let crash = whole_second(killed_at);
    let lost = lost(JOBS, from, to, &ran, &missed, |fire| {
        (fire - crash).num_seconds().abs() <= 1
    });
    assert!(
        lost.is_empty(),
        "{name}: {} fire times neither ran nor appear as missed in the run history, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let instances_seen: std::collections::HashSet<&str> =
        runs.iter().map(|r| r.instance.as_str()).collect();
    eprintln!(
        "{name}: {} runs by {} instances, {} missed in the history, none twice",
        ran.len(),
        instances_seen.len(),
        missed.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    cleanup();
}

/// Two instances on one store, 50 jobs every second, a 2 s lease; at 5 s one instance is
/// stopped with SIGSTOP for 6 s (three leases) and then continued, as a paused VM or a long GC
/// would; at 18 s both stop. Its leases lapse while it stands still and the other instance
/// takes its jobs over; when it wakes it must start nothing it no longer holds (its releases
/// come back `LeaseLost`, so its runs are not started). Asserted: no (job, fire time) ran
/// twice, every fire time in the window ran or is recorded missed, and the paused instance goes
/// on after it wakes.
fn pause_test(name: &str, store: String, cleanup: impl FnOnce()) {
    const PAUSED_JOBS: usize = 50;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(binary) = rsched_binary_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rsched-pause-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rsched.toml");
    let scheduler = "lease = \"2s\"\nmax_poll_interval = \"1s\"";
    std::fs::write(&path, config(PAUSED_JOBS, scheduler, &store, "")).unwrap();

    let lines: Lines = Lines::default();
    let begin = Instant::now();
    let t0 = Utc::now();
    let mut instances: Vec<Child> = (0..2).map(|_| spawn(&binary, &path, &lines, &[])).collect();
    let at = |secs: u64| {
        let target = Duration::from_secs(secs);
        if let Some(left) = target.checked_sub(begin.elapsed()) {
            std::thread::sleep(left);
        }
    };
    at(5);
    signal(&instances[0], "STOP");
    at(11);
    signal(&instances[0], "CONT");
    let woke = Utc::now();
    at(18);
    let stopped_at = Utc::now();
    let paused = instances[0].id();
    let status = instances[0].try_wait();
    let alive = status.as_ref().is_ok_and(Option::is_none);
    for child in &mut instances {
        stop(child);
    }

    let lines = lines.lock().unwrap().clone();
    let runs = log_runs(&lines);
    let ran = run_counts(&runs);
    let twice: Vec<_> = ran.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{name}: ran more than once: {twice:?}");
    let missed = history_missed(&store, PAUSED_JOBS);
    let from = whole_second(t0) + chrono::Duration::seconds(4);
    let to = whole_second(stopped_at) - chrono::Duration::seconds(2);
    let lost = lost(PAUSED_JOBS, from, to, &ran, &missed, |_| false);
    assert!(
        lost.is_empty(),
        "{name}: {} fire times neither ran nor appear as missed in the run history, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    // Instance ids are `host-pid-random`.
    let after = runs
        .iter()
        .filter(|r| r.instance.contains(&format!("-{paused}-")) && r.seen > woke)
        .count();
    // It goes on after waking (on SQLite, where one transaction takes every due job, the other
    // instance may win every pass, so runs by it are reported, not required).
    if !alive {
        // What it said last (every instance's lines are mixed; the panic or error is there).
        let tail: Vec<&str> = lines
            .iter()
            .rev()
            .filter(|l| {
                !l.text.contains("Running job") && !l.text.contains("executed successfully")
            })
            .take(40)
            .map(|l| l.text.as_str())
            .collect();
        panic!(
            "{name}: the paused instance died after it woke ({status:?}); last lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let stale = lines
        .iter()
        .filter(|l| l.text.contains("Lost the lease on job"))
        .count();
    eprintln!(
        "{name}: {} runs, none twice, {} missed in the history; the paused instance ran {after} after waking and found {stale} lease(s) lost",
        ran.len(),
        missed.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    cleanup();
}

#[test]
fn postgres_instance_paused_past_its_lease() {
    let (store, cleanup) = Shared::Postgres.namespace(&ns("pgp"));
    pause_test("postgres", store, cleanup);
}

#[test]
fn mariadb_instance_paused_past_its_lease() {
    let (store, cleanup) = Shared::MariaDb.namespace(&ns("myp"));
    pause_test("mariadb", store, cleanup);
}

#[test]
fn redis_instance_paused_past_its_lease() {
    let (store, cleanup) = Shared::Redis.namespace(&ns("redisp"));
    pause_test("redis", store, cleanup);
}

#[test]
fn mongodb_protocol_instance_paused_past_its_lease() {
    let (store, cleanup) = Shared::Mongo.namespace(&ns("mongop"));
    pause_test("mongodb", store, cleanup);
}

#[test]
fn sqlite_instance_paused_past_its_lease() {
    let (store, cleanup) = sqlite_file("pause");
    pause_test("sqlite", store, cleanup);
}

fn ns(name: &str) -> String {
    format!("crash{}_{name}_", std::process::id())
}

#[test]
fn sqlite_file_shared_by_processes() {
    let (store, cleanup) = sqlite_file("crash");
    crash_test("sqlite", store, cleanup);
}

#[test]
fn postgres() {
    let (store, cleanup) = Shared::Postgres.namespace(&ns("pg"));
    crash_test("postgres", store, cleanup);
}

#[test]
fn mariadb() {
    let (store, cleanup) = Shared::MariaDb.namespace(&ns("my"));
    crash_test("mariadb", store, cleanup);
}

#[test]
fn redis() {
    let (store, cleanup) = Shared::Redis.namespace(&ns("redis"));
    crash_test("redis", store, cleanup);
}

#[test]
fn mongodb_protocol() {
    let (store, cleanup) = Shared::Mongo.namespace(&ns("mongo"));
    crash_test("mongodb", store, cleanup);
}
