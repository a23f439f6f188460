//! Executors run jobs' tasks: the `Executor` contract, the run logic every executor shares
//! (APScheduler's `run_job`), and the async executor (tokio tasks), the default.
//!
//! `submit` refuses a run when the job already has `max_instances` runs executing
//! ([`ErrorKind::MaxInstancesReached`]). A submitted [`JobRun`] holds one or more run times
//! (several when missed runs are not coalesced); each is checked against
//! `misfire_grace_time` when it actually starts, then run, and its outcome reported as an event
//! and logged with APScheduler's wording.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Event, EventBus};
use crate::history::RunOutcome;
use crate::job::Job;
use crate::registry::{Handler, JobContext, TaskError, TaskRegistry, TaskResult};

/// One submission: a job and the run times to run, in order.
#[derive(Debug, Clone)]
pub struct JobRun {
    /// The job (its `next_run_time` is already the following one, for log lines).
    pub job: Job,
    /// The alias of the job's store.
    pub jobstore: Arc<str>,
    /// Scheduled run times (UTC), oldest first.
    pub run_times: Vec<DateTime<Utc>>,
    /// The run's record in a shared store's runs in progress (see
    /// [`RunningRuns::begin_runs`](crate::RunningRuns::begin_runs)); the record is dropped when the
    /// last clone of the `JobRun` is. `None` for stores that do not keep such records.
    pub slot: Option<RunSlot>,
    /// The run repeats one cut off by a crashed instance (`recover = true`, Quartz's
    /// "recovering" run): `misfire_grace_time` is not applied to it.
    pub recovery: bool,
    /// The executor's `max_instances` slot the run holds ([`Instances::acquire_slot`]): freed
    /// before the event of the run's last run time, as APScheduler's `BaseExecutor` frees it
    /// before dispatching, so a listener that resubmits the job is not refused. `None` for
    /// executors that count otherwise.
    pub instance: Option<InstanceSlot>,
    /// Which attempt at its run times this is: 1, or the retry's number (see
    /// [`RetryPolicy`](crate::RetryPolicy)).
    pub attempt: u32,
    /// For a run a backfill asked for (not the job's own schedule): the end of the
    /// backfilled range (exclusive, UTC). `None` for other runs.
    pub backfill_until: Option<DateTime<Utc>>,
    /// How a newer fire time of the job asks this run to stop (overlap `cancel_other`,
    /// `terminate_other`); `None` for other policies.
    pub(crate) stop: Option<Arc<RunStop>>,
}

/// A run's stop requests (overlap `cancel_other` / `terminate_other`): the scheduler cancels a
/// token, the executor's [`ExecutorRuntime`] reacts as [`StopRequest`](crate::StopRequest)
/// says.
#[derive(Debug, Default)]
pub(crate) struct RunStop {
    /// The task's [`JobContext::cancelled`] is to resolve.
    pub(crate) cancel: CancellationToken,
    /// The run is to be stopped as at a timeout.
    pub(crate) terminate: CancellationToken,
}

impl RunStop {
    /// Asks the run to stop as `how` says.
    pub(crate) fn request(&self, how: crate::store::StopRequest) {
        match how {
            crate::store::StopRequest::Cancel => self.cancel.cancel(),
            crate::store::StopRequest::Terminate => self.terminate.cancel(),
        }
    }
}

impl JobRun {
    /// A run of `job` (from the store `jobstore`) for `run_times`, without a slot.
    pub fn new(job: Job, jobstore: Arc<str>, run_times: Vec<DateTime<Utc>>) -> Self {
        JobRun {
            job,
            jobstore,
            run_times,
            slot: None,
            recovery: false,
            instance: None,
            attempt: 1,
            backfill_until: None,
            stop: None,
        }
    }
}

/// A run's record among its store's runs in progress: while any clone lives, the run counts
/// against `max_instances` on every instance; dropping the last one ends the record.
#[derive(Clone)]
pub struct RunSlot(pub(crate) Arc<SlotInner>);

/// A run that ended here: (store index, run id), for the record's deletion.
pub(crate) type Ended = (usize, Arc<str>);

/// The records of runs that ended here and are still to be deleted from their store: (store
/// index, run id). The background task deletes them in batches; the engine deletes them itself
/// before it counts a store's runs in progress, so a run that has ended never makes its job's
/// next fire time skip, and a record whose deletion failed is never mistaken for someone
/// else's run (lease model, finding 10).
#[derive(Debug, Default)]
pub(crate) struct Ending(
    std::sync::Mutex<Vec<Ended>>,
    std::sync::Mutex<Vec<Retrying>>,
    /// The run ids of the slots alive here.
    std::sync::Mutex<std::collections::HashSet<Arc<str>>>,
    /// (store index, job id) of jobs with queued fire times to look at: a run of theirs ended.
    std::sync::Mutex<Vec<(usize, Arc<str>)>>,
);

