-- Schema version 4: retries, backfills, results and exclusion calendars.
-- A run record's attempt (1 = the first run), whether a backfill asked for the run, and the
-- task's return value (JSON text).
-- A run in progress's attempt, the end (µs, exclusive) of the range a backfill run walks, and
-- the job's state (JSON text) a pending run carries. A pending run (a retry, a backfill's next
-- fire time) is a row owned by 'rsched pending', due at its expires.
-- The calendars: name -> definition (JSON text).
ALTER TABLE {prefix}runs
    ADD COLUMN IF NOT EXISTS attempt INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS backfill BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS result TEXT;
ALTER TABLE {prefix}running
    ADD COLUMN IF NOT EXISTS attempt INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS backfill_until BIGINT,
    ADD COLUMN IF NOT EXISTS job_state TEXT;
CREATE TABLE IF NOT EXISTS {prefix}calendars (
    name VARCHAR(191) NOT NULL PRIMARY KEY,
    definition TEXT NOT NULL
);
