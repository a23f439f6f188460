//! `rsched bench`: the load harness to size deployments with, like pgbench.
//!
//! - `--jobs N`: N jobs due at one instant, each running a no-op async task. Reports the time to
//!   add them (and the RSS they take), the dispatch throughput from the due time to the last
//!   run, run lateness percentiles and peak RSS.
//! - `--interval-jobs N --seconds D`: N interval jobs every second for D seconds (spread over
//!   the second, or all at once with `--aligned`). Reports lateness percentiles and accounts for
//!   every run.
//! - `--idle N [--own-triggers]`: N hourly interval jobs that do not come due, sharing one
//!   trigger value or each with its own. Reports the time to add them and the RSS per job.
//!
//! - `--listing N [--requests R]`: N idle jobs (names, one in ten tagged `billing`), then R
//!   requests of each kind through the API router: `GET /jobs?limit=50&q=…` (a different
//!   search each time), pages of 50 walked by cursor, `?tag=billing&limit=50`. Reports p50/p99
//!   per kind and the answer sizes.
//!
//! - `--executor NAME [--runs N] [--workers W]`: an executor's own overhead per run, submit →
//!   result of a no-op task, one run at a time and all at once (see [`executor`]).
//!
//! The bench's jobs have `misfire_grace_time = None` (run however late): the harness measures
//! how fast runs happen, so none may be dropped as misfired.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use rsched::trigger::{DateSpec, IntervalSpec};
use rsched::{BuiltinTrigger, JobContext, JobSpec, Scheduler, TaskRegistry, isoformat};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub mod executor;

/// The table (or key) prefix of the bench's own jobs in a shared store.
const BENCH_PREFIX: &str = "rsched_bench_";

/// Arguments of `rsched bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Add this many jobs due at the same instant (no-op async task) and measure the dispatch.
    #[arg(long, conflicts_with_all = ["interval_jobs", "idle", "executor"])]
    jobs: Option<u64>,

    /// Add this many idle interval jobs (not due during the bench) and measure add rate and
    /// memory per job.
    #[arg(long, conflicts_with_all = ["interval_jobs", "executor"])]
    idle: Option<u64>,

    /// With --idle: give every job its own trigger (default: one trigger shared by all, as
    /// when one trigger value is cloned into many jobs).
    #[arg(long, requires = "idle")]
    own_triggers: bool,

    /// Run this many interval jobs every 1 s and measure their lateness.
    #[arg(long, conflicts_with = "executor")]
    interval_jobs: Option<u64>,

    /// Add this many idle jobs and time paged, filtered `GET /jobs` requests on them.
    #[arg(long, conflicts_with_all = ["jobs", "idle", "interval_jobs", "executor"])]
    listing: Option<u64>,

    /// With --listing: requests of each kind.
    #[arg(long, default_value_t = 200, requires = "listing")]
    requests: u64,

    /// Measure this executor's overhead per run, submit → result of a no-op task: `async`,
    /// `threadpool` or `processpool` (no job store involved).
    #[arg(long, value_parser = ["async", "threadpool", "processpool"])]
    executor: Option<String>,

    /// With --executor: runs measured (one at a time, then as many all at once).
    #[arg(long, default_value_t = 10_000, requires = "executor")]
    runs: u64,

    /// With --executor: the pool size, `max_workers` (default: the executor's default).
    #[arg(long, requires = "executor")]
    workers: Option<usize>,

    /// How long the interval jobs run, in seconds.
    #[arg(long, default_value_t = 30, requires = "interval_jobs")]
    seconds: u64,

    /// Start every interval job at the same instant of each second (default: spread evenly
    /// over the second).
    #[arg(long, requires = "interval_jobs")]
    aligned: bool,

    /// The job store (default memory://). SQL and other shared stores get tables (keys) of
    /// their own, prefixed `rsched_bench_`, emptied before and after the run.
    #[arg(long, default_value = "memory://")]
    store: String,

    /// Jobs each instance takes per `acquire_due_jobs` call (the engine's batch; default
    /// 10,000).
    #[arg(long)]
    batch: Option<usize>,

    /// Run this many scheduler instances on the store (each with its own connections, as
    /// separate processes would); shared stores only. Runs made twice are counted.
    #[arg(long, default_value_t = 1)]
    instances: u32,

    /// Run the bench's runtime on this many worker threads and report runs per second per
    /// core (default: one per available CPU). For a hard limit on the CPUs used, start the
    /// bench under `taskset -c 0-(K-1)` as well: the available CPUs are what is reported.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    cores: Option<u16>,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// What the no-op task records.
