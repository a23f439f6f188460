//! Retries with backoff on the manual clock, in a store that keeps them in the scheduler's
//! memory (the memory store). Shared stores keep them in the store: see the conformance suite
//! and `integration-tests/tests/retries.rs`.

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use scheduler_core::trigger::DateSpec;
use scheduler_core::{
    Event, JobChanges, JobContext, JobSpec, ManualClock, RetryPolicy, RunOutcome, Scheduler,
    TaskRegistry, TimeZone,
};
use store_memory::MemoryJobStore;
use tokio::sync::broadcast;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

/// Holds `test:hold` runs until notified.
#[derive(Default)]
struct Gate(tokio::sync::Notify);

fn registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.insert_state(Gate::default());
    registry.register("test:hold", |ctx: JobContext, (): ()| async move {
        ctx.state::<Gate>()
            .map_err(|e| e.to_string())?
            .0
            .notified()
            .await;
        Ok::<_, String>(())
    });
    // Fails its first `n` attempts, then returns the attempt that succeeded.
    registry.register("test:flaky", |ctx: JobContext, (n,): (u32,)| async move {
        if ctx.attempt() <= n {
            Err(format!("attempt {} failed", ctx.attempt()))
        } else {
            Ok(serde_json::json!({"attempt": ctx.attempt()}))
        }
    });
    // Its first attempt never returns (it says when it began); later ones succeed.
    registry.insert_state(Began::default());
    registry.register("test:stall_first", |ctx: JobContext, (): ()| async move {
        if ctx.attempt() == 1 {
            ctx.state::<Began>()
                .map_err(|e| e.to_string())?
                .0
                .notify_one();
            std::future::pending::<()>().await;
        }
        Ok::<_, String>(serde_json::json!({"attempt": ctx.attempt()}))
    });
    registry
}

/// Told by `test:stall_first` when its first attempt began (the run's start time is read
/// before).
#[derive(Default)]
struct Began(tokio::sync::Notify);

fn build(clock: &ManualClock) -> Scheduler {
    Scheduler::builder()
        .registry(registry())
        .jobstore("default", MemoryJobStore::with_history())
        .timezone(TimeZone::utc())
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn once_at(secs: i64) -> scheduler_core::BuiltinTrigger {
    DateSpec {
        run_date: Some(at(secs).to_rfc3339()),
        timezone: None,
    }
    .build()
    .unwrap()
    .into()
}

fn policy(retries: u32) -> RetryPolicy {
    RetryPolicy {
        retries,
        delay: Duration::from_secs(10),
        backoff: 2.0,
        max_delay: Duration::from_secs(15),
        jitter: false,
    }
}

/// The next job event (retry, executed, error), failing after 10 s of real time.
async fn outcome(rx: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = rx.recv().await.expect("event stream closed");
            if matches!(
                event,
                Event::JobRetry { .. } | Event::JobExecuted { .. } | Event::JobError { .. }
            ) {
                return event;
            }
        }
    })
    .await
    .expect("no run ended")
}

/// Advances the clock to `secs` after t0 and returns the outcome of the run due then.
async fn at_time(clock: &ManualClock, rx: &mut broadcast::Receiver<Event>, secs: i64) -> Event {
    clock.set(at(secs));
    outcome(rx).await
}

