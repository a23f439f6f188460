-- Schema version 2: run history, one row per run.
CREATE TABLE IF NOT EXISTS {prefix}runs (
    seq BIGSERIAL PRIMARY KEY,
    job_id VARCHAR(191) NOT NULL,
    scheduled_run_time BIGINT NOT NULL,
    started BIGINT,
    finished BIGINT,
    outcome VARCHAR(16) NOT NULL,
    error TEXT,
    scheduler_id VARCHAR(191) NOT NULL
);
CREATE INDEX IF NOT EXISTS {prefix}runs_job ON {prefix}runs (job_id, scheduled_run_time);
