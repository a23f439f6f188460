//! The engine's behaviour, with a manual clock: time moves only when a test says so, and tests
//! wait for events, never for wall-clock time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use scheduler_core::trigger::{CronSpec, DateSpec, IntervalSpec};
use scheduler_core::{
    BackgroundScheduler, BlockingScheduler, BuiltinTrigger, ErrorKind, Event, EventMask,
    JobChanges, JobContext, JobSpec, ManualClock, RunOutcome, Scheduler, SchedulerState,
    TaskRegistry, TimeZone,
};
use store_memory::MemoryJobStore;
use tokio::sync::{Notify, broadcast};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

/// What the test tasks record: (job id, scheduled run time).
#[derive(Default)]
struct Runs(Mutex<Vec<(String, DateTime<Utc>)>>);

/// Releases `test:slow` runs.
#[derive(Default)]
struct Gate(Notify);

fn registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.insert_state(Runs::default());
    registry.insert_state(Gate::default());
    registry.register("test:record", |ctx: JobContext, (): ()| async move {
        ctx.state::<Runs>()?
            .0
            .lock()
            .unwrap()
            .push((ctx.job_id().to_owned(), ctx.scheduled_run_time()));
        Ok::<_, scheduler_core::Error>("recorded")
    });
    registry.register(
        "test:add",
        |_ctx: JobContext, (a, b): (i64, i64)| async move { Ok::<_, String>(a + b) },
    );
    registry.register("test:slow", |ctx: JobContext, (): ()| async move {
        let gate = ctx.state::<Gate>().map_err(|e| e.to_string())?;
        tokio::select! {
            () = gate.0.notified() => Ok(()),
            () = ctx.cancelled() => Err("cancelled".to_owned()),
        }
    });
    registry.register("test:fail", |_ctx: JobContext, (): ()| async move {
        Err::<(), _>("it broke")
    });
    registry.register_blocking(
        "test:panic",
        |_ctx: JobContext, (): ()| -> Result<(), String> { panic!("boom") },
    );
    registry
}