impl Ending {
    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Ended>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the run ids of the store at `index`.
    pub(crate) fn take(&self, index: usize) -> Vec<Arc<str>> {
        let mut list = self.list();
        let (taken, kept): (Vec<Ended>, Vec<Ended>) = std::mem::take(&mut *list)
            .into_iter()
            .partition(|(i, _)| *i == index);
        *list = kept;
        taken.into_iter().map(|(_, run)| run).collect()
    }

    /// Gives back run ids whose deletion failed.
    pub(crate) fn put_back(&self, index: usize, runs: impl IntoIterator<Item = Arc<str>>) {
        self.list().extend(runs.into_iter().map(|run| (index, run)));
    }

    fn retrying(&self) -> std::sync::MutexGuard<'_, Vec<Retrying>> {
        self.1.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the failed runs of the store at `index` whose records are to become retries.
    pub(crate) fn take_retrying(&self, index: usize) -> Vec<Retrying> {
        let mut list = self.retrying();
        let (taken, kept): (Vec<Retrying>, Vec<Retrying>) = std::mem::take(&mut *list)
            .into_iter()
            .partition(|r| r.store == index);
        *list = kept;
        taken
    }

    /// Whether a slot for run `run_id` is alive here.
    pub(crate) fn is_live(&self, run_id: &str) -> bool {
        self.2
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(run_id)
    }

    /// Takes the jobs of the store at `index` whose queues are to be looked at (a run of
    /// theirs ended here), each once.
    pub(crate) fn take_queue_wakes(&self, index: usize) -> Vec<Arc<str>> {
        let mut list = self.3.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken: Vec<Arc<str>> = Vec::new();
        list.retain(|(i, job)| {
            if *i == index {
                if !taken.contains(job) {
                    taken.push(job.clone());
                }
                false
            } else {
                true
            }
        });
        taken
    }

    /// Gives back failed runs whose retries could not be stored.
    pub(crate) fn put_back_retrying(&self, items: impl IntoIterator<Item = Retrying>) {
        self.retrying().extend(items);
    }
}

/// A pending run to keep in the store, asked for by a run that ended (see [`RunSlot`]): the
/// retry of a failed run, or a backfill's next fire time. Its `run_id` is set when it is
/// stored; its owner is [`PENDING_OWNER`](crate::PENDING_OWNER), its `expires` when it is due.
pub(crate) type PendingRetry = crate::store::RunningRun;

/// A pending run due at `due` for `scheduled_run_time` (attempt `attempt`) of `job` as it ran:
/// the job's state rides along when its trigger has no fire time left (it is removed, and the
/// pending run must still find what to run).
pub(crate) fn pending_run(
    job: &Job,
    scheduled_run_time: DateTime<Utc>,
    attempt: u32,
    due: DateTime<Utc>,
    backfill_until: Option<DateTime<Utc>>,
) -> PendingRetry {
    // Kept whenever the job may be gone by then: its trigger has finished, or its calendars
    // may leave it none (the scheduler then removes or pauses it).
    let finished =
        crate::scheduler::finished(job, scheduled_run_time) || !job.calendars().is_empty();
    crate::store::RunningRun {
        run_id: Arc::from(""),
        job_id: job.id_arc().clone(),
        scheduled_run_time,
        started: due,
        owner: Arc::from(crate::store::PENDING_OWNER),
        expires: due,
        attempt,
        backfill_until,
        job_state: finished
            .then(|| job.stored_state().ok())
            .flatten()
            .map(Arc::from),
    }
}

/// A backfill's step after its fire time `after`: the pending run of its next fire time before
/// `until`, due at `now`; `None` when the range is done. It carries the job's state: a
/// backfill may outlive the job's definition (a date job is removed once it fired).
pub(crate) fn backfill_step(
    job: &Job,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    calendars: &crate::calendar::Calendars,
) -> Option<PendingRetry> {
    let next = job
        .next_fire_time(Some(after), after, calendars)
        .filter(|t| *t > after && *t < until)?;
    let mut pending = pending_run(job, next, 1, now, Some(until));
    if pending.job_state.is_none() {
        pending.job_state = job.stored_state().ok().map(Arc::from);
    }
    Some(pending)
}

/// A run that ended here with retries to store: its record (if written) becomes the first
/// retry ([`RunningRuns::reschedule_run`](crate::RunningRuns::reschedule_run)); other retries
/// (a run of several missed run times) become new records.
#[derive(Debug)]
pub(crate) struct Retrying {
    pub(crate) store: usize,
    /// The run's record, when it was written to the store.
    pub(crate) run_id: Option<Arc<str>>,
    pub(crate) retries: Vec<PendingRetry>,
}