#[derive(Default)]
struct Recorder {
    /// Lateness of each run in microseconds.
    lateness: Mutex<Vec<u64>>,
    /// (job id, scheduled time in µs) of every run, to find any made twice.
    seen: Mutex<std::collections::HashSet<(String, i64)>>,
    duplicates: AtomicU64,
    runs: AtomicU64,
    target: AtomicU64,
    done: Notify,
    /// Microseconds since the bench's start when the last run finished.
    last_done: AtomicU64,
    origin: Mutex<Option<Instant>>,
}

impl Recorder {
    /// Takes the recorded lateness: `{"p50", "p99", "max"}` in milliseconds.
    fn lateness_summary(&self) -> Value {
        let mut lateness =
            std::mem::take(&mut *self.lateness.lock().unwrap_or_else(|e| e.into_inner()));
        lateness.sort_unstable();
        json!({
            "p50": percentile(&lateness, 0.5),
            "p99": percentile(&lateness, 0.99),
            "max": percentile(&lateness, 1.0),
        })
    }

    fn record(&self, job_id: &str, scheduled: DateTime<Utc>) {
        let fresh = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((job_id.to_owned(), scheduled.timestamp_micros()));
        if !fresh {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        let late = (Utc::now() - scheduled)
            .num_microseconds()
            .unwrap_or(0)
            .max(0);
        self.lateness
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(late.unsigned_abs());
        let origin = *self.origin.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(origin) = origin {
            let at = u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.last_done.fetch_max(at, Ordering::Relaxed);
        }
        let n = self.runs.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.target.load(Ordering::Acquire) {
            self.done.notify_waiters();
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    #[allow(clippy::cast_precision_loss)]
    let ms = sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0;
    ms
}

/// Resident set size of this process now and at its peak, in bytes (Linux `/proc`).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs `rsched bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.jobs.is_none()
        && args.interval_jobs.is_none()
        && args.idle.is_none()
        && args.executor.is_none()
        && args.listing.is_none()
    {
        eprintln!(
            "rsched bench: give --jobs N, --idle N, --interval-jobs N [--seconds D], --listing N or --executor NAME"
        );
        return Ok(ExitCode::from(2));
    }
    if std::env::var_os("RUST_LOG").is_none() {
        let filter = tracing_subscriber::EnvFilter::new("warn");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    } else {
        crate::init_tracing();
    }
    // The CPUs this process may run on (Linux: its affinity, so `taskset` counts), and the
    // worker threads the bench's runtime gets.
    let available = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let cores = args
        .cores
        .map_or(available, |k| usize::from(k).min(available));
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(k) = args.cores {
        builder.worker_threads(usize::from(k));
    }
    let runtime = builder.enable_all().build()?;
    if let Some(kind) = &args.executor {
        let request = executor::Request {
            kind,
            runs: args.runs.max(1),
            workers: args.workers,
        };
        let report = runtime.block_on(executor::bench(&request))?;
        let out = if args.json {
            format!("{}\n", serde_json::to_string(&report)?)
        } else {
            executor::table(&report)
        };
        crate::write_stdout(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = runtime.block_on(async {
        let recorder = Arc::new(Recorder::default());
        let mut registry = TaskRegistry::new();
        let sink = recorder.clone();
        registry.register("bench:noop", move |ctx: JobContext, (): ()| {
            sink.record(ctx.job_id(), ctx.scheduled_run_time());
            async { Ok::<_, std::convert::Infallible>(()) }
        });
        // Its own tables (or key prefix): the bench never touches a deployment's jobs.
        let config = rsched::config::JobStoreConfig {
            url: args.store.clone(),
            prefix: Some(BENCH_PREFIX.to_owned()),
            collection: Some("rsched_bench_jobs".to_owned()),
            migrate: true,
        };
        let open = || rsched::store_from_config(&config);
        let store = open().await?;
        if args.instances > 1 && !store.capabilities().shared {
            anyhow::bail!(
                "--instances needs a store several schedulers can share, not {}",
                args.store
            );
        }
        store.remove_all_jobs().await?;
        let cleanup = store.clone();
        let mut options = rsched::EngineOptions::default();
        if let Some(batch) = args.batch {
            options.batch_size = batch.max(1);
        }
        let scheduler = Scheduler::builder()
            .registry(registry.clone())
            .jobstore_arc("default", store)
            .options(options)
            .build()?;
        scheduler.start().await?;
        let mut others = Vec::new();
        for _ in 1..args.instances {
            let other = Scheduler::builder()
                .registry(registry.clone())
                .jobstore_arc("default", open().await?)
                .options(options)
                .build()?;
            other.start().await?;
            others.push(other);
        }
        let report = match (args.jobs, args.idle, args.interval_jobs) {
            _ if args.listing.is_some() => {
                listing(
                    &scheduler,
                    args.listing.unwrap_or(0),
                    args.requests.max(1),
                    &args.store,
                )
                .await?
            }
            (Some(n), _, _) => due_at_once(&scheduler, &recorder, n, &args.store).await?,
            (None, Some(n), _) => idle(&scheduler, n, args.own_triggers, &args.store).await?,
            (None, None, Some(n)) => {
                interval(
                    &scheduler,
                    &recorder,
                    n,
                    args.seconds,
                    args.aligned,
                    &args.store,
                )
                .await?
            }
            (None, None, None) => unreachable!("checked above"),
        };
        scheduler.shutdown(true).await?;
        for other in others {
            other.shutdown(true).await?;
        }
        cleanup.remove_all_jobs().await?;
        let mut report = report;
        report["instances"] = json!(args.instances);
        report["duplicates"] = json!(recorder.duplicates.load(Ordering::Relaxed));
        report["cores"] = json!(cores);
        if let Some(rate) = report["runs_per_second"].as_f64() {
            #[allow(clippy::cast_precision_loss)]
            let per_core = rate / cores as f64;
            report["runs_per_second_per_core"] = json!(per_core);
        }
        Ok::<_, anyhow::Error>(report)
    })?;
    if args.json {
        crate::write_stdout(&format!("{}\n", serde_json::to_string(&report)?))?;
    } else {
        crate::write_stdout(&table(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn add_in_batches(
    scheduler: &Scheduler,
    specs: impl Iterator<Item = JobSpec>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(10_000);
    for spec in specs {
        batch.push(spec);
        if batch.len() == 10_000 {
            scheduler.add_jobs(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        scheduler.add_jobs(batch).await?;
    }
    Ok(())
}

async fn due_at_once(
    scheduler: &Scheduler,
    recorder: &Arc<Recorder>,
    n: u64,
    store: &str,
) -> anyhow::Result<Value> {
    recorder.target.store(n, Ordering::Release);
    // Due after adding: 1 s plus the time adding takes at 100,000 jobs/s in memory, 1,000
    // jobs/s in a server-backed store (a slow one must not start running jobs while the rest
    // are still being added, or the dispatch figure would include the adding).
    let add_rate = if store.starts_with("memory:") {
        100_000.0
    } else {
        1_000.0
    };
    #[allow(clippy::cast_precision_loss)]
    let lead = Duration::from_secs(1) + Duration::from_secs_f64(n as f64 / add_rate);
    let due = Utc::now() + chrono::Duration::from_std(lead)?;
    let trigger: BuiltinTrigger = DateSpec {
        run_date: Some(isoformat(&due.fixed_offset())),
        timezone: Some("UTC".into()),
    }
    .build()?
    .into();
    let (rss_before, _) = rss();
    let started = Instant::now();
    add_in_batches(
        scheduler,
        (0..n).map(|i| {
            JobSpec::new("bench:noop")
                .id(format!("bench-{i}"))
                .trigger(trigger.clone())
                .misfire_grace_time(None)
        }),
    )
    .await?;
    let add = started.elapsed();
    let (rss_after, _) = rss();
    let overran = Utc::now() > due;
    let wait_for = recorder.done.notified();
    *recorder.origin.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    let origin_utc = Utc::now();
    if recorder.runs.load(Ordering::Acquire) < n {
        tokio::time::timeout(lead + Duration::from_secs(120), wait_for)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "only {} of {n} runs happened",
                    recorder.runs.load(Ordering::Acquire)
                )
            })?;
    }
    let last_done = origin_utc
        + chrono::Duration::microseconds(i64::try_from(
            recorder.last_done.load(Ordering::Acquire),
        )?);
    let dispatch = (last_done - due).to_std().unwrap_or_default();
    let lateness = recorder.lateness_summary();
    let (_, peak) = rss();
    #[allow(clippy::cast_precision_loss)]
    let report = json!({
        "mode": "jobs",
        "store": store,
        "jobs": n,
        "runs": recorder.runs.load(Ordering::Acquire),
        "missed": scheduler.counters().missed.load(Ordering::Relaxed),
        "add_seconds": add.as_secs_f64(),
        "add_jobs_per_second": n as f64 / add.as_secs_f64(),
        "rss_per_job_bytes": rss_after.saturating_sub(rss_before) / n.max(1),
        "dispatch_seconds": dispatch.as_secs_f64(),
        "runs_per_second": n as f64 / dispatch.as_secs_f64().max(1e-9),
        "lateness_ms": lateness,
        "peak_rss_bytes": peak,
        "adding_overran_the_due_time": overran,
    });
    Ok(report)
}

async fn idle(
    scheduler: &Scheduler,
    n: u64,
    own_triggers: bool,
    store: &str,
) -> anyhow::Result<Value> {
    let start = Utc::now() + chrono::Duration::hours(1);
    let interval = |first: DateTime<Utc>| -> BuiltinTrigger {
        IntervalSpec {
            hours: Some(1.0),
            start_date: Some(isoformat(&first.fixed_offset())),
            timezone: Some("UTC".into()),
            ..Default::default()
        }
        .build()
        .map(Into::into)
        .unwrap_or_else(|_| unreachable!("a valid interval"))
    };
    let shared = interval(start);
    let spec = |i: u64| {
        let trigger = if own_triggers {
            // Spread over the hour: every job has its own trigger and start date.
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let offset = (i as f64 / n as f64 * 3_600_000_000.0) as i64;
            interval(start + chrono::Duration::microseconds(offset))
        } else {
            shared.clone()
        };
        JobSpec::new("bench:noop")
            .id(format!("idle-{i}"))
            .trigger(trigger)
    };
    let (rss_before, _) = rss();
    let started = Instant::now();
    add_in_batches(scheduler, (0..n).map(spec)).await?;
    let add = started.elapsed();
    let (rss_after, peak) = rss();
    let held = scheduler.get_jobs(None).await?.len();
    #[allow(clippy::cast_precision_loss)]
    Ok(json!({
        "mode": "idle",
        "store": store,
        "own_triggers": own_triggers,
        "jobs": n,
        "jobs_held": held,
        "add_seconds": add.as_secs_f64(),
        "add_jobs_per_second": n as f64 / add.as_secs_f64(),
        "rss_per_job_bytes": rss_after.saturating_sub(rss_before) / n.max(1),
        "peak_rss_bytes": peak,
    }))
}

/// `--listing N`: N idle jobs, then timed `GET /jobs` pages through the API router.
async fn listing(
    scheduler: &Scheduler,
    n: u64,
    requests: u64,
    store: &str,
) -> anyhow::Result<Value> {
    use tower::ServiceExt as _;
    let trigger: BuiltinTrigger = IntervalSpec {
        hours: Some(1.0),
        start_date: Some(isoformat(
            &(Utc::now() + chrono::Duration::hours(1)).fixed_offset(),
        )),
        timezone: Some("UTC".into()),
        ..Default::default()
    }
    .build()?
    .into();
    let spec = |i: u64| {
        let spec = JobSpec::new("bench:noop")
            .id(format!("cust-{i:06}"))
            .name(format!("Customer {i}"))
            .trigger(trigger.clone());
        if i % 10 == 0 {
            spec.tag("billing")
        } else {
            spec
        }
    };
    let started = Instant::now();
    add_in_batches(scheduler, (0..n).map(spec)).await?;
    let add = started.elapsed();
    let app = rsched::http::router(scheduler.clone(), rsched::http::ApiOptions::default());
    let get = |uri: String| {
        let app = app.clone();
        async move {
            let request = axum::http::Request::get(&uri)
                .header("host", "localhost")
                .body(axum::body::Body::empty())?;
            let started = Instant::now();
            let response = app.oneshot(request).await?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            let took = started.elapsed();
            anyhow::ensure!(status.is_success(), "{uri}: {status}");
            Ok::<_, anyhow::Error>((took, body))
        }
    };
    let mut report = json!({"mode": "listing", "store": store, "jobs": n,
        "add_seconds": add.as_secs_f64(), "requests": requests});
    let mut kinds = serde_json::Map::new();
    // A search for a different customer number each time (about ten matches at 100,000).
    let mut times = Vec::new();
    let mut bytes = 0;
    for i in 0..requests {
        let term = format!("cust-{:05}", (i * 7919) % (n / 10).max(1));
        let (took, body) = get(format!("/jobs?limit=50&q={term}")).await?;
        times.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        bytes = body.len();
    }
    kinds.insert("q".into(), timings(&mut times, bytes));
    // Pages walked by cursor from the first.
    let mut cursor: Option<String> = None;
    for _ in 0..requests {
        let uri = match &cursor {
            Some(c) => format!("/jobs?limit=50&cursor={c}"),
            None => "/jobs?limit=50".to_owned(),
        };
        let (took, body) = get(uri).await?;
        times.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        bytes = body.len();
        let page: Value = serde_json::from_slice(&body)?;
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    kinds.insert("pages".into(), timings(&mut times, bytes));
    for _ in 0..requests {
        let (took, body) = get("/jobs?limit=50&tag=billing".to_owned()).await?;
        times.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        bytes = body.len();
    }
    kinds.insert("tag".into(), timings(&mut times, bytes));
    report["ms"] = Value::Object(kinds);
    Ok(report)
}

/// p50/p99 of `times` (µs, emptied) in ms, with an answer's size.
fn timings(times: &mut Vec<u64>, bytes: usize) -> Value {
    times.sort_unstable();
    let out =
        json!({"p50": percentile(times, 0.5), "p99": percentile(times, 0.99), "bytes": bytes});
    times.clear();
    out
}

async fn interval(
    scheduler: &Scheduler,
    recorder: &Arc<Recorder>,
    n: u64,
    seconds: u64,
    aligned: bool,
    store: &str,
) -> anyhow::Result<Value> {
    let start = Utc::now() + chrono::Duration::seconds(2);
    let end = start + chrono::Duration::seconds(i64::try_from(seconds)?);
    let mut expected = 0u64;
    let specs: Vec<JobSpec> = (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let offset = if aligned {
                0
            } else {
                (i as f64 / n as f64 * 1_000_000.0) as i64
            };
            let first = start + chrono::Duration::microseconds(offset);
            // Fire times first, first + 1 s, ... before `end`.
            expected += u64::try_from(
                ((end - first).num_microseconds().unwrap_or(0) + 999_999) / 1_000_000,
            )
            .unwrap_or(0);
            let trigger: BuiltinTrigger = IntervalSpec {
                seconds: Some(1.0),
                start_date: Some(isoformat(&first.fixed_offset())),
                end_date: Some(isoformat(
                    &(end - chrono::Duration::microseconds(1)).fixed_offset(),
                )),
                timezone: Some("UTC".into()),
                ..Default::default()
            }
            .build()
            .map(Into::into)
            .unwrap_or_else(|_| unreachable!("a valid interval"));
            JobSpec::new("bench:noop")
                .id(format!("interval-{i}"))
                .trigger(trigger)
                .misfire_grace_time(None)
        })
        .collect();
    recorder.target.store(expected, Ordering::Release);
    let wait_for = recorder.done.notified();
    add_in_batches(scheduler, specs.into_iter()).await?;
    let deadline = (end - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(30);
    let finished = tokio::time::timeout(deadline, wait_for).await.is_ok()
        || recorder.runs.load(Ordering::Acquire) >= expected;
    let lateness = recorder.lateness_summary();
    let (_, peak) = rss();
    Ok(json!({
        "mode": "interval",
        "store": store,
        "jobs": n,
        "seconds": seconds,
        "aligned": aligned,
        "expected_runs": expected,
        "runs": recorder.runs.load(Ordering::Acquire),
        "missed": scheduler.counters().missed.load(Ordering::Relaxed),
        "all_accounted_for": finished && recorder.runs.load(Ordering::Acquire) == expected,
        "lateness_ms": lateness,
        "peak_rss_bytes": peak,
    }))
}

fn table(r: &Value) -> String {
    let mut out = String::new();
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    let lat = |k: &str| r["lateness_ms"][k].as_f64().unwrap_or(0.0);
    #[allow(clippy::cast_precision_loss)]
    let mib = |k: &str| r[k].as_u64().unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let print_add = |out: &mut String| {
        let _ = writeln!(
            out,
            "  add          {:>9.3} s   ({:.0} jobs/s)",
            f("add_seconds"),
            f("add_jobs_per_second")
        );
        let _ = writeln!(out, "  RSS per job  {:>9} bytes", r["rss_per_job_bytes"]);
    };
    if r["mode"] == "jobs" {
        let _ = writeln!(
            out,
            "rsched bench: {} jobs due at once, store {}",
            r["jobs"],
            r["store"].as_str().unwrap_or("")
        );
        print_add(&mut out);
        let _ = writeln!(
            out,
            "  dispatch     {:>9.3} s   ({:.0} runs/s from the due time to the last run)",
            f("dispatch_seconds"),
            f("runs_per_second")
        );
        let _ = writeln!(
            out,
            "  cores        {:>9}     ({:.0} runs/s per core)",
            r["cores"],
            f("runs_per_second_per_core")
        );
        let _ = writeln!(
            out,
            "  lateness     p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
            lat("p50"),
            lat("p99"),
            lat("max")
        );
        let _ = writeln!(
            out,
            "  runs         {} of {}, {} missed, {} made twice, {} instance(s)",
            r["runs"], r["jobs"], r["missed"], r["duplicates"], r["instances"]
        );
        let _ = writeln!(out, "  peak RSS     {:>9.1} MiB", mib("peak_rss_bytes"));
        if r["adding_overran_the_due_time"] == true {
            let _ = writeln!(
                out,
                "  note: adding took longer than the lead time; lateness includes the overrun"
            );
        }
    } else if r["mode"] == "listing" {
        let _ = writeln!(
            out,
            "rsched bench: GET /jobs pages on {} jobs, store {}, {} requests each",
            r["jobs"],
            r["store"].as_str().unwrap_or(""),
            r["requests"]
        );
        let _ = writeln!(out, "  add          {:>9.3} s", f("add_seconds"));
        for (kind, label) in [
            ("q", "?limit=50&q=cust-0NNNN"),
            ("pages", "?limit=50&cursor=… (walk)"),
            ("tag", "?limit=50&tag=billing"),
        ] {
            let k = &r["ms"][kind];
            let _ = writeln!(
                out,
                "  {label:<28} p50 {:>7.2} ms   p99 {:>7.2} ms   {} bytes",
                k["p50"].as_f64().unwrap_or(0.0),
                k["p99"].as_f64().unwrap_or(0.0),
                k["bytes"]
            );
        }
    } else if r["mode"] == "idle" {
        let _ = writeln!(
            out,
            "rsched bench: {} idle jobs ({}), store {}",
            r["jobs"],
            if r["own_triggers"] == true {
                "each with its own trigger"
            } else {
                "sharing one trigger"
            },
            r["store"].as_str().unwrap_or("")
        );
        print_add(&mut out);
        let _ = writeln!(out, "  jobs held    {:>9}", r["jobs_held"]);
        let _ = writeln!(out, "  peak RSS     {:>9.1} MiB", mib("peak_rss_bytes"));
    } else {
        let _ = writeln!(
            out,
            "rsched bench: {} interval jobs every 1 s for {} s ({}), store {}",
            r["jobs"],
            r["seconds"],
            if r["aligned"] == true {
                "aligned"
            } else {
                "spread over the second"
            },
            r["store"].as_str().unwrap_or("")
        );
        let _ = writeln!(
            out,
            "  runs         {} of {} expected, {} missed, all accounted for: {}",
            r["runs"], r["expected_runs"], r["missed"], r["all_accounted_for"]
        );
        let _ = writeln!(
            out,
            "  lateness     p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            lat("p50"),
            lat("p99"),
            lat("max")
        );
        let _ = writeln!(out, "  peak RSS     {:>9.1} MiB", mib("peak_rss_bytes"));
    }
    out
}
