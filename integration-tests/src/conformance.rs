//! The `JobStore` contract, as one suite every backend must pass. A backend file stamps it
//! out with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! integration_tests::conformance_tests!(integration_tests::backends::Sqlite);
//! ```
//!
//! Each case gets its own namespace (table prefix, database file) from the backend and drops
//! only that, so cases run in parallel. Each backend declares what it [`Offers`]; the first
//! case pins the store to that declaration, so a store that stops offering a capability fails
//! instead of skipping the cases that need it. Cases for a capability the backend does not
//! declare say so and pass.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use rsched::Clock as _;
use rsched::{
    ErrorKind, Event, EventMask, Job, JobContext, JobSpec, JobStore, ManualClock, Release,
    Retention, RunOutcome, RunRecord, RunningRun, Scheduler, TaskRegistry,
};
use serde_json::{Value, json};

/// What a backend declares its store offers; [`capabilities_are_pinned`] checks the store
/// against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offers {
    /// Jobs survive the store value (`Capabilities::persistent`).
    pub persistent: bool,
    /// Several processes may share it (`Capabilities::shared`).
    pub shared: bool,
    /// `JobStore::history` is `Some`.
    pub history: bool,
    /// `JobStore::running` is `Some`.
    pub running: bool,
    /// `JobStore::notifications` is `Some`.
    pub notifications: bool,
    /// `JobStore::server_time` is `Some` (the server has its own clock).
    pub server_clock: bool,
    /// `JobStore::calendar_store` is `Some`.
    pub calendars: bool,
}

/// A store backend under test.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// What its stores offer.
    fn offers(&self) -> Offers;
    /// A fresh, empty store in the namespace `ns`; `None` skips the case (the reason printed),
    /// or fails it under `RSCHED_TEST_STRICT=1`.
    async fn open(&self, ns: &str) -> Option<Arc<dyn JobStore>>;
    /// The same namespace opened again, as another process would (a new pool or client);
    /// `None` for stores that keep nothing outside the process.
    async fn reopen(&self, ns: &str) -> Option<Arc<dyn JobStore>>;
    /// Overwrites the stored state of job `id` with text that is not a job (for the quarantine
    /// case); false when the backend has no stored form to corrupt.
    async fn corrupt(&self, ns: &str, id: &str) -> bool;
    /// Drops the namespace.
    async fn cleanup(&self, ns: &str);
}

/// A namespace unique to this run and case.
pub fn namespace(case: &str) -> String {
    format!("t{}_{}_{case}_", std::process::id(), fastrand::u32(..))
}

/// 2026-01-01T00:00:00Z plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A job from its stored form: runs `app:tick`, a date trigger, next run at `next` (`None`:
/// paused).
pub fn job(id: &str, next: Option<DateTime<Utc>>) -> Job {
    job_with(
        id,
        next,
        json!({"type": "date", "run_date": "2026-06-01 00:00:00", "timezone": "UTC"}),
    )
}

fn job_with(id: &str, next: Option<DateTime<Utc>>, trigger: Value) -> Job {
    serde_json::from_value(json!({
        "version": 1,
        "id": id,
        "func": "app:tick",
        "args": [],
        "kwargs": {},
        "trigger": trigger,
        "misfire_grace_time": 1.0,
        "coalesce": true,
        "max_instances": 1,
        "next_run_time": next,
    }))
    .expect("a valid job state")
}

fn ids(jobs: &[Job]) -> Vec<String> {
    jobs.iter().map(|j| j.id().to_owned()).collect()
}

const LEASE: Duration = Duration::from_secs(30);

/// The store's run history, which the backend declares it offers.
fn history(store: &Arc<dyn JobStore>) -> &dyn rsched::RunHistory {
    store
        .history()
        .expect("the backend declares run history, the store offers none")
}

/// The store's calendars, which the backend declares it offers.
fn calendars_of(store: &Arc<dyn JobStore>) -> &dyn rsched::CalendarStore {
    store
        .calendar_store()
        .expect("the backend declares calendars, the store keeps none")
}

/// The store's record of runs in progress, which the backend declares it offers.
fn runs_of(store: &Arc<dyn JobStore>) -> &dyn rsched::RunningRuns {
    store
        .running()
        .expect("the backend declares runs in progress, the store offers none")
}

macro_rules! store_or_skip {
    ($backend:expr, $ns:expr) => {
        match $backend.open(&$ns).await {
            Some(store) => store,
            None => return,
        }
    };
}

/// The store offers exactly what its backend declares: each capability by type, the
/// `persistent`/`shared` flags, and a server clock that reads the time (the servers under test
/// share this host's clock).
pub async fn capabilities_are_pinned(backend: &impl Backend) {
    let ns = namespace("caps");
    let store = store_or_skip!(backend, ns);
    let caps = store.capabilities();
    let before = Utc::now();
    let server_time = store.server_time().await.expect("the store's clock reads");
    let after = Utc::now();
    if let Some(server) = server_time {
        // The test servers run on this host: their clock is this host's, within the round
        // trip and the server's precision (MongoDB's is milliseconds).
        let slack = chrono::Duration::milliseconds(5);
        assert!(
            server >= before - slack && server <= after + slack,
            "the server's clock reads {server}, this host's read {before} .. {after}"
        );
    }
    let found = Offers {
        persistent: caps.persistent,
        shared: caps.shared,
        history: store.history().is_some(),
        running: store.running().is_some(),
        notifications: store.notifications().is_some(),
        server_clock: server_time.is_some(),
        calendars: store.calendar_store().is_some(),
    };
    assert_eq!(
        found,
        backend.offers(),
        "the store offers what the backend declares"
    );
    backend.cleanup(&ns).await;
}

/// add / lookup / update / remove, and their errors.
pub async fn crud_and_conflicts(backend: &impl Backend) {
    let ns = namespace("crud");
    let store = store_or_skip!(backend, ns);
    store.add_job(&job("a", Some(at(10)))).await.unwrap();
    let err = store.add_job(&job("a", Some(at(20)))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let a = store.lookup_job("a").await.unwrap().unwrap();
    assert_eq!(a.next_run_time(), Some(at(10)));
    assert!(store.lookup_job("zz").await.unwrap().is_none());

    let mut changed = a.clone();
    changed.set_next_run_time(Some(at(99)), Some(at(99)));
    store.update_job(&changed).await.unwrap();
    assert_eq!(
        store
            .lookup_job("a")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(99))
    );
    let err = store.update_job(&job("zz", None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let results = store
        .add_jobs(&[job("b", Some(at(1))), job("a", None), job("c", None)])
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );

    store.remove_job("a").await.unwrap();
    assert_eq!(
        store.remove_job("a").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(ids(&store.get_all_jobs().await.unwrap()), ["b", "c"]);
    store.remove_all_jobs().await.unwrap();
    assert!(store.get_all_jobs().await.unwrap().is_empty());
    backend.cleanup(&ns).await;
}

/// By next run time, then id; paused jobs last, by id.
pub async fn ordering(backend: &impl Backend) {
    let ns = namespace("order");
    let store = store_or_skip!(backend, ns);
    for (id, next) in [
        ("p2", None),
        ("late", Some(at(30))),
        ("b", Some(at(10))),
        ("a", Some(at(10))),
        ("p1", None),
        ("B", Some(at(10))),
        ("early", Some(at(5))),
    ] {
        store.add_job(&job(id, next)).await.unwrap();
    }
    assert_eq!(
        ids(&store.get_all_jobs().await.unwrap()),
        ["early", "B", "a", "b", "late", "p1", "p2"]
    );
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(at(5)));
    backend.cleanup(&ns).await;
}

/// Only due, unpaused, unleased jobs are acquired, earliest first, up to the limit.
pub async fn due_selection(backend: &impl Backend) {
    let ns = namespace("due");
    let store = store_or_skip!(backend, ns);
    for (id, next) in [
        ("d1", at(1)),
        ("d2", at(2)),
        ("d3", at(3)),
        ("later", at(100)),
    ] {
        store.add_job(&job(id, Some(next))).await.unwrap();
    }
    store.add_job(&job("paused", None)).await.unwrap();
    let got = store.acquire_due_jobs("A", at(50), LEASE, 2).await.unwrap();
    assert_eq!(ids(&got), ["d1", "d2"]);
    let got = store
        .acquire_due_jobs("A", at(50), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&got), ["d3"], "leased jobs are not acquired again");
    assert!(
        store
            .acquire_due_jobs("B", at(50), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Wake-up: the earliest lease expiry (to take over) or due time.
    assert_eq!(
        store.get_next_run_time().await.unwrap(),
        Some(at(50) + chrono::Duration::from_std(LEASE).unwrap())
    );
    for id in ["d1", "d2", "d3"] {
        store.release_job("A", id, Release::Remove).await.unwrap();
    }
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(at(100)));
    assert_eq!(
        ids(&store.get_all_jobs().await.unwrap()),
        ["later", "paused"]
    );
    backend.cleanup(&ns).await;
}

/// Two owners racing on many due jobs, round after round: no job is leased twice, none is
/// missed.
pub async fn acquire_is_exclusive(backend: &impl Backend) {
    let ns = namespace("race");
    let store = store_or_skip!(backend, ns);
    let other = backend.reopen(&ns).await.unwrap_or_else(|| store.clone());
    let jobs: Vec<Job> = (0..60)
        .map(|i| job(&format!("j{i:03}"), Some(at(1))))
        .collect();
    for r in store.add_jobs(&jobs).await.unwrap() {
        r.unwrap();
    }
    for round in 0..8 {
        let now = at(10 + round * 10);
        let take = |store: Arc<dyn JobStore>, owner: &'static str| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store.acquire_due_jobs(owner, now, LEASE, 7).await.unwrap();
                    if got.is_empty() {
                        break;
                    }
                    mine.extend(ids(&got));
                    tokio::task::yield_now().await;
                }
                mine
            })
        };
        let (a, b) = (take(store.clone(), "A"), take(other.clone(), "B"));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let all: HashSet<&String> = a.iter().chain(&b).collect();
        assert_eq!(
            a.len() + b.len(),
            60,
            "round {round}: every job once ({} + {})",
            a.len(),
            b.len()
        );
        assert_eq!(all.len(), 60, "round {round}: no job leased twice");
        // Each owner releases its own, due again at the next round.
        let next = at(10 + (round + 1) * 10);
        for (owner, list, s) in [("A", &a, &store), ("B", &b, &other)] {
            let releases: Vec<(Arc<str>, Release)> = list
                .iter()
                .map(|id| {
                    (
                        Arc::from(id.as_str()),
                        Release::Reschedule {
                            next_run_time: next,
                            fire_time: next,
                        },
                    )
                })
                .collect();
            for r in s.release_jobs(owner, &releases).await.unwrap() {
                r.unwrap();
            }
        }
    }
    backend.cleanup(&ns).await;
}

/// An expired lease lets another owner take the job; the first owner's release then fails.
pub async fn lease_expiry_and_takeover(backend: &impl Backend) {
    let ns = namespace("lease");
    let store = store_or_skip!(backend, ns);
    store.add_job(&job("j", Some(at(0)))).await.unwrap();
    let lease = Duration::from_secs(10);
    assert_eq!(
        ids(&store.acquire_due_jobs("A", at(1), lease, 10).await.unwrap()),
        ["j"]
    );
    assert!(
        store
            .acquire_due_jobs("B", at(5), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store
            .acquire_due_jobs("B", at(11), lease, 10)
            .await
            .unwrap()),
        ["j"]
    );
    let err = store
        .release_job("A", "j", Release::Remove)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    let next = at(60);
    store
        .release_job(
            "B",
            "j",
            Release::Reschedule {
                next_run_time: next,
                fire_time: next,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .lookup_job("j")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(next)
    );
    backend.cleanup(&ns).await;
}

/// Releases by someone who holds no lease, and of jobs that are gone.
pub async fn release_errors(backend: &impl Backend) {
    let ns = namespace("release");
    let store = store_or_skip!(backend, ns);
    store.add_job(&job("j", Some(at(0)))).await.unwrap();
    let err = store
        .release_job("A", "j", Release::Unchanged)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost, "not leased at all");
    store.acquire_due_jobs("A", at(1), LEASE, 10).await.unwrap();
    let err = store
        .release_job("B", "j", Release::Pause)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost, "leased by someone else");
    let err = store
        .release_job("A", "nope", Release::Pause)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let results = store
        .release_jobs(
            "A",
            &[
                (Arc::from("j"), Release::Pause),
                (Arc::from("nope"), Release::Remove),
            ],
        )
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    assert!(store.lookup_job("j").await.unwrap().unwrap().is_paused());
    backend.cleanup(&ns).await;
}