#[tokio::test]
async fn failed_runs_are_retried_with_backoff_until_one_succeeds() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(
            JobSpec::new("test:flaky")
                .id("flaky")
                .args([2])
                .trigger(once_at(5))
                .retry(policy(3)),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();

    // Attempt 1 at 5 s fails: retried 10 s later.
    let Event::JobRetry {
        attempt,
        retry_at,
        scheduled_run_time,
        outcome,
        ..
    } = at_time(&clock, &mut events, 5).await
    else {
        panic!("attempt 1 should be retried");
    };
    assert_eq!(
        (attempt, retry_at, scheduled_run_time, outcome),
        (1, at(15), at(5), RunOutcome::Error)
    );
    // Nothing before its time.
    clock.set(at(14));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), outcome_of(&mut events))
            .await
            .is_err(),
        "the retry ran early"
    );
    // Attempt 2 at 15 s fails: the wait doubles, but retry_max_delay caps it at 15 s.
    let Event::JobRetry {
        attempt, retry_at, ..
    } = at_time(&clock, &mut events, 15).await
    else {
        panic!("attempt 2 should be retried");
    };
    assert_eq!((attempt, retry_at), (2, at(30)));
    // Attempt 3 succeeds, for the same fire time, and its return value is kept.
    let Event::JobExecuted {
        attempt,
        scheduled_run_time,
        retval,
        ..
    } = at_time(&clock, &mut events, 30).await
    else {
        panic!("attempt 3 should succeed");
    };
    assert_eq!((attempt, scheduled_run_time), (3, at(5)));
    assert_eq!(retval, serde_json::json!({"attempt": 3}));

    // Every attempt is in the history (newest first).
    let runs = wait_for_history(&sched, "flaky", 3).await;
    let seen: Vec<(u32, RunOutcome)> = runs.iter().map(|r| (r.attempt, r.outcome)).collect();
    assert_eq!(
        seen,
        [
            (3, RunOutcome::Success),
            (2, RunOutcome::Error),
            (1, RunOutcome::Error)
        ]
    );
    assert_eq!(runs[0].result, Some(serde_json::json!({"attempt": 3})));
    assert!(runs.iter().all(|r| r.scheduled_run_time == at(5)));
    sched.shutdown(true).await.unwrap();
}

async fn outcome_of(rx: &mut broadcast::Receiver<Event>) -> Event {
    outcome(rx).await
}

async fn wait_for_history(sched: &Scheduler, id: &str, n: usize) -> Vec<scheduler_core::RunRecord> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let runs = sched.job_runs(id, 100).await.unwrap();
            if runs.len() >= n {
                return runs;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the history was not written")
}

