//! The overlap policies that queue fire times (Temporal's `buffer_one`, `buffer_all`,
//! `cancel_other`, `terminate_other`) on the manual clock, in a store that keeps the queue in
//! the scheduler's memory (the memory store). Shared stores keep it in the store: see the
//! conformance suite (`queued_runs_and_stop_requests`, `buffered_fire_times_across_instances`).

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use scheduler_core::trigger::IntervalSpec;
use scheduler_core::{
    Event, JobContext, JobSpec, ManualClock, Overlap, RunOutcome, Scheduler, TaskRegistry, TimeZone,
};
use store_memory::MemoryJobStore;
use tokio::sync::broadcast;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

/// Releases one held run per `notify_one`.
#[derive(Default)]
struct Gate(tokio::sync::Notify);

fn registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.insert_state(Gate::default());
    // Runs until the gate lets it go (ignores cancellation).
    registry.register("test:hold", |ctx: JobContext, (): ()| async move {
        ctx.state::<Gate>()
            .map_err(|e| e.to_string())?
            .0
            .notified()
            .await;
        Ok::<_, String>(())
    });
    // Runs until the gate lets it go, or gives up when asked to stop.
    registry.register("test:polite", |ctx: JobContext, (): ()| async move {
        let gate = ctx.state::<Gate>().map_err(|e| e.to_string())?;
        tokio::select! {
            () = gate.0.notified() => Ok::<_, String>(()),
            () = ctx.cancelled() => Err("gave up".to_owned()),
        }
    });
    registry
}

/// A scheduler on the manual clock with a job of `func` every 5 s from t0 + 5 s.
async fn start(
    overlap: Overlap,
    func: &str,
) -> (Scheduler, ManualClock, broadcast::Receiver<Event>) {
    let clock = ManualClock::new(t0());
    let sched = Scheduler::builder()
        .registry(registry())
        .jobstore("default", MemoryJobStore::with_history())
        .timezone(TimeZone::utc())
        .clock(clock.clone())
        .build()
        .unwrap();
    let events = sched.subscribe();
    sched.start().await.unwrap();
    let every5 = IntervalSpec {
        seconds: Some(5.0),
        start_date: Some(at(5).to_rfc3339()),
        ..Default::default()
    }
    .build()
    .unwrap();
    let mut spec = JobSpec::new(func).id("j").trigger(every5);
    spec.overlap = overlap;
    sched.add_job(spec).await.unwrap();
    (sched, clock, events)
}

async fn wait(rx: &mut broadcast::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = rx.recv().await.unwrap();
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("no such event")
}

fn submitted(e: &Event) -> Option<DateTime<Utc>> {
    match e {
        Event::JobSubmitted { run_times, .. } => run_times.first().copied(),
        _ => None,
    }
}

/// Waits until the scheduler has handled the fire time at `secs` (run, queued or skipped):
/// its next run time has moved past it.
async fn fire(sched: &Scheduler, clock: &ManualClock, secs: i64) {
    clock.set(at(secs));
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let job = sched.get_job("j").await.unwrap().unwrap();
            if job.next_run_time().is_some_and(|t| t > at(secs)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the fire time was not handled");
}

/// The (scheduled time, outcome) of each run that ended, in the order they ended, until `n`.
async fn ended(rx: &mut broadcast::Receiver<Event>, n: usize) -> Vec<(i64, RunOutcome)> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = wait(rx, |e| {
            matches!(e, Event::JobExecuted { .. } | Event::JobError { .. })
        })
        .await;
        match e {
            Event::JobExecuted {
                scheduled_run_time, ..
            } => out.push((
                (scheduled_run_time - t0()).num_seconds(),
                RunOutcome::Success,
            )),
            Event::JobError {
                scheduled_run_time,
                outcome,
                ..
            } => out.push(((scheduled_run_time - t0()).num_seconds(), outcome)),
            _ => {}
        }
    }
    out
}

fn gate(sched: &Scheduler) -> &Gate {
    sched.registry().state().get::<Gate>().unwrap()
}

