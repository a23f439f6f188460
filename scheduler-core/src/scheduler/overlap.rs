//! The overlap policies that queue fire times (Temporal's `BUFFER_ONE`, `BUFFER_ALL`,
//! `CANCEL_OTHER`, `TERMINATE_OTHER`; see [`Overlap`]).
//!
//! For stores that record runs in progress, a fire time that finds its job at `max_instances`
//! (or behind fire times already waiting) becomes a queued record
//! ([`QUEUED_OWNER`](crate::QUEUED_OWNER)), written while the engine holds the job's lease,
//! before the job's next run time is released. Queued records are not runs in progress: they
//! do not count against `max_instances` and never expire. When a run of the job ends on an
//! instance, that instance looks at the job's queue ([`start_queued`]): while the job has room,
//! it takes the oldest queued record ([`RunningRuns::take_over_run`], a compare-and-set, so one
//! instance alone starts it), counts again with the record its own (another instance may have
//! started one meanwhile: then it puts it back) and runs it. The engine also looks at the queue
//! each time the job is due, so a queue whose look was cut off by a crash moves on at the job's
//! next fire time.
//!
//! `cancel_other` / `terminate_other` also ask the runs in progress to stop: at once for runs
//! on this instance ([`Stops`]), through the store for others ([`RunningRuns::stop_runs`]),
//! which their owners read at their next heartbeat (every `lease / 3`).
//!
//! Stores that record no runs in progress (the memory store) keep the queue in this process
//! ([`LocalQueues`]): one task per job starts its queued fire times in order as the executor
//! accepts them, woken by the job's run events.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};

use super::Inner;
use super::running::{finished, runs, start_retry};
use crate::event::Event;
use crate::executor::RunStop;
use crate::job::{Job, Overlap, random_id};
use crate::store::{JobStore, QUEUED_OWNER, RunningRun, StopRequest, lease};

/// The runs in progress on this instance of jobs whose policy may stop them
/// (`cancel_other`, `terminate_other`), by (store alias, job id): (record id, if any; the
/// run's stop).
#[derive(Default)]
pub(crate) struct Stops(Mutex<HashMap<QueueKey, Vec<StopEntry>>>);

impl Stops {
    /// The map, without the entries of runs that have ended.
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<QueueKey, Vec<StopEntry>>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, entries| {
            entries.retain(|(_, s)| s.strong_count() > 0);
            !entries.is_empty()
        });
        map
    }

    /// A stop for a new run of `job_id` in store `alias` (record `run_id`), kept here while
    /// the run lives.
    pub(crate) fn register(
        &self,
        alias: &Arc<str>,
        job_id: &Arc<str>,
        run_id: Option<Arc<str>>,
    ) -> Arc<RunStop> {
        let stop = Arc::new(RunStop::default());
        self.live()
            .entry((alias.clone(), job_id.clone()))
            .or_default()
            .push((run_id, Arc::downgrade(&stop)));
        stop
    }

    /// Whether any run here may be asked to stop.
    pub(crate) fn any(&self) -> bool {
        !self.live().is_empty()
    }

    /// Asks every run of `job_id` in store `alias` on this instance to stop.
    pub(crate) fn request_job(&self, alias: &Arc<str>, job_id: &Arc<str>, how: StopRequest) {
        let map = self.live();
        let runs = map
            .get(&(alias.clone(), job_id.clone()))
            .into_iter()
            .flatten();
        for stop in runs.filter_map(|(_, s)| s.upgrade()) {
            stop.request(how);
        }
    }

    /// Asks the runs of these records, if they run here, to stop.
    pub(crate) fn request_runs(&self, requests: &[(Arc<str>, StopRequest)]) {
        if requests.is_empty() {
            return;
        }
        for (run_id, stop) in self.live().values().flatten() {
            let Some(run_id) = run_id else { continue };
            if let Some((_, how)) = requests.iter().find(|(id, _)| id == run_id) {
                if let Some(stop) = stop.upgrade() {
                    stop.request(*how);
                }
            }
        }
    }
}

type StopEntry = (Option<Arc<str>>, Weak<RunStop>);

