//! [`RunHistory`] for [`SqlJobStore`]: one row per run in `{prefix}runs`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::{Error, ErrorKind, Result, Retention, RunHistory, RunOutcome, RunRecord};
use sqlx::Row;

use crate::dialect;
use crate::error::db_error;
use crate::model::{
    attempt, attempt_value, flag, micros, opt_text, result_text, result_value, text, time,
};
use crate::store::SqlJobStore;

#[async_trait]
impl RunHistory for SqlJobStore {
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let results: Vec<Option<String>> = runs
            .iter()
            .map(|r| result_text(r.result.as_ref()))
            .collect();
        let mut start = 0;
        while start < runs.len() {
            let end = chunk_end(&results, start);
            let query = self.sql.insert_runs(end - start);
            let mut q = sqlx::query(&query);
            for (run, result) in runs[start..end].iter().zip(&results[start..end]) {
                q = q
                    .bind(&*run.job_id)
                    .bind(micros(run.scheduled_run_time))
                    .bind(run.started.map(micros))
                    .bind(run.finished.map(micros))
                    .bind(run.outcome.as_str())
                    .bind(run.error.clone())
                    .bind(&*run.scheduler_id)
                    .bind(attempt_value(run.attempt))
                    .bind(run.backfill)
                    .bind(result.clone());
            }
            q.execute(&self.pool).await.map_err(db_error)?;
            start = end;
        }
        // Retention: by age at every write; by count per job once a job has written as many
        // records as it may keep (so the table holds at most about twice that per job).
        if let Some(newest) = runs.iter().map(|r| r.scheduled_run_time).max() {
            let cutoff = newest - chrono::Duration::from_std(retention.max_age).unwrap_or_default();
            sqlx::query(&self.sql.delete_old_runs)
                .bind(micros(cutoff))
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        }
        let due = self.unpruned.due(runs, retention.per_job);
        let keep = i64::try_from(retention.per_job).unwrap_or(i64::MAX);
        for job_id in due {
            let nth = sqlx::query(&self.sql.nth_newest_run)
                .bind(&*job_id)
                .bind(keep)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
            if let Some(row) = nth {
                let seq: i64 = row.try_get(0).map_err(db_error)?;
                sqlx::query(&self.sql.delete_runs_upto)
                    .bind(&*job_id)
                    .bind(seq)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
            }
        }
        Ok(())
    }

    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(&self.sql.select_runs)
            .bind(job_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        records(&rows)
    }

    /// By the `(outcome, scheduled_run_time)` index (schema version 6).
    async fn problem_runs(
        &self,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(&self.sql.problem_runs)
            .bind(before.map_or(i64::MAX, micros))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        records(&rows)
    }

    /// By the `scheduled_run_time` index (schema version 6).
    async fn outcome_counts(&self, since: DateTime<Utc>) -> Result<Vec<(RunOutcome, u64)>> {
        let rows = sqlx::query(&self.sql.outcome_counts)
            .bind(micros(since))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let n: i64 = row.try_get(1).map_err(db_error)?;
            if let Some(outcome) = RunOutcome::parse(&text(row, 0)?) {
                counts.push((outcome, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(counts)
    }
}

/// Run records from rows of `job_id, scheduled_run_time, started, finished, outcome, error,
/// scheduler_id, attempt, backfill, result`.
fn records(rows: &[sqlx::any::AnyRow]) -> Result<Vec<RunRecord>> {
    {
        rows.iter()
            .map(|row| {
                let outcome = text(row, 4)?;
                Ok(RunRecord {
                    job_id: Arc::from(text(row, 0)?),
                    scheduled_run_time: time(row.try_get(1).map_err(db_error)?).unwrap_or_default(),
                    started: time(row.try_get(2).map_err(db_error)?),
                    finished: time(row.try_get(3).map_err(db_error)?),
                    outcome: RunOutcome::parse(&outcome).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Internal,
                            format!("unknown run outcome '{outcome}'"),
                        )
                    })?,
                    error: opt_text(row, 5)?,
                    scheduler_id: Arc::from(text(row, 6)?),
                    attempt: attempt(row, 7)?,
                    backfill: flag(row, 8)?,
                    result: result_value(opt_text(row, 9)?),
                })
            })
            .collect()
    }
}

/// Where the INSERT of the records from `start` ends (see [`dialect::chunk_end`]): records
/// with large results (up to [`MAX_RESULT_BYTES`](scheduler_core::history::MAX_RESULT_BYTES)
/// each) go in smaller statements.
fn chunk_end(results: &[Option<String>], start: usize) -> usize {
    dialect::chunk_end(results.len(), start, |i| {
        results[i].as_ref().map_or(0, String::len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_are_bounded_by_count_and_result_bytes() {
        let none = vec![None; 1200];
        assert_eq!(chunk_end(&none, 0), dialect::INSERT_CHUNK);
        assert_eq!(chunk_end(&none, 1000), 1200);
        let big = vec![Some("x".repeat(64 * 1024)); 40];
        assert_eq!(chunk_end(&big, 0), 16);
        assert_eq!(chunk_end(&big, 32), 40);
        let huge = vec![Some("x".repeat(2 * dialect::INSERT_TEXT_BYTES)); 2];
        assert_eq!(chunk_end(&huge, 0), 1, "one record at least");
    }
}