pub(crate) struct SlotInner {
    pub(crate) run_id: Arc<str>,
    store: usize,
    done: tokio::sync::mpsc::UnboundedSender<usize>,
    live: Arc<std::sync::atomic::AtomicUsize>,
    ending: Arc<Ending>,
    /// Whether the record is in the store (it may be written later than the run starts).
    pub(crate) written: std::sync::atomic::AtomicBool,
    /// Retries the run's failures asked for: the record becomes a pending retry instead of
    /// ending.
    retries: std::sync::Mutex<Vec<PendingRetry>>,
    /// The job, when its queued fire times are to be looked at once the run ends (see
    /// [`Overlap::queues`](crate::Overlap::queues)).
    wake_queue: std::sync::Mutex<Option<Arc<str>>>,
}

impl RunSlot {
    pub(crate) fn new(
        run_id: Arc<str>,
        store: usize,
        done: tokio::sync::mpsc::UnboundedSender<usize>,
        (live, ending): (Arc<std::sync::atomic::AtomicUsize>, Arc<Ending>),
        written: bool,
    ) -> Self {
        live.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ending
            .2
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.clone());
        RunSlot(Arc::new(SlotInner {
            run_id,
            store,
            done,
            live,
            ending,
            written: std::sync::atomic::AtomicBool::new(written),
            retries: std::sync::Mutex::new(Vec::new()),
            wake_queue: std::sync::Mutex::new(None),
        }))
    }

    /// Asks that the queued fire times of `job_id` be looked at when the run ends (its job
    /// has an overlap policy that queues them).
    pub(crate) fn wake_queue_on_end(&self, job_id: Arc<str>) {
        let mut wake = self.0.wake_queue.lock().unwrap_or_else(|e| e.into_inner());
        if wake.is_none() {
            *wake = Some(job_id);
        }
    }

    /// Asks that the record, which never started its run (the executor refused it), go back to
    /// the store as `record` (a queued fire time or a pending run, as it was) when the slot is
    /// dropped; its job's queue is not looked at for it (the refusal would repeat).
    pub(crate) fn put_back(&self, record: PendingRetry) {
        self.0
            .wake_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.retry_later(record);
    }

    /// Asks that the run's record become a pending retry of `scheduled_run_time` (attempt
    /// `attempt`, due at `due`) when the run ends, instead of being deleted.
    pub(crate) fn retry_later(&self, retry: PendingRetry) {
        self.0
            .retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(retry);
    }

    /// The run's id in the store.
    pub fn run_id(&self) -> &str {
        &self.0.run_id
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        self.live.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.ending
            .2
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.run_id);
        let retries = std::mem::take(self.retries.get_mut().unwrap_or_else(|e| e.into_inner()));
        let written = self.written.load(std::sync::atomic::Ordering::Acquire);
        if !retries.is_empty() {
            self.ending.put_back_retrying([Retrying {
                store: self.store,
                run_id: written.then(|| self.run_id.clone()),
                retries,
            }]);
            let _ = self.done.send(self.store);
        } else if written {
            self.ending.put_back(self.store, [self.run_id.clone()]);
            let _ = self.done.send(self.store);
        }
        // After the record's end is queued: the look at the job's queue counts without it.
        if let Some(job) = self
            .wake_queue
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            self.ending
                .3
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((self.store, job));
            let _ = self.done.send(self.store);
        }
    }
}

impl fmt::Debug for RunSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RunSlot").field(&self.0.run_id).finish()
    }
}

/// Runs jobs. Every method takes `&self`; implementations manage their own concurrency.
#[async_trait]
pub trait Executor: Send + Sync + fmt::Debug + 'static {
    /// Called when the scheduler starts (again after each restart) with what runs need.
    fn start(&self, runtime: ExecutorRuntime) -> Result<()>;

    /// Starts the runs of `run` without waiting for them.
    ///
    /// # Errors
    /// [`ErrorKind::MaxInstancesReached`] when the job already has `max_instances` runs
    /// executing here; [`ErrorKind::Unavailable`] when the executor is not started.
    fn submit(&self, run: JobRun) -> Result<()>;

    /// Stops accepting runs. With `wait`, returns when running runs have finished; without,
    /// asks them to stop (their [`JobContext::cancelled`] resolves) and returns at once.
    async fn shutdown(&self, wait: bool);

    /// The ids of the jobs with runs executing here (for listings of stores that record no runs
    /// in progress). None by default.
    fn running_jobs(&self) -> Vec<Arc<str>> {
        Vec::new()
    }
}

