//! Runs in progress, pending runs and queued fire times: a hash of run records, a sorted set by
//! expiry (not the queued ones: a sorted set per job by fire time holds them), per-job,
//! per-owner and stop-request sets, changed only by the `running_*.lua` scripts.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::{QUEUED_OWNER, Result, RunningRun, RunningRuns, StopRequest};

use crate::error::redis_error;
use crate::model::{items, micros, text, time};
use crate::store::ADD_CHUNK;
use crate::store::RedisJobStore;

#[async_trait]
impl RunningRuns for RedisJobStore {
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>> {
        let mut counts = Vec::with_capacity(job_ids.len());
        for chunk in job_ids.chunks(ADD_CHUNK) {
            let mut args = vec![micros(now)];
            args.extend(chunk.iter().map(|id| id.to_string()));
            let out = items(self.run_running(&self.scripts.running_count, &args).await?);
            counts.extend(out.iter().map(|v| text(v).parse::<u32>().unwrap_or(0)));
        }
        counts.resize(job_ids.len(), 0);
        Ok(counts)
    }

    async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()> {
        for chunk in runs.chunks(ADD_CHUNK) {
            let mut args = Vec::with_capacity(chunk.len() * 3);
            for run in chunk {
                args.extend([run.run_id.to_string(), micros(run.expires), record(run)]);
            }
            self.run_running(&self.scripts.running_begin, &args).await?;
        }
        Ok(())
    }

    async fn end_runs(&self, owner: &str, run_ids: &[Arc<str>]) -> Result<()> {
        for chunk in run_ids.chunks(ADD_CHUNK) {
            let args: Vec<String> = std::iter::once(owner.to_owned())
                .chain(chunk.iter().map(|id| id.to_string()))
                .collect();
            self.run_running(&self.scripts.running_end, &args).await?;
        }
        Ok(())
    }

    async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()> {
        self.run_running(
            &self.scripts.running_heartbeat,
            &[owner.to_owned(), micros(expires)],
        )
        .await?;
        Ok(())
    }

    async fn expired_runs(
        &self,
        now: DateTime<Utc>,
        also_owner: &str,
        limit: usize,
    ) -> Result<Vec<RunningRun>> {
        let mut conn = self.conn.clone();
        let expires_key = format!("{}running_expires", self.prefix);
        let mut ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&expires_key)
            .arg("-inf")
            .arg(format!("({}", now.timestamp_micros()))
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if !also_owner.is_empty() && also_owner != QUEUED_OWNER {
            let own: Vec<String> = redis::cmd("SMEMBERS")
                .arg(format!("{}running_owner:{also_owner}", self.prefix))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            ids.extend(own);
            ids.sort();
            ids.dedup();
        }
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            let (json, expires): (Option<String>, Option<String>) = redis::pipe()
                .cmd("HGET")
                .arg(format!("{}running", self.prefix))
                .arg(&id)
                .cmd("ZSCORE")
                .arg(&expires_key)
                .arg(&id)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            let (Some(json), Some(expires)) = (json, expires) else {
                continue;
            };
            let expires = time(&expires).unwrap_or_default();
            // Queued fire times never expire (nor are they in the expiry set).
            runs.extend(parse(&id, &json, Some(expires)).filter(|run| !run.is_queued()));
        }
        runs.sort_by_key(|r| r.expires);
        runs.truncate(limit);
        Ok(runs)
    }

    async fn take_over_run(
        &self,
        run: &RunningRun,
        owner: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let out = self
            .run_running(
                &self.scripts.running_take_over,
                &[
                    run.run_id.to_string(),
                    run.owner.to_string(),
                    micros(run.expires),
                    owner.to_owned(),
                    micros(expires),
                ],
            )
            .await?;
        Ok(text(&out) == "1")
    }

    async fn reschedule_run(&self, owner: &str, pending: &RunningRun) -> Result<bool> {
        let out = self
            .run_running(
                &self.scripts.running_reschedule,
                &[
                    pending.run_id.to_string(),
                    owner.to_owned(),
                    micros(pending.expires),
                    record(pending),
                ],
            )
            .await?;
        Ok(text(&out) == "1")
    }

    async fn queued_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunningRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let last = i64::try_from(limit - 1).unwrap_or(i64::MAX);
        let out = items(
            self.run_running(
                &self.scripts.running_queued,
                &[job_id.to_owned(), last.to_string()],
            )
            .await?,
        );
        Ok(out
            .chunks(2)
            .filter_map(|pair| {
                let [id, json] = pair else { return None };
                parse(&text(id), &text(json), None)
            })
            .filter(|run| run.is_queued() && &*run.job_id == job_id)
            .collect())
    }

    async fn stop_runs(&self, job_id: &str, stop: StopRequest) -> Result<u64> {
        let out = self
            .run_running(
                &self.scripts.running_stop,
                &[job_id.to_owned(), stop.as_str().to_owned()],
            )
            .await?;
        Ok(text(&out).parse().unwrap_or(0))
    }

    async fn stop_requests(&self, owner: &str) -> Result<Vec<(Arc<str>, StopRequest)>> {
        let out = items(
            self.run_running(&self.scripts.running_stop_requests, &[owner.to_owned()])
                .await?,
        );
        Ok(out
            .chunks(2)
            .filter_map(|pair| {
                let [id, stop] = pair else { return None };
                Some((Arc::from(text(id)), StopRequest::parse(&text(stop))?))
            })
            .collect())
    }
}

