#![doc = include_str!("../README.md")]

mod dialect;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::{
    Capabilities, ChangeNotifications, Error, ErrorKind, Job, JobStore, PruneCounter,
    QuarantineListener, QuarantineSlot, QuarantinedJob, Release, Result, Retention, RunHistory,
    RunOutcome, RunRecord, RunningRun, RunningRuns,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Row};

pub use dialect::Dialect;

/// The URL schemes this crate serves in this build.
pub const URL_SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "postgres")]
    "postgresql",
    #[cfg(feature = "mysql")]
    "mysql",
    #[cfg(feature = "mysql")]
    "mariadb",
];

/// The table prefix used when none is configured.
pub const DEFAULT_TABLE_PREFIX: &str = "rsched_";

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 3;

/// How to open a SQL job store.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Prefix of the store's table names (default `rsched_`): `{prefix}jobs`,
    /// `{prefix}schema_version`. An identifier: a letter or `_`, then letters, digits or `_`,
    /// at most 40 characters.
    pub table_prefix: String,
    /// Apply the embedded migrations when opening (default true; `rsched run --no-migrate` and
    /// `rsched migrate` change that).
    pub migrate: bool,
    /// Connection pool size (default 5).
    pub max_connections: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            table_prefix: DEFAULT_TABLE_PREFIX.to_owned(),
            migrate: true,
            max_connections: 5,
        }
    }
}

/// Checks a table prefix: identifiers only, so it can be placed in SQL text safely.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming `prefix` and saying what is allowed.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let mut chars = prefix.chars();
    let ok = prefix.len() <= 40
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "prefix",
            format!(
                "'{prefix}' is not a valid table prefix: use a letter or '_', then letters, digits or '_' (at most 40)"
            ),
        ))
    }
}

/// A job store in a SQL database (see the crate docs for the schema and per-dialect locking).
#[derive(Clone)]
pub struct SqlJobStore {
    /// For PostgreSQL's LISTEN connection.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    url: Arc<str>,
    pool: AnyPool,
    dialect: Dialect,
    prefix: String,
    sql: Arc<dialect::Statements>,
    listener: QuarantineSlot,
    /// History records written per job since its last pruning.
    unpruned: PruneCounter,
}

impl std::fmt::Debug for SqlJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlJobStore")
            .field("dialect", &self.dialect)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

fn db_error(e: sqlx::Error) -> Error {
    let kind = match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ErrorKind::AlreadyExists,
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("database error: {e}")).with_source(e)
}

fn not_found(id: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no job with id '{id}'"))
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(us: Option<i64>) -> Option<DateTime<Utc>> {
    us.and_then(DateTime::from_timestamp_micros)
}

/// The state column: the job's JSON without its run times (those live in their own columns).
fn encode(job: &Job) -> Result<String> {
    job.stored_state()
}

/// A row back into a job, or the reason it cannot be.
fn decode(
    id: &str,
    state: &str,
    next_run_time: Option<i64>,
    fire_time: Option<i64>,
) -> std::result::Result<Job, String> {
    Job::from_stored_state(id, state, time(next_run_time), time(fire_time))
}

/// A text column. MySQL reports `TEXT` columns as `BLOB` through sqlx's `Any` driver, so bytes
/// are accepted too (and must be UTF-8).
fn text(row: &AnyRow, index: usize) -> Result<String> {
    match row.try_get::<String, _>(index) {
        Ok(s) => Ok(s),
        Err(e) => match row.try_get::<Vec<u8>, _>(index) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|u| {
                Error::new(
                    ErrorKind::Internal,
                    format!("column {index} is not UTF-8: {u}"),
                )
            }),
            Err(_) => Err(db_error(e)),
        },
    }
}

/// A nullable text column (see [`text`]).
fn opt_text(row: &AnyRow, index: usize) -> Result<Option<String>> {
    match row.try_get::<Option<String>, _>(index) {
        Ok(s) => Ok(s),
        Err(_) => match row.try_get::<Option<Vec<u8>>, _>(index) {
            Ok(bytes) => Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned())),
            Err(e) => Err(db_error(e)),
        },
    }
}

/// `(id, state, next_run_time, fire_time)` from a row.
fn columns(row: &AnyRow) -> Result<(String, String, Option<i64>, Option<i64>)> {
    Ok((
        text(row, 0)?,
        text(row, 1)?,
        row.try_get(2).map_err(db_error)?,
        row.try_get(3).map_err(db_error)?,
    ))
}

