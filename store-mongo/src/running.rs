//! Runs in progress: `{collection}_running`, one document per run.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Document, doc};
use scheduler_core::{RETRY_OWNER, Result, RunningRun, RunningRuns};

use crate::error::mongo_error;
use crate::model::{all, attempt, time, us};
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
                doc! {
                    "_id": &*r.run_id,
                    "job_id": &*r.job_id,
                    "scheduled": us(r.scheduled_run_time),
                    "started": us(r.started),
                    "owner": &*r.owner,
                    "expires": us(r.expires),
                    "attempt": i64::from(r.attempt),
                }
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

    async fn reschedule_run(
        &self,
        owner: &str,
        run_id: &str,
        attempt: u32,
        due: DateTime<Utc>,
    ) -> Result<bool> {
        let result = self
            .running
            .update_one(
                doc! { "_id": run_id, "owner": owner },
                doc! { "$set": {
                    "owner": RETRY_OWNER,
                    "expires": us(due),
                    "started": us(due),
                    "attempt": i64::from(attempt),
                } },
            )
            .await
            .map_err(mongo_error)?;
        Ok(result.matched_count == 1)
    }
}
