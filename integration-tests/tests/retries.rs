//! Retries, backfills and buffered fire times kept in a shared store, across `rsched run`
//! processes: each attempt at each fire time runs once, and a pending retry, a backfill's next
//! fire time or a queued fire time outlives the instance that scheduled it.
//!
//! Per persistent store: 2 instances, 20 interval jobs every 4 s whose task (`rsched:exec`)
//! fails its first two attempts and succeeds at the third (`retries = 3`, waits 0.5 s then
//! 1 s). Every attempt appends `job fire-time attempt` to a file: a sink outside the
//! scheduler. At 10 s one instance is killed with SIGKILL (its pending retries and runs with
//! it), at 12 s another starts, at 24 s all stop. Asserted: no (job, fire time, attempt) ran
//! twice, and every fire time in the window reached a successful attempt (the third, or a later
//! one when an attempt was cut off by the kill) or is in the
//! store's run history as missed or skipped; the history holds the attempts, the return value
//! of the one that succeeded included.

use std::collections::HashMap;
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use integration_tests::processes::{
    Lines, Shared, free_port, history_missed, http_get, http_post, rsched_binary_or_skip, spawn,
    sqlite_file, stop, whole_second,
};

/// One process test at a time: they are heavy for a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

const JOBS: usize = 20;
const EVERY: i64 = 4;

fn config(store: &str, attempts: &std::path::Path) -> String {
    let mut text = format!(
        "[scheduler]\nlease = \"2s\"\nmax_poll_interval = \"1s\"\n\n[jobstores.default]\n{store}\n"
    );
    let script = format!(
        "echo \"$RSCHED_JOB_ID $RSCHED_SCHEDULED_TIME $RSCHED_ATTEMPT\" >> {}; test \"$RSCHED_ATTEMPT\" -ge 3",
        attempts.display()
    );
    for i in 0..JOBS {
        text.push_str(&format!(
            "\n[[jobs]]\nid = \"j{i:03}\"\nfunc = \"rsched:exec\"\ntrigger = \"interval\"\nseconds = {EVERY}\n\
             start_date = \"2026-01-01 00:00:00\"\ntimezone = \"UTC\"\nretries = 3\nretry_delay = \"500ms\"\n\
             retry_backoff = 2.0\nretry_jitter = false\nkwargs = {{ program = {script:?}, shell = true }}\n"
        ));
    }
    text
}

