//! The schema migrations, as SQL files embedded with `include_str!`:
//! `migrations/<dialect>/NNNN_name.sql` holds the statements that bring a database to schema
//! version `NNNN`, and `migrations/schema_version.sql` the version table (created before the
//! version is read, so not a numbered step). Each dialect module lists its steps
//! (`MIGRATIONS`).
//!
//! The files use `{prefix}` for the table prefix, filled in at run time (the prefix is an
//! identifier, see [`crate::validate_prefix`], so plain substitution is safe). How a file is
//! read ([`statements`]):
//! - lines starting with `--` and blank lines are left out;
//! - a statement ends with the line that ends with `;` (the `;` is dropped);
//! - the lines of a statement are trimmed and joined with one space, except after a line ending
//!   with `(` and before a line starting with `)` (nothing there), so a statement laid out over
//!   several lines reads exactly as the one-line text earlier builds ran (SQLite keeps that text
//!   in `sqlite_master`).
//!
//! A step cut off before its version row was written (a crash, a lost connection) runs again
//! whole on the next start, so every statement must be safe to run twice:
//! - PostgreSQL: `CREATE … IF NOT EXISTS`, `ALTER TABLE … ADD COLUMN IF NOT EXISTS`.
//! - MySQL/MariaDB: `CREATE … IF NOT EXISTS`; but `ADD COLUMN IF NOT EXISTS` is MariaDB's alone
//!   (MySQL 8 has none), so the steps use plain `ALTER TABLE … ADD COLUMN`, one column per
//!   statement, and the runner takes the error such a statement gets for a column that is
//!   already there — 1060, `ER_DUP_FIELDNAME` "Duplicate column name" — as done
//!   ([`already_applied`]), logs it and goes on. Indexes likewise (MySQL 8 has no `CREATE INDEX
//!   IF NOT EXISTS` either): plain `ALTER TABLE … ADD INDEX`, whose error for an index name
//!   already there — 1061, `ER_DUP_KEYNAME` "Duplicate key name" — counts as done. (MySQL
//!   commits each DDL statement at once: a step's transaction could not undo the ALTERs before
//!   the cut.) One column or index per `ALTER` keeps that exact: the error says that
//!   statement's column or index exists, not one of several.
//! - SQLite: `CREATE … IF NOT EXISTS`; its `ALTER TABLE … ADD COLUMN` has no `IF NOT EXISTS`,
//!   but there the steps and their version rows run in one exclusive transaction, so a step is
//!   applied whole or not at all.
//!
//! Steps run under a [`Lock`] per database and table prefix: processes migrating at once do
//! not trip over each other (PostgreSQL's concurrent `CREATE TABLE IF NOT EXISTS` can fail on
//! its catalog's unique index). A step, once released, never changes: a schema change is a new
//! file and a new [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).

use crate::dialect::Dialect;

/// One migration step of a dialect.
#[derive(Debug)]
pub(crate) struct Migration {
    /// The schema version it reaches.
    pub(crate) version: i64,
    /// Its file name in `migrations/<dialect>/`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) file: &'static str,
    /// The file's text.
    pub(crate) sql: &'static str,
}

/// `Migration`s of one dialect from their files: `embed!("sqlite": 1 => "0001_jobs.sql", …)`.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused_macros)
)]
macro_rules! embed {
    ($dialect:literal: $($version:literal => $file:literal),* $(,)?) => {
        &[$(crate::migrations::Migration {
            version: $version,
            file: $file,
            sql: include_str!(concat!("../migrations/", $dialect, "/", $file)),
        }),*]
    };
}
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused_imports)
)]
pub(crate) use embed;

/// The version table (`{prefix}schema_version`, one row per step applied), all dialects.
pub(crate) const VERSION_TABLE: &str = include_str!("../migrations/schema_version.sql");

/// The steps of `dialect`, oldest first.
pub(crate) fn of(dialect: Dialect) -> &'static [Migration] {
    match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => crate::sqlite::MIGRATIONS,
        #[cfg(feature = "postgres")]
        Dialect::Postgres => crate::postgres::MIGRATIONS,
        #[cfg(feature = "mysql")]
        Dialect::MySql => crate::mysql::MIGRATIONS,
        #[allow(unreachable_patterns)]
        _ => &[],
    }
}

