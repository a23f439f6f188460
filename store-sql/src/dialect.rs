//! The SQL text of each dialect. Table names come from a validated prefix
//! ([`crate::validate_prefix`]); every value is a bound parameter. The schema itself (the
//! migration steps) is in `migrations/<dialect>/*.sql` (see `migrations.rs`).

use std::fmt::Write as _;

use scheduler_core::{Error, Release, Result};
use sqlx::{AnyConnection, Row};

use crate::error::db_error;
use crate::migrations;
use crate::model::release_values;

/// Rows per multi-row statement (well under every driver's bind-parameter limit).
pub(crate) const INSERT_CHUNK: usize = 500;

/// The most large text (run results, pending runs' job states) one multi-row INSERT carries:
/// rows with large values go in smaller statements, well within MySQL's `max_allowed_packet`
/// (4 MiB in old servers' defaults).
pub(crate) const INSERT_TEXT_BYTES: usize = 1024 * 1024;

/// Where the multi-row INSERT of the rows from `start` (of `len`) ends: at most
/// [`INSERT_CHUNK`] rows and [`INSERT_TEXT_BYTES`] of large text (`size(i)` bytes in row `i`),
/// at least one row.
pub(crate) fn chunk_end(len: usize, start: usize, size: impl Fn(usize) -> usize) -> usize {
    let mut end = start;
    let mut bytes = 0;
    while end < len && end - start < INSERT_CHUNK {
        let size = size(end);
        if end > start && bytes + size > INSERT_TEXT_BYTES {
            break;
        }
        bytes += size;
        end += 1;
    }
    end
}

/// A SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3 (`sqlite://`).
    Sqlite,
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MySQL 8 and MariaDB 10.6+ (`mysql://`, `mariadb://`).
    MySql,
}

impl Dialect {
    /// The dialect a URL names.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](scheduler_core::ErrorKind::InvalidInput) for other schemes, or
    /// ones this build lacks.
    pub fn from_url(url: &str) -> Result<Dialect> {
        let scheme = url.split_once("://").map_or(url, |(s, _)| s);
        let scheme = scheme.split(':').next().unwrap_or(scheme);
        match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" => Ok(Dialect::Sqlite),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => Ok(Dialect::MySql),
            other => Err(Error::invalid(
                "url",
                format!(
                    "'{other}' is not a SQL store scheme of this build (available: {})",
                    crate::URL_SCHEMES.join(", ")
                ),
            )),
        }
    }

    /// The URL the driver gets: `mariadb://` becomes `mysql://`; a SQLite file is created when
    /// missing (`mode=rwc`) unless the URL sets a mode.
    pub(crate) fn normalize_url(self, url: &str) -> String {
        match self {
            Dialect::MySql => url.replacen("mariadb://", "mysql://", 1),
            Dialect::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        }
    }

    /// Statements run on every new connection.
    pub(crate) fn session_setup(self) -> &'static [&'static str] {
        match self {
            // WAL lets readers and one writer work at once across processes; writers wait up to
            // 10 s for the lock instead of failing with SQLITE_BUSY.
            Dialect::Sqlite => &[
                "PRAGMA journal_mode = WAL",
                "PRAGMA busy_timeout = 10000",
                "PRAGMA synchronous = NORMAL",
            ],
            Dialect::MySql => &["SET SESSION time_zone = '+00:00'"],
            Dialect::Postgres => &[],
        }
    }

    /// How a write transaction begins.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres | Dialect::MySql => "BEGIN",
        }
    }
}

/// Numbered (`$1`) or positional (`?`) parameters.
pub(crate) struct Params {
    numbered: bool,
    n: usize,
}

impl Params {
    pub(crate) fn new(dialect: Dialect) -> Params {
        Params {
            numbered: dialect == Dialect::Postgres,
            n: 0,
        }
    }

    pub(crate) fn next(&mut self) -> String {
        self.n += 1;
        if self.numbered {
            format!("${}", self.n)
        } else {
            "?".to_owned()
        }
    }

