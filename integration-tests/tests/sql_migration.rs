//! Existing SQL databases keep working. For each dialect, the schema and rows an earlier build
//! wrote (`store-sql/tests/fixtures/<dialect>_current.sql`) are loaded, opened with today's
//! store (migrations on), read back and used; and a fresh store's schema (columns, types,
//! indexes) equals that pinned one, so a change to `store-sql/migrations/**` that alters the
//! schema fails here.
//!
//! Servers as in the conformance suite: `RSCHED_TEST_POSTGRES_URL`, `RSCHED_TEST_MYSQL_URL`; one
//! that cannot be reached skips its test, or fails it under `RSCHED_TEST_STRICT=1`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::conformance::{at, job};
use integration_tests::strict;
use rsched::sql::{SCHEMA_VERSION, SqlJobStore, SqlOptions};
use rsched::{JobStore, Release, Retention, RunOutcome, RunRecord};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection as _, Row as _};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

/// The tables a store keeps, without the prefix.
const TABLES: [&str; 5] = ["jobs", "runs", "running", "calendars", "schema_version"];

/// The pinned schema and rows of `dialect`, `{prefix}` for the table prefix.
fn fixture(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => include_str!("../../store-sql/tests/fixtures/sqlite_current.sql"),
        Dialect::Postgres => include_str!("../../store-sql/tests/fixtures/postgres_current.sql"),
        Dialect::MySql => include_str!("../../store-sql/tests/fixtures/mysql_current.sql"),
    }
}

/// A fixture's statements (one a line, each ending with `;`; `--` lines are comments), with the
/// prefix filled in.
fn statements(fixture: &str, prefix: &str) -> Vec<String> {
    fixture
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("--"))
        .map(|line| {
            line.strip_suffix(';')
                .unwrap_or_else(|| panic!("a fixture statement must end its line with ';': {line}"))
                .replace("{prefix}", prefix)
        })
        .collect()
}

/// A text column, which MySQL may hand over as bytes.
fn string(row: &AnyRow) -> String {
    row.try_get::<String, _>(0).unwrap_or_else(|_| {
        String::from_utf8(row.try_get::<Vec<u8>, _>(0).expect("a text column")).expect("UTF-8")
    })
}

