#![doc = include_str!("../README.md")]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};
use scheduler_core::store::sort_jobs;
use scheduler_core::{
    Capabilities, Error, ErrorKind, Job, JobStore, PruneCounter, QuarantineListener,
    QuarantineSlot, QuarantinedJob, Release, Result, Retention, RunHistory, RunOutcome, RunRecord,
    RunningRun, RunningRuns,
};

/// The URL schemes this store serves.
pub const URL_SCHEMES: &[&str] = &["mongodb", "mongodb+srv"];

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "rsched";

/// The collection used when none is configured.
pub const DEFAULT_COLLECTION: &str = "jobs";

/// A job store in MongoDB (see the crate docs for the document layout and how it acquires).
#[derive(Clone)]
pub struct MongoJobStore {
    jobs: Collection<Document>,
    /// Run history: `{collection}_runs`, one document per record.
    runs: Collection<Document>,
    /// Runs in progress: `{collection}_running`, one document per run (no index: it holds
    /// only the runs executing now, and every index costs on every write).
    running: Collection<Document>,
    /// History records written per job since its last pruning.
    unpruned: PruneCounter,
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

/// Runs a `find` and reads every document its cursor returns.
async fn all(
    find: impl std::future::IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<Document>>>,
) -> Result<Vec<Document>> {
    find.await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)
}

fn mongo_error(e: mongodb::error::Error) -> Error {
    use mongodb::error::ErrorKind as K;
    let kind = match &*e.kind {
        K::Io(_) | K::ServerSelection { .. } | K::ConnectionPoolCleared { .. } => {
            ErrorKind::Unavailable
        }
        K::InvalidArgument { .. } => ErrorKind::InvalidInput,
        _ if is_duplicate(&e) => ErrorKind::AlreadyExists,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("mongodb: {e}")).with_source(e)
}

/// Duplicate key (E11000).
fn is_duplicate(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind as K, WriteFailure};
    match &*e.kind {
        K::Write(WriteFailure::WriteError(we)) => we.code == 11000,
        K::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().all(|w| w.code == 11000)),
        K::Command(c) => c.code == 11000,
        _ => false,
    }
}

fn not_found(id: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no job with id '{id}'"))
}

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn opt_us(t: Option<DateTime<Utc>>) -> Bson {
    t.map_or(Bson::Null, |t| Bson::Int64(us(t)))
}

fn opt_date(t: Option<DateTime<Utc>>) -> Bson {
    t.map_or(Bson::Null, |t| {
        Bson::DateTime(bson::DateTime::from_millis(t.timestamp_millis()))
    })
}

fn time(value: Option<&Bson>) -> Option<DateTime<Utc>> {
    match value {
        Some(Bson::Int64(v)) => DateTime::from_timestamp_micros(*v),
        Some(Bson::Int32(v)) => DateTime::from_timestamp_micros(i64::from(*v)),
        _ => None,
    }
}

/// The fields a job's run times occupy: an exact `next_run_us` (µs, what queries use) and a
/// BSON date `next_run_time` (ms, for people and tools), plus `fire_us`.
fn run_time_fields(next: Option<DateTime<Utc>>, fire: Option<DateTime<Utc>>) -> Document {
    doc! {
        "next_run_time": opt_date(next),
        "next_run_us": opt_us(next),
        "fire_us": opt_us(fire.filter(|f| Some(*f) != next)),
    }
}

fn lease_free() -> Document {
    doc! { "lease_owner": Bson::Null, "lease_expires_us": Bson::Null, "lease_token": Bson::Null, "lease_modified": false }
}

/// The job's document: `_id`, the run times, `state` (the versioned JSON state as a
/// sub-document), no lease, not quarantined.
fn to_document(job: &Job) -> Result<Document> {
    let state: serde_json::Value = serde_json::from_str(&job.stored_state()?)
        .map_err(|e| Error::new(ErrorKind::Serialization, format!("job '{}': {e}", job.id())))?;
    let state = bson::to_bson(&state).map_err(|e| {
        Error::new(
            ErrorKind::Serialization,
            format!("job '{}' cannot be stored as BSON: {e}", job.id()),
        )
    })?;
    let mut document = doc! { "_id": job.id(), "state": state, "quarantined": Bson::Null };
    document.extend(run_time_fields(job.next_run_time(), job.fire_time()));
    document.extend(lease_free());
    Ok(document)
}

