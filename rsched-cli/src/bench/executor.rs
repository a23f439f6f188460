//! `rsched bench --executor NAME`: an executor's own overhead per run, submit → result.
//!
//! The executor is driven directly, without a job store or the engine's loop: the harness
//! submits a [`JobRun`] of a no-op task and takes the time until the executor reports the
//! result (its `job_executed` event, delivered to a synchronous listener). Two figures:
//!
//! - **one at a time**: a run is submitted only when the previous one has reported, so each
//!   figure is the pure overhead of one run (for the process pool: encoding the run, the pipe
//!   to a warm worker and back, decoding the result). Percentiles in milliseconds.
//! - **all at once**: every run submitted at once; runs per second until the last reports.
//!
//! Before measuring, the pool is warmed up (the process pool's workers started) by a burst of
//! `max_workers` runs and 100 runs one at a time; those runs are not counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rsched::executor::ExecutorRuntime;
use rsched::trigger::DateSpec;
use rsched::{
    BuiltinTrigger, Event, EventBus, EventMask, Executor, Job, JobContext, JobRun, JobSpec,
    Scheduler, SystemClock, TaskRegistry,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Results as the listener hands them over: when, and the error if the run failed.
type Results = mpsc::UnboundedReceiver<(Instant, Result<(), String>)>;

/// The async no-op task (for the async executor).
const NOOP_ASYNC: &str = "bench:noop_async";
/// The blocking no-op task (for the thread and process pools, which exist for blocking work).
const NOOP_BLOCKING: &str = "bench:noop_blocking";

/// Registers the executor bench's no-op tasks. The `rsched` binary's process-pool workers
/// register them too (see `main`), so the pool's workers know them.
pub fn register_tasks(registry: &mut TaskRegistry) {
    registry.register(NOOP_ASYNC, |_ctx: JobContext, (): ()| async {
        Ok::<_, std::convert::Infallible>(())
    });
    registry.register_blocking(NOOP_BLOCKING, |_ctx: JobContext, (): ()| {
        Ok::<_, std::convert::Infallible>(())
    });
}

/// What the executor bench is asked.
#[derive(Debug)]
pub struct Request<'a> {
    /// The executor type, as in `[executors.x] type`: `async`, `threadpool`, `processpool`.
    pub kind: &'a str,
    /// Measured runs (each of the two figures).
    pub runs: u64,
    /// The pool size (`max_workers`); `None` = the executor's default.
    pub workers: Option<usize>,
}

