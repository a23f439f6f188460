//! The process pool against tasks that abort, segfault, spin and allocate without bound, with
//! a well-behaved job beside them; and shutdown with and without waiting.
//!
//! `harness = false`: this test binary is its own worker program (its `main` calls
//! `run_worker_if_requested` first, as an application does).

use std::time::Duration;

use executor_process::{ProcessPoolExecutor, ProcessPoolOptions, run_worker_if_requested};
use scheduler_core::trigger::{DateSpec, IntervalSpec};
use scheduler_core::{
    BuiltinTrigger, Event, JobContext, JobSpec, RunOutcome, Scheduler, TaskRegistry,
};
use store_memory::MemoryJobStore;
use tokio::sync::broadcast;

fn registry() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    registry.register("test:tick", |_ctx: JobContext, (): ()| async move {
        Ok::<_, String>(std::process::id())
    });
    registry.register_blocking(
        "test:abort",
        |_ctx: JobContext, (): ()| -> Result<(), String> { std::process::abort() },
    );
    registry.register_blocking(
        "test:segfault",
        |_ctx: JobContext, (): ()| -> Result<(), String> {
            // A real SIGSEGV, delivered to the worker itself. Rust's own SIGSEGV handler (stack
            // overflow detection) resets the default action on the first one, so send it twice.
            for _ in 0..2 {
                let _ = std::process::Command::new("kill")
                    .args(["-SEGV", &std::process::id().to_string()])
                    .status();
                std::thread::sleep(Duration::from_millis(200));
            }
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        },
    );
    registry.register_blocking(
        "test:spin",
        |_ctx: JobContext, (): ()| -> Result<(), String> {
            loop {
                std::hint::spin_loop();
            }
        },
    );
    registry.register_blocking(
        "test:hog",
        |_ctx: JobContext, (): ()| -> Result<usize, String> {
            let mut kept: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut block = vec![0u8; 16 << 20];
                block[0] = 1;
                kept.push(block);
                if kept.len() > 1 << 20 {
                    return Ok(kept.len());
                }
            }
        },
    );
    registry.register(
        "test:sleep",
        |_ctx: JobContext, (secs,): (f64,)| async move {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            Ok::<_, String>("slept")
        },
    );
    registry
}

fn scheduler() -> Scheduler {
    Scheduler::builder()
        .registry(registry())
        .jobstore("default", MemoryJobStore::new())
        .executor(
            "processpool",
            ProcessPoolExecutor::new(ProcessPoolOptions {
                max_workers: Some(3),
                max_tasks_per_child: Some(50),
                memory_limit: Some(512 << 20),
                program: None,
            }),
        )
        .build()
        .unwrap()
}

async fn wait_for(rx: &mut broadcast::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("the event within 30 s")
}

fn now_job(id: &str, func: &str) -> JobSpec {
    JobSpec::new(func)
        .id(id)
        .executor("processpool")
        .trigger(BuiltinTrigger::Date(DateSpec::default().build().unwrap()))
}

fn error_of(id: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::JobError { job_id, .. } if &**job_id == id)
}

async fn misbehaving_tasks_leave_the_pool_and_the_scheduler_running() {
    let sched = scheduler();
    let mut events = sched.subscribe();
    let mut ticks = sched.subscribe();
    sched.start().await.unwrap();
    sched
        .add_job(
            JobSpec::new("test:tick")
                .id("tick")
                .executor("processpool")
                .trigger(BuiltinTrigger::Interval(
                    IntervalSpec {
                        seconds: Some(1.0),
                        ..Default::default()
                    }
                    .build()
                    .unwrap(),
                )),
        )
        .await
        .unwrap();
    for (id, func, cause) in [
        ("abort", "test:abort", "SIGABRT"),
        ("segfault", "test:segfault", "SIGSEGV"),
        ("hog", "test:hog", "SIGABRT"),
    ] {
        sched.add_job(now_job(id, func)).await.unwrap();
        let Event::JobError { error, outcome, .. } = wait_for(
            &mut events,
            move |e| matches!(e, Event::JobError { job_id, .. } if &**job_id == id),
        )
        .await
        else {
            unreachable!()
        };
        assert_eq!(outcome, RunOutcome::Crashed, "{id}: {error}");
        assert!(error.contains(cause), "{id}: {error}");
        eprintln!("ok: {id} -> crashed: {error}");
    }
    sched
        .add_job(now_job("spin", "test:spin").timeout(Duration::from_secs(1)))
        .await
        .unwrap();
    let Event::JobError { error, outcome, .. } = wait_for(&mut events, error_of("spin")).await
    else {
        unreachable!()
    };
    assert_eq!(outcome, RunOutcome::TimedOut, "{error}");
    eprintln!("ok: spin -> timed out: {error}");
    // The well-behaved job ran on time all along, and keeps running.
    let mut on_time = 0;
    loop {
        match ticks.try_recv() {
            Ok(Event::JobExecuted {
                job_id,
                scheduled_run_time,
                started,
                ..
            }) if &*job_id == "tick" => {
                let late = started - scheduled_run_time;
                assert!(
                    late < chrono::Duration::milliseconds(500),
                    "tick late by {late}"
                );
                on_time += 1;
            }
            Ok(Event::JobMissed { job_id, .. }) if &*job_id == "tick" => {
                panic!("the well-behaved job missed a run")
            }
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    assert!(
        on_time >= 1,
        "the tick job ran {on_time} times beside the crashes"
    );
    for _ in 0..2 {
        let Event::JobExecuted {
            scheduled_run_time,
            started,
            ..
        } = wait_for(
            &mut ticks,
            |e| matches!(e, Event::JobExecuted { job_id, .. } if &**job_id == "tick"),
        )
        .await
        else {
            unreachable!()
        };
        assert!(started - scheduled_run_time < chrono::Duration::milliseconds(500));
        on_time += 1;
    }
    eprintln!("ok: tick ran {on_time} times on time beside them, and still runs");
    sched.shutdown(true).await.unwrap();
}

async fn shutdown_waits_or_interrupts() {
    let sched = scheduler();
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    sched
        .add_job(now_job("short", "test:sleep").args([serde_json::json!(0.3)]))
        .await
        .unwrap();
    wait_for(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await;
    sched.shutdown(true).await.unwrap();
    let mut finished = false;
    while let Ok(e) = events.try_recv() {
        finished |= matches!(e, Event::JobExecuted { job_id, .. } if &*job_id == "short");
    }
    assert!(
        finished,
        "shutdown(wait = true) returns after the run finished"
    );
    eprintln!("ok: shutdown(wait = true) let the run finish");

    let sched = scheduler();
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    sched
        .add_job(now_job("long", "test:sleep").args([serde_json::json!(60.0)]))
        .await
        .unwrap();
    wait_for(&mut events, |e| matches!(e, Event::JobSubmitted { .. })).await;
    sched.shutdown(false).await.unwrap();
    let Event::JobError { outcome, error, .. } = wait_for(&mut events, error_of("long")).await
    else {
        unreachable!()
    };
    assert_eq!(outcome, RunOutcome::Interrupted, "{error}");
    eprintln!("ok: shutdown(wait = false) -> interrupted: {error}");
}

fn main() {
    run_worker_if_requested(registry);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        misbehaving_tasks_leave_the_pool_and_the_scheduler_running().await;
        shutdown_waits_or_interrupts().await;
    });
    eprintln!("test result: ok. 2 passed");
}
