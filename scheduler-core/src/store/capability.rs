//! The capabilities a store may offer beyond the core [`JobStore`](super::JobStore) contract.
//! A store implements each trait it supports and hands it out from the matching getter
//! ([`JobStore::history`](super::JobStore::history), [`JobStore::running`](super::JobStore::running),
//! [`JobStore::notifications`](super::JobStore::notifications)); the engine and the conformance
//! suite ask the getter, so a store that stops offering a capability is seen, not silently
//! turned off.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::history::{Retention, RunOutcome, RunRecord};

/// A store that keeps run history: one [`RunRecord`] per run, or per run time that did not
/// run, shared by every instance using the store.
#[async_trait]
pub trait RunHistory: Send + Sync + fmt::Debug {
    /// Appends run-history records, keeping per job only the newest `retention.per_job` and
    /// none older than `retention.max_age` (by scheduled time).
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()>;

    /// A job's run history, newest first (by scheduled time), at most `limit` records; empty
    /// for a job with none (or no such job).
    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>>;

    /// The records of every job whose outcome is a problem ([`RunOutcome::is_problem`]:
    /// error, missed, crashed, timed out), newest first (by scheduled time), scheduled before
    /// `before` (all when `None`: the next page starts before the last record's time), at most
    /// `limit`.
    async fn problem_runs(
        &self,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<RunRecord>>;

    /// How many records of every job were scheduled at or after `since`, by outcome (outcomes
    /// without any left out). Stores may count by the minute (Redis).
    async fn outcome_counts(&self, since: DateTime<Utc>) -> Result<Vec<(RunOutcome, u64)>>;
}

/// A store that records the runs in progress on every instance, so `max_instances` holds
/// across instances and the runs of an instance that died are found (and, for `recover = true`
/// jobs, run again). The engine's side of the protocol is in `scheduler::running`.
#[async_trait]
pub trait RunningRuns: Send + Sync + fmt::Debug {
    /// How many runs of each job are in progress on any instance (records whose `expires` is
    /// after `now`; never the queued ones, owned by [`QUEUED_OWNER`]): one count per id, in
    /// order. The engine calls it while it holds the jobs'
    /// leases, so no other instance can start a run of them in between.
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>>;

    /// Records runs as in progress (before they start).
    async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()>;

    /// Drops `owner`'s records of runs that ended. Unknown ids, and records another instance
    /// has taken over since ([`RunningRuns::take_over_run`]), are left alone: a run that
    /// outlived its lease must not end the record of the recovery that replaced it.
    async fn end_runs(&self, owner: &str, run_ids: &[Arc<str>]) -> Result<()>;

    /// Renews every run record of `owner` until `expires`: the instance is alive.
    async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()>;

    /// Up to `limit` run records whose `expires` is before `now`, or whose owner is
    /// `also_owner` (an instance restarting under a fixed id finds its own old runs), oldest
    /// first: runs cut off by a crash, and pending runs that are due. Never the queued ones
    /// (owned by [`QUEUED_OWNER`]): they wait for [`RunningRuns::queued_runs`].
    async fn expired_runs(
        &self,
        now: DateTime<Utc>,
        also_owner: &str,
        limit: usize,
    ) -> Result<Vec<RunningRun>>;

    /// Takes over a crashed run's record for `owner` until `expires` if it is still exactly as
    /// `run` read it (same owner, same `expires`): a compare-and-set, so one instance alone
    /// handles each crashed run. `false` when someone else did, or the record is gone.
    async fn take_over_run(
        &self,
        run: &RunningRun,
        owner: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool>;

    /// Turns `owner`'s record `pending.run_id` into the pending run `pending`: a run that is
    /// to start later, once, on whichever instance takes it — the retry of a failed run, or
    /// the next fire time of a backfill. Every field of the record becomes `pending`'s (its
    /// `owner` is [`PENDING_OWNER`] and its `expires` the time it is due). A compare-and-set
    /// on the owner: `false` when the record is gone or another instance has taken it over
    /// (it then handles the run's end). A pending run keeps counting against
    /// `max_instances`; once it is due, [`RunningRuns::expired_runs`] returns it and one
    /// instance takes it over ([`RunningRuns::take_over_run`]) and runs it.
    async fn reschedule_run(&self, owner: &str, pending: &RunningRun) -> Result<bool>;

    /// Up to `limit` queued runs of `job_id` (records owned by [`QUEUED_OWNER`]: fire times
    /// that came while the job had `max_instances` runs in progress, kept by the `buffer_one`,
    /// `buffer_all`, `cancel_other` and `terminate_other` overlap policies), earliest
    /// `scheduled_run_time` first (ties by `run_id`). An instance starts one by taking it over
    /// ([`RunningRuns::take_over_run`]); [`RunningRuns::end_runs`] with [`QUEUED_OWNER`]
    /// drops one. A store that predates the overlap policies answers
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn queued_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunningRun>> {
        let _ = (job_id, limit);
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            "this job store keeps no queued runs (overlap buffer_one, buffer_all, cancel_other, terminate_other)",
        ))
    }

