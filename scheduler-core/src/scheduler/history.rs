//! The run-history writer: turns the scheduler's events into [`RunRecord`]s and writes them,
//! in batches, to the stores that keep history. It takes the stores and the retention it
//! needs, nothing of the scheduler's internals.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::event::{Event, EventMask};
use crate::history::{Retention, RunOutcome, RunRecord};
use crate::store::JobStore;

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
                  error: Option<String>,
                  attempt: u32,
                  backfill: bool| RunRecord {
        job_id: job_id.clone(),
        scheduled_run_time: scheduled,
        started,
        finished: started
            .zip(duration)
            .map(|(s, d)| s + chrono::Duration::from_std(d).unwrap_or_default()),
        outcome,
        error,
        scheduler_id: scheduler_id.clone(),
        attempt,
        backfill,
        result: None,
    };
    match event {
        Event::JobExecuted {
            job_id,
            jobstore,
            scheduled_run_time,
            started,
            duration,
            retval,
            attempt,
            backfill,
        } => out(
            jobstore.clone(),
            RunRecord {
                result: crate::history::cap_result(retval),
                ..record(
                    job_id,
                    *scheduled_run_time,
                    Some(*started),
                    Some(*duration),
                    RunOutcome::Success,
                    None,
                    *attempt,
                    *backfill,
                )
            },
        ),
        Event::JobError {
            job_id,
            jobstore,
            scheduled_run_time,
            started,
            duration,
            error,
            outcome,
            attempt,
            backfill,
        } => out(
            jobstore.clone(),
            record(
                job_id,
                *scheduled_run_time,
                Some(*started),
                Some(*duration),
                *outcome,
                Some(error.clone()),
                *attempt,
                *backfill,
            ),
        ),
        // A failed attempt that will be retried is in the history as what it was.
        Event::JobRetry {
            job_id,
            jobstore,
            scheduled_run_time,
            started,
            duration,
            error,
            outcome,
            attempt,
            backfill,
            ..
        } => out(
            jobstore.clone(),
            record(
                job_id,
                *scheduled_run_time,
                Some(*started),
                Some(*duration),
                *outcome,
                Some(error.clone()),
                *attempt,
                *backfill,
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
                    1,
                    false,
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
                    record(job_id, *t, None, None, RunOutcome::Skipped, None, 1, false),
                );
            }
        }
        _ => {}
    }
}

/// The events that make history.
pub(crate) const HISTORY_EVENTS: EventMask = EventMask::JOB_EXECUTED
    .union(EventMask::JOB_ERROR)
    .union(EventMask::JOB_RETRY)
    .union(EventMask::JOB_MISSED)
    .union(EventMask::JOB_MAX_INSTANCES);

/// Records per batch written to a store.
const BATCH: usize = 1000;

/// Starts the background writer: events in, batched `record_runs` calls out. It ends when the
/// scheduler is gone (its senders dropped).
pub(crate) fn spawn_writer(
    stores: Vec<(Arc<str>, Arc<dyn JobStore>)>,
    retention: Retention,
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
            for (alias, records) in by_store {
                let Some(history) = stores
                    .iter()
                    .find(|(a, _)| *a == alias)
                    .and_then(|(_, store)| store.history())
                else {
                    continue;
                };
                if let Err(e) = history.record_runs(&records, retention).await {
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
