//! [`JobStore::list_jobs`](scheduler_core::JobStore::list_jobs) for Redis, which has no
//! secondary index for tags or text (without modules): the order comes from the store's own
//! keys — ids (`HKEYS {prefix}jobs`) and next run times (`{prefix}run_times`, and
//! `{prefix}leased_next` for jobs being dispatched) — never from the jobs themselves; states
//! are then read in batches of [`BATCH`] (`HMGET`), only as far as the page needs, or, with a
//! `tag` or `q` filter, streamed through to count the matches. No request holds every job.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use redis::Value as RedisValue;
use scheduler_core::store::query::{JobQuery, JobStatus, compare_keys};
use scheduler_core::{Error, ErrorKind, JobPage, Result, RunningRuns};
use serde::Deserialize;

use crate::error::redis_error;
use crate::model::time;
use crate::store::RedisJobStore;

/// What a listing reads of the store's keys: ids, (id, next run time) of scheduled jobs and of
/// leased ones, quarantined ids.
type Keys = (
    Vec<String>,
    Vec<(String, String)>,
    Vec<(String, String)>,
    Vec<String>,
);

/// States read per `HMGET`.
const BATCH: usize = 500;

/// What the filters read of a state.
#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    func: String,
    #[serde(default)]
    tags: Vec<String>,
}

impl RedisJobStore {
    pub(crate) async fn list(&self, query: &JobQuery) -> Result<JobPage> {
        if query.state == Some(JobStatus::Quarantined) {
            return Ok(JobPage::default());
        }
        let mut conn = self.conn.clone();
        let (ids, scheduled, leased, quarantined): Keys = redis::pipe()
            .cmd("HKEYS")
            .arg(self.key(0))
            .cmd("ZRANGE")
            .arg(self.key(1))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .cmd("HGETALL")
            .arg(self.key(5))
            .cmd("HKEYS")
            .arg(self.key(7))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let quarantined: HashSet<String> = quarantined.into_iter().collect();
        let mut next: HashMap<String, i64> = HashMap::with_capacity(scheduled.len());
        for (id, score) in scheduled.into_iter().chain(leased) {
            if let Some(t) = time(&score) {
                next.insert(id, t.timestamp_micros());
            }
        }
        // (next run time, id) of every candidate, in the query's order.
        let mut keys: Vec<(Option<chrono::DateTime<chrono::Utc>>, String)> = ids
            .into_iter()
            .filter(|id| !quarantined.contains(id))
            .map(|id| {
                let at = next
                    .get(&id)
                    .and_then(|us| chrono::DateTime::from_timestamp_micros(*us));
                (at, id)
            })
            .filter(|(at, _)| match query.state {
                Some(JobStatus::Scheduled) => at.is_some(),
                Some(JobStatus::Paused) => at.is_none(),
                _ => true,
            })
            .collect();
        drop(next);
        if query.state == Some(JobStatus::Running) {
            let ids: Vec<Arc<str>> = keys.iter().map(|(_, id)| Arc::from(id.as_str())).collect();
            let counts = self.running_counts(&ids, chrono::Utc::now()).await?;
            let mut counts = counts.into_iter();
            keys.retain(|_| counts.next().is_some_and(|n| n > 0));
        }
        let sort = query.sort;
        keys.sort_by(|a, b| compare_keys(sort, (a.0, &a.1), (b.0, &b.1)));
        let size = query.page_size();
        let filtered = query.tag.is_some() || query.q.is_some();
        let q = query.q.as_deref().map(str::to_lowercase);
        let mut total: u64 = 0;
        // Page members: ids with their states (already read), at most size + 1.
        let mut page: Vec<(String, String)> = Vec::with_capacity(size + 1);
        if filtered {
            for chunk in keys.chunks(BATCH) {
                let states = self.states(chunk.iter().map(|(_, id)| id.as_str())).await?;
                for ((at, id), state) in chunk.iter().zip(states) {
                    let Some(state) = state else { continue };
                    // An unreadable state is left to the full decode (which quarantines it).
                    let matches = match serde_json::from_str::<Fields>(&state) {
                        Ok(f) => {
                            query
                                .tag
                                .as_deref()
                                .is_none_or(|t| f.tags.iter().any(|x| x == t))
                                && q.as_deref().is_none_or(|q| {
                                    [id.as_str(), f.name.as_deref().unwrap_or(id), &f.func]
                                        .iter()
                                        .any(|field| field.to_lowercase().contains(q))
                                })
                        }
                        Err(_) => false,
                    };
                    if !matches {
                        continue;
                    }
                    total += 1;
                    let after = query.after.as_ref().is_none_or(|c| {
                        compare_keys(sort, (*at, id), (c.next_run_time, &c.id))
                            == std::cmp::Ordering::Greater
                    });
                    if after && page.len() <= size {
                        page.push((id.clone(), state));
                    }
                }
            }
        } else {
            total = keys.len() as u64;
            let start = match &query.after {
                Some(c) => keys.partition_point(|(at, id)| {
                    compare_keys(sort, (*at, id), (c.next_run_time, &c.id))
                        != std::cmp::Ordering::Greater
                }),
                None => 0,
            };
            let wanted: Vec<&str> = keys
                .iter()
                .skip(start)
                .take(size + 1)
                .map(|(_, id)| id.as_str())
                .collect();
            let states = self.states(wanted.iter().copied()).await?;
            for (id, state) in wanted.into_iter().zip(states) {
                if let Some(state) = state {
                    page.push((id.to_owned(), state));
                }
            }
        }
        let jobs = self.page_jobs(page).await?;
        Ok(query.finish(jobs, total))
    }

    /// The states of `ids`, in order (`None`: removed meanwhile).
    async fn states<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Result<Vec<Option<String>>> {
        let ids: Vec<&str> = ids.collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        redis::cmd("HMGET")
            .arg(self.key(0))
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)
    }

    /// Full jobs of a page: each state with its run times (read now, so a job dispatched
    /// meanwhile shows its new next run time).
    async fn page_jobs(&self, page: Vec<(String, String)>) -> Result<Vec<scheduler_core::Job>> {
        if page.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for (id, _) in &page {
            pipe.cmd("ZSCORE").arg(self.key(1)).arg(id);
            pipe.cmd("HGET").arg(self.key(5)).arg(id);
            pipe.cmd("HGET").arg(self.key(2)).arg(id);
        }
        let times: Vec<Option<String>> = pipe.query_async(&mut conn).await.map_err(redis_error)?;
        if times.len() != page.len() * 3 {
            return Err(Error::new(
                ErrorKind::Internal,
                "Redis answered a different number of run times than asked for",
            ));
        }
        let mut flat = Vec::with_capacity(page.len() * 4);
        for ((id, state), t) in page.into_iter().zip(times.chunks(3)) {
            let next = t[0].clone().or_else(|| t[1].clone()).unwrap_or_default();
            let fire = t[2].clone().unwrap_or_default();
            flat.extend([id, state, next, fire].map(|s| RedisValue::BulkString(s.into_bytes())));
        }
        self.decode_groups(flat).await
    }
}
