-- Schema version 1: the jobs, one row each.
CREATE TABLE IF NOT EXISTS {prefix}jobs (
    id TEXT NOT NULL PRIMARY KEY,
    next_run_time INTEGER,
    fire_time INTEGER,
    state TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires INTEGER,
    lease_modified INTEGER NOT NULL DEFAULT 0,
    quarantined TEXT
);
CREATE INDEX IF NOT EXISTS {prefix}jobs_next_run_time ON {prefix}jobs (next_run_time);
