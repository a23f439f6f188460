//! Runs in progress, and pending runs: `{collection}_running`, one document per run.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};
use scheduler_core::{Result, RunningRun, RunningRuns};

use crate::error::mongo_error;
use crate::model::{all, attempt, opt_us, time, us};
use crate::store::MongoJobStore;

#[async_trait]
impl RunningRuns for MongoJobStore {
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>> {
        // The collection holds only the runs executing now: for many ids, read them all.
        let filter = if job_ids.len() > 50 {
            doc! { "expires": { "$gt": us(now) } }
        } else {
            let ids: Vec<&str> = job_ids.iter().map(|id| &**id).collect();
            doc! { "job_id": { "$in": ids }, "expires": { "$gt": us(now) } }
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
        let documents: Vec<Document> = all(self
            .running
            .find(doc! { "$or": [ { "expires": { "$lt": us(now) } }, { "owner": also_owner } ] })
            .sort(doc! { "expires": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX)))
        .await?;
        Ok(documents
            .iter()
            .filter_map(|d| {
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
            })
            .collect())
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
                doc! { "$set": fields(pending) },
            )
            .await
            .map_err(mongo_error)?;
        Ok(result.matched_count == 1)
    }
}

/// A run's document but its `_id`: times as µs (`Int64`; `backfill_until` null for none), the
/// job's state as the JSON text it is handed over as (null for none).
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
