#![doc = include_str!("../README.md")]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value as RedisValue};
use scheduler_core::store::sort_jobs;
use scheduler_core::{
    Capabilities, ChangeListener, ChangeNotifications, Error, ErrorKind, Job, JobStore,
    QuarantineListener, QuarantineSlot, QuarantinedJob, Release, Result, Retention, RunHistory,
    RunRecord, RunningRun, RunningRuns,
};
use tokio_util::sync::CancellationToken;

/// The URL schemes this store serves.
pub const URL_SCHEMES: &[&str] = &["redis", "rediss"];

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "rsched:";

/// The Lua scripts, from `lua/*.lua`.
struct Scripts {
    add: Script,
    update: Script,
    remove: Script,
    acquire: Script,
    release: Script,
    quarantine: Script,
    get: Script,
    all: Script,
    running_begin: Script,
    running_end: Script,
    running_count: Script,
    running_heartbeat: Script,
    running_take_over: Script,
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
            running_begin: Script::new(include_str!("../lua/running_begin.lua")),
            running_end: Script::new(include_str!("../lua/running_end.lua")),
            running_count: Script::new(include_str!("../lua/running_count.lua")),
            running_heartbeat: Script::new(include_str!("../lua/running_heartbeat.lua")),
            running_take_over: Script::new(include_str!("../lua/running_take_over.lua")),
        }
    }
}

/// A job store in Redis (see the crate docs for the layout and how it acquires).
#[derive(Clone)]
pub struct RedisJobStore {
    conn: ConnectionManager,
    client: redis::Client,
    prefix: String,
    keys: Arc<[String; 8]>,
    scripts: Arc<Scripts>,
    listener: QuarantineSlot,
}

impl std::fmt::Debug for RedisJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisJobStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn redis_error(e: redis::RedisError) -> Error {
    let kind = if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
    {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Internal
    };
    Error::new(kind, format!("redis: {e}")).with_source(e)
}

fn not_found(id: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no job with id '{id}'"))
}

fn micros(t: DateTime<Utc>) -> String {
    t.timestamp_micros().to_string()
}

/// A time as Redis hands it back: decimal µs (a sorted-set score may come as `1.7e+15`).
fn time(text: &str) -> Option<DateTime<Utc>> {
    if text.is_empty() {
        return None;
    }
    let us = text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| {
            #[allow(clippy::cast_possible_truncation)]
            let us = f.round() as i64;
            us
        })
    })?;
    DateTime::from_timestamp_micros(us)
}

fn text(value: &RedisValue) -> String {
    match value {
        RedisValue::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        RedisValue::SimpleString(s) => s.clone(),
        RedisValue::Int(i) => i.to_string(),
        RedisValue::Double(d) => d.to_string(),
        _ => String::new(),
    }
}

fn items(value: RedisValue) -> Vec<RedisValue> {
    match value {
        RedisValue::Array(items) | RedisValue::Set(items) => items,
        RedisValue::Nil => Vec::new(),
        other => vec![other],
    }
}

