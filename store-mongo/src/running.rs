//! Runs in progress, pending runs and queued fire times: `{collection}_running`, one document
//! per run (a stop request is its `stop` field, absent otherwise).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};
use scheduler_core::{PENDING_OWNER, QUEUED_OWNER, Result, RunningRun, RunningRuns, StopRequest};

use crate::error::mongo_error;
use crate::model::{all, attempt, opt_us, time, us};
use crate::store::MongoJobStore;

#[async_trait]
impl RunningRuns for MongoJobStore {
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>> {
        // The collection holds only the runs executing now (and the queued fire times, not
        // counted): for many ids, read them all.
        let not_queued = doc! { "$ne": QUEUED_OWNER };
        let filter = if job_ids.len() > 50 {
            doc! { "expires": { "$gt": us(now) }, "owner": not_queued }
        } else {
            let ids: Vec<&str> = job_ids.iter().map(|id| &**id).collect();
            doc! { "job_id": { "$in": ids }, "expires": { "$gt": us(now) }, "owner": not_queued }
        };
        let documents: Vec<Document> =
            all(self.running.find(filter).projection(doc! { "job_id": 1 })).await?;
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for d in &documents {
            if let Ok(id) = d.get_str("job_id") {
                *counts.entry(id).or_insert(0) += 1;
            }
        }
        Ok(job_ids
            .iter()
            .map(|id| counts.get(&**id).copied().unwrap_or(0))
            .collect())
    }

    async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let documents: Vec<Document> = runs
            .iter()
            .map(|r| {
                let mut d = fields(r);
                d.insert("_id", &*r.run_id);
                d
            })
            .collect();
        self.running
            .insert_many(documents)
            .await
            .map_err(mongo_error)?;
        Ok(())
    }

    async fn end_runs(&self, owner: &str, run_ids: &[Arc<str>]) -> Result<()> {
        for chunk in run_ids.chunks(1000) {
            let ids: Vec<&str> = chunk.iter().map(|id| &**id).collect();
            self.running
                .delete_many(doc! { "_id": { "$in": ids }, "owner": owner })
                .await
                .map_err(mongo_error)?;
        }
        Ok(())
    }

    async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()> {
        if owner == QUEUED_OWNER {
            // Queued fire times are no runs in progress: nothing to renew.
            return Ok(());
        }
        self.running
            .update_many(
                doc! { "owner": owner },
                doc! { "$set": { "expires": us(expires) } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(())
    }

    async fn expired_runs(
        &self,
        now: DateTime<Utc>,
        also_owner: &str,
        limit: usize,
    ) -> Result<Vec<RunningRun>> {
        // Queued fire times never expire: neither by time nor as also_owner's.
        let documents: Vec<Document> = all(self
            .running
            .find(doc! {
                "owner": { "$ne": QUEUED_OWNER },
                "$or": [ { "expires": { "$lt": us(now) } }, { "owner": also_owner } ],
            })
            .sort(doc! { "expires": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX)))
        .await?;
        Ok(documents.iter().filter_map(run).collect())
    }

    async fn take_over_run(
        &self,
        run: &RunningRun,
        owner: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let result = self
            .running
            .update_one(
                doc! { "_id": &*run.run_id, "owner": &*run.owner, "expires": us(run.expires) },
                doc! { "$set": { "owner": owner, "expires": us(expires) } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(result.modified_count == 1)
    }

    async fn reschedule_run(&self, owner: &str, pending: &RunningRun) -> Result<bool> {
        let result = self
            .running
            .update_one(
                doc! { "_id": &*pending.run_id, "owner": owner },
                // Every field becomes the pending run's: a stop request goes.
                doc! { "$set": fields(pending), "$unset": { "stop": "" } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(result.matched_count == 1)
    }

    async fn queued_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunningRun>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let documents: Vec<Document> = all(self
            .running
            .find(doc! { "job_id": job_id, "owner": QUEUED_OWNER })
            .sort(doc! { "scheduled": 1, "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX)))
        .await?;
        Ok(documents.iter().filter_map(run).collect())
    }

    async fn stop_runs(&self, job_id: &str, stop: StopRequest) -> Result<u64> {
        let result = self
            .running
            .update_many(
                doc! { "job_id": job_id, "owner": { "$nin": [PENDING_OWNER, QUEUED_OWNER] } },
                doc! { "$set": { "stop": stop.as_str() } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(result.matched_count)
    }

    async fn stop_requests(&self, owner: &str) -> Result<Vec<(Arc<str>, StopRequest)>> {
        let documents: Vec<Document> = all(self
            .running
            .find(doc! { "owner": owner, "stop": { "$type": "string" } })
            .projection(doc! { "stop": 1 }))
        .await?;
        Ok(documents
            .iter()
            .filter_map(|d| {
                let stop = StopRequest::parse(d.get_str("stop").ok()?)?;
                Some((Arc::from(d.get_str("_id").ok()?), stop))
            })
            .collect())
    }
}

/// A run's document back; `None` when a field is missing or of another type.
fn run(d: &Document) -> Option<RunningRun> {
    Some(RunningRun {
        run_id: Arc::from(d.get_str("_id").ok()?),
        job_id: Arc::from(d.get_str("job_id").ok()?),
        scheduled_run_time: time(d.get("scheduled"))?,
        started: time(d.get("started"))?,
        owner: Arc::from(d.get_str("owner").ok()?),
        expires: time(d.get("expires"))?,
        attempt: attempt(d.get("attempt")),
        backfill_until: time(d.get("backfill_until")),
        job_state: d.get_str("job_state").ok().map(Arc::from),
    })
}

/// A run's document but its `_id`: times as µs (`Int64`; `backfill_until` null for none), the
/// job's state as the JSON text it is handed over as (null for none). No `stop`: only
/// [`RunningRuns::stop_runs`] sets it.
fn fields(run: &RunningRun) -> Document {
    doc! {
        "job_id": &*run.job_id,
        "scheduled": us(run.scheduled_run_time),
        "started": us(run.started),
        "owner": &*run.owner,
        "expires": us(run.expires),
        "attempt": i64::from(run.attempt),
        "backfill_until": opt_us(run.backfill_until),
        "job_state": run.job_state.as_deref().map_or(Bson::Null, |s| Bson::String(s.to_owned())),
    }
}
