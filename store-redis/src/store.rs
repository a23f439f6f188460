//! The store: its keys, its Lua scripts, and the core [`JobStore`] contract.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value as RedisValue};
use scheduler_core::store::{lease, sort_jobs};
use scheduler_core::{
    CalendarStore, Capabilities, ChangeNotifications, Error, ErrorKind, Job, JobPage, JobQuery,
    JobStore, QuarantineListener, QuarantineSlot, QuarantinedJob, Release, Result, RunHistory,
    RunningRuns,
};

use crate::config::RedisOptions;
use crate::error::redis_error;
use crate::model::{items, job_args, micros, text, time};

/// The Lua scripts, from `lua/*.lua`.
pub(crate) struct Scripts {
    pub(crate) add: Script,
    pub(crate) update: Script,
    pub(crate) remove: Script,
    pub(crate) acquire: Script,
    pub(crate) release: Script,
    pub(crate) quarantine: Script,
    pub(crate) get: Script,
    pub(crate) all: Script,
    pub(crate) running_begin: Script,
    pub(crate) running_end: Script,
    pub(crate) running_count: Script,
    pub(crate) running_heartbeat: Script,
    pub(crate) running_take_over: Script,
    pub(crate) running_reschedule: Script,
    pub(crate) running_queued: Script,
    pub(crate) running_stop: Script,
    pub(crate) running_stop_requests: Script,
}

/// A `running_*.lua` script, after `running_lib.lua` (the functions they share).
macro_rules! running_script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("../lua/running_lib.lua"),
            include_str!(concat!("../lua/", $file))
        ))
    };
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            add: Script::new(include_str!("../lua/add.lua")),
            update: Script::new(include_str!("../lua/update.lua")),
            remove: Script::new(include_str!("../lua/remove.lua")),
            acquire: Script::new(include_str!("../lua/acquire.lua")),
            release: Script::new(include_str!("../lua/release.lua")),
            quarantine: Script::new(include_str!("../lua/quarantine.lua")),
            get: Script::new(include_str!("../lua/get.lua")),
            all: Script::new(include_str!("../lua/all.lua")),
            running_begin: running_script!("running_begin.lua"),
            running_end: running_script!("running_end.lua"),
            running_count: running_script!("running_count.lua"),
            running_heartbeat: running_script!("running_heartbeat.lua"),
            running_take_over: running_script!("running_take_over.lua"),
            running_reschedule: running_script!("running_reschedule.lua"),
            running_queued: running_script!("running_queued.lua"),
            running_stop: running_script!("running_stop.lua"),
            running_stop_requests: running_script!("running_stop_requests.lua"),
        }
    }
}

/// A job store in Redis (see the crate docs for the layout and how it acquires).
#[derive(Clone)]
pub struct RedisJobStore {
    pub(crate) conn: ConnectionManager,
    pub(crate) client: redis::Client,
    pub(crate) prefix: String,
    keys: Arc<[String; 8]>,
    pub(crate) scripts: Arc<Scripts>,
    listener: QuarantineSlot,
}

impl std::fmt::Debug for RedisJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisJobStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisJobStore {
    /// Connects to `url` (`redis://host:6379/0`, `rediss://` for TLS) and uses keys starting
    /// with `options.prefix` (default `rsched:`). The connection manager reconnects by itself after a
    /// connection loss; calls made while the server is away fail with
    /// [`ErrorKind::Unavailable`], and the scheduler retries them.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a malformed URL; [`ErrorKind::Unavailable`] when the
    /// server cannot be reached.
    pub async fn open(url: &str, options: RedisOptions) -> Result<RedisJobStore> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::invalid("url", format!("not a Redis URL: {e}")).with_source(e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(3);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(redis_error)?;
        let prefix = options.prefix;
        let key = |name: &str| format!("{prefix}{name}");
        let keys = [
            key("jobs"),
            key("run_times"),
            key("fire_times"),
            key("leases"),
            key("lease_owner"),
            key("leased_next"),
            key("lease_modified"),
            key("quarantine"),
        ];
        Ok(RedisJobStore {
            conn,
            client,
            keys: Arc::new(keys),
            prefix,
            scripts: Arc::new(Scripts::new()),
            listener: QuarantineSlot::default(),
        })
    }

