//! The scheduler: APScheduler's `BaseScheduler` API on tokio, and its engine.
//!
//! One engine loop per scheduler instance sleeps until the earliest next run time of its
//! stores, a local change, or shutdown; then, for each store, it leases due jobs in batches
//! ([`JobStore::acquire_due_jobs`]), works out their run times (coalescing missed ones when the
//! job says so), submits them to their executor, computes each job's next run time from its
//! trigger (plus jitter) and releases the batch ([`JobStore::release_jobs`]). Finished jobs
//! (a `date` trigger that fired) are removed. Stores shared between processes are also polled at
//! `max_poll_interval`.
//!
//! Three hosts, as in APScheduler: [`Scheduler`] (async, on the caller's tokio runtime),
//! [`BackgroundScheduler`] (its own runtime, sync API) and [`BlockingScheduler`] (runs on the
//! calling thread until shut down or Ctrl-C).

pub mod backfill;
mod calendars;
pub(crate) use running::finished;
mod engine;
mod history;
mod hosts;
mod overlap;
mod running;
mod skew;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Event, EventBus, EventMask, ListenerId};
use crate::executor::{AsyncExecutor, Executor, ExecutorRuntime, JobRun};
use crate::job::{Job, JobChanges, JobDefaults, JobSpec};
use crate::registry::{JobContext, TaskRegistry};
use crate::store::JobStore;
use crate::trigger::BuiltinTrigger;
use crate::tz::TimeZone;

pub use hosts::{BackgroundScheduler, BlockingScheduler, ShutdownHandle};
pub use skew::ClockSkew;

/// The scheduler's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerState {
    /// Not started, or shut down.
    Stopped,
    /// Processing jobs.
    Running,
    /// Started, but not processing jobs until resumed.
    Paused,
}

impl SchedulerState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => SchedulerState::Running,
            2 => SchedulerState::Paused,
            _ => SchedulerState::Stopped,
        }
    }
}

/// Tuning of the engine loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// How often shared stores are polled for jobs other instances added or changed (default
    /// 1 s).
    pub max_poll_interval: Duration,
    /// How long a lease on a due job lasts before another instance may take it over
    /// (default 30 s). The engine releases its leases as soon as a batch is dispatched.
    pub lease: Duration,
    /// How many due jobs one `acquire_due_jobs` call takes (default 10,000).
    pub batch_size: usize,
    /// Run-history records each store keeps per job, the newest (default 100; 0 keeps none).
    pub history_per_job: usize,
    /// Run-history records older than this are dropped (default 7 days).
    pub history_max_age: Duration,
    /// How long to wait before retrying a store that failed (default 10 s, APScheduler's
    /// `jobstore_retry_interval`); doubled after each consecutive failure, up to 16 times.
    /// Releases the store could not take are kept and applied first once it answers.
    pub retry_interval: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            batch_size: 10_000,
            retry_interval: Duration::from_secs(10),
            history_per_job: 100,
            history_max_age: Duration::from_secs(7 * 86_400),
        }
    }
}

/// An async scheduler: APScheduler's scheduler API on the caller's tokio runtime. Cheap to
/// clone; clones share one scheduler.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    id: Arc<str>,
    registry: Arc<TaskRegistry>,
    /// Stores in declaration order; "default" exists.
    pub(crate) stores: Vec<(Arc<str>, Arc<dyn JobStore>)>,
    executors: HashMap<Arc<str>, Arc<dyn Executor>>,
    defaults: JobDefaults,
    timezone: TimeZone,
    /// The scheduler's clock: `store_clock`, the base clock plus the stores' offset.
    clock: Arc<dyn Clock>,
    store_clock: Arc<skew::StoreClock>,
    events: EventBus,
    pub(crate) options: EngineOptions,
    state: AtomicU8,
    wakeup: Notify,
    control: Mutex<Control>,
    /// Serializes start / shutdown.
    lifecycle: tokio::sync::Mutex<()>,
    /// Records of runs in progress in shared stores.
    running: running::Running,
    /// The exclusion calendars.
    calendars: calendars::CalendarState,
    /// Runs here that a newer fire time may ask to stop (overlap `cancel_other`,
    /// `terminate_other`).
    stops: overlap::Stops,
    /// Queued fire times of jobs in stores that record no runs in progress.
    local_queues: overlap::LocalQueues,
    /// (store index, job id) of the queues being looked at here; `true`: look again.
    queue_looks: Mutex<HashMap<(usize, Arc<str>), bool>>,
    /// Notified when a look at a queue ends (see [`overlap::looks_ended`]).
    looks_done: Notify,
}

struct Control {
    /// The run-history writer, started with the first `start`.
    history: Option<tokio::sync::mpsc::UnboundedSender<(Arc<str>, crate::history::RunRecord)>>,
    pending: PendingJobs,
    engine: Option<tokio::task::JoinHandle<()>>,
    stop: CancellationToken,
    runs: CancellationToken,
    /// Where executors send the retries kept in memory (see `start_local_retries`).
    local_retries: Option<tokio::sync::mpsc::UnboundedSender<crate::executor::LocalRetry>>,
}

/// The jobs added before `start`, in the order they were added, with an index by id (a
/// configuration of 100,000 jobs is queued here before the scheduler starts).
#[derive(Default)]
struct PendingJobs {
    list: Vec<Pending>,
    index: HashMap<Arc<str>, usize>,
}

impl PendingJobs {
    fn get(&self, id: &str) -> Option<&Pending> {
        self.index.get(id).and_then(|&i| self.list.get(i))
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Pending> {
        self.index.get(id).and_then(|&i| self.list.get_mut(i))
    }

    fn push(&mut self, pending: Pending) {
        self.index.insert(pending.job.id.clone(), self.list.len());
        self.list.push(pending);
    }

    fn iter(&self) -> std::slice::Iter<'_, Pending> {
        self.list.iter()
    }

    fn retain(&mut self, keep: impl FnMut(&Pending) -> bool) {
        self.list.retain(keep);
        self.index = self
            .list
            .iter()
            .enumerate()
            .map(|(i, p)| (p.job.id.clone(), i))
            .collect();
    }

    fn take(&mut self) -> Vec<Pending> {
        self.index.clear();
        std::mem::take(&mut self.list)
    }
}

/// A job to add with its first run time set: (job, `replace_existing`, the next run time it
/// was added with, if any).
type Prepared = (Job, bool, Option<Option<DateTime<Utc>>>);