    /// `(p, p, p)` lists for `rows` rows of `cols` parameters, with optional casts.
    fn rows(&mut self, rows: usize, casts: &[&str]) -> String {
        let mut out = String::new();
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            out.push('(');
            for (c, cast) in casts.iter().enumerate() {
                if c > 0 {
                    out.push_str(", ");
                }
                out.push_str(&self.next());
                out.push_str(cast);
            }
            out.push(')');
        }
        out
    }

    fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.next()).collect::<Vec<_>>().join(", ")
    }
}

/// The columns of a run record, in the order `running::running_run` reads them (`stop` is read
/// on its own, by `stop_requests`).
const RUNNING_COLUMNS: &str = "run_id, job_id, scheduled_run_time, started, owner, expires, attempt, \
                               backfill_until, job_state";

/// Every statement the store runs, built once per store.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) dialect: Dialect,
    pub(crate) table: String,
    /// `(version, statements)` of each migration step, oldest first.
    pub(crate) migrations: Vec<(i64, Vec<String>)>,
    pub(crate) drop: Vec<String>,
    pub(crate) create_version_table: Vec<String>,
    pub(crate) read_version: String,
    pub(crate) record_version: String,
    pub(crate) insert: String,
    pub(crate) update: String,
    pub(crate) delete: String,
    pub(crate) delete_all: String,
    pub(crate) select_one: String,
    pub(crate) select_all: String,
    pub(crate) select_quarantined: String,
    pub(crate) next_wakeup: String,
    pub(crate) select_due: String,
    pub(crate) acquire_returning: String,
    pub(crate) release_row: String,
    pub(crate) delete_released: String,
    pub(crate) drop_lease: String,
    pub(crate) lease_owner_of: String,
    pub(crate) quarantine: String,
    pub(crate) runs_table: String,
    pub(crate) running_table: String,
    pub(crate) heartbeat_running: String,
    pub(crate) count_all_running: String,
    pub(crate) expired_running: String,
    pub(crate) queued_running: String,
    pub(crate) stop_running: String,
    pub(crate) stop_requests: String,
    pub(crate) take_over_running: String,
    pub(crate) reschedule_running: String,
    pub(crate) select_calendars: String,
    pub(crate) upsert_calendar: String,
    pub(crate) delete_calendar: String,
    pub(crate) select_runs: String,
    pub(crate) problem_runs: String,
    pub(crate) outcome_counts: String,
    pub(crate) delete_old_runs: String,
    pub(crate) nth_newest_run: String,
    pub(crate) delete_runs_upto: String,
}

