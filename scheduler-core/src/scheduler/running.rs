//! Runs in progress, recorded in shared stores: `max_instances` across every instance, the
//! heartbeat that keeps a live instance's runs counted, and what happens to the runs of an
//! instance that died (`crashed` in the history; run again for `recover = true` jobs, as
//! Quartz's "requests recovery").
//!
//! For each store whose [`Capabilities`](crate::Capabilities) say `running_runs`:
//! 1. while it holds the leases of a batch of due jobs, the engine counts their runs in
//!    progress ([`RunningRuns::running_counts`]) — a job at `max_instances` is skipped — and
//!    records the runs it starts ([`RunningRuns::begin_runs`], `expires = now + lease`): at once
//!    when the job may fire again within a lease or has `recover = true`, else
//!    only once the run has lasted [`DEFER`] (most runs are shorter, and a run that ends
//!    before its job's next fire time cannot collide with it);
//! 2. when a run ends, its [`RunSlot`] is dropped and a background task ends the record
//!    ([`RunningRuns::end_runs`], batched);
//! 3. every `lease / 3` the same task renews the instance's records
//!    ([`RunningRuns::heartbeat_runs`]) and looks for records nobody renewed
//!    ([`RunningRuns::expired_runs`]): each is taken over by one instance
//!    ([`RunningRuns::take_over_run`], a compare-and-set), reported as a `crashed` run, and, if its
//!    job has `recover = true`, run again at once without the misfire check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::{Inner, Scheduler, SchedulerState};
use crate::error::Result;
use crate::event::Event;
use crate::executor::{JobRun, RunSlot, SlotInner};
use crate::history::RunOutcome;
use crate::job::random_id;
use crate::store::{JobStore, RunningRun, RunningRuns, lease};

/// Crashed runs handled per pass.
const REAP_BATCH: usize = 100;

/// Other runs are recorded once they have lasted this long (still at least a second before
/// their job's next fire time).
pub(crate) const DEFER: Duration = Duration::from_secs(1);

/// A run to record later, if it still runs then.
struct Deferred {
    at: DateTime<Utc>,
    index: usize,
    slot: Weak<SlotInner>,
    record: RunningRun,
}

use crate::executor::Ending;

struct Receivers {
    /// Wakes the background task when a run ended (its store's index).
    ended: UnboundedReceiver<usize>,
    deferred: UnboundedReceiver<Deferred>,
}

/// (since when, last time) of an unbroken contact with a store.
type Contact = (DateTime<Utc>, DateTime<Utc>);

/// The records of runs in progress this instance keeps in its stores.
pub(crate) struct Running {
    done: UnboundedSender<usize>,
    defer: UnboundedSender<Deferred>,
    receivers: Mutex<Option<Receivers>>,
    /// Per store (by index): the number of live slots, for stores that record runs.
    live: Vec<Option<Arc<AtomicUsize>>>,
    /// Records of runs that ended here, not yet deleted from their store.
    pub(crate) ending: Arc<Ending>,
    /// Per store: held while ended runs' records are deleted, and while the engine deletes them
    /// and counts runs in progress.
    ends: Vec<tokio::sync::Mutex<()>>,
    /// Per store: (since when, last time) this instance has reached it without a failure or
    /// a gap (the scheduler's clock); `None` after one. See [`Running::may_reap`].
    contact: Vec<Mutex<Option<Contact>>>,
    /// The lease: a gap of half of it between calls restarts the contact count.
    lease: Duration,
    /// The earliest due time of the retries this instance stored, for the background task to
    /// wake at and run them (other instances find them at their next periodic look).
    retry_wake: Mutex<std::collections::BTreeSet<DateTime<Utc>>>,
}