/// A change made while the job is leased wins over the holder's release.
pub async fn modification_while_leased_wins(backend: &impl Backend) {
    let ns = namespace("modified");
    let store = store_or_skip!(backend, ns);
    store.add_job(&job("j", Some(at(0)))).await.unwrap();
    store.add_job(&job("k", Some(at(0)))).await.unwrap();
    store.acquire_due_jobs("A", at(1), LEASE, 10).await.unwrap();
    let mut changed = job("j", Some(at(500)));
    changed.set_next_run_time(Some(at(500)), Some(at(500)));
    store.update_job(&changed).await.unwrap();
    store.update_job(&job("k", Some(at(700)))).await.unwrap();
    let next = at(5);
    let results = store
        .release_jobs(
            "A",
            &[
                (
                    Arc::from("j"),
                    Release::Reschedule {
                        next_run_time: next,
                        fire_time: next,
                    },
                ),
                (Arc::from("k"), Release::Remove),
            ],
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        store
            .lookup_job("j")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(500))
    );
    assert_eq!(
        store
            .lookup_job("k")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(700)),
        "a job re-added while leased is not removed by the release"
    );
    // The lease is gone: another owner can take the jobs when due.
    assert_eq!(
        store
            .acquire_due_jobs("B", at(800), LEASE, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    backend.cleanup(&ns).await;
}

/// Quarantined jobs are kept and listed, never scheduled, and restored by replacing them.
pub async fn quarantine(backend: &impl Backend) {
    let ns = namespace("quarantine");
    let store = store_or_skip!(backend, ns);
    store.add_job(&job("sick", Some(at(0)))).await.unwrap();
    store.add_job(&job("well", Some(at(1)))).await.unwrap();
    store
        .quarantine_job("sick", "no task registered as 'app:gone'")
        .await
        .unwrap();
    assert_eq!(
        store.quarantine_job("nope", "x").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(ids(&store.get_all_jobs().await.unwrap()), ["well"]);
    assert!(store.lookup_job("sick").await.unwrap().is_none());
    assert_eq!(
        ids(&store.acquire_due_jobs("A", at(5), LEASE, 10).await.unwrap()),
        ["well"]
    );
    let q = store.quarantined_jobs().await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, "sick");
    assert!(q[0].reason.contains("app:gone"));
    assert!(
        q[0].state.contains("\"sick\""),
        "the stored state is kept: {}",
        q[0].state
    );
    assert_eq!(
        store.add_job(&job("sick", None)).await.unwrap_err().kind(),
        ErrorKind::AlreadyExists,
        "the quarantined row still holds its id"
    );
    store.update_job(&job("sick", Some(at(9)))).await.unwrap();
    assert!(
        store.quarantined_jobs().await.unwrap().is_empty(),
        "replacing restores it"
    );
    assert_eq!(
        store
            .lookup_job("sick")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(9))
    );

    // A stored state that cannot be decoded is quarantined on read, not deleted.
    let reported = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = reported.clone();
    store.set_quarantine_listener(Arc::new(move |id: &str, _reason: &str| {
        sink.lock().unwrap().push(id.to_owned());
    }));
    if backend.corrupt(&ns, "well").await {
        assert_eq!(ids(&store.get_all_jobs().await.unwrap()), ["sick"]);
        assert_eq!(
            *reported.lock().unwrap(),
            ["well"],
            "the scheduler hears of it"
        );
        let q = store.quarantined_jobs().await.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].id, "well");
        if let Some(again) = backend.reopen(&ns).await {
            assert_eq!(
                again.quarantined_jobs().await.unwrap().len(),
                1,
                "still there after reopening"
            );
        }
        store.remove_job("well").await.unwrap();
        assert!(
            store.quarantined_jobs().await.unwrap().is_empty(),
            "a user may remove it"
        );
    }
    backend.cleanup(&ns).await;
}

/// Every trigger type, unicode ids and arguments come back as they went in.
pub async fn round_trip(backend: &impl Backend) {
    let ns = namespace("roundtrip");
    let store = store_or_skip!(backend, ns);
    let triggers = [
        json!({"type": "date", "run_date": "2026-03-08 02:30:00", "timezone": "America/New_York"}),
        json!({"type": "interval", "hours": 1.5, "start_date": "2026-01-01T00:00:00.250000+01:00", "end_date": "2027-01-01", "jitter": 3.0}),
        json!({"type": "cron", "day": "last fri", "hour": "9-17/2", "minute": "*/5", "timezone": "Asia/Shanghai"}),
        json!({"type": "crontab", "expr": "0 9 1,15 * mon", "timezone": "Europe/London"}),
        json!({"type": "calendarinterval", "months": 1, "hour": 9, "start_date": "2026-01-31"}),
        json!({"type": "and", "triggers": [{"type": "cron", "hour": "*/2"}, {"type": "cron", "day_of_week": "mon-fri"}]}),
        json!({"type": "or", "triggers": [{"type": "interval", "minutes": 7}, {"type": "date", "run_date": "2026-05-05"}]}),
        // Dates written with UTC offsets other than their trigger zone's (Flask-APScheduler
        // clients): they are echoed with those offsets, before and after the store.
        json!({"type": "date", "run_date": "2099-06-15T08:30:00+02:00", "timezone": "Europe/Berlin"}),
        json!({"type": "interval", "minutes": 30, "start_date": "2026-01-01T10:00:00-05:30", "end_date": "2027-01-01T00:00:00Z", "timezone": "Asia/Shanghai"}),
        json!({"type": "cron", "hour": 9, "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-12-31T00:00:00-05:30", "timezone": "America/New_York"}),
    ];
    let names = [
        "date",
        "interval",
        "cron",
        "crontab",
        "cal",
        "and",
        "or",
        "date+2",
        "interval-5:30",
        "cronZ",
    ];
    let mut originals = Vec::new();
    for (i, trigger) in triggers.into_iter().enumerate() {
        let id = format!("作业-{i} ✓ «{}»", names[i]);
        let mut value =
            serde_json::to_value(job_with(&id, Some(at(i64::try_from(i).unwrap())), trigger))
                .unwrap();
        value["args"] = json!(["héllo", {"nested": [1, 2.5, null, true]}, "🦀"]);
        value["kwargs"] = json!({"ключ": "значение", "emoji": "⏰"});
        // Tags and metadata are kept as given.
        value["tags"] = json!(["客户", "eu-west", format!("n{i}")]);
        value["metadata"] = json!({"owner": "billing", "nested": {"a": [1, 2.5, null]}});
        let job: Job = serde_json::from_value(value).unwrap();
        store.add_job(&job).await.unwrap();
        originals.push(job);
    }
    for original in &originals {
        let back = store.lookup_job(original.id()).await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(original).unwrap(),
            "{}",
            original.id()
        );
        let after = at(0);
        let want: Vec<_> = original.trigger().fire_times(after).take(5).collect();
        let got: Vec<_> = back.trigger().fire_times(after).take(5).collect();
        assert_eq!(got, want, "{}", original.id());
        // The API's job JSON (Flask-APScheduler's `trigger_to_dict` and `next_run_time`).
        assert_eq!(
            back.trigger().flask_fields(),
            original.trigger().flask_fields(),
            "{}",
            original.id()
        );
        let shown = |job: &Job| {
            job.next_run_time()
                .map(|t| rsched::isoformat(&job.trigger().display_time(t)))
        };
        assert_eq!(shown(&back), shown(original), "{}", original.id());
    }
    // What the API echoes, read back from the store: offsets as written (`Z` as `+00:00`),
    // naive dates in the trigger's zone as before.
    let mut shown = Vec::new();
    for original in &originals {
        let back = store.lookup_job(original.id()).await.unwrap().unwrap();
        let fields = back.trigger().flask_fields();
        let next = back
            .next_run_time()
            .map(|t| rsched::isoformat(&back.trigger().display_time(t)));
        shown.push((fields, next));
    }
    let field = |i: usize, key: &str| shown[i].0.get(key).cloned().unwrap_or(Value::Null);
    // A naive date in New York (a DST gap: 02:30 moves to 03:30), as before.
    assert_eq!(field(0, "run_date"), "2026-03-08T03:30:00-04:00");
    assert_eq!(field(1, "start_date"), "2026-01-01T00:00:00.250000+01:00");
    assert_eq!(field(1, "end_date"), "2027-01-01T00:00:00+00:00");
    assert_eq!(field(7, "run_date"), "2099-06-15T08:30:00+02:00");
    assert_eq!(field(7, "timezone"), "Europe/Berlin");
    // A date trigger's fire time is its run date: shown with its offset.
    assert_eq!(shown[7].1.as_deref(), Some("2026-01-01T02:00:07+02:00"));
    assert_eq!(field(8, "start_date"), "2026-01-01T10:00:00-05:30");
    assert_eq!(field(8, "end_date"), "2027-01-01T00:00:00+00:00");
    // Interval and cron fire times are shown in the trigger's zone.
    assert_eq!(shown[8].1.as_deref(), Some("2026-01-01T08:00:08+08:00"));
    assert_eq!(field(9, "start_date"), "2026-01-01T00:00:00+00:00");
    assert_eq!(field(9, "end_date"), "2026-12-31T00:00:00-05:30");
    assert_eq!(shown[9].1.as_deref(), Some("2025-12-31T19:00:09-05:00"));
    backend.cleanup(&ns).await;
}

/// Jobs survive closing and reopening the store.
pub async fn persistence(backend: &impl Backend) {
    let ns = namespace("persist");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().persistent {
        eprintln!("persistence: skipped, the store is not persistent");
        backend.cleanup(&ns).await;
        return;
    }
    store.add_job(&job("kept", Some(at(42)))).await.unwrap();
    store.add_job(&job("paused", None)).await.unwrap();
    drop(store);
    let again = backend
        .reopen(&ns)
        .await
        .expect("a persistent store reopens");
    assert_eq!(
        ids(&again.get_all_jobs().await.unwrap()),
        ["kept", "paused"]
    );
    assert_eq!(
        again
            .lookup_job("kept")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(42))
    );
    backend.cleanup(&ns).await;
}

fn tick_registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.register("app:tick", |_ctx: JobContext, (): ()| async move {
        Ok::<_, std::convert::Infallible>(())
    });
    registry
}

