-- Schema version 1: the jobs, one row each.
CREATE TABLE IF NOT EXISTS {prefix}jobs (
    id VARCHAR(191) NOT NULL PRIMARY KEY,
    next_run_time BIGINT,
    fire_time BIGINT,
    state TEXT NOT NULL,
    lease_owner VARCHAR(191),
    lease_expires BIGINT,
    lease_modified SMALLINT NOT NULL DEFAULT 0,
    quarantined TEXT
);
CREATE INDEX IF NOT EXISTS {prefix}jobs_next_run_time ON {prefix}jobs (next_run_time);
