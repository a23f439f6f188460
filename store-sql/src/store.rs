//! [`SqlJobStore`]: opening (and migrating), teardown, and the [`JobStore`] contract.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scheduler_core::store::lease;
use scheduler_core::{
    CalendarStore, Capabilities, ChangeNotifications, Error, ErrorKind, Job, JobPage, JobQuery,
    JobStore, PruneCounter, QuarantineListener, QuarantineSlot, QuarantinedJob, Release, Result,
    RunHistory, RunningRuns,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Row};

use crate::SCHEMA_VERSION;
use crate::config::{SqlOptions, validate_prefix};
use crate::dialect::{self, Dialect};
use crate::error::db_error;
use crate::listing::Arg;
use crate::model::{columns, decode, encode, micros, release_values, text, time};

/// A job store in a SQL database (see the crate docs for the schema and per-dialect locking).
#[derive(Clone)]
pub struct SqlJobStore {
    /// For PostgreSQL's LISTEN connection.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) url: Arc<str>,
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    pub(crate) prefix: String,
    pub(crate) sql: Arc<dialect::Statements>,
    listener: QuarantineSlot,
    /// History records written per job since its last pruning.
    pub(crate) unpruned: PruneCounter,
}

impl std::fmt::Debug for SqlJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlJobStore")
            .field("dialect", &self.dialect)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
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
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        self.version_on(&mut conn)
            .await
            .map_err(|(_, e)| db_error(e))
    }

    /// Creates the version table if it is missing and reads the version (0: none yet), on
    /// `conn`; on failure, the statement and the driver's error.
    async fn version_on(
        &self,
        conn: &mut AnyConnection,
    ) -> std::result::Result<i64, (&str, sqlx::Error)> {
        for statement in &self.sql.create_version_table {
            sqlx::query(statement)
                .execute(&mut *conn)
                .await
                .map_err(|e| (statement.as_str(), e))?;
        }
        let read = self.sql.read_version.as_str();
        let row = sqlx::query(read)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| (read, e))?;
        let version: Option<i64> = row.try_get(0).map_err(|e| (read, e))?;
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

    /// Applies the embedded migrations (`migrations/<dialect>/NNNN_name.sql`) this database
    /// lacks; returns the version reached. Safe to run from several processes at once: the
    /// steps run on one connection holding a lock per database and table prefix — PostgreSQL
    /// `pg_advisory_lock`, MySQL/MariaDB `GET_LOCK`, SQLite an exclusive transaction — so
    /// replicas started together (Kubernetes, `docker compose up --scale`) migrate one after
    /// the other and the later ones find the work done.
    ///
    /// # Errors
    /// A schema newer than this build is [`ErrorKind::Unsupported`]; a database error while
    /// migrating says so and names the statement (`migrating job store tables 'rsched_*' to
    /// schema version 2: CREATE TABLE …: database error: …`), with the driver's kind.
    pub async fn migrate(&self) -> Result<i64> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let lock = crate::migrations::Lock::new(self.dialect, &self.prefix);
        let take = lock.take();
        sqlx::query(&take)
            .execute(&mut *conn)
            .await
            .map_err(|e| self.migration_error(None, &take, e))?;
        let result = self.migrate_locked(&mut conn).await;
        let release = lock.release(result.is_ok());
        if let Err(e) = sqlx::query(&release).execute(&mut *conn).await {
            // The lock dies with the connection: make sure the pool does not keep it.
            tracing::warn!("Could not release the migration lock ({release}): {e}");
            conn.detach();
        }
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::AnyConnection) -> Result<i64> {
        let current = self
            .version_on(conn)
            .await
            .map_err(|(statement, e)| self.migration_error(None, statement, e))?;
        if current > SCHEMA_VERSION {
            return Err(newer_schema(current));
        }
        for (version, statements) in self.sql.migrations.iter() {
            if *version <= current {
                continue;
            }
            for statement in statements {
                match sqlx::query(statement).execute(&mut *conn).await {
                    Ok(_) => {}
                    // MySQL's ADD COLUMN and ADD INDEX have no IF NOT EXISTS, and commit on
                    // their own: a step cut off before its version row finds its columns and
                    // indexes there when run again.
                    Err(e) if crate::migrations::already_applied(self.dialect, statement, &e) => {
                        tracing::info!(
                            "Job store tables '{}*', schema version {version}: {statement}: already done ({e})",
                            self.prefix
                        );
                    }
                    Err(e) => return Err(self.migration_error(Some(*version), statement, e)),
                }
            }
            sqlx::query(&self.sql.record_version)
                .bind(*version)
                .execute(&mut *conn)
                .await
                .map_err(|e| self.migration_error(Some(*version), &self.sql.record_version, e))?;
            tracing::info!(
                "Job store tables '{}*' migrated to schema version {version}",
                self.prefix
            );
        }
        Ok(SCHEMA_VERSION.max(current))
    }

    /// A database error met while migrating: says so, names the statement, keeps the kind.
    fn migration_error(&self, version: Option<i64>, statement: &str, e: sqlx::Error) -> Error {
        let cause = db_error(e);
        let step = version.map_or_else(String::new, |v| format!(" to schema version {v}"));
        Error::new(
            cause.kind(),
            format!(
                "migrating job store tables '{}*'{step}: {statement}: {}",
                self.prefix,
                cause.message()
            ),
        )
        .with_source(cause)
    }

    /// Deletes everything this store keeps: drops its tables (`{prefix}jobs`, `{prefix}runs`,
    /// `{prefix}running`, `{prefix}calendars`, `{prefix}schema_version`; only those with its
    /// prefix). For tests and uninstalls.
    ///
    /// # Errors
    /// Database errors.
    pub async fn destroy(&self) -> Result<()> {
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
            Ok(None) => Error::job_not_found(id),
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
                    return Err(Error::job_not_found(&id));
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
            Err(Error::job_not_found(id))
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

    /// One page query and one `COUNT(*)` (see `listing.rs`): JSON functions of the dialect for
    /// tags, name and func; the running table for runs in progress; keyset paging.
    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage> {
        let listing = self.sql.listing(query, micros(Utc::now()));
        let total: i64 = crate::listing::bound(&listing.count.0, &listing.count.1)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?
            .try_get(0)
            .map_err(db_error)?;
        let want = query.page_size() + 1;
        let mut rows = Vec::with_capacity(want);
        for (sql, mut args) in listing.pages {
            let room = want - rows.len();
            if room == 0 {
                break;
            }
            if let Some(last) = args.last_mut() {
                *last = Arg::Int(i64::try_from(room).unwrap_or(i64::MAX));
            }
            rows.extend(
                crate::listing::bound(&sql, &args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?,
            );
        }
        let jobs = self.decode_rows(rows).await?;
        Ok(query.finish(jobs, u64::try_from(total).unwrap_or(0)))
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(&self.sql.next_wakeup)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let next: Option<i64> = row.try_get(0).map_err(db_error)?;
        Ok(time(next))
    }

    /// PostgreSQL's `clock_timestamp()`, MySQL/MariaDB's `UTC_TIMESTAMP(6)`; `None` for
    /// SQLite, whose file is read on this host's clock.
    async fn server_time(&self) -> Result<Option<DateTime<Utc>>> {
        let statement = match self.dialect {
            Dialect::Sqlite => return Ok(None),
            Dialect::Postgres => {
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
            }
            Dialect::MySql => {
                "SELECT CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) AS SIGNED)"
            }
        };
        let row = sqlx::query(statement)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let us: i64 = row.try_get(0).map_err(db_error)?;
        Ok(time(Some(us)))
    }

    async fn acquire_due_jobs(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let now_us = micros(now);
        let expires = lease::expiry_micros(now, lease);
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
                return Err(Error::job_not_found(id));
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

    fn calendar_store(&self) -> Option<&dyn CalendarStore> {
        Some(self)
    }

    /// PostgreSQL only (`LISTEN`/`NOTIFY`); SQLite and MySQL are polled.
    fn notifications(&self) -> Option<&dyn ChangeNotifications> {
        (self.dialect == Dialect::Postgres).then_some(self as &dyn ChangeNotifications)
    }
}