    /// Asks every run of `job_id` in progress (records whose owner is an instance, not
    /// [`PENDING_OWNER`] nor [`QUEUED_OWNER`]) to stop as `stop` says; returns how many
    /// records were marked. The mark stays on the record until it ends; its owner reads it
    /// at its next heartbeat ([`RunningRuns::stop_requests`]). Used by the `cancel_other` and
    /// `terminate_other` overlap policies (Temporal's). A store that predates them answers
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn stop_runs(&self, job_id: &str, stop: StopRequest) -> Result<u64> {
        let _ = (job_id, stop);
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            "this job store cannot ask runs to stop (overlap cancel_other, terminate_other)",
        ))
    }

    /// The records of `owner` that were asked to stop ([`RunningRuns::stop_runs`]):
    /// (`run_id`, how), in no particular order. Read by the owner at each heartbeat.
    async fn stop_requests(&self, owner: &str) -> Result<Vec<(Arc<str>, StopRequest)>> {
        let _ = owner;
        Ok(Vec::new())
    }
}

/// The owner of a [`RunningRun`] that is a queued fire time of a job at `max_instances`
/// (overlap `buffer_one`, `buffer_all`, `cancel_other`, `terminate_other`): not counted as a
/// run in progress, never expired, started in fire-time order when a run of the job ends (see
/// [`RunningRuns::queued_runs`]). Not a valid scheduler id.
pub const QUEUED_OWNER: &str = "rsched queued";

/// How a run in progress is asked to stop by a newer fire time of its job (Temporal's
/// `CANCEL_OTHER` and `TERMINATE_OTHER` overlap policies). Stored as its
/// [`as_str`](StopRequest::as_str) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopRequest {
    /// The run's [`JobContext::cancelled`](crate::JobContext::cancelled) resolves; the task
    /// decides when to return. Its end is recorded `interrupted` unless it succeeds.
    Cancel,
    /// The executor stops the run as it does at a `timeout`: an async task is aborted, a
    /// blocking one abandoned, a worker process killed. Recorded `interrupted`.
    Terminate,
}

impl StopRequest {
    /// `"cancel"` or `"terminate"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopRequest::Cancel => "cancel",
            StopRequest::Terminate => "terminate",
        }
    }

    /// The request [`as_str`](StopRequest::as_str) wrote; `None` for any other text.
    pub fn parse(text: &str) -> Option<StopRequest> {
        match text {
            "cancel" => Some(StopRequest::Cancel),
            "terminate" => Some(StopRequest::Terminate),
            _ => None,
        }
    }
}

/// The owner of a [`RunningRun`] that is a pending run rather than a run in progress (see
/// [`RunningRuns::reschedule_run`]). Not a valid scheduler id.
pub const PENDING_OWNER: &str = "rsched pending";

/// A store that tells every instance using it when any of them changed it (a job added,
/// changed, released...), so they need not wait for their next poll.
pub trait ChangeNotifications: Send + Sync + fmt::Debug {
    /// Starts delivering change notifications: `wake` is called whenever any instance changes
    /// the store, until `stop` is cancelled. The scheduler calls it when it starts, inside its
    /// runtime, so a job added on one instance is picked up by the others at once instead of
    /// at the next poll.
    fn watch_changes(&self, wake: ChangeListener, stop: tokio_util::sync::CancellationToken);
}

/// A run in progress, as a store with [`RunningRuns`] records it while it executes. Its
/// instance renews `expires` ([`RunningRuns::heartbeat_runs`]) while it lives; a run whose
/// `expires` has passed was cut off by a crash. Times are UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningRun {
    /// A random id of this run (32 hex digits).
    pub run_id: Arc<str>,
    /// The job.
    pub job_id: Arc<str>,
    /// The fire time the run is for (the first, when missed runs run one after the other).
    pub scheduled_run_time: DateTime<Utc>,
    /// When it was submitted.
    pub started: DateTime<Utc>,
    /// The scheduler instance running it.
    pub owner: Arc<str>,
    /// Until when the record counts without a heartbeat; for a pending run
    /// ([`PENDING_OWNER`]), when it is due.
    pub expires: DateTime<Utc>,
    /// Which attempt at the fire time the run is (1 = the first run; see
    /// [`RetryPolicy`](crate::RetryPolicy)).
    pub attempt: u32,
    /// For a run of a backfill: the end (exclusive, UTC) of the backfilled range; when the run
    /// ends, the record becomes the backfill's next fire time before it. `None` otherwise.
    pub backfill_until: Option<DateTime<Utc>>,
    /// For a pending run: the job's stored state ([`Job::stored_state`](crate::Job::stored_state))
    /// when it was scheduled, so it still runs if the job is gone meanwhile (a `date` job is
    /// removed once it has fired). `None` for runs in progress.
    pub job_state: Option<Arc<str>>,
}

impl RunningRun {
    /// Whether the record is a pending run, not a run in progress.
    pub fn is_pending(&self) -> bool {
        &*self.owner == PENDING_OWNER
    }

    /// Whether the record is a queued fire time ([`QUEUED_OWNER`]), not a run in progress.
    pub fn is_queued(&self) -> bool {
        &*self.owner == QUEUED_OWNER
    }
}

/// Called when another instance changed a shared store (a job added, changed, released...).
pub type ChangeListener = Arc<dyn Fn() + Send + Sync>;

/// A store that keeps named exclusion calendars (see [`crate::calendar`]), so every instance
/// using it sees the same: the definitions are JSON text, as
/// [`ExclusionCalendar::to_value`](crate::ExclusionCalendar::to_value) writes them.
#[async_trait]
pub trait CalendarStore: Send + Sync + fmt::Debug {
    /// Every calendar: (name, definition), by name.
    async fn load_calendars(&self) -> Result<Vec<(String, String)>>;

    /// Adds a calendar, or replaces the one with this name.
    async fn save_calendar(&self, name: &str, definition: &str) -> Result<()>;

    /// Removes a calendar; `false` when there was none.
    async fn delete_calendar(&self, name: &str) -> Result<bool>;
}
