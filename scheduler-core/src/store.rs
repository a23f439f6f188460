//! The `JobStore` contract: where jobs live, and the lease calls that let several scheduler
//! instances share one store.
//!
//! The engine uses the lease calls for every store, the in-memory one included, so a store
//! shared between processes needs no second code path:
//!
//! 1. [`JobStore::acquire_due_jobs`] atomically claims due jobs (next run time ≤ now, not paused,
//!    not leased or lease expired) for an `owner` until `now + lease`;
//! 2. the engine submits their runs and computes their next run times;
//! 3. [`JobStore::release_jobs`] writes the next run time (or removes a finished job) and drops
//!    the lease — only for the lease holder, anyone else gets [`ErrorKind::LeaseLost`].
//!
//! A job whose stored state cannot be decoded is quarantined by the store: kept, reported,
//! excluded from scheduling, never deleted.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::history::{Retention, RunRecord};
use crate::job::Job;

#[allow(unused_imports)] // for the docs
use crate::error::ErrorKind;

/// What a job store offers; the conformance suite and the engine choose by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Jobs survive a restart of the process.
    pub persistent: bool,
    /// Several processes (or hosts) may use the store at once; leases are atomic across them.
    pub shared: bool,
    /// The store notifies other instances of changes (so they need not poll).
    pub change_notifications: bool,
    /// The store records run history.
    pub run_history: bool,
    /// The store records the runs in progress ([`JobStore::begin_runs`] and the calls after
    /// it), so `max_instances` holds across every instance and a crashed instance's runs are
    /// found (and, for `recover = true` jobs, run again).
    pub running_runs: bool,
}

impl Capabilities {
    /// An in-process store: nothing shared, nothing persisted.
    pub const fn in_memory() -> Self {
        Capabilities {
            persistent: false,
            shared: false,
            change_notifications: false,
            run_history: false,
            running_runs: false,
        }
    }
}

/// What the engine does with a job it holds a lease on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Store the next run time (and the trigger fire time behind it, if it differs by jitter).
    Reschedule {
        /// Next run time (UTC).
        next_run_time: DateTime<Utc>,
        /// The trigger's fire time behind it (UTC).
        fire_time: DateTime<Utc>,
    },
    /// The trigger has finished: remove the job.
    Remove,
    /// Pause the job (no next run time): it cannot run here, e.g. its executor is unknown.
    Pause,
    /// Leave the job as it is (its next run time unchanged) and drop the lease.
    Unchanged,
}

/// A stored job that cannot be scheduled: its state could not be decoded (corrupt JSON, a state
/// version newer than this build), or it names a task this process has not registered. It is
/// kept as it was stored — never deleted by rsched (APScheduler 3 deletes it: "Unable to restore
/// job -- removing it") — excluded from scheduling, and listed here until a user removes it with
/// [`JobStore::remove_job`] or a fixed build re-adds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantinedJob {
    /// The job id (the row's key).
    pub id: String,
    /// Why it was quarantined.
    pub reason: String,
    /// The stored state, as stored (JSON text, possibly invalid).
    pub state: String,
}

