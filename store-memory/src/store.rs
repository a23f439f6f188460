//! The store itself.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::{
    Capabilities, Error, ErrorKind, Job, JobStore, QuarantinedJob, Release, Result, Retention,
    RunHistory, RunRecord,
};

/// An in-process job store. All methods are quick (a lock held for a few map operations).
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    /// Keep run history (off by default: see [`MemoryJobStore::with_history`]).
    keeps_history: bool,
    state: Mutex<State>,
    /// Run history, under a lock of its own so that writing it never holds up scheduling.
    history: Mutex<History>,
}

#[derive(Debug, Default)]
struct History {
    /// Per job, oldest first, bounded by the retention.
    runs: HashMap<Arc<str>, VecDeque<RunRecord>>,
    /// The scheduled time of the newest record when the history was last swept by age.
    swept: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct State {
    /// Boxed so that the table's spare slots (it is at most 7/8 full) cost a pointer, not a job.
    jobs: HashMap<Arc<str>, Box<Entry>>,
    /// Jobs that are neither paused nor leased, by (next run time in µs, id).
    due: BTreeSet<(i64, Arc<str>)>,
    /// Leased jobs by (lease expiry in µs, id).
    leases: BTreeSet<(i64, Arc<str>)>,
    /// Jobs taken out of scheduling, with the reason.
    quarantine: HashMap<Arc<str>, (Job, String)>,
}

#[derive(Debug)]
struct Entry {
    job: Job,
    /// Boxed: few jobs are leased at a time, so idle jobs pay a pointer for it.
    lease: Option<Box<Lease>>,
}

#[derive(Debug)]
struct Lease {
    owner: Arc<str>,
    expires: i64,
    /// The job was updated while leased: the update wins over the release.
    modified: bool,
}

fn key(job: &Job) -> Option<(i64, Arc<str>)> {
    job.next_run_time()
        .map(|t| (t.timestamp_micros(), job.id_arc().clone()))
}

fn not_found(id: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no job with id '{id}'"))
}

impl MemoryJobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that also keeps a bounded run history in memory (URL
    /// `memory://?history=true`). Off by default: recording every run costs about a third
    /// more time per run at 100,000 runs a second, which in-process stores are chosen for.
    pub fn with_history() -> Self {
        MemoryJobStore {
            keeps_history: true,
            ..Self::default()
        }
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

impl State {
    fn insert(&mut self, job: Job) -> Result<()> {
        if self.jobs.contains_key(job.id()) || self.quarantine.contains_key(job.id()) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a job with id '{}' already exists", job.id()),
            ));
        }
        if let Some(k) = key(&job) {
            self.due.insert(k);
        }
        self.jobs
            .insert(job.id_arc().clone(), Box::new(Entry { job, lease: None }));
        Ok(())
    }

    /// Returns jobs whose lease expired to the due set.
    fn expire_leases(&mut self, now: i64) {
        while let Some((expires, id)) = self.leases.first().cloned() {
            if expires > now {
                break;
            }
            self.leases.pop_first();
            if let Some(entry) = self.jobs.get_mut(&id) {
                entry.lease = None;
                if let Some(k) = key(&entry.job) {
                    self.due.insert(k);
                }
            }
        }
    }

    fn release(&mut self, owner: &str, id: &str, release: Release) -> Result<()> {
        let entry = self.jobs.get_mut(id).ok_or_else(|| not_found(id))?;
        let lease = match &entry.lease {
            Some(lease) if &*lease.owner == owner => {
                entry.lease.take().unwrap_or_else(|| unreachable!())
            }
            Some(lease) => {
                return Err(Error::new(
                    ErrorKind::LeaseLost,
                    format!("job '{id}' is leased by {}, not {owner}", lease.owner),
                ));
            }
            None => {
                return Err(Error::new(
                    ErrorKind::LeaseLost,
                    format!("job '{id}' is not leased by {owner}"),
                ));
            }
        };
        self.leases
            .remove(&(lease.expires, entry.job.id_arc().clone()));
        if !lease.modified {
            match release {
                Release::Reschedule {
                    next_run_time,
                    fire_time,
                } => entry
                    .job
                    .set_next_run_time(Some(next_run_time), Some(fire_time)),
                Release::Pause => entry.job.set_next_run_time(None, None),
                Release::Unchanged => {}
                Release::Remove => {
                    self.jobs.remove(id);
                    return Ok(());
                }
            }
        }
        if let Some(k) = key(&entry.job) {
            self.due.insert(k);
        }
        Ok(())
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    fn capabilities(&self) -> Capabilities {
        let caps = Capabilities::in_memory();
        caps
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
            .ok_or_else(|| not_found(job.id()))?;
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
        let entry = state.jobs.remove(id).ok_or_else(|| not_found(id))?;
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

    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        let mut jobs: Vec<Job> = self.lock().jobs.values().map(|e| e.job.clone()).collect();
        scheduler_core::store::sort_jobs(&mut jobs);
        Ok(jobs)
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let state = self.lock();
        let due = state.due.first().map(|(t, _)| *t);
        // A lease that expires must wake the engine to take the job over.
        let expiry = state.leases.first().map(|(t, _)| *t);
        let next = match (due, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(next.and_then(DateTime::from_timestamp_micros))
    }

    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let now_us = now.timestamp_micros();
        let lease_us = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
        let expires = now_us.saturating_add(lease_us);
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
        let entry = state.jobs.remove(id).ok_or_else(|| not_found(id))?;
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
}

#[async_trait]
impl RunHistory for MemoryJobStore {
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        let mut state = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let cutoff = runs
            .iter()
            .map(|r| r.scheduled_run_time)
            .max()
            .map(|newest| {
                newest - chrono::Duration::from_std(retention.max_age).unwrap_or_default()
            });
        for run in runs {
            let list = state.runs.entry(run.job_id.clone()).or_default();
            list.push_back(run.clone());
            while list.len() > retention.per_job {
                list.pop_front();
            }
        }
        // Sweeping every list by age is O(jobs): do it when the newest record has moved on by
        // a hundredth of the maximum age (at least a minute) since the last sweep.
        let newest = runs.iter().map(|r| r.scheduled_run_time).max();
        let step = chrono::Duration::from_std(retention.max_age / 100)
            .unwrap_or_default()
            .max(chrono::Duration::minutes(1));
        let sweep = match (state.swept, newest) {
            (None, Some(_)) => true,
            (Some(last), Some(newest)) => newest - last >= step,
            _ => false,
        };
        if sweep {
            state.swept = newest;
        }
        if let Some(cutoff) = cutoff.filter(|_| sweep) {
            state.runs.retain(|_, list| {
                while list.front().is_some_and(|r| r.scheduled_run_time < cutoff) {
                    list.pop_front();
                }
                !list.is_empty()
            });
        }
        Ok(())
    }

    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let state = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let mut runs: Vec<RunRecord> = state
            .runs
            .get(job_id)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        runs.sort_by_key(|r| std::cmp::Reverse(r.scheduled_run_time));
        runs.truncate(limit);
        Ok(runs)
    }
}
