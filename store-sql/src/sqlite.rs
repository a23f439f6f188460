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
//! Run history lives in `{prefix}runs` (one row per run, indexed by job and scheduled time).
//!
//! Types: `next_run_time`, `fire_time`, `lease_expires` are `INTEGER` microseconds since the
//! Unix epoch (UTC); `state` is `TEXT` JSON.

/// The migrations, oldest first; each statement is idempotent.
pub(crate) fn migrations(prefix: &str) -> Vec<(i64, Vec<String>)> {
    let t = format!("{prefix}jobs");
    let r = format!("{prefix}runs");
    vec![
        (
            1,
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                 id TEXT NOT NULL PRIMARY KEY, \
                 next_run_time INTEGER, \
                 fire_time INTEGER, \
                 state TEXT NOT NULL, \
                 lease_owner TEXT, \
                 lease_expires INTEGER, \
                 lease_modified INTEGER NOT NULL DEFAULT 0, \
                 quarantined TEXT)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {t}_next_run_time ON {t} (next_run_time)"),
            ],
        ),
        (
            2,
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {r} (\
                     seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                     job_id TEXT NOT NULL, \
                     scheduled_run_time INTEGER NOT NULL, \
                     started INTEGER, \
                     finished INTEGER, \
                     outcome TEXT NOT NULL, \
                     error TEXT, \
                     scheduler_id TEXT NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {r}_job ON {r} (job_id, scheduled_run_time)"),
            ],
        ),
        (
            3,
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {prefix}running (\
                     run_id TEXT NOT NULL PRIMARY KEY, \
                     job_id TEXT NOT NULL, \
                     scheduled_run_time INTEGER NOT NULL, \
                     started INTEGER NOT NULL, \
                     owner TEXT NOT NULL, \
                     expires INTEGER NOT NULL)"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {prefix}running_job ON {prefix}running (job_id)"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {prefix}running_expires ON {prefix}running (expires)"
                ),
            ],
        ),
    ]
}
