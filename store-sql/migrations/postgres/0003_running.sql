-- Schema version 3: the runs executing now, one row each.
CREATE TABLE IF NOT EXISTS {prefix}running (
    run_id VARCHAR(64) NOT NULL PRIMARY KEY,
    job_id VARCHAR(191) NOT NULL,
    scheduled_run_time BIGINT NOT NULL,
    started BIGINT NOT NULL,
    owner VARCHAR(191) NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS {prefix}running_job ON {prefix}running (job_id);
CREATE INDEX IF NOT EXISTS {prefix}running_expires ON {prefix}running (expires);
