-- The version table every dialect keeps: one row per migration step applied. Created before
-- the version is read (so not a numbered step itself); the same text on every dialect.
CREATE TABLE IF NOT EXISTS {prefix}schema_version (version BIGINT NOT NULL);
