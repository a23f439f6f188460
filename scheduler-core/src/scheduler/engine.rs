//! The engine loop: lease due jobs, dispatch their runs, release them with their next run
//! time, sleep until the next one (APScheduler's `_process_jobs`, with leases).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Scheduler, SchedulerState};
use crate::error::ErrorKind;
use crate::event::Event;
use crate::executor::{Executor, JobRun};
use crate::job::{Job, MAX_MISSED_SCAN};
use crate::store::Release;
use crate::trigger::{BuiltinTrigger, Trigger};

/// Adds the trigger's jitter to a fire time: a random delay in `[0, jitter]`, never reaching
/// the following fire time.
pub(crate) fn with_jitter(trigger: &BuiltinTrigger, fire: DateTime<Utc>) -> DateTime<Utc> {
    let Some(jitter) = trigger.jitter() else {
        return fire;
    };
    let delay = jitter.mul_f64(fastrand::f64());
    let Ok(delay) = chrono::Duration::from_std(delay) else {
        return fire;
    };
    let jittered = fire + delay;
    match trigger.next_fire_time(Some(fire), fire) {
        Some(following) if jittered >= following => following - chrono::Duration::microseconds(1),
        _ => jittered,
    }
}

/// The engine task of one started scheduler.
pub(super) async fn run(scheduler: Scheduler, stop: CancellationToken) {
    let inner = &scheduler.inner;
    let mut health: Vec<StoreHealth> = inner
        .stores
        .iter()
        .map(|_| StoreHealth::default())
        .collect();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let wakeup = inner.wakeup.notified();
        tokio::pin!(wakeup);
        wakeup.as_mut().enable();
        let deadline = if scheduler.state() == SchedulerState::Running {
            tracing::debug!("Looking for jobs to run");
            process(&scheduler, &mut health).await
        } else {
            tracing::debug!("Scheduler is paused; waiting until resume() is called");
            None
        };
        match deadline {
            Some(deadline) => {
                tracing::debug!("Next wakeup is due at {deadline}");
                let sleep = inner.clock.sleep_until(deadline);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = &mut wakeup => {}
                    () = sleep => {}
                }
            }
            None => {
                tracing::debug!("No jobs; waiting until a job is added");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = &mut wakeup => {}
                }
            }
        }
    }
}

/// What the engine remembers about a store between passes.
#[derive(Default)]
struct StoreHealth {
    /// Planned runs whose releases the store could not take (it was unreachable): the releases
    /// are applied before anything else once it answers again, and only then do the runs start.
    pending: Vec<Planned>,
    /// Consecutive failed passes, for the backoff.
    failures: u32,
}

impl StoreHealth {
    /// When to try again after a failure: `retry_interval`, doubling with each consecutive
    /// failure, at most 16 times it.
    fn backoff(&mut self, now: DateTime<Utc>, retry: Duration) -> DateTime<Utc> {
        self.failures = self.failures.saturating_add(1);
        let factor = 1u32 << self.failures.saturating_sub(1).min(4);
        now + chrono::Duration::from_std(retry * factor).unwrap_or_default()
    }
}

/// What one pass decided for a leased job: what to store (its next run time, removal...) and
/// the run to start once the store has taken that.
struct Planned {
    id: Arc<str>,
    release: Release,
    run: Option<Submission>,
    /// Fire times that wait (overlap policies that queue them), written before the release.
    queue: Option<super::overlap::QueuePlan>,
}