impl Statements {
    pub(crate) fn new(dialect: Dialect, prefix: &str) -> Statements {
        let t = format!("{prefix}jobs");
        let v = format!("{prefix}schema_version");
        // Ids sort by their bytes (code points) in every dialect, as in the memory store.
        let by_id = match dialect {
            Dialect::Postgres => "id COLLATE \"C\"",
            _ => "id",
        };
        let p = |f: &dyn Fn(&mut Params) -> String| f(&mut Params::new(dialect));
        let cols = "id, state, next_run_time, fire_time";
        let migrations = migrations::of(dialect)
            .iter()
            .map(|m| (m.version, migrations::statements(m.sql, prefix)))
            .collect();
        Statements {
            dialect,
            migrations,
            drop: vec![
                format!("DROP TABLE IF EXISTS {t}"),
                format!("DROP TABLE IF EXISTS {prefix}runs"),
                format!("DROP TABLE IF EXISTS {prefix}running"),
                format!("DROP TABLE IF EXISTS {prefix}calendars"),
                format!("DROP TABLE IF EXISTS {v}"),
            ],
            runs_table: format!("{prefix}runs"),
            running_table: format!("{prefix}running"),
            // Params: now, the queued owner (queued fire times are not runs in progress).
            count_all_running: p(&|q| {
                format!(
                    "SELECT job_id, COUNT(*) FROM {prefix}running WHERE expires > {} AND owner <> {} \
                     GROUP BY job_id",
                    q.next(),
                    q.next()
                )
            }),
            heartbeat_running: p(&|q| {
                format!(
                    "UPDATE {prefix}running SET expires = {} WHERE owner = {}",
                    q.next(),
                    q.next()
                )
            }),
            // Params: now, also_owner, the queued owner (never expired), limit.
            expired_running: p(&|q| {
                format!(
                    "SELECT {RUNNING_COLUMNS} FROM {prefix}running \
                     WHERE (expires < {} OR owner = {}) AND owner <> {} ORDER BY expires LIMIT {}",
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next()
                )
            }),
            // Params: job_id, the queued owner, limit. Ties by run_id in code point order.
            queued_running: p(&|q| {
                let run_id = match dialect {
                    Dialect::Postgres => "run_id COLLATE \"C\"",
                    _ => "run_id",
                };
                format!(
                    "SELECT {RUNNING_COLUMNS} FROM {prefix}running WHERE job_id = {} AND owner = {} \
                     ORDER BY scheduled_run_time, {run_id} LIMIT {}",
                    q.next(),
                    q.next(),
                    q.next()
                )
            }),
            // Params: stop, job_id, the pending owner, the queued owner. The count is of the rows
            // matched, also those already marked so: MySQL reports them too, as sqlx connects
            // with CLIENT_FOUND_ROWS.
            stop_running: p(&|q| {
                format!(
                    "UPDATE {prefix}running SET stop = {} WHERE job_id = {} AND owner <> {} AND owner <> {}",
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next()
                )
            }),
            stop_requests: p(&|q| {
                format!(
                    "SELECT run_id, stop FROM {prefix}running WHERE owner = {} AND stop IS NOT NULL",
                    q.next()
                )
            }),
            take_over_running: p(&|q| {
                format!(
                    "UPDATE {prefix}running SET owner = {}, expires = {} \
                     WHERE run_id = {} AND owner = {} AND expires = {}",
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next()
                )
            }),
            // A run record becomes a pending run (owner `PENDING_OWNER`, due at `expires`), every
            // column but its id rewritten, if it is still the owner's.
            reschedule_running: p(&|q| {
                format!(
                    "UPDATE {prefix}running SET job_id = {}, scheduled_run_time = {}, started = {}, \
                     owner = {}, expires = {}, attempt = {}, backfill_until = {}, job_state = {}, stop = NULL \
                     WHERE run_id = {} AND owner = {}",
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next()
                )
            }),
            // By name, as code points (the memory store's order).
            select_calendars: format!(
                "SELECT name, definition FROM {prefix}calendars ORDER BY {}",
                match dialect {
                    Dialect::Postgres => "name COLLATE \"C\"",
                    _ => "name",
                }
            ),
            upsert_calendar: p(&|q| {
                let (name, definition) = (q.next(), q.next());
                match dialect {
                    // Positional `?`: the definition is bound a second time.
                    Dialect::MySql => format!(
                        "INSERT INTO {prefix}calendars (name, definition) VALUES ({name}, {definition}) \
                         ON DUPLICATE KEY UPDATE definition = {}",
                        q.next()
                    ),
                    _ => format!(
                        "INSERT INTO {prefix}calendars (name, definition) VALUES ({name}, {definition}) \
                         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition"
                    ),
                }
            }),
            delete_calendar: p(&|q| {
                format!("DELETE FROM {prefix}calendars WHERE name = {}", q.next())
            }),
            select_runs: p(&|q| {
                format!(
                    "SELECT job_id, scheduled_run_time, started, finished, outcome, error, scheduler_id, \
                     attempt, backfill, result FROM {prefix}runs WHERE job_id = {} ORDER BY scheduled_run_time DESC, seq DESC LIMIT {}",
                    q.next(),
                    q.next()
                )
            }),
            problem_runs: p(&|q| {
                format!(
                    "SELECT job_id, scheduled_run_time, started, finished, outcome, error, scheduler_id, \
                     attempt, backfill, result FROM {prefix}runs \
                     WHERE outcome IN ('error', 'missed', 'crashed', 'timed_out') AND scheduled_run_time < {} \
                     ORDER BY scheduled_run_time DESC, seq DESC LIMIT {}",
                    q.next(),
                    q.next()
                )
            }),
            outcome_counts: p(&|q| {
                format!(
                    "SELECT outcome, COUNT(*) FROM {prefix}runs WHERE scheduled_run_time >= {} GROUP BY outcome",
                    q.next()
                )
            }),
            delete_old_runs: p(&|q| {
                format!(
                    "DELETE FROM {prefix}runs WHERE scheduled_run_time < {}",
                    q.next()
                )
            }),
            nth_newest_run: p(&|q| {
                format!(
                    "SELECT seq FROM {prefix}runs WHERE job_id = {} ORDER BY seq DESC LIMIT 1 OFFSET {}",
                    q.next(),
                    q.next()
                )
            }),
            delete_runs_upto: p(&|q| {
                format!(
                    "DELETE FROM {prefix}runs WHERE job_id = {} AND seq <= {}",
                    q.next(),
                    q.next()
                )
            }),
            create_version_table: migrations::statements(migrations::VERSION_TABLE, prefix),
            read_version: format!("SELECT MAX(version) FROM {v}"),
            record_version: p(&|q| format!("INSERT INTO {v} (version) VALUES ({})", q.next())),
            insert: p(&|q| {
                format!(
                    "INSERT INTO {t} (id, next_run_time, fire_time, state) VALUES ({}, {}, {}, {})",
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next()
                )
            }),
            // Replacing a job restores it from quarantine; while leased, the change wins over
            // the lease holder's release.
            update: p(&|q| {
                format!(
                    "UPDATE {t} SET state = {}, next_run_time = {}, fire_time = {}, quarantined = NULL, \
                     lease_modified = CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END WHERE id = {}",
                    q.next(),
                    q.next(),
                    q.next(),
                    q.next()
                )
            }),
            delete: p(&|q| format!("DELETE FROM {t} WHERE id = {}", q.next())),
            delete_all: format!("DELETE FROM {t}"),
            select_one: p(&|q| {
                format!(
                    "SELECT {cols} FROM {t} WHERE id = {} AND quarantined IS NULL",
                    q.next()
                )
            }),
            select_all: format!(
                "SELECT {cols} FROM {t} WHERE quarantined IS NULL \
                 ORDER BY CASE WHEN next_run_time IS NULL THEN 1 ELSE 0 END, next_run_time, {by_id}"
            ),
            select_quarantined: format!(
                "SELECT id, quarantined, state FROM {t} WHERE quarantined IS NOT NULL ORDER BY {by_id}"
            ),
            // The engine must wake for the earliest due job, or for the earliest lease to
            // expire (to take the job over).
            next_wakeup: format!(
                "SELECT MIN(CASE WHEN lease_owner IS NULL THEN next_run_time ELSE lease_expires END) \
                 FROM {t} WHERE quarantined IS NULL AND next_run_time IS NOT NULL"
            ),
            select_due: p(&|q| {
                format!(
                    "SELECT {cols} FROM {t} WHERE quarantined IS NULL AND next_run_time <= {} \
                     AND (lease_owner IS NULL OR lease_expires <= {}) \
                     ORDER BY next_run_time, {by_id} LIMIT {}{}",
                    q.next(),
                    q.next(),
                    q.next(),
                    if dialect == Dialect::MySql {
                        " FOR UPDATE SKIP LOCKED"
                    } else {
                        ""
                    }
                )
            }),
            acquire_returning: p(&|q| {
                let (owner, expires, now, limit) = (q.next(), q.next(), q.next(), q.next());
                format!(
                    "UPDATE {t} SET lease_owner = {owner}, lease_expires = {expires}, lease_modified = 0 \
                     WHERE id IN (SELECT id FROM {t} WHERE quarantined IS NULL AND next_run_time <= {now} \
                     AND (lease_owner IS NULL OR lease_expires <= {now}) \
                     ORDER BY next_run_time, {by_id} LIMIT {limit} FOR UPDATE SKIP LOCKED) \
                     RETURNING {cols}"
                )
            }),
            // `keep` = 1 leaves the run times alone (Release::Unchanged); a change made while
            // leased (lease_modified = 1) wins over the release.
            release_row: p(&|q| {
                // Parameters in text order (positional `?`): keep, next, keep, fire, id, owner.
                let (k1, next, k2, fire, id, owner) =
                    (q.next(), q.next(), q.next(), q.next(), q.next(), q.next());
                format!(
                    "UPDATE {t} SET \
                     next_run_time = CASE WHEN lease_modified = 1 OR {k1} = 1 THEN next_run_time ELSE {next} END, \
                     fire_time = CASE WHEN lease_modified = 1 OR {k2} = 1 THEN fire_time ELSE {fire} END, \
                     lease_owner = NULL, lease_expires = NULL, lease_modified = 0 \
                     WHERE id = {id} AND lease_owner = {owner}"
                )
            }),
            delete_released: p(&|q| {
                format!(
                    "DELETE FROM {t} WHERE id = {} AND lease_owner = {} AND lease_modified = 0",
                    q.next(),
                    q.next()
                )
            }),
            drop_lease: p(&|q| {
                format!(
                    "UPDATE {t} SET lease_owner = NULL, lease_expires = NULL, lease_modified = 0 \
                     WHERE id = {} AND lease_owner = {}",
                    q.next(),
                    q.next()
                )
            }),
            lease_owner_of: p(&|q| format!("SELECT lease_owner FROM {t} WHERE id = {}", q.next())),
            quarantine: p(&|q| {
                format!(
                    "UPDATE {t} SET quarantined = {}, lease_owner = NULL, lease_expires = NULL, \
                     lease_modified = 0 WHERE id = {}",
                    q.next(),
                    q.next()
                )
            }),
            table: t,
        }
    }

