-- Schema version 4: retries, backfills and results. A run record's attempt (1 = the first
-- run), whether a backfill asked for the run, and the task's return value (JSON text); a run
-- in progress's attempt (a pending retry is a row of {prefix}running owned by 'rsched retry').
-- SQLite has no ADD COLUMN IF NOT EXISTS: the step runs once, in the exclusive transaction that
-- also writes its version row.
ALTER TABLE {prefix}runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE {prefix}runs ADD COLUMN backfill INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {prefix}runs ADD COLUMN result TEXT;
ALTER TABLE {prefix}running ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
