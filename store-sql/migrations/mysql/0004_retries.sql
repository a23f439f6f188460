-- Schema version 4: retries, backfills and results. A run record's attempt (1 = the first
-- run), whether a backfill asked for the run (0/1: sqlx's Any driver reads no TINYINT), and the
-- task's return value (JSON text, up to 64 KiB: more than TEXT holds); a run in progress's
-- attempt (a pending retry is a row of {prefix}running owned by 'rsched retry').
-- ADD COLUMN IF NOT EXISTS is MariaDB's (10.0.2+); MySQL 8 lacks it.
ALTER TABLE {prefix}runs
    ADD COLUMN IF NOT EXISTS attempt INT NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS backfill SMALLINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS result MEDIUMTEXT CHARACTER SET utf8mb4 NULL;
ALTER TABLE {prefix}running ADD COLUMN IF NOT EXISTS attempt INT NOT NULL DEFAULT 1;
