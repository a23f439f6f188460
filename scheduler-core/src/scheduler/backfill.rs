//! Backfill (Temporal's `BackfillRequest`): run every fire time of a job's trigger in a past
//! (or future) range `[start, end)` now, each recorded in the run history with
//! `backfill: true`, without moving the job's own schedule.
//!
//! A backfill is kept as pending runs ([`RunningRun`] records owned by
//! [`PENDING_OWNER`]) in stores that record runs in progress, so it
//! survives the death of the instance that asked for it and each fire time runs once across
//! instances:
//! - `buffer_all` (the default): one record at a time, for the next fire time; when its run
//!   ends (after its retries, if the job has any) the record becomes the following fire time
//!   before `end`. The backfill runs one fire time after another, oldest first.
//! - `allow_all`: one record per fire time, all due now: they run side by side.
//!
//! In stores that record no runs in progress (the memory store) the scheduler keeps the same
//! chain in memory.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Scheduler;
use super::running::runs;
use crate::error::{Error, ErrorKind, Result};
use crate::job::random_id;
use crate::store::{PENDING_OWNER, RunningRun};

/// The most fire times one backfill may run.
pub const MAX_BACKFILL: usize = 10_000;

/// How the runs of a backfill may overlap (Temporal's overlap policies; a backfill supports
/// these two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillOverlap {
    /// One run after another, oldest first (the default).
    #[default]
    BufferAll,
    /// All at once.
    AllowAll,
}

impl BackfillOverlap {
    /// Reads `buffer_all` or `allow_all`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming `overlap`.
    pub fn parse(text: &str) -> Result<BackfillOverlap> {
        match text {
            "buffer_all" => Ok(BackfillOverlap::BufferAll),
            "allow_all" => Ok(BackfillOverlap::AllowAll),
            other => Err(Error::invalid(
                "overlap",
                format!(
                    "'{other}' is not an overlap policy a backfill supports: buffer_all (one after another, the default) or allow_all (all at once)"
                ),
            )),
        }
    }

    /// The name: `buffer_all` or `allow_all`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackfillOverlap::BufferAll => "buffer_all",
            BackfillOverlap::AllowAll => "allow_all",
        }
    }
}

/// What a backfill was asked to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backfill {
    /// The job.
    pub job_id: String,
    /// How many fire times it runs.
    pub fire_times: usize,
    /// The first of them (UTC), if any.
    pub first: Option<DateTime<Utc>>,
    /// The last of them (UTC), if any.
    pub last: Option<DateTime<Utc>>,
    /// How they may overlap.
    pub overlap: BackfillOverlap,
}

impl Scheduler {
    /// The fire times of job `id` in `[start, end)` (its calendars applied), at most
    /// [`MAX_BACKFILL`]: what [`Scheduler::backfill`] would run.
    ///
    /// # Errors
    /// `NotFound`; `InvalidInput` naming `end` when `end` is not after `start` or the range
    /// holds more than [`MAX_BACKFILL`] fire times.
    pub async fn backfill_times(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(crate::job::Job, Vec<DateTime<Utc>>)> {
        if end <= start {
            return Err(Error::invalid(
                "end",
                format!("must be after start ({start} to {end} is empty or reversed)"),
            ));
        }
        let job = self
            .get_job(id)
            .await?
            .ok_or_else(|| Error::job_not_found(id))?;
        let calendars = self.inner.calendars();
        let mut times = Vec::new();
        let mut next = job.next_fire_time(None, start, &calendars);
        while let Some(t) = next.filter(|t| *t < end) {
            if t < start {
                // A trigger that answers with an earlier time (a date inside an `or`).
                next = job
                    .next_fire_time(Some(t), t, &calendars)
                    .filter(|n| *n > t);
                continue;
            }
            if times.len() == MAX_BACKFILL {
                return Err(Error::invalid(
                    "end",
                    format!(
                        "the range holds more than {MAX_BACKFILL} fire times of job {id} (the most one backfill runs); split it"
                    ),
                ));
            }
            times.push(t);
            next = job
                .next_fire_time(Some(t), t, &calendars)
                .filter(|n| *n > t);
        }
        Ok((job, times))
    }

    /// Runs every fire time of job `id`'s trigger in `[start, end)` now (Temporal's
    /// `BackfillRequest`), each recorded in the run history with `backfill: true`; the job's
    /// own schedule is not moved. See [the module docs](crate::scheduler::backfill) for how it
    /// is kept and how `overlap` applies. A backfill's runs count against the job's
    /// `max_instances` while they wait and run, as its retries do.
    ///
    /// # Errors
    /// `NotRunning`; `NotFound`; `InvalidInput` naming `end` (reversed range, more than
    /// [`MAX_BACKFILL`] fire times); the store's error.
    pub async fn backfill(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        overlap: BackfillOverlap,
    ) -> Result<Backfill> {
        if !self.running() {
            return Err(Error::new(
                ErrorKind::NotRunning,
                "scheduler is not running",
            ));
        }
        let (job, times) = self.backfill_times(id, start, end).await?;
        let report = Backfill {
            job_id: id.to_owned(),
            fire_times: times.len(),
            first: times.first().copied(),
            last: times.last().copied(),
            overlap,
        };
        let Some(&first) = times.first() else {
            return Ok(report);
        };
        let (idx, _) = self.find(id, None).await?;
        let (alias, store) = &self.inner.stores[idx];
        let now = self.inner.clock.now();
        let state: Option<Arc<str>> = job.stored_state().ok().map(Arc::from);
        let record = |t: DateTime<Utc>, until: DateTime<Utc>| RunningRun {
            run_id: Arc::from(random_id()),
            job_id: job.id_arc().clone(),
            scheduled_run_time: t,
            started: now,
            owner: Arc::from(PENDING_OWNER),
            expires: now,
            attempt: 1,
            backfill_until: Some(until),
            job_state: state.clone(),
        };
        // buffer_all: one record, that walks the range; allow_all: one per fire time, each
        // ending at its own (so none continues).
        let records: Vec<RunningRun> = match overlap {
            BackfillOverlap::BufferAll => vec![record(first, end)],
            BackfillOverlap::AllowAll => times.iter().map(|t| record(*t, *t)).collect(),
        };
        tracing::info!(
            job_id = id,
            "Backfilling job {id}: {} fire time(s) from {first} to {} ({})",
            times.len(),
            report.last.unwrap_or(first),
            overlap.as_str()
        );
        if self.inner.running.tracks(idx) {
            for chunk in records.chunks(1000) {
                runs(store).begin_runs(chunk).await?;
            }
            self.inner.running.wake_for_retry(now);
            self.inner.running.poke(idx);
        } else {
            let local = self.start_local_retries();
            for record in records {
                let _ = local.send(crate::executor::LocalRetry {
                    job: job.clone(),
                    jobstore: alias.clone(),
                    retry: record,
                });
            }
        }
        Ok(report)
    }
}