/// A job added before `start`, as APScheduler keeps `_pending_jobs`.
struct Pending {
    job: Job,
    next_run_time: Option<Option<DateTime<Utc>>>,
    replace_existing: bool,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("id", &self.inner.id)
            .field("state", &self.state())
            .field("timezone", &self.inner.timezone)
            .field(
                "stores",
                &self
                    .inner
                    .stores
                    .iter()
                    .map(|(a, _)| a.as_ref())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Builds a [`Scheduler`].
pub struct SchedulerBuilder {
    registry: TaskRegistry,
    stores: Vec<(String, Arc<dyn JobStore>)>,
    executors: Vec<(String, Arc<dyn Executor>)>,
    defaults: JobDefaults,
    timezone: Option<TimeZone>,
    clock: Arc<dyn Clock>,
    follow_store_clock: Option<bool>,
    options: EngineOptions,
    id: Option<String>,
    scheduled: Vec<JobSpec>,
}

impl fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerBuilder")
            .field("registry", &self.registry)
            .field(
                "stores",
                &self
                    .stores
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>(),
            )
            .field(
                "executors",
                &self
                    .executors
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Default for SchedulerBuilder {
    fn default() -> Self {
        SchedulerBuilder {
            registry: TaskRegistry::new(),
            stores: Vec::new(),
            executors: Vec::new(),
            defaults: JobDefaults::default(),
            timezone: None,
            clock: Arc::new(SystemClock),
            follow_store_clock: None,
            options: EngineOptions::default(),
            id: None,
            scheduled: Vec::new(),
        }
    }
}

impl SchedulerBuilder {
    /// Uses `registry` for the tasks. Tasks (and state) registered on the builder before —
    /// by [`scheduled`](Self::scheduled) or [`tasks`](Self::tasks) — are kept, so the order of
    /// the builder calls does not matter; on a name clash `registry`'s task wins.
    #[must_use]
    pub fn registry(mut self, mut registry: TaskRegistry) -> Self {
        registry.merge_missing(std::mem::take(&mut self.registry));
        self.registry = registry;
        self
    }

    /// The builder's task registry, to register tasks in place.
    pub fn tasks(&mut self) -> &mut TaskRegistry {
        &mut self.registry
    }

    /// Adds a job store under `alias` (APScheduler's `jobstores`); one must be `"default"`.
    #[must_use]
    pub fn jobstore(mut self, alias: impl Into<String>, store: impl JobStore) -> Self {
        self.stores.push((alias.into(), Arc::new(store)));
        self
    }

    /// Adds a shared job store under `alias`.
    #[must_use]
    pub fn jobstore_arc(mut self, alias: impl Into<String>, store: Arc<dyn JobStore>) -> Self {
        self.stores.push((alias.into(), store));
        self
    }

    /// Adds an executor under `alias`; without a `"default"` one, the async executor is.
    #[must_use]
    pub fn executor(mut self, alias: impl Into<String>, executor: impl Executor) -> Self {
        self.executors.push((alias.into(), Arc::new(executor)));
        self
    }

    /// Adds a shared executor under `alias`.
    #[must_use]
    pub fn executor_arc(mut self, alias: impl Into<String>, executor: Arc<dyn Executor>) -> Self {
        self.executors.push((alias.into(), executor));
        self
    }

    /// Sets the job defaults.
    #[must_use]
    pub fn job_defaults(mut self, defaults: JobDefaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// Sets the scheduler's zone: triggers that name none use it (default: the machine's).
    #[must_use]
    pub fn timezone(mut self, tz: TimeZone) -> Self {
        self.timezone = Some(tz);
        self
    }

    /// Sets the clock (tests use [`ManualClock`](crate::clock::ManualClock)). A clock set here
    /// is not corrected by the stores' clocks unless
    /// [`follow_store_clock(true)`](Self::follow_store_clock) says so.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self.follow_store_clock.get_or_insert(false);
        self
    }

    /// Whether the scheduler judges time by its shared stores' clocks (default: yes, unless a
    /// clock was set with [`clock`](Self::clock)). When on, the scheduler reads the server
    /// clock of each store that has one ([`JobStore::server_time`]) at start and every
    /// `lease / 3`, and its clock becomes this host's clock plus the offset from the first
    /// such store: due times, misfire checks, leases and run records are judged by the store's
    /// clock, so an instance whose clock is wrong neither runs jobs early nor takes over leases
    /// that have not expired. Offsets past 1 s are logged as WARN and reported by
    /// [`Scheduler::clock_skew`]. Off, every instance must keep its clock right (Quartz's
    /// "within a second").
    #[must_use]
    pub fn follow_store_clock(mut self, follow: bool) -> Self {
        self.follow_store_clock = Some(follow);
        self
    }

    /// Sets engine options.
    #[must_use]
    pub fn options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the scheduler instance id (default: `host-pid-random`).
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Registers `handler` and schedules it: the Rust form of Flask-APScheduler's
    /// `@scheduler.task('cron', id='do_job', minute='*')`, a job defined next to its function.
    /// The job is added (replacing one with the same id) when the scheduler starts; its `func`
    /// defaults to the handler's path (`my_app::do_job` becomes `"my_app:do_job"`).
    ///
    /// ```
    /// use scheduler_core::{JobContext, JobSpec, Scheduler, trigger::CronSpec};
    /// async fn do_job(_ctx: JobContext, (): ()) -> Result<(), std::io::Error> {
    ///     println!("every minute");
    ///     Ok(())
    /// }
    /// # fn main() -> Result<(), scheduler_core::Error> {
    /// let builder = Scheduler::builder()
    ///     .scheduled(JobSpec::default().id("do_job").trigger(CronSpec::new().minute("*").build()?), do_job);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn scheduled<A, F, Fut, R, E>(mut self, job: JobSpec, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, E>> + Send + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let job = with_func_name::<F>(job);
        self.registry.register(job.func.clone(), handler);
        self.scheduled.push(job);
        self
    }

    /// [`SchedulerBuilder::scheduled`] for a blocking handler.
    #[must_use]
    pub fn scheduled_blocking<A, F, R, E>(mut self, job: JobSpec, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, A) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let job = with_func_name::<F>(job);
        self.registry.register_blocking(job.func.clone(), handler);
        self.scheduled.push(job);
        self
    }

    /// Builds the scheduler.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] when no `"default"` job store was added or an alias repeats,
    /// or a scheduled job is invalid.
    pub fn build(self) -> Result<Scheduler> {
        crate::event::describe_metrics();
        let mut stores: Vec<(Arc<str>, Arc<dyn JobStore>)> = Vec::new();
        for (alias, store) in self.stores {
            if stores.iter().any(|(a, _)| **a == *alias) {
                return Err(Error::invalid(
                    "jobstores",
                    format!("job store '{alias}' is configured twice"),
                ));
            }
            stores.push((Arc::from(alias), store));
        }
        let Some(pos) = stores.iter().position(|(a, _)| &**a == "default") else {
            return Err(Error::invalid(
                "jobstores",
                "no \"default\" job store is configured",
            ));
        };
        stores.swap(0, pos);
        let mut executors: HashMap<Arc<str>, Arc<dyn Executor>> = HashMap::new();
        for (alias, executor) in self.executors {
            if executors
                .insert(Arc::from(alias.as_str()), executor)
                .is_some()
            {
                return Err(Error::invalid(
                    "executors",
                    format!("executor '{alias}' is configured twice"),
                ));
            }
        }
        executors
            .entry(Arc::from("default"))
            .or_insert_with(|| Arc::new(AsyncExecutor::new()));
        let id = self.id.unwrap_or_else(default_instance_id);
        if id.is_empty() || id == crate::store::PENDING_OWNER {
            return Err(Error::invalid(
                "id",
                format!(
                    "the scheduler id must not be empty nor '{}'",
                    crate::store::PENDING_OWNER
                ),
            ));
        }
        let running = running::Running::new(&stores, self.options.lease);
        let store_clock = Arc::new(skew::StoreClock::new(
            self.clock,
            self.follow_store_clock.unwrap_or(true),
            stores.len(),
        ));
        let scheduler = Scheduler {
            inner: Arc::new(Inner {
                id: Arc::from(id),
                registry: Arc::new(self.registry),
                stores,
                executors,
                defaults: self.defaults,
                timezone: self.timezone.unwrap_or_else(TimeZone::system),
                clock: store_clock.clone(),
                store_clock,
                events: EventBus::default(),
                options: self.options,
                state: AtomicU8::new(0),
                wakeup: Notify::new(),
                control: Mutex::new(Control {
                    history: None,
                    pending: PendingJobs::default(),
                    engine: None,
                    stop: CancellationToken::new(),
                    runs: CancellationToken::new(),
                    local_retries: None,
                }),
                lifecycle: tokio::sync::Mutex::new(()),
                running,
                calendars: calendars::CalendarState::default(),
                stops: overlap::Stops::default(),
                local_queues: overlap::LocalQueues::default(),
                queue_looks: Mutex::new(HashMap::new()),
                looks_done: Notify::new(),
            }),
        };
        for (alias, store) in &scheduler.inner.stores {
            // A weak handle: the store must not keep the scheduler alive.
            let events = Arc::downgrade(&scheduler.inner);
            let alias = alias.clone();
            store.set_quarantine_listener(Arc::new(move |id: &str, reason: &str| {
                if let Some(inner) = events.upgrade() {
                    inner.events.emit(Event::JobQuarantined {
                        job_id: Arc::from(id),
                        jobstore: alias.clone(),
                        reason: reason.to_owned(),
                    });
                }
            }));
        }
        for spec in self.scheduled {
            scheduler.queue(spec.replace_existing(true))?;
        }
        Ok(scheduler)
    }
}

/// `func` for a decorator-style job: the handler's path, or the job id for closures.
fn with_func_name<F>(mut job: JobSpec) -> JobSpec {
    if job.func.is_empty() {
        let path = std::any::type_name::<F>();
        job.func = if path.contains('{') {
            job.id.clone().unwrap_or_else(|| path.to_owned())
        } else {
            match path.rsplit_once("::") {
                Some((module, function)) => format!("{module}:{function}"),
                None => path.to_owned(),
            }
        };
    }
    job
}

/// `replace_existing`: replaces the stored job with `job`, unless the stored one is the same
/// job (same task, arguments, trigger and options): then it is kept with its schedule and
/// returned. Several instances starting with one configuration thus leave the schedule alone
/// instead of each resetting it.
///
/// A start the scheduler filled in when the job was added (an interval without `start_date`)
/// is not part of the definition: the stored job keeps its own.
async fn replace_job(store: &Arc<dyn JobStore>, job: &Job) -> Result<Option<Job>> {
    if let Some(existing) = store.lookup_job(job.id()).await? {
        if unchanged(&existing, job)? {
            return Ok(Some(existing));
        }
    }
    store.update_job(job).await?;
    Ok(None)
}

/// Whether a stored job is kept when `job` replaces it: it is scheduled and has the same
/// definition (the trigger's implicit start, set when each was added, aside).
fn unchanged(existing: &Job, job: &Job) -> Result<bool> {
    if existing.next_run_time().is_none() {
        return Ok(false);
    }
    // The common case, cheaply: the very same state.
    if existing.stored_state()? == job.stored_state()? {
        return Ok(true);
    }
    let implicit = job.trigger().implicit_start_field();
    let definition = |j: &Job| -> Result<serde_json::Value> {
        let mut value: serde_json::Value = serde_json::from_str(&j.stored_state()?)
            .map_err(|e| Error::new(ErrorKind::Serialization, e.to_string()))?;
        if let (Some(field), Some(trigger)) = (implicit, value.get_mut("trigger")) {
            if let Some(trigger) = trigger.as_object_mut() {
                trigger.remove(field);
            }
        }
        Ok(value)
    };
    Ok(existing.next_run_time().is_some() && definition(existing)? == definition(job)?)
}

/// `host-pid-xxxx`: who holds a lease, in logs and the API.
fn default_instance_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

impl Scheduler {
    /// A builder.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// This instance's id (`host-pid-random` unless set).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The scheduler's zone.
    pub fn timezone(&self) -> &TimeZone {
        &self.inner.timezone
    }