#[tokio::test]
async fn buffer_one_keeps_one_fire_time_and_skips_the_rest() {
    let (sched, clock, mut events) = start(Overlap::BufferOne, "test:hold").await;
    let mut log = sched.subscribe();
    fire(&sched, &clock, 5).await;
    assert_eq!(
        submitted(&wait(&mut events, |e| submitted(e).is_some()).await),
        Some(at(5))
    );
    fire(&sched, &clock, 10).await; // waits
    fire(&sched, &clock, 15).await; // skipped: one already waits
    let skipped = wait(&mut log, |e| matches!(e, Event::JobMaxInstances { .. })).await;
    assert!(matches!(skipped, Event::JobMaxInstances { run_times, .. } if run_times == [at(15)]));
    gate(&sched).0.notify_one();
    assert_eq!(ended(&mut events, 1).await, [(5, RunOutcome::Success)]);
    // The waiting fire time starts as soon as the run ended, without a clock step.
    assert_eq!(
        submitted(&wait(&mut events, |e| submitted(e).is_some()).await),
        Some(at(10))
    );
    gate(&sched).0.notify_one();
    assert_eq!(ended(&mut events, 1).await, [(10, RunOutcome::Success)]);
    sched.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn buffer_all_runs_every_fire_time_in_order() {
    let (sched, clock, mut events) = start(Overlap::BufferAll, "test:hold").await;
    for secs in [5, 10, 15, 20] {
        fire(&sched, &clock, secs).await;
    }
    let mut order = Vec::new();
    for _ in 0..4 {
        // One run at a time holds the gate: each release ends exactly one.
        gate(&sched).0.notify_one();
        order.extend(ended(&mut events, 1).await);
    }
    assert_eq!(
        order,
        [5, 10, 15, 20].map(|s| (s, RunOutcome::Success)),
        "one after another, oldest first"
    );
    sched.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn cancel_other_cancels_the_run_then_starts_the_new_one() {
    let (sched, clock, mut events) = start(Overlap::CancelOther, "test:polite").await;
    fire(&sched, &clock, 5).await;
    fire(&sched, &clock, 10).await;
    // The first run's ctx.cancelled() resolved: it gave up, recorded interrupted.
    assert_eq!(ended(&mut events, 1).await, [(5, RunOutcome::Interrupted)]);
    gate(&sched).0.notify_one();
    assert_eq!(ended(&mut events, 1).await, [(10, RunOutcome::Success)]);
    let run5 = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let history = sched.job_runs("j", 10).await.unwrap();
            if let Some(r) = history.into_iter().find(|r| r.scheduled_run_time == at(5)) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the cancelled run is in history");
    assert!(
        run5.error.as_deref().unwrap_or("").contains("cancel_other"),
        "{run5:?}"
    );
    sched.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn terminate_other_stops_a_run_that_ignores_cancellation() {
    let (sched, clock, mut events) = start(Overlap::TerminateOther, "test:hold").await;
    fire(&sched, &clock, 5).await;
    fire(&sched, &clock, 10).await;
    assert_eq!(ended(&mut events, 1).await, [(5, RunOutcome::Interrupted)]);
    // The newer one runs (and is itself stopped by the next fire time).
    assert_eq!(
        submitted(&wait(&mut events, |e| submitted(e) == Some(at(10))).await),
        Some(at(10))
    );
    fire(&sched, &clock, 15).await;
    assert_eq!(ended(&mut events, 1).await, [(10, RunOutcome::Interrupted)]);
    sched.shutdown(false).await.unwrap();
}

/// `buffer_all` keeps at most `Overlap::MAX_BUFFERED` (1,000) fire times waiting: behind a run
/// that holds the job, a catch-up of 1,005 fire times (a 1-second job, the clock moved in one
/// step) queues the oldest 1,000 and records the 5 newest `missed`; later fire times, with the
/// buffer full, are missed too. Once the run ends, the 1,000 run one after another, oldest
/// first, and no others.
#[tokio::test]
async fn buffer_all_keeps_at_most_a_thousand_fire_times_and_records_the_rest_missed() {
    const MAX: i64 = Overlap::MAX_BUFFERED as i64;
    assert_eq!(MAX, 1000);
    let clock = ManualClock::new(t0());
    // The fire times that ran, in the order they started; every run waits for the gate.
    let ran: std::sync::Arc<std::sync::Mutex<Vec<i64>>> = std::sync::Arc::default();
    let (open, gate) = tokio::sync::watch::channel(false);
    let mut registry = TaskRegistry::new();
    let log = ran.clone();
    registry.register("test:gated", move |ctx: JobContext, (): ()| {
        let (log, mut gate) = (log.clone(), gate.clone());
        async move {
            log.lock()
                .unwrap()
                .push((ctx.scheduled_run_time() - t0()).num_seconds());
            let _ = gate.wait_for(|open| *open).await;
            Ok::<_, String>(())
        }
    });
    let sched = Scheduler::builder()
        .registry(registry)
        .jobstore("default", MemoryJobStore::with_history())
        .timezone(TimeZone::utc())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    let every_second = IntervalSpec {
        seconds: Some(1.0),
        start_date: Some(at(1).to_rfc3339()),
        ..Default::default()
    }
    .build()
    .unwrap();
    // Every fire time of a catch-up is due (no coalescing, no misfire limit).
    let mut spec = JobSpec::new("test:gated")
        .id("j")
        .trigger(every_second)
        .max_instances(1)
        .coalesce(false)
        .misfire_grace_time(None);
    spec.overlap = Overlap::BufferAll;
    sched.add_job(spec).await.unwrap();
    fire(&sched, &clock, 1).await;
    assert_eq!(
        submitted(&wait(&mut events, |e| submitted(e).is_some()).await),
        Some(at(1))
    );
    let missed = |e: &Event| match e {
        Event::JobMissed {
            scheduled_run_time,
            count,
            ..
        } => Some(((*scheduled_run_time - t0()).num_seconds(), *count)),
        _ => None,
    };
    // 2 ..= 1006 are due at once: 2 ..= 1001 wait, 1002 ..= 1006 are missed.
    fire(&sched, &clock, MAX + 6).await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(missed(&wait(&mut events, |e| missed(e).is_some()).await).unwrap());
    }
    assert_eq!(
        seen,
        (MAX + 2..=MAX + 6).map(|t| (t, 1)).collect::<Vec<_>>(),
        "the fire times past the 1,000th are missed, one by one"
    );
    // The buffer is full: the next fire times are missed as they come.
    fire(&sched, &clock, MAX + 8).await;
    let mut later = Vec::new();
    for _ in 0..2 {
        later.push(missed(&wait(&mut events, |e| missed(e).is_some()).await).unwrap());
    }
    assert_eq!(later, [(MAX + 7, 1), (MAX + 8, 1)]);
    // They are in the run history as missed (newest first).
    let history = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let runs = sched.job_runs("j", 100).await.unwrap();
            if runs.len() >= 7 {
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the missed fire times are not in the history");
    assert_eq!(
        history
            .iter()
            .map(|r| ((r.scheduled_run_time - t0()).num_seconds(), r.outcome))
            .collect::<Vec<_>>(),
        (MAX + 2..=MAX + 8)
            .rev()
            .map(|t| (t, RunOutcome::Missed))
            .collect::<Vec<_>>()
    );
    assert_eq!(*ran.lock().unwrap(), [1], "only the first run started");
    // The run ends: the 1,000 waiting fire times run in order, each once.
    drop(events);
    open.send(true).unwrap();
    let expected: Vec<i64> = (1..=MAX + 1).collect();
    tokio::time::timeout(Duration::from_secs(60), async {
        while ran.lock().unwrap().len() < expected.len() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the waiting fire times did not all run");
    assert_eq!(*ran.lock().unwrap(), expected, "oldest first, each once");
    sched.shutdown(true).await.unwrap();
    assert_eq!(
        *ran.lock().unwrap(),
        expected,
        "nothing ran beyond the 1,000"
    );
}

#[test]
fn every_policy_parses_and_unknown_ones_name_the_field() {
    for o in Overlap::ALL {
        assert_eq!(Overlap::parse(o.as_str()).unwrap(), o);
    }
    let e = Overlap::parse("queue").unwrap_err();
    assert!(e.message().starts_with("overlap:"), "{e}");
    assert!(e.message().contains("buffer_all"), "{e}");
    assert_eq!(Overlap::BufferAll.queue_limit(), 1000);
}
