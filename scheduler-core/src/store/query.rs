//! Paged, filtered job listings ([`JobStore::list_jobs`](super::JobStore::list_jobs)): what
//! `GET {prefix}/jobs?limit=…` and the dashboard ask a store for when it holds 10,000+ jobs.
//!
//! Pages are keyset pages (as River's and Temporal's list APIs are): a [`JobCursor`] is the
//! sort key of the last job of a page, and the next page starts after it, so a job added or
//! removed between two pages neither shifts nor repeats the others.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::{Error, ErrorKind, Result};
use crate::job::Job;

/// The most jobs one page holds.
pub const MAX_PAGE: usize = 1000;

/// A job's state as listings filter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Has a next run time (APScheduler: not paused).
    Scheduled,
    /// Paused: no next run time.
    Paused,
    /// Has a run in progress (on any instance, for stores that record runs in progress).
    Running,
    /// Kept by the store but not scheduled (see
    /// [`JobStore::quarantined_jobs`](super::JobStore::quarantined_jobs)); never a [`Job`],
    /// so a store's `list_jobs` returns none for it.
    Quarantined,
}

impl JobStatus {
    /// Parses `scheduled`, `paused`, `running` or `quarantined`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the accepted values.
    pub fn parse(text: &str) -> Result<JobStatus> {
        match text {
            "scheduled" => Ok(JobStatus::Scheduled),
            "paused" => Ok(JobStatus::Paused),
            "running" => Ok(JobStatus::Running),
            "quarantined" => Ok(JobStatus::Quarantined),
            other => Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "state: unknown state {other:?}; use scheduled, paused, running or quarantined"
                ),
            )),
        }
    }

    /// The name [`JobStatus::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Scheduled => "scheduled",
            JobStatus::Paused => "paused",
            JobStatus::Running => "running",
            JobStatus::Quarantined => "quarantined",
        }
    }
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobSort {
    /// By next run time, then id; paused jobs last, by id (as
    /// [`JobStore::get_all_jobs`](super::JobStore::get_all_jobs)).
    #[default]
    NextRunTime,
    /// By id (byte order).
    Id,
}

impl JobSort {
    /// Parses `next_run_time` or `id`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the accepted values.
    pub fn parse(text: &str) -> Result<JobSort> {
        match text {
            "next_run_time" => Ok(JobSort::NextRunTime),
            "id" => Ok(JobSort::Id),
            other => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("sort: unknown order {other:?}; use next_run_time or id"),
            )),
        }
    }
}

/// Where a page ends: the sort key of its last job. Opaque to clients
/// ([`JobCursor::encode`] / [`JobCursor::decode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    /// The order the cursor belongs to.
    pub sort: JobSort,
    /// The last job's next run time (`None`: paused), for [`JobSort::NextRunTime`].
    pub next_run_time: Option<DateTime<Utc>>,
    /// The last job's id.
    pub id: String,
}

impl JobCursor {
    /// The cursor after `job` in `sort` order.
    pub fn after(job: &Job, sort: JobSort) -> JobCursor {
        JobCursor {
            sort,
            next_run_time: job.next_run_time(),
            id: job.id().to_owned(),
        }
    }

    /// The cursor as URL-safe text (lower-case hex of `i:<id>`, `n<µs>:<id>` or `p:<id>`).
    pub fn encode(&self) -> String {
        let text = match (self.sort, self.next_run_time) {
            (JobSort::Id, _) => format!("i:{}", self.id),
            (JobSort::NextRunTime, Some(t)) => format!("n{}:{}", t.timestamp_micros(), self.id),
            (JobSort::NextRunTime, None) => format!("p:{}", self.id),
        };
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`JobCursor::encode`]'s text.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for text no page gave, or a cursor of the other order.
    pub fn decode(text: &str, sort: JobSort) -> Result<JobCursor> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidInput,
                "cursor: not a cursor this listing gave (pass next_cursor from the previous page, with the same sort)",
            )
        };
        if text.len() % 2 != 0 || text.len() > 2 * 1024 {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (head, id) = text.split_once(':').ok_or_else(bad)?;
        let cursor = |next_run_time| JobCursor {
            sort,
            next_run_time,
            id: id.to_owned(),
        };
        match (sort, head) {
            (JobSort::Id, "i") => Ok(cursor(None)),
            (JobSort::NextRunTime, "p") => Ok(cursor(None)),
            (JobSort::NextRunTime, micros) => {
                let micros: i64 = micros
                    .strip_prefix('n')
                    .and_then(|m| m.parse().ok())
                    .ok_or_else(bad)?;
                let t = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
                Ok(cursor(Some(t)))
            }
            _ => Err(bad()),
        }
    }
}

/// What to list: a page of at most `limit` jobs after `after`, filtered.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// At most this many jobs (1..=[`MAX_PAGE`]; larger values are cut to it).
    pub limit: usize,
    /// Start after this job (the previous page's [`JobPage::next`]).
    pub after: Option<JobCursor>,
    /// Only jobs in this state.
    pub state: Option<JobStatus>,
    /// Only jobs carrying this tag (exact match).
    pub tag: Option<String>,
    /// Only jobs whose id, name or func contains this text (case-insensitive; ASCII letters
    /// only on SQLite and in Redis/MongoDB patterns alike).
    pub q: Option<String>,
    /// The order.
    pub sort: JobSort,
    /// For stores that record no runs in progress (the memory store): the ids of the jobs
    /// running in this process, which the scheduler fills in for [`JobStatus::Running`].
    pub running_here: Option<Arc<HashSet<Arc<str>>>>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct JobPage {
    /// The jobs, in the query's order.
    pub jobs: Vec<Job>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<JobCursor>,
    /// How many jobs match the filters (every page, not just this one).
    pub total: u64,
}

