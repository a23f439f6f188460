-- Schema version 3: the runs executing now, one row each.
CREATE TABLE IF NOT EXISTS {prefix}running (
    run_id TEXT NOT NULL PRIMARY KEY,
    job_id TEXT NOT NULL,
    scheduled_run_time INTEGER NOT NULL,
    started INTEGER NOT NULL,
    owner TEXT NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS {prefix}running_job ON {prefix}running (job_id);
CREATE INDEX IF NOT EXISTS {prefix}running_expires ON {prefix}running (expires);