/// A record of `{prefix}running` back: `expires` is the record's score in
/// `{prefix}running_expires`, or for a queued fire time (`None`) the record's own `expires`.
/// `None` when the JSON cannot be read.
fn parse(id: &str, json: &str, expires: Option<DateTime<Utc>>) -> Option<RunningRun> {
    let rec = serde_json::from_str::<serde_json::Value>(json).ok()?;
    // Integers; records an older build's take-over rewrote hold floats (`1.7e+15`).
    let number = |key: &str| {
        let value = rec.get(key)?;
        value.as_i64().or_else(|| {
            let f = value.as_f64().filter(|f| f.is_finite())?;
            #[allow(clippy::cast_possible_truncation)]
            let n = f.round() as i64;
            Some(n)
        })
    };
    let us = |key: &str| {
        number(key)
            .and_then(DateTime::from_timestamp_micros)
            .unwrap_or_default()
    };
    let field = |key: &str| rec.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    Some(RunningRun {
        run_id: Arc::from(id),
        job_id: Arc::from(field("job_id")),
        scheduled_run_time: us("scheduled"),
        started: us("started"),
        owner: Arc::from(field("owner")),
        expires: expires.unwrap_or_else(|| us("expires")),
        // Records written before retries have none: the first attempt.
        attempt: number("attempt")
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(1),
        backfill_until: number("backfill_until").and_then(DateTime::from_timestamp_micros),
        job_state: rec
            .get("job_state")
            .and_then(serde_json::Value::as_str)
            .map(Arc::from),
    })
}

/// A run's record as `{prefix}running` holds it: JSON with its times as integer µs (the expiry
/// is the sorted set's score, but a queued fire time's, in no such set, is its `expires`);
/// `backfill_until` and `job_state` only when set. A stop request (`stop`) is added by
/// `running_stop.lua`, never written from here.
fn record(run: &RunningRun) -> String {
    let mut json = serde_json::json!({
        "job_id": &*run.job_id,
        "owner": &*run.owner,
        "scheduled": run.scheduled_run_time.timestamp_micros(),
        "started": run.started.timestamp_micros(),
        "attempt": run.attempt,
    });
    if let Some(until) = run.backfill_until {
        json["backfill_until"] = until.timestamp_micros().into();
    }
    if let Some(state) = &run.job_state {
        json["job_state"] = (**state).into();
    }
    if run.is_queued() {
        json["expires"] = run.expires.timestamp_micros().into();
    }
    json.to_string()
}