impl SqlJobStore {
    /// Opens (and by default migrates) the store at `url`: `sqlite://path` (created if missing),
    /// `postgres://user@host/db`, `mysql://user@host/db` (MariaDB too).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for an unknown scheme or a bad prefix;
    /// [`ErrorKind::Unavailable`] when the server cannot be reached; a schema newer than this
    /// build is [`ErrorKind::Unsupported`].
    pub async fn open(url: &str, options: SqlOptions) -> Result<SqlJobStore> {
        validate_prefix(&options.table_prefix)?;
        let dialect = Dialect::from_url(url)?;
        sqlx::any::install_default_drivers();
        let url = dialect.normalize_url(url);
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for statement in dialect.session_setup() {
                        sqlx::query(statement).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(db_error)?;
        let store = SqlJobStore {
            url: Arc::from(url.as_str()),
            pool,
            dialect,
            sql: Arc::new(dialect::Statements::new(dialect, &options.table_prefix)),
            prefix: options.table_prefix,
            listener: QuarantineSlot::default(),
            unpruned: PruneCounter::default(),
        };
        if options.migrate {
            store.migrate().await?;
        } else {
            store.check_schema().await?;
        }
        Ok(store)
    }

    /// The channel PostgreSQL stores `NOTIFY` on after every change (`{prefix}changes`).
    pub fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// Tells other instances the store changed (PostgreSQL `NOTIFY`; the other dialects are
    /// polled). Best effort: a lost notification only delays them to their next poll.
    async fn notify(&self) {
        if self.dialect == Dialect::Postgres {
            let sent = sqlx::query("SELECT pg_notify($1, 'change')")
                .bind(self.channel())
                .execute(&self.pool)
                .await;
            if let Err(e) = sent {
                tracing::debug!("NOTIFY {} failed: {e}", self.channel());
            }
        }
    }

    /// The SQL dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The jobs table's name (`{prefix}jobs`).
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The schema version the database holds (0: none yet).
    ///
    /// # Errors
    /// Database errors.
    pub async fn schema_version(&self) -> Result<i64> {
        let exists = sqlx::query(&self.sql.create_version_table)
            .execute(&self.pool)
            .await;
        exists.map_err(db_error)?;
        let row = sqlx::query(&self.sql.read_version)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let version: Option<i64> = row.try_get(0).map_err(db_error)?;
        Ok(version.unwrap_or(0))
    }

    async fn check_schema(&self) -> Result<()> {
        match self.schema_version().await? {
            SCHEMA_VERSION => Ok(()),
            v if v > SCHEMA_VERSION => Err(newer_schema(v)),
            v => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the tables with prefix '{}' are at schema version {v}, this build needs {SCHEMA_VERSION}: run `rsched migrate --url URL` (or open without --no-migrate)",
                    self.prefix
                ),
            )),
        }
    }

    /// Applies the embedded migrations this database lacks; returns the version reached.
    /// Safe to run from several processes at once (every step is idempotent).
    ///
    /// # Errors
    /// Database errors; a schema newer than this build is [`ErrorKind::Unsupported`].
    pub async fn migrate(&self) -> Result<i64> {
        let current = self.schema_version().await?;
        if current > SCHEMA_VERSION {
            return Err(newer_schema(current));
        }
        for (version, statements) in self.sql.migrations.iter() {
            if *version <= current {
                continue;
            }
            for statement in statements {
                sqlx::query(statement)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
            }
            sqlx::query(&self.sql.record_version)
                .bind(*version)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
            tracing::info!(
                "Job store tables '{}*' migrated to schema version {version}",
                self.prefix
            );
        }
        Ok(SCHEMA_VERSION.max(current))
    }

    /// Drops this store's tables (only those with its prefix). For tests and uninstalls.
    ///
    /// # Errors
    /// Database errors.
    pub async fn drop_tables(&self) -> Result<()> {
        for statement in &self.sql.drop {
            sqlx::query(statement)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Rows → jobs; rows that cannot be decoded are quarantined (and left out).
    async fn decode_rows(&self, rows: Vec<AnyRow>) -> Result<Vec<Job>> {
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, state, next, fire) = columns(&row)?;
            match decode(&id, &state, next, fire) {
                Ok(job) => jobs.push(job),
                Err(reason) => {
                    self.quarantine_job(&id, &reason).await?;
                    self.listener.report(&id, &reason);
                }
            }
        }
        Ok(jobs)
    }

    /// Runs `body` inside a write transaction on one connection: `BEGIN IMMEDIATE` on SQLite
    /// (takes the write lock up front, so concurrent writers queue on the busy timeout instead
    /// of failing), `BEGIN` elsewhere.
    async fn write_tx<T, F>(&self, body: F) -> Result<T>
    where
        F: for<'c> FnOnce(
            &'c mut AnyConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T>> + Send + 'c>,
        >,
        T: Send,
    {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        sqlx::query(self.dialect.begin_write())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        match body(&mut conn).await {
            Ok(value) => {
                sqlx::query("COMMIT")
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(value)
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(e)
            }
        }
    }

    /// Why a conditional write touched no row: the job is gone, or someone else holds it.
    async fn lease_failure(
        conn: &mut AnyConnection,
        sql: &dialect::Statements,
        owner: &str,
        id: &str,
    ) -> Error {
        let row = sqlx::query(&sql.lease_owner_of)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await;
        match row {
            Ok(None) => not_found(id),
            Ok(Some(row)) => {
                let holder: Option<String> = row.try_get(0).unwrap_or(None);
                Error::new(
                    ErrorKind::LeaseLost,
                    match holder {
                        Some(h) => format!("job '{id}' is leased by {h}, not {owner}"),
                        None => format!("job '{id}' is not leased by {owner}"),
                    },
                )
            }
            Err(e) => db_error(e),
        }
    }

    /// One release, on an open transaction.
    async fn release_one(
        conn: &mut AnyConnection,
        sql: &dialect::Statements,
        owner: &str,
        id: &str,
        release: Release,
    ) -> Result<()> {
        let done = match release {
            Release::Remove => {
                let deleted = sqlx::query(&sql.delete_released)
                    .bind(id)
                    .bind(owner)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                deleted > 0 || {
                    // Modified while leased: the modification wins, only the lease goes.
                    sqlx::query(&sql.drop_lease)
                        .bind(id)
                        .bind(owner)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?
                        .rows_affected()
                        > 0
                }
            }
            other => {
                let (next, fire, keep) = release_values(other);
                sqlx::query(&sql.release_row)
                    .bind(keep)
                    .bind(next)
                    .bind(keep)
                    .bind(fire)
                    .bind(id)
                    .bind(owner)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?
                    .rows_affected()
                    > 0
            }
        };
        if done {
            Ok(())
        } else {
            Err(Self::lease_failure(conn, sql, owner, id).await)
        }
    }
}

