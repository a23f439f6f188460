//! The in-memory "rows": a job with its lease, and the indexes the store keeps over them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use scheduler_core::{Error, Job, Release, Result};

use crate::error::{already_exists, lease_lost};

/// Every job, and the indexes over them, under the store's one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Boxed so that the table's spare slots (it is at most 7/8 full) cost a pointer, not a job.
    pub(crate) jobs: HashMap<Arc<str>, Box<Entry>>,
    /// Jobs that are neither paused nor leased, by (next run time in µs, id).
    pub(crate) due: BTreeSet<(i64, Arc<str>)>,
    /// Leased jobs by (lease expiry in µs, id).
    pub(crate) leases: BTreeSet<(i64, Arc<str>)>,
    /// Jobs taken out of scheduling, with the reason.
    pub(crate) quarantine: HashMap<Arc<str>, (Job, String)>,
}

/// A stored job and its lease.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) job: Job,
    /// Boxed: few jobs are leased at a time, so idle jobs pay a pointer for it.
    pub(crate) lease: Option<Box<Lease>>,
}

/// Who holds a job, until when (µs since the epoch, UTC).
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) owner: Arc<str>,
    pub(crate) expires: i64,
    /// The job was updated while leased: the update wins over the release.
    pub(crate) modified: bool,
}

/// A job's key in the due index: (next run time in µs, id); `None` when paused.
pub(crate) fn key(job: &Job) -> Option<(i64, Arc<str>)> {
    job.next_run_time()
        .map(|t| (t.timestamp_micros(), job.id_arc().clone()))
}

impl State {
    pub(crate) fn insert(&mut self, job: Job) -> Result<()> {
        if self.jobs.contains_key(job.id()) || self.quarantine.contains_key(job.id()) {
            return Err(already_exists(job.id()));
        }
        if let Some(k) = key(&job) {
            self.due.insert(k);
        }
        self.jobs
            .insert(job.id_arc().clone(), Box::new(Entry { job, lease: None }));
        Ok(())
    }

    /// Returns jobs whose lease expired to the due set.
    pub(crate) fn expire_leases(&mut self, now: i64) {
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

    pub(crate) fn release(&mut self, owner: &str, id: &str, release: Release) -> Result<()> {
        let entry = self
            .jobs
            .get_mut(id)
            .ok_or_else(|| Error::job_not_found(id))?;
        let lease = match &entry.lease {
            Some(lease) if &*lease.owner == owner => {
                entry.lease.take().unwrap_or_else(|| unreachable!())
            }
            Some(lease) => {
                return Err(lease_lost(id, owner, Some(&lease.owner)));
            }
            None => {
                return Err(lease_lost(id, owner, None));
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
