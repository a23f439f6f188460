//! Run history: `{collection}_runs`, one document per record, indexed by job and time.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};
use scheduler_core::{Result, Retention, RunHistory, RunOutcome, RunRecord};

use crate::error::mongo_error;
use crate::model::{all, attempt, opt_date, opt_us, result_text, result_value, time, us};
use crate::store::MongoJobStore;

#[async_trait]
impl RunHistory for MongoJobStore {
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let documents: Vec<Document> = runs
            .iter()
            .map(|r| {
                doc! {
                    "job_id": &*r.job_id,
                    "scheduled_run_time": opt_date(Some(r.scheduled_run_time)),
                    "scheduled_us": us(r.scheduled_run_time),
                    "started_us": opt_us(r.started),
                    "finished_us": opt_us(r.finished),
                    "outcome": r.outcome.as_str(),
                    "error": r.error.clone().map_or(Bson::Null, Bson::String),
                    "scheduler_id": &*r.scheduler_id,
                    "attempt": i64::from(r.attempt),
                    "backfill": r.backfill,
                    "result": result_text(r.result.as_ref()),
                }
            })
            .collect();
        self.runs
            .insert_many(documents)
            .await
            .map_err(mongo_error)?;
        if let Some(newest) = runs.iter().map(|r| r.scheduled_run_time).max() {
            let age = i64::try_from(retention.max_age.as_micros()).unwrap_or(i64::MAX);
            self.runs
                .delete_many(doc! { "scheduled_us": { "$lt": us(newest).saturating_sub(age) } })
                .await
                .map_err(mongo_error)?;
        }
        // By count, once a job has written as many records as it may keep.
        let due = self.unpruned.due(runs, retention.per_job);
        for job_id in due {
            let kept: Vec<Document> = all(self
                .runs
                .find(doc! { "job_id": &*job_id })
                .sort(doc! { "scheduled_us": -1, "_id": -1 })
                .limit(i64::try_from(retention.per_job).unwrap_or(i64::MAX))
                .projection(doc! { "_id": 1 }))
            .await?;
            let ids: Vec<Bson> = kept.iter().filter_map(|d| d.get("_id").cloned()).collect();
            self.runs
                .delete_many(doc! { "job_id": &*job_id, "_id": { "$nin": ids } })
                .await
                .map_err(mongo_error)?;
        }
        Ok(())
    }

    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let documents: Vec<Document> = all(self
            .runs
            .find(doc! { "job_id": job_id })
            .sort(doc! { "scheduled_us": -1, "_id": -1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX)))
        .await?;
        Ok(records(&documents))
    }

    /// By the `outcome_time` index (`outcome`, `scheduled_us`).
    async fn problem_runs(
        &self,
        before: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<RunRecord>> {
        let problems: Vec<&str> = RunOutcome::ALL
            .iter()
            .filter(|o| o.is_problem())
            .map(|o| o.as_str())
            .collect();
        let documents: Vec<Document> = all(self
            .runs
            .find(doc! {
                "outcome": { "$in": problems },
                "scheduled_us": { "$lt": before.map_or(i64::MAX, us) },
            })
            .sort(doc! { "scheduled_us": -1, "_id": -1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX)))
        .await?;
        Ok(records(&documents))
    }

    /// One count per outcome, by the `outcome_time` index.
    async fn outcome_counts(&self, since: DateTime<Utc>) -> Result<Vec<(RunOutcome, u64)>> {
        let mut counts = Vec::new();
        for outcome in RunOutcome::ALL {
            let n = self
                .runs
                .count_documents(
                    doc! { "outcome": outcome.as_str(), "scheduled_us": { "$gte": us(since) } },
                )
                .await
                .map_err(mongo_error)?;
            if n > 0 {
                counts.push((outcome, n));
            }
        }
        Ok(counts)
    }
}

/// Run records from history documents (unreadable ones left out).
fn records(documents: &[Document]) -> Vec<RunRecord> {
    {
        documents
            .iter()
            .filter_map(|d| {
                Some(RunRecord {
                    job_id: Arc::from(d.get_str("job_id").ok()?),
                    scheduled_run_time: time(d.get("scheduled_us"))?,
                    started: time(d.get("started_us")),
                    finished: time(d.get("finished_us")),
                    outcome: RunOutcome::parse(d.get_str("outcome").ok()?)?,
                    error: d.get_str("error").ok().map(str::to_owned),
                    scheduler_id: Arc::from(d.get_str("scheduler_id").unwrap_or_default()),
                    // Records written before retries lack these: attempt 1, no backfill, no result.
                    attempt: attempt(d.get("attempt")),
                    backfill: d.get_bool("backfill").unwrap_or(false),
                    result: result_value(d.get("result")),
                })
            })
            .collect()
    }
}
