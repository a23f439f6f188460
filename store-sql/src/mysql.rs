//! MySQL 8 and MariaDB 10.6+ (`mysql://user:password@host:3306/database`, or `mariadb://`).
//!
//! **How it acquires:** in one InnoDB transaction, `SELECT … WHERE next_run_time <= now AND
//! (lease_owner IS NULL OR lease_expires <= now) ORDER BY next_run_time, id LIMIT n FOR UPDATE
//! SKIP LOCKED` locks the due rows no other transaction holds, then one `UPDATE … WHERE id IN
//! (…)` writes the lease, then `COMMIT`. Releases lock the rows the owner holds and write them
//! back with one multi-table `UPDATE … JOIN (SELECT … UNION ALL …)` and one `DELETE` per 500
//! jobs.
//!
//! Run history lives in `{prefix}runs` (one row per run, indexed by job and scheduled time).
//!
//! Types: `next_run_time`, `fire_time`, `lease_expires` are `BIGINT` microseconds since the
//! Unix epoch (UTC); `state` is `LONGTEXT` JSON. Ids use `utf8mb4_bin`, so `Job` and `job` are
//! two jobs and they sort by code point, as everywhere else.

/// The migrations, oldest first; each statement is idempotent.
pub(crate) fn migrations(prefix: &str) -> Vec<(i64, Vec<String>)> {
    let t = format!("{prefix}jobs");
    let r = format!("{prefix}runs");
    vec![
        (
            1,
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
             id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, \
             next_run_time BIGINT NULL, \
             fire_time BIGINT NULL, \
             state LONGTEXT CHARACTER SET utf8mb4 NOT NULL, \
             lease_owner VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, \
             lease_expires BIGINT NULL, \
             lease_modified SMALLINT NOT NULL DEFAULT 0, \
             quarantined TEXT CHARACTER SET utf8mb4 NULL, \
             INDEX {t}_next_run_time (next_run_time)\
             ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
            )],
        ),
        (
            2,
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {r} (\
                 seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                 job_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
                 scheduled_run_time BIGINT NOT NULL, \
                 started BIGINT NULL, \
                 finished BIGINT NULL, \
                 outcome VARCHAR(16) NOT NULL, \
                 error TEXT CHARACTER SET utf8mb4 NULL, \
                 scheduler_id VARCHAR(191) CHARACTER SET utf8mb4 NOT NULL, \
                 INDEX {r}_job (job_id, scheduled_run_time)\
                 ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
            )],
        ),
        (
            3,
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {prefix}running (\
                 run_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, \
                 job_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
                 scheduled_run_time BIGINT NOT NULL, \
                 started BIGINT NOT NULL, \
                 owner VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
                 expires BIGINT NOT NULL, \
                 INDEX {prefix}running_job (job_id), \
                 INDEX {prefix}running_expires (expires)\
                 ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
            )],
        ),
    ]
}