/// A run cut off by its `timeout` (`timed_out`) is a failure like an error: retried after the
/// policy's delay, for the same fire time, and both attempts are in the history.
#[tokio::test]
async fn a_timed_out_run_is_retried_like_an_error() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(
            JobSpec::new("test:stall_first")
                .id("stall")
                .trigger(once_at(5))
                .timeout(Duration::from_secs(1))
                .retry(policy(1)),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();
    clock.set(at(5));
    // Attempt 1 began at 5 s: its timeout is at 6 s.
    let began = sched.registry().state().get::<Began>().unwrap();
    tokio::time::timeout(Duration::from_secs(10), began.0.notified())
        .await
        .expect("attempt 1 did not begin");
    let Event::JobRetry {
        attempt,
        outcome,
        error,
        retry_at,
        scheduled_run_time,
        ..
    } = at_time(&clock, &mut events, 6).await
    else {
        panic!("the timed-out attempt 1 should be retried");
    };
    assert_eq!(
        (attempt, outcome, retry_at, scheduled_run_time),
        (1, RunOutcome::TimedOut, at(16), at(5))
    );
    assert_eq!(
        error,
        "timed out: the run took longer than its timeout of 0:00:01"
    );
    let Event::JobExecuted {
        attempt,
        scheduled_run_time,
        ..
    } = at_time(&clock, &mut events, 16).await
    else {
        panic!("attempt 2 should succeed");
    };
    assert_eq!((attempt, scheduled_run_time), (2, at(5)));
    let runs = wait_for_history(&sched, "stall", 2).await;
    let seen: Vec<(u32, RunOutcome)> = runs.iter().map(|r| (r.attempt, r.outcome)).collect();
    assert_eq!(seen, [(2, RunOutcome::Success), (1, RunOutcome::TimedOut)]);
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn job_error_comes_only_after_the_last_attempt() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(
            JobSpec::new("test:flaky")
                .id("broken")
                .args([99])
                .trigger(once_at(5))
                .retry(policy(1)),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();
    assert!(matches!(
        at_time(&clock, &mut events, 5).await,
        Event::JobRetry { attempt: 1, .. }
    ));
    let Event::JobError { attempt, error, .. } = at_time(&clock, &mut events, 15).await else {
        panic!("the last attempt should end in job_error");
    };
    assert_eq!((attempt, error.as_str()), (2, "attempt 2 failed"));
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn without_retries_a_failure_is_a_job_error_at_once() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(
            JobSpec::new("test:flaky")
                .id("plain")
                .args([1])
                .trigger(once_at(5)),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();
    assert!(matches!(
        at_time(&clock, &mut events, 5).await,
        Event::JobError { attempt: 1, .. }
    ));
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn retry_settings_are_validated_and_changeable() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let err = sched
        .add_job(JobSpec::new("test:flaky").id("bad").retry(RetryPolicy {
            backoff: 0.0,
            ..policy(2)
        }))
        .await
        .unwrap_err();
    assert!(err.message().starts_with("retry_backoff:"), "{err}");
    sched
        .add_job(
            JobSpec::new("test:flaky")
                .id("ok")
                .args([0])
                .trigger(once_at(100))
                .retries(2),
        )
        .await
        .unwrap();
    let job = sched
        .modify_job(
            "ok",
            JobChanges {
                retries: Some(5),
                retry_delay: Some(Duration::from_secs(3)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((job.retry().retries, job.retry().delay.as_secs()), (5, 3));
    let err = sched
        .modify_job(
            "ok",
            JobChanges {
                retry_max_delay: Some(Duration::from_secs(1)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.message().starts_with("retry_max_delay:"), "{err}");
    // The policy survives the job's stored form.
    let state = serde_json::to_value(sched.get_job("ok").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        (state["retries"].as_u64(), state["retry_delay"].as_f64()),
        (Some(5), Some(3.0))
    );
    let back: scheduler_core::Job = serde_json::from_value(state).unwrap();
    assert_eq!(back.retry().retries, 5);
}

mod backfill {
    use super::*;
    use scheduler_core::scheduler::backfill::BackfillOverlap;
    use scheduler_core::trigger::IntervalSpec;

    fn hourly() -> scheduler_core::BuiltinTrigger {
        IntervalSpec {
            hours: Some(1.0),
            start_date: Some(at(0).to_rfc3339()),
            ..Default::default()
        }
        .build()
        .unwrap()
        .into()
    }

    async fn executed_times(
        rx: &mut broadcast::Receiver<Event>,
        n: usize,
    ) -> Vec<(DateTime<Utc>, bool)> {
        let mut seen = Vec::new();
        while seen.len() < n {
            if let Event::JobExecuted {
                scheduled_run_time,
                backfill,
                ..
            } = outcome(rx).await
            {
                seen.push((scheduled_run_time, backfill));
            }
        }
        seen
    }

    #[tokio::test]
    async fn a_backfill_runs_each_fire_time_of_the_range_once_in_order() {
        // Now is 10:30; the job runs hourly from midnight.
        let clock = ManualClock::new(at(10 * 3600 + 1800));
        let sched = build(&clock);
        let mut events = sched.subscribe();
        sched.start().await.unwrap();
        let job = sched
            .add_job(
                JobSpec::new("test:flaky")
                    .id("hourly")
                    .args([0])
                    .trigger(hourly()),
            )
            .await
            .unwrap();
        let next = job.next_run_time();
        assert_eq!(next, Some(at(11 * 3600)));
        let report = sched
            .backfill(
                "hourly",
                at(2 * 3600),
                at(6 * 3600),
                BackfillOverlap::BufferAll,
            )
            .await
            .unwrap();
        assert_eq!(
            (report.fire_times, report.first, report.last),
            (4, Some(at(2 * 3600)), Some(at(5 * 3600)))
        );
        let seen = executed_times(&mut events, 4).await;
        let expected: Vec<(DateTime<Utc>, bool)> = (2..6).map(|h| (at(h * 3600), true)).collect();
        assert_eq!(seen, expected);
        // The job's own schedule did not move.
        assert_eq!(
            sched
                .get_job("hourly")
                .await
                .unwrap()
                .unwrap()
                .next_run_time(),
            next
        );
        let runs = wait_for_history(&sched, "hourly", 4).await;
        assert!(runs.iter().all(|r| r.backfill), "{runs:?}");
        sched.shutdown(true).await.unwrap();
    }

    #[tokio::test]
    async fn allow_all_runs_them_side_by_side_and_bad_ranges_are_refused() {
        let clock = ManualClock::new(at(10 * 3600 + 1800));
        let sched = build(&clock);
        let mut events = sched.subscribe();
        sched.start().await.unwrap();
        sched
            .add_job(
                JobSpec::new("test:flaky")
                    .id("hourly")
                    .args([0])
                    .trigger(hourly()),
            )
            .await
            .unwrap();
        sched
            .backfill("hourly", at(0), at(3 * 3600), BackfillOverlap::AllowAll)
            .await
            .unwrap();
        let mut seen = executed_times(&mut events, 3).await;
        seen.sort();
        assert_eq!(seen, [(at(0), true), (at(3600), true), (at(7200), true)]);
        let err = sched
            .backfill("hourly", at(3600), at(0), BackfillOverlap::BufferAll)
            .await
            .unwrap_err();
        assert!(
            err.message().starts_with("end: must be after start"),
            "{err}"
        );
        // Two years of hours is more than 10,000 fire times.
        let err = sched
            .backfill(
                "hourly",
                at(0),
                at(2 * 366 * 24 * 3600),
                BackfillOverlap::BufferAll,
            )
            .await
            .unwrap_err();
        assert!(
            err.message().contains("more than 10000 fire times"),
            "{err}"
        );
        assert_eq!(
            sched
                .backfill("nope", at(0), at(1), BackfillOverlap::BufferAll)
                .await
                .unwrap_err()
                .kind(),
            scheduler_core::ErrorKind::NotFound
        );
        assert!(
            BackfillOverlap::parse("skip")
                .unwrap_err()
                .message()
                .starts_with("overlap:")
        );
        sched.shutdown(true).await.unwrap();
    }
}

mod overlap {
    use super::*;
    use scheduler_core::Overlap;
    use scheduler_core::trigger::IntervalSpec;

    async fn second_fire(overlap: Overlap) -> Event {
        let clock = ManualClock::new(t0());
        let sched = build(&clock);
        let mut events = sched.subscribe();
        sched.start().await.unwrap();
        let every5 = IntervalSpec {
            seconds: Some(5.0),
            start_date: Some(at(5).to_rfc3339()),
            ..Default::default()
        }
        .build()
        .unwrap();
        let mut spec = JobSpec::new("test:hold").id("held").trigger(every5);
        spec.overlap = overlap;
        sched.add_job(spec).await.unwrap();
        clock.set(at(5));
        wait(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await;
        // The first run still holds its (max_instances = 1) slot at the next fire time.
        clock.set(at(10));
        let event = wait(&mut events, |e| {
            matches!(
                e,
                Event::JobSubmitted { .. } | Event::JobMaxInstances { .. }
            )
        })
        .await;
        sched.shutdown(false).await.unwrap();
        event
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

    #[tokio::test]
    async fn skip_skips_and_allow_all_runs_beside() {
        assert!(matches!(
            second_fire(Overlap::Skip).await,
            Event::JobMaxInstances { .. }
        ));
        assert!(matches!(
            second_fire(Overlap::AllowAll).await,
            Event::JobSubmitted { .. }
        ));
        for o in Overlap::ALL {
            assert_eq!(Overlap::parse(o.as_str()).unwrap(), o);
        }
        assert!(
            Overlap::parse("sometimes")
                .unwrap_err()
                .message()
                .starts_with("overlap:")
        );
    }
}