/// `(next_run_time, fire_time, keep)` written by a non-removing release.
fn release_values(release: Release) -> (Option<i64>, Option<i64>, i64) {
    match release {
        Release::Reschedule {
            next_run_time,
            fire_time,
        } => (Some(micros(next_run_time)), Some(micros(fire_time)), 0),
        Release::Pause => (None, None, 0),
        Release::Unchanged | Release::Remove => (None, None, 1),
    }
}

fn newer_schema(v: i64) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "the database holds schema version {v}, newer than this build understands ({SCHEMA_VERSION}); upgrade rsched"
        ),
    )
}

#[async_trait]
impl JobStore for SqlJobStore {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::in_memory();
        caps.persistent = true;
        caps.shared = true;
        caps
    }

    async fn add_job(&self, job: &Job) -> Result<()> {
        let state = encode(job)?;
        let result = sqlx::query(&self.sql.insert)
            .bind(job.id())
            .bind(job.next_run_time().map(micros))
            .bind(job.fire_time().map(micros))
            .bind(state)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => {
                self.notify().await;
                Ok(())
            }
            Err(e) => {
                let e = db_error(e);
                if e.kind() == ErrorKind::AlreadyExists {
                    Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("a job with id '{}' already exists", job.id()),
                    ))
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn add_jobs(&self, jobs: &[Job]) -> Result<Vec<Result<()>>> {
        let mut rows = Vec::with_capacity(jobs.len());
        for job in jobs {
            rows.push((
                job.id().to_owned(),
                job.next_run_time().map(micros),
                job.fire_time().map(micros),
                encode(job)?,
            ));
        }
        let sql = self.sql.clone();
        let results = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    let mut results = Vec::with_capacity(rows.len());
                    for chunk in rows.chunks(dialect::INSERT_CHUNK) {
                        // Which ids exist already (their rows are left alone)?
                        let query = sql.existing_ids(chunk.len());
                        let mut q = sqlx::query(&query);
                        for (id, ..) in chunk {
                            q = q.bind(id.as_str());
                        }
                        let existing: std::collections::HashSet<String> = q
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(db_error)?
                            .iter()
                            .filter_map(|r| r.try_get::<String, _>(0).ok())
                            .collect();
                        let mut seen = std::collections::HashSet::new();
                        let fresh: Vec<_> = chunk
                            .iter()
                            .filter(|(id, ..)| !existing.contains(id) && seen.insert(id.clone()))
                            .collect();
                        if !fresh.is_empty() {
                            let query = sql.insert_many(fresh.len());
                            let mut q = sqlx::query(&query);
                            for (id, next, fire, state) in &fresh {
                                q = q
                                    .bind(id.as_str())
                                    .bind(*next)
                                    .bind(*fire)
                                    .bind(state.as_str());
                            }
                            q.execute(&mut *conn).await.map_err(db_error)?;
                        }
                        let mut inserted = std::collections::HashSet::new();
                        for (id, ..) in chunk {
                            results.push(
                                if !existing.contains(id) && inserted.insert(id.clone()) {
                                    Ok(())
                                } else {
                                    Err(Error::new(
                                        ErrorKind::AlreadyExists,
                                        format!("a job with id '{id}' already exists"),
                                    ))
                                },
                            );
                        }
                    }
                    Ok(results)
                })
            })
            .await;
        self.notify().await;
        results
    }

    async fn update_job(&self, job: &Job) -> Result<()> {
        let state = encode(job)?;
        let sql = self.sql.clone();
        let id = job.id().to_owned();
        let next = job.next_run_time().map(micros);
        let fire = job.fire_time().map(micros);
        self.write_tx(move |conn| {
            Box::pin(async move {
                let exists = sqlx::query(&sql.lease_owner_of)
                    .bind(id.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                if exists.is_none() {
                    return Err(not_found(&id));
                }
                sqlx::query(&sql.update)
                    .bind(state)
                    .bind(next)
                    .bind(fire)
                    .bind(id.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
        })
        .await?;
        self.notify().await;
        Ok(())
    }

    async fn remove_job(&self, id: &str) -> Result<()> {
        let done = sqlx::query(&self.sql.delete)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            Err(not_found(id))
        } else {
            self.notify().await;
            Ok(())
        }
    }

    async fn remove_all_jobs(&self) -> Result<()> {
        sqlx::query(&self.sql.delete_all)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        self.notify().await;
        Ok(())
    }

    async fn lookup_job(&self, id: &str) -> Result<Option<Job>> {
        let row = sqlx::query(&self.sql.select_one)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(self.decode_rows(row.into_iter().collect()).await?.pop())
    }

    async fn get_all_jobs(&self) -> Result<Vec<Job>> {
        let rows = sqlx::query(&self.sql.select_all)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        self.decode_rows(rows).await
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(&self.sql.next_wakeup)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let next: Option<i64> = row.try_get(0).map_err(db_error)?;
        Ok(time(next))
    }

    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let now_us = micros(now);
        let expires = now_us.saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match self.dialect {
            // One statement: UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING.
            Dialect::Postgres => sqlx::query(&self.sql.acquire_returning)
                .bind(owner)
                .bind(expires)
                .bind(now_us)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?,
            // A transaction: SELECT … (FOR UPDATE SKIP LOCKED on MySQL; under BEGIN IMMEDIATE
            // on SQLite), then UPDATE the rows it returned.
            Dialect::MySql | Dialect::Sqlite => {
                let sql = self.sql.clone();
                let owner = owner.to_owned();
                self.write_tx(move |conn| {
                    Box::pin(async move {
                        let rows = sqlx::query(&sql.select_due)
                            .bind(now_us)
                            .bind(now_us)
                            .bind(limit)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(db_error)?;
                        for chunk in rows.chunks(dialect::INSERT_CHUNK) {
                            let query = sql.lease_many(chunk.len());
                            let mut q = sqlx::query(&query).bind(owner.as_str()).bind(expires);
                            for row in chunk {
                                q = q.bind(row.try_get::<String, _>(0).map_err(db_error)?);
                            }
                            q.execute(&mut *conn).await.map_err(db_error)?;
                        }
                        Ok(rows)
                    })
                })
                .await?
            }
        };
        let mut jobs = self.decode_rows(rows).await?;
        scheduler_core::store::sort_jobs(&mut jobs);
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
        let sql = self.sql.clone();
        let owner = owner.to_owned();
        let releases = releases.to_vec();
        let dialect = self.dialect;
        let out = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    let mut results: Vec<Option<Result<()>>> =
                        (0..releases.len()).map(|_| None).collect();
                    if dialect != Dialect::Sqlite {
                        // Batched: one statement per chunk for the reschedules, one for removals;
                        // whatever they did not settle goes row by row below.
                        dialect::release_batched(conn, &sql, &owner, &releases, &mut results)
                            .await?;
                    }
                    let mut out = Vec::with_capacity(releases.len());
                    for ((id, release), settled) in releases.iter().zip(results) {
                        out.push(match settled {
                            Some(result) => result,
                            None => Self::release_one(conn, &sql, &owner, id, *release).await,
                        });
                    }
                    Ok(out)
                })
            })
            .await;
        self.notify().await;
        out
    }

    async fn quarantine_job(&self, id: &str, reason: &str) -> Result<()> {
        let done = sqlx::query(&self.sql.quarantine)
            .bind(reason)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query(&self.sql.lease_owner_of)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
            if exists.is_none() {
                return Err(not_found(id));
            }
        }
        tracing::warn!(
            job_id = id,
            "Job \"{id}\" in table {} quarantined (kept, not scheduled): {reason}",
            self.sql.table
        );
        Ok(())
    }

    fn set_quarantine_listener(&self, listener: QuarantineListener) {
        self.listener.set(listener);
    }

    async fn quarantined_jobs(&self) -> Result<Vec<QuarantinedJob>> {
        let rows = sqlx::query(&self.sql.select_quarantined)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(QuarantinedJob {
                    id: text(row, 0)?,
                    reason: text(row, 1)?,
                    state: text(row, 2)?,
                })
            })
            .collect()
    }

    fn history(&self) -> Option<&dyn RunHistory> {
        Some(self)
    }

    fn running(&self) -> Option<&dyn RunningRuns> {
        Some(self)
    }

    /// PostgreSQL only (`LISTEN`/`NOTIFY`); SQLite and MySQL are polled.
    fn notifications(&self) -> Option<&dyn ChangeNotifications> {
        (self.dialect == Dialect::Postgres).then_some(self as &dyn ChangeNotifications)
    }
}