/// The lock that serialises migrations of one table prefix in one database: the statements
/// that take it and release it, run on the migrating connection.
#[derive(Debug)]
pub(crate) struct Lock {
    dialect: Dialect,
    /// PostgreSQL: the advisory lock key; MySQL: the lock name.
    key: i64,
    name: String,
}

impl Lock {
    /// The lock of `prefix` (a validated identifier) in a `dialect` database.
    pub(crate) fn new(dialect: Dialect, prefix: &str) -> Lock {
        // FNV-1a, fixed across builds and processes (std's hasher is seeded per process).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in format!("rsched:migrate:{prefix}").bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Lock {
            dialect,
            key: i64::from_ne_bytes(hash.to_ne_bytes()),
            // MySQL lock names are at most 64 characters.
            name: format!("rsched_migrate_{hash:016x}"),
        }
    }

    /// The statement that takes the lock (waiting for it).
    pub(crate) fn take(&self) -> String {
        match self.dialect {
            Dialect::Postgres => format!("SELECT pg_advisory_lock({})", self.key),
            // Up to 10 minutes: the holder is migrating.
            Dialect::MySql => format!("SELECT GET_LOCK('{}', 600)", self.name),
            // The write lock of the whole file, until COMMIT (waits up to the busy timeout).
            Dialect::Sqlite => "BEGIN EXCLUSIVE".to_owned(),
        }
    }

    /// The statement that releases it; for SQLite, `ok` commits the steps, else rolls back.
    pub(crate) fn release(&self, ok: bool) -> String {
        match self.dialect {
            Dialect::Postgres => format!("SELECT pg_advisory_unlock({})", self.key),
            Dialect::MySql => format!("SELECT RELEASE_LOCK('{}')", self.name),
            Dialect::Sqlite if ok => "COMMIT".to_owned(),
            Dialect::Sqlite => "ROLLBACK".to_owned(),
        }
    }
}

/// Whether `error`, met running migration `statement` on a `dialect` database, says the
/// statement's work is already done: on MySQL/MariaDB only, error 1060 (duplicate column name)
/// on an `ALTER TABLE … ADD COLUMN`, or 1061 (duplicate key name) on an
/// `ALTER TABLE … ADD INDEX` (see the module docs).
pub(crate) fn already_applied(dialect: Dialect, statement: &str, error: &sqlx::Error) -> bool {
    let expected = if is_add_column(statement) {
        1060
    } else if is_add_index(statement) {
        1061
    } else {
        return false;
    };
    dialect == Dialect::MySql
        && error
            .as_database_error()
            .is_some_and(|e| mysql_error_number(e) == Some(expected))
}

/// An `ALTER TABLE t ADD COLUMN …` statement.
fn is_add_column(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE ") && upper.contains(" ADD COLUMN ")
}

/// An `ALTER TABLE t ADD INDEX …` statement.
fn is_add_index(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE ") && upper.contains(" ADD INDEX ")
}

/// A MySQL/MariaDB server error's number (1060 …).
#[cfg(feature = "mysql")]
fn mysql_error_number(e: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(sqlx::mysql::MySqlDatabaseError::number)
}

#[cfg(not(feature = "mysql"))]
fn mysql_error_number(_: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    None
}