    /// The pub/sub channel that announces changes (`{prefix}changes`; the message names the
    /// operation: `add`, `update`, `remove`, `release`, `quarantine`).
    pub fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// A pub/sub connection subscribed to [`RedisJobStore::channel`]: other instances use it to
    /// wake up when the store changes.
    ///
    /// # Errors
    /// [`ErrorKind::Unavailable`] when the server cannot be reached.
    pub async fn subscribe_changes(&self) -> Result<redis::aio::PubSub> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(redis_error)?;
        pubsub
            .subscribe(self.channel())
            .await
            .map_err(redis_error)?;
        Ok(pubsub)
    }

    /// Key `i` of the store's fixed keys: 0 `jobs`, 1 `run_times`, 2 `fire_times`, 3
    /// `leases`, 4 `lease_owner`, 5 `leased_next`, 6 `lease_modified`, 7 `quarantine`.
    pub(crate) fn key(&self, i: usize) -> &str {
        &self.keys[i]
    }

    pub(crate) fn runs_key(&self, job_id: &str) -> String {
        format!("{}runs:{job_id}", self.prefix)
    }

    pub(crate) fn runs_index(&self) -> String {
        format!("{}runs_index", self.prefix)
    }

    /// The exclusion calendars: a hash, name → definition (JSON text).
    pub(crate) fn calendars_key(&self) -> String {
        format!("{}calendars", self.prefix)
    }

    /// Deletes every key of this store — jobs, leases, quarantine, run history, runs in
    /// progress, calendars — the teardown every rsched store has (for tests and uninstalls).
    ///
    /// # Errors
    /// Redis errors.
    pub async fn destroy(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut keys: Vec<String> = self.keys.to_vec();
        keys.push(self.runs_index());
        keys.push(format!("{}running", self.prefix));
        keys.push(format!("{}running_expires", self.prefix));
        keys.push(self.calendars_key());
        keys.push(self.problems_key());
        keys.push(self.count_minutes_key());
        for pattern in [
            "runs:*",
            "runs_count:*",
            "running_job:*",
            "running_owner:*",
            "running_queued:*",
            "running_stop:*",
        ] {
            let mut cursor = 0u64;
            loop {
                let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{}{pattern}", self.prefix))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_error)?;
                keys.extend(found);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }

    /// Runs `script` with the store's keys, the channel, then `args`.
    async fn run(&self, script: &Script, args: &[String]) -> Result<RedisValue> {
        let mut invocation = script.prepare_invoke();
        for key in self.keys.iter() {
            invocation.key(key);
        }
        invocation.arg(self.channel());
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)
    }

    /// Runs one of the `running_*.lua` scripts (KEYS: the running hash and expiry set; ARGV:
    /// the prefix, then `args`).
    pub(crate) async fn run_running(&self, script: &Script, args: &[String]) -> Result<RedisValue> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(format!("{}running", self.prefix))
            .key(format!("{}running_expires", self.prefix))
            .arg(&self.prefix);
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)
    }

    /// `(id, state, next, fire)` groups into jobs; undecodable ones are quarantined.
    pub(crate) async fn decode_groups(&self, flat: Vec<RedisValue>) -> Result<Vec<Job>> {
        let mut jobs = Vec::with_capacity(flat.len() / 4);
        for group in flat.chunks(4) {
            let [id, state, next, fire] = group else {
                continue;
            };
            let id = text(id);
            match Job::from_stored_state(&id, &text(state), time(&text(next)), time(&text(fire))) {
                Ok(job) => jobs.push(job),
                Err(reason) => {
                    self.quarantine_job(&id, &reason).await?;
                    self.listener.report(&id, &reason);
                }
            }
        }
        Ok(jobs)
    }
}

/// Jobs per `add` script call.
pub(crate) const ADD_CHUNK: usize = 1000;

