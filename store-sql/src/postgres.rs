//! PostgreSQL (`postgres://user:password@host:5432/database`).
//!
//! **How it acquires:** one statement, atomic on its own:
//! `UPDATE jobs SET lease_owner = …, lease_expires = … WHERE id IN (SELECT id FROM jobs WHERE
//! next_run_time <= now AND (lease_owner IS NULL OR lease_expires <= now) ORDER BY
//! next_run_time, id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING …`. `SKIP LOCKED` lets
//! concurrent schedulers each take different rows instead of waiting on each other's. Releases
//! lock the rows the owner holds (`SELECT … FOR UPDATE`) and write them back with one
//! `UPDATE … FROM (VALUES …)` and one `DELETE` per 500 jobs, in one transaction.
//!
//! Run history lives in `{prefix}runs` (one row per run, indexed by job and scheduled time),
//! the runs executing now (and pending runs) in `{prefix}running`, the exclusion calendars in
//! `{prefix}calendars`. The tables are created by the migration steps in the crate's
//! `migrations/postgres/` directory.
//!
//! Types: `next_run_time`, `fire_time`, `lease_expires` are `BIGINT` microseconds since the
//! Unix epoch (UTC); `state` is `TEXT` JSON (`SELECT state::jsonb FROM rsched_jobs` reads it).
//! Ids sort with `COLLATE "C"` (by code point), whatever the database's collation. A run
//! record's `result` is `TEXT` JSON, its `backfill` a `BOOLEAN`. A run in progress's
//! `backfill_until` is `BIGINT` microseconds, its `job_state` `TEXT` JSON, its `stop`
//! `VARCHAR(16)` (`cancel`, `terminate`, or `NULL`); a calendar's
//! `definition` is `TEXT` JSON, and calendars sort by name `COLLATE "C"`. Calendars are saved
//! with `INSERT … ON CONFLICT (name) DO UPDATE`.

/// The migrations, oldest first: `migrations/postgres/*.sql`; each statement is idempotent.
pub(crate) const MIGRATIONS: &[crate::migrations::Migration] = crate::migrations::embed!("postgres":
    1 => "0001_jobs.sql",
    2 => "0002_runs.sql",
    3 => "0003_running.sql",
    4 => "0004_policies.sql",
    5 => "0005_overlap.sql",
    6 => "0006_history_index.sql",
);
