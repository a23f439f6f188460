-- Schema version 6: paged job listings and run history read across jobs (the dashboard).
-- Jobs by (next_run_time, id): pages in next-run-time order read one index range.
-- By scheduled time (counts since a time, and the retention's delete by age); by outcome then
-- scheduled time (the newest problem runs).
CREATE INDEX IF NOT EXISTS {prefix}runs_time ON {prefix}runs (scheduled_run_time);
CREATE INDEX IF NOT EXISTS {prefix}runs_outcome ON {prefix}runs (outcome, scheduled_run_time);
CREATE INDEX IF NOT EXISTS {prefix}jobs_next_id ON {prefix}jobs (next_run_time, id);
