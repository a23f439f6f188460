-- Schema version 2: run history, one row per run.
CREATE TABLE IF NOT EXISTS {prefix}runs (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    scheduled_run_time BIGINT NOT NULL,
    started BIGINT NULL,
    finished BIGINT NULL,
    outcome VARCHAR(16) NOT NULL,
    error TEXT CHARACTER SET utf8mb4 NULL,
    scheduler_id VARCHAR(191) CHARACTER SET utf8mb4 NOT NULL,
    INDEX {prefix}runs_job (job_id, scheduled_run_time)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