fn build(clock: &ManualClock) -> Scheduler {
    Scheduler::builder()
        .registry(registry())
        .jobstore("default", MemoryJobStore::new())
        .executor("threads", executor_threads::ThreadPoolExecutor::new(2))
        .timezone(TimeZone::utc())
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Every `seconds` seconds, first at `seconds` after t0.
fn interval(seconds: u32) -> BuiltinTrigger {
    let first = at(i64::from(seconds)).to_rfc3339();
    IntervalSpec {
        seconds: Some(f64::from(seconds)),
        start_date: Some(first),
        ..Default::default()
    }
    .build()
    .unwrap()
    .into()
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

/// Waits for the next event matching `pred`, failing the test after 10 s of real time.
async fn next_event(rx: &mut broadcast::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = rx.recv().await.expect("event stream closed");
            if pred(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the expected event did not come")
}

fn executed(id: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::JobExecuted { job_id, .. } if &**job_id == id)
}

#[tokio::test]
async fn interval_job_runs_at_each_fire_time() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(JobSpec::new("test:record").id("job1").trigger(interval(5)))
        .await
        .unwrap();
    sched.start().await.unwrap();
    for n in 1..=3 {
        clock.advance(Duration::from_secs(5));
        let Event::JobExecuted {
            scheduled_run_time,
            retval,
            ..
        } = next_event(&mut events, executed("job1")).await
        else {
            unreachable!()
        };
        assert_eq!(scheduled_run_time, at(5 * n));
        assert_eq!(retval, "recorded");
    }
    let job = sched.get_job("job1").await.unwrap().unwrap();
    assert_eq!(job.next_run_time(), Some(at(20)));
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn late_run_is_missed_beyond_misfire_grace_time() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    sched
        .add_job(JobSpec::new("test:record").id("late").trigger(date(5)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(8)); // 3 s late, grace is 1 s
    // The engine removes the finished date job; the executor reports the run time missed.
    let (mut missed, mut removed) = (None, false);
    while missed.is_none() || !removed {
        match next_event(&mut events, |e| {
            matches!(
                e,
                Event::JobMissed { .. } | Event::JobRemoved { .. } | Event::JobExecuted { .. }
            )
        })
        .await
        {
            Event::JobMissed {
                scheduled_run_time,
                lateness,
                count,
                ..
            } => missed = Some((scheduled_run_time, lateness, count)),
            Event::JobRemoved { .. } => removed = true,
            other => panic!("the late run ran: {other:?}"),
        }
    }
    assert_eq!(missed, Some((at(5), Duration::from_secs(3), 1)));
    assert!(sched.get_job("late").await.unwrap().is_none());
    assert_eq!(
        sched
            .counters()
            .missed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn missed_run_times_coalesce_into_the_latest() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(JobSpec::new("test:record").id("c").trigger(interval(5)))
        .await
        .unwrap();
    sched.start().await.unwrap();
    clock.advance(Duration::from_secs(16)); // fire times 5, 10, 15 are due
    let Event::JobSubmitted { run_times, .. } =
        next_event(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(run_times, vec![at(15)]);
    let Event::JobExecuted {
        scheduled_run_time, ..
    } = next_event(&mut events, executed("c")).await
    else {
        unreachable!()
    };
    assert_eq!(scheduled_run_time, at(15));
    assert_eq!(
        sched
            .counters()
            .missed
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(
        sched.get_job("c").await.unwrap().unwrap().next_run_time(),
        Some(at(20))
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn without_coalesce_every_missed_run_time_runs() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    let spec = JobSpec::new("test:record")
        .id("all")
        .trigger(interval(5))
        .coalesce(false)
        .misfire_grace_time(None);
    sched.add_job(spec).await.unwrap();
    sched.start().await.unwrap();
    clock.advance(Duration::from_secs(15));
    let mut times = Vec::new();
    for _ in 0..3 {
        let Event::JobExecuted {
            scheduled_run_time, ..
        } = next_event(&mut events, executed("all")).await
        else {
            unreachable!()
        };
        times.push(scheduled_run_time);
    }
    assert_eq!(times, vec![at(5), at(10), at(15)]);
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn max_instances_skips_the_run_but_advances_the_schedule() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(JobSpec::new("test:slow").id("slow").trigger(interval(1)))
        .await
        .unwrap();
    sched.start().await.unwrap();
    clock.advance(Duration::from_secs(1));
    next_event(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await;
    clock.advance(Duration::from_secs(1));
    let Event::JobMaxInstances { run_times, .. } =
        next_event(&mut events, |e| matches!(e, Event::JobMaxInstances { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(run_times, vec![at(2)]);
    assert_eq!(
        sched
            .get_job("slow")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(3))
    );
    sched
        .registry()
        .state()
        .get::<Gate>()
        .unwrap()
        .0
        .notify_waiters();
    next_event(&mut events, executed("slow")).await;
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn paused_job_does_not_run_until_resumed() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(JobSpec::new("test:record").id("p").trigger(interval(5)))
        .await
        .unwrap();
    sched
        .add_job(
            JobSpec::new("test:record")
                .id("sentinel")
                .trigger(interval(5)),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();
    let paused = sched.pause_job("p").await.unwrap();
    assert!(paused.is_paused());
    clock.advance(Duration::from_secs(5));
    next_event(&mut events, executed("sentinel")).await;
    let runs = sched
        .registry()
        .state()
        .get::<Runs>()
        .unwrap()
        .0
        .lock()
        .unwrap()
        .clone();
    assert!(runs.iter().all(|(id, _)| id != "p"), "{runs:?}");
    // Resumed at 5 s: the interval's fire time at 5 s is now, so it runs at once (APScheduler).
    let resumed = sched.resume_job("p").await.unwrap().unwrap();
    assert_eq!(resumed.next_run_time(), Some(at(5)));
    let Event::JobExecuted {
        scheduled_run_time, ..
    } = next_event(&mut events, executed("p")).await
    else {
        unreachable!()
    };
    assert_eq!(scheduled_run_time, at(5));
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn scheduler_pause_stops_processing_and_resume_catches_up() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(
            JobSpec::new("test:record")
                .id("j")
                .trigger(interval(5))
                .misfire_grace_time(None),
        )
        .await
        .unwrap();
    sched.start_paused().await.unwrap();
    assert_eq!(sched.state(), SchedulerState::Paused);
    clock.advance(Duration::from_secs(5));
    sched.resume().unwrap();
    let Event::JobExecuted {
        scheduled_run_time, ..
    } = next_event(&mut events, executed("j")).await
    else {
        unreachable!()
    };
    assert_eq!(scheduled_run_time, at(5));
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn replace_existing_and_duplicate_ids() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    sched.start().await.unwrap();
    sched
        .add_job(JobSpec::new("test:record").id("dup").trigger(interval(5)))
        .await
        .unwrap();
    let err = sched
        .add_job(JobSpec::new("test:record").id("dup").trigger(interval(7)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let job = sched
        .add_job(
            JobSpec::new("test:record")
                .id("dup")
                .trigger(interval(7))
                .replace_existing(true),
        )
        .await
        .unwrap();
    assert_eq!(job.next_run_time(), Some(at(7)));
    assert_eq!(
        sched
            .get_job("dup")
            .await
            .unwrap()
            .unwrap()
            .trigger()
            .to_string(),
        "interval[0:00:07]"
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn date_job_is_removed_after_its_run() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    sched
        .add_job(
            JobSpec::new("test:add")
                .id("once")
                .args([1, 2])
                .trigger(date(3)),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3));
    let Event::JobExecuted { retval, .. } = next_event(&mut events, executed("once")).await else {
        unreachable!()
    };
    assert_eq!(retval, 3);
    assert!(sched.get_job("once").await.unwrap().is_none());
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn panics_and_errors_become_job_error_events_and_the_scheduler_lives_on() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(
            JobSpec::new("test:panic")
                .id("panics")
                .trigger(interval(1))
                .executor("threads"),
        )
        .await
        .unwrap();
    sched
        .add_job(JobSpec::new("test:fail").id("fails").trigger(interval(1)))
        .await
        .unwrap();
    sched
        .add_job(JobSpec::new("test:record").id("fine").trigger(interval(1)))
        .await
        .unwrap();
    sched.start().await.unwrap();
    for _ in 0..2 {
        clock.advance(Duration::from_secs(1));
        let mut seen = (false, false, false);
        while !(seen.0 && seen.1 && seen.2) {
            match next_event(&mut events, |e| {
                matches!(e, Event::JobError { .. } | Event::JobExecuted { .. })
            })
            .await
            {
                Event::JobError { job_id, error, .. } if &*job_id == "panics" => {
                    assert_eq!(error, "panicked: boom");
                    seen.0 = true;
                }
                Event::JobError { job_id, error, .. } if &*job_id == "fails" => {
                    assert_eq!(error, "it broke");
                    seen.1 = true;
                }
                Event::JobExecuted { job_id, .. } if &*job_id == "fine" => seen.2 = true,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn shutdown_waits_for_running_runs() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(JobSpec::new("test:slow").id("slow").trigger(date(1)))
        .await
        .unwrap();
    sched.start().await.unwrap();
    clock.advance(Duration::from_secs(1));
    next_event(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await;
    let shutting = tokio::spawn({
        let sched = sched.clone();
        async move { sched.shutdown(true).await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        !shutting.is_finished(),
        "shutdown(wait) returned while a run was executing"
    );
    sched
        .registry()
        .state()
        .get::<Gate>()
        .unwrap()
        .0
        .notify_waiters();
    shutting.await.unwrap().unwrap();
    let Event::JobExecuted { .. } = next_event(&mut events, executed("slow")).await else {
        unreachable!()
    };
    assert_eq!(sched.state(), SchedulerState::Stopped);
}

#[tokio::test]
async fn shutdown_without_wait_cancels_running_runs() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .add_job(JobSpec::new("test:slow").id("slow").trigger(date(1)))
        .await
        .unwrap();
    sched.start().await.unwrap();
    clock.advance(Duration::from_secs(1));
    next_event(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await;
    sched.shutdown(false).await.unwrap();
    let Event::JobError { error, outcome, .. } =
        next_event(&mut events, |e| matches!(e, Event::JobError { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(outcome, RunOutcome::Interrupted);
    assert!(error.starts_with("interrupted"), "{error}");
}

/// A run longer than its job's `timeout` is stopped and reported as timed out, on the async
/// and the thread-pool executor alike; its `max_instances` slot is free again at once.
#[tokio::test]
async fn timeout_stops_the_run_and_frees_its_slot() {
    for executor in ["default", "threads"] {
        let clock = ManualClock::new(t0());
        let sched = build(&clock);
        let mut events = sched.subscribe();
        sched
            .add_job(
                JobSpec::new("test:slow")
                    .id("stuck")
                    .executor(executor)
                    .timeout(Duration::from_secs(1))
                    .trigger(interval(60)),
            )
            .await
            .unwrap();
        sched.start().await.unwrap();
        sched.run_job("stuck").await.unwrap();
        next_event(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await;
        // The run reads its start time when its task begins: advance until its timeout passes.
        let error_event = async {
            loop {
                match events.recv().await {
                    Ok(e @ Event::JobError { .. }) => return e,
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        };
        tokio::pin!(error_event);
        let event = loop {
            clock.advance(Duration::from_millis(500));
            if let Ok(e) =
                tokio::time::timeout(Duration::from_millis(100), error_event.as_mut()).await
            {
                break e;
            }
        };
        let Event::JobError { error, outcome, .. } = event else {
            unreachable!()
        };
        assert_eq!(outcome, RunOutcome::TimedOut, "{executor}");
        assert_eq!(
            error, "timed out: the run took longer than its timeout of 0:00:01",
            "{executor}"
        );
        // max_instances = 1: the timed-out run no longer holds the slot.
        sched.run_job("stuck").await.unwrap();
        sched.shutdown(false).await.unwrap();
    }
}

#[tokio::test]
async fn lifecycle_errors() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    assert_eq!(
        sched.shutdown(true).await.unwrap_err().kind(),
        ErrorKind::NotRunning
    );
    assert_eq!(
        sched.run_job("x").await.unwrap_err().kind(),
        ErrorKind::NotRunning
    );
    sched.start().await.unwrap();
    let err = sched.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyRunning);
    assert_eq!(err.message(), "scheduler is already running");
    sched.shutdown(true).await.unwrap();
    // A stopped scheduler can start again.
    sched.start().await.unwrap();
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn jobs_added_before_start_are_pending_then_scheduled() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let job = sched
        .add_job(JobSpec::new("test:record").id("early").trigger(interval(5)))
        .await
        .unwrap();
    assert_eq!(job.next_run_time(), None);
    assert_eq!(sched.get_jobs(None).await.unwrap().len(), 1);
    clock.advance(Duration::from_secs(2));
    sched.start().await.unwrap();
    assert_eq!(
        sched
            .get_job("early")
            .await
            .unwrap()
            .unwrap()
            .next_run_time(),
        Some(at(5))
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn run_job_runs_now_without_changing_the_schedule() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    sched
        .add_job(JobSpec::new("test:record").id("r").trigger(interval(60)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(10));
    sched.run_job("r").await.unwrap();
    let Event::JobExecuted {
        scheduled_run_time, ..
    } = next_event(&mut events, executed("r")).await
    else {
        unreachable!()
    };
    assert_eq!(scheduled_run_time, at(10));
    assert_eq!(
        sched.get_job("r").await.unwrap().unwrap().next_run_time(),
        Some(at(60))
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn arguments_and_names_are_checked_when_the_job_is_added() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    sched.start().await.unwrap();
    let err = sched
        .add_job(JobSpec::new("test:add").args([1]).trigger(interval(5)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message()
            .starts_with("args: the arguments do not fit task 'test:add'"),
        "{err}"
    );
    let err = sched.add_job(JobSpec::new("nope:nope")).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("func: no task registered as 'nope:nope'"),
        "{err}"
    );
    let err = sched
        .add_job(JobSpec::new("test:record").id(""))
        .await
        .unwrap_err();
    assert_eq!(err.message(), "id: must not be empty");
    let err = sched
        .add_job(JobSpec::new("test:record").id("x".repeat(192)))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("id: is 192 characters long"),
        "{err}"
    );
    let err = sched
        .add_job(JobSpec::new("test:record").executor("gpu"))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("executor: no executor 'gpu'"),
        "{err}"
    );
    let err = sched
        .add_job(JobSpec::new("test:record").jobstore("redis"))
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("jobstore: no job store 'redis'"),
        "{err}"
    );
    // A job without an id gets a random one; without a name, its id.
    let job = sched
        .add_job(JobSpec::new("test:record").trigger(interval(5)))
        .await
        .unwrap();
    assert_eq!(job.id().len(), 32);
    assert_eq!(job.name(), job.id());
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn modify_job_is_atomic_and_reschedule_recomputes() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    sched.start().await.unwrap();
    sched
        .add_job(
            JobSpec::new("test:add")
                .id("m")
                .args([1, 2])
                .trigger(interval(5)),
        )
        .await
        .unwrap();
    let bad = JobChanges {
        name: Some("renamed".into()),
        args: Some(vec![1.into()]),
        ..Default::default()
    };
    assert_eq!(
        sched.modify_job("m", bad).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let job = sched.get_job("m").await.unwrap().unwrap();
    assert_eq!(job.name(), "m", "a failed modification changes nothing");
    let job = sched
        .modify_job(
            "m",
            JobChanges {
                name: Some("renamed".into()),
                max_instances: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((job.name(), job.max_instances()), ("renamed", 3));
    clock.advance(Duration::from_secs(2));
    let cron: BuiltinTrigger = CronSpec::new().second("*/10").build().unwrap().into();
    let job = sched.reschedule_job("m", cron).await.unwrap();
    assert_eq!(job.next_run_time(), Some(at(10)));
    assert_eq!(
        sched
            .modify_job("ghost", JobChanges::default())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn jitter_stays_within_bounds() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    sched.start().await.unwrap();
    let trigger: BuiltinTrigger = CronSpec {
        minute: Some("*".into()),
        jitter: Some(30.0),
        ..Default::default()
    }
    .build()
    .unwrap()
    .into();
    for i in 0..50 {
        let job = sched
            .add_job(
                JobSpec::new("test:record")
                    .id(format!("j{i}"))
                    .trigger(trigger.clone()),
            )
            .await
            .unwrap();
        let next = job.next_run_time().unwrap();
        // Fires at every whole minute, the first one now; jitter delays it by up to 30 s.
        assert!(next >= at(0) && next <= at(30), "{next}");
        assert_eq!(job.fire_time(), Some(at(0)));
    }
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn listeners_get_only_their_events() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    sched.add_listener(EventMask::JOB_ADDED | EventMask::JOB_REMOVED, move |e| {
        sink.lock().unwrap().push(e.code())
    });
    sched.start().await.unwrap();
    sched
        .add_job(JobSpec::new("test:record").id("l").trigger(interval(5)))
        .await
        .unwrap();
    sched.pause_job("l").await.unwrap();
    sched.remove_job("l", None).await.unwrap();
    sched.shutdown(true).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![EventMask::JOB_ADDED, EventMask::JOB_REMOVED]
    );
}

#[tokio::test]
async fn jobs_are_listed_by_next_run_time_with_paused_last() {
    let clock = ManualClock::new(t0());
    let sched = build(&clock);
    sched.start().await.unwrap();
    for (id, secs) in [("b", 5), ("a", 5), ("c", 2), ("z", 9)] {
        sched
            .add_job(JobSpec::new("test:record").id(id).trigger(interval(secs)))
            .await
            .unwrap();
    }
    sched.pause_job("c").await.unwrap();
    let ids: Vec<String> = sched
        .get_jobs(None)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id().to_owned())
        .collect();
    assert_eq!(ids, ["a", "b", "z", "c"]);
    sched.shutdown(true).await.unwrap();
}

#[test]
fn background_scheduler_has_a_blocking_api() {
    let clock = ManualClock::new(t0());
    let sched = BackgroundScheduler::new(
        Scheduler::builder()
            .registry(registry())
            .jobstore("default", MemoryJobStore::new())
            .clock(clock.clone()),
    )
    .unwrap();
    let mut events = sched.scheduler().subscribe();
    sched.start().unwrap();
    sched
        .add_job(JobSpec::new("test:record").id("bg").trigger(interval(5)))
        .unwrap();
    clock.advance(Duration::from_secs(5));
    let event = loop {
        if let e @ Event::JobExecuted { .. } = events.blocking_recv().unwrap() {
            break e;
        }
    };
    assert_eq!(event.job_id(), Some("bg"));
    assert_eq!(sched.get_jobs().unwrap().len(), 1);
    sched.shutdown(true).unwrap();
}

#[test]
fn blocking_scheduler_runs_until_shut_down() {
    let clock = ManualClock::new(t0());
    let builder = Scheduler::builder()
        .registry(registry())
        .jobstore("default", MemoryJobStore::new())
        .clock(clock.clone())
        .scheduled(
            JobSpec::default().id("tick").trigger(interval(1)),
            |ctx: JobContext, (): ()| async move { Ok::<_, String>(ctx.job_id().to_owned()) },
        );
    let sched = BlockingScheduler::new(builder).unwrap();
    let handle = sched.shutdown_handle();
    let mut events = sched.scheduler().subscribe();
    let watcher = std::thread::spawn(move || {
        loop {
            if let Event::SchedulerStarted = events.blocking_recv().unwrap() {
                break;
            }
        }
        clock.advance(Duration::from_secs(1));
        loop {
            if let Event::JobExecuted { job_id, .. } = events.blocking_recv().unwrap() {
                assert_eq!(&*job_id, "tick");
                break;
            }
        }
        handle.shutdown();
    });
    sched.start().unwrap(); // returns after the watcher's shutdown
    watcher.join().unwrap();
    assert_eq!(sched.scheduler().state(), SchedulerState::Stopped);
}

#[test]
fn decorator_style_jobs_take_the_handler_path_as_func() {
    async fn report(_ctx: JobContext, (): ()) -> Result<(), String> {
        Ok(())
    }
    let sched = Scheduler::builder()
        .jobstore("default", MemoryJobStore::new())
        .scheduled(JobSpec::default().id("daily"), report)
        .build()
        .unwrap();
    // `report` is nested in this test function: its path is `scheduler::<test fn>::report`.
    let func = "scheduler::decorator_style_jobs_take_the_handler_path_as_func:report";
    assert!(
        sched.registry().contains(func),
        "{:?}",
        sched.registry().names()
    );
}

/// `registry(...)` after `scheduled(...)` keeps the decorator-style task (it used to replace
/// the builder's registry, and the job then named a task nobody had registered).
#[test]
fn a_registry_given_after_scheduled_jobs_keeps_their_tasks() {
    async fn report(_ctx: JobContext, (): ()) -> Result<(), String> {
        Ok(())
    }
    struct Pool(u8);
    let mut mine = TaskRegistry::new();
    mine.insert_state(Pool(7));
    let sched = Scheduler::builder()
        .jobstore("default", MemoryJobStore::new())
        .scheduled(JobSpec::default().id("daily"), report)
        .registry(mine)
        .build()
        .unwrap();
    let func = "scheduler::a_registry_given_after_scheduled_jobs_keeps_their_tasks:report";
    assert!(
        sched.registry().contains(func),
        "{:?}",
        sched.registry().names()
    );
    assert_eq!(sched.registry().state().get::<Pool>().map(|p| p.0), Some(7));
}

/// Several instances starting with one configuration each re-add its jobs: a job identical to
/// the stored one keeps its schedule (also an interval whose start the scheduler filled in);
/// a changed one replaces it.
#[tokio::test]
async fn replacing_an_identical_job_keeps_its_schedule() {
    let clock = ManualClock::new(t0());
    let scheduler = build(&clock);
    scheduler.start().await.unwrap();
    let every = |seconds: f64| -> BuiltinTrigger {
        IntervalSpec {
            seconds: Some(seconds),
            ..Default::default()
        }
        .build()
        .unwrap()
        .into()
    };
    let spec = |seconds: f64| {
        JobSpec::new("test:record")
            .id("cfg")
            .trigger(every(seconds))
            .replace_existing(true)
    };
    let first = scheduler.add_job(spec(5.0)).await.unwrap();
    assert_eq!(first.next_run_time(), Some(at(5)));
    clock.advance(Duration::from_secs(2));
    let again = scheduler.add_job(spec(5.0)).await.unwrap();
    assert_eq!(
        again.next_run_time(),
        Some(at(5)),
        "the same job keeps its schedule"
    );
    let changed = scheduler.add_job(spec(7.0)).await.unwrap();
    assert_eq!(
        changed.next_run_time(),
        Some(at(9)),
        "a changed job is replaced"
    );
    let stored = scheduler.get_job("cfg").await.unwrap().unwrap();
    assert_eq!(stored.next_run_time(), Some(at(9)));
    scheduler.shutdown(true).await.unwrap();
}
