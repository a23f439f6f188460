-- Schema version 4: retries, backfills, results and exclusion calendars.
-- A run record's attempt (1 = the first run), whether a backfill asked for the run (0/1), and
-- the task's return value (JSON text).
-- A run in progress's attempt, the end (µs, exclusive) of the range a backfill run walks, and
-- the job's state (JSON text) a pending run carries. A pending run (a retry, a backfill's next
-- fire time) is a row owned by 'rsched pending', due at its expires.
-- The calendars: name -> definition (JSON text).
-- SQLite has no ADD COLUMN IF NOT EXISTS: the step runs once, in the exclusive transaction that
-- also writes its version row.
ALTER TABLE {prefix}runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE {prefix}runs ADD COLUMN backfill INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {prefix}runs ADD COLUMN result TEXT;
ALTER TABLE {prefix}running ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE {prefix}running ADD COLUMN backfill_until INTEGER;
ALTER TABLE {prefix}running ADD COLUMN job_state TEXT;
CREATE TABLE IF NOT EXISTS {prefix}calendars (
    name TEXT NOT NULL PRIMARY KEY,
    definition TEXT NOT NULL
);