/// The statements of a migration file, `{prefix}` replaced by `prefix` (see the module docs for
/// how the file is read).
pub(crate) fn statements(sql: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        if !current.is_empty() && !current.ends_with('(') && !line.starts_with(')') {
            current.push(' ');
        }
        match line.strip_suffix(';') {
            Some(last) => {
                current.push_str(last.trim_end());
                out.push(std::mem::take(&mut current).replace("{prefix}", prefix));
            }
            None => current.push_str(line),
        }
    }
    if !current.is_empty() {
        out.push(current.replace("{prefix}", prefix));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_joined_and_prefixed() {
        let sql = "-- a comment\n\nCREATE TABLE {prefix}t (\n    a INT,\n    b TEXT\n) ENGINE = X;\n\
                   CREATE INDEX {prefix}t_a ON {prefix}t (a);\n";
        assert_eq!(
            statements(sql, "p_"),
            [
                "CREATE TABLE p_t (a INT, b TEXT) ENGINE = X",
                "CREATE INDEX p_t_a ON p_t (a)",
            ]
        );
    }

    #[test]
    fn the_version_table_is_one_statement() {
        assert_eq!(
            statements(VERSION_TABLE, "rsched_"),
            ["CREATE TABLE IF NOT EXISTS rsched_schema_version (version BIGINT NOT NULL)"]
        );
    }

    /// The steps are versions 1, 2, … up to this build's, each in a file `NNNN_name.sql` ending
    /// its last statement with `;`.
    fn check_steps(steps: &[Migration]) {
        let versions: Vec<i64> = steps.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=crate::SCHEMA_VERSION).collect::<Vec<_>>());
        for m in steps {
            assert!(
                m.file.starts_with(&format!("{:04}_", m.version)) && m.file.ends_with(".sql"),
                "{}",
                m.file
            );
            assert!(m.sql.trim_end().ends_with(';'), "{}", m.file);
            assert!(!statements(m.sql, "p_").is_empty(), "{}", m.file);
        }
    }

    /// The statements the files give, in the order `migrate` runs them from an empty database
    /// (with the version rows it writes), are the ones `tests/fixtures/<name>_current.sql` pins:
    /// the statements earlier builds ran, byte for byte, up to the fixture's schema version (the
    /// steps after it are what a database the fixture describes is migrated with). (The
    /// fixtures are not in the published package, which skips this; integration-tests'
    /// `sql_migration` runs them on live servers.)
    fn check_against_fixture(dialect: Dialect, name: &str) {
        let path = format!(
            "{}/tests/fixtures/{name}_current.sql",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(fixture) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: no {path}");
            return;
        };
        let pinned: Vec<String> = statements(&fixture, "{prefix}")
            .into_iter()
            .take_while(|s| {
                !s.starts_with("INSERT") || s.starts_with("INSERT INTO {prefix}schema_version")
            })
            .collect();
        let version_row = "INSERT INTO {prefix}schema_version (version) VALUES (";
        let pinned_version: i64 = pinned
            .iter()
            .filter_map(|s| s.strip_prefix(version_row)?.strip_suffix(')')?.parse().ok())
            .max()
            .unwrap_or_else(|| panic!("{path} writes no version row"));
        assert!(pinned_version <= crate::SCHEMA_VERSION, "{path}");
        let mut expected = statements(VERSION_TABLE, "{prefix}");
        for m in of(dialect).iter().filter(|m| m.version <= pinned_version) {
            expected.extend(statements(m.sql, "{prefix}"));
            expected.push(format!("{version_row}{})", m.version));
        }
        assert_eq!(expected, pinned, "{dialect:?}");
    }

    /// Schema version 4 adds `attempt`, `backfill` and `result` to `{prefix}runs`, `attempt`,
    /// `backfill_until` and `job_state` to `{prefix}running`, and the `{prefix}calendars`
    /// table. The columns are added only if missing on PostgreSQL; one per statement on MySQL
    /// (no `IF NOT EXISTS` there: MySQL 8 lacks it; the runner takes error 1060 instead) and on
    /// SQLite (which lacks it too, and relies on the step's transaction).
    #[test]
    fn step_4_adds_the_retry_backfill_and_calendar_schema() {
        for (dialect, name) in [
            (Dialect::Sqlite, "sqlite"),
            (Dialect::Postgres, "postgres"),
            (Dialect::MySql, "mysql"),
        ] {
            if Dialect::from_url(&format!("{name}://")).is_err() {
                continue; // not in this build
            }
            let step = of(dialect).iter().find(|m| m.version == 4).expect("step 4");
            let statements = statements(step.sql, "p_");
            let sql = statements.join(";\n");
            let columns = [
                ("p_runs", "attempt"),
                ("p_runs", "backfill"),
                ("p_runs", "result"),
                ("p_running", "attempt"),
                ("p_running", "backfill_until"),
                ("p_running", "job_state"),
            ];
            for (table, column) in columns {
                let found = if dialect == Dialect::Postgres {
                    statements.iter().any(|s| {
                        s.starts_with(&format!("ALTER TABLE {table} "))
                            && s.contains(&format!("ADD COLUMN IF NOT EXISTS {column} "))
                    })
                } else {
                    statements.iter().any(|s| {
                        s.starts_with(&format!("ALTER TABLE {table} ADD COLUMN {column} "))
                    })
                };
                assert!(found, "{name}: {table}.{column}: {sql}");
            }
            assert!(
                sql.contains("CREATE TABLE IF NOT EXISTS p_calendars ("),
                "{name}: {sql}"
            );
            for s in &statements {
                if dialect == Dialect::Postgres || !s.starts_with("ALTER") {
                    continue;
                }
                assert!(!s.contains("IF NOT EXISTS"), "{name}: {s}");
                assert_eq!(s.matches("ADD COLUMN").count(), 1, "{name}: {s}");
                assert!(is_add_column(s), "{name}: {s}");
            }
        }
    }

    /// Schema version 5 adds `stop` to `{prefix}running` and the index of a job's queue. On
    /// PostgreSQL both say `IF NOT EXISTS`; on MySQL neither does (MySQL 8 lacks both: the
    /// runner takes errors 1060 and 1061 instead), one column or index per `ALTER`; SQLite adds
    /// the column plainly (in the step's transaction) and the index `IF NOT EXISTS`.
    #[test]
    fn step_5_adds_the_stop_column_and_the_queue_index() {
        for (dialect, name) in [
            (Dialect::Sqlite, "sqlite"),
            (Dialect::Postgres, "postgres"),
            (Dialect::MySql, "mysql"),
        ] {
            if Dialect::from_url(&format!("{name}://")).is_err() {
                continue; // not in this build
            }
            let step = of(dialect).iter().find(|m| m.version == 5).expect("step 5");
            assert_eq!(step.file, "0005_overlap.sql");
            let statements = statements(step.sql, "p_");
            assert_eq!(statements.len(), 2, "{name}: {statements:?}");
            let (column, index) = (&statements[0], &statements[1]);
            match dialect {
                Dialect::Postgres => {
                    assert!(
                        column.starts_with(
                            "ALTER TABLE p_running ADD COLUMN IF NOT EXISTS stop VARCHAR(16)"
                        ),
                        "{column}"
                    );
                    assert!(
                        index.starts_with("CREATE INDEX IF NOT EXISTS p_running_job_owner ON p_running (job_id, owner"),
                        "{index}"
                    );
                }
                Dialect::MySql => {
                    assert!(
                        column.starts_with("ALTER TABLE p_running ADD COLUMN stop VARCHAR(16) "),
                        "{column}"
                    );
                    assert!(column.ends_with(" NULL"), "{column}");
                    assert!(
                        index.starts_with(
                            "ALTER TABLE p_running ADD INDEX p_running_job_owner (job_id, owner"
                        ),
                        "{index}"
                    );
                    for s in &statements {
                        assert!(!s.contains("IF NOT EXISTS"), "{s}");
                        assert_eq!(s.matches(" ADD ").count(), 1, "{s}");
                    }
                    assert!(is_add_column(column) && !is_add_index(column), "{column}");
                    assert!(is_add_index(index) && !is_add_column(index), "{index}");
                }
                Dialect::Sqlite => {
                    assert_eq!(column, "ALTER TABLE p_running ADD COLUMN stop TEXT");
                    assert!(
                        index.starts_with("CREATE INDEX IF NOT EXISTS p_running_job_owner ON p_running (job_id, owner"),
                        "{index}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_mysql_add_column_and_add_index_statements_may_find_their_work_done() {
        assert!(is_add_column(
            "ALTER TABLE p_runs ADD COLUMN attempt INT NOT NULL DEFAULT 1"
        ));
        assert!(is_add_column("alter table p_runs add column x int"));
        assert!(!is_add_column(
            "CREATE TABLE IF NOT EXISTS p_calendars (name TEXT)"
        ));
        assert!(!is_add_column("ALTER TABLE p_runs DROP COLUMN attempt"));
        assert!(is_add_index(
            "ALTER TABLE p_running ADD INDEX p_running_job_owner (job_id, owner)"
        ));
        assert!(!is_add_index(
            "CREATE INDEX IF NOT EXISTS p_running_job ON p_running (job_id)"
        ));
        assert!(!is_add_index(
            "ALTER TABLE p_running DROP INDEX p_running_job"
        ));
        let other = sqlx::Error::Protocol("not a server error".to_owned());
        assert!(!already_applied(
            Dialect::MySql,
            "ALTER TABLE p_runs ADD COLUMN attempt INT",
            &other
        ));
    }

    #[test]
    fn the_steps_of_each_dialect_match_the_pinned_schema() {
        for (dialect, name) in [
            (Dialect::Sqlite, "sqlite"),
            (Dialect::Postgres, "postgres"),
            (Dialect::MySql, "mysql"),
        ] {
            if Dialect::from_url(&format!("{name}://")).is_err() {
                continue; // not in this build
            }
            check_steps(of(dialect));
            check_against_fixture(dialect, name);
        }
    }
}