    /// The task registry.
    pub fn registry(&self) -> &TaskRegistry {
        &self.inner.registry
    }

    /// The current state.
    pub fn state(&self) -> SchedulerState {
        SchedulerState::from_u8(self.inner.state.load(Ordering::Acquire))
    }

    /// Whether the scheduler is started (running or paused).
    pub fn running(&self) -> bool {
        self.state() != SchedulerState::Stopped
    }

    /// The scheduler's clock: the builder's (the system's by default), plus the offset
    /// measured from the stores' clocks when it follows them
    /// ([`SchedulerBuilder::follow_store_clock`]).
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// How far this host's clock is from the clock the scheduler follows (its first store with
    /// a server clock), as last measured; `None` before the first measurement, when no store
    /// has its own clock (memory, SQLite) or when the scheduler does not follow store clocks.
    pub fn clock_skew(&self) -> Option<ClockSkew> {
        self.inner.store_clock.reference()
    }

    /// The latest clock measurement of every store that has a server clock, in store order.
    pub fn clock_skews(&self) -> Vec<ClockSkew> {
        self.inner.store_clock.all()
    }

    /// Counts of submitted, executed, failed, missed and skipped runs.
    pub fn counters(&self) -> &crate::event::EventCounters {
        self.inner.events.counters()
    }

    /// The job store aliases, "default" first.
    pub fn jobstore_aliases(&self) -> Vec<&str> {
        self.inner.stores.iter().map(|(a, _)| a.as_ref()).collect()
    }

    /// The job store under `alias`.
    pub fn jobstore(&self, alias: &str) -> Option<&Arc<dyn JobStore>> {
        self.inner
            .stores
            .iter()
            .find(|(a, _)| **a == *alias)
            .map(|(_, s)| s)
    }

    /// Starts processing jobs (APScheduler's `start()`): starts the executors, adds the jobs
    /// added before, and spawns the engine on the current tokio runtime.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyRunning`] when already started.
    pub async fn start(&self) -> Result<()> {
        self.start_with(false).await
    }