#[async_trait]
impl JobStore for RedisJobStore {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::in_memory();
        caps.persistent = true;
        caps.shared = true;
        caps
    }

    async fn add_job(&self, job: &Job) -> Result<()> {
        let mut results = self.add_jobs(std::slice::from_ref(job)).await?;
        results.pop().unwrap_or(Ok(()))
    }

    async fn add_jobs(&self, jobs: &[Job]) -> Result<Vec<Result<()>>> {
        let mut results = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(ADD_CHUNK) {
            let mut args = Vec::with_capacity(chunk.len() * 4);
            for job in chunk {
                args.extend(job_args(job)?);
            }
            let out = items(self.run(&self.scripts.add, &args).await?);
            for (job, added) in chunk.iter().zip(out) {
                results.push(if matches!(added, RedisValue::Int(1)) {
                    Ok(())
                } else {
                    Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("a job with id '{}' already exists", job.id()),
                    ))
                });
            }
        }
        Ok(results)
    }

    async fn update_job(&self, job: &Job) -> Result<()> {
        let args = job_args(job)?;
        match self.run(&self.scripts.update, &args).await? {
            RedisValue::Int(1) => Ok(()),
            _ => Err(Error::job_not_found(job.id())),
        }
    }

    async fn remove_job(&self, id: &str) -> Result<()> {
        match self.run(&self.scripts.remove, &[id.to_owned()]).await? {
            RedisValue::Int(1) => Ok(()),
            _ => Err(Error::job_not_found(id)),
        }
    }

    async fn remove_all_jobs(&self) -> Result<()> {
        self.destroy().await
    }

    async fn lookup_job(&self, id: &str) -> Result<Option<Job>> {
        let found = items(self.run(&self.scripts.get, &[id.to_owned()]).await?);
        if found.len() < 3 {
            return Ok(None);
        }
        let mut group = vec![RedisValue::BulkString(id.as_bytes().to_vec())];
        group.extend(found);
        Ok(self.decode_groups(group).await?.pop())
    }

    /// Ordered by the store's keys, states read in batches (see `listing.rs`).
    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        self.list(query).await
    }

    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        let flat = items(self.run(&self.scripts.all, &[]).await?);
        let mut jobs = self.decode_groups(flat).await?;
        sort_jobs(&mut jobs);
        Ok(jobs)
    }

    /// The server's `TIME`.
    async fn server_time(&self) -> Result<Option<DateTime<Utc>>> {
        let mut conn = self.conn.clone();
        let (secs, micros): (i64, i64) = redis::cmd("TIME")
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(DateTime::from_timestamp_micros(
            secs.saturating_mul(1_000_000).saturating_add(micros),
        ))
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let mut conn = self.conn.clone();
        let (due, lease): (Vec<(String, String)>, Vec<(String, String)>) = redis::pipe()
            .cmd("ZRANGE")
            .arg(&self.keys[1])
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .cmd("ZRANGE")
            .arg(&self.keys[3])
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let first = |v: &[(String, String)]| v.first().and_then(|(_, score)| time(score));
        Ok(lease::next_wakeup(first(&due), first(&lease)))
    }

    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let expires = lease::expiry_micros(now, lease);
        let args = [
            owner.to_owned(),
            micros(now),
            expires.to_string(),
            limit.to_string(),
        ];
        let flat = items(self.run(&self.scripts.acquire, &args).await?);
        let mut jobs = self.decode_groups(flat).await?;
        sort_jobs(&mut jobs);
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
        let mut results = Vec::with_capacity(releases.len());
        for chunk in releases.chunks(ADD_CHUNK) {
            let mut args = Vec::with_capacity(1 + chunk.len() * 4);
            args.push(owner.to_owned());
            for (id, release) in chunk {
                let (kind, next, fire) = match release {
                    Release::Reschedule {
                        next_run_time,
                        fire_time,
                    } => ("r", micros(*next_run_time), micros(*fire_time)),
                    Release::Pause => ("p", String::new(), String::new()),
                    Release::Unchanged => ("u", String::new(), String::new()),
                    Release::Remove => ("d", String::new(), String::new()),
                };
                args.extend([id.to_string(), kind.to_owned(), next, fire]);
            }
            let out = items(self.run(&self.scripts.release, &args).await?);
            for ((id, _), status) in chunk.iter().zip(out) {
                let status = text(&status);
                results.push(match status.as_str() {
                    "ok" => Ok(()),
                    "notfound" => Err(Error::job_not_found(id)),
                    other => {
                        let holder = other.strip_prefix("lost:").unwrap_or("");
                        Err(Error::new(
                            ErrorKind::LeaseLost,
                            if holder.is_empty() {
                                format!("job '{id}' is not leased by {owner}")
                            } else {
                                format!("job '{id}' is leased by {holder}, not {owner}")
                            },
                        ))
                    }
                });
            }
        }
        Ok(results)
    }

    async fn quarantine_job(&self, id: &str, reason: &str) -> Result<()> {
        match self
            .run(
                &self.scripts.quarantine,
                &[id.to_owned(), reason.to_owned()],
            )
            .await?
        {
            RedisValue::Int(1) => {
                tracing::warn!(
                    job_id = id,
                    "Job \"{id}\" in Redis store {} quarantined (kept, not scheduled): {reason}",
                    self.prefix
                );
                Ok(())
            }
            _ => Err(Error::job_not_found(id)),
        }
    }

    async fn quarantined_jobs(&self) -> Result<Vec<QuarantinedJob>> {
        let mut conn = self.conn.clone();
        let reasons: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(&self.keys[7])
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let mut list = Vec::with_capacity(reasons.len());
        for (id, reason) in reasons {
            let state: Option<String> = redis::cmd("HGET")
                .arg(&self.keys[0])
                .arg(&id)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            list.push(QuarantinedJob {
                id,
                reason,
                state: state.unwrap_or_default(),
            });
        }
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

    fn notifications(&self) -> Option<&dyn ChangeNotifications> {
        Some(self)
    }

    fn calendar_store(&self) -> Option<&dyn CalendarStore> {
        Some(self)
    }
}