    /// `SELECT id FROM t WHERE id IN (…n…)`.
    pub(crate) fn existing_ids(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        format!("SELECT id FROM {} WHERE id IN ({})", self.table, q.list(n))
    }

    /// Runs in progress per job, for `n` job ids (`expires` first, then the queued owner, whose
    /// records are not runs in progress, then the ids).
    pub(crate) fn count_running(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        let (expires, queued) = (q.next(), q.next());
        format!(
            "SELECT job_id, COUNT(*) FROM {} WHERE expires > {expires} AND owner <> {queued} \
             AND job_id IN ({}) GROUP BY job_id",
            self.running_table,
            q.list(n)
        )
    }

    /// A multi-row INSERT of `n` runs in progress.
    pub(crate) fn insert_running(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        format!(
            "INSERT INTO {} (run_id, job_id, scheduled_run_time, started, owner, expires, attempt, \
             backfill_until, job_state) VALUES {}",
            self.running_table,
            q.rows(n, &["", "", "", "", "", "", "", "", ""])
        )
    }

    /// Deletes `n` runs in progress by id, if they are still the given owner's.
    pub(crate) fn delete_running(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        let owner = q.next();
        format!(
            "DELETE FROM {} WHERE owner = {owner} AND run_id IN ({})",
            self.running_table,
            q.list(n)
        )
    }