fn retry_test(name: &str, store: String, cleanup: impl FnOnce()) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(binary) = rsched_binary_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rsched-retries-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let attempts = dir.join("attempts.log");
    let _ = std::fs::remove_file(&attempts);
    let path = dir.join("rsched.toml");
    std::fs::write(&path, config(&store, &attempts)).unwrap();

    let lines = Lines::default();
    let begin = Instant::now();
    let t0 = Utc::now();
    let mut instances: Vec<Child> = (0..2).map(|_| spawn(&binary, &path, &lines, &[])).collect();
    let at = |secs: u64| {
        if let Some(left) = Duration::from_secs(secs).checked_sub(begin.elapsed()) {
            std::thread::sleep(left);
        }
    };
    at(10);
    instances[0].kill().unwrap();
    instances[0].wait().unwrap();
    at(12);
    instances.push(spawn(&binary, &path, &lines, &[]));
    at(24);
    let stopped_at = Utc::now();
    for child in instances.iter_mut().skip(1) {
        stop(child);
    }

    // (job, fire time) -> attempts seen, in order.
    let mut seen: HashMap<(String, DateTime<Utc>), Vec<u32>> = HashMap::new();
    for line in std::fs::read_to_string(&attempts)
        .unwrap_or_default()
        .lines()
    {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(fire), Some(attempt)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let fire = DateTime::parse_from_rfc3339(fire)
            .unwrap()
            .with_timezone(&Utc);
        seen.entry((id.to_owned(), fire))
            .or_default()
            .push(attempt.parse().unwrap());
    }
    let twice: Vec<_> = seen
        .iter()
        .filter(|(_, a)| {
            let mut sorted = (*a).clone();
            sorted.sort_unstable();
            sorted.dedup();
            sorted.len() != a.len()
        })
        .collect();
    assert!(twice.is_empty(), "{name}: an attempt ran twice: {twice:?}");

    let missed = history_missed(&store, JOBS);
    let first = whole_second(t0) + chrono::Duration::seconds(3);
    let last = whole_second(stopped_at) - chrono::Duration::seconds(8);
    let mut lost = Vec::new();
    let mut in_window = 0;
    let mut fire = DateTime::from_timestamp(first.timestamp() / EVERY * EVERY + EVERY, 0).unwrap();
    while fire <= last {
        for i in 0..JOBS {
            let key = (format!("j{i:03}"), fire);
            in_window += 1;
            // Attempt 3 succeeds; a later one does when an earlier attempt crashed with the
            // killed instance (a crash is a failure, and retried).
            let succeeded = seen.get(&key).is_some_and(|a| a.iter().any(|n| *n >= 3));
            if !succeeded && !missed.contains(&key) {
                lost.push((key.clone(), seen.get(&key).cloned()));
            }
        }
        fire += chrono::Duration::seconds(EVERY);
    }
    assert!(in_window >= JOBS * 2, "{name}: the window is too short");
    assert!(
        lost.is_empty(),
        "{name}: {} of {in_window} fire times did not reach their successful attempt, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );

    // The run history holds every attempt, and the return value of the one that succeeded.
    let config: rsched::config::JobStoreConfig = toml::from_str(&store).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let runs = runtime.block_on(async {
        let store = rsched::store_from_config(&config).await.unwrap();
        store
            .history()
            .expect("the store keeps history")
            .job_runs("j000", 1000)
            .await
            .unwrap()
    });
    let third = runs
        .iter()
        .find(|r| r.attempt == 3 && r.outcome == rsched::RunOutcome::Success)
        .expect("a successful third attempt in the history");
    assert_eq!(
        third.result.as_ref().and_then(|r| r.get("exit_code")),
        Some(&serde_json::json!(0)),
        "{name}: {third:?}"
    );
    assert!(
        runs.iter().any(|r| r.attempt == 1
            && r.outcome == rsched::RunOutcome::Error
            && r.scheduled_run_time == third.scheduled_run_time),
        "{name}: the failed first attempt is not in the history"
    );
    cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A backfill of 40 fire times (one after another), asked of one of two instances through the
/// API; the instance that runs them is killed with SIGKILL halfway. Asserted: each fire time
/// ran at most once, and every one either ran or is in the run history (the one cut off by the
/// kill is recorded `crashed`); the backfill went on after the kill.
fn backfill_test(name: &str, store: String, cleanup: impl FnOnce()) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(binary) = rsched_binary_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rsched-backfill-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ran = dir.join("ran.log");
    let _ = std::fs::remove_file(&ran);
    let script = format!(
        "echo \"$RSCHED_SCHEDULED_TIME $RSCHED_SCHEDULER_ID\" >> {}; sleep 0.2",
        ran.display()
    );
    // Every second of the first minute of 2026, long gone: only the backfill runs it.
    let job = format!(
        "[[jobs]]\nid = \"bf\"\nfunc = \"rsched:exec\"\ntrigger = \"cron\"\nyear = 2026\nmonth = 1\nday = 1\n\
         hour = 0\nminute = 0\nsecond = \"*\"\ntimezone = \"UTC\"\nkwargs = {{ program = {script:?}, shell = true }}\n"
    );
    let port = free_port();
    let base = format!(
        "[scheduler]\nlease = \"2s\"\nmax_poll_interval = \"1s\"\n\n[jobstores.default]\n{store}\n\n{job}\n"
    );
    let with_api = dir.join("a.toml");
    let plain = dir.join("b.toml");
    std::fs::write(
        &with_api,
        format!("{base}\n[api]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    std::fs::write(&plain, &base).unwrap();
    let lines = Lines::default();
    let a = spawn(&binary, &with_api, &lines, &[]);
    let b = spawn(&binary, &plain, &lines, &[]);
    let begin = Instant::now();
    while http_get(port, "/scheduler/healthz").is_none() {
        assert!(
            begin.elapsed() < Duration::from_secs(30),
            "{name}: the API did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = http_post(
        port,
        "/scheduler/jobs/bf/backfill",
        r#"{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:40Z"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{name}: {body}");
    assert!(body.contains("\"fire_times\":40"), "{name}: {body}");
    // Halfway, kill whichever instance ran the latest fire time.
    let read = || std::fs::read_to_string(&ran).unwrap_or_default();
    while read().lines().count() < 15 {
        assert!(
            begin.elapsed() < Duration::from_secs(60),
            "{name}: the backfill did not run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let last = read().lines().last().unwrap_or_default().to_owned();
    // Instance ids are host-pid-xxxx.
    let (mut killed, mut survivor) = if last.contains(&format!("-{}-", a.id())) {
        (a, b)
    } else {
        (b, a)
    };
    killed.kill().unwrap();
    killed.wait().unwrap();
    // The survivor finishes the range (the crashed record is reaped after the lease).
    let done = Instant::now();
    while !read().contains("2026-01-01T00:00:39+00:00") {
        assert!(
            done.elapsed() < Duration::from_secs(60),
            "{name}: the backfill did not go on after the kill:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(&mut survivor);
    let text = read();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let fire = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        *counts.entry(fire).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{name}: a backfilled fire time ran twice: {twice:?}"
    );
    let config: rsched::config::JobStoreConfig = toml::from_str(&store).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let history = runtime.block_on(async {
        let store = rsched::store_from_config(&config).await.unwrap();
        store.history().unwrap().job_runs("bf", 1000).await.unwrap()
    });
    for s in 0..40 {
        let fire = format!("2026-01-01T00:00:{s:02}+00:00");
        let t = DateTime::parse_from_rfc3339(&fire)
            .unwrap()
            .with_timezone(&Utc);
        let recorded = history
            .iter()
            .any(|r| r.scheduled_run_time == t && r.backfill);
        assert!(
            counts.contains_key(&fire) || recorded,
            "{name}: backfilled fire time {fire} neither ran nor is in the history"
        );
    }
    cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fire times queued by `overlap = "buffer_all"` in the store, across `rsched run`
/// processes: 10 jobs firing every second whose run lasts 1.5 s (`max_instances = 1`), so fire
/// times pile up in the store's queue. Two instances; at 7 s one is killed with SIGKILL, at 9 s
/// another starts, at 18 s all stop. Asserted: no (job, fire time) ran twice, each job's fire
/// times ran in order, and every fire time in the window ran, is in the run history (skipped,
/// missed, crashed) or still waits in the store's queue.
fn buffer_test(name: &str, store: String, cleanup: impl FnOnce()) {
    const BUFFERED: usize = 10;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(binary) = rsched_binary_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("rsched-buffer-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ran = dir.join("ran.log");
    let _ = std::fs::remove_file(&ran);
    let script = format!(
        "echo \"$RSCHED_JOB_ID $RSCHED_SCHEDULED_TIME\" >> {}; sleep 1.5",
        ran.display()
    );
    let mut text = format!(
        "[scheduler]\nlease = \"2s\"\nmax_poll_interval = \"1s\"\n\n[jobstores.default]\n{store}\n"
    );
    for i in 0..BUFFERED {
        text.push_str(&format!(
            "\n[[jobs]]\nid = \"j{i:03}\"\nfunc = \"rsched:exec\"\ntrigger = \"interval\"\nseconds = 1\n\
             start_date = \"2026-01-01 00:00:00\"\ntimezone = \"UTC\"\nmax_instances = 1\n\
             overlap = \"buffer_all\"\nkwargs = {{ program = {script:?}, shell = true }}\n"
        ));
    }
    let path = dir.join("rsched.toml");
    std::fs::write(&path, text).unwrap();
    let lines = Lines::default();
    let begin = Instant::now();
    let t0 = Utc::now();
    let mut instances: Vec<Child> = (0..2).map(|_| spawn(&binary, &path, &lines, &[])).collect();
    let at = |secs: u64| {
        if let Some(left) = Duration::from_secs(secs).checked_sub(begin.elapsed()) {
            std::thread::sleep(left);
        }
    };
    at(7);
    instances[0].kill().unwrap();
    instances[0].wait().unwrap();
    at(9);
    instances.push(spawn(&binary, &path, &lines, &[]));
    at(18);
    let stopped_at = Utc::now();
    for child in instances.iter_mut().skip(1) {
        stop(child);
    }

    // job -> fire times, in the order they started.
    let mut seen: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for line in std::fs::read_to_string(&ran).unwrap_or_default().lines() {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(fire)) = (parts.next(), parts.next()) else {
            continue;
        };
        let fire = DateTime::parse_from_rfc3339(fire)
            .unwrap()
            .with_timezone(&Utc);
        seen.entry(id.to_owned()).or_default().push(fire);
    }
    for (job, fires) in &seen {
        let mut sorted = fires.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            &sorted, fires,
            "{name}: job {job}'s fire times ran twice or out of order"
        );
    }
    let config: rsched::config::JobStoreConfig = toml::from_str(&store).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (queued, crashed) = runtime.block_on(async {
        let store = rsched::store_from_config(&config).await.unwrap();
        let mut queued = std::collections::HashSet::new();
        let mut crashed = std::collections::HashSet::new();
        for i in 0..BUFFERED {
            let id = format!("j{i:03}");
            for r in store
                .running()
                .expect("the store records runs")
                .queued_runs(&id, 1000)
                .await
                .unwrap()
            {
                queued.insert((id.clone(), r.scheduled_run_time));
            }
            for r in store.history().unwrap().job_runs(&id, 1000).await.unwrap() {
                if r.outcome == rsched::RunOutcome::Crashed {
                    crashed.insert((id.clone(), r.scheduled_run_time));
                }
            }
        }
        (queued, crashed)
    });
    let missed = history_missed(&store, BUFFERED);
    let first = whole_second(t0) + chrono::Duration::seconds(3);
    let last = whole_second(stopped_at) - chrono::Duration::seconds(4);
    let mut lost = Vec::new();
    let mut in_window = 0;
    let mut fire = first;
    while fire <= last {
        for i in 0..BUFFERED {
            let key = (format!("j{i:03}"), fire);
            in_window += 1;
            let ran = seen.get(&key.0).is_some_and(|f| f.contains(&fire));
            if !ran && !missed.contains(&key) && !queued.contains(&key) && !crashed.contains(&key) {
                lost.push(key);
            }
        }
        fire += chrono::Duration::seconds(1);
    }
    assert!(in_window >= BUFFERED * 8, "{name}: the window is too short");
    assert!(
        !queued.is_empty(),
        "{name}: fire times were expected to wait in the store"
    );
    assert!(
        lost.is_empty(),
        "{name}: {} of {in_window} fire times neither ran, nor are in history, nor wait, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}

fn ns(name: &str) -> String {
    format!("retry{}_{name}_", std::process::id())
}

#[test]
fn sqlite_file_shared_by_processes() {
    let (store, cleanup) = sqlite_file("retries");
    retry_test("sqlite", store, cleanup);
}

#[test]
fn postgres() {
    let (store, cleanup) = Shared::Postgres.namespace(&ns("pg"));
    retry_test("postgres", store, cleanup);
}

#[test]
fn mariadb() {
    let (store, cleanup) = Shared::MariaDb.namespace(&ns("my"));
    retry_test("mariadb", store, cleanup);
}

#[test]
fn redis() {
    let (store, cleanup) = Shared::Redis.namespace(&ns("redis"));
    retry_test("redis", store, cleanup);
}

#[test]
fn mongodb_protocol() {
    let (store, cleanup) = Shared::Mongo.namespace(&ns("mongo"));
    retry_test("mongodb", store, cleanup);
}

#[test]
fn backfill_survives_an_instance_kill_on_sqlite() {
    let (store, cleanup) = sqlite_file("backfill");
    backfill_test("sqlite", store, cleanup);
}

#[test]
fn backfill_survives_an_instance_kill_on_postgres() {
    let (store, cleanup) = Shared::Postgres.namespace(&ns("bfpg"));
    backfill_test("postgres", store, cleanup);
}

#[test]
fn backfill_survives_an_instance_kill_on_mariadb() {
    let (store, cleanup) = Shared::MariaDb.namespace(&ns("bfmy"));
    backfill_test("mariadb", store, cleanup);
}

#[test]
fn backfill_survives_an_instance_kill_on_redis() {
    let (store, cleanup) = Shared::Redis.namespace(&ns("bfredis"));
    backfill_test("redis", store, cleanup);
}

#[test]
fn backfill_survives_an_instance_kill_on_mongodb_protocol() {
    let (store, cleanup) = Shared::Mongo.namespace(&ns("bfmongo"));
    backfill_test("mongodb", store, cleanup);
}

#[test]
fn buffered_fire_times_survive_an_instance_kill_on_sqlite() {
    let (store, cleanup) = sqlite_file("buffer");
    buffer_test("sqlite", store, cleanup);
}

#[test]
fn buffered_fire_times_survive_an_instance_kill_on_postgres() {
    let (store, cleanup) = Shared::Postgres.namespace(&ns("bupg"));
    buffer_test("postgres", store, cleanup);
}

#[test]
fn buffered_fire_times_survive_an_instance_kill_on_mariadb() {
    let (store, cleanup) = Shared::MariaDb.namespace(&ns("bumy"));
    buffer_test("mariadb", store, cleanup);
}

#[test]
fn buffered_fire_times_survive_an_instance_kill_on_redis() {
    let (store, cleanup) = Shared::Redis.namespace(&ns("buredis"));
    buffer_test("redis", store, cleanup);
}

#[test]
fn buffered_fire_times_survive_an_instance_kill_on_mongodb_protocol() {
    let (store, cleanup) = Shared::Mongo.namespace(&ns("bumongo"));
    buffer_test("mongodb", store, cleanup);
}
