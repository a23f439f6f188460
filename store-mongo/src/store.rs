//! The store: its collections, and the core [`JobStore`] contract.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};
use scheduler_core::store::{lease, sort_jobs};
use scheduler_core::{
    CalendarStore, Capabilities, Error, ErrorKind, Job, JobPage, JobQuery, JobStore, PruneCounter,
    QuarantineListener, QuarantineSlot, QuarantinedJob, Release, Result, RunHistory, RunningRuns,
};

use crate::config::{DEFAULT_DATABASE, MongoOptions};
use crate::error::{is_duplicate, mongo_error};
use crate::model::{all, from_document, lease_free, run_time_fields, time, to_document, us};

/// A job store in MongoDB (see the crate docs for the document layout and how it acquires).
#[derive(Clone)]
pub struct MongoJobStore {
    pub(crate) jobs: Collection<Document>,
    /// Run history: `{collection}_runs`, one document per record.
    pub(crate) runs: Collection<Document>,
    /// Runs in progress, pending runs and queued fire times: `{collection}_running`, one
    /// document per run. One index, `job_owner` (`job_id`, `owner`, `scheduled`, `_id`): a
    /// job's queued fire times in order, and its runs to stop; heartbeats, which rewrite only
    /// `expires`, leave it alone.
    pub(crate) running: Collection<Document>,
    /// Exclusion calendars: `{collection}_calendars`, one document per calendar (`_id` its
    /// name).
    pub(crate) calendars: Collection<Document>,
    /// History records written per job since its last pruning.
    pub(crate) unpruned: PruneCounter,
    listener: QuarantineSlot,
    /// The ids each of this store value's acquisitions leased, by lease token: a release of a
    /// whole acquisition is then written by token, without an `$in` list.
    tokens: Arc<std::sync::Mutex<HashMap<String, std::collections::HashSet<String>>>>,
}

impl std::fmt::Debug for MongoJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoJobStore")
            .field("collection", &self.jobs.namespace().to_string())
            .finish_non_exhaustive()
    }
}

impl MongoJobStore {
    /// Connects to `url` (`mongodb://host:27017/database`; the database defaults to `rsched`)
    /// and uses `options.collection` (default `jobs`), creating its indexes.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a malformed URL; [`ErrorKind::Unavailable`] when no
    /// server answers.
    pub async fn open(url: &str, options: MongoOptions) -> Result<MongoJobStore> {
        let collection = options.collection;
        let mut client_options = mongodb::options::ClientOptions::parse(url)
            .await
            .map_err(|e| Error::invalid("url", format!("not a MongoDB URL: {e}")))?;
        client_options.server_selection_timeout = Some(Duration::from_secs(5));
        let database = client_options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let client = Client::with_options(client_options).map_err(mongo_error)?;
        let name = collection.as_str();
        let jobs = client.database(&database).collection::<Document>(name);
        let runs = client
            .database(&database)
            .collection::<Document>(&format!("{name}_runs"));
        let running = client
            .database(&database)
            .collection::<Document>(&format!("{name}_running"));
        let calendars = client
            .database(&database)
            .collection::<Document>(&format!("{name}_calendars"));
        // One index: every index costs on every write (leases are writes), and the due query
        // and its sort lead with next_run_time.
        let indexes = [IndexModel::builder()
            .keys(doc! { "next_run_time": 1 })
            .options(
                IndexOptions::builder()
                    .name("next_run_time".to_owned())
                    .build(),
            )
            .build()];
        jobs.create_indexes(indexes).await.map_err(mongo_error)?;
        runs.create_indexes([
            IndexModel::builder()
                .keys(doc! { "job_id": 1, "scheduled_us": -1 })
                .options(IndexOptions::builder().name("job".to_owned()).build())
                .build(),
            // The Problems view and the summary's counts (every job, by outcome and time).
            IndexModel::builder()
                .keys(doc! { "outcome": 1, "scheduled_us": -1 })
                .options(
                    IndexOptions::builder()
                        .name("outcome_time".to_owned())
                        .build(),
                )
                .build(),
        ])
        .await
        .map_err(mongo_error)?;
        running
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "job_id": 1, "owner": 1, "scheduled": 1, "_id": 1 })
                    .options(IndexOptions::builder().name("job_owner".to_owned()).build())
                    .build(),
            )
            .await
            .map_err(mongo_error)?;
        Ok(MongoJobStore {
            jobs,
            runs,
            running,
            calendars,
            unpruned: PruneCounter::default(),
            listener: QuarantineSlot::default(),
            tokens: Arc::default(),
        })
    }

    /// Drops the store's collections — jobs, run history, runs in progress, calendars — the
    /// teardown every rsched store has (for tests and uninstalls).
    ///
    /// # Errors
    /// MongoDB errors.
    pub async fn destroy(&self) -> Result<()> {
        self.runs.drop().await.map_err(mongo_error)?;
        self.running.drop().await.map_err(mongo_error)?;
        self.calendars.drop().await.map_err(mongo_error)?;
        self.jobs.drop().await.map_err(mongo_error)
    }

    async fn find(&self, filter: Document, sort: Option<Document>) -> Result<Vec<Document>> {
        let mut find = self.jobs.find(filter);
        if let Some(sort) = sort {
            find = find.sort(sort);
        }
        all(find).await
    }

    /// Documents → jobs; undecodable ones are quarantined.
    pub(crate) async fn decode(&self, documents: Vec<Document>) -> Result<Vec<Job>> {
        let mut jobs = Vec::with_capacity(documents.len());
        for document in &documents {
            match from_document(document) {
                (_, Ok(job)) => jobs.push(job),
                (id, Err(reason)) => {
                    self.quarantine_job(&id, &reason).await?;
                    self.listener.report(&id, &reason);
                }
            }
        }
        Ok(jobs)
    }

    /// Why a release of `id` by `owner` did not apply.
    async fn lease_failure(&self, owner: &str, id: &str) -> Result<Error> {
        let found = self
            .jobs
            .find_one(doc! { "_id": id })
            .await
            .map_err(mongo_error)?;
        Ok(match found {
            None => Error::job_not_found(id),
            Some(document) => match document.get_str("lease_owner") {
                Ok(holder) => Error::new(
                    ErrorKind::LeaseLost,
                    format!("job '{id}' is leased by {holder}, not {owner}"),
                ),
                Err(_) => Error::new(
                    ErrorKind::LeaseLost,
                    format!("job '{id}' is not leased by {owner}"),
                ),
            },
        })
    }
}