/// The schema of the tables with `prefix`: one line per table, column, index (and, on
/// PostgreSQL, constraint), the prefix replaced by `{prefix}`, sorted. On SQLite this includes
/// the `CREATE` text SQLite keeps, so the statements must match byte for byte.
async fn schema(conn: &mut AnyConnection, dialect: Dialect, prefix: &str) -> Vec<String> {
    let names = TABLES
        .iter()
        .map(|t| format!("'{prefix}{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut queries = Vec::new();
    match dialect {
        Dialect::Sqlite => {
            queries.push(format!(
                "SELECT 'object|' || type || '|' || name || '|' || tbl_name || '|' || COALESCE(sql, 'NULL') \
                 FROM sqlite_master WHERE tbl_name IN ({names})"
            ));
            for t in TABLES {
                queries.push(format!(
                    "SELECT 'column|{prefix}{t}|' || cid || '|' || name || '|' || type || '|' || \"notnull\" \
                     || '|' || COALESCE(dflt_value, 'NULL') || '|' || pk FROM pragma_table_info('{prefix}{t}')"
                ));
            }
        }
        Dialect::Postgres => {
            queries.push(format!(
                "SELECT concat_ws('|', 'column', table_name, ordinal_position, column_name, data_type, \
                 COALESCE(character_maximum_length::text, 'NULL'), is_nullable, \
                 COALESCE(column_default::text, 'NULL'), COALESCE(collation_name::text, 'NULL'))::text \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ({names})"
            ));
            queries.push(format!(
                "SELECT concat_ws('|', 'index', tablename, indexname, indexdef)::text \
                 FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ({names})"
            ));
            queries.push(format!(
                "SELECT concat_ws('|', 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid))::text \
                 FROM pg_constraint WHERE conrelid::regclass::text IN ({names})"
            ));
        }
        Dialect::MySql => {
            queries.push(format!(
                "SELECT CONCAT_WS('|', 'table', TABLE_NAME, ENGINE, TABLE_COLLATION) \
                 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({names})"
            ));
            queries.push(format!(
                "SELECT CONCAT_WS('|', 'column', TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, \
                 IS_NULLABLE, COALESCE(COLUMN_DEFAULT, 'NULL'), COALESCE(CHARACTER_SET_NAME, 'NULL'), \
                 COALESCE(COLLATION_NAME, 'NULL'), COLUMN_KEY, EXTRA) \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({names})"
            ));
            queries.push(format!(
                "SELECT CONCAT_WS('|', 'index', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE) \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({names})"
            ));
        }
    }
    let mut lines = Vec::new();
    for query in queries {
        let rows = sqlx::query(&query)
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        lines.extend(
            rows.iter()
                .map(|row| string(row).replace(prefix, "{prefix}")),
        );
    }
    lines.sort();
    lines
}

/// A database of `dialect` to test in: its URL, and the SQLite file to remove afterwards.
fn target(dialect: Dialect, prefix: &str) -> (String, Option<PathBuf>) {
    match dialect {
        Dialect::Sqlite => {
            let path = std::env::temp_dir().join(format!("rsched-{prefix}.db"));
            (format!("sqlite://{}?mode=rwc", path.display()), Some(path))
        }
        Dialect::Postgres => (integration_tests::backends::postgres_url(), None),
        Dialect::MySql => (
            integration_tests::backends::mysql_url().replacen("mariadb://", "mysql://", 1),
            None,
        ),
    }
}

async fn open(url: &str, prefix: &str) -> SqlJobStore {
    let options = SqlOptions {
        table_prefix: prefix.to_owned(),
        ..SqlOptions::default()
    };
    SqlJobStore::open(url, options)
        .await
        .unwrap_or_else(|e| panic!("opening the store with prefix {prefix}: {e}"))
}

/// `(id, func, next_run_time)` of each job.
fn summary(jobs: &[rsched::Job]) -> Vec<(String, String, Option<DateTime<Utc>>)> {
    jobs.iter()
        .map(|j| (j.id().to_owned(), j.func().to_owned(), j.next_run_time()))
        .collect()
}

fn row(id: &str, next: Option<DateTime<Utc>>) -> (String, String, Option<DateTime<Utc>>) {
    (id.to_owned(), "app:tick".to_owned(), next)
}

/// Lines of `left` missing from `right`.
fn missing(left: &[String], right: &[String]) -> Vec<String> {
    left.iter()
        .filter(|l| !right.contains(l))
        .cloned()
        .collect()
}

/// The case on one dialect, in its own tables (dropped afterwards, whatever the outcome).
async fn migrates_from_the_current_schema(dialect: Dialect, what: &'static str) {
    let run = format!("mig{}_{}_", std::process::id(), fastrand::u32(..));
    let (old, fresh) = (format!("{run}o_"), format!("{run}n_"));
    let (url, file) = target(dialect, &run);
    sqlx::any::install_default_drivers();
    let conn = match AnyConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) if !strict() => {
            eprintln!("skipped: {what} is not reachable at {url}: {e}");
            return;
        }
        Err(e) => panic!("{what} is not reachable at {url}: {e}"),
    };
    let case = tokio::spawn(check(
        dialect,
        what,
        conn,
        url.clone(),
        old.clone(),
        fresh.clone(),
    ))
    .await;
    if let Ok(mut conn) = AnyConnection::connect(&url).await {
        for prefix in [&old, &fresh] {
            for table in TABLES {
                let _ = sqlx::query(&format!("DROP TABLE IF EXISTS {prefix}{table}"))
                    .execute(&mut conn)
                    .await;
            }
        }
        let _ = conn.close().await;
    }
    if let Some(path) = file {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    if let Err(e) = case {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn check(
    dialect: Dialect,
    what: &'static str,
    mut conn: AnyConnection,
    url: String,
    old: String,
    fresh: String,
) {
    // The database as the earlier build left it.
    for statement in statements(fixture(dialect), &old) {
        sqlx::query(&statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    let store = open(&url, &old).await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(store.migrate().await.unwrap(), SCHEMA_VERSION);
    // No step ran again: the version table holds just the rows the earlier build wrote.
    let versions: Vec<i64> = sqlx::query(&format!(
        "SELECT version FROM {old}schema_version ORDER BY version"
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());

    // The rows read back as the jobs, history and runs they were.
    let jobs = store.get_all_jobs().await.unwrap();
    assert_eq!(
        summary(&jobs),
        [
            row("gamma", Some(at(60))),
            row("alpha", Some(at(3600))),
            row("beta", None),
        ]
    );
    for job in &jobs {
        assert_eq!(job.fire_time(), job.next_run_time(), "{}", job.id());
        assert_eq!(job.args(), [json!(1), json!("two")], "{}", job.id());
        assert_eq!(job.kwargs().get("k"), Some(&json!("v")), "{}", job.id());
    }
    assert!(store.quarantined_jobs().await.unwrap().is_empty());
    // gamma's lease (held by the earlier build's scheduler) expires at 90 s.
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(at(90)));
    let history = store.history().expect("SQL stores keep run history");
    assert_eq!(
        history.job_runs("alpha", 10).await.unwrap(),
        [RunRecord {
            job_id: Arc::from("alpha"),
            scheduled_run_time: at(0),
            started: Some(at(1)),
            finished: Some(at(2)),
            outcome: RunOutcome::Error,
            error: Some("it's broken".to_owned()),
            scheduler_id: Arc::from("old-scheduler"),
            // Columns schema version 4 added, read as their defaults.
            attempt: 1,
            backfill: false,
            result: None,
        }]
    );
    let running = store.running().expect("SQL stores keep runs in progress");
    assert_eq!(
        running
            .running_counts(&[Arc::from("gamma"), Arc::from("alpha")], at(61))
            .await
            .unwrap(),
        [1, 0]
    );
    let expired = running.expired_runs(at(100), "nobody", 10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(&*expired[0].run_id, "0123456789abcdef0123456789abcdef");
    assert_eq!(expired[0].expires, at(91));
    assert_eq!(expired[0].attempt, 1);
    assert_eq!(expired[0].backfill_until, None);
    assert_eq!(expired[0].job_state, None);

    // The columns schema version 4 added take values.
    let retried = RunRecord {
        scheduled_run_time: at(30),
        outcome: RunOutcome::Success,
        error: None,
        attempt: 2,
        backfill: true,
        result: Some(json!({"rows": 3})),
        ..history.job_runs("alpha", 1).await.unwrap().remove(0)
    };
    history
        .record_runs(
            std::slice::from_ref(&retried),
            Retention {
                per_job: 10,
                max_age: Duration::from_secs(86_400),
            },
        )
        .await
        .unwrap();
    assert_eq!(history.job_runs("alpha", 1).await.unwrap(), [retried]);
    let pending = rsched::RunningRun {
        owner: Arc::from(rsched::PENDING_OWNER),
        started: at(95),
        expires: at(95),
        attempt: 2,
        backfill_until: Some(at(3600)),
        job_state: Some(Arc::from(r#"{"version":1,"id":"gamma"}"#)),
        ..expired[0].clone()
    };
    assert!(
        running
            .reschedule_run("old-scheduler", &pending)
            .await
            .unwrap()
    );
    assert_eq!(
        running.expired_runs(at(100), "nobody", 10).await.unwrap(),
        [pending]
    );
    let calendars = store.calendar_store().expect("SQL stores keep calendars");
    assert!(calendars.load_calendars().await.unwrap().is_empty());
    calendars
        .save_calendar("holidays", r#"{"type":"dates","dates":["2026-12-25"]}"#)
        .await
        .unwrap();
    assert_eq!(calendars.load_calendars().await.unwrap().len(), 1);

    // And the store works on: a job added, acquired (with the expired lease and the due job),
    // released.
    store.add_job(&job("delta", Some(at(120)))).await.unwrap();
    let lease = Duration::from_secs(30);
    let acquired = store
        .acquire_due_jobs("new-scheduler", at(7200), lease, 10)
        .await
        .unwrap();
    assert_eq!(
        summary(&acquired),
        [
            row("gamma", Some(at(60))),
            row("delta", Some(at(120))),
            row("alpha", Some(at(3600))),
        ]
    );
    let results = store
        .release_jobs(
            "new-scheduler",
            &[
                (Arc::from("gamma"), Release::Remove),
                (
                    Arc::from("delta"),
                    Release::Reschedule {
                        next_run_time: at(9000),
                        fire_time: at(9000),
                    },
                ),
                (Arc::from("alpha"), Release::Unchanged),
            ],
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        summary(&store.get_all_jobs().await.unwrap()),
        [
            row("alpha", Some(at(3600))),
            row("delta", Some(at(9000))),
            row("beta", None),
        ]
    );
    assert_eq!(store.get_next_run_time().await.unwrap(), Some(at(3600)));
    let again = store
        .acquire_due_jobs("another-scheduler", at(7200), lease, 10)
        .await
        .unwrap();
    assert_eq!(summary(&again), [row("alpha", Some(at(3600)))]);
    store
        .release_job("another-scheduler", "alpha", Release::Unchanged)
        .await
        .unwrap();

    // A fresh store's schema is the pinned one.
    let new_store = open(&url, &fresh).await;
    let pinned = schema(&mut conn, dialect, &old).await;
    for table in TABLES {
        let table = format!("{{prefix}}{table}|");
        assert!(
            pinned.iter().any(|line| line.contains(&table)),
            "{table} missing from {pinned:#?}"
        );
    }
    let created = schema(&mut conn, dialect, &fresh).await;
    assert!(
        created == pinned,
        "a fresh {what} store's schema differs from store-sql/tests/fixtures/: \
         only in the fresh store: {:#?}; only in the fixture's: {:#?}",
        missing(&created, &pinned),
        missing(&pinned, &created)
    );

    // destroy drops all five tables of its prefix, and only those.
    store.destroy().await.unwrap();
    assert_eq!(schema(&mut conn, dialect, &old).await, Vec::<String>::new());
    assert_eq!(schema(&mut conn, dialect, &fresh).await, pinned);
    new_store.destroy().await.unwrap();
    assert_eq!(
        schema(&mut conn, dialect, &fresh).await,
        Vec::<String>::new()
    );

    store.close().await;
    new_store.close().await;
    conn.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_migrates_from_the_current_schema() {
    migrates_from_the_current_schema(Dialect::Sqlite, "SQLite").await;
}

#[tokio::test]
async fn postgres_migrates_from_the_current_schema() {
    migrates_from_the_current_schema(Dialect::Postgres, "PostgreSQL").await;
}

#[tokio::test]
async fn mysql_migrates_from_the_current_schema() {
    migrates_from_the_current_schema(Dialect::MySql, "MySQL/MariaDB").await;
}

/// A step cut off after some of its statements but before its version row (a crash, a lost
/// connection) runs again on the next start and completes: on PostgreSQL its statements say
/// `IF NOT EXISTS`; on MySQL/MariaDB an `ADD COLUMN` of a column already there fails with
/// error 1060, which the runner takes as done. (SQLite runs a step and its version row in one
/// transaction: it cannot be cut off half-way.)
async fn a_step_cut_off_before_its_version_row_runs_again(dialect: Dialect, what: &'static str) {
    let prefix = format!("cut{}_{}_", std::process::id(), fastrand::u32(..));
    let (url, _) = target(dialect, &prefix);
    sqlx::any::install_default_drivers();
    let conn = match AnyConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) if !strict() => {
            eprintln!("skipped: {what} is not reachable at {url}: {e}");
            return;
        }
        Err(e) => panic!("{what} is not reachable at {url}: {e}"),
    };
    let outcome = tokio::spawn(cut_off(dialect, conn, url.clone(), prefix.clone())).await;
    let store = open(&url, &prefix).await;
    store.destroy().await.unwrap();
    store.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn cut_off(dialect: Dialect, mut conn: AnyConnection, url: String, prefix: String) {
    let store = open(&url, &prefix).await;
    {
        // Schema version 4 as a cut-off step leaves it: its first columns added, the rest
        // (and the calendars table) missing, no version row.
        let undo = match dialect {
            Dialect::MySql => vec![
                format!("ALTER TABLE {prefix}running DROP COLUMN job_state"),
                format!("ALTER TABLE {prefix}running DROP COLUMN backfill_until"),
                format!("DROP TABLE {prefix}calendars"),
            ],
            _ => vec![
                format!(
                    "ALTER TABLE {prefix}running DROP COLUMN job_state, DROP COLUMN backfill_until"
                ),
                format!("DROP TABLE {prefix}calendars"),
            ],
        };
        for statement in undo.into_iter().chain([format!(
            "DELETE FROM {prefix}schema_version WHERE version >= 4"
        )]) {
            sqlx::query(&statement)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        assert_eq!(store.schema_version().await.unwrap(), 3);
        let again = open(&url, &prefix).await;
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
        let versions: Vec<i64> = sqlx::query(&format!(
            "SELECT version FROM {prefix}schema_version ORDER BY version"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
        // The columns and table the step had not reached are there and work.
        let running = again.running().unwrap();
        let pending = rsched::RunningRun {
            run_id: Arc::from("r1"),
            job_id: Arc::from("j"),
            scheduled_run_time: at(0),
            started: at(0),
            owner: Arc::from(rsched::PENDING_OWNER),
            expires: at(10),
            attempt: 2,
            backfill_until: Some(at(60)),
            job_state: Some(Arc::from("{}")),
        };
        running
            .begin_runs(std::slice::from_ref(&pending))
            .await
            .unwrap();
        assert_eq!(
            running.expired_runs(at(20), "", 10).await.unwrap(),
            [pending]
        );
        let calendars = again.calendar_store().unwrap();
        calendars.save_calendar("c", "{}").await.unwrap();
        assert_eq!(
            calendars.load_calendars().await.unwrap(),
            [("c".to_owned(), "{}".to_owned())]
        );
        again.close().await;
    }
    store.close().await;
    let _ = conn.close().await;
}

#[tokio::test]
async fn postgres_step_cut_off_before_its_version_row_runs_again() {
    a_step_cut_off_before_its_version_row_runs_again(Dialect::Postgres, "PostgreSQL").await;
}

#[tokio::test]
async fn mysql_step_cut_off_before_its_version_row_runs_again() {
    a_step_cut_off_before_its_version_row_runs_again(Dialect::MySql, "MySQL/MariaDB").await;
}

/// A migration that fails says it is a migration failure and names the statement, and the
/// configuration error names the store, not its URL (the URL was fine).
#[tokio::test]
async fn a_failed_migration_names_itself_and_its_statement_not_the_url() {
    let path = std::env::temp_dir().join(format!(
        "rsched-mig-fail-{}-{}.db",
        std::process::id(),
        fastrand::u32(..)
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    sqlx::any::install_default_drivers();
    {
        // A table in the way: `{prefix}jobs` exists without the columns the index needs.
        let mut conn = AnyConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE mf_jobs (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let config = rsched::Config::parse(&format!(
        "[jobstores.default]\nurl = \"sqlite://{}\"\nprefix = \"mf_\"\n",
        path.display()
    ))
    .unwrap();
    let error = config
        .build_scheduler(rsched::registry_with_builtins())
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    assert!(error.contains("jobstores.default: "), "{error}");
    assert!(!error.contains("jobstores.default.url"), "{error}");
    assert!(
        error.contains("migrating job store tables 'mf_*' to schema version 1: CREATE INDEX"),
        "{error}"
    );
}
