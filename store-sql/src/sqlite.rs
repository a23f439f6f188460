//! SQLite (`sqlite://path/to/rsched.db`; the file is created when missing).
//!
//! **How it acquires:** a write transaction opened with `BEGIN IMMEDIATE` takes SQLite's write
//! lock before reading, then `SELECT`s the due rows (earliest first, lease free or expired) and
//! `UPDATE`s their lease columns before `COMMIT`. Only one writer holds the lock at a time, so
//! two processes can never lease the same job. Connections use WAL (readers do not block the
//! writer) and a 10 s busy timeout (a second process waits for the lock instead of failing), so
//! several processes on one host can share one file. Releases run row by row inside one such
//! transaction (SQLite is in-process: no round trips to save).
//!
//! Run history lives in `{prefix}runs` (one row per run, indexed by job and scheduled time),
//! the runs executing now (and pending runs) in `{prefix}running`, the exclusion calendars in
//! `{prefix}calendars`. The tables are created by the migration steps in the crate's
//! `migrations/sqlite/` directory.
//!
//! Types: `next_run_time`, `fire_time`, `lease_expires` are `INTEGER` microseconds since the
//! Unix epoch (UTC); `state` is `TEXT` JSON; so is a run record's `result`, and its `backfill`
//! is `INTEGER` 0/1. A run in progress's `backfill_until` is `INTEGER` microseconds, its
//! `job_state` `TEXT` JSON (so is a calendar's `definition`), its `stop` `TEXT` (`cancel`,
//! `terminate`, or `NULL`). Calendars are saved with
//! `INSERT … ON CONFLICT (name) DO UPDATE` (SQLite 3.24+).

/// The migrations, oldest first: `migrations/sqlite/*.sql`; each statement is idempotent.
pub(crate) const MIGRATIONS: &[crate::migrations::Migration] = crate::migrations::embed!("sqlite":
    1 => "0001_jobs.sql",
    2 => "0002_runs.sql",
    3 => "0003_running.sql",
    4 => "0004_policies.sql",
    5 => "0005_overlap.sql",
    6 => "0006_history_index.sql",
);