/// Runs the executor bench; the report is one JSON object (`mode: "executor"`).
///
/// # Errors
/// An unknown executor type, an executor that refuses a run, or a run that fails (the
/// failure's message is given).
pub async fn bench(request: &Request<'_>) -> anyhow::Result<Value> {
    let config = rsched::config::ExecutorConfig {
        kind: request.kind.to_owned(),
        max_workers: request.workers,
        max_tasks_per_child: None,
        memory_limit: None,
    };
    let executor = rsched::executor_from_config(&config)?;
    let func = if matches!(request.kind, "async" | "asyncio") {
        NOOP_ASYNC
    } else {
        NOOP_BLOCKING
    };
    let mut registry = TaskRegistry::new();
    register_tasks(&mut registry);
    let job = bench_job(func, &registry).await?;

    let bus = EventBus::new(16);
    let (done, mut results) = mpsc::unbounded_channel::<(Instant, Result<(), String>)>();
    bus.add_listener(
        EventMask::JOB_EXECUTED | EventMask::JOB_ERROR,
        move |event| {
            let at = Instant::now();
            let result = match event {
                Event::JobError { error, .. } => Err(error.clone()),
                _ => Ok(()),
            };
            let _ = done.send((at, result));
        },
    );
    executor.start(ExecutorRuntime::new(
        Arc::new(registry),
        bus,
        Arc::new(SystemClock),
        Arc::from("rsched-bench"),
        CancellationToken::new(),
    ))?;
    let jobstore: Arc<str> = Arc::from("default");
    let submit = |executor: &Arc<dyn Executor>| {
        executor.submit(JobRun::new(job.clone(), jobstore.clone(), vec![Utc::now()]))
    };
    // Warm-up: start the pool's workers, then let one settle into the request/response rhythm.
    let pool = request.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    for _ in 0..pool {
        submit(&executor)?;
    }
    for _ in 0..pool {
        next_result(&mut results).await?;
    }
    for _ in 0..100 {
        submit(&executor)?;
        next_result(&mut results).await?;
    }

    // One at a time.
    let mut overhead = Vec::with_capacity(usize::try_from(request.runs).unwrap_or(0));
    for _ in 0..request.runs {
        let started = Instant::now();
        submit(&executor)?;
        let finished = next_result(&mut results).await?;
        overhead.push(u64::try_from((finished - started).as_nanos()).unwrap_or(u64::MAX));
    }
    overhead.sort_unstable();

    // All at once.
    let started = Instant::now();
    for _ in 0..request.runs {
        submit(&executor)?;
    }
    let mut last = started;
    for _ in 0..request.runs {
        last = next_result(&mut results).await?;
    }
    let burst = last - started;
    executor.shutdown(true).await;

    let ms = |p: f64| super::percentile(&overhead, p) / 1000.0;
    #[allow(clippy::cast_precision_loss)]
    let runs_per_second = request.runs as f64 / burst.as_secs_f64().max(1e-9);
    Ok(json!({
        "mode": "executor",
        "executor": request.kind,
        "max_workers": request.workers,
        "task": func,
        "runs": request.runs,
        "overhead_ms": {"p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0)},
        "all_at_once_seconds": burst.as_secs_f64(),
        "all_at_once_runs_per_second": runs_per_second,
    }))
}

/// Waits for the next run's result: when it was reported.
async fn next_result(results: &mut Results) -> anyhow::Result<Instant> {
    let (at, result) = tokio::time::timeout(Duration::from_secs(60), results.recv())
        .await
        .map_err(|_| anyhow::anyhow!("no result within 60 s"))?
        .ok_or_else(|| anyhow::anyhow!("the executor's events ended"))?;
    result.map_err(|e| anyhow::anyhow!("a bench run failed: {e}"))?;
    Ok(at)
}

/// The job every bench run is of: `func`, no arguments, any number of runs at once.
async fn bench_job(func: &str, registry: &TaskRegistry) -> anyhow::Result<Job> {
    // A scheduler that is not started queues the job and hands back its full form.
    let scheduler = Scheduler::builder()
        .registry(registry.clone())
        .jobstore("default", rsched::memory::MemoryJobStore::new())
        .build()?;
    let trigger: BuiltinTrigger = DateSpec::default().build()?.into();
    Ok(scheduler
        .add_job(
            JobSpec::new(func)
                .id("bench-executor")
                .trigger(trigger)
                .max_instances(u32::MAX),
        )
        .await?)
}

/// The executor bench as a table.
pub fn table(r: &Value) -> String {
    let lat = |k: &str| r["overhead_ms"][k].as_f64().unwrap_or(0.0);
    let workers = r["max_workers"]
        .as_u64()
        .map_or_else(|| "default size".to_owned(), |n| format!("{n} workers"));
    format!(
        "rsched bench: executor {} ({workers}), task {}, submit → result\n  \
         one at a time  p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms   ({} runs)\n  \
         all at once    {:.3} s for {} runs: {:.0} runs/s\n",
        r["executor"].as_str().unwrap_or(""),
        r["task"].as_str().unwrap_or(""),
        lat("p50"),
        lat("p99"),
        lat("max"),
        r["runs"],
        r["all_at_once_seconds"].as_f64().unwrap_or(0.0),
        r["runs"],
        r["all_at_once_runs_per_second"].as_f64().unwrap_or(0.0),
    )
}
