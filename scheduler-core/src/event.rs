//! Scheduler events, APScheduler's `EVENT_*`: listeners with a mask, and a broadcast stream.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

bitflags::bitflags! {
    /// Which events a listener receives (APScheduler's `EVENT_*` constants, combinable with `|`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct EventMask: u32 {
        /// The scheduler started.
        const SCHEDULER_STARTED = 1 << 0;
        /// The scheduler shut down.
        const SCHEDULER_SHUTDOWN = 1 << 1;
        /// Job processing was paused.
        const SCHEDULER_PAUSED = 1 << 2;
        /// Job processing was resumed.
        const SCHEDULER_RESUMED = 1 << 3;
        /// All jobs of a store were removed.
        const ALL_JOBS_REMOVED = 1 << 4;
        /// A job was added.
        const JOB_ADDED = 1 << 5;
        /// A job was removed.
        const JOB_REMOVED = 1 << 6;
        /// A job was modified (including pause, resume, reschedule).
        const JOB_MODIFIED = 1 << 7;
        /// A job was submitted to its executor.
        const JOB_SUBMITTED = 1 << 8;
        /// A run finished successfully.
        const JOB_EXECUTED = 1 << 9;
        /// A run raised an error (or panicked).
        const JOB_ERROR = 1 << 10;
        /// A run time was missed (started later than `misfire_grace_time`, or coalesced away).
        const JOB_MISSED = 1 << 11;
        /// A run was skipped because `max_instances` runs were already executing.
        const JOB_MAX_INSTANCES = 1 << 12;
        /// A stored job was quarantined: kept, but excluded from scheduling.
        const JOB_QUARANTINED = 1 << 13;
        /// A run failed and will be retried (see [`RetryPolicy`](crate::RetryPolicy)).
        const JOB_RETRY = 1 << 14;
        /// Every event.
        const ALL = (1 << 15) - 1;
    }
}

/// Something that happened in a scheduler.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The scheduler started.
    SchedulerStarted,
    /// The scheduler shut down.
    SchedulerShutdown,
    /// Job processing was paused.
    SchedulerPaused,
    /// Job processing was resumed.
    SchedulerResumed,
    /// All jobs of a store were removed.
    AllJobsRemoved {
        /// Job store alias.
        jobstore: Arc<str>,
    },
    /// A job was added.
    JobAdded {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
    },
    /// A job was removed.
    JobRemoved {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
    },
    /// A job was modified.
    JobModified {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
    },
    /// A job was submitted to its executor for these run times.
    JobSubmitted {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
        /// The scheduled run times submitted (UTC).
        run_times: Vec<DateTime<Utc>>,
    },
    /// A submission was refused: `max_instances` runs were already executing.
    JobMaxInstances {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
        /// The run times skipped (UTC).
        run_times: Vec<DateTime<Utc>>,
    },
    /// A run finished successfully.
    JobExecuted {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
        /// The run time this run was for (UTC).
        scheduled_run_time: DateTime<Utc>,
        /// When the run started (UTC).
        started: DateTime<Utc>,
        /// How long it took.
        #[serde(with = "crate::event::secs")]
        duration: Duration,
        /// The task's return value.
        retval: Value,
        /// Which attempt at the run time this was (1 = the first; see
        /// [`RetryPolicy`](crate::RetryPolicy)).
        attempt: u32,
        /// The run was asked for by a backfill.
        backfill: bool,
    },
    /// A run failed.
    JobError {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
        /// The run time this run was for (UTC).
        scheduled_run_time: DateTime<Utc>,
        /// When the run started (UTC).
        started: DateTime<Utc>,
        /// How long it took.
        #[serde(with = "crate::event::secs")]
        duration: Duration,
        /// The error (a panic's message for a panic).
        error: String,
        /// `error`, or how the run was cut off: `timed_out`, `interrupted`, `crashed`.
        outcome: crate::history::RunOutcome,
        /// Which attempt at the run time this was: for a job with retries, the last one
        /// (`job_error` comes only once no retry is left; earlier failures are `job_retry`).
        attempt: u32,
        /// The run was asked for by a backfill.
        backfill: bool,
    },
    /// A run failed and will be run again at `retry_at` (the job's
    /// [`RetryPolicy`](crate::RetryPolicy) has retries left): Dkron's and Temporal's retries.
    JobRetry {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
        /// The run time the failed run was for (UTC); the retry is for it too.
        scheduled_run_time: DateTime<Utc>,
        /// When the failed run started (UTC).
        started: DateTime<Utc>,
        /// How long it took.
        #[serde(with = "crate::event::secs")]
        duration: Duration,
        /// Its error.
        error: String,
        /// How it failed: `error`, `timed_out` or `crashed`.
        outcome: crate::history::RunOutcome,
        /// The failed attempt (1 = the first run); the retry is `attempt + 1`.
        attempt: u32,
        /// When the retry is due (UTC).
        retry_at: DateTime<Utc>,
        /// The run was asked for by a backfill.
        backfill: bool,
    },
    /// A run time was missed.
    JobMissed {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
        /// The run time missed (UTC).
        scheduled_run_time: DateTime<Utc>,
        /// How late it would have started.
        #[serde(with = "crate::event::secs")]
        lateness: Duration,
        /// How many run times this event stands for: 1, or more when missed run times were
        /// coalesced into one run.
        count: u64,
    },
    /// A stored job cannot be scheduled (undecodable state, or a task this process has not
    /// registered): it is kept in its store, excluded from scheduling, never deleted.
    JobQuarantined {
        /// Job id.
        job_id: Arc<str>,
        /// Job store alias.
        jobstore: Arc<str>,
        /// Why.
        reason: String,
    },
}