#[async_trait]
impl<T: Executor + ?Sized> Executor for Arc<T> {
    fn start(&self, runtime: ExecutorRuntime) -> Result<()> {
        (**self).start(runtime)
    }
    fn submit(&self, run: JobRun) -> Result<()> {
        (**self).submit(run)
    }
    async fn shutdown(&self, wait: bool) {
        (**self).shutdown(wait).await;
    }
    fn running_jobs(&self) -> Vec<Arc<str>> {
        (**self).running_jobs()
    }
}

/// What executors need from the scheduler: the tasks, the events, the clock.
#[derive(Clone)]
pub struct ExecutorRuntime {
    registry: Arc<TaskRegistry>,
    events: EventBus,
    clock: Arc<dyn Clock>,
    scheduler_id: Arc<str>,
    cancel: CancellationToken,
    /// Where retries of runs without a store record go (jobs in stores that record no runs
    /// in progress): the scheduler keeps them in memory.
    local_retries: Option<tokio::sync::mpsc::UnboundedSender<LocalRetry>>,
    /// The scheduler's exclusion calendars now (a backfill's next fire time skips them).
    calendars: Option<Arc<dyn Fn() -> crate::calendar::Calendars + Send + Sync>>,
}

/// A retry the scheduler keeps in memory: the job as it ran, and the retry.
pub(crate) struct LocalRetry {
    pub(crate) job: Job,
    pub(crate) jobstore: Arc<str>,
    pub(crate) retry: PendingRetry,
}