impl Running {
    pub(crate) fn new(stores: &[(Arc<str>, Arc<dyn JobStore>)], lease: Duration) -> Running {
        let (done, ended) = unbounded_channel();
        let (defer, deferred) = unbounded_channel();
        Running {
            done,
            defer,
            receivers: Mutex::new(Some(Receivers { ended, deferred })),
            live: stores
                .iter()
                .map(|(_, s)| {
                    (s.running().is_some() && s.capabilities().shared)
                        .then(|| Arc::new(AtomicUsize::new(0)))
                })
                .collect(),
            contact: stores.iter().map(|_| Mutex::new(None)).collect(),
            lease,
            ending: Arc::default(),
            ends: stores.iter().map(|_| tokio::sync::Mutex::new(())).collect(),
            retry_wake: Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    /// Whether a run with this record id is alive here.
    pub(crate) fn is_live(&self, run_id: &str) -> bool {
        self.ending.is_live(run_id)
    }

    /// Wakes the background task (to look at the wake-up time again).
    pub(crate) fn poke(&self, index: usize) {
        let _ = self.done.send(index);
    }

    pub(crate) fn wake_for_retry(&self, due: DateTime<Utc>) {
        let mut wake = self.retry_wake.lock().unwrap_or_else(|e| e.into_inner());
        // Just after it: the store returns records whose time is before the time asked.
        wake.insert(due + chrono::Duration::milliseconds(1));
        // Bounded: the periodic look finds whatever a full set drops.
        while wake.len() > 10_000 {
            wake.pop_last();
        }
    }

    /// Notes whether a call to the store at `index` succeeded at `now`. A success after a gap
    /// of half a lease with no call (this process stood still, or the scheduler was paused)
    /// starts the count again, as a failure does: the store may have been away meanwhile
    /// without this instance noticing (lease model, finding 7).
    pub(crate) fn contact(&self, index: usize, ok: bool, now: DateTime<Utc>) {
        let Some(contact) = self.contact.get(index) else {
            return;
        };
        let gap = chrono::Duration::from_std(self.lease / 2).unwrap_or(chrono::Duration::MAX);
        let mut contact = contact.lock().unwrap_or_else(|e| e.into_inner());
        *contact = match (ok, *contact) {
            (false, _) => None,
            (true, Some((since, last))) if now - last <= gap => Some((since, now.max(last))),
            (true, _) => Some((now, now)),
        };
    }

    /// Starts every store's contact count again (the scheduler resumes after a pause).
    pub(crate) fn reset_contact(&self) {
        for contact in &self.contact {
            *contact.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    /// Whether this instance may reap the store at `index`'s expired records at `now`: only
    /// once it has reached the store without a failure for a whole lease. After an outage
    /// every instance's records may have expired while their runs go on (nobody could renew
    /// them); the live owners renew theirs within that lease, so only a dead instance's are
    /// left to reap. Found by the lease model (docs/lease-model.md, finding 3).
    pub(crate) fn may_reap(&self, index: usize, now: DateTime<Utc>, lease: Duration) -> bool {
        let since = self
            .contact
            .get(index)
            .and_then(|c| *c.lock().unwrap_or_else(|e| e.into_inner()))
            .map(|(since, _)| since);
        since.is_some_and(|since| {
            chrono::Duration::from_std(lease).is_ok_and(|lease| now - since >= lease)
        })
    }

    /// Whether the store at `index` records runs in progress.
    pub(crate) fn tracks(&self, index: usize) -> bool {
        self.live.get(index).is_some_and(Option::is_some)
    }

    pub(super) fn slot(&self, index: usize, run_id: Arc<str>, written: bool) -> Option<RunSlot> {
        let live = self.live.get(index)?.as_ref()?;
        Some(RunSlot::new(
            run_id,
            index,
            self.done.clone(),
            (live.clone(), self.ending.clone()),
            written,
        ))
    }

    /// The runs in progress of each job in `ids` on every instance, from the store at `index`
    /// ([`RunningRuns::running_counts`]), after deleting the records of runs that already ended
    /// here (an error if that fails: nothing must start then). Every record counts, expired or
    /// not, until a reaper has handled it: a run whose record expired may still be going on (a
    /// paused or cut-off instance) or be about to be recovered (lease model, findings 4, 6, 10).
    pub(crate) async fn counts(
        &self,
        owner: &str,
        index: usize,
        store: &Arc<dyn JobStore>,
        ids: &[Arc<str>],
    ) -> Result<Vec<u32>> {
        let _ends = match self.ends.get(index) {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        self.end_locked(owner, index, store).await?;
        runs(store)
            .running_counts(ids, DateTime::<Utc>::MIN_UTC)
            .await
    }

    /// Deletes the records of runs that ended here from the store at `index`.
    pub(super) async fn end(
        &self,
        owner: &str,
        index: usize,
        store: &Arc<dyn JobStore>,
    ) -> Result<()> {
        let Some(lock) = self.ends.get(index) else {
            return Ok(());
        };
        let _ends = lock.lock().await;
        self.end_locked(owner, index, store).await
    }

    async fn end_locked(&self, owner: &str, index: usize, store: &Arc<dyn JobStore>) -> Result<()> {
        self.store_retries(owner, index, store).await?;
        let mut ids = self.ending.take(index);
        while !ids.is_empty() {
            let n = ids.len().min(1000);
            if let Err(e) = runs(store).end_runs(owner, &ids[..n]).await {
                self.ending.put_back(index, ids);
                return Err(e);
            }
            ids.drain(..n);
        }
        Ok(())
    }

    /// Turns the records of failed runs that ended here into pending retries (or writes new
    /// retry records, for runs whose record was not written yet or that asked for several).
    async fn store_retries(
        &self,
        owner: &str,
        index: usize,
        store: &Arc<dyn JobStore>,
    ) -> Result<()> {
        let mut items = self.ending.take_retrying(index).into_iter();
        while let Some(mut item) = items.next() {
            let result = async {
                if let Some(run_id) = item.run_id.clone() {
                    if let Some(first) = item.retries.first() {
                        // false: another instance took the record over (this one stood still
                        // past the lease) and handles the run's end.
                        let pending = RunningRun {
                            run_id,
                            ..first.clone()
                        };
                        let _ = runs(store).reschedule_run(owner, &pending).await?;
                        self.wake_for_retry(first.expires);
                        item.retries.remove(0);
                    }
                    item.run_id = None;
                }
                if !item.retries.is_empty() {
                    let records: Vec<RunningRun> = item
                        .retries
                        .iter()
                        .map(|r| RunningRun {
                            run_id: Arc::from(random_id()),
                            ..r.clone()
                        })
                        .collect();
                    runs(store).begin_runs(&records).await?;
                    for r in &item.retries {
                        self.wake_for_retry(r.expires);
                    }
                    item.retries.clear();
                }
                Ok::<(), crate::Error>(())
            }
            .await;
            if let Err(e) = result {
                self.ending
                    .put_back_retrying(std::iter::once(item).chain(items));
                return Err(e);
            }
        }
        Ok(())
    }

    /// Records `runs` in the store at `index` as in progress on `owner`: those marked
    /// immediate now, the others once they have lasted [`DEFER`]. One slot per run.
    pub(crate) async fn begin(
        &self,
        owner: &Arc<str>,
        index: usize,
        store: &Arc<dyn JobStore>,
        runs: &[(&JobRun, bool)],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<RunSlot>> {
        let expires = lease::expiry(now, lease);
        let records: Vec<(RunningRun, bool)> = runs
            .iter()
            .map(|(run, immediate)| {
                let scheduled_run_time = run.run_times.first().copied().unwrap_or(now);
                // A job whose trigger has finished is removed: its state rides along where a
                // crash may leave the run to retry or a backfill to continue.
                let carries = (run.job.retry().retries > 0 || run.backfill_until.is_some())
                    && finished(&run.job, scheduled_run_time);
                let record = RunningRun {
                    run_id: Arc::from(random_id()),
                    job_id: run.job.id.clone(),
                    scheduled_run_time,
                    started: now,
                    owner: owner.clone(),
                    expires,
                    attempt: run.attempt,
                    backfill_until: run.backfill_until,
                    job_state: carries
                        .then(|| run.job.stored_state().ok())
                        .flatten()
                        .map(Arc::from),
                };
                (record, *immediate)
            })
            .collect();
        let now_records: Vec<RunningRun> = records
            .iter()
            .filter(|(_, immediate)| *immediate)
            .map(|(r, _)| r.clone())
            .collect();
        if !now_records.is_empty() {
            self::runs(store).begin_runs(&now_records).await?;
        }
        let at = now + chrono::Duration::from_std(DEFER).unwrap_or_default();
        Ok(records
            .into_iter()
            .filter_map(|(record, immediate)| {
                let slot = self.slot(index, record.run_id.clone(), immediate)?;
                if !immediate {
                    let _ = self.defer.send(Deferred {
                        at,
                        index,
                        slot: Arc::downgrade(&slot.0),
                        record,
                    });
                }
                Some(slot)
            })
            .collect())
    }
}

impl Scheduler {
    /// For `run_job` (run now): checks `max_instances` across instances and records the run,
    /// in stores that record runs in progress. `None` elsewhere.
    pub(super) async fn begin_run_now(
        &self,
        index: usize,
        job: &crate::job::Job,
        now: DateTime<Utc>,
    ) -> Result<Option<RunSlot>> {
        let inner = &self.inner;
        if !inner.running.tracks(index) {
            return Ok(None);
        }
        let store = &inner.stores[index].1;
        let counts = inner
            .running
            .counts(&inner.id, index, store, std::slice::from_ref(&job.id))
            .await?;
        if job.overlap() != crate::job::Overlap::AllowAll
            && counts.first().is_some_and(|n| *n >= job.max_instances())
        {
            return Err(crate::Error::new(
                crate::ErrorKind::MaxInstancesReached,
                format!(
                    "job {} already has {} run(s) executing on the instances sharing its store (max_instances = {})",
                    job.id(),
                    counts[0],
                    job.max_instances()
                ),
            ));
        }
        let run = JobRun::new(job.clone(), inner.stores[index].0.clone(), vec![now]);
        let mut slots = inner
            .running
            .begin(
                &inner.id,
                index,
                store,
                &[(&run, true)],
                now,
                inner.options.lease,
            )
            .await?;
        Ok(slots.pop())
    }

    /// At shutdown, once the executors have stopped: waits for the looks at queues in flight
    /// (a fire time a look took is started or put back), then writes what the background task
    /// has not written yet — ended runs' records deleted, pending runs and fire times put back
    /// — so a process that exits next leaves the store as it should be.
    pub(super) async fn flush_runs(&self) {
        let inner = &self.inner;
        super::overlap::looks_ended(inner).await;
        for (index, (alias, store)) in inner.stores.iter().enumerate() {
            if !inner.running.tracks(index) {
                continue;
            }
            if let Err(e) = inner.running.end(&inner.id, index, store).await {
                tracing::warn!(
                    "Could not end run records in job store {alias:?} at shutdown (they expire and are reaped by another instance): {e}"
                );
            }
        }
    }

    /// At start: runs recorded under this instance's id by an earlier process (a fixed
    /// `[scheduler] id` restarted after a crash) cannot be running; handle them as crashed.
    pub(super) async fn recover_own_runs(&self) {
        let inner = &self.inner;
        for (index, (alias, store)) in inner.stores.iter().enumerate() {
            if !inner.running.tracks(index) {
                continue;
            }
            let _ = reap(inner, index, alias, store, &inner.id).await;
        }
    }

    /// Starts the background task (once per scheduler) that ends finished runs' records,
    /// renews live ones and handles crashed ones.
    pub(super) fn start_running(&self) {
        let Some(receivers) = self
            .inner
            .running
            .receivers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        if !self.inner.running.live.iter().any(Option::is_some) {
            return;
        }
        tokio::spawn(maintain(Arc::downgrade(&self.inner), receivers));
    }
}

impl Scheduler {
    /// Starts (once per scheduler) the task that keeps the retries of jobs in stores that
    /// record no runs in progress (the memory store, a store not shared): each waits for its
    /// time, then runs the job as it is then (or as it ran, if its trigger has finished and it
    /// is gone). Such a retry does not outlive the process (nor does such a store's job), and
    /// holds no `max_instances` slot while it waits. Returns where executors send them.
    pub(super) fn start_local_retries(
        &self,
    ) -> tokio::sync::mpsc::UnboundedSender<crate::executor::LocalRetry> {
        let mut control = self.control();
        if let Some(tx) = &control.local_retries {
            return tx.clone();
        }
        let (tx, mut rx) = unbounded_channel::<crate::executor::LocalRetry>();
        control.local_retries = Some(tx.clone());
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while let Some(retry) = rx.recv().await {
                tokio::spawn(local_retry(weak.clone(), retry));
            }
        });
        tx
    }
}

/// Waits for a retry kept in memory, then runs it (see [`Scheduler::start_local_retries`]).
async fn local_retry(inner: Weak<Inner>, retry: crate::executor::LocalRetry) {
    let crate::executor::LocalRetry {
        job: ran,
        jobstore,
        retry,
    } = retry;
    let Some(clock) = inner.upgrade().map(|i| i.clock.clone()) else {
        return;
    };
    clock.sleep_until(retry.expires).await;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        match SchedulerState::from_u8(strong.state.load(Ordering::Acquire)) {
            SchedulerState::Running => break,
            SchedulerState::Stopped => return,
            SchedulerState::Paused => {}
        }
        drop(strong);
        // Paused: the retry runs once the scheduler resumes.
        clock
            .sleep_until(clock.now() + chrono::Duration::seconds(1))
            .await;
    }
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let Some((alias, store)) = strong.stores.iter().find(|(a, _)| *a == jobstore) else {
            return;
        };
        let record = RunningRun {
            run_id: Arc::from(random_id()),
            ..retry.clone()
        };
        let job = match store.lookup_job(&retry.job_id).await {
            Ok(Some(job)) => job,
            Ok(None) if finished(&ran, retry.scheduled_run_time) || retry.job_state.is_some() => {
                ran.clone()
            }
            Ok(None) => {
                tracing::info!(
                    job_id = &*retry.job_id,
                    "Job {} was removed; its pending run (attempt {}) is dropped",
                    retry.job_id,
                    retry.attempt
                );
                return;
            }
            Err(e) => {
                tracing::warn!(
                    job_id = &*retry.job_id,
                    "Could not read job {} to run its pending run (attempt {}); it is dropped: {e}",
                    retry.job_id,
                    retry.attempt
                );
                return;
            }
        };
        if start_retry(&strong, alias, job, &record, None) {
            return;
        }
        // The job is at max_instances here: try again in a second.
        drop(strong);
        clock
            .sleep_until(clock.now() + chrono::Duration::seconds(1))
            .await;
    }
}

/// Whether a pending run is one of an `allow_all` backfill's (each ends at its own fire time):
/// they run side by side, whatever `max_instances` says.
fn all_at_once(run: &RunningRun) -> bool {
    run.backfill_until == Some(run.scheduled_run_time)
}

/// The job a pending run carries (see [`RunningRun::job_state`]), if any and readable.
pub(super) fn carried(run: &RunningRun) -> Option<crate::job::Job> {
    let state = run.job_state.as_deref()?;
    match crate::job::Job::from_stored_state(&run.job_id, state, None, None) {
        Ok(job) => Some(job),
        Err(e) => {
            tracing::warn!(
                job_id = &*run.job_id,
                "The job state kept with a pending run of job {} cannot be read: {e}",
                run.job_id
            );
            None
        }
    }
}

/// Whether `job`'s trigger had no fire time after `fired`: a job the scheduler removed once
/// it fired (a `date` job), whose retries still run.
pub(crate) fn finished(job: &crate::job::Job, fired: DateTime<Utc>) -> bool {
    // (the calendars do not matter here: a trigger with fire times left is not finished)
    use crate::trigger::Trigger as _;
    job.trigger().next_fire_time(Some(fired), fired).is_none()
}

/// The background task: ends records (batched), heartbeats, reaps. Ends with the scheduler.
async fn maintain(inner: Weak<Inner>, receivers: Receivers) {
    let Receivers {
        ended: mut receiver,
        mut deferred,
    } = receivers;
    let mut queue: std::collections::VecDeque<Deferred> = std::collections::VecDeque::new();
    let mut next_tick: Option<DateTime<Utc>> = None;
    loop {
        let (clock, period) = {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let period = (inner.options.lease / 3).max(Duration::from_millis(100));
            (inner.clock.clone(), period)
        };
        let now = clock.now();
        let tick_at =
            *next_tick.get_or_insert(now + chrono::Duration::from_std(period).unwrap_or_default());
        let mut tick = false;
        let first_deferred = queue.front().map(|d| d.at);
        let record_deferred = async {
            match first_deferred {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut due_deferred = false;
        let retry_at = {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            inner
                .running
                .retry_wake
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .first()
                .copied()
        };
        let retry_due = async {
            match retry_at {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let mut run_retries = false;
        tokio::select! {
            () = retry_due => run_retries = true,
            item = deferred.recv() => {
                if let Some(item) = item {
                    queue.push_back(item);
                    while let Ok(item) = deferred.try_recv() {
                        queue.push_back(item);
                    }
                }
            }
            () = record_deferred => due_deferred = true,
            message = receiver.recv() => match message {
                Some(_) => while receiver.try_recv().is_ok() {},
                None => return,
            },
            () = clock.sleep_until(tick_at) => tick = true,
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if due_deferred {
            record_deferred_runs(&inner, &mut queue).await;
        }
        for (index, (alias, store)) in inner.stores.iter().enumerate() {
            if !inner.running.tracks(index) {
                continue;
            }
            if let Err(e) = inner.running.end(&inner.id, index, store).await {
                // Kept; retried at the next message or tick (and before the engine counts).
                tracing::warn!("Could not end run records in job store {alias:?}, will retry: {e}");
                continue;
            }
            // Runs of jobs whose fire times may wait ended here: start those that wait.
            for job_id in inner.running.ending.take_queue_wakes(index) {
                let (inner, alias, store) = (inner.clone(), alias.clone(), store.clone());
                tokio::spawn(async move {
                    super::overlap::start_queued(&inner, index, &alias, &store, &job_id).await;
                });
            }
        }
        if run_retries {
            {
                // The times that have come; later ones stay.
                let now = inner.clock.now();
                let mut wake = inner
                    .running
                    .retry_wake
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *wake = wake.split_off(&(now + chrono::Duration::microseconds(1)));
            }
            if SchedulerState::from_u8(inner.state.load(Ordering::Acquire))
                == SchedulerState::Running
            {
                for (index, (alias, store)) in inner.stores.iter().enumerate() {
                    // Backfills may leave many runs due at once: take them batch after batch.
                    for _ in 0..100 {
                        if !inner.running.tracks(index)
                            || reap(&inner, index, alias, store, "").await < REAP_BATCH
                        {
                            break;
                        }
                    }
                }
            }
            // Paused: the periodic look runs them once the scheduler resumes.
        }
        if !tick {
            continue;
        }
        next_tick = None;
        let now = inner.clock.now();
        let expires = lease::expiry(now, inner.options.lease);
        for (index, (alias, store)) in inner.stores.iter().enumerate() {
            let Some(live) = inner.running.live[index].as_ref() else {
                continue;
            };
            if live.load(Ordering::Relaxed) > 0 {
                let renewed = runs(store).heartbeat_runs(&inner.id, expires).await;
                inner.running.contact(index, renewed.is_ok(), now);
                if let Err(e) = renewed {
                    tracing::warn!(
                        "Could not renew the runs in progress in job store {alias:?}: {e}"
                    );
                }
                // Runs here another instance asked to stop (overlap cancel_other,
                // terminate_other).
                if inner.stops.any() {
                    match runs(store).stop_requests(&inner.id).await {
                        Ok(requests) => inner.stops.request_runs(&requests),
                        Err(e) => tracing::debug!(
                            "Could not read the stop requests in job store {alias:?}: {e}"
                        ),
                    }
                }
            }
            if SchedulerState::from_u8(inner.state.load(Ordering::Acquire))
                == SchedulerState::Running
            {
                let _ = reap(&inner, index, alias, store, "").await;
            }
        }
    }
}

/// Writes the records of deferred runs that are due and still running.
async fn record_deferred_runs(
    inner: &Arc<Inner>,
    queue: &mut std::collections::VecDeque<Deferred>,
) {
    let now = inner.clock.now();
    let expires = lease::expiry(now, inner.options.lease);
    type Live = (Arc<SlotInner>, Deferred);
    let mut by_store: Vec<(usize, Vec<Live>)> = Vec::new();
    while queue.front().is_some_and(|d| d.at <= now) {
        let Some(item) = queue.pop_front() else {
            break;
        };
        // A run that already ended leaves nothing to record.
        let Some(slot) = item.slot.upgrade() else {
            continue;
        };
        match by_store.iter_mut().find(|(i, _)| *i == item.index) {
            Some((_, items)) => items.push((slot, item)),
            None => by_store.push((item.index, vec![(slot, item)])),
        }
    }
    for (index, items) in by_store {
        let (alias, store) = &inner.stores[index];
        let records: Vec<RunningRun> = items
            .iter()
            .map(|(_, d)| RunningRun {
                expires,
                ..d.record.clone()
            })
            .collect();
        match runs(store).begin_runs(&records).await {
            Ok(()) => {
                for (slot, _) in &items {
                    slot.written.store(true, Ordering::Release);
                }
            }
            Err(e) => {
                tracing::warn!(
                    "Could not record {} run(s) in progress in job store {alias:?}, will retry: {e}",
                    records.len()
                );
                let retry = now + chrono::Duration::from_std(DEFER).unwrap_or_default();
                for (_, mut item) in items {
                    item.at = retry;
                    queue.push_back(item);
                }
            }
        }
    }
}

/// Handles the runs nobody renewed (and those of `also_owner`): each taken over by this
/// instance alone, reported as crashed, run again when its job has `recover = true`.
async fn reap(
    inner: &Arc<Inner>,
    index: usize,
    alias: &Arc<str>,
    store: &Arc<dyn JobStore>,
    also_owner: &str,
) -> usize {
    let now = inner.clock.now();
    let expired = match runs(store).expired_runs(now, also_owner, REAP_BATCH).await {
        Ok(expired) => expired,
        Err(e) => {
            inner.running.contact(index, false, now);
            tracing::warn!("Could not look for crashed runs in job store {alias:?}: {e}");
            return 0;
        }
    };
    let found = expired.len();
    // The look itself keeps the contact count going (every `lease / 3`).
    inner.running.contact(index, true, now);
    let at_start = !also_owner.is_empty();
    let (retries, crashed): (Vec<RunningRun>, Vec<RunningRun>) =
        expired.into_iter().partition(RunningRun::is_pending);
    let expires = lease::expiry(now, inner.options.lease);
    // Pending runs that are due: their time is no sign of a crash, so no contact is needed
    // (not while the scheduler is paused, or starting paused).
    if SchedulerState::from_u8(inner.state.load(Ordering::Acquire)) == SchedulerState::Running {
        for run in retries {
            run_retry(inner, index, alias, store, run, expires).await;
        }
    }
    if !at_start && !inner.running.may_reap(index, now, inner.options.lease) {
        return found;
    }
    for run in crashed {
        if at_start && *run.owner != *also_owner {
            // At start only this id's own old records: others' may belong to live runs whose
            // owners could not renew them during an outage that just ended (lease model,
            // finding 8); the periodic reaper handles them after a lease of contact.
            continue;
        }
        if !at_start && run.owner == inner.id {
            // Ours, and this instance lives: it was stopped past the lease, or its heartbeat
            // failed. The run goes on (or has ended) here; the heartbeat renews the record.
            continue;
        }
        // The job first: a store that does not answer now leaves the record for a later look
        // (taken over without its job, a retry or a backfill's next step would be lost).
        let job = match store.lookup_job(&run.job_id).await {
            Ok(job) => job.or_else(|| carried(&run)),
            Err(e) => {
                tracing::warn!(
                    job_id = &*run.job_id,
                    "Could not read job {} to handle its crashed run, will try again: {e}",
                    run.job_id
                );
                continue;
            }
        };
        match runs(store).take_over_run(&run, &inner.id, expires).await {
            Ok(true) => {}
            Ok(false) => continue, // another instance took it
            Err(e) => {
                tracing::warn!("Could not take over crashed run {}: {e}", run.run_id);
                continue;
            }
        }
        // The record is ours now: it ends when this slot (or the recovery run) is dropped.
        let Some(slot) = inner.running.slot(index, run.run_id.clone(), true) else {
            continue;
        };
        // Fire times waiting behind the crashed run start once its record is handled (and
        // those of a job that is gone are dropped).
        if job.as_ref().is_none_or(|j| j.overlap().queues()) {
            slot.wake_queue_on_end(run.job_id.clone());
        }
        let error = format!(
            "the run was cut off: scheduler instance {} stopped renewing it (it crashed or was killed)",
            run.owner
        );
        tracing::warn!(
            job_id = &*run.job_id,
            "Run of job \"{}\" (scheduled at {}) crashed: {error}",
            run.job_id,
            run.scheduled_run_time
        );
        let duration = (now - run.started).to_std().unwrap_or_default();
        if let Some(job) = job
            .as_ref()
            .filter(|j| j.retry().retries_after(run.attempt))
        {
            // A crash is a failure like any other: retried after the policy's delay, kept as
            // the executor keeps a failed run's retry. The record becomes the pending retry
            // when the slot is dropped.
            let delay = job.retry().delay(run.attempt, fastrand::f64());
            let retry_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            slot.retry_later(crate::executor::pending_run(
                job,
                run.scheduled_run_time,
                run.attempt + 1,
                retry_at,
                run.backfill_until,
            ));
            inner.events.emit(Event::JobRetry {
                job_id: run.job_id.clone(),
                jobstore: alias.clone(),
                scheduled_run_time: run.scheduled_run_time,
                started: run.started,
                duration,
                error,
                outcome: RunOutcome::Crashed,
                attempt: run.attempt,
                retry_at,
                backfill: run.backfill_until.is_some(),
            });
            continue;
        }
        inner.events.emit(Event::JobError {
            job_id: run.job_id.clone(),
            jobstore: alias.clone(),
            scheduled_run_time: run.scheduled_run_time,
            started: run.started,
            duration,
            error,
            outcome: RunOutcome::Crashed,
            attempt: run.attempt,
            backfill: run.backfill_until.is_some(),
        });
        // A backfill goes on past a crashed fire time (recorded crashed above, or run again
        // below): the record becomes its next fire time.
        if let (Some(until), Some(job), false) = (
            run.backfill_until,
            job.as_ref(),
            job.as_ref().is_some_and(crate::job::Job::recover),
        ) {
            let step = crate::executor::backfill_step(
                job,
                run.scheduled_run_time,
                until,
                now,
                &inner.calendars(),
            );
            if let Some(pending) = step {
                slot.retry_later(pending);
            }
            continue;
        }
        let Some(mut job) = job.filter(crate::job::Job::recover) else {
            continue;
        };
        let Some(executor) = inner.executors.get(job.executor()).cloned() else {
            continue;
        };
        if !inner.registry.contains(job.func()) {
            continue;
        }
        job.jobstore = (&**alias != "default").then(|| alias.clone());
        tracing::info!(
            job_id = job.id(),
            "Recovering job \"{job}\": running again its run scheduled at {}, cut off on instance {}",
            run.scheduled_run_time,
            run.owner
        );
        let mut job_run = JobRun::new(job, alias.clone(), vec![run.scheduled_run_time]);
        job_run.slot = Some(slot);
        job_run.recovery = true;
        job_run.attempt = run.attempt;
        job_run.backfill_until = run.backfill_until;
        super::overlap::prepare(inner, &mut job_run);
        let id = job_run.job.id.clone();
        match executor.submit(job_run) {
            Ok(()) => inner.events.emit(Event::JobSubmitted {
                job_id: id,
                jobstore: alias.clone(),
                run_times: vec![run.scheduled_run_time],
            }),
            Err(e) => tracing::error!(job_id = &*id, "Could not run recovered job {id} again: {e}"),
        }
    }
    found
}

/// Runs a pending retry that is due, if this instance takes it (a compare-and-set, so one
/// instance alone runs it). Its record stays the run's record until the run ends.
async fn run_retry(
    inner: &Arc<Inner>,
    index: usize,
    alias: &Arc<str>,
    store: &Arc<dyn JobStore>,
    run: RunningRun,
    expires: DateTime<Utc>,
) {
    let job = match store.lookup_job(&run.job_id).await {
        Ok(job) => job.or_else(|| carried(&run)),
        Err(e) => {
            tracing::warn!(
                job_id = &*run.job_id,
                "Could not read job {} to run its retry (attempt {}), will try again: {e}",
                run.job_id,
                run.attempt
            );
            return;
        }
    };
    if job
        .as_ref()
        .is_some_and(|j| !inner.registry.contains(j.func()))
    {
        return; // left for an instance that has its task
    }
    if inner.running.is_live(&run.run_id) {
        // The attempt that became this pending run still runs here (this instance stood still
        // past its lease, and another took the record over meanwhile): not beside itself.
        return;
    }
    match runs(store).take_over_run(&run, &inner.id, expires).await {
        Ok(true) => {}
        Ok(false) => return, // another instance runs it
        Err(e) => {
            tracing::warn!("Could not take pending retry {}: {e}", run.run_id);
            return;
        }
    }
    // max_instances: the record counts itself; the job's other runs in progress must leave
    // room for it (a backfill asked for while a run goes on, or several retries of one
    // catch-up run, wait their turn). Counted while the record is ours, before it starts.
    if let Some(j) = job
        .as_ref()
        .filter(|j| j.overlap() != crate::job::Overlap::AllowAll && !all_at_once(&run))
    {
        let full = match inner
            .running
            .counts(&inner.id, index, store, std::slice::from_ref(&run.job_id))
            .await
        {
            Ok(counts) => counts.first().is_some_and(|n| *n > j.max_instances()),
            Err(e) => {
                tracing::warn!("Could not count the runs of job {}: {e}", run.job_id);
                true
            }
        };
        if full {
            let later = inner.clock.now() + chrono::Duration::seconds(1);
            let back = RunningRun {
                owner: Arc::from(crate::store::PENDING_OWNER),
                expires: later,
                started: later,
                ..run.clone()
            };
            match runs(store).reschedule_run(&inner.id, &back).await {
                Ok(_) => inner.running.wake_for_retry(later),
                // Left ours: it expires and is reaped as a crashed run (retried if it may be).
                Err(e) => tracing::warn!("Could not put pending run {} back: {e}", run.run_id),
            }
            return;
        }
    }
    // Dropping the slot without a run ends the record.
    let Some(slot) = inner.running.slot(index, run.run_id.clone(), true) else {
        return;
    };
    let Some(job) = job else {
        tracing::info!(
            job_id = &*run.job_id,
            "Job {} was removed; its pending retry (attempt {}) is dropped",
            run.job_id,
            run.attempt
        );
        return;
    };
    let _ = start_retry(inner, alias, job, &run, Some(slot));
}

/// Submits attempt `run.attempt` of `job` for `run.scheduled_run_time` (no misfire check: a
/// retry is late by design).
pub(super) fn start_retry(
    inner: &Arc<Inner>,
    alias: &Arc<str>,
    mut job: crate::job::Job,
    run: &RunningRun,
    slot: Option<RunSlot>,
) -> bool {
    let Some(executor) = inner.executors.get(job.executor()).cloned() else {
        tracing::error!(
            job_id = job.id(),
            "Executor lookup (\"{}\") failed for the retry of job \"{job}\"",
            job.executor()
        );
        return true;
    };
    job.jobstore = (&**alias != "default").then(|| alias.clone());
    if slot.is_some() || all_at_once(run) {
        // Admitted against the store's count of every instance's runs (run_retry), or a
        // backfill's `allow_all` run: the executor's own count does not refuse it again.
        job.max_instances = u32::MAX;
    }
    let mut job_run = JobRun::new(job, alias.clone(), vec![run.scheduled_run_time]);
    job_run.slot = slot;
    job_run.recovery = true;
    job_run.attempt = run.attempt;
    job_run.backfill_until = run.backfill_until;
    super::overlap::prepare(inner, &mut job_run);
    let id = job_run.job.id.clone();
    let for_log = job_run.job.clone();
    // Kept to put the record back if the executor refuses the run (it is shutting down): the
    // fire time then waits in the store for another instance, instead of being lost.
    let kept = job_run.slot.clone();
    match executor.submit(job_run) {
        Ok(()) => {
            inner.events.emit(Event::JobSubmitted {
                job_id: id,
                jobstore: alias.clone(),
                run_times: vec![run.scheduled_run_time],
            });
            true
        }
        // In-process pending runs wait for a free slot (local_retry tries again).
        Err(e) if e.kind() == crate::ErrorKind::MaxInstancesReached => {
            tracing::debug!(
                job_id = &*id,
                "Pending run of job \"{for_log}\" waits: maximum number of running instances reached ({})",
                for_log.max_instances()
            );
            false
        }
        Err(e) => match kept {
            Some(slot) => {
                tracing::info!(
                    job_id = &*id,
                    "Run of job \"{for_log}\" scheduled at {} not started ({e}); it waits in the store for another instance",
                    run.scheduled_run_time
                );
                slot.put_back(run.clone());
                true
            }
            None => {
                tracing::error!(job_id = &*id, "Could not run the retry of job {id}: {e}");
                true
            }
        },
    }
}

/// The runs-in-progress record of a store the engine tracks (see [`Running::tracks`]); a store
/// without one answers every call with `Unsupported` (the engine never asks it).
pub(crate) fn runs(store: &Arc<dyn JobStore>) -> &dyn RunningRuns {
    store.running().unwrap_or(&Untracked)
}

#[derive(Debug)]
struct Untracked;

fn untracked() -> crate::Error {
    crate::Error::new(
        crate::ErrorKind::Unsupported,
        "this job store records no runs in progress",
    )
}

#[async_trait::async_trait]
impl RunningRuns for Untracked {
    async fn running_counts(&self, _: &[Arc<str>], _: DateTime<Utc>) -> Result<Vec<u32>> {
        Err(untracked())
    }
    async fn begin_runs(&self, _: &[RunningRun]) -> Result<()> {
        Err(untracked())
    }
    async fn end_runs(&self, _: &str, _: &[Arc<str>]) -> Result<()> {
        Err(untracked())
    }
    async fn heartbeat_runs(&self, _: &str, _: DateTime<Utc>) -> Result<()> {
        Err(untracked())
    }
    async fn expired_runs(&self, _: DateTime<Utc>, _: &str, _: usize) -> Result<Vec<RunningRun>> {
        Err(untracked())
    }
    async fn take_over_run(&self, _: &RunningRun, _: &str, _: DateTime<Utc>) -> Result<bool> {
        Err(untracked())
    }
    async fn reschedule_run(&self, _: &str, _: &RunningRun) -> Result<bool> {
        Err(untracked())
    }
}