impl Event {
    /// The mask bit of this event.
    pub fn code(&self) -> EventMask {
        match self {
            Event::SchedulerStarted => EventMask::SCHEDULER_STARTED,
            Event::SchedulerShutdown => EventMask::SCHEDULER_SHUTDOWN,
            Event::SchedulerPaused => EventMask::SCHEDULER_PAUSED,
            Event::SchedulerResumed => EventMask::SCHEDULER_RESUMED,
            Event::AllJobsRemoved { .. } => EventMask::ALL_JOBS_REMOVED,
            Event::JobAdded { .. } => EventMask::JOB_ADDED,
            Event::JobRemoved { .. } => EventMask::JOB_REMOVED,
            Event::JobModified { .. } => EventMask::JOB_MODIFIED,
            Event::JobSubmitted { .. } => EventMask::JOB_SUBMITTED,
            Event::JobExecuted { .. } => EventMask::JOB_EXECUTED,
            Event::JobError { .. } => EventMask::JOB_ERROR,
            Event::JobMissed { .. } => EventMask::JOB_MISSED,
            Event::JobMaxInstances { .. } => EventMask::JOB_MAX_INSTANCES,
            Event::JobQuarantined { .. } => EventMask::JOB_QUARANTINED,
            Event::JobRetry { .. } => EventMask::JOB_RETRY,
        }
    }

    /// The job the event is about, if any.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Event::JobAdded { job_id, .. }
            | Event::JobRemoved { job_id, .. }
            | Event::JobModified { job_id, .. }
            | Event::JobSubmitted { job_id, .. }
            | Event::JobMaxInstances { job_id, .. }
            | Event::JobExecuted { job_id, .. }
            | Event::JobError { job_id, .. }
            | Event::JobRetry { job_id, .. }
            | Event::JobMissed { job_id, .. }
            | Event::JobQuarantined { job_id, .. } => Some(job_id),
            _ => None,
        }
    }
}

pub(crate) mod secs {
    use std::time::Duration;