impl RedisJobStore {
    /// Connects to `url` (`redis://host:6379/0`, `rediss://` for TLS) and uses keys starting
    /// with `prefix` (default `rsched:`). The connection manager reconnects by itself after a
    /// connection loss; calls made while the server is away fail with
    /// [`ErrorKind::Unavailable`], and the scheduler retries them.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a malformed URL; [`ErrorKind::Unavailable`] when the
    /// server cannot be reached.
    pub async fn open(url: &str, prefix: Option<&str>) -> Result<RedisJobStore> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::invalid("url", format!("not a Redis URL: {e}")).with_source(e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(3);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(redis_error)?;
        let prefix = prefix.unwrap_or(DEFAULT_PREFIX).to_owned();
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

    fn runs_key(&self, job_id: &str) -> String {
        format!("{}runs:{job_id}", self.prefix)
    }

    fn runs_index(&self) -> String {
        format!("{}runs_index", self.prefix)
    }

    /// Deletes every key of this store (for tests and uninstalls).
    ///
    /// # Errors
    /// Redis errors.
    pub async fn delete_keys(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut keys: Vec<String> = self.keys.to_vec();
        keys.push(self.runs_index());
        keys.push(format!("{}running", self.prefix));
        keys.push(format!("{}running_expires", self.prefix));
        for pattern in ["runs:*", "running_job:*", "running_owner:*"] {
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
    async fn run_running(&self, script: &Script, args: &[String]) -> Result<RedisValue> {
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
    async fn decode_groups(&self, flat: Vec<RedisValue>) -> Result<Vec<Job>> {
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

fn job_args(job: &Job) -> Result<[String; 4]> {
    let next = job.next_run_time();
    let fire = job.fire_time().filter(|f| Some(*f) != next);
    Ok([
        job.id().to_owned(),
        job.stored_state()?,
        next.map(micros).unwrap_or_default(),
        fire.map(micros).unwrap_or_default(),
    ])
}

/// Jobs per `add` script call.
const ADD_CHUNK: usize = 1000;

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
            _ => Err(not_found(job.id())),
        }
    }

    async fn remove_job(&self, id: &str) -> Result<()> {
        match self.run(&self.scripts.remove, &[id.to_owned()]).await? {
            RedisValue::Int(1) => Ok(()),
            _ => Err(not_found(id)),
        }
    }

    async fn remove_all_jobs(&self) -> Result<()> {
        self.delete_keys().await
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

    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        let flat = items(self.run(&self.scripts.all, &[]).await?);
        let mut jobs = self.decode_groups(flat).await?;
        sort_jobs(&mut jobs);
        Ok(jobs)
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
        // A lease that expires must wake the engine to take the job over.
        let first = |v: &[(String, String)]| v.first().and_then(|(_, score)| time(score));
        Ok(match (first(&due), first(&lease)) {
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
        let expires = now
            .timestamp_micros()
            .saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
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
                    "notfound" => Err(not_found(id)),
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
            _ => Err(not_found(id)),
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
}

#[async_trait]
impl RunHistory for RedisJobStore {
    /// One list per job (`{prefix}runs:{id}`, newest first, JSON records, trimmed to
    /// `per_job`), and `{prefix}runs_index` (job → newest scheduled time) to drop the lists of
    /// jobs whose history aged out.
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        let mut pipe = redis::pipe();
        let mut newest: HashMap<&str, i64> = HashMap::new();
        for run in runs {
            let json = serde_json::to_string(run)
                .map_err(|e| Error::new(ErrorKind::Serialization, format!("run record: {e}")))?;
            pipe.cmd("LPUSH")
                .arg(self.runs_key(&run.job_id))
                .arg(json)
                .ignore();
            let at = run.scheduled_run_time.timestamp_micros();
            let slot = newest.entry(&*run.job_id).or_insert(at);
            *slot = (*slot).max(at);
        }
        let keep = isize::try_from(retention.per_job).unwrap_or(isize::MAX);
        for (job_id, at) in &newest {
            pipe.cmd("LTRIM")
                .arg(self.runs_key(job_id))
                .arg(0)
                .arg(keep - 1)
                .ignore();
            pipe.cmd("ZADD")
                .arg(self.runs_index())
                .arg(*at)
                .arg(*job_id)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)?;
        if let Some(latest) = newest.values().max() {
            let age = i64::try_from(retention.max_age.as_micros()).unwrap_or(i64::MAX);
            let cutoff = latest.saturating_sub(age);
            let old: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(self.runs_index())
                .arg("-inf")
                .arg(format!("({cutoff}"))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if !old.is_empty() {
                let mut pipe = redis::pipe();
                for job_id in &old {
                    pipe.cmd("DEL").arg(self.runs_key(job_id)).ignore();
                }
                pipe.cmd("ZREM").arg(self.runs_index()).arg(&old).ignore();
                pipe.query_async::<()>(&mut conn)
                    .await
                    .map_err(redis_error)?;
            }
        }
        Ok(())
    }

    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let mut conn = self.conn.clone();
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let items: Vec<String> = redis::cmd("LRANGE")
            .arg(self.runs_key(job_id))
            .arg(0)
            .arg(last)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let mut runs: Vec<RunRecord> = items
            .iter()
            .filter_map(|item| serde_json::from_str(item).ok())
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.scheduled_run_time));
        Ok(runs)
    }
}

#[async_trait]
impl RunningRuns for RedisJobStore {
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>> {
        let mut counts = Vec::with_capacity(job_ids.len());
        for chunk in job_ids.chunks(ADD_CHUNK) {
            let mut args = vec![micros(now)];
            args.extend(chunk.iter().map(|id| id.to_string()));
            let out = items(self.run_running(&self.scripts.running_count, &args).await?);
            counts.extend(out.iter().map(|v| text(v).parse::<u32>().unwrap_or(0)));
        }
        counts.resize(job_ids.len(), 0);
        Ok(counts)
    }

    async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()> {
        for chunk in runs.chunks(ADD_CHUNK) {
            let mut args = Vec::with_capacity(chunk.len() * 5);
            for run in chunk {
                let json = serde_json::json!({
                    "job_id": &*run.job_id,
                    "owner": &*run.owner,
                    "scheduled": run.scheduled_run_time.timestamp_micros(),
                    "started": run.started.timestamp_micros(),
                });
                args.extend([
                    run.run_id.to_string(),
                    run.job_id.to_string(),
                    run.owner.to_string(),
                    micros(run.expires),
                    json.to_string(),
                ]);
            }
            self.run_running(&self.scripts.running_begin, &args).await?;
        }
        Ok(())
    }

    async fn end_runs(&self, run_ids: &[Arc<str>]) -> Result<()> {
        for chunk in run_ids.chunks(ADD_CHUNK) {
            let args: Vec<String> = chunk.iter().map(|id| id.to_string()).collect();
            self.run_running(&self.scripts.running_end, &args).await?;
        }
        Ok(())
    }

    async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()> {
        self.run_running(
            &self.scripts.running_heartbeat,
            &[owner.to_owned(), micros(expires)],
        )
        .await?;
        Ok(())
    }

    async fn expired_runs(
        &self,
        now: DateTime<Utc>,
        also_owner: &str,
        limit: usize,
    ) -> Result<Vec<RunningRun>> {
        let mut conn = self.conn.clone();
        let expires_key = format!("{}running_expires", self.prefix);
        let mut ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&expires_key)
            .arg("-inf")
            .arg(format!("({}", now.timestamp_micros()))
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if !also_owner.is_empty() {
            let own: Vec<String> = redis::cmd("SMEMBERS")
                .arg(format!("{}running_owner:{also_owner}", self.prefix))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            ids.extend(own);
            ids.sort();
            ids.dedup();
        }
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            let (json, expires): (Option<String>, Option<String>) = redis::pipe()
                .cmd("HGET")
                .arg(format!("{}running", self.prefix))
                .arg(&id)
                .cmd("ZSCORE")
                .arg(&expires_key)
                .arg(&id)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            let (Some(json), Some(expires)) = (json, expires) else {
                continue;
            };
            let Ok(rec) = serde_json::from_str::<serde_json::Value>(&json) else {
                continue;
            };
            let us = |key: &str| {
                rec.get(key)
                    .and_then(serde_json::Value::as_i64)
                    .and_then(DateTime::from_timestamp_micros)
                    .unwrap_or_default()
            };
            let field = |key: &str| rec.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            runs.push(RunningRun {
                run_id: Arc::from(id.as_str()),
                job_id: Arc::from(field("job_id")),
                scheduled_run_time: us("scheduled"),
                started: us("started"),
                owner: Arc::from(field("owner")),
                expires: time(&expires).unwrap_or_default(),
            });
        }
        runs.sort_by_key(|r| r.expires);
        runs.truncate(limit);
        Ok(runs)
    }

    async fn take_over_run(
        &self,
        run: &RunningRun,
        owner: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let out = self
            .run_running(
                &self.scripts.running_take_over,
                &[
                    run.run_id.to_string(),
                    run.owner.to_string(),
                    micros(run.expires),
                    owner.to_owned(),
                    micros(expires),
                ],
            )
            .await?;
        Ok(text(&out) == "1")
    }
}

impl ChangeNotifications for RedisJobStore {
    /// Subscribes to `{prefix}changes` and calls `wake` for every message; resubscribes after
    /// a connection loss (waking once then, as changes may have been missed).
    fn watch_changes(&self, wake: ChangeListener, stop: CancellationToken) {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                match store.subscribe_changes().await {
                    Ok(mut pubsub) => {
                        wake();
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                () = stop.cancelled() => return,
                                message = messages.next() => match message {
                                    Some(_) => wake(),
                                    None => break,
                                },
                            }
                        }
                    }
                    Err(e) => tracing::debug!("Redis change notifications unavailable: {e}"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }
}