/// Prepares `run` for its job's overlap policy: a stop the policy can use, and, for a run with
/// a record, a look at the job's queue when it ends.
pub(crate) fn prepare(inner: &Inner, run: &mut crate::executor::JobRun) {
    let overlap = run.job.overlap();
    if overlap.stop().is_some() {
        let run_id = run.slot.as_ref().map(|s| Arc::from(s.run_id()));
        run.stop = Some(
            inner
                .stops
                .register(&run.jobstore, run.job.id_arc(), run_id),
        );
    }
    if overlap.queues() {
        if let Some(slot) = &run.slot {
            slot.wake_queue_on_end(run.job.id_arc().clone());
        }
    }
}

/// What the engine does with a due job whose fire times must wait (see [`plan`]).
pub(crate) struct QueuePlan {
    /// Queued records to write (one per fire time that waits).
    pub(crate) add: Vec<RunningRun>,
    /// Queued records a newer fire time replaces (`cancel_other`, `terminate_other`).
    pub(crate) drop: Vec<RunningRun>,
    /// How to ask the runs in progress to stop, if at all.
    pub(crate) stop: Option<StopRequest>,
    /// Whether the job has room now (fire times were waiting): look at the queue once the
    /// batch is committed.
    pub(crate) wake: bool,
}

/// Decides, for a due job whose policy queues, whether its due run times wait: yes when the
/// job has `running` runs in progress (≥ `max_instances`) or fire times already waiting
/// (`waiting`, oldest first), so fire times start in order. `None`: run them now.
pub(crate) fn plan(
    inner: &Inner,
    alias: &Arc<str>,
    job: &Job,
    run_times: &[DateTime<Utc>],
    running: u32,
    waiting: &[RunningRun],
    now: DateTime<Utc>,
) -> Option<QueuePlan> {
    let overlap = job.overlap();
    let full = running >= job.max_instances();
    if !full && waiting.is_empty() {
        return None;
    }
    // A fire time already waiting was queued by an instance that died before it could move the
    // job's next run time past it: it waits once.
    let run_times: Vec<DateTime<Utc>> = run_times
        .iter()
        .filter(|t| !waiting.iter().any(|w| w.scheduled_run_time == **t))
        .copied()
        .collect();
    if run_times.is_empty() {
        return Some(QueuePlan {
            add: Vec::new(),
            drop: Vec::new(),
            stop: None,
            wake: !full,
        });
    }
    // Fire times waiting while the job has room start now: they hold no place in the queue.
    let room = usize::try_from(job.max_instances().saturating_sub(running)).unwrap_or(usize::MAX);
    let behind = &waiting[room.min(waiting.len())..];
    let Split {
        wait: queue,
        skipped,
        missed,
        replaces,
    } = split(overlap, run_times, behind.len());
    let replaced = if replaces {
        behind.to_vec()
    } else {
        Vec::new()
    };
    report(inner, alias, job, skipped, missed, now);
    if !replaced.is_empty() {
        report(
            inner,
            alias,
            job,
            replaced.iter().map(|r| r.scheduled_run_time).collect(),
            Vec::new(),
            now,
        );
    }
    if !queue.is_empty() {
        tracing::info!(
            job_id = job.id(),
            "Job \"{job}\" has {running} run(s) in progress (max_instances = {}){}: {} fire time(s) wait (overlap = {})",
            job.max_instances(),
            if waiting.is_empty() {
                String::new()
            } else {
                format!(" and {} fire time(s) waiting", waiting.len())
            },
            queue.len(),
            overlap.as_str()
        );
    }
    Some(QueuePlan {
        add: queue.into_iter().map(|t| queued(job, t, now)).collect(),
        drop: replaced,
        stop: overlap.stop().filter(|_| full),
        // A run may have ended since the count: look once the release is in.
        wake: true,
    })
}