/// Commits a batch, then starts its runs: the store takes each job's release first (its next
/// run time, or its removal) and a run starts only if its job's release was taken — as Quartz
/// fires a trigger in the database before its job runs. A release refused with `LeaseLost`
/// means the lease lapsed and another instance has the job (this process stood still past the
/// lease: SIGSTOP, a paused VM, a store that slow): its run is not started here, so no fire
/// time runs twice. Returns false when the store could not be reached: the batch is kept, to
/// be committed (and its runs started) once it answers.
async fn commit(
    scheduler: &Scheduler,
    (index, alias): (usize, &Arc<str>),
    store: &Arc<dyn crate::store::JobStore>,
    health: &mut StoreHealth,
    planned: Vec<Planned>,
) -> bool {
    let inner = &scheduler.inner;
    let releases: Vec<(Arc<str>, Release)> =
        planned.iter().map(|p| (p.id.clone(), p.release)).collect();
    let timer = std::time::Instant::now();
    let mut answer = store.release_jobs(&inner.id, &releases).await;
    metrics::histogram!(crate::event::metric_names::RELEASE, "jobstore" => alias.to_string())
        .record(timer.elapsed().as_secs_f64());
    if let Err(e) = &answer {
        // Once more at once: a pooled connection the server dropped is replaced, and the runs
        // need not wait for the next pass (nor, then, miss their misfire_grace_time).
        tracing::debug!("Releasing in job store {alias:?} failed, trying again: {e}");
        answer = store.release_jobs(&inner.id, &releases).await;
    }
    match answer {
        Ok(results) => {
            // Queued records of jobs whose release failed: another instance has the job, and
            // may have seen them (it then does not queue their fire times again) or queued the
            // same fire times itself (then ours are dropped).
            let mut unqueue: Vec<crate::store::RunningRun> = Vec::new();
            for (planned, result) in planned.into_iter().zip(results) {
                let Planned {
                    id,
                    release,
                    run,
                    queue,
                } = planned;
                if result.is_err() {
                    if let Some(queue) = &queue {
                        unqueue.extend(queue.add.iter().cloned());
                    }
                }
                match result {
                    Ok(()) => {
                        if let Some(run) = run {
                            submit(scheduler, run);
                        }
                        if queue.as_ref().is_some_and(|q| q.wake) {
                            let (inner, alias, store) =
                                (inner.clone(), alias.clone(), store.clone());
                            let id = id.clone();
                            tokio::spawn(async move {
                                super::overlap::start_queued(&inner, index, &alias, &store, &id)
                                    .await;
                            });
                        }
                        if release == Release::Remove {
                            scheduler.announce_removed(alias, id);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::LeaseLost => {
                        tracing::warn!(
                            job_id = &*id,
                            "Lost the lease on job {id} before {} (this process stood still past its lease, or job store {alias:?} was that slow); another instance has it: {e}",
                            if run.is_some() {
                                "starting its run, which is not started here"
                            } else {
                                "releasing it"
                            }
                        );
                    }
                    // Removed meanwhile: its run is not started.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => tracing::error!(
                        job_id = &*id,
                        "Could not update job {id} in job store {alias:?}{}: {e}",
                        if run.is_some() {
                            "; its run is not started"
                        } else {
                            ""
                        }
                    ),
                }
            }
            if !unqueue.is_empty() {
                super::overlap::drop_duplicates(store, &unqueue).await;
            }
            true
        }
        Err(e) => {
            tracing::warn!(
                "Error releasing {} job(s) in job store {alias:?}, will retry (their runs start once it answers): {e}",
                planned.len()
            );
            health.pending.extend(planned);
            false
        }
    }
}

/// Processes every store once; returns when to look again.
async fn process(scheduler: &Scheduler, health: &mut [StoreHealth]) -> Option<DateTime<Utc>> {
    let inner = &scheduler.inner;
    let options = &inner.options;
    let ready = super::skew::refresh(inner, false).await;
    inner.refresh_calendars(false).await;
    let now = inner.clock.now();
    let mut next: Option<DateTime<Utc>> = None;
    let mut earliest = |t: DateTime<Utc>| {
        if next.is_none_or(|n| t < n) {
            next = Some(t);
        }
    };
    for (index, ((alias, store), health)) in inner.stores.iter().zip(health.iter_mut()).enumerate()
    {
        if !health.pending.is_empty() {
            let pending = std::mem::take(&mut health.pending);
            if !commit(scheduler, (index, alias), store, health, pending).await {
                earliest(health.backoff(now, options.retry_interval));
                continue;
            }
            tracing::info!("Job store {alias:?} is reachable again");
        }
        if !ready.get(index).copied().unwrap_or(true) {
            // Its clock could not be read yet: no job is judged by this host's clock alone.
            earliest(health.backoff(now, options.retry_interval));
            continue;
        }
        let mut failed = false;
        loop {
            if scheduler.state() != SchedulerState::Running {
                return None;
            }
            let timer = std::time::Instant::now();
            let acquired = store
                .acquire_due_jobs(&inner.id, now, options.lease, options.batch_size)
                .await;
            metrics::histogram!(crate::event::metric_names::ACQUIRE, "jobstore" => alias.to_string())
                .record(timer.elapsed().as_secs_f64());
            let jobs = match acquired {
                Ok(jobs) => {
                    inner.running.contact(index, true, now);
                    jobs
                }
                Err(e) => {
                    inner.running.contact(index, false, now);
                    tracing::warn!("Error getting due jobs from job store {alias:?}: {e}");
                    failed = true;
                    break;
                }
            };
            let full = jobs.len() >= options.batch_size;
            let mut runnable = Vec::with_capacity(jobs.len());
            for job in jobs {
                if inner.registry.contains(job.func()) {
                    runnable.push(job);
                } else {
                    // Stored by a build that registered this task; this one cannot run it.
                    scheduler
                        .quarantine(alias, store, &job.id, unknown_task(job.func()))
                        .await;
                }
            }
            let tracked = inner.running.tracks(index) && !runnable.is_empty();
            // The fire times already waiting of jobs whose overlap policy queues them, read
            // before the runs in progress are counted: a queued fire time another instance
            // starts meanwhile is then seen as waiting, or counted as running.
            let waiting = if tracked {
                match waiting_of(store, &runnable).await {
                    Ok(waiting) => waiting,
                    Err(e) => {
                        tracing::warn!(
                            "Error reading queued fire times in job store {alias:?}: {e}"
                        );
                        failed = true;
                        break;
                    }
                }
            } else {
                Vec::new()
            };
            let counts = if tracked {
                let ids: Vec<Arc<str>> = runnable.iter().map(|j| j.id.clone()).collect();
                match inner.running.counts(&inner.id, index, store, &ids).await {
                    Ok(counts) => counts,
                    Err(e) => {
                        // Nothing ran: the leases expire and the jobs are taken again.
                        tracing::warn!(
                            "Error counting the runs in progress in job store {alias:?}: {e}"
                        );
                        failed = true;
                        break;
                    }
                }
            } else {
                Vec::new()
            };
            // A run whose job may fire again within a lease is recorded at once: a deferred
            // record held up by a stall or a store error could then let another instance start
            // the next fire time beside it (found by the lease model, docs/lease-model.md).
            let soon = now + chrono::Duration::from_std(options.lease).unwrap_or_default();
            let mut planned = Vec::with_capacity(runnable.len());
            // For stores that record runs in progress: whether each run is recorded at once.
            let mut immediate = Vec::new();
            for (i, job) in runnable.into_iter().enumerate() {
                let id = job.id.clone();
                let waits = waiting.get(i).and_then(Option::as_deref);
                let (release, run, queue) =
                    dispatch(scheduler, alias, job, now, counts.get(i).copied(), waits);
                if let (true, Some(s)) = (tracked, &run) {
                    let soon = matches!(release,
                        Release::Reschedule { next_run_time, .. } if next_run_time <= soon);
                    // Recorded at once too: jobs that recover crashed runs, jobs that retry
                    // failed ones (the record becomes the pending retry), and jobs whose fire
                    // times may wait for their runs (counted exactly).
                    let job = &s.run.job;
                    immediate.push(
                        soon || job.recover() || job.retry().retries > 0 || job.overlap().queues(),
                    );
                }
                planned.push(Planned {
                    id,
                    release,
                    run,
                    queue,
                });
            }
            let plans: Vec<(&Arc<str>, &super::overlap::QueuePlan)> = planned
                .iter()
                .filter_map(|p| p.queue.as_ref().map(|q| (&p.id, q)))
                .collect();
            if !plans.is_empty() {
                if let Err(e) = super::overlap::write(inner, (alias, store), &plans).await {
                    // Nothing ran: the leases expire and the jobs are taken again.
                    tracing::warn!("Error queuing fire times in job store {alias:?}: {e}");
                    failed = true;
                    break;
                }
            }
            if !immediate.is_empty() {
                // Recorded before they start (or, deferred, by the background task), so a quick
                // run cannot end before its record.
                let runs: Vec<(&JobRun, bool)> = planned
                    .iter()
                    .filter_map(|p| p.run.as_ref())
                    .map(|s| &s.run)
                    .zip(immediate)
                    .collect();
                match inner
                    .running
                    .begin(&inner.id, index, store, &runs, now, options.lease)
                    .await
                {
                    Ok(slots) => {
                        let runs = planned.iter_mut().filter_map(|p| p.run.as_mut());
                        for (s, slot) in runs.zip(slots) {
                            s.run.slot = Some(slot);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(
                            "Error recording runs in progress in job store {alias:?}: {e}"
                        );
                        failed = true;
                        break;
                    }
                }
            }
            for s in planned.iter_mut().filter_map(|p| p.run.as_mut()) {
                super::overlap::prepare(inner, &mut s.run);
            }
            if !planned.is_empty()
                && !commit(scheduler, (index, alias), store, health, planned).await
            {
                failed = true;
                break;
            }
            if !full {
                break;
            }
        }
        if !failed {
            match store.get_next_run_time().await {
                Ok(Some(t)) => earliest(t),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("Error getting the next run time from job store {alias:?}: {e}");
                    failed = true;
                }
            }
        }
        if failed {
            earliest(health.backoff(now, options.retry_interval));
        } else {
            health.failures = 0;
        }
        // Shared stores are polled too: another instance may add or change jobs.
        if store.capabilities().shared {
            earliest(
                now + chrono::Duration::from_std(options.max_poll_interval).unwrap_or_default(),
            );
        }
    }
    next
}

/// The quarantine reason for a job whose task is not registered here.
pub(super) fn unknown_task(func: &str) -> String {
    format!("no task registered as '{func}' in this process")
}

/// A run ready for its executor.
pub(super) struct Submission {
    executor: Arc<dyn Executor>,
    run: JobRun,
}

/// Plans one due job's runs and decides what to store: the next run time, or removal. The
/// runs are returned for [`submit`]; `running` is how many runs of the job are in progress on
/// every instance (stores that record runs in progress), checked against `max_instances`.
fn dispatch(
    scheduler: &Scheduler,
    alias: &Arc<str>,
    job: Job,
    now: DateTime<Utc>,
    running: Option<u32>,
    waiting: Option<&[crate::store::RunningRun]>,
) -> (
    Release,
    Option<Submission>,
    Option<super::overlap::QueuePlan>,
) {
    let inner = &scheduler.inner;
    let calendars = inner.calendars();
    // A due time a calendar excludes (a calendar changed after the job's next run time was
    // computed): passed over, the job moves on to its next allowed fire time, nothing runs.
    if let Some(fire) = job.fire_time().filter(|_| !job.calendars().is_empty()) {
        if calendars
            .excluded_until(job.calendars(), &job.trigger, fire)
            .is_some()
        {
            let release = match job.next_fire_time(Some(fire), fire, &calendars) {
                Some(next) => Release::Reschedule {
                    next_run_time: with_jitter(&job.trigger, next),
                    fire_time: next,
                },
                None => no_fire_time_left(&job, fire),
            };
            return (release, None, None);
        }
    }
    let limit = if job.coalesce() {
        1
    } else {
        usize::try_from(MAX_MISSED_SCAN).unwrap_or(usize::MAX)
    };
    let (run_times, total) = job.run_times(now, limit, &calendars);
    let Some(&last) = run_times.last() else {
        return (Release::Unchanged, None, None);
    };
    let coalesced = total - run_times.len() as u64;
    if coalesced > 0 {
        let first = job.next_run_time.unwrap_or(last);
        let late = (now - first).to_std().unwrap_or(Duration::ZERO);
        tracing::warn!(
            job_id = job.id(),
            "Run time of job \"{job}\" was missed by {}: {coalesced}{} missed run time(s) coalesced into one run",
            crate::fmt::timedelta(late),
            if total >= MAX_MISSED_SCAN {
                " or more"
            } else {
                ""
            },
        );
        inner.events.emit(Event::JobMissed {
            job_id: job.id.clone(),
            jobstore: alias.clone(),
            scheduled_run_time: first,
            lateness: late,
            count: coalesced,
        });
    }
    let fire = job.following_fire_time(last, now, &calendars);
    let next_run = fire.map(|f| with_jitter(&job.trigger, f));
    let release = match (next_run, fire) {
        (Some(next_run_time), Some(fire_time)) => Release::Reschedule {
            next_run_time,
            fire_time,
        },
        _ => no_fire_time_left(&job, last),
    };
    let Some(executor) = inner.executors.get(job.executor()) else {
        tracing::error!(
            job_id = job.id(),
            "Executor lookup (\"{}\") failed for job \"{job}\" -- pausing it",
            job.executor()
        );
        return (Release::Pause, None, None);
    };
    let mut job = job;
    let overlap = job.overlap();
    match (overlap, running, waiting) {
        // Runs whatever is running: neither the count here nor the executor's refuses it.
        (crate::job::Overlap::AllowAll, _, _) => job.max_instances = u32::MAX,
        // Waits for the runs in progress, or behind the fire times already waiting.
        (o, Some(n), Some(waiting)) if o.queues() => {
            let plan = super::overlap::plan(inner, alias, &job, &run_times, n, waiting, now);
            if plan.is_some() {
                return (release, None, plan);
            }
        }
        // `skip` (or a store that keeps no queue): skipped at max_instances.
        (_, Some(n), _) if n >= job.max_instances() => {
            skipped(scheduler, alias, &job, run_times);
            return (release, None, None);
        }
        // Stores that record no runs: the executor counts (and a refusal may queue).
        _ => {}
    }
    // The executor gets the job with its next run time moved on, as APScheduler's
    // `_process_jobs` modifies the job it submitted: `Running job "x (trigger: ..., next run
    // at: <the following run>)" (scheduled at <this run>)`, also after a catch-up. A job
    // whose trigger has finished keeps the run time it had (APScheduler removes the job
    // without modifying it).
    if let (Some(next_run_time), Some(fire_time)) = (next_run, fire) {
        job.set_next_run_time(Some(next_run_time), Some(fire_time));
    }
    let submission = Submission {
        executor: executor.clone(),
        run: JobRun::new(job, alias.clone(), run_times),
    };
    (release, Some(submission), None)
}

/// The fire times already waiting of each job whose overlap policy queues them (`None` for
/// the others, and for all when the store keeps no queue: they then skip at `max_instances`).
async fn waiting_of(
    store: &Arc<dyn crate::store::JobStore>,
    jobs: &[Job],
) -> crate::Result<Vec<Option<Vec<crate::store::RunningRun>>>> {
    let mut waiting = Vec::with_capacity(jobs.len());
    for job in jobs {
        let overlap = job.overlap();
        if !overlap.queues() {
            waiting.push(None);
            continue;
        }
        match super::running::runs(store)
            .queued_runs(job.id(), overlap.queue_limit())
            .await
        {
            Ok(q) => waiting.push(Some(q)),
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                tracing::warn!(
                    job_id = job.id(),
                    "Job store keeps no queued fire times: job {} (overlap = {}) skips at max_instances",
                    job.id(),
                    overlap.as_str()
                );
                waiting.push(None);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(waiting)
}

/// What to do with a job that has no allowed fire time after `after`: remove it when its
/// trigger has finished (APScheduler), pause it when its calendars exclude every fire time its
/// trigger still has (a calendar may change again; the job is not lost).
fn no_fire_time_left(job: &Job, after: DateTime<Utc>) -> Release {
    if job.calendars().is_empty() || job.trigger.next_fire_time(Some(after), after).is_none() {
        return Release::Remove;
    }
    tracing::error!(
        job_id = job.id(),
        "The calendars of job \"{job}\" ({}) exclude every fire time its trigger has left -- pausing it",
        job.calendars().join(", ")
    );
    Release::Pause
}

/// Reports run times not started because `max_instances` runs were executing.
fn skipped(scheduler: &Scheduler, alias: &Arc<str>, job: &Job, run_times: Vec<DateTime<Utc>>) {
    tracing::warn!(
        job_id = job.id(),
        "Execution of job \"{job}\" skipped: maximum number of running instances reached ({})",
        job.max_instances()
    );
    scheduler.inner.events.emit(Event::JobMaxInstances {
        job_id: job.id.clone(),
        jobstore: alias.clone(),
        run_times,
    });
}

/// Hands a planned run to its executor.
pub(super) fn submit(scheduler: &Scheduler, submission: Submission) {
    let Submission { executor, run } = submission;
    let (id, alias, times) = (
        run.job.id.clone(),
        run.jobstore.clone(),
        run.run_times.clone(),
    );
    let for_log = run.job.clone();
    let inner = &scheduler.inner;
    // Stores that record no runs keep queued fire times here: a fire time waits behind them.
    let local = run.slot.is_none() && for_log.overlap().queues();
    if local && inner.local_queues.has(&alias, &id) {
        inner.local_queues.push(inner, &alias, for_log, times);
        return;
    }
    match executor.submit(run) {
        Ok(()) => scheduler.inner.events.emit(Event::JobSubmitted {
            job_id: id,
            jobstore: alias,
            run_times: times,
        }),
        Err(e) if e.kind() == ErrorKind::MaxInstancesReached && local => {
            inner.local_queues.push(inner, &alias, for_log, times);
        }
        Err(e) if e.kind() == ErrorKind::MaxInstancesReached => {
            skipped(scheduler, &alias, &for_log, times);
        }
        Err(e) => {
            tracing::error!(
                job_id = &*id,
                "Error submitting job \"{for_log}\" to executor: {e}"
            );
        }
    }
}