/// The document's id and, if it can be read, its job.
fn from_document(document: &Document) -> (String, std::result::Result<Job, String>) {
    let id = match document.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        Some(other) => return (other.to_string(), Err("the _id is not a string".to_owned())),
        None => return (String::new(), Err("the document has no _id".to_owned())),
    };
    let state = match document.get("state") {
        Some(Bson::Document(state)) => {
            serde_json::to_string(&Bson::Document(state.clone()).into_relaxed_extjson())
        }
        Some(other) => Ok(other.to_string()),
        None => return (id, Err("the document has no state".to_owned())),
    };
    let job = match state {
        Ok(state) => Job::from_stored_state(
            &id,
            &state,
            time(document.get("next_run_us")),
            time(document.get("fire_us")),
        ),
        Err(e) => Err(format!("the stored state cannot be read: {e}")),
    };
    (id, job)
}

impl MongoJobStore {
    /// Connects to `url` (`mongodb://host:27017/database`; the database defaults to `rsched`)
    /// and uses `collection` (default `jobs`), creating its indexes.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a malformed URL; [`ErrorKind::Unavailable`] when no
    /// server answers.
    pub async fn open(url: &str, collection: Option<&str>) -> Result<MongoJobStore> {
        let mut options = mongodb::options::ClientOptions::parse(url)
            .await
            .map_err(|e| Error::invalid("url", format!("not a MongoDB URL: {e}")))?;
        options.server_selection_timeout = Some(Duration::from_secs(5));
        let database = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let client = Client::with_options(options).map_err(mongo_error)?;
        let name = collection.unwrap_or(DEFAULT_COLLECTION);
        let jobs = client.database(&database).collection::<Document>(name);
        let runs = client
            .database(&database)
            .collection::<Document>(&format!("{name}_runs"));
        let running = client
            .database(&database)
            .collection::<Document>(&format!("{name}_running"));
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
        runs.create_index(
            IndexModel::builder()
                .keys(doc! { "job_id": 1, "scheduled_us": -1 })
                .options(IndexOptions::builder().name("job".to_owned()).build())
                .build(),
        )
        .await
        .map_err(mongo_error)?;
        Ok(MongoJobStore {
            jobs,
            runs,
            running,
            unpruned: PruneCounter::default(),
            listener: QuarantineSlot::default(),
            tokens: Arc::default(),
        })
    }

    /// Drops the collection (for tests and uninstalls).
    ///
    /// # Errors
    /// MongoDB errors.
    pub async fn drop_collection(&self) -> Result<()> {
        self.runs.drop().await.map_err(mongo_error)?;
        self.running.drop().await.map_err(mongo_error)?;
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
    async fn decode(&self, documents: Vec<Document>) -> Result<Vec<Job>> {
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
            None => not_found(id),
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
            Err(not_found(job.id()))
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
            Err(not_found(id))
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

    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        let documents = self.find(doc! { "quarantined": Bson::Null }, None).await?;
        let mut jobs = self.decode(documents).await?;
        sort_jobs(&mut jobs);
        Ok(jobs)
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
        // A lease that expires must wake the engine to take the job over.
        let lease = self
            .jobs
            .find_one(doc! { "quarantined": Bson::Null, "lease_owner": { "$ne": Bson::Null } })
            .sort(doc! { "lease_expires_us": 1 })
            .await
            .map_err(mongo_error)?;
        let due = due.and_then(|d| time(d.get("next_run_us")));
        let lease = lease.and_then(|d| time(d.get("lease_expires_us")));
        Ok(match (due, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let now_us = us(now);
        let expires = now_us.saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
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
            return Err(not_found(id));
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
}

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
        Ok(documents
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
                })
            })
            .collect())
    }
}

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
                }
            })
            .collect();
        self.running
            .insert_many(documents)
            .await
            .map_err(mongo_error)?;
        Ok(())
    }

    async fn end_runs(&self, run_ids: &[Arc<str>]) -> Result<()> {
        for chunk in run_ids.chunks(1000) {
            let ids: Vec<&str> = chunk.iter().map(|id| &**id).collect();
            self.running
                .delete_many(doc! { "_id": { "$in": ids } })
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