/// Where jobs live. Every method takes `&self`: implementations manage their own concurrency.
///
/// Times are UTC; ids are the job ids. Errors map driver failures onto
/// [`ErrorKind`]: a missing job is `NotFound`, a duplicate id `AlreadyExists`, a lease held by
/// someone else `LeaseLost`, an unreachable server `Unavailable`.
#[async_trait]
pub trait JobStore: Send + Sync + fmt::Debug + 'static {
    /// What this store offers.
    fn capabilities(&self) -> Capabilities;

    /// Adds a job. `AlreadyExists` when its id is taken.
    async fn add_job(&self, job: &Job) -> Result<()>;

    /// Adds many jobs; one result per job, in order. Stores override this to batch.
    async fn add_jobs(&self, jobs: &[Job]) -> Result<Vec<Result<()>>> {
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            results.push(self.add_job(job).await);
        }
        Ok(results)
    }

    /// Replaces a stored job (matched by id). `NotFound` when there is none.
    async fn update_job(&self, job: &Job) -> Result<()>;

    /// Removes a job. `NotFound` when there is none.
    async fn remove_job(&self, id: &str) -> Result<()>;

    /// Removes every job.
    async fn remove_all_jobs(&self) -> Result<()>;

    /// The job with this id, if any.
    async fn lookup_job(&self, id: &str) -> Result<Option<Job>>;

    /// Every job, ordered by next run time then id, paused jobs last (by id).
    async fn get_all_jobs(&self) -> Result<Vec<Job>>;

    /// The earliest next run time of the jobs that are not paused, if any.
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>>;

    /// Atomically claims up to `limit` due jobs (next run time ≤ `now`, not paused, lease free
    /// or expired) for `owner` until `now + lease`, earliest first.
    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>>;

    /// Applies `release` to a job leased by `owner` and drops the lease. `LeaseLost` when
    /// `owner` does not hold it; `NotFound` when the job is gone.
    async fn release_job(&self, owner: &str, id: &str, release: Release) -> Result<()>;

    /// Releases many jobs; one result per job, in order. Stores override this to batch.
    async fn release_jobs(
        &self,
        owner: &str,
        releases: &[(Arc<str>, Release)],
    ) -> Result<Vec<Result<()>>> {
        let mut results = Vec::with_capacity(releases.len());
        for (id, release) in releases {
            results.push(self.release_job(owner, id, *release).await);
        }
        Ok(results)
    }

    /// Takes a job out of scheduling without deleting it (dropping any lease): see
    /// [`QuarantinedJob`]. `NotFound` when there is no such job.
    async fn quarantine_job(&self, id: &str, reason: &str) -> Result<()>;

    /// The quarantined jobs, by id.
    async fn quarantined_jobs(&self) -> Result<Vec<QuarantinedJob>>;

    /// Sets the function a store calls when it quarantines a job by itself (a stored state it
    /// cannot decode, found while reading). The scheduler sets it, to report a
    /// `JobQuarantined` event. Stores that never quarantine on their own ignore it.
    fn set_quarantine_listener(&self, listener: QuarantineListener) {
        let _ = listener;
    }

    /// Starts delivering change notifications (stores whose [`Capabilities`] say
    /// `change_notifications`): `wake` is called whenever any instance changes the store, until
    /// `stop` is cancelled. The scheduler calls it when it starts, inside its runtime, so a job
    /// added on one instance is picked up by the others at once instead of at the next poll.
    fn watch_changes(&self, wake: ChangeListener, stop: tokio_util::sync::CancellationToken) {
        let _ = (wake, stop);
    }

    /// Appends run-history records (stores whose [`Capabilities`] say `run_history`), keeping
    /// per job only the newest `retention.per_job` and none older than `retention.max_age`.
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        let _ = (runs, retention);
        Ok(())
    }

    /// A job's run history, newest first (by scheduled time), at most `limit` records.
    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let _ = (job_id, limit);
        Ok(Vec::new())
    }

    /// How many runs of each job are in progress on any instance (records whose `expires` is
    /// after `now`): one count per id, in order. Stores whose [`Capabilities`] say
    /// `running_runs`; the engine calls it while it holds the jobs' leases, so no other
    /// instance can start a run of them in between.
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>> {
        let _ = now;
        Ok(vec![0; job_ids.len()])
    }

    /// Records runs as in progress (before they start).
    async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()> {
        let _ = runs;
        Ok(())
    }

    /// Drops the records of runs that ended (unknown ids are ignored).
    async fn end_runs(&self, run_ids: &[Arc<str>]) -> Result<()> {
        let _ = run_ids;
        Ok(())
    }

    /// Renews every run record of `owner` until `expires`: the instance is alive.
    async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()> {
        let _ = (owner, expires);
        Ok(())
    }

    /// Up to `limit` run records whose `expires` is before `now`, or whose owner is
    /// `also_owner` (an instance restarting under a fixed id finds its own old runs), oldest
    /// first: runs cut off by a crash.
    async fn expired_runs(
        &self,
        now: DateTime<Utc>,
        also_owner: &str,
        limit: usize,
    ) -> Result<Vec<RunningRun>> {
        let _ = (now, also_owner, limit);
        Ok(Vec::new())
    }

    /// Takes over a crashed run's record for `owner` until `expires` if it is still exactly as
    /// `run` read it (same owner, same `expires`): a compare-and-set, so one instance alone
    /// handles each crashed run. `false` when someone else did, or the record is gone.
    async fn take_over_run(
        &self,
        run: &RunningRun,
        owner: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let _ = (run, owner, expires);
        Ok(false)
    }
}

/// A run in progress, as a shared store records it while it executes. Its instance renews
/// `expires` ([`JobStore::heartbeat_runs`]) while it lives; a run whose `expires` has passed
/// was cut off by a crash. Times are UTC.
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
    /// Until when the record counts without a heartbeat.
    pub expires: DateTime<Utc>,
}

/// Called when another instance changed a shared store (a job added, changed, released...).
pub type ChangeListener = Arc<dyn Fn() + Send + Sync>;

/// Called with `(job id, reason)` when a store quarantines a job on its own.
pub type QuarantineListener = Arc<dyn Fn(&str, &str) + Send + Sync>;

