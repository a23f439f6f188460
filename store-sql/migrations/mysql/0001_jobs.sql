-- Schema version 1: the jobs, one row each.
CREATE TABLE IF NOT EXISTS {prefix}jobs (
    id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    next_run_time BIGINT NULL,
    fire_time BIGINT NULL,
    state LONGTEXT CHARACTER SET utf8mb4 NOT NULL,
    lease_owner VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    lease_expires BIGINT NULL,
    lease_modified SMALLINT NOT NULL DEFAULT 0,
    quarantined TEXT CHARACTER SET utf8mb4 NULL,
    INDEX {prefix}jobs_next_run_time (next_run_time)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