impl fmt::Debug for ExecutorRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorRuntime")
            .field("scheduler_id", &self.scheduler_id)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl ExecutorRuntime {
    /// Bundles what runs need. `cancel` is cancelled when the scheduler shuts down without
    /// waiting.
    pub fn new(
        registry: Arc<TaskRegistry>,
        events: EventBus,
        clock: Arc<dyn Clock>,
        scheduler_id: Arc<str>,
        cancel: CancellationToken,
    ) -> Self {
        ExecutorRuntime {
            registry,
            events,
            clock,
            scheduler_id,
            cancel,
            local_retries: None,
            calendars: None,
        }
    }

    /// Reads the scheduler's exclusion calendars through `calendars`.
    pub(crate) fn with_calendars(
        mut self,
        calendars: Arc<dyn Fn() -> crate::calendar::Calendars + Send + Sync>,
    ) -> Self {
        self.calendars = Some(calendars);
        self
    }

    /// Sends retries of runs without a store record to `to`.
    pub(crate) fn with_local_retries(
        mut self,
        to: tokio::sync::mpsc::UnboundedSender<LocalRetry>,
    ) -> Self {
        self.local_retries = Some(to);
        self
    }

    /// The task registry.
    pub fn registry(&self) -> &TaskRegistry {
        &self.registry
    }

    /// The event bus.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Cancelled when the scheduler shuts down without waiting.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Runs every run time of `run` in order, on the current async task: async handlers are
    /// awaited, blocking ones go to tokio's blocking pool. Panics become job errors. A run
    /// longer than the job's `timeout` is stopped — an async task is aborted, a blocking one
    /// abandoned (its [`JobContext::cancelled`] resolves; the thread finishes on its own) — and
    /// reported as [`RunOutcome::TimedOut`]; a run cut off by `shutdown(wait = false)` as
    /// [`RunOutcome::Interrupted`].
    pub async fn run_job(&self, run: &JobRun) {
        for &run_time in &run.run_times {
            self.run_one(run, run_time)
                .instrument(self.run_span(run, run_time))
                .await;
        }
    }

    /// The span every run executes in (the task's own spans and events nest in it):
    /// `job_run{job_id, scheduled_run_time, attempt, scheduler_id}`, so `tracing-opentelemetry`
    /// users get one trace span per run.
    fn run_span(&self, run: &JobRun, run_time: DateTime<Utc>) -> tracing::Span {
        tracing::info_span!(
            "job_run",
            job_id = %run.job.id(),
            scheduled_run_time = %run_time.to_rfc3339(),
            attempt = run.attempt,
            scheduler_id = %self.scheduler_id,
        )
    }

    async fn run_one(&self, run: &JobRun, run_time: DateTime<Utc>) {
        let Some((ctx, handler)) = self.begin(run, run_time) else {
            return;
        };
        let started = self.clock.now();
        let clock = Instant::now();
        let token = ctx.cancellation_token().clone();
        let span = tracing::Span::current();
        let handle = match handler {
            Handler::Async(f) => tokio::spawn(f(ctx).instrument(span)),
            Handler::Blocking(f) => tokio::task::spawn_blocking(move || span.in_scope(|| f(ctx))),
        };
        let abort = handle.abort_handle();
        let result = self
            .limit(&run.job, run.stop.as_deref(), started, &token, join(handle))
            .await;
        if result
            .as_ref()
            .is_err_and(|e| e.outcome() != RunOutcome::Error)
        {
            abort.abort();
        }
        self.finish(run, run_time, started, clock.elapsed(), result);
    }

    /// Runs every run time of `run` in order, like [`ExecutorRuntime::run_job`], but hands
    /// each run's context to `call` instead of calling the registered handler here: for
    /// executors that run tasks elsewhere (worker processes). The misfire check, the timeout,
    /// an interrupting shutdown, the events and the log lines are the same; on a timeout or an
    /// interruption the future `call` returned is dropped, so it must clean up on drop (a
    /// worker process is killed).
    pub async fn run_job_with<F, Fut>(&self, run: &JobRun, mut call: F)
    where
        F: FnMut(JobContext) -> Fut,
        Fut: std::future::Future<Output = TaskResult>,
    {
        for &run_time in &run.run_times {
            let span = self.run_span(run, run_time);
            let Some((ctx, _handler)) = span.in_scope(|| self.begin(run, run_time)) else {
                continue;
            };
            let started = self.clock.now();
            let clock = Instant::now();
            let token = ctx.cancellation_token().clone();
            let result = self
                .limit(&run.job, run.stop.as_deref(), started, &token, call(ctx))
                .instrument(span.clone())
                .await;
            span.in_scope(|| self.finish(run, run_time, started, clock.elapsed(), result));
        }
    }

    /// Awaits `run` until the job's timeout (on the scheduler's clock), an interrupting
    /// shutdown or a `terminate_other` request, whichever comes first; a run cut off so has its
    /// context's `token` cancelled. A `cancel_other` request cancels `token` and waits on.
    async fn limit(
        &self,
        job: &Job,
        stop: Option<&RunStop>,
        started: DateTime<Utc>,
        token: &CancellationToken,
        run: impl std::future::Future<Output = TaskResult>,
    ) -> TaskResult {
        let timeout = async {
            match job.timeout() {
                Some(t) => {
                    self.clock
                        .sleep_until(started + chrono::Duration::from_std(t).unwrap_or_default())
                        .await;
                    t
                }
                None => std::future::pending().await,
            }
        };
        let stopped = |t: Option<&CancellationToken>| {
            let t = t.cloned();
            async move {
                match t {
                    Some(t) => t.cancelled().await,
                    None => std::future::pending().await,
                }
            }
        };
        let terminate = stopped(stop.map(|s| &s.terminate));
        let cancel = stopped(stop.map(|s| &s.cancel));
        tokio::pin!(run, timeout, terminate, cancel);
        let mut cancelled = false;
        let result = loop {
            tokio::select! {
                biased;
                result = &mut run => break result,
                t = &mut timeout => break Err(timed_out(t)),
                () = self.cancel.cancelled() => break Err(interrupted()),
                () = &mut terminate => break Err(TaskError::with_outcome(
                    RunOutcome::Interrupted,
                    "terminated: a newer fire time of the job replaced the run (overlap = terminate_other)",
                )),
                () = &mut cancel, if !cancelled => {
                    cancelled = true;
                    token.cancel();
                }
            }
        };
        let result = match result {
            // A task that gave up because the scheduler asked it to stop was interrupted.
            Err(e) if e.outcome() == RunOutcome::Error && self.cancel.is_cancelled() => {
                Err(TaskError::with_outcome(
                    RunOutcome::Interrupted,
                    format!(
                        "interrupted: the scheduler shut down without waiting for the run ({})",
                        e.message()
                    ),
                ))
            }
            Err(e) if e.outcome() == RunOutcome::Error && cancelled => {
                Err(TaskError::with_outcome(
                    RunOutcome::Interrupted,
                    format!(
                        "cancelled: a newer fire time of the job replaced the run (overlap = cancel_other): {}",
                        e.message()
                    ),
                ))
            }
            other => other,
        };
        if result
            .as_ref()
            .is_err_and(|e| e.outcome() != RunOutcome::Error)
        {
            token.cancel();
        }
        result
    }

    /// Runs every run time of `run` in order on the current (pool) thread: blocking handlers
    /// are called directly, async ones run to completion on `handle`. Panics become job
    /// errors. A job with a `timeout` runs on a thread of its own, so that the pool thread can
    /// abandon it when the time is up (reported as [`RunOutcome::TimedOut`]; its
    /// [`JobContext::cancelled`] resolves).
    pub fn run_job_blocking(&self, run: &JobRun, handle: &tokio::runtime::Handle) {
        for &run_time in &run.run_times {
            let Some((ctx, handler)) = self.begin(run, run_time) else {
                continue;
            };
            let started = self.clock.now();
            let clock = Instant::now();
            let token = ctx.cancellation_token().clone();
            let runtime = handle.clone();
            let call = move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match handler {
                    Handler::Async(f) => runtime.block_on(f(ctx)),
                    Handler::Blocking(f) => f(ctx),
                }))
                .unwrap_or_else(|panic| Err(panic_error(&*panic)))
            };
            let result = if run.job.timeout().is_some() || run.stop.is_some() {
                // Watched: the timeout (or a stop request) is awaited beside the run, on a
                // thread of its own.
                let (tx, rx) = tokio::sync::oneshot::channel();
                let spawned =
                    std::thread::Builder::new()
                        .name("rsched-run".into())
                        .spawn(move || {
                            let _ = tx.send(call());
                        });
                match spawned {
                    Ok(_) => handle.block_on(self.limit(
                        &run.job,
                        run.stop.as_deref(),
                        started,
                        &token,
                        async {
                            rx.await
                                .unwrap_or_else(|_| Err(TaskError::new("the run's thread ended")))
                        },
                    )),
                    Err(e) => Err(TaskError::new(format!("cannot start a thread: {e}"))),
                }
            } else {
                call()
            };
            self.finish(run, run_time, started, clock.elapsed(), result);
        }
    }

    /// The misfire check and the "Running job" line; `None` when the run time was missed (or
    /// the task is not registered, reported as a job error).
    fn begin(&self, run: &JobRun, run_time: DateTime<Utc>) -> Option<(JobContext, Handler)> {
        let job = &run.job;
        let now = self.clock.now();
        if let Some(grace) = job.misfire_grace_time().filter(|_| !run.recovery) {
            let late = (now - run_time).to_std().unwrap_or(Duration::ZERO);
            if late > grace {
                tracing::warn!(
                    job_id = job.id(),
                    "Run time of job \"{job}\" was missed by {}",
                    crate::fmt::timedelta(late)
                );
                self.events.emit(Event::JobMissed {
                    job_id: job.id_arc().clone(),
                    jobstore: run.jobstore.clone(),
                    scheduled_run_time: run_time,
                    lateness: late,
                    count: 1,
                });
                return None;
            }
        }
        let Some(task) = self.registry.get(job.func()) else {
            let error = format!("no task registered as '{}'", job.func());
            tracing::error!(
                job_id = job.id(),
                "Job \"{job}\" raised an exception: {error}"
            );
            self.events.emit(Event::JobError {
                job_id: job.id_arc().clone(),
                jobstore: run.jobstore.clone(),
                scheduled_run_time: run_time,
                started: now,
                duration: Duration::ZERO,
                error,
                outcome: RunOutcome::Error,
                attempt: run.attempt,
                backfill: run.backfill_until.is_some(),
            });
            return None;
        };
        if run.attempt > 1 {
            tracing::info!(
                job_id = job.id(),
                "Running job \"{job}\" (scheduled at {}), attempt {} of {}",
                crate::fmt::py_datetime(&job.trigger().display_time(run_time)),
                run.attempt,
                job.retry().retries.saturating_add(1).max(run.attempt)
            );
        } else {
            tracing::info!(
                job_id = job.id(),
                "Running job \"{job}\" (scheduled at {})",
                crate::fmt::py_datetime(&job.trigger().display_time(run_time))
            );
        }
        let ctx = JobContext::new(
            job.id_arc().clone(),
            Arc::from(job.name()),
            run_time,
            job.args().to_vec(),
            job.kwargs().clone(),
            self.registry.state().clone(),
            self.cancel.child_token(),
            self.scheduler_id.clone(),
        )
        .with_attempt(run.attempt);
        Some((ctx, task.handler().clone()))
    }

    fn finish(
        &self,
        run: &JobRun,
        run_time: DateTime<Utc>,
        started: DateTime<Utc>,
        duration: Duration,
        result: TaskResult,
    ) {
        let job = &run.job;
        if run.run_times.last() == Some(&run_time) {
            if let Some(slot) = &run.instance {
                slot.release();
            }
        }
        let backfill = run.backfill_until.is_some();
        match result {
            Ok(retval) => {
                tracing::info!(job_id = job.id(), "Job \"{job}\" executed successfully");
                self.events.emit(Event::JobExecuted {
                    job_id: job.id_arc().clone(),
                    jobstore: run.jobstore.clone(),
                    scheduled_run_time: run_time,
                    started,
                    duration,
                    retval,
                    attempt: run.attempt,
                    backfill,
                });
                self.continue_backfill(run, run_time);
            }
            Err(error) => {
                let outcome = error.outcome();
                let policy = job.retry();
                let retryable = matches!(
                    outcome,
                    RunOutcome::Error | RunOutcome::TimedOut | RunOutcome::Crashed
                ) && policy.retries_after(run.attempt);
                if !retryable {
                    tracing::error!(
                        job_id = job.id(),
                        "Job \"{job}\" raised an exception: {error}"
                    );
                    self.events.emit(Event::JobError {
                        job_id: job.id_arc().clone(),
                        jobstore: run.jobstore.clone(),
                        scheduled_run_time: run_time,
                        started,
                        duration,
                        error: error.message().to_owned(),
                        outcome,
                        attempt: run.attempt,
                        backfill,
                    });
                    self.continue_backfill(run, run_time);
                    return;
                }
                let delay = policy.delay(run.attempt, fastrand::f64());
                let retry_at =
                    self.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
                tracing::warn!(
                    job_id = job.id(),
                    "Job \"{job}\" raised an exception: {error}; retrying in {} (attempt {} of {})",
                    crate::fmt::timedelta(delay),
                    run.attempt + 1,
                    policy.retries.saturating_add(1)
                );
                // Stores that record runs in progress keep the retry (the run's record becomes
                // it when the run ends); the scheduler keeps the others' in memory.
                let retry =
                    pending_run(job, run_time, run.attempt + 1, retry_at, run.backfill_until);
                self.keep_pending(run, retry);
                self.events.emit(Event::JobRetry {
                    job_id: job.id_arc().clone(),
                    jobstore: run.jobstore.clone(),
                    scheduled_run_time: run_time,
                    started,
                    duration,
                    error: error.message().to_owned(),
                    outcome,
                    attempt: run.attempt,
                    retry_at,
                    backfill,
                });
            }
        }
    }

    /// Keeps a pending run: in the store, as the run's record once the run ends; or in the
    /// scheduler's memory for stores that record no runs in progress.
    fn keep_pending(&self, run: &JobRun, pending: PendingRetry) {
        match (&run.slot, &self.local_retries) {
            (Some(slot), _) => slot.retry_later(pending),
            (None, Some(local)) => {
                let _ = local.send(LocalRetry {
                    job: run.job.clone(),
                    jobstore: run.jobstore.clone(),
                    retry: pending,
                });
            }
            (None, None) => {}
        }
    }

    /// After the last attempt at a backfilled fire time: the backfill's next fire time before
    /// its end becomes the pending run (due now), so the backfill walks its range one fire
    /// time after another.
    fn continue_backfill(&self, run: &JobRun, run_time: DateTime<Utc>) {
        let Some(until) = run.backfill_until else {
            return;
        };
        let calendars = self.calendars.as_ref().map(|c| c()).unwrap_or_default();
        let Some(pending) = backfill_step(&run.job, run_time, until, self.clock.now(), &calendars)
        else {
            tracing::info!(
                job_id = run.job.id(),
                "Backfill of job {} done (its last fire time was {run_time})",
                run.job.id()
            );
            return;
        };
        self.keep_pending(run, pending);
    }
}