/// The queued record of fire time `t` of `job`, written at `now`. It carries the job's state
/// when the job may be gone by the time it starts (a job whose trigger has finished is
/// removed once it fired).
fn queued(job: &Job, t: DateTime<Utc>, now: DateTime<Utc>) -> RunningRun {
    RunningRun {
        job_state: (finished(job, t) || !job.calendars().is_empty())
            .then(|| job.stored_state().ok())
            .flatten()
            .map(Arc::from),
        ..queued_plain(job.id_arc(), t, now)
    }
}

/// [`queued`] without the job's state (for a queue kept in this process, with its job).
fn queued_plain(job_id: &Arc<str>, t: DateTime<Utc>, now: DateTime<Utc>) -> RunningRun {
    RunningRun {
        run_id: Arc::from(random_id()),
        job_id: job_id.clone(),
        scheduled_run_time: t,
        started: now,
        owner: Arc::from(QUEUED_OWNER),
        expires: t,
        attempt: 1,
        backfill_until: None,
        job_state: None,
    }
}

/// Due run times split by the policy.
struct Split {
    /// Those that wait.
    wait: Vec<DateTime<Utc>>,
    /// Those skipped (one already waits).
    skipped: Vec<DateTime<Utc>>,
    /// Those missed (the buffer is full).
    missed: Vec<DateTime<Utc>>,
    /// Whether the fire times waiting before are replaced by the newest.
    replaces: bool,
}

/// Splits due run times by the policy, `waiting` fire times already waiting.
fn split(overlap: Overlap, mut run_times: Vec<DateTime<Utc>>, waiting: usize) -> Split {
    let mut out = Split {
        wait: Vec::new(),
        skipped: Vec::new(),
        missed: Vec::new(),
        replaces: false,
    };
    match overlap {
        Overlap::BufferAll => {
            let room = Overlap::MAX_BUFFERED.saturating_sub(waiting);
            if run_times.len() > room {
                out.missed = run_times.split_off(room);
            }
            out.wait = run_times;
        }
        Overlap::BufferOne if waiting >= 1 => out.skipped = run_times,
        // The newest fire time waits; for cancel_other / terminate_other, it replaces one that
        // waited.
        _ => {
            out.wait.extend(run_times.pop());
            out.skipped = run_times;
            out.replaces = overlap != Overlap::BufferOne;
        }
    }
    out
}

/// Reports fire times that will not run: skipped (`max_instances`) or missed (the buffer is
/// full).
fn report(
    inner: &Inner,
    alias: &Arc<str>,
    job: &Job,
    skipped: Vec<DateTime<Utc>>,
    missed: Vec<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    if !skipped.is_empty() {
        tracing::warn!(
            job_id = job.id(),
            "Execution of job \"{job}\" skipped: maximum number of running instances reached ({}) and a fire time already waits (overlap = {})",
            job.max_instances(),
            job.overlap().as_str()
        );
        inner.events.emit(Event::JobMaxInstances {
            job_id: job.id_arc().clone(),
            jobstore: alias.clone(),
            run_times: skipped,
        });
    }
    for t in missed {
        let late = (now - t).to_std().unwrap_or_default();
        tracing::warn!(
            job_id = job.id(),
            "Run time of job \"{job}\" was missed: {} fire times already wait (overlap = buffer_all)",
            Overlap::MAX_BUFFERED
        );
        inner.events.emit(Event::JobMissed {
            job_id: job.id_arc().clone(),
            jobstore: alias.clone(),
            scheduled_run_time: t,
            lateness: late,
            count: 1,
        });
    }
}

/// Writes a batch's queue plans to the store at `index`, before the batch is released: the
/// replaced records dropped, the new ones written, stop requests sent.
pub(crate) async fn write(
    inner: &Inner,
    (alias, store): (&Arc<str>, &Arc<dyn JobStore>),
    plans: &[(&Arc<str>, &QueuePlan)],
) -> crate::Result<()> {
    let records = runs(store);
    let drop: Vec<Arc<str>> = plans
        .iter()
        .flat_map(|(_, p)| p.drop.iter().map(|r| r.run_id.clone()))
        .collect();
    if !drop.is_empty() {
        records.end_runs(QUEUED_OWNER, &drop).await?;
    }
    let add: Vec<RunningRun> = plans.iter().flat_map(|(_, p)| p.add.clone()).collect();
    if !add.is_empty() {
        records.begin_runs(&add).await?;
    }
    for (job_id, plan) in plans {
        let Some(how) = plan.stop else { continue };
        inner.stops.request_job(alias, job_id, how);
        if let Err(e) = records.stop_runs(job_id, how).await {
            tracing::warn!(
                job_id = &***job_id,
                "Could not ask the runs of job {job_id} on other instances to stop ({}): {e}",
                how.as_str()
            );
        }
    }
    Ok(())
}