    /// A multi-row INSERT of `n` run records.
    pub(crate) fn insert_runs(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        format!(
            "INSERT INTO {} (job_id, scheduled_run_time, started, finished, outcome, error, scheduler_id, \
             attempt, backfill, result) VALUES {}",
            self.runs_table,
            q.rows(n, &["", "", "", "", "", "", "", "", "", ""])
        )
    }

    /// A multi-row INSERT of `n` jobs.
    pub(crate) fn insert_many(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        format!(
            "INSERT INTO {} (id, next_run_time, fire_time, state) VALUES {}",
            self.table,
            q.rows(n, &["", "", "", ""])
        )
    }

    /// Leases `n` jobs by id: params owner, expires, ids….
    pub(crate) fn lease_many(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        let (owner, expires) = (q.next(), q.next());
        format!(
            "UPDATE {} SET lease_owner = {owner}, lease_expires = {expires}, lease_modified = 0 WHERE id IN ({})",
            self.table,
            q.list(n)
        )
    }

    /// Releases `n` jobs this owner holds, in one statement: params owner, then
    /// (id, next, fire, keep)… (on MySQL, whose `?` bind in text order, the owner comes last).
    fn release_many(&self, n: usize) -> String {
        let t = &self.table;
        let mut q = Params::new(self.dialect);
        let owner = q.next();
        // Unqualified names are unambiguous: `v` has id, nrt, fire and keep only.
        let set = "next_run_time = CASE WHEN lease_modified = 1 OR v.keep = 1 THEN next_run_time ELSE v.nrt END, \
                   fire_time = CASE WHEN lease_modified = 1 OR v.keep = 1 THEN fire_time ELSE v.fire END, \
                   lease_owner = NULL, lease_expires = NULL, lease_modified = 0";
        match self.dialect {
            Dialect::Postgres => format!(
                "UPDATE {t} AS j SET {set} FROM (VALUES {}) AS v(id, nrt, fire, keep) \
                 WHERE j.id = v.id AND j.lease_owner = {owner}",
                q.rows(n, &["::text", "::bigint", "::bigint", "::int"])
            ),
            _ => {
                let mut rows = String::new();
                for i in 0..n {
                    if i > 0 {
                        rows.push_str(" UNION ALL ");
                    }
                    let _ = write!(
                        rows,
                        "SELECT {} AS id, {} AS nrt, {} AS fire, {} AS keep",
                        q.next(),
                        q.next(),
                        q.next(),
                        q.next()
                    );
                }
                format!(
                    "UPDATE {t} AS j JOIN ({rows}) AS v ON j.id = v.id SET {set} WHERE j.lease_owner = {owner}"
                )
            }
        }
    }

