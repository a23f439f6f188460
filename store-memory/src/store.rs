//! The store: one lock over the jobs and their indexes, another over the run history.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::store::lease;
use scheduler_core::{
    Capabilities, Error, Job, JobStore, QuarantinedJob, Release, Result, RunHistory,
};

use crate::config::MemoryOptions;
use crate::history::History;
use crate::model::{Lease, State, key};

/// An in-process job store. All methods are quick (a lock held for a few map operations).
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    /// Keep run history (off by default: see [`MemoryOptions::history`]).
    keeps_history: bool,
    state: Mutex<State>,
    /// Run history, under a lock of its own so that writing it never holds up scheduling.
    pub(crate) history: Mutex<History>,
    /// Exclusion calendars: name to definition (JSON text).
    pub(crate) calendars: Mutex<std::collections::BTreeMap<String, String>>,
}

impl MemoryJobStore {
    /// An empty store for `url` (`memory://`, or `memory://?history=true` to keep run
    /// history) and `options` — the constructor every rsched store has.
    ///
    /// # Errors
    /// `InvalidInput` when `url` is not a `memory://` URL.
    pub fn open(url: &str, options: MemoryOptions) -> Result<Self> {
        let options = MemoryOptions::from_url(url, options)?;
        Ok(MemoryJobStore {
            keeps_history: options.history,
            ..Self::default()
        })
    }

    /// An empty store without run history: `open("memory://", MemoryOptions::default())`.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that also keeps a bounded run history in memory:
    /// `open("memory://?history=true", …)`. Off by default: see [`MemoryOptions::history`].
    pub fn with_history() -> Self {
        MemoryJobStore {
            keeps_history: true,
            ..Self::default()
        }
    }

    /// Deletes everything the store holds: jobs, quarantined jobs, run history — the teardown
    /// every rsched store has (for the memory store, what dropping it does too).
    ///
    /// # Errors
    /// None; the signature is every store's.
    pub async fn destroy(&self) -> Result<()> {
        *self.lock() = State::default();
        *self.history.lock().unwrap_or_else(|e| e.into_inner()) = History::default();
        self.calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many jobs the store holds.
    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::in_memory()
    }

    async fn add_job(&self, job: &Job) -> Result<()> {
        self.lock().insert(job.clone())
    }

    async fn add_jobs(&self, jobs: &[Job]) -> Result<Vec<Result<()>>> {
        let mut state = self.lock();
        state.jobs.reserve(jobs.len());
        Ok(jobs.iter().map(|job| state.insert(job.clone())).collect())
    }

    async fn update_job(&self, job: &Job) -> Result<()> {
        let mut state = self.lock();
        let state = &mut *state;
        // Replacing a quarantined job restores it.
        if state.quarantine.remove(job.id()).is_some() {
            return state.insert(job.clone());
        }
        let entry = state
            .jobs
            .get_mut(job.id())
            .ok_or_else(|| Error::job_not_found(job.id()))?;
        if let Some(lease) = &mut entry.lease {
            lease.modified = true;
        } else {
            if let Some(k) = key(&entry.job) {
                state.due.remove(&k);
            }
            if let Some(k) = key(job) {
                state.due.insert(k);
            }
        }
        entry.job = job.clone();
        Ok(())
    }

    async fn remove_job(&self, id: &str) -> Result<()> {
        let mut state = self.lock();
        if state.quarantine.remove(id).is_some() {
            return Ok(());
        }
        let entry = state
            .jobs
            .remove(id)
            .ok_or_else(|| Error::job_not_found(id))?;
        if let Some(k) = key(&entry.job) {
            state.due.remove(&k);
        }
        if let Some(lease) = entry.lease {
            state
                .leases
                .remove(&(lease.expires, entry.job.id_arc().clone()));
        }
        Ok(())
    }

    async fn remove_all_jobs(&self) -> Result<()> {
        *self.lock() = State::default();
        Ok(())
    }

    async fn lookup_job(&self, id: &str) -> Result<Option<Job>> {
        Ok(self.lock().jobs.get(id).map(|e| e.job.clone()))
    }