impl JobQuery {
    /// The page size, within 1..=[`MAX_PAGE`].
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE)
    }

    /// Whether `job` passes the filters other than [`JobStatus::Running`] (which needs the
    /// store's run records).
    pub fn matches(&self, job: &Job) -> bool {
        let state = match self.state {
            Some(JobStatus::Scheduled) => job.next_run_time().is_some(),
            Some(JobStatus::Paused) => job.next_run_time().is_none(),
            Some(JobStatus::Quarantined) => false,
            Some(JobStatus::Running) | None => true,
        };
        state
            && self
                .tag
                .as_deref()
                .is_none_or(|tag| job.tags().iter().any(|t| &**t == tag))
            && self.q.as_deref().is_none_or(|q| {
                let q = q.to_lowercase();
                [job.id(), job.name(), job.func()]
                    .iter()
                    .any(|field| field.to_lowercase().contains(&q))
            })
    }

    /// Whether `job` comes after the cursor in the query's order.
    pub fn is_after_cursor(&self, job: &Job) -> bool {
        let Some(cursor) = &self.after else {
            return true;
        };
        compare(self.sort, job.next_run_time(), job.id(), cursor) == std::cmp::Ordering::Greater
    }

    /// A page from every job of a store, filtered and sorted here: for stores that keep their
    /// jobs in this process, and the default [`JobStore::list_jobs`](super::JobStore::list_jobs).
    /// `running` answers [`JobStatus::Running`].
    pub fn page_of(&self, jobs: Vec<Job>, running: impl Fn(&Job) -> bool) -> JobPage {
        let mut matching: Vec<Job> = jobs
            .into_iter()
            .filter(|j| self.matches(j) && (self.state != Some(JobStatus::Running) || running(j)))
            .collect();
        let total = matching.len() as u64;
        matching.retain(|j| self.is_after_cursor(j));
        let sort = self.sort;
        let order = |a: &Job, b: &Job| {
            compare_keys(
                sort,
                (a.next_run_time(), a.id()),
                (b.next_run_time(), b.id()),
            )
        };
        let size = self.page_size();
        if matching.len() > size + 1 {
            matching.select_nth_unstable_by(size, order);
            matching.truncate(size + 1);
        }
        matching.sort_by(order);
        self.finish(matching, total)
    }

    /// A page from up to `page_size() + 1` matching jobs after the cursor, in order (the
    /// extra one only tells that a next page exists).
    pub fn finish(&self, mut jobs: Vec<Job>, total: u64) -> JobPage {
        let size = self.page_size();
        let next = if jobs.len() > size {
            jobs.truncate(size);
            jobs.last().map(|j| JobCursor::after(j, self.sort))
        } else {
            None
        };
        JobPage { jobs, next, total }
    }
}

/// Orders a job (`next_run_time`, `id`) against a cursor's key in `sort` order.
pub fn compare(
    sort: JobSort,
    next_run_time: Option<DateTime<Utc>>,
    id: &str,
    cursor: &JobCursor,
) -> std::cmp::Ordering {
    compare_keys(
        sort,
        (next_run_time, id),
        (cursor.next_run_time, &cursor.id),
    )
}

/// Orders two (`next_run_time`, `id`) keys in `sort` order: ids by bytes, paused (`None`)
/// after every time.
pub fn compare_keys(
    sort: JobSort,
    (a_time, a_id): (Option<DateTime<Utc>>, &str),
    (b_time, b_id): (Option<DateTime<Utc>>, &str),
) -> std::cmp::Ordering {
    let by_id = a_id.as_bytes().cmp(b_id.as_bytes());
    match sort {
        JobSort::Id => by_id,
        JobSort::NextRunTime => match (a_time, b_time) {
            (Some(a), Some(b)) => a.cmp(&b).then(by_id),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => by_id,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_foreign_text() {
        let t = DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap();
        for cursor in [
            JobCursor {
                sort: JobSort::NextRunTime,
                next_run_time: Some(t),
                id: "a:b/ü c".into(),
            },
            JobCursor {
                sort: JobSort::NextRunTime,
                next_run_time: None,
                id: "paused".into(),
            },
            JobCursor {
                sort: JobSort::Id,
                next_run_time: None,
                id: "x".into(),
            },
        ] {
            let text = cursor.encode();
            assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(JobCursor::decode(&text, cursor.sort).unwrap(), cursor);
        }
        for bad in ["", "zz", "6", "693a78"] {
            let e = JobCursor::decode(bad, JobSort::NextRunTime).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
        let by_id = JobCursor {
            sort: JobSort::Id,
            next_run_time: None,
            id: "x".into(),
        };
        assert!(JobCursor::decode(&by_id.encode(), JobSort::NextRunTime).is_err());
    }
}