    /// Deletes `n` released jobs: params owner, ids….
    fn delete_many(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        let owner = q.next();
        format!(
            "DELETE FROM {} WHERE lease_owner = {owner} AND lease_modified = 0 AND id IN ({})",
            self.table,
            q.list(n)
        )
    }

    /// Which of `n` ids this owner holds, and whether each was modified while leased, locking
    /// the rows: params owner, ids….
    fn held(&self, n: usize) -> String {
        let mut q = Params::new(self.dialect);
        let owner = q.next();
        format!(
            "SELECT id, lease_modified FROM {} WHERE lease_owner = {owner} AND id IN ({}) FOR UPDATE",
            self.table,
            q.list(n)
        )
    }
}

/// Settles `releases` in a few statements per chunk (PostgreSQL, MySQL): it locks the rows
/// this owner holds, then releases them with one UPDATE and one DELETE. Entries it leaves
/// `None` (not held: gone or leased by another; or removals modified while leased) are done row
/// by row by the caller, which also finds the right error for them.
pub(crate) async fn release_batched(
    conn: &mut AnyConnection,
    sql: &Statements,
    owner: &str,
    releases: &[(std::sync::Arc<str>, Release)],
    results: &mut [Option<Result<()>>],
) -> Result<()> {
    let indexes: Vec<usize> = (0..releases.len()).collect();
    for chunk in indexes.chunks(INSERT_CHUNK) {
        let query = sql.held(chunk.len());
        let mut q = sqlx::query(&query).bind(owner);
        for i in chunk {
            q = q.bind(&*releases[*i].0);
        }
        let mut held = std::collections::HashMap::new();
        for row in q.fetch_all(&mut *conn).await.map_err(db_error)? {
            let id: String = row.try_get(0).map_err(db_error)?;
            let modified: i64 = row
                .try_get::<i64, _>(1)
                .or_else(|_| row.try_get::<i16, _>(1).map(i64::from))
                .or_else(|_| row.try_get::<i32, _>(1).map(i64::from))
                .map_err(db_error)?;
            held.insert(id, modified != 0);
        }
        let (mut updates, mut deletes) = (Vec::new(), Vec::new());
        for i in chunk {
            let (id, release) = &releases[*i];
            match (held.get(&**id), release) {
                (Some(false), Release::Remove) => deletes.push(*i),
                (Some(_), Release::Remove) | (None, _) => {}
                (Some(_), _) => updates.push(*i),
            }
        }
        if !updates.is_empty() {
            let query = sql.release_many(updates.len());
            // Positional `?` (MySQL) binds in text order, where the owner comes last.
            let owner_last = sql.dialect == Dialect::MySql;
            let mut q = sqlx::query(&query);
            if !owner_last {
                q = q.bind(owner);
            }
            for i in &updates {
                let (id, release) = &releases[*i];
                let (next, fire, keep) = release_values(*release);
                q = q.bind(&**id).bind(next).bind(fire).bind(keep);
            }
            if owner_last {
                q = q.bind(owner);
            }
            q.execute(&mut *conn).await.map_err(db_error)?;
        }
        if !deletes.is_empty() {
            let query = sql.delete_many(deletes.len());
            let mut q = sqlx::query(&query).bind(owner);
            for i in &deletes {
                q = q.bind(&*releases[*i].0);
            }
            q.execute(&mut *conn).await.map_err(db_error)?;
        }
        for i in updates.into_iter().chain(deletes) {
            results[i] = Some(Ok(()));
        }
    }
    Ok(())
}
