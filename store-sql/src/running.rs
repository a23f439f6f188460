//! [`RunningRuns`] for [`SqlJobStore`]: the runs executing now, one row each in
//! `{prefix}running`, with the pending runs (owner [`PENDING_OWNER`]) and the queued fire
//! times of the overlap policies (owner [`QUEUED_OWNER`]); a run asked to stop has its
//! request in the `stop` column.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::{PENDING_OWNER, QUEUED_OWNER, Result, RunningRun, RunningRuns, StopRequest};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::dialect;
use crate::error::db_error;
use crate::model::{attempt, attempt_value, micros, opt_text, text, time};
use crate::store::SqlJobStore;

#[async_trait]
impl RunningRuns for SqlJobStore {
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>> {
        let mut rows = Vec::new();
        if job_ids.len() > 50 {
            // The table holds only the runs executing now (long ones): one grouped read of
            // all of them beats many IN lists.
            rows = sqlx::query(&self.sql.count_all_running)
                .bind(micros(now))
                .bind(QUEUED_OWNER)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        } else {
            for chunk in job_ids.chunks(dialect::INSERT_CHUNK) {
                let query = self.sql.count_running(chunk.len());
                let mut q = sqlx::query(&query).bind(micros(now)).bind(QUEUED_OWNER);
                for id in chunk {
                    q = q.bind(&**id);
                }
                rows.extend(q.fetch_all(&self.pool).await.map_err(db_error)?);
            }
        }
        let mut counts = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let n: i64 = row.try_get(1).map_err(db_error)?;
            counts.insert(text(row, 0)?, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(job_ids
            .iter()
            .map(|id| counts.get(&**id).copied().unwrap_or(0))
            .collect())
    }

    async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()> {
        let mut start = 0;
        while start < runs.len() {
            // Pending runs carry their job's state: a backfill's may be many of the same job.
            let end = dialect::chunk_end(runs.len(), start, |i| {
                runs[i].job_state.as_deref().map_or(0, str::len)
            });
            let chunk = &runs[start..end];
            let query = self.sql.insert_running(chunk.len());
            let mut q = sqlx::query(&query);
            for run in chunk {
                q = q
                    .bind(&*run.run_id)
                    .bind(&*run.job_id)
                    .bind(micros(run.scheduled_run_time))
                    .bind(micros(run.started))
                    .bind(&*run.owner)
                    .bind(micros(run.expires))
                    .bind(attempt_value(run.attempt))
                    .bind(run.backfill_until.map(micros))
                    .bind(run.job_state.as_deref());
            }
            q.execute(&self.pool).await.map_err(db_error)?;
            start = end;
        }
        Ok(())
    }

    async fn end_runs(&self, owner: &str, run_ids: &[Arc<str>]) -> Result<()> {
        for chunk in run_ids.chunks(dialect::INSERT_CHUNK) {
            let query = self.sql.delete_running(chunk.len());
            let mut q = sqlx::query(&query).bind(owner);
            for id in chunk {
                q = q.bind(&**id);
            }
            q.execute(&self.pool).await.map_err(db_error)?;
        }
        Ok(())
    }

    async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()> {
        sqlx::query(&self.sql.heartbeat_running)
            .bind(micros(expires))
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn expired_runs(
        &self,
        now: DateTime<Utc>,
        also_owner: &str,
        limit: usize,
    ) -> Result<Vec<RunningRun>> {
        let rows = sqlx::query(&self.sql.expired_running)
            .bind(micros(now))
            .bind(also_owner)
            .bind(QUEUED_OWNER)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(running_run).collect()
    }

    async fn take_over_run(
        &self,
        run: &RunningRun,
        owner: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(&self.sql.take_over_running)
            .bind(owner)
            .bind(micros(expires))
            .bind(&*run.run_id)
            .bind(&*run.owner)
            .bind(micros(run.expires))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn reschedule_run(&self, owner: &str, pending: &RunningRun) -> Result<bool> {
        let done = sqlx::query(&self.sql.reschedule_running)
            .bind(&*pending.job_id)
            .bind(micros(pending.scheduled_run_time))
            .bind(micros(pending.started))
            .bind(&*pending.owner)
            .bind(micros(pending.expires))
            .bind(attempt_value(pending.attempt))
            .bind(pending.backfill_until.map(micros))
            .bind(pending.job_state.as_deref())
            .bind(&*pending.run_id)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn queued_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunningRun>> {
        let rows = sqlx::query(&self.sql.queued_running)
            .bind(job_id)
            .bind(QUEUED_OWNER)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(running_run).collect()
    }

    async fn stop_runs(&self, job_id: &str, stop: StopRequest) -> Result<u64> {
        // The rows matched, also those already marked so (on MySQL too: sqlx connects with
        // CLIENT_FOUND_ROWS, so an UPDATE reports the rows it found, not only those it changed).
        let done = sqlx::query(&self.sql.stop_running)
            .bind(stop.as_str())
            .bind(job_id)
            .bind(PENDING_OWNER)
            .bind(QUEUED_OWNER)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn stop_requests(&self, owner: &str) -> Result<Vec<(Arc<str>, StopRequest)>> {
        let rows = sqlx::query(&self.sql.stop_requests)
            .bind(owner)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut requests = Vec::with_capacity(rows.len());
        for row in &rows {
            let run_id = text(row, 0)?;
            let stop = text(row, 1)?;
            match StopRequest::parse(&stop) {
                Some(stop) => requests.push((Arc::from(run_id), stop)),
                // Written by a newer build: not a request this one knows how to honour.
                None => tracing::warn!(
                    "Run {run_id}: unknown stop request '{stop}' in {}, ignored",
                    self.sql.running_table
                ),
            }
        }
        Ok(requests)
    }
}

/// A run record as the statements select it (the columns of `dialect::RUNNING_COLUMNS`:
/// run_id, job_id, scheduled_run_time, started, owner, expires, attempt, backfill_until,
/// job_state).
fn running_run(row: &AnyRow) -> Result<RunningRun> {
    let t = |i: usize| -> Result<DateTime<Utc>> {
        Ok(time(Some(row.try_get(i).map_err(db_error)?)).unwrap_or_default())
    };
    Ok(RunningRun {
        run_id: Arc::from(text(row, 0)?),
        job_id: Arc::from(text(row, 1)?),
        scheduled_run_time: t(2)?,
        started: t(3)?,
        owner: Arc::from(text(row, 4)?),
        expires: t(5)?,
        attempt: attempt(row, 6)?,
        backfill_until: time(row.try_get(7).map_err(db_error)?),
        job_state: opt_text(row, 8)?.map(Arc::from),
    })
}