#[async_trait]
impl JobStore for MongoJobStore {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::in_memory();
        caps.persistent = true;
        caps.shared = true;
        caps
    }

    async fn add_job(&self, job: &Job) -> Result<()> {
        match self.jobs.insert_one(to_document(job)?).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate(&e) => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a job with id '{}' already exists", job.id()),
            )),
            Err(e) => Err(mongo_error(e)),
        }
    }

    async fn add_jobs(&self, jobs: &[Job]) -> Result<Vec<Result<()>>> {
        let mut documents = Vec::with_capacity(jobs.len());
        for job in jobs {
            documents.push(to_document(job)?);
        }
        let mut results: Vec<Result<()>> = jobs.iter().map(|_| Ok(())).collect();
        if documents.is_empty() {
            return Ok(results);
        }
        // Unordered: every document is tried; the duplicates come back by index.
        match self.jobs.insert_many(documents).ordered(false).await {
            Ok(_) => {}
            Err(e) => {
                let mongodb::error::ErrorKind::InsertMany(failure) = &*e.kind else {
                    return Err(mongo_error(e));
                };
                if failure.write_concern_error.is_some() {
                    return Err(mongo_error(e));
                }
                for write_error in failure.write_errors.iter().flatten() {
                    let Some(job) = jobs.get(write_error.index) else {
                        continue;
                    };
                    results[write_error.index] = Err(if write_error.code == 11000 {
                        Error::new(
                            ErrorKind::AlreadyExists,
                            format!("a job with id '{}' already exists", job.id()),
                        )
                    } else {
                        Error::new(
                            ErrorKind::Internal,
                            format!("mongodb: job '{}': {}", job.id(), write_error.message),
                        )
                    });
                }
            }
        }
        Ok(results)
    }

    async fn update_job(&self, job: &Job) -> Result<()> {
        let mut set = to_document(job)?;
        set.remove("_id");
        for key in [
            "lease_owner",
            "lease_expires_us",
            "lease_token",
            "lease_modified",
        ] {
            set.remove(key);
        }
        // A leased job keeps its lease, marked modified: the change wins over the release.
        let leased = self
            .jobs
            .update_one(
                doc! { "_id": job.id(), "lease_owner": { "$ne": Bson::Null } },
                doc! { "$set": { "lease_modified": true } },
            )
            .await
            .map_err(mongo_error)?;
        let _ = leased;
        let done = self
            .jobs
            .update_one(doc! { "_id": job.id() }, doc! { "$set": set })
            .await
            .map_err(mongo_error)?;
        if done.matched_count == 0 {
            Err(Error::job_not_found(job.id()))
        } else {
            Ok(())
        }
    }

    async fn remove_job(&self, id: &str) -> Result<()> {
        let done = self
            .jobs
            .delete_one(doc! { "_id": id })
            .await
            .map_err(mongo_error)?;
        if done.deleted_count == 0 {
            Err(Error::job_not_found(id))
        } else {
            Ok(())
        }
    }

    async fn remove_all_jobs(&self) -> Result<()> {
        self.jobs.delete_many(doc! {}).await.map_err(mongo_error)?;
        Ok(())
    }

    async fn lookup_job(&self, id: &str) -> Result<Option<Job>> {
        let found = self
            .jobs
            .find_one(doc! { "_id": id, "quarantined": Bson::Null })
            .await
            .map_err(mongo_error)?;
        Ok(self.decode(found.into_iter().collect()).await?.pop())
    }

    /// MongoDB queries on the state sub-document (see `listing.rs`).
    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        self.list(query).await
    }

    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        let documents = self.find(doc! { "quarantined": Bson::Null }, None).await?;
        let mut jobs = self.decode(documents).await?;
        sort_jobs(&mut jobs);
        Ok(jobs)
    }

    /// The `localTime` of the server's `hello` answer (milliseconds); `None` from a
    /// MongoDB-protocol server that gives none.
    async fn server_time(&self) -> Result<Option<DateTime<Utc>>> {
        let hello = self
            .jobs
            .client()
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(mongo_error)?;
        match hello.get("localTime") {
            Some(Bson::DateTime(t)) => Ok(DateTime::from_timestamp_millis(t.timestamp_millis())),
            // A MongoDB-protocol server without it: judged by this host's clock.
            _ => Ok(None),
        }
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let due = self
            .jobs
            .find_one(doc! {
                "quarantined": Bson::Null,
                "lease_owner": Bson::Null,
                "next_run_us": { "$ne": Bson::Null },
            })
            .sort(doc! { "next_run_us": 1 })
            .await
            .map_err(mongo_error)?;
        let lease = self
            .jobs
            .find_one(doc! { "quarantined": Bson::Null, "lease_owner": { "$ne": Bson::Null } })
            .sort(doc! { "lease_expires_us": 1 })
            .await
            .map_err(mongo_error)?;
        let due = due.and_then(|d| time(d.get("next_run_us")));
        let lease = lease.and_then(|d| time(d.get("lease_expires_us")));
        Ok(lease::next_wakeup(due, lease))
    }

    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let now_us = us(now);
        let expires = lease::expiry_micros(now, lease);
        let due = doc! {
            "quarantined": Bson::Null,
            "next_run_us": { "$lte": now_us },
            "$or": [
                { "lease_owner": Bson::Null },
                { "lease_expires_us": { "$lte": now_us } },
            ],
        };
        // 1. the first `limit` due jobs, earliest first (the date orders by millisecond, the
        //    exact microseconds and the id break its ties);
        let candidates: Vec<Document> = all(self
            .jobs
            .find(due.clone())
            .sort(doc! { "next_run_time": 1, "next_run_us": 1, "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX)))
        .await?;
        let Some(last) = candidates.last() else {
            return Ok(Vec::new());
        };
        let (last_next, last_id) = (
            last.get_i64("next_run_us").unwrap_or(now_us),
            last.get_str("_id").unwrap_or_default().to_owned(),
        );
        // 2. lease those still free up to the last of them in (next_run_us, _id) order — one
        //    update whose filter repeats the due condition, which MongoDB checks atomically per
        //    document, so two schedulers never both get a job — marked with this call's token;
        let token = format!("{owner}/{:016x}", fastrand::u64(..));
        let claim = if candidates.len() < limit {
            // Every due job fits: the due condition alone.
            due
        } else {
            doc! { "$and": [
                due,
                { "$or": [
                    { "next_run_us": { "$lt": last_next } },
                    { "next_run_us": last_next, "_id": { "$lte": &last_id } },
                ] },
            ] }
        };
        let claimed = self
            .jobs
            .update_many(
                claim,
                doc! { "$set": {
                    "lease_owner": owner,
                    "lease_expires_us": expires,
                    "lease_token": &token,
                    "lease_modified": false,
                } },
            )
            .await
            .map_err(mongo_error)?
            .modified_count;
        // 3. what this call got: the candidates, when it got all of them and nothing else;
        //    else read back the documents carrying its token.
        let documents = if usize::try_from(claimed).is_ok_and(|c| c == candidates.len()) {
            candidates
        } else {
            self.find(doc! { "lease_token": &token }, None).await?
        };
        let mut jobs = self.decode(documents).await?;
        sort_jobs(&mut jobs);
        if let Ok(mut tokens) = self.tokens.lock() {
            // Acquisitions released piecemeal are forgotten eventually (their releases then
            // go by ids).
            if tokens.len() >= 256 {
                tokens.clear();
            }
            tokens.insert(token, jobs.iter().map(|j| j.id().to_owned()).collect());
        }
        Ok(jobs)
    }

    async fn release_job(&self, owner: &str, id: &str, release: Release) -> Result<()> {
        scheduler_core::store::release_one(self, owner, id, release).await
    }

    async fn release_jobs(
        &self,
        owner: &str,
        releases: &[(Arc<str>, Release)],
    ) -> Result<Vec<Result<()>>> {
        if releases.is_empty() {
            return Ok(Vec::new());
        }
        // Releasing exactly what one acquisition took (the engine's way): address the jobs by
        // its lease token instead of an `$in` list of ids.
        let whole = self.tokens.lock().ok().and_then(|mut tokens| {
            let ids: std::collections::HashSet<&str> =
                releases.iter().map(|(id, _)| &**id).collect();
            let token = tokens
                .iter()
                .find(|(_, taken)| {
                    taken.len() == ids.len() && taken.iter().all(|t| ids.contains(t.as_str()))
                })
                .map(|(token, _)| token.clone())?;
            tokens.remove(&token);
            Some(token)
        });
        if let Some(token) = &whole {
            // The common case: every job of the acquisition finished (date triggers) — one
            // delete; anything it did not take is settled job by job below.
            if releases.iter().all(|(_, r)| *r == Release::Remove) {
                let deleted = self
                    .jobs
                    .delete_many(doc! { "lease_token": token, "lease_owner": owner, "lease_modified": false })
                    .await
                    .map_err(mongo_error)?
                    .deleted_count;
                if usize::try_from(deleted).is_ok_and(|d| d == releases.len()) {
                    return Ok(releases.iter().map(|_| Ok(())).collect());
                }
                let mut out = Vec::with_capacity(releases.len());
                for (id, release) in releases {
                    let gone = self
                        .jobs
                        .find_one(doc! { "_id": &**id })
                        .await
                        .map_err(mongo_error)?
                        .is_none();
                    // Gone: this delete (or a user's removal) took it.
                    out.push(if gone || self.release_alone(owner, id, *release).await? {
                        Ok(())
                    } else {
                        Err(self.lease_failure(owner, id).await?)
                    });
                }
                return Ok(out);
            }
        }
        let scope = |ids: Vec<&str>| match &whole {
            Some(token) => doc! { "lease_token": token, "lease_owner": owner },
            None => doc! { "_id": { "$in": ids }, "lease_owner": owner },
        };
        // Which of them this owner holds, and which were changed while leased.
        let ids: Vec<&str> = releases.iter().map(|(id, _)| &**id).collect();
        let held: HashMap<String, bool> = all(self
            .jobs
            .find(scope(ids))
            .projection(doc! { "_id": 1, "lease_modified": 1 }))
        .await?
        .iter()
        .filter_map(|d| {
            let id = d.get_str("_id").ok()?.to_owned();
            Some((id, d.get_bool("lease_modified").unwrap_or(false)))
        })
        .collect();
        // Group the releases that write the same values: one statement per group.
        let mut groups: HashMap<(Option<i64>, Option<i64>, u8), Vec<usize>> = HashMap::new();
        let mut results: Vec<Option<Result<()>>> = (0..releases.len()).map(|_| None).collect();
        for (i, (id, release)) in releases.iter().enumerate() {
            let Some(&modified) = held.get(&**id) else {
                continue;
            };
            let key = match (release, modified) {
                (_, true) | (Release::Unchanged, _) => (None, None, 0),
                (Release::Remove, false) => (None, None, 1),
                (Release::Pause, false) => (None, None, 2),
                (
                    Release::Reschedule {
                        next_run_time,
                        fire_time,
                    },
                    false,
                ) => (Some(us(*next_run_time)), Some(us(*fire_time)), 3),
            };
            groups.entry(key).or_default().push(i);
        }
        let single_group = groups.len() == 1
            && groups
                .values()
                .next()
                .is_some_and(|m| m.len() == held.len());
        for ((next, fire, kind), members) in groups {
            let ids: Vec<&str> = members.iter().map(|i| &*releases[*i].0).collect();
            // One group holding every held job of a whole acquisition: by token; else by ids.
            let filter = if single_group && whole.is_some() {
                scope(ids)
            } else {
                doc! { "_id": { "$in": &ids }, "lease_owner": owner }
            };
            let matched = if kind == 1 {
                let mut filter = filter;
                filter.insert("lease_modified", false);
                self.jobs
                    .delete_many(filter)
                    .await
                    .map_err(mongo_error)?
                    .deleted_count
            } else {
                let mut set = lease_free();
                if kind == 2 {
                    set.extend(run_time_fields(None, None));
                } else if kind == 3 {
                    let next = next.and_then(DateTime::from_timestamp_micros);
                    let fire = fire.and_then(DateTime::from_timestamp_micros);
                    set.extend(run_time_fields(next, fire));
                }
                self.jobs
                    .update_many(filter, doc! { "$set": set })
                    .await
                    .map_err(mongo_error)?
                    .matched_count
            };
            if usize::try_from(matched).is_ok_and(|m| m == members.len()) {
                for i in members {
                    results[i] = Some(Ok(()));
                }
            }
        }
        let mut out = Vec::with_capacity(releases.len());
        for ((id, release), result) in releases.iter().zip(results) {
            out.push(match result {
                Some(result) => result,
                None => {
                    // Not held, or the group lost a member meanwhile: look at this one alone.
                    match self.release_alone(owner, id, *release).await? {
                        true => Ok(()),
                        false => Err(self.lease_failure(owner, id).await?),
                    }
                }
            });
        }
        Ok(out)
    }

    async fn quarantine_job(&self, id: &str, reason: &str) -> Result<()> {
        let mut set = lease_free();
        set.insert("quarantined", reason);
        let done = self
            .jobs
            .update_one(doc! { "_id": id }, doc! { "$set": set })
            .await
            .map_err(mongo_error)?;
        if done.matched_count == 0 {
            return Err(Error::job_not_found(id));
        }
        tracing::warn!(
            job_id = id,
            "Job \"{id}\" in MongoDB collection {} quarantined (kept, not scheduled): {reason}",
            self.jobs.namespace()
        );
        Ok(())
    }

    async fn quarantined_jobs(&self) -> Result<Vec<QuarantinedJob>> {
        let documents = self
            .find(
                doc! { "quarantined": { "$ne": Bson::Null } },
                Some(doc! { "_id": 1 }),
            )
            .await?;
        let mut list: Vec<QuarantinedJob> = documents
            .iter()
            .map(|d| QuarantinedJob {
                id: d.get_str("_id").unwrap_or_default().to_owned(),
                reason: d.get_str("quarantined").unwrap_or_default().to_owned(),
                state: d
                    .get("state")
                    .map(|s| s.clone().into_relaxed_extjson().to_string())
                    .unwrap_or_default(),
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    fn set_quarantine_listener(&self, listener: QuarantineListener) {
        self.listener.set(listener);
    }

    fn history(&self) -> Option<&dyn RunHistory> {
        Some(self)
    }

    fn running(&self) -> Option<&dyn RunningRuns> {
        Some(self)
    }

    fn calendar_store(&self) -> Option<&dyn CalendarStore> {
        Some(self)
    }
}

impl MongoJobStore {
    /// Releases one job on its own; false when `owner` does not hold it.
    async fn release_alone(&self, owner: &str, id: &str, release: Release) -> Result<bool> {
        let Some(document) = self
            .jobs
            .find_one(doc! { "_id": id, "lease_owner": owner })
            .await
            .map_err(mongo_error)?
        else {
            return Ok(false);
        };
        let modified = document.get_bool("lease_modified").unwrap_or(false);
        let filter = doc! { "_id": id, "lease_owner": owner };
        let matched = match (release, modified) {
            (Release::Remove, false) => {
                self.jobs
                    .delete_one(filter)
                    .await
                    .map_err(mongo_error)?
                    .deleted_count
            }
            _ => {
                let mut set = lease_free();
                match (release, modified) {
                    (Release::Pause, false) => set.extend(run_time_fields(None, None)),
                    (
                        Release::Reschedule {
                            next_run_time,
                            fire_time,
                        },
                        false,
                    ) => set.extend(run_time_fields(Some(next_run_time), Some(fire_time))),
                    _ => {}
                }
                self.jobs
                    .update_one(filter, doc! { "$set": set })
                    .await
                    .map_err(mongo_error)?
                    .matched_count
            }
        };
        Ok(matched > 0)
    }
}