    /// Filters the jobs where they are (no copy), orders only the matches after the cursor,
    /// and copies the page's jobs alone.
    async fn list_jobs(&self, query: &scheduler_core::JobQuery) -> Result<scheduler_core::JobPage> {
        use scheduler_core::store::query::compare_keys;
        let running = query.running_here.clone().unwrap_or_default();
        let wants_running = query.state == Some(scheduler_core::JobStatus::Running);
        let state = self.lock();
        let mut total = 0u64;
        let mut after: Vec<&Job> = Vec::new();
        for entry in state.jobs.values() {
            let job = &entry.job;
            if !query.matches(job) || (wants_running && !running.contains(job.id())) {
                continue;
            }
            total += 1;
            if query.is_after_cursor(job) {
                after.push(job);
            }
        }
        let sort = query.sort;
        let order = |a: &&Job, b: &&Job| {
            compare_keys(
                sort,
                (a.next_run_time(), a.id()),
                (b.next_run_time(), b.id()),
            )
        };
        let size = query.page_size();
        if after.len() > size + 1 {
            after.select_nth_unstable_by(size, order);
            after.truncate(size + 1);
        }
        after.sort_by(order);
        let jobs = after.into_iter().cloned().collect();
        drop(state);
        Ok(query.finish(jobs, total))
    }

    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        let mut jobs: Vec<Job> = self.lock().jobs.values().map(|e| e.job.clone()).collect();
        scheduler_core::store::sort_jobs(&mut jobs);
        Ok(jobs)
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let state = self.lock();
        let due = state.due.first().map(|(t, _)| *t);
        let expiry = state.leases.first().map(|(t, _)| *t);
        Ok(lease::next_wakeup(due, expiry).and_then(DateTime::from_timestamp_micros))
    }

    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let now_us = now.timestamp_micros();
        let expires = lease::expiry_micros(now, lease);
        let owner: Arc<str> = Arc::from(owner);
        let mut state = self.lock();
        state.expire_leases(now_us);
        let mut acquired = Vec::new();
        while acquired.len() < limit {
            let Some((t, _)) = state.due.first() else {
                break;
            };
            if *t > now_us {
                break;
            }
            let (_, id) = state.due.pop_first().unwrap_or_else(|| unreachable!());
            state.leases.insert((expires, id.clone()));
            if let Some(entry) = state.jobs.get_mut(&id) {
                entry.lease = Some(Box::new(Lease {
                    owner: owner.clone(),
                    expires,
                    modified: false,
                }));
                acquired.push(entry.job.clone());
            }
        }
        Ok(acquired)
    }

    async fn release_job(&self, owner: &str, id: &str, release: Release) -> Result<()> {
        self.lock().release(owner, id, release)
    }

    async fn quarantine_job(&self, id: &str, reason: &str) -> Result<()> {
        let mut state = self.lock();
        let state = &mut *state;
        let entry = state
            .jobs
            .remove(id)
            .ok_or_else(|| Error::job_not_found(id))?;
        if let Some(k) = key(&entry.job) {
            state.due.remove(&k);
        }
        if let Some(lease) = &entry.lease {
            state
                .leases
                .remove(&(lease.expires, entry.job.id_arc().clone()));
        }
        tracing::warn!(job_id = id, "Job \"{id}\" quarantined: {reason}");
        let id = entry.job.id_arc().clone();
        state.quarantine.insert(id, (entry.job, reason.to_owned()));
        Ok(())
    }

    async fn quarantined_jobs(&self) -> Result<Vec<QuarantinedJob>> {
        let state = self.lock();
        let mut list: Vec<QuarantinedJob> = state
            .quarantine
            .values()
            .map(|(job, reason)| QuarantinedJob {
                id: job.id().to_owned(),
                reason: reason.clone(),
                state: serde_json::to_string(job).unwrap_or_default(),
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    async fn release_jobs(
        &self,
        owner: &str,
        releases: &[(Arc<str>, Release)],
    ) -> Result<Vec<Result<()>>> {
        let mut state = self.lock();
        Ok(releases
            .iter()
            .map(|(id, release)| state.release(owner, id, *release))
            .collect())
    }

    fn history(&self) -> Option<&dyn RunHistory> {
        self.keeps_history.then_some(self as &dyn RunHistory)
    }

    fn calendar_store(&self) -> Option<&dyn scheduler_core::CalendarStore> {
        Some(self)
    }
}