/// Starts queued fire times of `job_id` from the store at `index` while the job has room
/// (see the module docs). One look per job at a time in this process: a look asked for while
/// one goes on makes it look again.
pub(crate) async fn start_queued(
    inner: &Arc<Inner>,
    index: usize,
    alias: &Arc<str>,
    store: &Arc<dyn JobStore>,
    job_id: &Arc<str>,
) {
    let key = (index, job_id.clone());
    {
        let mut busy = inner.queue_looks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(again) = busy.get_mut(&key) {
            *again = true;
            return;
        }
        busy.insert(key.clone(), false);
    }
    for _ in 0..16 {
        look(inner, index, alias, store, job_id).await;
        let mut busy = inner.queue_looks.lock().unwrap_or_else(|e| e.into_inner());
        match busy.get_mut(&key) {
            Some(again) if *again => *again = false,
            _ => break,
        }
    }
    inner
        .queue_looks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
    inner.looks_done.notify_waiters();
}

/// Returns once no [`start_queued`] is in flight in this process (for shutdown).
pub(crate) async fn looks_ended(inner: &Inner) {
    loop {
        let ended = inner.looks_done.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        if inner
            .queue_looks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            return;
        }
        ended.await;
    }
}

/// One look at a job's queue for [`start_queued`].
async fn look(
    inner: &Arc<Inner>,
    index: usize,
    alias: &Arc<str>,
    store: &Arc<dyn JobStore>,
    job_id: &Arc<str>,
) {
    // Bounded: each turn starts one, or gives up.
    for _ in 0..64 {
        if super::SchedulerState::from_u8(inner.state.load(std::sync::atomic::Ordering::Acquire))
            != super::SchedulerState::Running
        {
            return;
        }
        let first = match runs(store).queued_runs(job_id, 1).await {
            Ok(mut q) => match q.pop() {
                Some(first) => first,
                None => return,
            },
            Err(e) => {
                tracing::warn!(
                    job_id = &**job_id,
                    "Could not read the queued fire times of job {job_id}: {e}"
                );
                return;
            }
        };
        let job = match store.lookup_job(job_id).await {
            Ok(Some(job)) => job,
            // Gone: a `date` job removed once it fired still runs its queued fire time (with
            // the job as it was, kept with the record); a job the user removed does not.
            Ok(None) => match super::running::carried(&first)
                .filter(|j| finished(j, first.scheduled_run_time))
            {
                Some(job) => job,
                None => {
                    drop_queue(store, job_id).await;
                    return;
                }
            },
            Err(e) => {
                tracing::warn!(
                    job_id = &**job_id,
                    "Could not read job {job_id} to start its queued fire time: {e}"
                );
                return;
            }
        };
        match job.next_run_time {
            // Paused: its queue waits (and moves on at its first fire time after resume).
            None if !finished(&job, first.scheduled_run_time) => return,
            // The instance that queued it has not moved the job's next run time past it yet
            // (or died before it could: the job's next holder sees it waiting and does not
            // queue it again). Started once that is done, so a fire time never runs twice.
            Some(next) if next <= first.scheduled_run_time => {
                tokio::spawn(start_queued_later(
                    inner.clone(),
                    index,
                    alias.clone(),
                    store.clone(),
                    job_id.clone(),
                ));
                return;
            }
            _ => {}
        }
        if !inner.registry.contains(job.func()) {
            return; // left for an instance that has its task
        }
        let room = |counts: crate::Result<Vec<u32>>, with_self: bool| match counts {
            Ok(c) => {
                let n = c.first().copied().unwrap_or(0);
                if with_self {
                    n <= job.max_instances()
                } else {
                    n < job.max_instances()
                }
            }
            Err(e) => {
                tracing::warn!("Could not count the runs of job {job_id}: {e}");
                false
            }
        };
        let ids = std::slice::from_ref(job_id);
        if !room(
            inner.running.counts(&inner.id, index, store, ids).await,
            false,
        ) {
            return;
        }
        let expires = lease::expiry(inner.clock.now(), inner.options.lease);
        match runs(store).take_over_run(&first, &inner.id, expires).await {
            Ok(true) => {}
            // Another instance started it; it looks at the queue again when that run ends.
            Ok(false) => return,
            Err(e) => {
                tracing::warn!("Could not take queued fire time {}: {e}", first.run_id);
                return;
            }
        }
        // Ours now, with a slot: dropped without a run, the record goes back to the queue
        // (through the retried path that stores pending runs, so a store error does not leave
        // it ours for good).
        let Some(slot) = inner.running.slot(index, first.run_id.clone(), true) else {
            return;
        };
        // Counted with the others' runs again (another instance may have started one
        // meanwhile): put back when that leaves no room.
        if !room(
            inner.running.counts(&inner.id, index, store, ids).await,
            true,
        ) {
            slot.retry_later(first.clone());
            return;
        }
        tracing::info!(
            job_id = &**job_id,
            "Starting the queued run of job \"{job}\" scheduled at {}",
            first.scheduled_run_time
        );
        start_retry(inner, alias, job, &first, Some(slot));
    }
}

