-- Schema version 5: overlap policies (buffer_one, buffer_all, cancel_other, terminate_other).
-- A queued fire time of a job at max_instances is a row of {prefix}running owned by
-- 'rsched queued' (due in scheduled_run_time order, never expired); a run in progress asked to
-- stop by a newer fire time carries the request in stop ('cancel' or 'terminate'; NULL: none).
-- The index serves the queue of a job (job_id, owner 'rsched queued', by scheduled_run_time).
-- SQLite has no ADD COLUMN IF NOT EXISTS: the step runs once, in the exclusive transaction that
-- also writes its version row.
ALTER TABLE {prefix}running ADD COLUMN stop TEXT;
CREATE INDEX IF NOT EXISTS {prefix}running_job_owner ON {prefix}running (job_id, owner, scheduled_run_time);
