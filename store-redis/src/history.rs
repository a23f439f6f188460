//! Run history: one list per job (`{prefix}runs:{id}`, newest first) and an index of the
//! jobs that have one.

use std::collections::HashMap;

use async_trait::async_trait;
use scheduler_core::{Error, ErrorKind, Result, Retention, RunHistory, RunRecord};

use crate::error::redis_error;
use crate::store::RedisJobStore;

#[async_trait]
impl RunHistory for RedisJobStore {
    /// One list per job (`{prefix}runs:{id}`, newest first, JSON records, trimmed to
    /// `per_job`), and `{prefix}runs_index` (job → newest scheduled time) to drop the lists of
    /// jobs whose history aged out.
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        let mut pipe = redis::pipe();
        let mut newest: HashMap<&str, i64> = HashMap::new();
        for run in runs {
            let json = serde_json::to_string(run)
                .map_err(|e| Error::new(ErrorKind::Serialization, format!("run record: {e}")))?;
            pipe.cmd("LPUSH")
                .arg(self.runs_key(&run.job_id))
                .arg(json)
                .ignore();
            let at = run.scheduled_run_time.timestamp_micros();
            let slot = newest.entry(&*run.job_id).or_insert(at);
            *slot = (*slot).max(at);
        }
        let keep = isize::try_from(retention.per_job).unwrap_or(isize::MAX);
        for (job_id, at) in &newest {
            pipe.cmd("LTRIM")
                .arg(self.runs_key(job_id))
                .arg(0)
                .arg(keep - 1)
                .ignore();
            pipe.cmd("ZADD")
                .arg(self.runs_index())
                .arg(*at)
                .arg(*job_id)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)?;
        if let Some(latest) = newest.values().max() {
            let age = i64::try_from(retention.max_age.as_micros()).unwrap_or(i64::MAX);
            let cutoff = latest.saturating_sub(age);
            let old: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(self.runs_index())
                .arg("-inf")
                .arg(format!("({cutoff}"))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if !old.is_empty() {
                let mut pipe = redis::pipe();
                for job_id in &old {
                    pipe.cmd("DEL").arg(self.runs_key(job_id)).ignore();
                }
                pipe.cmd("ZREM").arg(self.runs_index()).arg(&old).ignore();
                pipe.query_async::<()>(&mut conn)
                    .await
                    .map_err(redis_error)?;
            }
        }
        Ok(())
    }

    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let mut conn = self.conn.clone();
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let items: Vec<String> = redis::cmd("LRANGE")
            .arg(self.runs_key(job_id))
            .arg(0)
            .arg(last)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let mut runs: Vec<RunRecord> = items
            .iter()
            .filter_map(|item| serde_json::from_str(item).ok())
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.scheduled_run_time));
        Ok(runs)
    }
}