    /// Starts with job processing paused (APScheduler's `start(paused=True)`).
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyRunning`] when already started.
    pub async fn start_paused(&self) -> Result<()> {
        self.start_with(true).await
    }

    async fn start_with(&self, paused: bool) -> Result<()> {
        let _lifecycle = self.inner.lifecycle.lock().await;
        if self.running() {
            return Err(Error::new(
                ErrorKind::AlreadyRunning,
                "scheduler is already running",
            ));
        }
        let (runs, pending) = {
            let mut control = self.control();
            control.stop = CancellationToken::new();
            control.runs = CancellationToken::new();
            (control.runs.clone(), control.pending.take())
        };
        let local_retries = self.start_local_retries();
        let weak = Arc::downgrade(&self.inner);
        let calendars_reader: Arc<dyn Fn() -> crate::calendar::Calendars + Send + Sync> =
            Arc::new(move || {
                weak.upgrade()
                    .map(|inner| inner.calendars())
                    .unwrap_or_default()
            });
        for (alias, executor) in &self.inner.executors {
            let runtime = ExecutorRuntime::new(
                self.inner.registry.clone(),
                self.inner.events.clone(),
                self.inner.clock.clone(),
                self.inner.id.clone(),
                runs.clone(),
            )
            .with_local_retries(local_retries.clone())
            .with_calendars(calendars_reader.clone());
            executor.start(runtime).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("executor '{alias}' failed to start: {}", e.message()),
                )
            })?;
        }
        // Before anything is scheduled: learn how far this host's clock is from the stores'.
        skew::refresh(&self.inner, true).await;
        // And the calendars jobs may name.
        self.start_calendars().await?;
        let loaded = self.store_pending(pending).await?;
        self.check_stored_jobs(loaded).await?;
        self.start_history();
        self.recover_own_runs().await;
        self.start_running();
        let stop = self.control().stop.clone();
        for (_, store) in &self.inner.stores {
            if let Some(notifications) = store.notifications() {
                let inner = Arc::downgrade(&self.inner);
                notifications.watch_changes(
                    Arc::new(move || {
                        if let Some(inner) = inner.upgrade() {
                            inner.wakeup.notify_one();
                        }
                    }),
                    stop.clone(),
                );
            }
        }
        let state = if paused {
            SchedulerState::Paused
        } else {
            SchedulerState::Running
        };
        self.inner.state.store(state as u8, Ordering::Release);
        let engine = tokio::spawn(engine::run(self.clone(), self.control().stop.clone()));
        self.control().engine = Some(engine);
        tracing::info!(scheduler_id = &*self.inner.id, "Scheduler started");
        self.inner.events.emit(Event::SchedulerStarted);
        if paused {
            self.inner.events.emit(Event::SchedulerPaused);
        }
        Ok(())
    }

    /// Shuts the scheduler down (APScheduler's `shutdown(wait)`): stops the engine, then the
    /// executors. With `wait`, returns once running runs have finished; without, asks them to
    /// stop and returns at once. The scheduler can be started again.
    ///
    /// # Errors
    /// [`ErrorKind::NotRunning`] when not started.
    pub async fn shutdown(&self, wait: bool) -> Result<()> {
        let _lifecycle = self.inner.lifecycle.lock().await;
        if !self.running() {
            return Err(Error::new(
                ErrorKind::NotRunning,
                "scheduler is not running",
            ));
        }
        self.inner
            .state
            .store(SchedulerState::Stopped as u8, Ordering::Release);
        let (engine, runs) = {
            let mut control = self.control();
            control.stop.cancel();
            (control.engine.take(), control.runs.clone())
        };
        if let Some(engine) = engine {
            let _ = engine.await;
        }
        if !wait {
            runs.cancel();
        }
        for executor in self.inner.executors.values() {
            executor.shutdown(wait).await;
        }
        self.flush_runs().await;
        tracing::info!("Scheduler has been shut down");
        self.inner.events.emit(Event::SchedulerShutdown);
        Ok(())
    }

    /// Pauses job processing (jobs stay; missed runs are handled on resume).
    ///
    /// # Errors
    /// [`ErrorKind::NotRunning`] when not started.
    pub fn pause(&self) -> Result<()> {
        match self.state() {
            SchedulerState::Stopped => Err(Error::new(
                ErrorKind::NotRunning,
                "scheduler is not running",
            )),
            SchedulerState::Paused => Ok(()),
            SchedulerState::Running => {
                self.inner
                    .state
                    .store(SchedulerState::Paused as u8, Ordering::Release);
                tracing::info!("Paused scheduler job processing");
                self.inner.events.emit(Event::SchedulerPaused);
                Ok(())
            }
        }
    }

    /// Resumes job processing.
    ///
    /// # Errors
    /// [`ErrorKind::NotRunning`] when not started.
    pub fn resume(&self) -> Result<()> {
        match self.state() {
            SchedulerState::Stopped => Err(Error::new(
                ErrorKind::NotRunning,
                "scheduler is not running",
            )),
            SchedulerState::Running => Ok(()),
            SchedulerState::Paused => {
                self.inner
                    .state
                    .store(SchedulerState::Running as u8, Ordering::Release);
                // Stores may have been away meanwhile: no reaping until contact is proven.
                self.inner.running.reset_contact();
                tracing::info!("Resumed scheduler job processing");
                self.inner.events.emit(Event::SchedulerResumed);
                self.wakeup();
                Ok(())
            }
        }
    }

    /// Adds a job (APScheduler's `add_job`). Checks the id, the task and its arguments, the
    /// store and executor aliases; computes the first run time. Before `start`, the job is kept
    /// and stored when the scheduler starts.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the bad field; [`ErrorKind::AlreadyExists`] when the
    /// id is taken and `replace_existing` is not set; store errors.
    pub async fn add_job(&self, spec: JobSpec) -> Result<Job> {
        if !self.running() {
            return self.queue(spec);
        }
        let now = self.inner.clock.now();
        let Pending {
            job,
            next_run_time,
            replace_existing,
        } = self.prepare(spec, now)?;
        let job = self
            .store_job(job, next_run_time, replace_existing, now)
            .await?;
        self.wakeup();
        Ok(job)
    }

    /// Adds many jobs at once (one store call per store): for loading a job list.
    ///
    /// # Errors
    /// The first invalid spec's error (nothing is added then); store errors.
    pub async fn add_jobs(&self, specs: Vec<JobSpec>) -> Result<Vec<Job>> {
        if !self.running() {
            return specs.into_iter().map(|s| self.queue(s)).collect();
        }
        let now = self.inner.clock.now();
        let prepared = specs
            .into_iter()
            .map(|s| self.prepare(s, now))
            .collect::<Result<Vec<_>>>()?;
        let mut added = Vec::with_capacity(prepared.len());
        for (idx, jobs) in self.by_store(prepared, now)?.into_iter().enumerate() {
            if !jobs.is_empty() {
                added.extend(self.store_batch(idx, jobs, now).await?.0);
            }
        }
        self.wakeup();
        Ok(added)
    }

    fn queue(&self, spec: JobSpec) -> Result<Job> {
        let now = self.inner.clock.now();
        let Pending {
            job,
            next_run_time,
            replace_existing,
        } = self.prepare(spec, now)?;
        tracing::info!(
            "Adding job tentatively -- it will be properly scheduled when the scheduler starts"
        );
        let mut control = self.control();
        if let Some(existing) = control.pending.get_mut(&job.id) {
            if !replace_existing {
                return Err(already_exists(job.id()));
            }
            *existing = Pending {
                job: job.clone(),
                next_run_time,
                replace_existing,
            };
        } else {
            control.pending.push(Pending {
                job: job.clone(),
                next_run_time,
                replace_existing,
            });
        }
        Ok(job)
    }

    /// Validates a spec into a job (without run time).
    fn prepare(&self, spec: JobSpec, now: DateTime<Utc>) -> Result<Pending> {
        let replace = spec.replace_existing;
        let next_run_time = spec.next_run_time;
        let mut job = spec.into_job(&self.inner.defaults)?;
        self.store_index(job.jobstore())?;
        self.check_executor(job.executor())?;
        self.inner
            .registry
            .check(&job.func, &job.args, &job.kwargs)?;
        // One shared name per task instead of one string per job.
        if let Some(task) = self.inner.registry.get(&job.func) {
            job.func = task.name().clone();
        }
        job.trigger.set_default_timezone(&self.inner.timezone);
        job.trigger.anchor(now);
        // Before start the stored calendars are not read yet: checked when the job is stored.
        if self.running() {
            self.check_calendars(&job)?;
        }
        Ok(Pending {
            job,
            next_run_time,
            replace_existing: replace,
        })
    }

    fn check_executor(&self, alias: &str) -> Result<()> {
        if self.inner.executors.contains_key(alias) {
            Ok(())
        } else {
            let mut known: Vec<&str> = self.inner.executors.keys().map(|a| a.as_ref()).collect();
            known.sort_unstable();
            Err(Error::invalid(
                "executor",
                format!("no executor '{alias}' (configured: {})", known.join(", ")),
            ))
        }
    }

    fn store_index(&self, alias: &str) -> Result<usize> {
        self.inner
            .stores
            .iter()
            .position(|(a, _)| **a == *alias)
            .ok_or_else(|| {
                let known: Vec<&str> = self.inner.stores.iter().map(|(a, _)| a.as_ref()).collect();
                Error::invalid(
                    "jobstore",
                    format!("no job store '{alias}' (configured: {})", known.join(", ")),
                )
            })
    }

    /// Sets the first run time: explicit, or the trigger's first fire time (with jitter).
    fn set_first_run_time(
        &self,
        job: &mut Job,
        explicit: Option<Option<DateTime<Utc>>>,
        now: DateTime<Utc>,
    ) {
        match explicit {
            Some(t) => job.set_next_run_time(t, t),
            None => {
                let fire = job.next_fire_time(None, now, &self.inner.calendars());
                job.set_next_run_time(fire.map(|f| engine::with_jitter(&job.trigger, f)), fire);
                if fire.is_none() {
                    tracing::warn!(
                        job_id = job.id(),
                        "Job \"{}\" has no fire time left; it is added paused",
                        job.name()
                    );
                }
            }
        }
    }

    async fn store_job(
        &self,
        mut job: Job,
        next_run_time: Option<Option<DateTime<Utc>>>,
        replace: bool,
        now: DateTime<Utc>,
    ) -> Result<Job> {
        self.check_calendars(&job)?;
        self.set_first_run_time(&mut job, next_run_time, now);
        let (alias, store) = &self.inner.stores[self.store_index(job.jobstore())?];
        match store.add_job(&job).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists && replace => {
                if let Some(kept) = replace_job(store, &job).await? {
                    return Ok(kept);
                }
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(already_exists(job.id())),
            Err(e) => return Err(e),
        }
        self.announce_added(alias, &job);
        Ok(job)
    }

    /// Stores the jobs added before `start`: one batch per store (a configuration of 100,000
    /// jobs), and for the ids already stored (`replace_existing`), one read of the store's
    /// jobs to keep those whose definition did not change, as [`replace_job`] does one by one.
    ///
    /// Returns, per store, the stored jobs it read (for [`Scheduler::check_stored_jobs`]).
    async fn store_pending(&self, pending: Vec<Pending>) -> Result<Vec<Option<Vec<Job>>>> {
        let now = self.inner.clock.now();
        for p in &pending {
            self.check_calendars(&p.job)?;
        }
        // The stores' jobs as read before any replacement: only their tasks matter to the
        // check that follows, and a replacement changed none that was not checked when added.
        let mut loaded = vec![None; self.inner.stores.len()];
        for (idx, jobs) in self.by_store(pending, now)?.into_iter().enumerate() {
            if !jobs.is_empty() {
                loaded[idx] = self.store_batch(idx, jobs, now).await?.1;
            }
        }
        Ok(loaded)
    }

    /// Jobs to add, each with its first run time, grouped by the index of their store.
    fn by_store(&self, pending: Vec<Pending>, now: DateTime<Utc>) -> Result<Vec<Vec<Prepared>>> {
        let mut by_store: Vec<Vec<Prepared>> = vec![Vec::new(); self.inner.stores.len()];
        for Pending {
            mut job,
            next_run_time,
            replace_existing,
        } in pending
        {
            self.set_first_run_time(&mut job, next_run_time, now);
            let idx = self.store_index(job.jobstore())?;
            by_store[idx].push((job, replace_existing, next_run_time));
        }
        Ok(by_store)
    }

    /// Adds `jobs` to the store at `idx` in one batch; the ids already stored are replaced
    /// (`replace_existing`) or kept when their definition did not change ([`replace_job`]):
    /// one by one for a few, with one read of the store's jobs for many. A batch that fails as
    /// a whole (another instance inserted some of these ids meanwhile) is added job by job,
    /// each conflict then an `AlreadyExists` to replace. Returns the jobs as stored (a kept
    /// one as it was), in order, and the store's jobs when it read them.
    async fn store_batch(
        &self,
        idx: usize,
        jobs: Vec<Prepared>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Job>, Option<Vec<Job>>)> {
        let (alias, store) = &self.inner.stores[idx];
        let plain: Vec<Job> = jobs.iter().map(|(j, ..)| j.clone()).collect();
        let results = match store.add_jobs(&plain).await {
            Ok(results) => results,
            Err(e) => {
                tracing::debug!(
                    "Adding {} job(s) to job store {alias:?} in one batch failed ({e}); adding them one by one",
                    jobs.len()
                );
                let mut added = Vec::with_capacity(jobs.len());
                for (job, replace, next_run_time) in jobs {
                    added.push(self.store_job(job, next_run_time, replace, now).await?);
                }
                return Ok((added, None));
            }
        };
        let mut added = Vec::with_capacity(jobs.len());
        // Positions in `added` of the jobs whose id was taken.
        let mut taken = Vec::new();
        for ((job, replace, _), result) in jobs.into_iter().zip(results) {
            match result {
                Ok(()) => self.announce_added(alias, &job),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && replace => {
                    taken.push(added.len())
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    return Err(already_exists(job.id()));
                }
                Err(e) => return Err(e),
            }
            added.push(job);
        }
        if taken.len() <= 16 {
            for i in taken {
                match replace_job(store, &added[i]).await? {
                    Some(kept) => added[i] = kept,
                    None => self.announce_added(alias, &added[i]),
                }
            }
            return Ok((added, None));
        }
        let all = store.get_all_jobs().await?;
        {
            let stored: HashMap<&str, &Job> = all.iter().map(|j| (j.id(), j)).collect();
            for i in taken {
                let kept = match stored.get(added[i].id()) {
                    Some(existing) if unchanged(existing, &added[i])? => Some((*existing).clone()),
                    _ => None,
                };
                match kept {
                    Some(kept) => added[i] = kept,
                    None => {
                        store.update_job(&added[i]).await?;
                        self.announce_added(alias, &added[i]);
                    }
                }
            }
        }
        Ok((added, Some(all)))
    }

    /// Quarantines a job in `store` and reports it (WARN log and `JobQuarantined` event).
    async fn quarantine(
        &self,
        alias: &Arc<str>,
        store: &Arc<dyn JobStore>,
        id: &Arc<str>,
        reason: String,
    ) {
        match store.quarantine_job(id, &reason).await {
            Ok(()) => self.announce_quarantined(alias, id.clone(), reason),
            Err(e) => tracing::error!(
                job_id = &**id,
                "Could not quarantine job {id} in job store {alias:?}: {e}"
            ),
        }
    }

    fn announce_quarantined(&self, alias: &Arc<str>, id: Arc<str>, reason: String) {
        tracing::warn!(
            job_id = &*id,
            "Job \"{id}\" in job store \"{alias}\" is quarantined (kept, not scheduled): {reason}"
        );
        self.inner.events.emit(Event::JobQuarantined {
            job_id: id,
            jobstore: alias.clone(),
            reason,
        });
    }

    /// At start: reports the jobs each store holds in quarantine, and quarantines the stored
    /// jobs whose task this process has not registered.
    async fn check_stored_jobs(&self, mut loaded: Vec<Option<Vec<Job>>>) -> Result<()> {
        for (idx, (alias, store)) in self.inner.stores.iter().enumerate() {
            for q in store.quarantined_jobs().await? {
                self.announce_quarantined(alias, Arc::from(q.id.as_str()), q.reason);
            }
            let jobs = match loaded.get_mut(idx).and_then(Option::take) {
                Some(jobs) => jobs,
                None => store.get_all_jobs().await?,
            };
            for job in jobs {
                if !self.inner.registry.contains(job.func()) {
                    let reason = engine::unknown_task(job.func());
                    self.quarantine(alias, store, &job.id, reason).await;
                }
            }
        }
        Ok(())
    }

    /// Starts writing run history (once per scheduler), when any store keeps it.
    fn start_history(&self) {
        let keeps = self.inner.options.history_per_job > 0
            && self.inner.stores.iter().any(|(_, s)| s.history().is_some());
        let mut control = self.control();
        if !keeps || control.history.is_some() {
            return;
        }
        let retention = crate::history::Retention {
            per_job: self.inner.options.history_per_job,
            max_age: self.inner.options.history_max_age,
        };
        let tx = history::spawn_writer(self.inner.stores.clone(), retention);
        control.history = Some(tx.clone());
        drop(control);
        let id = self.inner.id.clone();
        self.inner
            .events
            .add_listener(history::HISTORY_EVENTS, move |event| {
                history::records(event, &id, |alias, record| {
                    let _ = tx.send((alias, record));
                });
            });
    }

    /// A job's run history, newest first (by scheduled time, then attempt), at most `limit` records, from every store that keeps
    /// one (see [`crate::history`]).
    ///
    /// # Errors
    /// A store's error.
    pub async fn job_runs(&self, id: &str, limit: usize) -> Result<Vec<crate::history::RunRecord>> {
        let mut runs = Vec::new();
        for (_, store) in &self.inner.stores {
            if let Some(history) = store.history() {
                runs.extend(history.job_runs(id, limit).await?);
            }
        }
        // Newest first; a fire time's retries after (above) its earlier attempts.
        runs.sort_by_key(|r| std::cmp::Reverse((r.scheduled_run_time, r.attempt)));
        runs.truncate(limit);
        Ok(runs)
    }

    /// The problem runs of every job in every store that keeps history (error, missed,
    /// crashed, timed out: [`RunOutcome::is_problem`](crate::RunOutcome::is_problem)), newest
    /// first, scheduled before `before` (all when `None`), at most `limit`.
    ///
    /// # Errors
    /// A store's error.
    pub async fn problem_runs(
        &self,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<crate::history::RunRecord>> {
        let mut runs = Vec::new();
        for (_, store) in &self.inner.stores {
            if let Some(history) = store.history() {
                runs.extend(history.problem_runs(before, limit).await?);
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse((r.scheduled_run_time, r.attempt)));
        runs.truncate(limit);
        Ok(runs)
    }

    /// How many history records of every job were scheduled at or after `since`, by outcome,
    /// over every store that keeps history.
    ///
    /// # Errors
    /// A store's error.
    pub async fn outcome_counts(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(crate::history::RunOutcome, u64)>> {
        let mut counts: Vec<(crate::history::RunOutcome, u64)> = Vec::new();
        for (_, store) in &self.inner.stores {
            if let Some(history) = store.history() {
                for (outcome, n) in history.outcome_counts(since).await? {
                    match counts.iter_mut().find(|(o, _)| *o == outcome) {
                        Some((_, total)) => *total += n,
                        None => counts.push((outcome, n)),
                    }
                }
            }
        }
        Ok(counts)
    }

    /// The quarantined jobs of every store, with their store's alias.
    ///
    /// # Errors
    /// A store's error.
    pub async fn quarantined_jobs(&self) -> Result<Vec<(String, crate::QuarantinedJob)>> {
        let mut all = Vec::new();
        for (alias, store) in &self.inner.stores {
            for q in store.quarantined_jobs().await? {
                all.push((alias.to_string(), q));
            }
        }
        Ok(all)
    }

    fn announce_added(&self, alias: &Arc<str>, job: &Job) {
        tracing::info!(
            job_id = job.id(),
            "Added job \"{}\" to job store \"{alias}\"",
            job.name()
        );
        self.inner.events.emit(Event::JobAdded {
            job_id: job.id.clone(),
            jobstore: alias.clone(),
        });
    }

    /// Finds a job: in `jobstore` if given, else in every store (and the pending list).
    async fn find(&self, id: &str, jobstore: Option<&str>) -> Result<(usize, Job)> {
        for (idx, (alias, store)) in self.inner.stores.iter().enumerate() {
            if jobstore.is_some_and(|j| j != &**alias) {
                continue;
            }
            if let Some(mut job) = store.lookup_job(id).await? {
                job.jobstore = (&**alias != "default").then(|| alias.clone());
                return Ok((idx, job));
            }
        }
        Err(not_found(id))
    }

    /// The job with this id (from any store, or pending), if any.
    ///
    /// # Errors
    /// Store errors.
    pub async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        if let Some(p) = self.control().pending.get(id) {
            return Ok(Some(p.job.clone()));
        }
        match self.find(id, None).await {
            Ok((_, job)) => Ok(Some(job)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every job (of one store, or of all), ordered by next run time then id, paused jobs last;
    /// pending jobs (added before `start`) come first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn get_jobs(&self, jobstore: Option<&str>) -> Result<Vec<Job>> {
        let mut jobs: Vec<Job> = self
            .control()
            .pending
            .iter()
            .filter(|p| jobstore.is_none_or(|j| j == p.job.jobstore()))
            .map(|p| p.job.clone())
            .collect();
        let mut stored = Vec::new();
        for (alias, store) in &self.inner.stores {
            if jobstore.is_some_and(|j| j != &**alias) {
                continue;
            }
            for mut job in store.get_all_jobs().await? {
                job.jobstore = (&**alias != "default").then(|| alias.clone());
                stored.push(job);
            }
        }
        if self.inner.stores.len() > 1 {
            stored.sort_by(|a, b| match (a.next_run_time, b.next_run_time) {
                (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.id.cmp(&b.id)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.id.cmp(&b.id),
            });
        }
        jobs.extend(stored);
        Ok(jobs)
    }

    /// A page of the jobs (of one store, or of all) matching `query`, in its order, with the
    /// number that match (see [`crate::store::query`]): each store answers with its own query
    /// or index ([`JobStore::list_jobs`]); pages of several stores are merged here. Pending
    /// jobs (added before `start`) are listed too. [`JobStatus::Quarantined`](crate::store::JobStatus::Quarantined) lists none (see
    /// [`Scheduler::quarantined_jobs`]).
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_jobs(
        &self,
        jobstore: Option<&str>,
        mut query: crate::store::JobQuery,
    ) -> Result<crate::store::JobPage> {
        use crate::store::{JobCursor, JobStatus};
        if query.state == Some(JobStatus::Running) && query.running_here.is_none() {
            let here: std::collections::HashSet<Arc<str>> = self
                .inner
                .executors
                .values()
                .flat_map(|e| e.running_jobs())
                .collect();
            query.running_here = Some(Arc::new(here));
        }
        let pending: Vec<Job> = self
            .control()
            .pending
            .iter()
            .filter(|p| jobstore.is_none_or(|j| j == p.job.jobstore()))
            .map(|p| p.job.clone())
            .collect();
        let size = query.page_size();
        let running_here = query.running_here.clone().unwrap_or_default();
        let first = query.page_of(pending, |j| running_here.contains(j.id()));
        let mut total = first.total;
        let mut more = first.next.is_some();
        let mut jobs = first.jobs;
        for (alias, store) in &self.inner.stores {
            if jobstore.is_some_and(|j| j != &**alias) {
                continue;
            }
            let page = store.list_jobs(&query).await?;
            total += page.total;
            more |= page.next.is_some();
            jobs.extend(page.jobs.into_iter().map(|mut job| {
                job.jobstore = (&**alias != "default").then(|| alias.clone());
                job
            }));
        }
        let sort = query.sort;
        jobs.sort_by(|a, b| {
            crate::store::query::compare_keys(
                sort,
                (a.next_run_time, a.id()),
                (b.next_run_time, b.id()),
            )
        });
        if jobs.len() > size {
            jobs.truncate(size);
            more = true;
        }
        // Each source gives its first `size` matches: when one had more, every job before the
        // last one here is here, so the next page starts after it.
        let next = if more {
            jobs.last().map(|j| JobCursor::after(j, sort))
        } else {
            None
        };
        Ok(crate::store::JobPage { jobs, next, total })
    }

    /// Pauses (or resumes, with `resume`) every job matching `query`'s filters (all pages),
    /// as [`Scheduler::pause_job`] / [`Scheduler::resume_job`] do one by one; jobs already
    /// paused (resumed) are left as they are. Returns the ids changed (a job removed meanwhile
    /// is skipped).
    ///
    /// # Errors
    /// Store errors; [`ErrorKind::InvalidInput`] for a query without a filter (use `tag`, `q`
    /// or `state`: a bulk action on every job is spelled out, not implied).
    pub async fn pause_jobs_matching(
        &self,
        query: &crate::store::JobQuery,
        resume: bool,
    ) -> Result<Vec<Arc<str>>> {
        if query.tag.is_none() && query.q.is_none() && query.state.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a bulk pause or resume needs a filter: tag, q or state",
            ));
        }
        let mut query = crate::store::JobQuery {
            limit: crate::store::query::MAX_PAGE,
            after: None,
            sort: crate::store::JobSort::Id,
            ..query.clone()
        };
        // Every page first: changing a job's next run time does not move it in id order, but
        // reading all ids before acting keeps the walk simple and bounded.
        let mut ids = Vec::new();
        loop {
            let page = self.list_jobs(None, query.clone()).await?;
            // Only the jobs the action changes: paused ones to resume, scheduled ones to pause.
            ids.extend(
                page.jobs
                    .iter()
                    .filter(|j| j.next_run_time.is_none() == resume)
                    .map(|j| j.id_arc().clone()),
            );
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let mut changed = Vec::with_capacity(ids.len());
        for id in ids {
            let result = if resume {
                self.resume_job(&id).await.map(|_| ())
            } else {
                self.pause_job(&id).await.map(|_| ())
            };
            match result {
                Ok(()) => changed.push(id),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Changes a job's fields (APScheduler's `modify_job`); a new trigger recomputes the next
    /// run time unless `next_run_time` is given too. Applied atomically: on any error the job
    /// is unchanged.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::InvalidInput`] naming the bad field.
    pub async fn modify_job(&self, id: &str, changes: JobChanges) -> Result<Job> {
        let now = self.inner.clock.now();
        let modify = |job: &mut Job| -> Result<()> {
            changes.apply(job)?;
            if let Some(executor) = &changes.executor {
                self.check_executor(executor)?;
            }
            if changes.func.is_some() || changes.args.is_some() || changes.kwargs.is_some() {
                self.inner
                    .registry
                    .check(&job.func, &job.args, &job.kwargs)?;
            }
            if let Some(trigger) = &changes.trigger {
                let mut trigger = trigger.clone();
                trigger.set_default_timezone(&self.inner.timezone);
                trigger.anchor(now);
                job.trigger = trigger;
            }
            if changes.calendars.is_some() {
                self.check_calendars(job)?;
            }
            if (changes.trigger.is_some() || changes.calendars.is_some())
                && changes.next_run_time.is_none()
                && !job.is_paused()
            {
                let fire = job.next_fire_time(None, now, &self.inner.calendars());
                job.set_next_run_time(fire.map(|f| engine::with_jitter(&job.trigger, f)), fire);
            }
            if let Some(t) = changes.next_run_time {
                job.set_next_run_time(t, t);
            }
            Ok(())
        };
        self.update_with(id, modify).await
    }

