-- Schema version 4: retries, backfills and results. A run record's attempt (1 = the first
-- run), whether a backfill asked for the run, and the task's return value (JSON text); a run
-- in progress's attempt (a pending retry is a row of {prefix}running owned by 'rsched retry').
ALTER TABLE {prefix}runs
    ADD COLUMN IF NOT EXISTS attempt INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS backfill BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS result TEXT;
ALTER TABLE {prefix}running ADD COLUMN IF NOT EXISTS attempt INTEGER NOT NULL DEFAULT 1;
