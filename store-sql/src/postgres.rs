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
//! Run history lives in `{prefix}runs` (one row per run, indexed by job and scheduled time).
//!
//! Types: `next_run_time`, `fire_time`, `lease_expires` are `BIGINT` microseconds since the
//! Unix epoch (UTC); `state` is `TEXT` JSON (`SELECT state::jsonb FROM rsched_jobs` reads it).
//! Ids sort with `COLLATE "C"` (by code point), whatever the database's collation.

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
                 id VARCHAR(191) NOT NULL PRIMARY KEY, \
                 next_run_time BIGINT, \
                 fire_time BIGINT, \
                 state TEXT NOT NULL, \
                 lease_owner VARCHAR(191), \
                 lease_expires BIGINT, \
                 lease_modified SMALLINT NOT NULL DEFAULT 0, \
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
                     seq BIGSERIAL PRIMARY KEY, \
                     job_id VARCHAR(191) NOT NULL, \
                     scheduled_run_time BIGINT NOT NULL, \
                     started BIGINT, \
                     finished BIGINT, \
                     outcome VARCHAR(16) NOT NULL, \
                     error TEXT, \
                     scheduler_id VARCHAR(191) NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {r}_job ON {r} (job_id, scheduled_run_time)"),
            ],
        ),
        (
            3,
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {prefix}running (\
                     run_id VARCHAR(64) NOT NULL PRIMARY KEY, \
                     job_id VARCHAR(191) NOT NULL, \
                     scheduled_run_time BIGINT NOT NULL, \
                     started BIGINT NOT NULL, \
                     owner VARCHAR(191) NOT NULL, \
                     expires BIGINT NOT NULL)"
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