    /// Gives a job a new trigger and recomputes its next run time (APScheduler's
    /// `reschedule_job`); a paused job is resumed.
    ///
    /// # Errors
    /// As [`Scheduler::modify_job`].
    pub async fn reschedule_job(&self, id: &str, trigger: BuiltinTrigger) -> Result<Job> {
        let now = self.inner.clock.now();
        let mut trigger = trigger;
        trigger.set_default_timezone(&self.inner.timezone);
        trigger.anchor(now);
        let calendars = self.inner.calendars();
        self.update_with(id, move |job| {
            job.trigger = trigger.clone();
            let fire = job.next_fire_time(None, now, &calendars);
            let next = fire.map(|f| engine::with_jitter(&job.trigger, f));
            job.set_next_run_time(next, fire);
            Ok(())
        })
        .await
    }

    /// Pauses a job: it keeps its place but has no next run time.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`].
    pub async fn pause_job(&self, id: &str) -> Result<Job> {
        self.update_with(id, |job| {
            job.set_next_run_time(None, None);
            Ok(())
        })
        .await
    }

    /// Resumes a paused job from now on; a job whose trigger has no fire time left is removed
    /// (as APScheduler does) and `Ok(None)` returned.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`].
    pub async fn resume_job(&self, id: &str) -> Result<Option<Job>> {
        let now = self.inner.clock.now();
        let job = self.get_job(id).await?.ok_or_else(|| not_found(id))?;
        let fire = job.next_fire_time(None, now, &self.inner.calendars());
        match fire {
            None => {
                self.remove_job(id, None).await?;
                Ok(None)
            }
            Some(fire) => {
                let next = engine::with_jitter(&job.trigger, fire);
                self.update_with(id, move |job| {
                    job.set_next_run_time(Some(next), Some(fire));
                    Ok(())
                })
                .await
                .map(Some)
            }
        }
    }

