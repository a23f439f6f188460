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
//!
//! What a store offers beyond that is a capability trait it implements and hands out by type
//! (as apalis 1.0's backends and opendal's services do), never a method that answers `Ok` for
//! something the store cannot do:
//!
//! | capability | trait | getter |
//! |---|---|---|
//! | run history | [`RunHistory`] | [`JobStore::history`] |
//! | runs in progress across instances | [`RunningRuns`] | [`JobStore::running`] |
//! | change notifications | [`ChangeNotifications`] | [`JobStore::notifications`] |
//! | exclusion calendars | [`CalendarStore`] | [`JobStore::calendar_store`] |
//!
//! [`lease`] holds the arithmetic every store shares (lease expiry, the next wake-up).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::job::Job;

mod capability;
pub mod lease;
pub mod query;

pub use capability::{
    CalendarStore, ChangeListener, ChangeNotifications, PENDING_OWNER, QUEUED_OWNER, RunHistory,
    RunningRun, RunningRuns, StopRequest,
};
pub use query::{JobCursor, JobPage, JobQuery, JobSort, JobStatus};

#[allow(unused_imports)] // for the docs
use crate::error::ErrorKind;

/// What a job store is: persistent, shared. What it can do beyond the core contract is stated
/// by type instead ([`JobStore::history`], [`JobStore::running`], [`JobStore::notifications`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Jobs survive a restart of the process.
    pub persistent: bool,
    /// Several processes (or hosts) may use the store at once; leases are atomic across them.
    pub shared: bool,
}

impl Capabilities {
    /// An in-process store: nothing shared, nothing persisted.
    pub const fn in_memory() -> Self {
        Capabilities {
            persistent: false,
            shared: false,
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

    /// A page of jobs matching `query`, in its order, with the number of matching jobs (see
    /// [`query`]). Stores answer with a query or an index of their own; this default reads
    /// every job ([`JobStore::get_all_jobs`]) and filters here, with runs in progress from
    /// [`JobStore::running`] or [`JobQuery::running_here`].
    ///
    /// # Errors
    /// Store errors.
    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        let jobs = self.get_all_jobs().await?;
        let running: std::collections::HashSet<Arc<str>> =
            match (query.state == Some(JobStatus::Running), self.running()) {
                (false, _) => Default::default(),
                (true, Some(runs)) => {
                    let ids: Vec<Arc<str>> = jobs.iter().map(|j| j.id_arc().clone()).collect();
                    let mut running = std::collections::HashSet::new();
                    for chunk in ids.chunks(1000) {
                        let counts = runs.running_counts(chunk, Utc::now()).await?;
                        running.extend(
                            chunk
                                .iter()
                                .zip(counts)
                                .filter(|(_, n)| *n > 0)
                                .map(|(id, _)| id.clone()),
                        );
                    }
                    running
                }
                (true, None) => query.running_here.as_deref().cloned().unwrap_or_default(),
            };
        Ok(query.page_of(jobs, |j| running.contains(j.id())))
    }

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

    /// The store's run history, if it keeps one (see [`RunHistory`]). `None` by default.
    fn history(&self) -> Option<&dyn RunHistory> {
        None
    }

    /// The store's record of runs in progress, if it keeps one (see [`RunningRuns`]): with
    /// it `max_instances` holds across every instance, and a crashed instance's runs are found.
    /// `None` by default.
    fn running(&self) -> Option<&dyn RunningRuns> {
        None
    }

    /// The store's change notifications, if it sends them (see [`ChangeNotifications`]):
    /// other instances then need not poll. `None` by default.
    fn notifications(&self) -> Option<&dyn ChangeNotifications> {
        None
    }

    /// The store's exclusion calendars, if it keeps them (see [`CalendarStore`]). `None` by
    /// default: the scheduler then keeps calendars in memory only.
    fn calendar_store(&self) -> Option<&dyn CalendarStore> {
        None
    }

    /// The current time by the store server's clock (UTC), for stores whose server may run on
    /// another host: PostgreSQL `clock_timestamp()`, MySQL/MariaDB `UTC_TIMESTAMP(6)`, Redis
    /// `TIME`, MongoDB `hello`'s `localTime`. `Ok(None)` (the default) for stores that share
    /// this host's clock (memory, SQLite).
    ///
    /// The scheduler measures its offset from this at start and every `lease / 3`, and judges
    /// due times and lease expiry by the store's clock (see
    /// [`SchedulerBuilder::follow_store_clock`](crate::SchedulerBuilder::follow_store_clock)),
    /// so one instance with a wrong clock neither runs jobs early nor takes over leases that
    /// have not expired.
    ///
    /// # Errors
    /// As the store's other calls: `Unavailable` when the server cannot be reached.
    async fn server_time(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(None)
    }
}

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
            async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage> {
                (**self).list_jobs(query).await
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
            fn history(&self) -> Option<&dyn RunHistory> {
                (**self).history()
            }
            fn running(&self) -> Option<&dyn RunningRuns> {
                (**self).running()
            }
            fn notifications(&self) -> Option<&dyn ChangeNotifications> {
                (**self).notifications()
            }
            fn calendar_store(&self) -> Option<&dyn CalendarStore> {
                (**self).calendar_store()
            }
            async fn server_time(&self) -> Result<Option<DateTime<Utc>>> {
                (**self).server_time().await
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
