-- Schema version 2: run history, one row per run.
CREATE TABLE IF NOT EXISTS {prefix}runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    scheduled_run_time INTEGER NOT NULL,
    started INTEGER,
    finished INTEGER,
    outcome TEXT NOT NULL,
    error TEXT,
    scheduler_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {prefix}runs_job ON {prefix}runs (job_id, scheduled_run_time);