    async fn update_with(&self, id: &str, f: impl Fn(&mut Job) -> Result<()>) -> Result<Job> {
        {
            let mut control = self.control();
            if let Some(p) = control.pending.get_mut(id) {
                let mut job = p.job.clone();
                f(&mut job)?;
                p.job = job.clone();
                return Ok(job);
            }
        }
        let (idx, mut job) = self.find(id, None).await?;
        f(&mut job)?;
        let (alias, store) = &self.inner.stores[idx];
        store.update_job(&job).await?;
        tracing::info!(job_id = id, "Modified job \"{}\"", job.name());
        self.inner.events.emit(Event::JobModified {
            job_id: job.id.clone(),
            jobstore: alias.clone(),
        });
        self.wakeup();
        Ok(job)
    }

    /// Removes a job (from `jobstore`, or from whichever store has it).
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`].
    pub async fn remove_job(&self, id: &str, jobstore: Option<&str>) -> Result<()> {
        {
            let mut control = self.control();
            if control
                .pending
                .get(id)
                .is_some_and(|p| jobstore.is_none_or(|j| j == p.job.jobstore()))
            {
                control.pending.retain(|p| &*p.job.id != id);
                return Ok(());
            }
        }
        for (index, (alias, store)) in self.inner.stores.iter().enumerate() {
            if jobstore.is_some_and(|j| j != &**alias) {
                continue;
            }
            match store.remove_job(id).await {
                Ok(()) => {
                    // Its fire times waiting for a run to end (overlap policies) go with it.
                    if self.inner.running.tracks(index) {
                        overlap::drop_queue(store, &Arc::from(id)).await;
                    }
                    self.announce_removed(alias, Arc::from(id));
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Err(not_found(id))
    }

    pub(crate) fn announce_removed(&self, alias: &Arc<str>, id: Arc<str>) {
        tracing::info!(job_id = &*id, "Removed job {id}");
        self.inner.events.emit(Event::JobRemoved {
            job_id: id,
            jobstore: alias.clone(),
        });
    }

    /// Removes every job (of one store, or of all).
    ///
    /// # Errors
    /// Store errors.
    pub async fn remove_all_jobs(&self, jobstore: Option<&str>) -> Result<()> {
        self.control()
            .pending
            .retain(|p| jobstore.is_some_and(|j| j != p.job.jobstore()));
        for (alias, store) in &self.inner.stores {
            if jobstore.is_some_and(|j| j != &**alias) {
                continue;
            }
            store.remove_all_jobs().await?;
            self.inner.events.emit(Event::AllJobsRemoved {
                jobstore: alias.clone(),
            });
        }
        Ok(())
    }

    /// Runs a job now, through its executor, without changing its schedule (Flask-APScheduler's
    /// `run_job`, but submitted rather than run inline).
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::NotRunning`] before `start`;
    /// [`ErrorKind::MaxInstancesReached`].
    pub async fn run_job(&self, id: &str) -> Result<Job> {
        if !self.running() {
            return Err(Error::new(
                ErrorKind::NotRunning,
                "scheduler is not running",
            ));
        }
        let (idx, job) = self.find(id, None).await?;
        let executor = self.inner.executors.get(job.executor()).ok_or_else(|| {
            Error::invalid("executor", format!("no executor '{}'", job.executor()))
        })?;
        let now = self.inner.clock.now();
        let alias = self.inner.stores[idx].0.clone();
        let mut run = JobRun::new(job.clone(), alias.clone(), vec![now]);
        run.slot = self.begin_run_now(idx, &job, now).await?;
        if job.overlap() == crate::job::Overlap::AllowAll {
            run.job.max_instances = u32::MAX;
        }
        overlap::prepare(&self.inner, &mut run);
        executor.submit(run)?;
        self.inner.events.emit(Event::JobSubmitted {
            job_id: job.id.clone(),
            jobstore: alias,
            run_times: vec![now],
        });
        Ok(job)
    }

    /// Calls `listener` for every event in `mask` (APScheduler's `add_listener`).
    pub fn add_listener(
        &self,
        mask: EventMask,
        listener: impl Fn(&Event) + Send + Sync + 'static,
    ) -> ListenerId {
        self.inner.events.add_listener(mask, listener)
    }

    /// Removes a listener.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.inner.events.remove_listener(id)
    }

    /// A stream (broadcast receiver) of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The event bus.
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// Wakes the engine to look at the stores now.
    pub fn wakeup(&self) {
        self.inner.wakeup.notify_one();
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.inner.control.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn not_found(id: &str) -> Error {
    Error::job_not_found(id)
}

fn already_exists(id: &str) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        format!("a job with id '{id}' already exists"),
    )
}
