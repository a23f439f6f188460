//! Run history: one list per job (`{prefix}runs:{id}`, newest first) and an index of the
//! jobs that have one.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::{Error, ErrorKind, Result, Retention, RunHistory, RunOutcome, RunRecord};

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
                .arg(&json)
                .ignore();
            let at = run.scheduled_run_time.timestamp_micros();
            let slot = newest.entry(&*run.job_id).or_insert(at);
            *slot = (*slot).max(at);
            if run.outcome.is_problem() {
                pipe.cmd("ZADD")
                    .arg(self.problems_key())
                    .arg(at)
                    .arg(&json)
                    .ignore();
            }
            let minute = at.div_euclid(MINUTE_US);
            pipe.cmd("HINCRBY")
                .arg(self.counts_key(minute))
                .arg(run.outcome.as_str())
                .arg(1)
                .ignore();
            pipe.cmd("EXPIRE")
                .arg(self.counts_key(minute))
                .arg(retention.max_age.as_secs().saturating_add(60))
                .ignore();
            pipe.cmd("ZADD")
                .arg(self.count_minutes_key())
                .arg(minute)
                .arg(minute)
                .ignore();
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
            let mut pipe = redis::pipe();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(self.problems_key())
                .arg("-inf")
                .arg(format!("({cutoff}"))
                .ignore();
            pipe.cmd("ZREMRANGEBYRANK")
                .arg(self.problems_key())
                .arg(0)
                .arg(-(MAX_PROBLEMS + 1))
                .ignore();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(self.count_minutes_key())
                .arg("-inf")
                .arg(format!("({}", cutoff.div_euclid(MINUTE_US)))
                .ignore();
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(redis_error)?;
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

    /// From `{prefix}runs_problems` (the newest 10,000 problem records within the retention).
    async fn problem_runs(
        &self,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<RunRecord>> {
        let mut conn = self.conn.clone();
        let max = before.map_or_else(
            || "+inf".to_owned(),
            |b| format!("({}", b.timestamp_micros()),
        );
        let items: Vec<String> = redis::cmd("ZREVRANGEBYSCORE")
            .arg(self.problems_key())
            .arg(max)
            .arg("-inf")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(items
            .iter()
            .filter_map(|item| serde_json::from_str(item).ok())
            .collect())
    }

    /// Summed from the per-minute counters (`{prefix}runs_count:{minute}`), so counted from
    /// the start of `since`'s minute.
    async fn outcome_counts(&self, since: DateTime<Utc>) -> Result<Vec<(RunOutcome, u64)>> {
        let mut conn = self.conn.clone();
        let minutes: Vec<i64> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.count_minutes_key())
            .arg(since.timestamp_micros().div_euclid(MINUTE_US))
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let mut pipe = redis::pipe();
        for minute in &minutes {
            pipe.cmd("HGETALL").arg(self.counts_key(*minute));
        }
        let counts: Vec<HashMap<String, u64>> = if minutes.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn).await.map_err(redis_error)?
        };
        let mut total: HashMap<String, u64> = HashMap::new();
        for minute in counts {
            for (outcome, n) in minute {
                *total.entry(outcome).or_insert(0) += n;
            }
        }
        Ok(RunOutcome::ALL
            .into_iter()
            .filter_map(|o| total.get(o.as_str()).map(|n| (o, *n)))
            .collect())
    }
}

/// A minute in microseconds (the counters' granularity).
const MINUTE_US: i64 = 60_000_000;

/// The most problem records kept for the Problems view.
const MAX_PROBLEMS: i64 = 10_000;

impl RedisJobStore {
    /// `{prefix}runs_problems`: problem records of every job (JSON), by scheduled time (µs).
    pub(crate) fn problems_key(&self) -> String {
        format!("{}runs_problems", self.prefix)
    }

    /// `{prefix}runs_count:{minute}`: records per outcome scheduled in that minute (since the
    /// epoch); expires after the retention's maximum age.
    pub(crate) fn counts_key(&self, minute: i64) -> String {
        format!("{}runs_count:{minute}", self.prefix)
    }

    /// `{prefix}runs_count_minutes`: the minutes that have counters.
    pub(crate) fn count_minutes_key(&self) -> String {
        format!("{}runs_count_minutes", self.prefix)
    }
}