macro_rules! forward_store {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: JobStore + ?Sized> JobStore for $ptr {
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            async fn add_job(&self, job: &Job) -> Result<()> {
                (**self).add_job(job).await
            }
            async fn add_jobs(&self, jobs: &[Job]) -> Result<Vec<Result<()>>> {
                (**self).add_jobs(jobs).await
            }
            async fn update_job(&self, job: &Job) -> Result<()> {
                (**self).update_job(job).await
            }
            async fn remove_job(&self, id: &str) -> Result<()> {
                (**self).remove_job(id).await
            }
            async fn remove_all_jobs(&self) -> Result<()> {
                (**self).remove_all_jobs().await
            }
            async fn lookup_job(&self, id: &str) -> Result<Option<Job>> {
                (**self).lookup_job(id).await
            }
            async fn get_all_jobs(&self) -> Result<Vec<Job>> {
                (**self).get_all_jobs().await
            }
            async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
                (**self).get_next_run_time().await
            }
            async fn acquire_due_jobs(
                &self,
                owner: &str,
                now: DateTime<Utc>,
                lease: Duration,
                limit: usize,
            ) -> Result<Vec<Job>> {
                (**self).acquire_due_jobs(owner, now, lease, limit).await
            }
            async fn release_job(&self, owner: &str, id: &str, release: Release) -> Result<()> {
                (**self).release_job(owner, id, release).await
            }
            async fn release_jobs(
                &self,
                owner: &str,
                releases: &[(Arc<str>, Release)],
            ) -> Result<Vec<Result<()>>> {
                (**self).release_jobs(owner, releases).await
            }
            async fn quarantine_job(&self, id: &str, reason: &str) -> Result<()> {
                (**self).quarantine_job(id, reason).await
            }
            async fn quarantined_jobs(&self) -> Result<Vec<QuarantinedJob>> {
                (**self).quarantined_jobs().await
            }
            fn set_quarantine_listener(&self, listener: QuarantineListener) {
                (**self).set_quarantine_listener(listener)
            }
            fn watch_changes(
                &self,
                wake: ChangeListener,
                stop: tokio_util::sync::CancellationToken,
            ) {
                (**self).watch_changes(wake, stop)
            }
            async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
                (**self).record_runs(runs, retention).await
            }
            async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
                (**self).job_runs(job_id, limit).await
            }
            async fn running_counts(
                &self,
                job_ids: &[Arc<str>],
                now: DateTime<Utc>,
            ) -> Result<Vec<u32>> {
                (**self).running_counts(job_ids, now).await
            }
            async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()> {
                (**self).begin_runs(runs).await
            }
            async fn end_runs(&self, run_ids: &[Arc<str>]) -> Result<()> {
                (**self).end_runs(run_ids).await
            }
            async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()> {
                (**self).heartbeat_runs(owner, expires).await
            }
            async fn expired_runs(
                &self,
                now: DateTime<Utc>,
                also_owner: &str,
                limit: usize,
            ) -> Result<Vec<RunningRun>> {
                (**self).expired_runs(now, also_owner, limit).await
            }
            async fn take_over_run(
                &self,
                run: &RunningRun,
                owner: &str,
                expires: DateTime<Utc>,
            ) -> Result<bool> {
                (**self).take_over_run(run, owner, expires).await
            }
        }
    };
}

forward_store!(Arc<T>);
forward_store!(Box<T>);

/// Holds the [`QuarantineListener`] a scheduler gives a store, for stores that quarantine jobs
/// on their own. Cheap to clone; clones share the slot.
#[derive(Clone, Default)]
pub struct QuarantineSlot(Arc<std::sync::RwLock<Option<QuarantineListener>>>);

impl fmt::Debug for QuarantineSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QuarantineSlot")
    }
}

impl QuarantineSlot {
    /// Sets the listener ([`JobStore::set_quarantine_listener`]).
    pub fn set(&self, listener: QuarantineListener) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(listener);
        }
    }

    /// Tells the listener, if any, that the store quarantined job `id` for `reason`.
    pub fn report(&self, id: &str, reason: &str) {
        let listener = self.0.read().ok().and_then(|l| l.clone());
        if let Some(listener) = listener {
            listener(id, reason);
        }
    }
}

/// Sorts jobs in the order [`JobStore::get_all_jobs`] returns them: by next run time, then id;
/// paused jobs last, by id.
pub fn sort_jobs(jobs: &mut [Job]) {
    jobs.sort_by(|a, b| match (a.next_run_time(), b.next_run_time()) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.id().cmp(b.id())),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id().cmp(b.id()),
    });
}

/// [`JobStore::release_job`] for a store whose [`JobStore::release_jobs`] does the work: the one
/// release, as a batch of one.
///
/// # Errors
/// The store's error for the batch, or the release's own (`LeaseLost`, `NotFound`).
pub async fn release_one<S: JobStore + ?Sized>(
    store: &S,
    owner: &str,
    id: &str,
    release: Release,
) -> Result<()> {
    let mut results = store
        .release_jobs(owner, &[(Arc::from(id), release)])
        .await?;
    results.pop().unwrap_or(Ok(()))
}