#[async_trait]
impl RunHistory for SqlJobStore {
    async fn record_runs(&self, runs: &[RunRecord], retention: Retention) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        for chunk in runs.chunks(dialect::INSERT_CHUNK) {
            let query = self.sql.insert_runs(chunk.len());
            let mut q = sqlx::query(&query);
            for run in chunk {
                q = q
                    .bind(&*run.job_id)
                    .bind(micros(run.scheduled_run_time))
                    .bind(run.started.map(micros))
                    .bind(run.finished.map(micros))
                    .bind(run.outcome.as_str())
                    .bind(run.error.clone())
                    .bind(&*run.scheduler_id);
            }
            q.execute(&self.pool).await.map_err(db_error)?;
        }
        // Retention: by age at every write; by count per job once a job has written as many
        // records as it may keep (so the table holds at most about twice that per job).
        if let Some(newest) = runs.iter().map(|r| r.scheduled_run_time).max() {
            let cutoff = newest - chrono::Duration::from_std(retention.max_age).unwrap_or_default();
            sqlx::query(&self.sql.delete_old_runs)
                .bind(micros(cutoff))
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        }
        let due = self.unpruned.due(runs, retention.per_job);
        let keep = i64::try_from(retention.per_job).unwrap_or(i64::MAX);
        for job_id in due {
            let nth = sqlx::query(&self.sql.nth_newest_run)
                .bind(&*job_id)
                .bind(keep)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
            if let Some(row) = nth {
                let seq: i64 = row.try_get(0).map_err(db_error)?;
                sqlx::query(&self.sql.delete_runs_upto)
                    .bind(&*job_id)
                    .bind(seq)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
            }
        }
        Ok(())
    }

    async fn job_runs(&self, job_id: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(&self.sql.select_runs)
            .bind(job_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let outcome = text(row, 4)?;
                Ok(RunRecord {
                    job_id: Arc::from(text(row, 0)?),
                    scheduled_run_time: time(row.try_get(1).map_err(db_error)?).unwrap_or_default(),
                    started: time(row.try_get(2).map_err(db_error)?),
                    finished: time(row.try_get(3).map_err(db_error)?),
                    outcome: RunOutcome::parse(&outcome).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Internal,
                            format!("unknown run outcome '{outcome}'"),
                        )
                    })?,
                    error: opt_text(row, 5)?,
                    scheduler_id: Arc::from(text(row, 6)?),
                })
            })
            .collect()
    }
}

