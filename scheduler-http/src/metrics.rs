//! `GET /metrics`: Prometheus text format.
//!
//! - `rsched_runs_submitted_total`, `rsched_runs_executed_total`, `rsched_runs_failed_total`,
//!   `rsched_runs_retried_total`, `rsched_runs_missed_total`, `rsched_runs_skipped_max_instances_total`
//!   (counters);
//! - `rsched_run_lateness_seconds` (histogram): from a run's scheduled time to its start;
//! - `rsched_jobs{state="scheduled"|"paused"}` (gauge), `rsched_scheduler_running` (gauge);
//! - `rsched_clock_offset_seconds{jobstore=...}` (gauge): each store server's clock minus this
//!   host's, for stores with their own clock.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use scheduler_core::{Event, EventMask, Scheduler, SchedulerState};

use crate::{Api, ApiError};

/// Upper bounds of the lateness buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The lateness histogram, fed by a listener on the scheduler's events.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    count: AtomicU64,
    /// Sum of lateness in microseconds.
    sum_micros: AtomicU64,
}

impl Metrics {
    pub(crate) fn attach(scheduler: &Scheduler) -> Arc<Metrics> {
        let metrics = Arc::new(Metrics::default());
        let sink = metrics.clone();
        scheduler.add_listener(
            EventMask::JOB_EXECUTED | EventMask::JOB_ERROR,
            move |event| {
                if let Event::JobExecuted {
                    scheduled_run_time,
                    started,
                    ..
                }
                | Event::JobError {
                    scheduled_run_time,
                    started,
                    ..
                } = event
                {
                    let micros = (*started - *scheduled_run_time)
                        .num_microseconds()
                        .unwrap_or(0)
                        .max(0)
                        .unsigned_abs();
                    sink.observe(micros);
                }
            },
        );
        metrics
    }

    /// The lateness below which a share `q` (0..=1) of this instance's runs started: the upper
    /// bound of the bucket that holds that quantile, in seconds; `None` before any run (and
    /// past the last bucket, 10 s).
    pub(crate) fn lateness_quantile(&self, q: f64) -> Option<f64> {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return None;
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let rank = ((count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (slot, bound) in BUCKETS.iter().enumerate() {
            seen += self.buckets[slot].load(Ordering::Relaxed);
            if seen >= rank {
                return Some(*bound);
            }
        }
        None
    }

    /// How many runs' lateness was observed.
    pub(crate) fn lateness_count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn observe(&self, micros: u64) {
        #[allow(clippy::cast_precision_loss)]
        let secs = micros as f64 / 1e6;
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    description = "Prometheus text format: run counters, a lateness histogram, jobs by state.",
    responses((status = 200, description = "Metrics", content_type = "text/plain", body = String)))]
pub(crate) async fn render(State(api): State<Api>) -> Result<impl IntoResponse, ApiError> {
    let jobs = api.scheduler.get_jobs(None).await?;
    let paused = jobs.iter().filter(|j| j.is_paused()).count();
    let c = api.scheduler.counters();
    let m = &api.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        "rsched_runs_submitted_total",
        "Runs submitted to executors.",
        c.submitted.load(Ordering::Relaxed),
    );
    counter(
        "rsched_runs_executed_total",
        "Runs that finished successfully.",
        c.executed.load(Ordering::Relaxed),
    );
    counter(
        "rsched_runs_failed_total",
        "Runs that failed (error or panic) after their last attempt.",
        c.errors.load(Ordering::Relaxed),
    );
    counter(
        "rsched_runs_retried_total",
        "Failed runs that were retried (their job has retries left).",
        c.retries.load(Ordering::Relaxed),
    );
    counter(
        "rsched_runs_missed_total",
        "Run times missed (beyond misfire_grace_time, or coalesced away).",
        c.missed.load(Ordering::Relaxed),
    );
    counter(
        "rsched_runs_skipped_max_instances_total",
        "Runs skipped because max_instances were running.",
        c.max_instances.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP rsched_run_lateness_seconds From a run's scheduled time to its start.\n\
         # TYPE rsched_run_lateness_seconds histogram"
    );
    let mut cumulative = 0;
    for (i, bound) in BUCKETS.iter().enumerate() {
        cumulative += m.buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "rsched_run_lateness_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += m.buckets[BUCKETS.len()].load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let sum = m.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "rsched_run_lateness_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
         rsched_run_lateness_seconds_sum {sum}\n\
         rsched_run_lateness_seconds_count {}",
        m.count.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP rsched_jobs Jobs by state.\n# TYPE rsched_jobs gauge\n\
         rsched_jobs{{state=\"scheduled\"}} {}\nrsched_jobs{{state=\"paused\"}} {paused}",
        jobs.len() - paused
    );
    let _ = writeln!(
        out,
        "# HELP rsched_scheduler_running 1 when the scheduler processes jobs.\n\
         # TYPE rsched_scheduler_running gauge\nrsched_scheduler_running {}",
        u8::from(api.scheduler.state() == SchedulerState::Running)
    );
    let skews = api.scheduler.clock_skews();
    if !skews.is_empty() {
        let _ = writeln!(
            out,
            "# HELP rsched_clock_offset_seconds A store server's clock minus this host's, as last \
             measured (negative: this host is ahead). The scheduler follows the first store's.\n\
             # TYPE rsched_clock_offset_seconds gauge"
        );
        for skew in skews {
            let _ = writeln!(
                out,
                "rsched_clock_offset_seconds{{jobstore=\"{}\"}} {}",
                skew.jobstore.replace(['\\', '"', '\n'], "_"),
                skew.offset_seconds()
            );
        }
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