/// Drops queued records of a release that failed when another record waits for the same fire
/// time of the same job (the job's new holder queued it too); keeps them otherwise (the new
/// holder saw them and did not).
pub(crate) async fn drop_duplicates(store: &Arc<dyn JobStore>, ours: &[RunningRun]) {
    let mut drop = Vec::new();
    for record in ours {
        let Ok(waiting) = runs(store)
            .queued_runs(&record.job_id, Overlap::MAX_BUFFERED)
            .await
        else {
            continue;
        };
        if waiting
            .iter()
            .any(|w| w.run_id != record.run_id && w.scheduled_run_time == record.scheduled_run_time)
        {
            drop.push(record.run_id.clone());
        }
    }
    if !drop.is_empty() {
        if let Err(e) = runs(store).end_runs(QUEUED_OWNER, &drop).await {
            tracing::warn!("Could not drop {} queued fire time(s): {e}", drop.len());
        }
    }
}

/// [`start_queued`] a second from now.
fn start_queued_later(
    inner: Arc<Inner>,
    index: usize,
    alias: Arc<str>,
    store: Arc<dyn JobStore>,
    job_id: Arc<str>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let clock = inner.clock.clone();
        clock
            .sleep_until(clock.now() + chrono::Duration::seconds(1))
            .await;
        start_queued(&inner, index, &alias, &store, &job_id).await;
    })
}

/// Drops every queued fire time of a job that is gone.
pub(crate) async fn drop_queue(store: &Arc<dyn JobStore>, job_id: &Arc<str>) {
    loop {
        let queued = match runs(store).queued_runs(job_id, 1000).await {
            Ok(q) if !q.is_empty() => q,
            _ => return,
        };
        tracing::info!(
            job_id = &**job_id,
            "Job {job_id} was removed; its {} queued fire time(s) are dropped",
            queued.len()
        );
        let ids: Vec<Arc<str>> = queued.into_iter().map(|r| r.run_id).collect();
        if runs(store).end_runs(QUEUED_OWNER, &ids).await.is_err() {
            return;
        }
    }
}

/// Queued fire times of jobs in stores that record no runs in progress, by (store alias, job
/// id), oldest first.
#[derive(Default)]
pub(crate) struct LocalQueues(Mutex<HashMap<QueueKey, VecDeque<DateTime<Utc>>>>);

/// (store alias, job id).
type QueueKey = (Arc<str>, Arc<str>);

