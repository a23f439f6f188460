//! MySQL 8 and MariaDB 10.6+ (`mysql://user:password@host:3306/database`, or `mariadb://`).
//!
//! **How it acquires:** in one InnoDB transaction, `SELECT … WHERE next_run_time <= now AND
//! (lease_owner IS NULL OR lease_expires <= now) ORDER BY next_run_time, id LIMIT n FOR UPDATE
//! SKIP LOCKED` locks the due rows no other transaction holds, then one `UPDATE … WHERE id IN
//! (…)` writes the lease, then `COMMIT`. Releases lock the rows the owner holds and write them
//! back with one multi-table `UPDATE … JOIN (SELECT … UNION ALL …)` and one `DELETE` per 500
//! jobs.
//!
//! Run history lives in `{prefix}runs` (one row per run, indexed by job and scheduled time),
//! the runs executing now (and pending runs) in `{prefix}running`, the exclusion calendars in
//! `{prefix}calendars`. The tables are created by the migration steps in the crate's
//! `migrations/mysql/` directory.
//!
//! Types: `next_run_time`, `fire_time`, `lease_expires` are `BIGINT` microseconds since the
//! Unix epoch (UTC); `state` is `LONGTEXT` JSON. Ids use `utf8mb4_bin`, so `Job` and `job` are
//! two jobs and they sort by code point, as everywhere else. A run record's `result` is
//! `MEDIUMTEXT` JSON (up to 64 KiB, past `TEXT`'s 65,535 bytes), its `backfill` a `SMALLINT` 0/1
//! (sqlx's `Any` driver reads no `TINYINT`). A run in progress's `backfill_until` is `BIGINT`
//! microseconds, its `job_state` `LONGTEXT` JSON (as the jobs table's `state`), its `stop`
//! `VARCHAR(16)` ASCII (`cancel`, `terminate`, or `NULL`); a calendar's
//! `name` is `utf8mb4_bin` (as ids), its `definition` `MEDIUMTEXT` JSON. Calendars are saved
//! with `INSERT … ON DUPLICATE KEY UPDATE`.

/// The migrations, oldest first: `migrations/mysql/*.sql`; each statement is idempotent, or an
/// `ALTER TABLE … ADD COLUMN` whose error 1060 (duplicate column name) the runner takes as done,
/// or an `ALTER TABLE … ADD INDEX` whose error 1061 (duplicate key name) it takes likewise
/// (see `migrations.rs`).
pub(crate) const MIGRATIONS: &[crate::migrations::Migration] = crate::migrations::embed!("mysql":
    1 => "0001_jobs.sql",
    2 => "0002_runs.sql",
    3 => "0003_running.sql",
    4 => "0004_policies.sql",
    5 => "0005_overlap.sql",
    6 => "0006_history_index.sql",
);
