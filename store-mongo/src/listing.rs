//! [`JobStore::list_jobs`](scheduler_core::JobStore::list_jobs) as MongoDB queries: filters on
//! the state sub-document (`state.tags`, `state.name`, `state.func`), runs in progress from the
//! running collection, keyset paging. MongoDB sorts `null` first, so a page in next-run-time
//! order reads the scheduled jobs (`next_run_us`, `_id`) and then, when it has room, the paused
//! ones (`_id`).

use chrono::Utc;
use mongodb::bson::{Bson, Document, doc};
use scheduler_core::store::query::{JobCursor, JobQuery, JobSort, JobStatus};
use scheduler_core::{JobPage, PENDING_OWNER, QUEUED_OWNER, Result};

use crate::error::mongo_error;
use crate::model::{all, us};
use crate::store::MongoJobStore;

/// `text` as a regular expression matching itself.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl MongoJobStore {
    pub(crate) async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let mut filter = doc! { "quarantined": Bson::Null };
        match query.state {
            Some(JobStatus::Scheduled) => {
                filter.insert("next_run_us", doc! { "$ne": Bson::Null });
            }
            Some(JobStatus::Paused) => {
                filter.insert("next_run_us", Bson::Null);
            }
            Some(JobStatus::Quarantined) => return Ok(JobPage::default()),
            Some(JobStatus::Running) => {
                let runs: Vec<Document> = all(self
                    .running
                    .find(doc! {
                        "expires": { "$gt": us(Utc::now()) },
                        "owner": { "$nin": [QUEUED_OWNER, PENDING_OWNER] },
                    })
                    .projection(doc! { "job_id": 1 }))
                .await?;
                let ids: Vec<&str> = runs
                    .iter()
                    .filter_map(|d| d.get_str("job_id").ok())
                    .collect();
                filter.insert("_id", doc! { "$in": ids });
            }
            None => {}
        }
        if let Some(tag) = &query.tag {
            filter.insert("state.tags", tag.as_str());
        }
        if let Some(text) = &query.q {
            let pattern = doc! { "$regex": literal(text), "$options": "i" };
            filter.insert(
                "$or",
                vec![
                    doc! { "_id": pattern.clone() },
                    doc! { "state.name": pattern.clone() },
                    doc! { "state.func": pattern },
                ],
            );
        }
        let total = self
            .jobs
            .count_documents(filter.clone())
            .await
            .map_err(mongo_error)?;
        let want = i64::try_from(query.page_size() + 1).unwrap_or(i64::MAX);
        // `_id` after the cursor, on top of `filter`'s own conditions.
        let and = |mut base: Document, extra: Document| {
            let mut all = vec![std::mem::take(&mut base)];
            all.push(extra);
            doc! { "$and": all }
        };
        let mut documents = Vec::new();
        match query.sort {
            JobSort::Id => {
                let page = match &query.after {
                    Some(c) => and(filter, doc! { "_id": { "$gt": &c.id } }),
                    None => filter,
                };
                documents = all(self.jobs.find(page).sort(doc! { "_id": 1 }).limit(want)).await?;
            }
            JobSort::NextRunTime => {
                let paused_only = matches!(
                    query.after,
                    Some(JobCursor {
                        next_run_time: None,
                        ..
                    })
                );
                if !paused_only && query.state != Some(JobStatus::Paused) {
                    let mut scheduled = and(
                        filter.clone(),
                        doc! { "next_run_us": { "$ne": Bson::Null } },
                    );
                    if let Some(JobCursor {
                        next_run_time: Some(t),
                        id,
                        ..
                    }) = &query.after
                    {
                        scheduled = and(
                            scheduled,
                            doc! { "$or": [
                                { "next_run_us": { "$gt": us(*t) } },
                                { "next_run_us": us(*t), "_id": { "$gt": id } },
                            ] },
                        );
                    }
                    documents = all(self
                        .jobs
                        .find(scheduled)
                        .sort(doc! { "next_run_us": 1, "_id": 1 })
                        .limit(want))
                    .await?;
                }
                let room = want - i64::try_from(documents.len()).unwrap_or(want);
                if room > 0 && query.state != Some(JobStatus::Scheduled) {
                    let mut paused = and(filter, doc! { "next_run_us": Bson::Null });
                    if let Some(JobCursor {
                        next_run_time: None,
                        id,
                        ..
                    }) = &query.after
                    {
                        paused = and(paused, doc! { "_id": { "$gt": id } });
                    }
                    documents.extend(
                        all(self.jobs.find(paused).sort(doc! { "_id": 1 }).limit(room)).await?,
                    );
                }
            }
        }
        let jobs = self.decode(documents).await?;
        Ok(query.finish(jobs, total))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_patterns_escape_regex_syntax() {
        assert_eq!(super::literal("a.b*(c)"), "a\\.b\\*\\(c\\)");
        assert_eq!(super::literal("plain-text_1"), "plain-text_1");
    }
}