#[async_trait]
impl RunningRuns for SqlJobStore {
    async fn running_counts(&self, job_ids: &[Arc<str>], now: DateTime<Utc>) -> Result<Vec<u32>> {
        let mut rows = Vec::new();
        if job_ids.len() > 50 {
            // The table holds only the runs executing now (long ones): one grouped read of
            // all of them beats many IN lists.
            rows = sqlx::query(&self.sql.count_all_running)
                .bind(micros(now))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        } else {
            for chunk in job_ids.chunks(dialect::INSERT_CHUNK) {
                let query = self.sql.count_running(chunk.len());
                let mut q = sqlx::query(&query).bind(micros(now));
                for id in chunk {
                    q = q.bind(&**id);
                }
                rows.extend(q.fetch_all(&self.pool).await.map_err(db_error)?);
            }
        }
        let mut counts = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let n: i64 = row.try_get(1).map_err(db_error)?;
            counts.insert(text(row, 0)?, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(job_ids
            .iter()
            .map(|id| counts.get(&**id).copied().unwrap_or(0))
            .collect())
    }

    async fn begin_runs(&self, runs: &[RunningRun]) -> Result<()> {
        for chunk in runs.chunks(dialect::INSERT_CHUNK) {
            let query = self.sql.insert_running(chunk.len());
            let mut q = sqlx::query(&query);
            for run in chunk {
                q = q
                    .bind(&*run.run_id)
                    .bind(&*run.job_id)
                    .bind(micros(run.scheduled_run_time))
                    .bind(micros(run.started))
                    .bind(&*run.owner)
                    .bind(micros(run.expires));
            }
            q.execute(&self.pool).await.map_err(db_error)?;
        }
        Ok(())
    }

    async fn end_runs(&self, run_ids: &[Arc<str>]) -> Result<()> {
        for chunk in run_ids.chunks(dialect::INSERT_CHUNK) {
            let query = self.sql.delete_running(chunk.len());
            let mut q = sqlx::query(&query);
            for id in chunk {
                q = q.bind(&**id);
            }
            q.execute(&self.pool).await.map_err(db_error)?;
        }
        Ok(())
    }

    async fn heartbeat_runs(&self, owner: &str, expires: DateTime<Utc>) -> Result<()> {
        sqlx::query(&self.sql.heartbeat_running)
            .bind(micros(expires))
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn expired_runs(
        &self,
        now: DateTime<Utc>,
        also_owner: &str,
        limit: usize,
    ) -> Result<Vec<RunningRun>> {
        let rows = sqlx::query(&self.sql.expired_running)
            .bind(micros(now))
            .bind(also_owner)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let t = |i: usize| -> Result<DateTime<Utc>> {
                    Ok(time(Some(row.try_get(i).map_err(db_error)?)).unwrap_or_default())
                };
                Ok(RunningRun {
                    run_id: Arc::from(text(row, 0)?),
                    job_id: Arc::from(text(row, 1)?),
                    scheduled_run_time: t(2)?,
                    started: t(3)?,
                    owner: Arc::from(text(row, 4)?),
                    expires: t(5)?,
                })
            })
            .collect()
    }

    async fn take_over_run(
        &self,
        run: &RunningRun,
        owner: &str,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(&self.sql.take_over_running)
            .bind(owner)
            .bind(micros(expires))
            .bind(&*run.run_id)
            .bind(&*run.owner)
            .bind(micros(run.expires))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }
}

impl ChangeNotifications for SqlJobStore {
    #[cfg(feature = "postgres")]
    fn watch_changes(
        &self,
        wake: scheduler_core::ChangeListener,
        stop: tokio_util::sync::CancellationToken,
    ) {
        if self.dialect != Dialect::Postgres {
            return;
        }
        let (url, channel) = (self.url.clone(), self.channel());
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        if listener.listen(&channel).await.is_ok() {
                            wake();
                            loop {
                                tokio::select! {
                                    () = stop.cancelled() => return,
                                    note = listener.recv() => match note {
                                        Ok(_) => wake(),
                                        Err(_) => break,
                                    },
                                }
                            }
                        }
                    }
                    Err(e) => tracing::debug!("LISTEN {channel} unavailable: {e}"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }
}
