//! `GET /metrics`: Prometheus text format, rendered by `metrics-exporter-prometheus` from what
//! rsched records through the `metrics` facade (see `scheduler_core::event::metric_names`):
//!
//! - `rsched_runs_submitted_total`, `rsched_runs_executed_total`, `rsched_runs_failed_total`,
//!   `rsched_runs_retried_total`, `rsched_runs_missed_total`, `rsched_runs_skipped_max_instances_total`
//!   (counters);
//! - `rsched_run_lateness_seconds`, `rsched_run_duration_seconds`,
//!   `rsched_store_acquire_seconds{jobstore}`, `rsched_store_release_seconds{jobstore}`
//!   (histograms);
//! - `rsched_jobs{state="scheduled"|"paused"}` (gauge), `rsched_scheduler_running` (gauge);
//! - `rsched_clock_offset_seconds{jobstore=...}` (gauge): each store server's clock minus this
//!   host's, for stores with their own clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use scheduler_core::{Event, EventMask, JobStatus, Scheduler, SchedulerState};

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
    }
}

/// The Prometheus recorder this crate installs as the process's global `metrics` recorder, the
/// first time a router is built (`None` when the application installed its own recorder first:
/// its exporter then carries rsched's metrics, and `GET /metrics` answers 404 saying so).
static RECORDER: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();

/// The recorder `GET /metrics` renders (see [`RECORDER`]). Histograms get [`BUCKETS`].
pub(crate) fn recorder() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            scheduler_core::event::describe_metrics();
            metrics::describe_gauge!("rsched_jobs", "Jobs by state.");
            metrics::describe_gauge!(
                "rsched_scheduler_running",
                "1 when the scheduler processes jobs."
            );
            metrics::describe_gauge!(
                "rsched_clock_offset_seconds",
                metrics::Unit::Seconds,
                "A store server's clock minus this host's, as last measured (negative: this host is ahead). The scheduler follows the first store's."
            );
            Some(handle)
        })
        .clone()
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    description = "Prometheus text format, from the `metrics` facade's Prometheus exporter: run counters (rsched_runs_*_total), histograms of run duration, lateness and job-store acquisition and release times (seconds), jobs by state, the scheduler's state, store clock offsets. 404 when the application installed its own `metrics` recorder (rsched's metrics are in its exporter).",
    responses((status = 200, description = "Metrics", content_type = "text/plain", body = String),
        (status = 404, description = "The application exports metrics through its own recorder", body = crate::openapi::ErrorBody)))]
pub(crate) async fn render(State(api): State<Api>) -> Result<impl IntoResponse, ApiError> {
    let Some(handle) = recorder() else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "metrics: this application installed its own `metrics` recorder; rsched's metrics are in its exporter",
        ));
    };
    for state in [JobStatus::Scheduled, JobStatus::Paused] {
        let n = crate::jobs_in(&api, state).await?;
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("rsched_jobs", "state" => state.as_str()).set(n as f64);
    }
    metrics::gauge!("rsched_scheduler_running").set(
        if api.scheduler.state() == SchedulerState::Running {
            1.0
        } else {
            0.0
        },
    );
    for skew in api.scheduler.clock_skews() {
        metrics::gauge!("rsched_clock_offset_seconds", "jobstore" => skew.jobstore.clone())
            .set(skew.offset_seconds());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    ))
}