/// The error of a run stopped by its job's timeout.
pub fn timed_out(timeout: Duration) -> TaskError {
    TaskError::with_outcome(
        RunOutcome::TimedOut,
        format!(
            "timed out: the run took longer than its timeout of {}",
            crate::fmt::timedelta(timeout)
        ),
    )
}

/// The error of a run cut off by `shutdown(wait = false)`.
pub fn interrupted() -> TaskError {
    TaskError::with_outcome(
        RunOutcome::Interrupted,
        "interrupted: the scheduler shut down without waiting for the run",
    )
}

async fn join(handle: tokio::task::JoinHandle<TaskResult>) -> TaskResult {
    match handle.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(panic_error(&*e.into_panic())),
        Err(_) => Err(TaskError::new("the run was cancelled")),
    }
}

/// A job error from a panic payload: `panicked: <message>`.
pub fn panic_error(payload: &(dyn std::any::Any + Send)) -> TaskError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    TaskError::new(format!("panicked: {message}"))
}

/// Counts the running runs of each job, for `max_instances` (APScheduler's
/// `BaseExecutor._instances`).
#[derive(Debug, Default)]
pub struct Instances {
    running: Mutex<HashMap<Arc<str>, u32>>,
}

impl Instances {
    /// Takes a slot for `job`, or fails with [`ErrorKind::MaxInstancesReached`].
    pub fn acquire(&self, job: &Job) -> Result<()> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(job.id_arc().clone()).or_insert(0);
        if *count >= job.max_instances() {
            return Err(Error::new(
                ErrorKind::MaxInstancesReached,
                format!(
                    "job {} already has {} run(s) executing (max_instances = {})",
                    job.id(),
                    count,
                    job.max_instances()
                ),
            ));
        }
        *count += 1;
        Ok(())
    }

    /// Takes a slot for `job` as an [`InstanceSlot`] (freed once: by
    /// [`InstanceSlot::release`] or when the last clone is dropped), or fails with
    /// [`ErrorKind::MaxInstancesReached`].
    pub fn acquire_slot(self: &Arc<Self>, job: &Job) -> Result<InstanceSlot> {
        self.acquire(job)?;
        Ok(InstanceSlot(Arc::new(InstanceSlotInner {
            instances: self.clone(),
            job_id: job.id_arc().clone(),
            released: std::sync::atomic::AtomicBool::new(false),
        })))
    }

    /// Frees a slot of `job_id`.
    pub fn release(&self, job_id: &str) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = running.get_mut(job_id) {
            *count -= 1;
            if *count == 0 {
                running.remove(job_id);
            }
        }
    }

    /// The ids of the jobs with runs executing.
    pub fn running_jobs(&self) -> Vec<Arc<str>> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// How many runs of `job_id` are executing.
    pub fn running(&self, job_id: &str) -> u32 {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(job_id)
            .copied()
            .unwrap_or(0)
    }
}

