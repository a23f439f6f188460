-- Schema version 4: retries, backfills, results and exclusion calendars.
-- A run record's attempt (1 = the first run), whether a backfill asked for the run (0/1: sqlx's
-- Any driver reads no TINYINT), and the task's return value (JSON text, up to 64 KiB: more than
-- TEXT holds).
-- A run in progress's attempt, the end (µs, exclusive) of the range a backfill run walks, and
-- the job's state (JSON text, as large as the jobs table's) a pending run carries. A pending run
-- (a retry, a backfill's next fire time) is a row owned by 'rsched pending', due at its expires.
-- The calendars: name -> definition (JSON text).
-- One column per ALTER, without IF NOT EXISTS (MariaDB's, not MySQL 8's): MySQL commits each
-- ALTER at once, so a step cut off before its version row is run again, and the runner takes
-- error 1060 (duplicate column name) on an ADD COLUMN for a column already added.
ALTER TABLE {prefix}runs ADD COLUMN attempt INT NOT NULL DEFAULT 1;
ALTER TABLE {prefix}runs ADD COLUMN backfill SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE {prefix}runs ADD COLUMN result MEDIUMTEXT CHARACTER SET utf8mb4 NULL;
ALTER TABLE {prefix}running ADD COLUMN attempt INT NOT NULL DEFAULT 1;
ALTER TABLE {prefix}running ADD COLUMN backfill_until BIGINT NULL;
ALTER TABLE {prefix}running ADD COLUMN job_state LONGTEXT CHARACTER SET utf8mb4 NULL;
CREATE TABLE IF NOT EXISTS {prefix}calendars (
    name VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    definition MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
