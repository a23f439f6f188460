//! Run history: one record per run — or per run time that did not run — kept by the job's
//! store, shared by every instance using it.
//!
//! The scheduler turns its events into [`RunRecord`]s (a run that finished: `success` or
//! `error`; a run time that did not run: `missed` or `skipped`) and writes them to the job's
//! store in the background, in batches ([`JobStore::record_runs`](crate::JobStore::record_runs)).
//! Stores keep the newest `history_per_job` records per job and drop records older than
//! `history_max_age` ([`EngineOptions`](crate::EngineOptions)).

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::event::{Event, EventMask};

/// How a run ended, or why a run time did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The task returned `Ok`.
    Success,
    /// The task returned an error, or panicked.
    Error,
    /// The run time went by: started later than `misfire_grace_time`, or coalesced away.
    Missed,
    /// Not started: `max_instances` runs were already executing (on any instance).
    Skipped,
    /// Cut off: the run exceeded the job's `timeout` and the executor stopped it.
    TimedOut,
    /// Cut off: the scheduler shut down without waiting (`shutdown(wait = false)`).
    Interrupted,
    /// Cut off: the instance (or the worker process) running it died — a worker that
    /// panicked, aborted, was killed by a signal, or an instance that stopped heartbeating.
    Crashed,
}

impl RunOutcome {
    /// The name used in stores and the API (`success`, `error`, `missed`, `skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Success => "success",
            RunOutcome::Error => "error",
            RunOutcome::Missed => "missed",
            RunOutcome::Skipped => "skipped",
            RunOutcome::TimedOut => "timed_out",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Crashed => "crashed",
        }
    }

    /// The outcome a name stands for.
    pub fn parse(name: &str) -> Option<RunOutcome> {
        match name {
            "success" => Some(RunOutcome::Success),
            "error" => Some(RunOutcome::Error),
            "missed" => Some(RunOutcome::Missed),
            "skipped" => Some(RunOutcome::Skipped),
            "timed_out" => Some(RunOutcome::TimedOut),
            "interrupted" => Some(RunOutcome::Interrupted),
            "crashed" => Some(RunOutcome::Crashed),
            _ => None,
        }
    }
}

/// One entry of a job's run history. Times are UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The job.
    pub job_id: Arc<str>,
    /// The fire time the run was for.
    pub scheduled_run_time: DateTime<Utc>,
    /// When the run started (`None` for a run time that did not run).
    pub started: Option<DateTime<Utc>>,
    /// When it ended (`None` for a run time that did not run).
    pub finished: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The error message of a failed run.
    pub error: Option<String>,
    /// The scheduler instance that ran it (or found it missed).
    pub scheduler_id: Arc<str>,
}

/// Retention of a store's run history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Records kept per job (the newest).
    pub per_job: usize,
    /// Records older than this (by scheduled time) are dropped.
    pub max_age: Duration,
}

/// Hands `out` the records an event stands for (none for most events).
pub(crate) fn records(
    event: &Event,
    scheduler_id: &Arc<str>,
    mut out: impl FnMut(Arc<str>, RunRecord),
) {
    let record = |job_id: &Arc<str>,
                  scheduled: DateTime<Utc>,
                  started: Option<DateTime<Utc>>,
                  duration: Option<Duration>,
                  outcome: RunOutcome,
                  error: Option<String>| RunRecord {
        job_id: job_id.clone(),
        scheduled_run_time: scheduled,
        started,
        finished: started
            .zip(duration)
            .map(|(s, d)| s + chrono::Duration::from_std(d).unwrap_or_default()),
        outcome,
        error,
        scheduler_id: scheduler_id.clone(),
    };
    match event {
        Event::JobExecuted {
            job_id,
            jobstore,
            scheduled_run_time,
            started,
            duration,
            ..
        } => out(
            jobstore.clone(),
            record(
                job_id,
                *scheduled_run_time,
                Some(*started),
                Some(*duration),
                RunOutcome::Success,
                None,
            ),
        ),
        Event::JobError {
            job_id,
            jobstore,
            scheduled_run_time,
            started,
            duration,
            error,
            outcome,
        } => out(
            jobstore.clone(),
            record(
                job_id,
                *scheduled_run_time,
                Some(*started),
                Some(*duration),
                *outcome,
                Some(error.clone()),
            ),
        ),
        Event::JobMissed {
            job_id,
            jobstore,
            scheduled_run_time,
            count,
            ..
        } => {
            // A coalesced miss stands for `count` run times from `scheduled_run_time` on; the
            // event carries the first, so one record names it and the count.
            let error =
                (*count > 1).then(|| format!("{count} missed run times coalesced into one run"));
            out(
                jobstore.clone(),
                record(
                    job_id,
                    *scheduled_run_time,
                    None,
                    None,
                    RunOutcome::Missed,
                    error,
                ),
            );
        }
        Event::JobMaxInstances {
            job_id,
            jobstore,
            run_times,
        } => {
            for t in run_times {
                out(
                    jobstore.clone(),
                    record(job_id, *t, None, None, RunOutcome::Skipped, None),
                );
            }
        }
        _ => {}
    }
}

/// The events that make history.
pub(crate) const HISTORY_EVENTS: EventMask = EventMask::JOB_EXECUTED
    .union(EventMask::JOB_ERROR)
    .union(EventMask::JOB_MISSED)
    .union(EventMask::JOB_MAX_INSTANCES);

/// Records per batch written to a store.
const BATCH: usize = 1000;

/// Starts the background writer: events in, batched `record_runs` calls out. It ends when the
/// scheduler is gone.
pub(crate) fn spawn_writer(
    inner: Weak<crate::scheduler::Inner>,
) -> mpsc::UnboundedSender<(Arc<str>, RunRecord)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Arc<str>, RunRecord)>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = Vec::with_capacity(64);
            batch.push(first);
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            // Most schedulers have one store: group only when the batch spans several.
            let mut by_store: Vec<(Arc<str>, Vec<RunRecord>)> = Vec::new();
            for (alias, record) in batch {
                match by_store.iter_mut().find(|(a, _)| *a == alias) {
                    Some((_, records)) => records.push(record),
                    None => by_store.push((alias, vec![record])),
                }
            }
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let retention = Retention {
                per_job: inner.options.history_per_job,
                max_age: inner.options.history_max_age,
            };
            for (alias, records) in by_store {
                let Some((_, store)) = inner.stores.iter().find(|(a, _)| *a == alias) else {
                    continue;
                };
                if let Err(e) = store.record_runs(&records, retention).await {
                    tracing::warn!(
                        "Could not record {} run(s) in the history of job store {alias:?}: {e}",
                        records.len()
                    );
                }
            }
        }
    });
    tx
}

/// For stores that trim a job's history by count lazily: counts the records written per job
/// and names the jobs that have written as many as they may keep since they were last trimmed
/// (so a store holds at most about twice `per_job` records of a job).
#[derive(Debug, Clone, Default)]
pub struct PruneCounter(Arc<std::sync::Mutex<std::collections::HashMap<Arc<str>, usize>>>);

impl PruneCounter {
    /// Counts `runs`; returns the jobs to trim now (and starts counting them afresh).
    pub fn due(&self, runs: &[RunRecord], per_job: usize) -> Vec<Arc<str>> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for run in runs {
            *counts.entry(run.job_id.clone()).or_insert(0) += 1;
        }
        let due: Vec<Arc<str>> = counts
            .iter()
            .filter(|(_, n)| **n >= per_job.max(1))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            counts.remove(id);
        }
        due
    }
}