    pub(crate) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Counts of events since the bus was created, by kind (for metrics).
#[derive(Debug, Default)]
pub struct EventCounters {
    /// Runs submitted to executors.
    pub submitted: AtomicU64,
    /// Runs that finished successfully.
    pub executed: AtomicU64,
    /// Runs that failed (after their last attempt).
    pub errors: AtomicU64,
    /// Failed runs that will be retried.
    pub retries: AtomicU64,
    /// Run times missed (late beyond `misfire_grace_time`, or coalesced away).
    pub missed: AtomicU64,
    /// Submissions refused for `max_instances`.
    pub max_instances: AtomicU64,
}

/// The metrics this crate records through the [`metrics`] facade, so a host application's own
/// recorder (Prometheus, OpenTelemetry, StatsD…) sees them; `rsched run` serves them at
/// `GET {prefix}/metrics`. Counters: `rsched_runs_submitted_total`, `rsched_runs_executed_total`,
/// `rsched_runs_failed_total` (after the last attempt), `rsched_runs_retried_total`,
/// `rsched_runs_missed_total`, `rsched_runs_skipped_max_instances_total`. Histograms, in
/// seconds: `rsched_run_duration_seconds` and `rsched_run_lateness_seconds` (from the scheduled
/// time to the start) of every finished run, `rsched_store_acquire_seconds{jobstore}` and
/// `rsched_store_release_seconds{jobstore}` (each acquisition and release call of the engine).
pub mod metric_names {
    /// Counter: runs submitted to executors.
    pub const SUBMITTED: &str = "rsched_runs_submitted_total";
    /// Counter: runs that finished successfully.
    pub const EXECUTED: &str = "rsched_runs_executed_total";
    /// Counter: runs that failed after their last attempt.
    pub const FAILED: &str = "rsched_runs_failed_total";
    /// Counter: failed runs retried.
    pub const RETRIED: &str = "rsched_runs_retried_total";
    /// Counter: run times missed.
    pub const MISSED: &str = "rsched_runs_missed_total";
    /// Counter: runs skipped for `max_instances`.
    pub const SKIPPED: &str = "rsched_runs_skipped_max_instances_total";
    /// Histogram (seconds): how long finished runs took.
    pub const DURATION: &str = "rsched_run_duration_seconds";
    /// Histogram (seconds): from a run's scheduled time to its start.
    pub const LATENESS: &str = "rsched_run_lateness_seconds";
    /// Histogram (seconds, label `jobstore`): the engine's acquisition calls.
    pub const ACQUIRE: &str = "rsched_store_acquire_seconds";
    /// Histogram (seconds, label `jobstore`): the engine's release calls.
    pub const RELEASE: &str = "rsched_store_release_seconds";
}

/// Describes rsched's metrics (help text, unit) to the recorder installed now, and registers
/// its counters at 0 so they are exported before the first run. Called when a scheduler is
/// built; a recorder installed later (as `GET {prefix}/metrics` does) calls it again.
pub fn describe_metrics() {
    use metric_names as m;
    for (name, help) in [
        (m::SUBMITTED, "Runs submitted to executors."),
        (m::EXECUTED, "Runs that finished successfully."),
        (
            m::FAILED,
            "Runs that failed (error, timeout, crash) after their last attempt.",
        ),
        (
            m::RETRIED,
            "Failed runs that were retried (their job has retries left).",
        ),
        (
            m::MISSED,
            "Run times missed (beyond misfire_grace_time, or coalesced away).",
        ),
        (
            m::SKIPPED,
            "Runs skipped because max_instances were running.",
        ),
    ] {
        metrics::describe_counter!(name, metrics::Unit::Count, help);
        metrics::counter!(name).increment(0);
    }
    for (name, help) in [
        (m::DURATION, "How long finished runs took."),
        (m::LATENESS, "From a run's scheduled time to its start."),
        (
            m::ACQUIRE,
            "The engine's calls that acquire due jobs, per job store.",
        ),
        (
            m::RELEASE,
            "The engine's calls that release jobs, per job store.",
        ),
    ] {
        metrics::describe_histogram!(name, metrics::Unit::Seconds, help);
    }
}

/// Records `event` through the [`metrics`] facade (see [`metric_names`]).
fn record_metrics(event: &Event) {
    use metric_names as m;
    let finished = |scheduled: &DateTime<Utc>, started: &DateTime<Utc>, duration: &Duration| {
        metrics::histogram!(m::DURATION).record(duration.as_secs_f64());
        let late = (*started - *scheduled)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        metrics::histogram!(m::LATENESS).record(late);
    };
    match event {
        Event::JobSubmitted { .. } => metrics::counter!(m::SUBMITTED).increment(1),
        Event::JobExecuted {
            scheduled_run_time,
            started,
            duration,
            ..
        } => {
            metrics::counter!(m::EXECUTED).increment(1);
            finished(scheduled_run_time, started, duration);
        }
        Event::JobError {
            scheduled_run_time,
            started,
            duration,
            ..
        } => {
            metrics::counter!(m::FAILED).increment(1);
            finished(scheduled_run_time, started, duration);
        }
        Event::JobRetry {
            scheduled_run_time,
            started,
            duration,
            ..
        } => {
            metrics::counter!(m::RETRIED).increment(1);
            finished(scheduled_run_time, started, duration);
        }
        Event::JobMissed { count, .. } => metrics::counter!(m::MISSED).increment(*count),
        Event::JobMaxInstances { .. } => metrics::counter!(m::SKIPPED).increment(1),
        _ => {}
    }
}

impl EventCounters {
    fn count(&self, event: &Event) {
        record_metrics(event);
        let counter = match event {
            Event::JobSubmitted { .. } => &self.submitted,
            Event::JobExecuted { .. } => &self.executed,
            Event::JobError { .. } => &self.errors,
            Event::JobRetry { .. } => &self.retries,
            Event::JobMissed { count, .. } => {
                self.missed.fetch_add(*count, Ordering::Relaxed);
                return;
            }
            Event::JobMaxInstances { .. } => &self.max_instances,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Identifies a listener for [`EventBus::remove_listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Delivers events to listeners (called synchronously, in order, as APScheduler does) and to
/// broadcast subscribers. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    sender: broadcast::Sender<Event>,
    listeners: RwLock<Vec<(ListenerId, EventMask, Listener)>>,
    has_listeners: AtomicBool,
    next_id: AtomicU64,
    counters: EventCounters,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.inner.sender.receiver_count())
            .finish_non_exhaustive()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl EventBus {
    /// A bus whose subscribers may fall up to `capacity` events behind before they skip.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventBus {
            inner: Arc::new(BusInner {
                sender,
                listeners: RwLock::new(Vec::new()),
                has_listeners: AtomicBool::new(false),
                next_id: AtomicU64::new(1),
                counters: EventCounters::default(),
            }),
        }
    }

    /// Delivers `event` to the listeners whose mask includes it and to subscribers.
    pub fn emit(&self, event: Event) {
        self.inner.counters.count(&event);
        if self.inner.has_listeners.load(Ordering::Acquire) {
            let code = event.code();
            let listeners: Vec<Listener> = self
                .inner
                .listeners
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|(_, mask, _)| mask.intersects(code))
                .map(|(_, _, l)| l.clone())
                .collect();
            for listener in listeners {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener(&event)))
                    .is_err()
                {
                    tracing::error!("Error notifying listener");
                }
            }
        }
        if self.inner.sender.receiver_count() > 0 {
            let _ = self.inner.sender.send(event);
        }
    }

    /// Counts of the events emitted so far.
    pub fn counters(&self) -> &EventCounters {
        &self.inner.counters
    }

    /// Whether anyone would receive an event (to skip building expensive ones).
    pub fn is_observed(&self) -> bool {
        self.inner.has_listeners.load(Ordering::Acquire) || self.inner.sender.receiver_count() > 0
    }

    /// Calls `listener` for every event in `mask` (APScheduler's `add_listener`). A panicking
    /// listener is logged and does not stop the scheduler.
    pub fn add_listener(
        &self,
        mask: EventMask,
        listener: impl Fn(&Event) + Send + Sync + 'static,
    ) -> ListenerId {
        let id = ListenerId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let mut listeners = self
            .inner
            .listeners
            .write()
            .unwrap_or_else(|e| e.into_inner());
        listeners.push((id, mask, Arc::new(listener)));
        self.inner.has_listeners.store(true, Ordering::Release);
        id
    }

    /// Removes a listener; `false` when it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        let mut listeners = self
            .inner
            .listeners
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let before = listeners.len();
        listeners.retain(|(l, _, _)| *l != id);
        self.inner
            .has_listeners
            .store(!listeners.is_empty(), Ordering::Release);
        listeners.len() != before
    }

    /// A receiver of every event from now on. A receiver that falls more than the bus capacity
    /// behind skips the oldest events (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.sender.subscribe()
    }
}
