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

fn registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    // Fails its first `n` attempts, then returns the attempt that succeeded.
    registry.register("test:flaky", |ctx: JobContext, (n,): (u32,)| async move {
        if ctx.attempt() <= n {
            Err(format!("attempt {} failed", ctx.attempt()))
        } else {
            Ok(serde_json::json!({"attempt": ctx.attempt()}))
        }
    });
    registry
}

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