async fn next_event(rx: &mut tokio::sync::broadcast::Receiver<Event>, mask: EventMask) -> Event {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match rx.recv().await {
                Ok(e) if mask.contains(e.code()) => return e,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("the event within 20 s")
}

/// A new scheduler on the same store runs the persisted jobs once its tasks are registered;
/// one without the task quarantines them instead of losing them.
pub async fn new_scheduler_runs_persisted_jobs(backend: &impl Backend) {
    let ns = namespace("handover");
    let store = store_or_skip!(backend, ns);
    let clock = ManualClock::new(at(0));
    let first = Scheduler::builder()
        .registry(tick_registry())
        .jobstore_arc("default", store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    first.start().await.unwrap();
    first
        .add_job(JobSpec::new("app:tick").id("job1").trigger(
            rsched::BuiltinTrigger::from_json(r#"{"type":"interval","seconds":5}"#).unwrap(),
        ))
        .await
        .unwrap();
    first.shutdown(true).await.unwrap();

    // Without the task: quarantined, kept.
    let reopened = backend.reopen(&ns).await.unwrap_or_else(|| store.clone());
    let blind = Scheduler::builder()
        .jobstore_arc("default", reopened.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut events = blind.subscribe();
    blind.start().await.unwrap();
    match next_event(&mut events, EventMask::JOB_QUARANTINED).await {
        Event::JobQuarantined { job_id, reason, .. } => {
            assert_eq!(&*job_id, "job1");
            assert!(reason.contains("app:tick"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    blind.shutdown(true).await.unwrap();
    assert_eq!(reopened.quarantined_jobs().await.unwrap().len(), 1);

    // A build that registers it again restores the job by re-adding it, and runs it.
    let second = Scheduler::builder()
        .registry(tick_registry())
        .jobstore_arc("default", reopened.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut events = second.subscribe();
    second.start().await.unwrap();
    let kept = reopened.quarantined_jobs().await.unwrap();
    assert_eq!(kept.len(), 1);
    let state: Job = serde_json::from_str(&{
        let mut v: Value = serde_json::from_str(&kept[0].state).unwrap();
        v.as_object_mut()
            .unwrap()
            .entry("next_run_time")
            .or_insert(Value::Null);
        v.to_string()
    })
    .unwrap();
    let mut restored = state;
    restored.set_next_run_time(Some(at(5)), Some(at(5)));
    reopened.update_job(&restored).await.unwrap();
    second.wakeup();
    clock.advance(Duration::from_secs(6));
    match next_event(&mut events, EventMask::JOB_EXECUTED).await {
        Event::JobExecuted {
            job_id,
            scheduled_run_time,
            ..
        } => {
            assert_eq!(&*job_id, "job1");
            assert_eq!(scheduled_run_time, at(5));
        }
        other => panic!("{other:?}"),
    }
    second.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// Stores with change notifications wake other instances at once: a change through one store
/// value reaches a listener on another, and B, polling only hourly (and its clock never
/// reaching the poll), runs a job A added while B slept — only a notification can wake it.
pub async fn change_notifications_wake_other_instances(backend: &impl Backend) {
    let ns = namespace("wake");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().notifications {
        eprintln!("change notifications: skipped, the store is polled");
        backend.cleanup(&ns).await;
        return;
    }
    let other = backend.reopen(&ns).await.expect("a shared store reopens");
    // The notification itself: a change made through one store value reaches a listener on
    // the other (another process, as far as the server knows).
    let heard = Arc::new(tokio::sync::Notify::new());
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = heard.clone();
    other
        .notifications()
        .expect("the backend declares change notifications, the store offers none")
        .watch_changes(Arc::new(move || listener.notify_one()), stop.clone());
    // The listener subscribes in the background: change the store until it hears (a permit
    // is kept, so a wake-up between two checks is not lost).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        store
            .add_job(&job(&format!("ping{n}"), None))
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_millis(200), heard.notified())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no change notification reached the other store value in 15 s"
        );
    }
    stop.cancel();
    store.remove_all_jobs().await.unwrap();
    let clock = ManualClock::new(at(0));
    let hourly = rsched::EngineOptions {
        max_poll_interval: Duration::from_secs(3600),
        ..rsched::EngineOptions::default()
    };
    let a = Scheduler::builder()
        .registry(tick_registry())
        .jobstore_arc("default", store.clone())
        .clock(clock.clone())
        .options(hourly)
        .id("instance-a")
        .build()
        .unwrap();
    let b = Scheduler::builder()
        .registry(tick_registry())
        .jobstore_arc("default", other.clone())
        .clock(clock.clone())
        .options(hourly)
        .id("instance-b")
        .build()
        .unwrap();
    a.start_paused().await.unwrap();
    let mut events = b.subscribe();
    b.start().await.unwrap();
    // B has nothing to do: it sleeps until its hourly poll.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.add_job(
        JobSpec::new("app:tick").id("from-a").trigger(
            rsched::BuiltinTrigger::from_json(
                r#"{"type":"date","run_date":"2026-01-01 00:00:02","timezone":"UTC"}"#,
            )
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    // Let B hear of it, then let time reach the run date.
    tokio::time::sleep(Duration::from_millis(500)).await;
    clock.advance(Duration::from_secs(3));
    match next_event(&mut events, EventMask::JOB_EXECUTED).await {
        Event::JobExecuted { job_id, .. } => assert_eq!(&*job_id, "from-a"),
        other => panic!("{other:?}"),
    }
    a.shutdown(true).await.unwrap();
    b.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

fn run(job: &str, secs: i64, outcome: RunOutcome, error: Option<&str>) -> RunRecord {
    let ran = matches!(outcome, RunOutcome::Success | RunOutcome::Error);
    RunRecord {
        job_id: Arc::from(job),
        scheduled_run_time: at(secs),
        started: ran.then(|| at(secs) + chrono::Duration::milliseconds(3)),
        finished: ran.then(|| at(secs) + chrono::Duration::milliseconds(250)),
        outcome,
        error: error.map(str::to_owned),
        scheduler_id: Arc::from("host-1-abcd"),
        attempt: 1,
        backfill: false,
        result: None,
    }
}

/// Run history: newest first, trimmed per job and by age.
pub async fn run_history(backend: &impl Backend) {
    let ns = namespace("history");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().history {
        eprintln!("run history: skipped, the store keeps none");
        backend.cleanup(&ns).await;
        return;
    }
    let retention = Retention {
        per_job: 2,
        max_age: Duration::from_secs(86_400),
    };
    history(&store)
        .record_runs(
            &[
                run("a", 1, RunOutcome::Success, None),
                run("a", 2, RunOutcome::Error, Some("boom: ünïcode")),
                run("b", 1, RunOutcome::Skipped, None),
                run("a", 3, RunOutcome::Missed, None),
            ],
            retention,
        )
        .await
        .unwrap();
    let a = history(&store).job_runs("a", 10).await.unwrap();
    assert_eq!(
        a,
        [
            run("a", 3, RunOutcome::Missed, None),
            run("a", 2, RunOutcome::Error, Some("boom: ünïcode"))
        ],
        "newest first, two kept"
    );
    assert_eq!(history(&store).job_runs("a", 1).await.unwrap().len(), 1);
    assert_eq!(
        history(&store).job_runs("b", 10).await.unwrap(),
        [run("b", 1, RunOutcome::Skipped, None)]
    );
    assert!(
        history(&store)
            .job_runs("nope", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A day later: the old records age out.
    history(&store)
        .record_runs(
            &[run("c", 86_400 + 10, RunOutcome::Success, None)],
            retention,
        )
        .await
        .unwrap();
    assert!(history(&store).job_runs("a", 10).await.unwrap().is_empty());
    assert_eq!(history(&store).job_runs("c", 10).await.unwrap().len(), 1);
    backend.cleanup(&ns).await;
}

/// Run history keeps each record's attempt, backfill flag and return value: a small JSON
/// object (keys and numbers JSON allows but BSON or SQL might not take as they are), a string
/// whose JSON text is exactly the cap (64 KiB: more than MySQL's `TEXT` holds), and the marker
/// Run history across jobs: the problem records (error, missed, crashed, timed out; not
/// success, skipped or interrupted) newest first, paged by time, and the count of every outcome
/// since a time (stores may count from the start of its minute).
pub async fn problem_runs_and_outcome_counts(backend: &impl Backend) {
    let ns = namespace("problems");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().history {
        backend.cleanup(&ns).await;
        return;
    }
    let retention = Retention {
        per_job: 100,
        max_age: Duration::from_secs(30 * 86_400),
    };
    let records = [
        run("a", 0, RunOutcome::Success, None),
        run("a", 60, RunOutcome::Error, Some("boom")),
        run("b", 120, RunOutcome::Missed, None),
        run("b", 180, RunOutcome::Skipped, None),
        run("c", 240, RunOutcome::Crashed, None),
        run("c", 300, RunOutcome::Interrupted, None),
        run("a", 360, RunOutcome::TimedOut, None),
        run("b", 420, RunOutcome::Success, None),
    ];
    history(&store)
        .record_runs(&records, retention)
        .await
        .unwrap();
    let problems = history(&store).problem_runs(None, 10).await.unwrap();
    let seen: Vec<(String, i64)> = problems
        .iter()
        .map(|r| {
            (
                r.job_id.to_string(),
                (r.scheduled_run_time - at(0)).num_seconds(),
            )
        })
        .collect();
    let want = |list: &[(&str, i64)]| {
        list.iter()
            .map(|(j, t)| ((*j).to_owned(), *t))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seen,
        want(&[("a", 360), ("c", 240), ("b", 120), ("a", 60)]),
        "problems, newest first"
    );
    assert_eq!(problems[3], records[1], "kept whole");
    let page = history(&store).problem_runs(None, 2).await.unwrap();
    let next = history(&store)
        .problem_runs(Some(page[1].scheduled_run_time), 2)
        .await
        .unwrap();
    let times: Vec<i64> = page
        .iter()
        .chain(&next)
        .map(|r| (r.scheduled_run_time - at(0)).num_seconds())
        .collect();
    assert_eq!(times, [360, 240, 120, 60], "paged by time");
    let mut counts = history(&store).outcome_counts(at(120)).await.unwrap();
    counts.sort_by_key(|(o, _)| o.as_str());
    assert_eq!(
        counts,
        [
            (RunOutcome::Crashed, 1),
            (RunOutcome::Interrupted, 1),
            (RunOutcome::Missed, 1),
            (RunOutcome::Skipped, 1),
            (RunOutcome::Success, 1),
            (RunOutcome::TimedOut, 1),
        ],
        "every outcome scheduled at or after 2 minutes"
    );
    assert!(
        history(&store)
            .outcome_counts(at(3600))
            .await
            .unwrap()
            .is_empty()
    );
    backend.cleanup(&ns).await;
}

/// `cap_result` leaves of a longer one.
pub async fn run_history_keeps_attempts_and_results(backend: &impl Backend) {
    let ns = namespace("results");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().history {
        eprintln!("run history: skipped, the store keeps none");
        backend.cleanup(&ns).await;
        return;
    }
    let max = rsched::history::MAX_RESULT_BYTES;
    let small = json!({
        "rows": 3,
        "ok": true,
        "ratio": 1.5,
        "big": u64::MAX,
        "names": ["a", "ünïcode", "quote \" and \\"],
        "nested": {"$key": null, "a.b": -7, "": []},
    });
    let at_cap = rsched::history::cap_result(&json!("x".repeat(max - 2))).unwrap();
    assert_eq!(at_cap.to_string().len(), max, "kept whole at the cap");
    let capped = rsched::history::cap_result(&json!("ü\"\n".repeat(40_000))).unwrap();
    assert_eq!(capped["truncated"], json!(true));
    assert!(capped.to_string().len() <= max);
    let with = |secs: i64, attempt: u32, backfill: bool, result: Option<Value>| RunRecord {
        attempt,
        backfill,
        result,
        ..run("r", secs, RunOutcome::Success, None)
    };
    let records = [
        with(1, 1, false, Some(small)),
        RunRecord {
            attempt: 3,
            backfill: true,
            ..run("r", 2, RunOutcome::Error, Some("third try failed"))
        },
        with(3, 2, true, Some(at_cap)),
        with(4, 1, false, Some(capped)),
        with(5, 7, false, Some(json!("plain"))),
    ];
    history(&store)
        .record_runs(
            &records,
            Retention {
                per_job: 10,
                max_age: Duration::from_secs(86_400),
            },
        )
        .await
        .unwrap();
    let read = history(&store).job_runs("r", 10).await.unwrap();
    let mut expected = records.to_vec();
    expected.reverse();
    assert_eq!(read.len(), expected.len());
    for (read, expected) in read.iter().zip(&expected) {
        assert_eq!(
            (read.attempt, read.backfill),
            (expected.attempt, expected.backfill),
            "at {}",
            read.scheduled_run_time
        );
        assert!(
            read.result == expected.result,
            "the result at {} did not round-trip: {} JSON bytes read, {} written",
            read.scheduled_run_time,
            read.result.as_ref().map_or(0, |v| v.to_string().len()),
            expected.result.as_ref().map_or(0, |v| v.to_string().len()),
        );
    }
    assert!(read == expected, "the records round-trip whole");
    backend.cleanup(&ns).await;
}

/// A running scheduler writes the history of what it ran.
pub async fn scheduler_writes_history(backend: &impl Backend) {
    let ns = namespace("writes");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().history {
        backend.cleanup(&ns).await;
        return;
    }
    let clock = ManualClock::new(at(0));
    let scheduler = Scheduler::builder()
        .registry(tick_registry())
        .jobstore_arc("default", store.clone())
        .clock(clock.clone())
        .id("history-instance")
        .build()
        .unwrap();
    let mut events = scheduler.subscribe();
    scheduler.start().await.unwrap();
    scheduler
        .add_job(JobSpec::new("app:tick").id("h").trigger(
            rsched::BuiltinTrigger::from_json(r#"{"type":"interval","seconds":5}"#).unwrap(),
        ))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(5));
    next_event(&mut events, EventMask::JOB_EXECUTED).await;
    let mut runs = Vec::new();
    for _ in 0..100 {
        runs = scheduler.job_runs("h", 10).await.unwrap();
        if !runs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(runs.len(), 1, "the run is in the history");
    assert_eq!(runs[0].outcome, RunOutcome::Success);
    assert_eq!(runs[0].scheduled_run_time, at(5));
    assert_eq!(&*runs[0].scheduler_id, "history-instance");
    scheduler.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

fn running(run_id: &str, job: &str, owner: &str, expires: i64) -> RunningRun {
    RunningRun {
        run_id: Arc::from(run_id),
        job_id: Arc::from(job),
        scheduled_run_time: at(0),
        started: at(0),
        owner: Arc::from(owner),
        expires: at(expires),
        attempt: 1,
        backfill_until: None,
        job_state: None,
    }
}

/// Runs in progress: counted per job until they expire, renewed by their owner, taken over by
/// one instance alone once expired, ended by id and owner.
pub async fn running_runs(backend: &impl Backend) {
    let ns = namespace("running");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        eprintln!("running runs: skipped, the store is not shared");
        backend.cleanup(&ns).await;
        return;
    }
    let ids: Vec<Arc<str>> = ["a", "b", "c"].into_iter().map(Arc::from).collect();
    runs_of(&store)
        .begin_runs(&[
            running("r1", "a", "A", 100),
            running("r2", "a", "A", 100),
            running("r3", "b", "B", 10),
        ])
        .await
        .unwrap();
    assert_eq!(
        runs_of(&store).running_counts(&ids, at(5)).await.unwrap(),
        [2, 1, 0]
    );
    assert_eq!(
        runs_of(&store).running_counts(&ids, at(20)).await.unwrap(),
        [2, 0, 0],
        "an expired run does not count"
    );
    let expired = runs_of(&store).expired_runs(at(20), "", 10).await.unwrap();
    assert_eq!(expired, [running("r3", "b", "B", 10)]);
    assert!(
        runs_of(&store)
            .take_over_run(&expired[0], "C", at(200))
            .await
            .unwrap()
    );
    assert!(
        !runs_of(&store)
            .take_over_run(&expired[0], "D", at(200))
            .await
            .unwrap(),
        "a run is taken over once"
    );
    assert_eq!(
        runs_of(&store).running_counts(&ids, at(20)).await.unwrap(),
        [2, 1, 0]
    );
    // Many ids at once (stores may read all runs in progress then).
    let many: Vec<Arc<str>> = (0..100)
        .map(|i| Arc::from(format!("x{i}")))
        .chain(ids.iter().cloned())
        .collect();
    let counts = runs_of(&store).running_counts(&many, at(20)).await.unwrap();
    assert_eq!(counts.len(), 103);
    assert_eq!(counts[100..], [2, 1, 0]);
    assert!(counts[..100].iter().all(|n| *n == 0));
    runs_of(&store).heartbeat_runs("A", at(300)).await.unwrap();
    assert!(
        runs_of(&store)
            .expired_runs(at(150), "", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut own: Vec<String> = runs_of(&store)
        .expired_runs(at(150), "A", 10)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}",
                r.run_id,
                r.owner,
                r.expires.timestamp() - at(0).timestamp()
            )
        })
        .collect();
    own.sort();
    assert_eq!(own, ["r1:A:300", "r2:A:300"], "heartbeat renewed A's runs");
    // An owner ends only its own records: r3 is C's since the takeover.
    runs_of(&store)
        .end_runs(
            "A",
            &[Arc::from("r1"), Arc::from("r3"), Arc::from("unknown")],
        )
        .await
        .unwrap();
    assert_eq!(
        runs_of(&store).running_counts(&ids, at(20)).await.unwrap(),
        [1, 1, 0],
        "A's end does not drop the record C took over"
    );
    runs_of(&store)
        .end_runs("C", &[Arc::from("r3")])
        .await
        .unwrap();
    assert_eq!(
        runs_of(&store).running_counts(&ids, at(20)).await.unwrap(),
        [1, 0, 0]
    );
    backend.cleanup(&ns).await;
}

/// Runs in progress keep their attempt (and times to the microsecond) through `begin_runs`,
/// `expired_runs` and `take_over_run`.
pub async fn running_runs_keep_attempts(backend: &impl Backend) {
    let ns = namespace("attempts");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        eprintln!("running runs: skipped, the store is not shared");
        backend.cleanup(&ns).await;
        return;
    }
    let us = |t: DateTime<Utc>, micros: i64| t + chrono::Duration::microseconds(micros);
    let first = RunningRun {
        scheduled_run_time: us(at(0), 123_456),
        started: us(at(1), 654_321),
        ..running("r1", "a", "A", 10)
    };
    let third = RunningRun {
        attempt: 3,
        ..running("r2", "a", "A", 20)
    };
    runs_of(&store)
        .begin_runs(&[first.clone(), third.clone()])
        .await
        .unwrap();
    let expired = runs_of(&store).expired_runs(at(30), "", 10).await.unwrap();
    assert_eq!(expired, [first.clone(), third.clone()]);
    assert!(
        runs_of(&store)
            .take_over_run(&expired[1], "B", at(100))
            .await
            .unwrap()
    );
    assert!(
        runs_of(&store)
            .take_over_run(&expired[0], "B", at(100))
            .await
            .unwrap()
    );
    let mut taken = runs_of(&store).expired_runs(at(30), "B", 10).await.unwrap();
    taken.sort_by(|x, y| x.run_id.cmp(&y.run_id));
    let as_b = |r: &RunningRun| RunningRun {
        owner: Arc::from("B"),
        expires: at(100),
        ..r.clone()
    };
    assert_eq!(
        taken,
        [as_b(&first), as_b(&third)],
        "a takeover changes the owner and expiry only"
    );
    backend.cleanup(&ns).await;
}

/// A run that failed and will be retried becomes a pending retry (`reschedule_run`): owned by
/// `PENDING_OWNER`, due at its new `expires`, with the retry's attempt. It counts against
/// `max_instances`, is not the original owner's (heartbeat and end leave it alone), comes back
/// from `expired_runs` once due, and one instance takes it over.
pub async fn reschedule_run_makes_a_pending_retry(backend: &impl Backend) {
    let ns = namespace("retry");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        eprintln!("running runs: skipped, the store is not shared");
        backend.cleanup(&ns).await;
        return;
    }
    let runs = runs_of(&store);
    let a: Vec<Arc<str>> = vec![Arc::from("a")];
    let r1 = RunningRun {
        scheduled_run_time: at(0) + chrono::Duration::microseconds(7),
        ..running("r1", "a", "A", 100)
    };
    runs.begin_runs(&[r1.clone(), running("r2", "a", "A", 100)])
        .await
        .unwrap();
    let retry = RunningRun {
        owner: Arc::from(rsched::PENDING_OWNER),
        started: at(50),
        expires: at(50),
        attempt: 2,
        ..r1.clone()
    };
    assert!(retry.is_pending());
    assert!(runs.reschedule_run("A", &retry).await.unwrap());
    assert_eq!(
        runs.running_counts(&a, at(40)).await.unwrap(),
        [2],
        "a pending retry counts"
    );
    assert!(
        runs.expired_runs(at(40), "", 10).await.unwrap().is_empty(),
        "not before it is due"
    );
    let own: Vec<Arc<str>> = runs
        .expired_runs(at(40), "A", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(own, [Arc::from("r2")], "no longer A's");

    // The original owner's heartbeat and end leave it alone.
    runs.heartbeat_runs("A", at(300)).await.unwrap();
    runs.end_runs("A", &[Arc::from("r1")]).await.unwrap();
    assert_eq!(runs.running_counts(&a, at(40)).await.unwrap(), [2]);
    assert_eq!(
        runs.expired_runs(at(60), "", 10).await.unwrap(),
        std::slice::from_ref(&retry),
        "due at 50, not renewed by A's heartbeat"
    );
    assert_eq!(
        runs.running_counts(&a, at(60)).await.unwrap(),
        [1],
        "once due, it counts no more than an expired run does"
    );

    // A compare-and-set on the owner.
    let later = |run_id: &str, attempt: u32| RunningRun {
        run_id: Arc::from(run_id),
        started: at(70),
        expires: at(70),
        attempt,
        ..retry.clone()
    };
    assert!(!runs.reschedule_run("A", &later("r1", 3)).await.unwrap());
    assert!(!runs.reschedule_run("B", &later("r2", 2)).await.unwrap());
    assert!(
        !runs
            .reschedule_run("A", &later("unknown", 2))
            .await
            .unwrap()
    );
    assert_eq!(
        runs.expired_runs(at(60), "", 10).await.unwrap(),
        std::slice::from_ref(&retry)
    );
    let r2 = runs.expired_runs(at(40), "A", 10).await.unwrap();
    assert_eq!(
        r2.iter()
            .map(|r| (&*r.run_id, &*r.owner, r.expires, r.attempt))
            .collect::<Vec<_>>(),
        [("r2", "A", at(300), 1)],
        "r2 untouched by B's attempt"
    );

    // One instance takes the due retry over, keeping its attempt.
    assert!(runs.take_over_run(&retry, "C", at(200)).await.unwrap());
    assert!(
        !runs.take_over_run(&retry, "D", at(200)).await.unwrap(),
        "a pending retry is taken over once"
    );
    let taken = RunningRun {
        owner: Arc::from("C"),
        expires: at(200),
        ..retry.clone()
    };
    assert_eq!(runs.expired_runs(at(60), "C", 10).await.unwrap(), [taken]);
    assert!(runs.expired_runs(at(60), "", 10).await.unwrap().is_empty());
    // Its run fails again: the next retry.
    let next = RunningRun {
        started: at(250),
        expires: at(250),
        attempt: 3,
        ..retry.clone()
    };
    assert!(runs.reschedule_run("C", &next).await.unwrap());
    assert_eq!(
        runs.expired_runs(at(260), "", 10).await.unwrap(),
        [next],
        "r2 (renewed to 300) is not due yet"
    );
    runs.end_runs("C", &[Arc::from("r1")]).await.unwrap();
    assert_eq!(
        runs.running_counts(&a, at(240)).await.unwrap(),
        [2],
        "C no longer owns it"
    );
    runs.end_runs(rsched::PENDING_OWNER, &[Arc::from("r1")])
        .await
        .unwrap();
    assert_eq!(runs.running_counts(&a, at(240)).await.unwrap(), [1]);
    backend.cleanup(&ns).await;
}

/// Two instances sharing the store, a job with `retries = 1` whose task fails its first
/// attempt and succeeds at its second: the failed attempt's retry waits in the store and runs
/// once, on one of the two instances (each tries to take it over when it is due). The history
/// holds the attempt-1 error and a single attempt 2.
pub async fn failed_run_retried_once_across_instances(backend: &impl Backend) {
    let ns = namespace("retryonce");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        eprintln!("retries across instances: skipped, the store is not shared");
        backend.cleanup(&ns).await;
        return;
    }
    let other = backend.reopen(&ns).await.expect("a shared store reopens");
    let clock = ManualClock::new(at(0));
    // Every attempt that started, on either instance.
    let attempts: Arc<std::sync::Mutex<Vec<u32>>> = Arc::default();
    let build = |store: Arc<dyn JobStore>, id: &str| {
        let mut registry = TaskRegistry::new();
        let attempts = attempts.clone();
        registry.register("app:flaky", move |ctx: JobContext, (): ()| {
            let attempts = attempts.clone();
            async move {
                attempts.lock().unwrap().push(ctx.attempt());
                if ctx.attempt() == 1 {
                    Err(format!("attempt {} failed", ctx.attempt()))
                } else {
                    Ok(())
                }
            }
        });
        Scheduler::builder()
            .registry(registry)
            .jobstore_arc("default", store)
            .clock(clock.clone())
            .id(id)
            .build()
            .unwrap()
    };
    let a = build(store.clone(), "instance-a");
    let b = build(other.clone(), "instance-b");
    let mut events = [a.subscribe(), b.subscribe()];
    a.start().await.unwrap();
    b.start().await.unwrap();
    a.add_job(
        JobSpec::new("app:flaky")
            .id("flaky")
            .retry(rsched::RetryPolicy {
                retries: 1,
                delay: Duration::from_secs(10),
                jitter: false,
                ..rsched::RetryPolicy::default()
            })
            .trigger(
                rsched::BuiltinTrigger::from_json(
                    r#"{"type":"interval","hours":1,"start_date":"2026-01-01 00:00:05","timezone":"UTC"}"#,
                )
                .unwrap(),
            ),
    )
    .await
    .unwrap();
    let mask = EventMask::JOB_EXECUTED | EventMask::JOB_ERROR | EventMask::JOB_RETRY;
    let [ea, eb] = &mut events;
    clock.set(at(5));
    let first = tokio::select! {
        e = next_event(ea, mask) => e,
        e = next_event(eb, mask) => e,
    };
    let Event::JobRetry {
        attempt,
        outcome,
        scheduled_run_time,
        retry_at,
        ..
    } = first
    else {
        panic!("attempt 1 must be retried: {first:?}");
    };
    assert_eq!(
        (attempt, outcome, scheduled_run_time, retry_at),
        (1, RunOutcome::Error, at(5), at(15))
    );
    // The retry waits in the store, as a pending run of attempt 2, due at 15 s.
    let mut pending = Vec::new();
    for _ in 0..400 {
        pending = runs_of(&store)
            .expired_runs(at(3600), "", 10)
            .await
            .unwrap()
            .into_iter()
            .filter(RunningRun::is_pending)
            .map(|r| (r.attempt, r.scheduled_run_time, r.expires))
            .collect();
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        pending,
        [(2, at(5), at(15))],
        "the retry waits in the store"
    );
    // Past its time (and past each instance's periodic look at the store): both may try it.
    clock.set(at(16));
    let second = tokio::select! {
        e = next_event(ea, mask) => e,
        e = next_event(eb, mask) => e,
    };
    let Event::JobExecuted {
        attempt,
        scheduled_run_time,
        ..
    } = second
    else {
        panic!("attempt 2 must succeed: {second:?}");
    };
    assert_eq!((attempt, scheduled_run_time), (2, at(5)));
    // Once the store holds no record of the job, nothing is left to run: a second run of
    // attempt 2 would have had to take the record over first.
    for _ in 0..400 {
        if runs_of(&store)
            .expired_runs(at(1_000_000), "", 10)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        runs_of(&store)
            .expired_runs(at(1_000_000), "", 10)
            .await
            .unwrap()
            .is_empty(),
        "the run's record ended"
    );
    assert_eq!(*attempts.lock().unwrap(), [1, 2], "each attempt ran once");
    let mut runs = Vec::new();
    for _ in 0..400 {
        runs = history(&store).job_runs("flaky", 10).await.unwrap();
        if runs.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let seen: Vec<(u32, RunOutcome, DateTime<Utc>)> = runs
        .iter()
        .map(|r| (r.attempt, r.outcome, r.scheduled_run_time))
        .collect();
    assert_eq!(
        seen,
        [
            (2, RunOutcome::Success, at(5)),
            (1, RunOutcome::Error, at(5))
        ],
        "one attempt 2, after the attempt-1 error"
    );
    assert_eq!(runs[1].error.as_deref(), Some("attempt 1 failed"));
    assert_eq!(runs.iter().filter(|r| r.attempt == 2).count(), 1);
    a.shutdown(true).await.unwrap();
    b.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// Asserts `read == expected`; on failure shows the runs with their job states cut short
/// (they are several KB).
fn same(read: &[RunningRun], expected: &[RunningRun]) {
    let short = |runs: &[RunningRun]| -> Vec<String> {
        runs.iter()
            .map(|r| {
                let state = r.job_state.as_deref().map(|s| {
                    let head: String = s.chars().take(40).collect();
                    format!("{} bytes: {head}…", s.len())
                });
                format!(
                    "{} job {} at {} started {} owner {} expires {} attempt {} until {:?} state {:?}",
                    r.run_id,
                    r.job_id,
                    r.scheduled_run_time,
                    r.started,
                    r.owner,
                    r.expires,
                    r.attempt,
                    r.backfill_until,
                    state
                )
            })
            .collect()
    };
    assert!(
        read == expected,
        "read {:#?}, expected {:#?}",
        short(read),
        short(expected)
    );
}

/// A job's stored state as a pending run carries it: a few KB of JSON text with what text
/// columns, BSON and Lua's cjson might each mangle (quotes, backslashes, `/`, non-ASCII, keys
/// starting with `$` or holding a `.`, integers past `i64`).
fn carried_state(id: &str, padding: usize) -> Arc<str> {
    let state = json!({
        "version": 1,
        "id": id,
        "func": "app:tick",
        "args": ["ünïcode \"quoted\" \\ back/slash </script>", u64::MAX],
        "kwargs": {"$key": null, "a.b": -7, "blob": "x/\"é\\".repeat(padding)},
        "trigger": {"type": "date", "run_date": "2026-06-01 00:00:00", "timezone": "UTC"},
        "misfire_grace_time": 1.0,
        "coalesce": true,
        "max_instances": 1,
    });
    Arc::from(state.to_string())
}

/// Pending runs keep `backfill_until` (to the microsecond) and the job's state through
/// `begin_runs`, `expired_runs`, `take_over_run` and `reschedule_run`, which writes every field
/// of the pending run (clearing what it does not carry); records without them read back
/// without them.
pub async fn pending_runs_keep_backfill_and_job_state(backend: &impl Backend) {
    let ns = namespace("pending");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        eprintln!("running runs: skipped, the store is not shared");
        backend.cleanup(&ns).await;
        return;
    }
    let runs = runs_of(&store);
    let us = |t: DateTime<Utc>, micros: i64| t + chrono::Duration::microseconds(micros);
    let state = carried_state("b", 1000);
    assert!(state.len() > 5000, "{}", state.len());
    // A backfill's pending run, due at 10; a run in progress of the same backfill; a plain run.
    let backfill = RunningRun {
        owner: Arc::from(rsched::PENDING_OWNER),
        scheduled_run_time: us(at(-7200), 1),
        attempt: 1,
        backfill_until: Some(us(at(-3600), 123_457)),
        job_state: Some(state.clone()),
        ..running("p1", "b", "", 10)
    };
    let in_progress = RunningRun {
        backfill_until: Some(at(-60)),
        ..running("p2", "b", "A", 20)
    };
    let plain = running("p3", "c", "A", 30);
    runs.begin_runs(&[backfill.clone(), in_progress.clone(), plain.clone()])
        .await
        .unwrap();
    let read = runs.expired_runs(at(40), "", 10).await.unwrap();
    assert_eq!(read.len(), 3);
    assert!(
        read[0].job_state == backfill.job_state,
        "the job's state did not round-trip: {} bytes read, {} written",
        read[0].job_state.as_deref().map_or(0, str::len),
        state.len()
    );
    same(
        &read,
        &[backfill.clone(), in_progress.clone(), plain.clone()],
    );

    // Taken over: only the owner and expiry change.
    assert!(runs.take_over_run(&read[0], "B", at(100)).await.unwrap());
    assert!(runs.take_over_run(&read[1], "B", at(100)).await.unwrap());
    let mut taken = runs.expired_runs(at(0), "B", 10).await.unwrap();
    taken.sort_by(|x, y| x.run_id.cmp(&y.run_id));
    let as_b = |r: &RunningRun| RunningRun {
        owner: Arc::from("B"),
        expires: at(100),
        ..r.clone()
    };
    same(&taken, &[as_b(&backfill), as_b(&in_progress)]);

    // The backfill's run ends: the record becomes its next fire time, pending again, with
    // another state (the job was changed meanwhile).
    let other_state = carried_state("b", 10);
    let next = RunningRun {
        owner: Arc::from(rsched::PENDING_OWNER),
        scheduled_run_time: us(at(-5400), 9),
        started: at(110),
        expires: at(120),
        attempt: 1,
        backfill_until: Some(us(at(-3600), 123_457)),
        job_state: Some(other_state),
        ..backfill.clone()
    };
    assert!(runs.reschedule_run("B", &next).await.unwrap());
    // The run in progress fails and is retried: the pending run now carries the job's state.
    let retry = RunningRun {
        owner: Arc::from(rsched::PENDING_OWNER),
        started: at(130),
        expires: at(130),
        attempt: 2,
        job_state: Some(state.clone()),
        ..in_progress.clone()
    };
    assert!(runs.reschedule_run("B", &retry).await.unwrap());
    // A plain run's retry, carrying nothing.
    let plain_retry = RunningRun {
        owner: Arc::from(rsched::PENDING_OWNER),
        started: at(140),
        expires: at(140),
        attempt: 2,
        ..plain.clone()
    };
    assert!(runs.take_over_run(&plain, "B", at(100)).await.unwrap());
    assert!(runs.reschedule_run("B", &plain_retry).await.unwrap());
    same(
        &runs.expired_runs(at(200), "", 10).await.unwrap(),
        &[next.clone(), retry.clone(), plain_retry.clone()],
    );

    // Rescheduled once more, carrying nothing: every field is the pending run's.
    assert!(runs.take_over_run(&next, "C", at(300)).await.unwrap());
    let bare = RunningRun {
        owner: Arc::from(rsched::PENDING_OWNER),
        started: at(150),
        expires: at(150),
        backfill_until: None,
        job_state: None,
        ..next.clone()
    };
    assert!(runs.reschedule_run("C", &bare).await.unwrap());
    same(
        &runs.expired_runs(at(200), "", 10).await.unwrap(),
        &[retry, plain_retry, bare],
    );
    assert_eq!(
        runs.running_counts(&[Arc::from("b"), Arc::from("c")], at(0))
            .await
            .unwrap(),
        [2, 1],
        "pending runs count until due"
    );
    backend.cleanup(&ns).await;
}

/// A calendar definition as the scheduler saves it (the stores keep it as text, unread).
fn calendar(dates: &[&str]) -> String {
    json!({"type": "dates", "dates": dates, "note": "ünïcode \"quoted\" \\ /"}).to_string()
}

/// Calendars: none at first; saved, read back by name; saved again, replaced (one entry);
/// deleted once (`true`, then `false`); names are Unicode and case-sensitive; a definition
/// of several KB is kept whole.
pub async fn calendars_save_load_delete(backend: &impl Backend) {
    let ns = namespace("calendars");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().calendars {
        eprintln!("calendars: skipped, the store keeps none");
        backend.cleanup(&ns).await;
        return;
    }
    let calendars = calendars_of(&store);
    assert!(calendars.load_calendars().await.unwrap().is_empty());

    let christmas = calendar(&["2026-12-25"]);
    calendars
        .save_calendar("holidays", &christmas)
        .await
        .unwrap();
    assert_eq!(
        calendars.load_calendars().await.unwrap(),
        [("holidays".to_owned(), christmas.clone())]
    );
    let more = calendar(&["2026-12-25", "2026-12-26", "2027-01-01"]);
    calendars.save_calendar("holidays", &more).await.unwrap();
    assert_eq!(
        calendars.load_calendars().await.unwrap(),
        [("holidays".to_owned(), more.clone())],
        "saved again: replaced, not added"
    );

    // Unicode names (up to 191 characters), told apart by case; a definition of several KB.
    let unicode = "Feiertage ÄÖÜ 日本の祝日 🎄 'quote' \"double\" \\ $x.y";
    let long_name: String = "é".repeat(191);
    let days: Vec<String> = (0..365)
        .map(|d| {
            (at(0) + chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let big = calendar(&days.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(big.len() > 4000, "{}", big.len());
    calendars.save_calendar(unicode, &christmas).await.unwrap();
    calendars.save_calendar("Holidays", &big).await.unwrap();
    calendars.save_calendar(&long_name, &more).await.unwrap();
    let mut expected = vec![
        ("holidays".to_owned(), more.clone()),
        (unicode.to_owned(), christmas.clone()),
        ("Holidays".to_owned(), big.clone()),
        (long_name.clone(), more.clone()),
    ];
    expected.sort();
    assert_eq!(calendars.load_calendars().await.unwrap(), expected);

    assert!(calendars.delete_calendar("holidays").await.unwrap());
    assert!(
        !calendars.delete_calendar("holidays").await.unwrap(),
        "deleted already"
    );
    assert!(!calendars.delete_calendar("never-saved").await.unwrap());
    assert!(calendars.delete_calendar(unicode).await.unwrap());
    assert_eq!(
        calendars.load_calendars().await.unwrap(),
        [("Holidays".to_owned(), big), (long_name, more)]
    );
    backend.cleanup(&ns).await;
}

/// A thousand calendars, saved in no order, load in name order (by code point, as Rust
/// orders strings: `Z` < `a` < `é` < `日` < `🎄`).
pub async fn calendars_load_in_name_order(backend: &impl Backend) {
    let ns = namespace("calorder");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().calendars {
        eprintln!("calendars: skipped, the store keeps none");
        backend.cleanup(&ns).await;
        return;
    }
    let prefixes = ["Z", "a", "b-", "é", "日", "🎄"];
    let mut names: Vec<String> = (0..1000)
        .map(|i| format!("{}{:03}", prefixes[i % prefixes.len()], i / prefixes.len()))
        .collect();
    fastrand::shuffle(&mut names);
    // A few at a time: a thousand round trips one after the other are slow on a server.
    let definition = calendar(&["2026-12-25"]);
    for chunk in names.chunks(50) {
        let saves = chunk.iter().map(|name| {
            let store = store.clone();
            let (name, definition) = (name.clone(), definition.clone());
            tokio::spawn(async move {
                calendars_of(&store)
                    .save_calendar(&name, &definition)
                    .await
                    .unwrap();
            })
        });
        for save in saves.collect::<Vec<_>>() {
            save.await.unwrap();
        }
    }
    let loaded = calendars_of(&store).load_calendars().await.unwrap();
    names.sort();
    assert_eq!(loaded.len(), 1000);
    assert_eq!(
        loaded.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        "by name, as code points"
    );
    assert!(loaded.iter().all(|(_, d)| *d == definition));
    assert_eq!(loaded.first().map(|(n, _)| n.as_str()), Some("Z000"));
    backend.cleanup(&ns).await;
}

/// Two store values on one namespace (two processes) see each other's calendars: saves,
/// replacements and deletions.
pub async fn calendars_are_shared(backend: &impl Backend) {
    let ns = namespace("calshared");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().calendars || !backend.offers().shared {
        eprintln!("calendars: skipped, the store is not shared");
        backend.cleanup(&ns).await;
        return;
    }
    let other = backend
        .reopen(&ns)
        .await
        .expect("a shared store opens again");
    let (a, b) = (calendars_of(&store), calendars_of(&other));
    let one = calendar(&["2026-12-25"]);
    let two = calendar(&["2026-12-25", "2026-12-26"]);
    a.save_calendar("holidays", &one).await.unwrap();
    assert_eq!(
        b.load_calendars().await.unwrap(),
        [("holidays".to_owned(), one.clone())]
    );
    b.save_calendar("holidays", &two).await.unwrap();
    b.save_calendar("maintenance", &one).await.unwrap();
    assert_eq!(
        a.load_calendars().await.unwrap(),
        [
            ("holidays".to_owned(), two.clone()),
            ("maintenance".to_owned(), one.clone())
        ]
    );
    assert!(a.delete_calendar("maintenance").await.unwrap());
    assert!(!b.delete_calendar("maintenance").await.unwrap());
    assert_eq!(
        b.load_calendars().await.unwrap(),
        [("holidays".to_owned(), two)]
    );
    drop(other);
    backend.cleanup(&ns).await;
    // The cleanup removed them too.
    if let Some(again) = backend.reopen(&ns).await {
        assert!(
            calendars_of(&again)
                .load_calendars()
                .await
                .unwrap()
                .is_empty()
        );
        backend.cleanup(&ns).await;
    }
}

/// Two instances sharing the store, an exclusion calendar saved through one: the other loads
/// it from the store (the same definition) and judges the fire times of a job naming it. A
/// daily job at 12:00 with 2 January excluded runs on the 1st, then on the 3rd: the excluded
/// fire time is skipped (the job's next run time moves past it), neither run nor recorded
/// missed.
pub async fn calendar_skips_fire_times_across_instances(backend: &impl Backend) {
    let ns = namespace("calskip");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().calendars {
        eprintln!("calendars: skipped, the store keeps none");
        backend.cleanup(&ns).await;
        return;
    }
    // A store that keeps nothing outside the process is shared as one value.
    let other = backend.reopen(&ns).await.unwrap_or_else(|| store.clone());
    let clock = ManualClock::new(at(0));
    let build = |store: Arc<dyn JobStore>, id: &str| {
        Scheduler::builder()
            .registry(tick_registry())
            .jobstore_arc("default", store)
            .clock(clock.clone())
            .id(id)
            .build()
            .unwrap()
    };
    let a = build(store.clone(), "instance-a");
    let b = build(other.clone(), "instance-b");
    a.start().await.unwrap();
    a.put_calendar(
        "holidays",
        rsched::ExclusionCalendar::from_value(json!({"type": "dates", "dates": ["2026-01-02"]}))
            .unwrap(),
    )
    .await
    .unwrap();
    // A takes no jobs: B, which did not save the calendar, judges every fire time.
    a.pause().unwrap();
    let mut events = b.subscribe();
    b.start().await.unwrap();
    let seen = b.get_calendar("holidays").expect("B loads A's calendar");
    assert_eq!(
        seen,
        a.get_calendar("holidays").unwrap(),
        "the same calendar"
    );
    let noon = |day: i64| at((day - 1) * 86_400 + 12 * 3600);
    // Naming a calendar B did not know would be refused.
    let job = b
        .add_job(
            JobSpec::new("app:tick")
                .id("cal")
                .calendar("holidays")
                .trigger(
                    rsched::BuiltinTrigger::from_json(
                        r#"{"type":"interval","days":1,"start_date":"2026-01-01 12:00:00","timezone":"UTC"}"#,
                    )
                    .unwrap(),
                ),
        )
        .await
        .unwrap();
    assert_eq!(job.next_run_time(), Some(noon(1)));
    let mask = EventMask::JOB_EXECUTED
        | EventMask::JOB_ERROR
        | EventMask::JOB_MISSED
        | EventMask::JOB_MAX_INSTANCES;
    clock.set(noon(1));
    match next_event(&mut events, mask).await {
        Event::JobExecuted {
            scheduled_run_time, ..
        } => assert_eq!(scheduled_run_time, noon(1)),
        other => panic!("{other:?}"),
    }
    handled(&store, "cal", noon(1)).await;
    assert_eq!(
        store
            .lookup_job("cal")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(noon(3)),
        "2 January is excluded: the next run is on the 3rd"
    );
    // B's events come in order: the next one is the run on the 3rd, nothing on the 2nd.
    clock.set(noon(3));
    match next_event(&mut events, mask).await {
        Event::JobExecuted {
            scheduled_run_time, ..
        } => assert_eq!(scheduled_run_time, noon(3)),
        other => panic!("the excluded fire time must be skipped: {other:?}"),
    }
    if backend.offers().history {
        let mut runs = Vec::new();
        for _ in 0..200 {
            runs = history(&store).job_runs("cal", 10).await.unwrap();
            if runs.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(
            runs.iter()
                .map(|r| (r.scheduled_run_time, r.outcome))
                .collect::<Vec<_>>(),
            [
                (noon(3), RunOutcome::Success),
                (noon(1), RunOutcome::Success)
            ],
            "the excluded fire time is not in the history (not missed)"
        );
    }
    a.shutdown(true).await.unwrap();
    b.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// A registry whose `app:hold` runs until the test opens the gate.
fn hold_registry(gate: tokio::sync::watch::Receiver<bool>) -> TaskRegistry {
    let mut registry = tick_registry();
    registry.insert_state(gate);
    registry.register("app:hold", |ctx: JobContext, (): ()| async move {
        let mut gate = ctx
            .state::<tokio::sync::watch::Receiver<bool>>()
            .expect("the gate")
            .clone();
        let _ = gate.wait_for(|open| *open).await;
        Ok::<_, std::convert::Infallible>(())
    });
    registry
}

/// `max_instances` holds across instances: while instance A runs the job, instance B skips
/// its next fire time; once the run ended, B runs the following one.
pub async fn max_instances_across_instances(backend: &impl Backend) {
    let ns = namespace("maxinst");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        backend.cleanup(&ns).await;
        return;
    }
    let other = backend.reopen(&ns).await.expect("a shared store reopens");
    let clock = ManualClock::new(at(0));
    let (open, gate) = tokio::sync::watch::channel(false);
    let build = |store: Arc<dyn JobStore>, id: &str| {
        Scheduler::builder()
            .registry(hold_registry(gate.clone()))
            .jobstore_arc("default", store)
            .clock(clock.clone())
            .id(id)
            .build()
            .unwrap()
    };
    let a = build(store.clone(), "instance-a");
    let b = build(other.clone(), "instance-b");
    let mut a_events = a.subscribe();
    let mut b_events = b.subscribe();
    a.start().await.unwrap();
    a.add_job(
        JobSpec::new("app:hold")
            .id("m")
            .max_instances(1)
            .misfire_grace_time(None)
            .trigger(
                rsched::BuiltinTrigger::from_json(
                    r#"{"type":"interval","seconds":5,"start_date":"2026-01-01 00:00:05","timezone":"UTC"}"#,
                )
                .unwrap(),
            ),
    )
    .await
    .unwrap();
    clock.advance(Duration::from_secs(5));
    next_event(&mut a_events, EventMask::JOB_SUBMITTED).await;
    // The job fires again in 5 s: A records its run once it has lasted a second.
    clock.advance(Duration::from_secs(1));
    let id: Arc<str> = Arc::from("m");
    let mut counted = Vec::new();
    for _ in 0..200 {
        counted = runs_of(&store)
            .running_counts(std::slice::from_ref(&id), clock.now())
            .await
            .unwrap();
        if counted == [1] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(counted, [1], "A's run is recorded as in progress");
    // A holds its run; it stops taking jobs, B starts and reaches the next fire time.
    a.pause().unwrap();
    b.start().await.unwrap();
    clock.advance(Duration::from_secs(4));
    match next_event(
        &mut b_events,
        EventMask::JOB_MAX_INSTANCES | EventMask::JOB_SUBMITTED,
    )
    .await
    {
        Event::JobMaxInstances { run_times, .. } => assert_eq!(run_times, [at(10)]),
        other => panic!("B must skip the run while A's is in progress: {other:?}"),
    }
    open.send(true).unwrap();
    next_event(&mut a_events, EventMask::JOB_EXECUTED).await;
    // A's record ends in the background; wait until the store shows it.
    for _ in 0..200 {
        if runs_of(&store)
            .running_counts(std::slice::from_ref(&id), clock.now())
            .await
            .unwrap()
            == [0]
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    clock.advance(Duration::from_secs(5));
    match next_event(
        &mut b_events,
        EventMask::JOB_EXECUTED | EventMask::JOB_MAX_INSTANCES,
    )
    .await
    {
        Event::JobExecuted {
            scheduled_run_time, ..
        } => assert_eq!(scheduled_run_time, at(15)),
        other => panic!("B runs the job once A's run ended: {other:?}"),
    }
    a.shutdown(true).await.unwrap();
    b.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// A run in progress on an instance that died (its record expired): another instance reports
/// it `crashed` and, for a `recover = true` job, runs it again (without the misfire check);
/// a job without `recover` is not run again. The survivor does so only once it has reached
/// the store for a whole lease (30 s here): not at start, when the record could belong to a
/// live run whose owner could not renew it during an outage that just ended.
pub async fn crashed_runs_are_recovered(backend: &impl Backend) {
    let ns = namespace("recover");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        backend.cleanup(&ns).await;
        return;
    }
    let clock = ManualClock::new(at(100));
    let scheduler = Scheduler::builder()
        .registry(tick_registry())
        .jobstore_arc("default", store.clone())
        .clock(clock.clone())
        .id("survivor")
        .build()
        .unwrap();
    let hourly =
        r#"{"type":"interval","hours":1,"start_date":"2026-01-01 00:00:00","timezone":"UTC"}"#;
    for (id, recover) in [("again", true), ("once", false)] {
        scheduler
            .add_job(
                JobSpec::new("app:tick")
                    .id(id)
                    .recover(recover)
                    .trigger(rsched::BuiltinTrigger::from_json(hourly).unwrap()),
            )
            .await
            .unwrap();
    }
    // Two runs that were in progress on "dead-instance" and were last renewed at 10 s.
    let mut crashed = running("c1", "again", "dead-instance", 10);
    crashed.scheduled_run_time = at(0);
    runs_of(&store)
        .begin_runs(&[crashed, running("c2", "once", "dead-instance", 10)])
        .await
        .unwrap();
    let mut events = scheduler.subscribe();
    scheduler.start().await.unwrap();
    let mut crashed_jobs = HashSet::new();
    let mut recovered = None;
    let mut steps = 0;
    while crashed_jobs.len() < 2 || recovered.is_none() {
        // Time moves in steps of 10 s (the heartbeat's period) until the survivor has been in
        // touch for a lease and reaps; none of it happens before 30 s.
        let wait = tokio::time::timeout(
            Duration::from_millis(300),
            next_event(&mut events, EventMask::JOB_ERROR | EventMask::JOB_EXECUTED),
        );
        let Ok(event) = wait.await else {
            steps += 1;
            assert!(
                steps <= 12,
                "the crashed runs were not handled within 120 s"
            );
            clock.advance(Duration::from_secs(10));
            continue;
        };
        assert!(
            clock.now() >= at(130),
            "reaped before a lease of contact: {event:?}"
        );
        match event {
            Event::JobError {
                job_id, outcome, ..
            } => {
                assert_eq!(outcome, RunOutcome::Crashed);
                crashed_jobs.insert(job_id.to_string());
            }
            Event::JobExecuted {
                job_id,
                scheduled_run_time,
                ..
            } => {
                assert_eq!(&*job_id, "again", "only the recover = true job runs again");
                recovered = Some(scheduled_run_time);
            }
            _ => {}
        }
    }
    assert_eq!(
        recovered,
        Some(at(0)),
        "the cut-off run time itself runs again"
    );
    let mut history = Vec::new();
    for _ in 0..200 {
        history = scheduler.job_runs("once", 10).await.unwrap();
        if !history.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, RunOutcome::Crashed);
    assert!(
        history[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("dead-instance"),
        "{history:?}"
    );
    // Both records were handled: nothing is counted as running any more.
    let ids: Vec<Arc<str>> = vec![Arc::from("again"), Arc::from("once")];
    for _ in 0..200 {
        if runs_of(&store)
            .running_counts(&ids, clock.now())
            .await
            .unwrap()
            == [0, 0]
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        runs_of(&store)
            .running_counts(&ids, clock.now())
            .await
            .unwrap(),
        [0, 0]
    );
    scheduler.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// Queued fire times (overlap `buffer_one`, `buffer_all`, `cancel_other`, `terminate_other`)
/// are records owned by `QUEUED_OWNER`: not counted as runs in progress, never expired,
/// listed per job in fire-time order, started by one instance (`take_over_run`, a
/// compare-and-set) and dropped with `end_runs(QUEUED_OWNER, ..)`. A stop request
/// (`stop_runs`) marks the job's runs in progress only, and their owner reads it back
/// (`stop_requests`).
pub async fn queued_runs_and_stop_requests(backend: &impl Backend) {
    let ns = namespace("queued");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        eprintln!("running runs: skipped, the store is not shared");
        backend.cleanup(&ns).await;
        return;
    }
    let runs = runs_of(&store);
    let queued = |run_id: &str, job: &str, fire: i64| RunningRun {
        scheduled_run_time: at(fire),
        started: at(fire),
        expires: at(fire),
        ..running(run_id, job, rsched::QUEUED_OWNER, fire)
    };
    // Inserted out of order; one of another job; one run in progress of each.
    let (q3, q1, q2) = (
        queued("q3", "a", 30),
        queued("q1", "a", 10),
        queued("q2", "a", 20),
    );
    runs.begin_runs(&[
        q3.clone(),
        q1.clone(),
        queued("qb", "b", 5),
        running("ra", "a", "A", 100),
        running("rb", "b", "B", 100),
        q2.clone(),
    ])
    .await
    .unwrap();
    assert!(q1.is_queued() && !q1.is_pending());
    let ab: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
    assert_eq!(
        runs.running_counts(&ab, DateTime::<Utc>::MIN_UTC)
            .await
            .unwrap(),
        [1, 1],
        "queued fire times are not runs in progress"
    );
    assert!(
        runs.expired_runs(at(1000), "", 10)
            .await
            .unwrap()
            .iter()
            .all(|r| !r.is_queued()),
        "queued fire times never expire"
    );
    assert_eq!(
        runs.queued_runs("a", 10).await.unwrap(),
        [q1.clone(), q2.clone(), q3.clone()],
        "in fire-time order, every field kept"
    );
    assert_eq!(
        runs.queued_runs("a", 2).await.unwrap(),
        [q1.clone(), q2.clone()]
    );
    assert!(runs.queued_runs("none", 10).await.unwrap().is_empty());

    // One instance starts the first; the other's compare-and-set fails.
    assert!(runs.take_over_run(&q1, "A", at(200)).await.unwrap());
    assert!(!runs.take_over_run(&q1, "B", at(200)).await.unwrap());
    assert_eq!(
        runs.queued_runs("a", 10).await.unwrap(),
        [q2.clone(), q3.clone()]
    );
    assert_eq!(
        runs.running_counts(&ab, DateTime::<Utc>::MIN_UTC)
            .await
            .unwrap(),
        [2, 1],
        "started, it counts"
    );
    // Put back (the job was full after all): queued again, first again.
    assert!(runs.reschedule_run("A", &q1).await.unwrap());
    assert_eq!(
        runs.queued_runs("a", 1).await.unwrap(),
        std::slice::from_ref(&q1)
    );
    // Dropped.
    runs.end_runs(rsched::QUEUED_OWNER, &[Arc::from("q2")])
        .await
        .unwrap();
    assert_eq!(
        runs.queued_runs("a", 10).await.unwrap(),
        [q1.clone(), q3.clone()]
    );
    runs.end_runs("A", &[Arc::from("q3")]).await.unwrap();
    assert_eq!(
        runs.queued_runs("a", 10).await.unwrap(),
        [q1, q3],
        "an instance's end leaves queued records alone"
    );

    // Stop requests: the job's runs in progress, whoever runs them; not queued or pending
    // records, not other jobs'.
    runs.begin_runs(&[
        running("ra2", "a", "B", 100),
        RunningRun {
            owner: Arc::from(rsched::PENDING_OWNER),
            ..running("pa", "a", "x", 100)
        },
    ])
    .await
    .unwrap();
    assert!(runs.stop_requests("A").await.unwrap().is_empty());
    assert_eq!(
        runs.stop_runs("a", rsched::StopRequest::Terminate)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        runs.stop_requests("A").await.unwrap(),
        [(Arc::from("ra"), rsched::StopRequest::Terminate)]
    );
    assert_eq!(
        runs.stop_requests("B").await.unwrap(),
        [(Arc::from("ra2"), rsched::StopRequest::Terminate)],
        "B's run of job a, not B's run of job b"
    );
    assert!(
        runs.stop_requests(rsched::PENDING_OWNER)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        runs.stop_requests(rsched::QUEUED_OWNER)
            .await
            .unwrap()
            .is_empty()
    );
    // The heartbeat keeps the mark; the end drops it with the record.
    runs.heartbeat_runs("A", at(400)).await.unwrap();
    assert_eq!(runs.stop_requests("A").await.unwrap().len(), 1);
    runs.end_runs("A", &[Arc::from("ra")]).await.unwrap();
    assert!(runs.stop_requests("A").await.unwrap().is_empty());
    assert_eq!(
        runs.stop_runs("b", rsched::StopRequest::Cancel)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        runs.stop_requests("B").await.unwrap().len(),
        2,
        "{:?}",
        runs.stop_requests("B").await
    );
    assert_eq!(
        runs.stop_runs("none", rsched::StopRequest::Cancel)
            .await
            .unwrap(),
        0
    );
    backend.cleanup(&ns).await;
}

/// A job of `func` every `secs` seconds from `at(secs)`, `max_instances = 1`, no misfire limit,
/// with the overlap policy `overlap`.
fn overlapping(func: &str, id: &str, secs: u32, overlap: rsched::Overlap) -> JobSpec {
    let trigger = json!({"type": "interval", "seconds": secs, "start_date": at(secs.into()).to_rfc3339(), "timezone": "UTC"});
    let mut spec = JobSpec::new(func)
        .id(id)
        .max_instances(1)
        .misfire_grace_time(None)
        .trigger(rsched::BuiltinTrigger::from_json(&trigger.to_string()).unwrap());
    spec.overlap = overlap;
    spec
}

/// Waits until job `id` in `store` has a next run time after `t` (its fire time at `t` was
/// handled: run, queued or skipped).
async fn handled(store: &Arc<dyn JobStore>, id: &str, t: DateTime<Utc>) {
    for _ in 0..400 {
        let job = store.lookup_job(id).await.unwrap().expect("the job");
        if job.next_run_time().is_some_and(|n| n > t) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the fire time at {t} of job {id} was not handled");
}

/// Two instances sharing the store, a `buffer_all` job with `max_instances = 1`: the fire
/// times that come while a run goes on wait in the store (whichever instance handles them),
/// then run one after another, oldest first, each once, on whichever instance saw the run
/// before them end.
pub async fn buffered_fire_times_across_instances(backend: &impl Backend) {
    let ns = namespace("buffered");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        backend.cleanup(&ns).await;
        return;
    }
    let other = backend.reopen(&ns).await.expect("a shared store reopens");
    let clock = ManualClock::new(at(0));
    let (open, gate) = tokio::sync::watch::channel(false);
    // The fire times in the order their runs ended, on either instance (the two instances'
    // events arrive on two streams, whose order says nothing). One run at a time: the order
    // they ended in is the order they started in.
    let order: Arc<std::sync::Mutex<Vec<DateTime<Utc>>>> = Arc::default();
    let build = |store: Arc<dyn JobStore>, id: &str| {
        let mut registry = hold_registry(gate.clone());
        let order = order.clone();
        registry.register("app:hold", move |ctx: JobContext, (): ()| {
            let order = order.clone();
            async move {
                let mut gate = ctx
                    .state::<tokio::sync::watch::Receiver<bool>>()
                    .expect("the gate")
                    .clone();
                let _ = gate.wait_for(|open| *open).await;
                order.lock().unwrap().push(ctx.scheduled_run_time());
                Ok::<_, std::convert::Infallible>(())
            }
        });
        Scheduler::builder()
            .registry(registry)
            .jobstore_arc("default", store)
            .clock(clock.clone())
            .id(id)
            .build()
            .unwrap()
    };
    let a = build(store.clone(), "instance-a");
    let b = build(other.clone(), "instance-b");
    let mut events = [a.subscribe(), b.subscribe()];
    a.start().await.unwrap();
    b.start().await.unwrap();
    a.add_job(overlapping(
        "app:hold",
        "buf",
        5,
        rsched::Overlap::BufferAll,
    ))
    .await
    .unwrap();
    for secs in [5, 10, 15] {
        clock.set(at(secs));
        handled(&store, "buf", at(secs)).await;
    }
    let queued = runs_of(&store).queued_runs("buf", 10).await.unwrap();
    assert_eq!(
        queued
            .iter()
            .map(|r| r.scheduled_run_time)
            .collect::<Vec<_>>(),
        [at(10), at(15)],
        "two fire times wait in the store"
    );
    open.send(true).unwrap();
    let mut executed = Vec::new();
    let [ea, eb] = &mut events;
    while executed.len() < 3 {
        let e = tokio::select! {
            e = next_event(ea, EventMask::JOB_EXECUTED | EventMask::JOB_MAX_INSTANCES) => e,
            e = next_event(eb, EventMask::JOB_EXECUTED | EventMask::JOB_MAX_INSTANCES) => e,
        };
        match e {
            Event::JobExecuted {
                scheduled_run_time, ..
            } => executed.push(scheduled_run_time),
            other => panic!("nothing is skipped under buffer_all: {other:?}"),
        }
    }
    executed.sort();
    assert_eq!(executed, [at(5), at(10), at(15)], "each once");
    assert_eq!(
        *order.lock().unwrap(),
        [at(5), at(10), at(15)],
        "one after another, oldest first"
    );
    assert!(
        runs_of(&store)
            .queued_runs("buf", 10)
            .await
            .unwrap()
            .is_empty()
    );
    a.shutdown(true).await.unwrap();
    b.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// Two instances sharing the store, a `cancel_other` job: a fire time that finds a run in
/// progress (on either instance) has it cancelled (its `ctx.cancelled()` resolves; recorded
/// `interrupted`), then runs; a newer one replaces one that waits.
pub async fn cancel_other_across_instances(backend: &impl Backend) {
    let ns = namespace("cancelother");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        backend.cleanup(&ns).await;
        return;
    }
    let other = backend.reopen(&ns).await.expect("a shared store reopens");
    let clock = ManualClock::new(at(0));
    // Set by the first run as it gives up: a later run that starts before fails. (The two
    // instances' events arrive on two streams, whose order says nothing.)
    let first_ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let build = |store: Arc<dyn JobStore>, id: &str| {
        let mut registry = TaskRegistry::new();
        let first_ended = first_ended.clone();
        // Runs until asked to stop (the first run), or returns at once (later ones).
        registry.register("app:polite", move |ctx: JobContext, (): ()| {
            let first_ended = first_ended.clone();
            async move {
                let ended = || first_ended.load(std::sync::atomic::Ordering::SeqCst);
                if ctx.scheduled_run_time() > at(60) {
                    return if ended() {
                        Ok(())
                    } else {
                        Err("started while the run it replaces still ran".to_owned())
                    };
                }
                ctx.cancelled().await;
                first_ended.store(true, std::sync::atomic::Ordering::SeqCst);
                Err("stopped as asked".to_owned())
            }
        });
        Scheduler::builder()
            .registry(registry)
            .jobstore_arc("default", store)
            .clock(clock.clone())
            .id(id)
            .build()
            .unwrap()
    };
    let a = build(store.clone(), "instance-a");
    let b = build(other.clone(), "instance-b");
    let mut events = [a.subscribe(), b.subscribe()];
    a.start().await.unwrap();
    b.start().await.unwrap();
    a.add_job(overlapping(
        "app:polite",
        "co",
        60,
        rsched::Overlap::CancelOther,
    ))
    .await
    .unwrap();
    clock.set(at(60));
    handled(&store, "co", at(60)).await;
    clock.set(at(120));
    handled(&store, "co", at(120)).await;
    // The instance running it learns of the request at once (its own fire time) or at its
    // next heartbeat (every lease / 3 = 10 s).
    let mut ended = Vec::new();
    let [ea, eb] = &mut events;
    let mask = EventMask::JOB_EXECUTED | EventMask::JOB_ERROR;
    for step in 0..30 {
        clock.set(at(120) + chrono::Duration::seconds(step));
        let e = tokio::select! {
            e = next_event(ea, mask) => Some(e),
            e = next_event(eb, mask) => Some(e),
            () = tokio::time::sleep(Duration::from_millis(200)) => None,
        };
        let Some(e) = e else { continue };
        match e {
            Event::JobError {
                scheduled_run_time,
                outcome,
                ..
            } => ended.push((scheduled_run_time, outcome)),
            Event::JobExecuted {
                scheduled_run_time, ..
            } => ended.push((scheduled_run_time, RunOutcome::Success)),
            _ => {}
        }
        if ended.len() == 2 {
            break;
        }
    }
    ended.sort_by_key(|(t, _)| *t);
    assert_eq!(
        ended,
        [
            (at(60), RunOutcome::Interrupted),
            (at(120), RunOutcome::Success)
        ],
        "the old run was cancelled, then the new one ran (after it, or it fails)"
    );
    a.shutdown(true).await.unwrap();
    b.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// A fire time an instance queued before it died, without moving its job's next run time past
/// it, waits once: the job's next holder finds it waiting and does not queue it again, and it
/// runs once the job has room (here at the next fire time, which waits behind it).
pub async fn a_fire_time_queued_by_a_dead_instance_waits_once(backend: &impl Backend) {
    let ns = namespace("deadqueue");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        backend.cleanup(&ns).await;
        return;
    }
    let clock = ManualClock::new(at(0));
    let (_open, gate) = tokio::sync::watch::channel(true);
    let a = Scheduler::builder()
        .registry(hold_registry(gate))
        .jobstore_arc("default", store.clone())
        .clock(clock.clone())
        .id("instance-a")
        .build()
        .unwrap();
    let mut events = a.subscribe();
    a.start().await.unwrap();
    a.add_job(overlapping(
        "app:hold",
        "dq",
        60,
        rsched::Overlap::BufferOne,
    ))
    .await
    .unwrap();
    // What the dead instance left: its run in progress, and the fire time at 60 s queued.
    let runs = runs_of(&store);
    let queued = RunningRun {
        scheduled_run_time: at(60),
        started: at(59),
        expires: at(60),
        ..running("q60", "dq", rsched::QUEUED_OWNER, 60)
    };
    runs.begin_runs(&[running("r-dead", "dq", "dead", 100_000), queued.clone()])
        .await
        .unwrap();
    clock.set(at(60));
    handled(&store, "dq", at(60)).await;
    assert_eq!(
        runs.queued_runs("dq", 10).await.unwrap(),
        std::slice::from_ref(&queued),
        "queued once"
    );
    // The dead instance's run is gone; at the next fire time the job has room.
    runs.end_runs("dead", &[Arc::from("r-dead")]).await.unwrap();
    clock.set(at(120));
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match next_event(
            &mut events,
            EventMask::JOB_EXECUTED | EventMask::JOB_MAX_INSTANCES,
        )
        .await
        {
            Event::JobExecuted {
                scheduled_run_time, ..
            } => seen.push(format!(
                "executed {}",
                (scheduled_run_time - at(0)).num_seconds()
            )),
            Event::JobMaxInstances { run_times, .. } => seen.push(format!(
                "skipped {:?}",
                run_times
                    .iter()
                    .map(|t| (*t - at(0)).num_seconds())
                    .collect::<Vec<_>>()
            )),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        ["executed 60", "executed 120"],
        "the waiting one first, then the new one behind it"
    );
    assert!(runs.queued_runs("dq", 10).await.unwrap().is_empty());
    // A job the user removes takes its waiting fire times with it.
    runs.begin_runs(&[RunningRun {
        scheduled_run_time: at(180),
        ..running("q180", "dq", rsched::QUEUED_OWNER, 180)
    }])
    .await
    .unwrap();
    a.remove_job("dq", None).await.unwrap();
    assert!(runs.queued_runs("dq", 10).await.unwrap().is_empty());
    a.shutdown(true).await.unwrap();
    backend.cleanup(&ns).await;
}

/// Paged, filtered listings (`JobStore::list_jobs`): the store's own query agrees with the
/// order of `get_all_jobs` (next run time, then id by bytes, paused last), walks every page once
/// through cursors, and filters by state (runs in progress from the store's records), tag
/// (whole tags only), and text in id, name or func (case-insensitive, `%` and `_` taken
/// literally), with `total` counting every page.
pub async fn list_jobs_pages_and_filters(backend: &impl Backend) {
    use rsched::{JobQuery, JobSort, JobStatus};
    let ns = namespace("listing");
    let store = store_or_skip!(backend, ns);
    let mut expected = Vec::new();
    for i in 0..23i64 {
        // Ties on next run time, ids whose byte order differs from a case-folded one.
        let id = match i {
            0 => "B-upper".to_owned(),
            1 => "a-lower".to_owned(),
            2 => "50%_off".to_owned(),
            _ => format!("job-{i:02}"),
        };
        let next = (i % 7 != 3).then(|| at(60 * (i % 4)));
        let mut value = serde_json::to_value(job(&id, next)).unwrap();
        value["name"] = json!(format!("Nightly Report {i}"));
        value["tags"] = match i % 3 {
            0 => json!(["billing", "eu"]),
            1 => json!(["billing-eu"]),
            _ => json!([]),
        };
        let job: Job = serde_json::from_value(value).unwrap();
        store.add_job(&job).await.unwrap();
        expected.push(job);
    }
    rsched::store::sort_jobs(&mut expected);
    let ids = |jobs: &[Job]| jobs.iter().map(|j| j.id().to_owned()).collect::<Vec<_>>();
    // Every order, page sizes 1, 5 and 1000: the walk equals the whole list.
    for (sort, size) in [
        (JobSort::NextRunTime, 1),
        (JobSort::NextRunTime, 5),
        (JobSort::NextRunTime, 1000),
        (JobSort::Id, 4),
    ] {
        let mut want = expected.clone();
        if sort == JobSort::Id {
            want.sort_by(|a, b| a.id().as_bytes().cmp(b.id().as_bytes()));
        }
        let mut walked = Vec::new();
        let mut query = JobQuery {
            limit: size,
            sort,
            ..JobQuery::default()
        };
        for _ in 0..100 {
            let page = store.list_jobs(&query).await.unwrap();
            assert_eq!(page.total, 23, "{sort:?}/{size}");
            assert!(page.jobs.len() <= size);
            walked.extend(page.jobs);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        assert_eq!(ids(&walked), ids(&want), "{sort:?} in pages of {size}");
    }
    let count = |query: JobQuery| {
        let store = store.clone();
        async move {
            let page = store
                .list_jobs(&JobQuery {
                    limit: 1000,
                    ..query
                })
                .await
                .unwrap();
            assert_eq!(page.jobs.len() as u64, page.total);
            assert!(page.next.is_none());
            ids(&page.jobs)
        }
    };
    let filtered = |keep: &dyn Fn(&Job) -> bool| {
        ids(&expected
            .iter()
            .filter(|j| keep(j))
            .cloned()
            .collect::<Vec<_>>())
    };
    assert_eq!(
        count(JobQuery {
            state: Some(JobStatus::Paused),
            ..JobQuery::default()
        })
        .await,
        filtered(&|j| j.next_run_time().is_none())
    );
    assert_eq!(
        count(JobQuery {
            state: Some(JobStatus::Scheduled),
            ..JobQuery::default()
        })
        .await,
        filtered(&|j| j.next_run_time().is_some())
    );
    assert!(
        count(JobQuery {
            state: Some(JobStatus::Quarantined),
            ..JobQuery::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        count(JobQuery {
            tag: Some("billing".into()),
            ..JobQuery::default()
        })
        .await,
        filtered(&|j| j.tags().iter().any(|t| &**t == "billing")),
        "whole tags: billing-eu is not billing"
    );
    assert_eq!(
        count(JobQuery {
            tag: Some("bill".into()),
            ..JobQuery::default()
        })
        .await
        .len(),
        0
    );
    assert_eq!(
        count(JobQuery {
            q: Some("REPORT 1".into()),
            ..JobQuery::default()
        })
        .await,
        filtered(&|j| j.name().contains("Report 1")),
        "name, case-insensitive"
    );
    assert_eq!(
        count(JobQuery {
            q: Some("%_".into()),
            ..JobQuery::default()
        })
        .await,
        ["50%_off"]
    );
    assert_eq!(
        count(JobQuery {
            q: Some("b-UP".into()),
            ..JobQuery::default()
        })
        .await,
        ["B-upper"]
    );
    assert_eq!(
        count(JobQuery {
            q: Some("app:TI".into()),
            ..JobQuery::default()
        })
        .await
        .len(),
        23,
        "func"
    );
    assert_eq!(
        count(JobQuery {
            q: Some("job-1".into()),
            tag: Some("eu".into()),
            state: Some(JobStatus::Scheduled),
            ..JobQuery::default()
        })
        .await,
        filtered(&|j| j.id().starts_with("job-1")
            && j.tags().iter().any(|t| &**t == "eu")
            && j.next_run_time().is_some())
    );
    if backend.offers().running {
        // A run in progress (not a queued fire time, not an expired record) makes its job running.
        let now = Utc::now();
        let live = RunningRun {
            expires: now + chrono::Duration::seconds(600),
            ..running("live", "job-05", "instance-a", 0)
        };
        let expired = RunningRun {
            expires: now - chrono::Duration::seconds(600),
            ..running("gone", "job-06", "instance-a", 0)
        };
        let queued = RunningRun {
            expires: now + chrono::Duration::seconds(600),
            ..running("waits", "job-07", rsched::QUEUED_OWNER, 0)
        };
        runs_of(&store)
            .begin_runs(&[live, expired, queued])
            .await
            .unwrap();
        assert_eq!(
            count(JobQuery {
                state: Some(JobStatus::Running),
                ..JobQuery::default()
            })
            .await,
            ["job-05"]
        );
    }
    backend.cleanup(&ns).await;
}

/// An executor that refuses every run, as one that is shutting down does; counts the runs it
/// was offered.
#[derive(Debug, Default)]
struct Refusing(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl rsched::Executor for Refusing {
    fn start(&self, _: rsched::executor::ExecutorRuntime) -> rsched::Result<()> {
        Ok(())
    }
    fn submit(&self, _: rsched::JobRun) -> rsched::Result<()> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(rsched::Error::new(
            ErrorKind::Unavailable,
            "the executor is shut down",
        ))
    }
    async fn shutdown(&self, _: bool) {}
}

/// A queued fire time that an instance takes but whose executor refuses the run (the instance
/// is shutting down) goes back to the store's queue, for another instance: it is not lost.
/// Shutdown writes it back before it returns.
pub async fn a_queued_fire_time_an_executor_refuses_waits_again(backend: &impl Backend) {
    let ns = namespace("refused");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().running {
        backend.cleanup(&ns).await;
        return;
    }
    let clock = ManualClock::new(at(0));
    let refusing = Arc::new(Refusing::default());
    let a = Scheduler::builder()
        .registry(tick_registry())
        .jobstore_arc("default", store.clone())
        .executor_arc("refusing", refusing.clone())
        .clock(clock.clone())
        .id("instance-a")
        .build()
        .unwrap();
    a.start().await.unwrap();
    a.add_job(overlapping("app:tick", "rf", 60, rsched::Overlap::BufferAll).executor("refusing"))
        .await
        .unwrap();
    let runs = runs_of(&store);
    runs.begin_runs(&[RunningRun {
        scheduled_run_time: at(30),
        started: at(30),
        expires: at(30),
        ..running("q30", "rf", rsched::QUEUED_OWNER, 30)
    }])
    .await
    .unwrap();
    // At 60 s the fire time at 60 waits behind the one at 30; the look at the queue takes 30
    // and offers it to the executor, which refuses.
    clock.set(at(60));
    handled(&store, "rf", at(60)).await;
    for _ in 0..400 {
        if refusing.0.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        refusing.0.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the queued fire time was offered to the executor"
    );
    a.shutdown(true).await.unwrap();
    let waiting: Vec<(DateTime<Utc>, String)> = runs
        .queued_runs("rf", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.scheduled_run_time, r.owner.to_string()))
        .collect();
    assert_eq!(
        waiting,
        [
            (at(30), rsched::QUEUED_OWNER.to_owned()),
            (at(60), rsched::QUEUED_OWNER.to_owned())
        ],
        "both fire times wait in the store again, in order"
    );
    assert_eq!(
        runs.running_counts(&[Arc::from("rf")], at(0))
            .await
            .unwrap(),
        [0],
        "no record is left as a run in progress"
    );
    backend.cleanup(&ns).await;
}

/// Instances started at the same moment with the same job list (replicas of one deployment,
/// each adding the configuration's jobs before `start`) all start, and the store holds each
/// job once: the batch one instance's insert loses to another's is added job by job, each
/// conflict replaced or kept.
pub async fn instances_started_together_with_one_job_list(backend: &impl Backend) {
    const INSTANCES: usize = 3;
    const JOBS: usize = 300;
    let ns = namespace("together");
    let store = store_or_skip!(backend, ns);
    if !backend.offers().shared {
        backend.cleanup(&ns).await;
        return;
    }
    let mut schedulers = Vec::new();
    for i in 0..INSTANCES {
        let store = if i == 0 {
            store.clone()
        } else {
            backend.reopen(&ns).await.expect("a shared store reopens")
        };
        let s = Scheduler::builder()
            .registry(tick_registry())
            .jobstore_arc("default", store)
            .id(format!("replica-{i}"))
            .build()
            .unwrap();
        for j in 0..JOBS {
            s.add_job(
                JobSpec::new("app:tick")
                    .id(format!("job-{j:04}"))
                    .replace_existing(true)
                    .trigger(
                        rsched::BuiltinTrigger::from_json(
                            r#"{"type":"interval","hours":1,"start_date":"2026-01-01 00:00:00","timezone":"UTC"}"#,
                        )
                        .unwrap(),
                    ),
            )
            .await
            .unwrap();
        }
        schedulers.push(s);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(INSTANCES));
    let mut tasks = tokio::task::JoinSet::new();
    for s in &schedulers {
        let (s, barrier) = (s.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            s.start_paused().await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("no panic").expect("every instance starts");
    }
    assert_eq!(store.get_all_jobs().await.unwrap().len(), JOBS);
    for s in schedulers {
        s.shutdown(false).await.unwrap();
    }
    backend.cleanup(&ns).await;
}

/// Stamps out the suite for a backend value: `conformance_tests!(backends::Sqlite);`.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@cases $backend;
            capabilities_are_pinned, crud_and_conflicts, ordering, due_selection, acquire_is_exclusive,
            lease_expiry_and_takeover, release_errors, modification_while_leased_wins,
            quarantine, round_trip, list_jobs_pages_and_filters, persistence, new_scheduler_runs_persisted_jobs,
            change_notifications_wake_other_instances, run_history,
            run_history_keeps_attempts_and_results, problem_runs_and_outcome_counts,
            scheduler_writes_history, running_runs,
            running_runs_keep_attempts, reschedule_run_makes_a_pending_retry,
            failed_run_retried_once_across_instances,
            pending_runs_keep_backfill_and_job_state, queued_runs_and_stop_requests,
            calendars_save_load_delete,
            calendars_load_in_name_order, calendars_are_shared,
            calendar_skips_fire_times_across_instances,
            max_instances_across_instances, buffered_fire_times_across_instances,
            cancel_other_across_instances, a_fire_time_queued_by_a_dead_instance_waits_once,
            a_queued_fire_time_an_executor_refuses_waits_again, crashed_runs_are_recovered, instances_started_together_with_one_job_list);
    };
    (@cases $backend:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::$case(&$backend).await;
            }
        )*
    };
}
