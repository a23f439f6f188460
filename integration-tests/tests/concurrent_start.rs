//! Replicas started together on a fresh schema all start (what a Kubernetes deployment or
//! `docker compose up --scale` does): five stores opened at the same moment on the same new
//! table prefix or collection, each with its own pool or client — to the database, five
//! processes. Migrations are serialised per database and prefix, so each step runs and is
//! recorded once.

use std::sync::Arc;

use rsched::sql::{SCHEMA_VERSION, SqlJobStore, SqlOptions};
use rsched::{ErrorKind, JobStore as _};
use tokio::sync::Barrier;

const REPLICAS: usize = 5;

/// Opens `REPLICAS` stores at once; `None` when the server is not reachable (and the run is
/// not strict).
async fn open_together<S, F, Fut>(what: &str, open: F) -> Option<Vec<S>>
where
    S: Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = rsched::Result<S>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(REPLICAS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..REPLICAS {
        let barrier = barrier.clone();
        let opening = open();
        tasks.spawn(async move {
            barrier.wait().await;
            opening.await
        });
    }
    let mut stores = Vec::new();
    let mut errors = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.expect("no panic") {
            Ok(store) => stores.push(store),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty()
        && errors.iter().all(|e| e.kind() == ErrorKind::Unavailable)
        && !integration_tests::strict()
    {
        eprintln!("skipped: {what} is not reachable: {}", errors[0]);
        return None;
    }
    assert!(
        errors.is_empty(),
        "{what}: {} of {REPLICAS} replicas failed to start: {}",
        errors.len(),
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    Some(stores)
}

async fn sql_replicas_start_together(url: String, what: &str) {
    let prefix = format!("cs{}_{}_", std::process::id(), fastrand::u32(..));
    let opened = open_together(what, || {
        let url = url.clone();
        let options = SqlOptions {
            table_prefix: prefix.clone(),
            ..SqlOptions::default()
        };
        async move { SqlJobStore::open(&url, options).await }
    })
    .await;
    let Some(stores) = opened else { return };
    for store in &stores {
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    }
    // Each step recorded once: nobody migrated what another had done.
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url.replacen("mariadb://", "mysql://", 1))
        .await
        .unwrap();
    let steps: i64 = sqlx::Row::get(
        &sqlx::query(&format!("SELECT COUNT(*) FROM {prefix}schema_version"))
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        0,
    );
    // Every replica works on the one schema.
    let job = integration_tests::conformance::job("a", None);
    stores[1].add_job(&job).await.unwrap();
    let seen = stores[REPLICAS - 1].lookup_job("a").await.unwrap();
    stores[0].destroy().await.unwrap();
    assert_eq!(steps, SCHEMA_VERSION, "{what}: one version row per step");
    assert!(
        seen.is_some(),
        "{what}: a job added by one replica is seen by another"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_start_together() {
    let url = integration_tests::backends::postgres_url();
    sql_replicas_start_together(url, "PostgreSQL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_replicas_start_together() {
    let url = integration_tests::backends::mysql_url();
    sql_replicas_start_together(url, "MySQL/MariaDB").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_replicas_start_together() {
    let path = std::env::temp_dir().join(format!(
        "rsched-cs-{}-{}.db",
        std::process::id(),
        fastrand::u32(..)
    ));
    sql_replicas_start_together(format!("sqlite://{}", path.display()), "SQLite").await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// MongoDB needs no lock: `createIndexes` with the same name and keys is idempotent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_replicas_start_together() {
    let url = integration_tests::backends::mongo_url();
    let collection = format!("cs{}_{}_jobs", std::process::id(), fastrand::u32(..));
    let opened = open_together("MongoDB", || {
        let url = url.clone();
        let options = rsched::mongo::MongoOptions {
            collection: collection.clone(),
        };
        async move { rsched::mongo::MongoJobStore::open(&url, options).await }
    })
    .await;
    let Some(stores) = opened else { return };
    for store in &stores {
        assert!(store.get_all_jobs().await.unwrap().is_empty());
    }
    stores[0].destroy().await.unwrap();
}
