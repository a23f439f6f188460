//! Run history: one record per run — or per run time that did not run — kept by the job's
//! store, shared by every instance using it.
//!
//! The scheduler turns its events into [`RunRecord`]s (a run that finished: `success` or
//! `error`; a run time that did not run: `missed` or `skipped`) and writes them to the job's
//! store in the background, in batches, to stores that keep history
//! ([`RunHistory::record_runs`](crate::RunHistory::record_runs)).
//! Stores keep the newest `history_per_job` records per job and drop records older than
//! `history_max_age` ([`EngineOptions`](crate::EngineOptions)).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

    /// Whether the outcome is a problem someone should look at: `error`, `missed`, `crashed`,
    /// `timed_out` (the dashboard's Problems view). `skipped` (a policy's choice) and
    /// `interrupted` (a shutdown or a newer run's request) are not.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            RunOutcome::Error | RunOutcome::Missed | RunOutcome::Crashed | RunOutcome::TimedOut
        )
    }

    /// Every outcome.
    pub const ALL: [RunOutcome; 7] = [
        RunOutcome::Success,
        RunOutcome::Error,
        RunOutcome::Missed,
        RunOutcome::Skipped,
        RunOutcome::TimedOut,
        RunOutcome::Interrupted,
        RunOutcome::Crashed,
    ];

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
    /// Which attempt at this fire time the record is for: 1 for the first run, 2 for the first
    /// retry (see [`RetryPolicy`](crate::RetryPolicy)), and so on.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The run was requested by a backfill (Temporal's `BackfillRequest`), not by the job's
    /// own schedule.
    #[serde(default)]
    pub backfill: bool,
    /// The task's return value (APScheduler 4's `JobResult.return_value`), as JSON; `None`
    /// for a run that failed, did not run, or returned `null`/`()`. At most
    /// [`MAX_RESULT_BYTES`] of JSON text: a longer value is replaced by [`cap_result`]'s marker.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
}

/// The default `attempt` of a record: the first.
pub fn first_attempt() -> u32 {
    1
}

/// The most JSON text of a return value kept in a run's history record: 64 KiB.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// A return value as history keeps it: `None` for `null`; the value itself when its JSON text
/// is at most [`MAX_RESULT_BYTES`]; else a marker object holding the start of that text:
/// `{"truncated": true, "bytes": <full length>, "head": "<the first 64 KiB, cut at a character
/// boundary>"}`.
pub fn cap_result(value: &serde_json::Value) -> Option<serde_json::Value> {
    if value.is_null() {
        return None;
    }
    let text = value.to_string();
    if text.len() <= MAX_RESULT_BYTES {
        return Some(value.clone());
    }
    // Room for the marker's own keys, so the stored text stays within the cap too.
    let mut end = MAX_RESULT_BYTES - 1024;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut head = text;
    head.truncate(end);
    let marker =
        serde_json::json!({"truncated": true, "bytes": value.to_string().len(), "head": head});
    // Escaping can grow the head (quotes, control characters): shrink until it fits.
    if marker.to_string().len() <= MAX_RESULT_BYTES {
        return Some(marker);
    }
    let mut head = marker["head"].as_str().unwrap_or_default().to_owned();
    while serde_json::Value::String(head.clone()).to_string().len() > MAX_RESULT_BYTES - 1024 {
        let mut cut = head.len() / 2;
        while !head.is_char_boundary(cut) {
            cut -= 1;
        }
        head.truncate(cut);
    }
    Some(serde_json::json!({"truncated": true, "bytes": marker["bytes"], "head": head}))
}

/// Retention of a store's run history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Records kept per job (the newest).
    pub per_job: usize,
    /// Records older than this (by scheduled time) are dropped.
    pub max_age: Duration,
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