impl LocalQueues {
    /// Whether fire times of job `job_id` in store `alias` wait here.
    pub(crate) fn has(&self, alias: &Arc<str>, job_id: &Arc<str>) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&(alias.clone(), job_id.clone()))
    }

    /// Queues the run times of `job` the executor refused (the job is at `max_instances`
    /// here), as its policy says; starts the job's queue task if it has none.
    pub(crate) fn push(
        &self,
        inner: &Arc<Inner>,
        alias: &Arc<str>,
        job: Job,
        run_times: Vec<DateTime<Utc>>,
    ) {
        let now = inner.clock.now();
        if let Some(how) = job.overlap().stop() {
            inner.stops.request_job(alias, job.id_arc(), how);
        }
        let key = (alias.clone(), job.id_arc().clone());
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let spawn = !map.contains_key(&key);
        let queue = map.entry(key).or_default();
        let Split {
            wait,
            skipped,
            missed,
            replaces,
        } = split(job.overlap(), run_times, queue.len());
        let replaced: Vec<DateTime<Utc>> = if replaces {
            queue.drain(..).collect()
        } else {
            Vec::new()
        };
        queue.extend(wait);
        drop(map);
        report(inner, alias, &job, skipped, missed, now);
        if !replaced.is_empty() {
            report(inner, alias, &job, replaced, Vec::new(), now);
        }
        if spawn {
            tokio::spawn(local_queue(Arc::downgrade(inner), alias.clone(), job));
        }
    }
}

/// Starts a job's queued fire times kept in memory, in order, as the executor accepts them;
/// ends when the queue is empty.
async fn local_queue(inner: Weak<Inner>, alias: Arc<str>, ran: Job) {
    let key = (alias.clone(), ran.id_arc().clone());
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let mut events = strong.events.subscribe();
    let clock = strong.clock.clone();
    drop(strong);
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let front = {
            let mut map = strong
                .local_queues
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match map.get(&key).and_then(|q| q.front().copied()) {
                Some(t) => Some(t),
                None => {
                    map.remove(&key);
                    None
                }
            }
        };
        let Some(front) = front else { return };
        let state =
            super::SchedulerState::from_u8(strong.state.load(std::sync::atomic::Ordering::Acquire));
        if state == super::SchedulerState::Stopped {
            strong
                .local_queues
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            return;
        }
        let store = strong
            .stores
            .iter()
            .find(|(a, _)| *a == alias)
            .map(|(_, s)| s.clone());
        let job = match store {
            Some(store) => store.lookup_job(ran.id()).await.ok().flatten(),
            None => None,
        };
        let job = match job {
            Some(job) => Some(job),
            None if finished(&ran, front) => Some(ran.clone()),
            None => None,
        };
        let Some(job) = job else {
            tracing::info!(
                job_id = ran.id(),
                "Job {} was removed; its queued fire times are dropped",
                ran.id()
            );
            strong
                .local_queues
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            return;
        };
        let paused = job.next_run_time.is_none() && !finished(&job, front);
        let started = state == super::SchedulerState::Running
            && !paused
            && start_retry(
                &strong,
                &alias,
                job,
                &queued_plain(ran.id_arc(), front, front),
                None,
            );
        if started {
            let mut map = strong
                .local_queues
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(q) = map.get_mut(&key) {
                if q.front() == Some(&front) {
                    q.pop_front();
                }
            }
            continue;
        }
        drop(strong);
        // The job is full (or paused): wait for one of its runs to end, or a second.
        let again = clock.now() + chrono::Duration::seconds(1);
        let id = ran.id_arc().clone();
        let ended = async {
            loop {
                match events.recv().await {
                    Ok(event) if event_ends_run(&event, &id) => return,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        tokio::select! {
            () = ended => {}
            () = clock.sleep_until(again) => {}
        }
    }
}

/// Whether `event` reports the end of a run of `job_id`.
fn event_ends_run(event: &Event, job_id: &str) -> bool {
    matches!(
        event,
        Event::JobExecuted { .. }
            | Event::JobError { .. }
            | Event::JobRetry { .. }
            | Event::JobMissed { .. }
    ) && event.job_id() == Some(job_id)
}
