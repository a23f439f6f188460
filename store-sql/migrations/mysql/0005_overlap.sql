-- Schema version 5: overlap policies (buffer_one, buffer_all, cancel_other, terminate_other).
-- A queued fire time of a job at max_instances is a row of {prefix}running owned by
-- 'rsched queued' (due in scheduled_run_time order, never expired); a run in progress asked to
-- stop by a newer fire time carries the request in stop ('cancel' or 'terminate'; NULL: none).
-- The index serves the queue of a job (job_id, owner 'rsched queued', by scheduled_run_time;
-- InnoDB appends the primary key, run_id, which breaks ties).
-- Neither statement has IF NOT EXISTS (MariaDB's, not MySQL 8's): MySQL commits each ALTER at
-- once, so a step cut off before its version row is run again, and the runner takes error 1060
-- (duplicate column name) on an ADD COLUMN, and 1061 (duplicate key name) on an ADD INDEX, as
-- done. One column or index per ALTER.
ALTER TABLE {prefix}running ADD COLUMN stop VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL;
ALTER TABLE {prefix}running ADD INDEX {prefix}running_job_owner (job_id, owner, scheduled_run_time);