/// A `max_instances` slot of one run ([`Instances::acquire_slot`]), freed exactly once: by
/// [`InstanceSlot::release`] or when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct InstanceSlot(Arc<InstanceSlotInner>);

#[derive(Debug)]
struct InstanceSlotInner {
    instances: Arc<Instances>,
    job_id: Arc<str>,
    released: std::sync::atomic::AtomicBool,
}

impl InstanceSlot {
    /// Frees the slot (once; later calls do nothing).
    pub fn release(&self) {
        if !self
            .0
            .released
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.0.instances.release(&self.0.job_id);
        }
    }
}

impl Drop for InstanceSlotInner {
    fn drop(&mut self) {
        if !*self.released.get_mut() {
            self.instances.release(&self.job_id);
        }
    }
}

/// The bookkeeping of an executor whose runs are tokio tasks: the [`ExecutorRuntime`] it was
/// started with, the tasks in flight and the `max_instances` slots. [`AsyncExecutor`] is this
/// alone; the process pool uses it too (its tasks talk to worker processes).
#[derive(Debug, Default)]
pub struct SpawnedRuns {
    runtime: Mutex<Option<ExecutorRuntime>>,
    instances: Arc<Instances>,
    tracker: Mutex<TaskTracker>,
}

impl SpawnedRuns {
    /// For [`Executor::start`]: keeps `runtime` and accepts runs again after a shutdown.
    pub fn start(&self, runtime: ExecutorRuntime) {
        *self.runtime.lock().unwrap_or_else(|e| e.into_inner()) = Some(runtime);
        *self.tracker.lock().unwrap_or_else(|e| e.into_inner()) = TaskTracker::new();
    }

