-- Schema version 3: the runs executing now, one row each.
CREATE TABLE IF NOT EXISTS {prefix}running (
    run_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    job_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    scheduled_run_time BIGINT NOT NULL,
    started BIGINT NOT NULL,
    owner VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    expires BIGINT NOT NULL,
    INDEX {prefix}running_job (job_id),
    INDEX {prefix}running_expires (expires)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
