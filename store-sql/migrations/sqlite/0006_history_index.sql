-- Schema version 6: run history read across jobs (the dashboard's Problems view and summary).
-- By scheduled time (counts since a time, and the retention's delete by age); by outcome then
-- scheduled time (the newest problem runs).
CREATE INDEX IF NOT EXISTS {prefix}runs_time ON {prefix}runs (scheduled_run_time);
CREATE INDEX IF NOT EXISTS {prefix}runs_outcome ON {prefix}runs (outcome, scheduled_run_time);
