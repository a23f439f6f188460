//! Run history, kept in memory per job and bounded by the retention (when the store was
//! opened with [`MemoryOptions::history`](crate::MemoryOptions::history)).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::{Result, Retention, RunHistory, RunOutcome, RunRecord};

use crate::store::MemoryJobStore;

/// The run history of every job.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Per job, oldest first, bounded by the retention.
    runs: HashMap<Arc<str>, VecDeque<RunRecord>>,
    /// The scheduled time of the newest record when the history was last swept by age.
    swept: Option<DateTime<Utc>>,
}

#[async_trait]
impl RunHistory for MemoryJobStore {
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        let mut state = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let cutoff = runs
            .iter()
            .map(|r| r.scheduled_run_time)
            .max()
            .map(|newest| {
                newest - chrono::Duration::from_std(retention.max_age).unwrap_or_default()
            });
        for run in runs {
            let list = state.runs.entry(run.job_id.clone()).or_default();
            list.push_back(run.clone());
            while list.len() > retention.per_job {
                list.pop_front();
            }
        }
        // Sweeping every list by age is O(jobs): do it when the newest record has moved on by
        // a hundredth of the maximum age (at least a minute) since the last sweep.
        let newest = runs.iter().map(|r| r.scheduled_run_time).max();
        let step = chrono::Duration::from_std(retention.max_age / 100)
            .unwrap_or_default()
            .max(chrono::Duration::minutes(1));
        let sweep = match (state.swept, newest) {
            (None, Some(_)) => true,
            (Some(last), Some(newest)) => newest - last >= step,
            _ => false,
        };
        if sweep {
            state.swept = newest;
        }
        if let Some(cutoff) = cutoff.filter(|_| sweep) {
            state.runs.retain(|_, list| {
                while list.front().is_some_and(|r| r.scheduled_run_time < cutoff) {
                    list.pop_front();
                }
                !list.is_empty()
            });
        }
        Ok(())
    }

    async fn problem_runs(
        &self,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<RunRecord>> {
        let state = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let mut runs: Vec<RunRecord> = state
            .runs
            .values()
            .flatten()
            .filter(|r| r.outcome.is_problem() && before.is_none_or(|b| r.scheduled_run_time < b))
            .cloned()
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.scheduled_run_time));
        runs.truncate(limit);
        Ok(runs)
    }

    async fn outcome_counts(&self, since: DateTime<Utc>) -> Result<Vec<(RunOutcome, u64)>> {
        let state = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = std::collections::BTreeMap::new();
        for r in state.runs.values().flatten() {
            if r.scheduled_run_time >= since {
                *counts.entry(r.outcome.as_str()).or_insert(0u64) += 1;
            }
        }
        Ok(counts
            .into_iter()
            .filter_map(|(name, n)| RunOutcome::parse(name).map(|o| (o, n)))
            .collect())
    }

    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let state = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let mut runs: Vec<RunRecord> = state
            .runs
            .get(job_id)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        runs.sort_by_key(|r| std::cmp::Reverse(r.scheduled_run_time));
        runs.truncate(limit);
        Ok(runs)
    }
}