    /// For [`Executor::submit`]: takes a `max_instances` slot of the run's job and spawns
    /// `body(runtime, run)`; the slot is freed when the body ends.
    ///
    /// # Errors
    /// [`ErrorKind::Unavailable`] before [`SpawnedRuns::start`] or after
    /// [`SpawnedRuns::shutdown`]; [`ErrorKind::MaxInstancesReached`] when the job has
    /// `max_instances` runs in flight here.
    pub fn spawn<F, Fut>(&self, run: JobRun, body: F) -> Result<()>
    where
        F: FnOnce(ExecutorRuntime, JobRun) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::Unavailable, "the executor is not started"))?;
        let tracker = self
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if tracker.is_closed() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the executor is shut down",
            ));
        }
        let slot = self.instances.acquire_slot(&run.job)?;
        let mut run = run;
        run.instance = Some(slot.clone());
        let body = body(runtime, run);
        tracker.spawn(async move {
            body.await;
            slot.release();
        });
        Ok(())
    }

    /// For [`Executor::running_jobs`]: the jobs with runs in flight.
    pub fn running_jobs(&self) -> Vec<Arc<str>> {
        self.instances.running_jobs()
    }

    /// For [`Executor::shutdown`]: accepts no more runs; with `wait`, returns when the runs in
    /// flight have ended.
    pub async fn shutdown(&self, wait: bool) {
        let tracker = self
            .tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        tracker.close();
        if wait {
            tracker.wait().await;
        }
    }
}

/// The default executor: each run is a tokio task (blocking tasks go to tokio's blocking pool).
#[derive(Debug, Default)]
pub struct AsyncExecutor {
    runs: SpawnedRuns,
}

impl AsyncExecutor {
    /// A new executor (started by the scheduler).
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Executor for AsyncExecutor {
    fn start(&self, runtime: ExecutorRuntime) -> Result<()> {
        self.runs.start(runtime);
        Ok(())
    }

    fn submit(&self, run: JobRun) -> Result<()> {
        self.runs.spawn(
            run,
            |runtime, run| async move { runtime.run_job(&run).await },
        )
    }

    async fn shutdown(&self, wait: bool) {
        self.runs.shutdown(wait).await;
    }

    fn running_jobs(&self) -> Vec<Arc<str>> {
        self.runs.running_jobs()
    }
}
