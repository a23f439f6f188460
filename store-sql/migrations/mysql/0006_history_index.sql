-- Schema version 6: paged job listings and run history read across jobs (the dashboard).
-- Jobs by (next_run_time, id): pages in next-run-time order read one index range.
-- By scheduled time (counts since a time, and the retention's delete by age); by outcome then
-- scheduled time (the newest problem runs). No IF NOT EXISTS (MariaDB's, not MySQL 8's): the
-- runner takes error 1061 (duplicate key name) on an ADD INDEX run again as done.
ALTER TABLE {prefix}runs ADD INDEX {prefix}runs_time (scheduled_run_time);
ALTER TABLE {prefix}runs ADD INDEX {prefix}runs_outcome (outcome, scheduled_run_time);
ALTER TABLE {prefix}jobs ADD INDEX {prefix}jobs_next_id (next_run_time, id);
