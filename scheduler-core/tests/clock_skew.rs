//! A host whose clock is wrong schedules by its store's clock: it measures the offset at start
//! and judges due times by the store's clock, so it runs nothing early; a store whose clock
//! cannot be read is not used until it can; a process that stood still past its lease between
//! taking due jobs and starting them starts none of them. Time is a manual clock; the store's server clock is
//! that clock minus 45 s (this host 45 s ahead, as with libfaketime `+45s`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone as _, Utc};
use scheduler_core::store::{Capabilities, QuarantinedJob, Release};
use scheduler_core::trigger::DateSpec;
use scheduler_core::{
    BuiltinTrigger, Clock as _, Error, ErrorKind, Event, Job, JobContext, JobSpec, JobStore,
    ManualClock, Result, Scheduler, TaskRegistry, TimeZone,
};
use store_memory::MemoryJobStore;
use tokio::sync::broadcast;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

/// A memory store behind a server whose clock reads `clock + offset`, or fails to answer.
#[derive(Debug)]
struct ServerStore {
    store: MemoryJobStore,
    clock: ManualClock,
    offset: chrono::Duration,
    down: AtomicBool,
    /// The next `acquire_due_jobs` lets this much time pass before it answers (a process
    /// stopped with SIGSTOP just after its store granted the leases).
    stall: std::sync::Mutex<Option<Duration>>,
}

#[async_trait]
impl JobStore for ServerStore {
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }
    async fn add_job(&self, job: &Job) -> Result<()> {
        self.store.add_job(job).await
    }
    async fn update_job(&self, job: &Job) -> Result<()> {
        self.store.update_job(job).await
    }
    async fn remove_job(&self, id: &str) -> Result<()> {
        self.store.remove_job(id).await
    }
    async fn remove_all_jobs(&self) -> Result<()> {
        self.store.remove_all_jobs().await
    }
    async fn lookup_job(&self, id: &str) -> Result<Option<Job>> {
        self.store.lookup_job(id).await
    }
    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        self.store.get_all_jobs().await
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        self.store.get_next_run_time().await
    }
    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let jobs = self
            .store
            .acquire_due_jobs(owner, now, lease, limit)
            .await?;
        let stall = self.stall.lock().unwrap().take();
        if let Some(stall) = stall.filter(|_| !jobs.is_empty()) {
            // Meanwhile the lease expired and another instance took the jobs.
            self.clock.advance(stall);
            let taken = self
                .store
                .acquire_due_jobs("other", self.clock.now(), lease, limit)
                .await?;
            assert_eq!(taken.len(), jobs.len());
        }
        Ok(jobs)
    }
    async fn release_job(&self, owner: &str, id: &str, release: Release) -> Result<()> {
        self.store.release_job(owner, id, release).await
    }
    async fn quarantine_job(&self, id: &str, reason: &str) -> Result<()> {
        self.store.quarantine_job(id, reason).await
    }
    async fn quarantined_jobs(&self) -> Result<Vec<QuarantinedJob>> {
        self.store.quarantined_jobs().await
    }
    async fn server_time(&self) -> Result<Option<DateTime<Utc>>> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Unavailable, "the server is down"));
        }
        Ok(Some(self.clock.now() + self.offset))
    }
}

fn registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.register("test:noop", |_ctx: JobContext, (): ()| async move {
        Ok::<_, String>(())
    });
    registry
}

fn date(secs: i64) -> BuiltinTrigger {
    DateSpec {
        run_date: Some(at(secs).to_rfc3339()),
        timezone: None,
    }
    .build()
    .unwrap()
    .into()
}

/// This host 45 s ahead of the store's server.
fn ahead(clock: &ManualClock, down: bool) -> Arc<ServerStore> {
    Arc::new(ServerStore {
        store: MemoryJobStore::new(),
        clock: clock.clone(),
        offset: chrono::Duration::seconds(-45),
        down: AtomicBool::new(down),
        stall: std::sync::Mutex::default(),
    })
}

fn build(clock: &ManualClock, store: Arc<ServerStore>, follow: bool) -> Scheduler {
    Scheduler::builder()
        .registry(registry())
        .jobstore_arc("default", store)
        .jobstore("local", MemoryJobStore::new())
        .timezone(TimeZone::utc())
        .clock(clock.clone())
        .follow_store_clock(follow)
        .build()
        .unwrap()
}

/// The events until `id` executed, failing after 10 s of real time.
async fn until_executed(rx: &mut broadcast::Receiver<Event>, id: &str) -> Vec<Event> {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut seen = Vec::new();
        loop {
            let event = rx.recv().await.expect("event stream closed");
            let done = matches!(&event, Event::JobExecuted { job_id, .. } if &**job_id == id);
            seen.push(event);
            if done {
                return seen;
            }
        }
    })
    .await
    .expect("the expected event did not come")
}

fn submitted(events: &[Event], id: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::JobSubmitted { job_id, .. } if &**job_id == id))
}

/// A job due at 10 s by the store's clock (run however late: `misfire_grace_time = None`), and
/// a sentinel in a store on this host's clock, due at `sentinel` s by the scheduler's clock.
async fn add_jobs(sched: &Scheduler, sentinel: i64) {
    sched
        .add_job(
            JobSpec::new("test:noop")
                .id("due")
                .trigger(date(10))
                .misfire_grace_time(None),
        )
        .await
        .unwrap();
    sched
        .add_job(
            JobSpec::new("test:noop")
                .id("sentinel")
                .trigger(date(sentinel))
                .jobstore("local"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_host_ahead_of_its_store_runs_nothing_early() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock, ahead(&clock, false), true);
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    let skew = sched.clock_skew().expect("measured at start");
    assert_eq!(skew.offset, chrono::Duration::seconds(-45));
    assert_eq!(&*skew.jobstore, "default");
    assert_eq!(sched.clock().now(), at(-45));
    add_jobs(&sched, -35).await;

    // This host reads 10 s; the store reads -35 s: the sentinel is due, the job is not.
    clock.advance(Duration::from_secs(10));
    let seen = until_executed(&mut events, "sentinel").await;
    assert!(!submitted(&seen, "due"), "ran 45 s early: {seen:?}");
    assert!(sched.get_job("due").await.unwrap().is_some());

    // The store reads 10 s: the job runs, on time by the store's clock.
    clock.advance(Duration::from_secs(45));
    let seen = until_executed(&mut events, "due").await;
    let Some(Event::JobExecuted {
        scheduled_run_time, ..
    }) = seen.last()
    else {
        unreachable!()
    };
    assert_eq!(*scheduled_run_time, at(10));
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_host_that_does_not_follow_its_store_runs_by_its_own_clock() {
    // The same host without the correction: the job runs when this host's clock reads 10 s,
    // 45 s before its time by the store's clock (what the correction prevents).
    let clock = ManualClock::new(t0());
    let sched = build(&clock, ahead(&clock, false), false);
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    assert!(sched.clock_skew().is_none());
    add_jobs(&sched, 10).await;
    clock.advance(Duration::from_secs(10));
    until_executed(&mut events, "due").await;
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_store_whose_clock_cannot_be_read_is_not_used_until_it_can() {
    let clock = ManualClock::new(t0());
    let store = ahead(&clock, true);
    let sched = build(&clock, store.clone(), true);
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    assert!(sched.clock_skew().is_none());
    add_jobs(&sched, 60).await;

    // By this host's clock (60 s) the job is due; its store's clock is unknown: it waits.
    clock.advance(Duration::from_secs(60));
    let seen = until_executed(&mut events, "sentinel").await;
    assert!(
        !submitted(&seen, "due"),
        "ran by an unmeasured clock: {seen:?}"
    );

    // The server answers again: at the next try (within 16 retry intervals, the longest
    // backoff) the offset is measured and the job, due by the store's clock, runs.
    store.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(160));
    until_executed(&mut events, "due").await;
    assert_eq!(
        sched.clock_skew().map(|s| s.offset),
        Some(chrono::Duration::seconds(-45))
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn jobs_whose_lease_lapsed_before_they_started_are_not_started() {
    let clock = ManualClock::new(t0());
    let store = ahead(&clock, false);
    let sched = build(&clock, store.clone(), false);
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    add_jobs(&sched, 100).await;
    // At 10 s the job is taken, then the process stands still for the whole lease (30 s),
    // during which another instance takes the job over (and would run it): this one must not
    // start it. The other instance then dies; its lease ends at 70 s and the job runs here.
    *store.stall.lock().unwrap() = Some(Duration::from_secs(30));
    clock.advance(Duration::from_secs(10));
    while store.stall.lock().unwrap().is_some() {
        tokio::task::yield_now().await;
    }
    clock.advance(Duration::from_secs(60));
    let seen = until_executed(&mut events, "sentinel").await;
    let submitted = seen
        .iter()
        .filter(|e| matches!(e, Event::JobSubmitted { job_id, .. } if &**job_id == "due"))
        .count();
    assert_eq!(submitted, 1, "{seen:?}");
    let started = seen.iter().find_map(|e| match e {
        Event::JobExecuted {
            job_id, started, ..
        } if &**job_id == "due" => Some(*started),
        _ => None,
    });
    assert!(
        started.is_some_and(|s| s >= at(70)),
        "ran at {started:?}, while the other instance held it"
    );
    sched.shutdown(true).await.unwrap();
}
