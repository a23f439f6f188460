//! The stores under test. Server URLs come from `RSCHED_TEST_POSTGRES_URL` and
//! `RSCHED_TEST_MYSQL_URL` (defaults: the local servers of the development machine). A server
//! that cannot be reached skips the case, or fails it under `RSCHED_TEST_STRICT=1`.

use std::sync::Arc;

use rsched::JobStore;
use rsched::memory::MemoryJobStore;
use rsched::sql::{SqlJobStore, SqlOptions};

use crate::conformance::{Backend, Offers};
use crate::strict;

/// The in-process store. Nothing outlives the store value, so `reopen` hands back the store
/// the case opened.
#[derive(Debug, Default)]
pub struct Memory {
    stores: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn JobStore>>>,
}

#[async_trait::async_trait]
impl Backend for Memory {
    /// Opened `with_history`: run history and calendars, nothing else.
    fn offers(&self) -> Offers {
        Offers {
            history: true,
            calendars: true,
            ..Offers::default()
        }
    }

    async fn open(&self, ns: &str) -> Option<Arc<dyn JobStore>> {
        let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::with_history());
        self.stores
            .lock()
            .unwrap()
            .insert(ns.to_owned(), store.clone());
        Some(store)
    }

    async fn reopen(&self, _ns: &str) -> Option<Arc<dyn JobStore>> {
        None
    }

    async fn corrupt(&self, _ns: &str, _id: &str) -> bool {
        false
    }

    async fn cleanup(&self, ns: &str) {
        self.stores.lock().unwrap().remove(ns);
    }
}

/// A SQL server or file, one table prefix per case.
#[derive(Debug)]
pub struct Sql {
    url: fn(&str) -> String,
    what: &'static str,
    notifications: bool,
    server_clock: bool,
}

impl Sql {
    /// SQLite: one database file per case, in the temp directory.
    pub const SQLITE: Sql = Sql {
        url: sqlite_url,
        what: "SQLite",
        notifications: false,
        server_clock: false,
    };
    /// PostgreSQL at `RSCHED_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
    pub const POSTGRES: Sql = Sql {
        url: |_| postgres_url(),
        what: "PostgreSQL",
        notifications: true,
        server_clock: true,
    };
    /// MySQL/MariaDB at `RSCHED_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`).
    pub const MYSQL: Sql = Sql {
        url: |_| mysql_url(),
        what: "MySQL/MariaDB",
        notifications: false,
        server_clock: true,
    };

    async fn connect(&self, ns: &str) -> Option<SqlJobStore> {
        let url = (self.url)(ns);
        let options = SqlOptions {
            table_prefix: ns.to_owned(),
            ..SqlOptions::default()
        };
        match SqlJobStore::open(&url, options).await {
            Ok(store) => Some(store),
            Err(e) if !strict() => {
                eprintln!("skipped: {} is not reachable at {url}: {e}", self.what);
                None
            }
            Err(e) => panic!("{} is not reachable at {url}: {e}", self.what),
        }
    }
}

fn sqlite_url(ns: &str) -> String {
    let path = std::env::temp_dir().join(format!("rsched-it-{ns}.db"));
    format!("sqlite://{}", path.display())
}

/// The PostgreSQL server under test: `RSCHED_TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    std::env::var("RSCHED_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The MySQL/MariaDB server under test: `RSCHED_TEST_MYSQL_URL`, default
/// `mysql://root@127.0.0.1:3306/test`.
pub fn mysql_url() -> String {
    std::env::var("RSCHED_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

#[async_trait::async_trait]
impl Backend for Sql {
    /// Persistent and shared, with run history, runs in progress and calendars; change
    /// notifications on PostgreSQL only (`LISTEN`/`NOTIFY`); a server clock except on SQLite.
    fn offers(&self) -> Offers {
        Offers {
            persistent: true,
            shared: true,
            history: true,
            running: true,
            notifications: self.notifications,
            server_clock: self.server_clock,
            calendars: true,
        }
    }

    async fn open(&self, ns: &str) -> Option<Arc<dyn JobStore>> {
        let store = self.connect(ns).await?;
        Some(Arc::new(store))
    }

    async fn reopen(&self, ns: &str) -> Option<Arc<dyn JobStore>> {
        let store = self.connect(ns).await?;
        Some(Arc::new(store))
    }

    async fn corrupt(&self, ns: &str, id: &str) -> bool {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let url = (self.url)(ns).replacen("mariadb://", "mysql://", 1);
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        // Test ids are plain; the prefix is validated by the store.
        let sql = format!(
            "UPDATE {ns}jobs SET state = '{{\"version\": 1, \"id\": ' WHERE id = '{}'",
            id.replace('\'', "''")
        );
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
        true
    }

    async fn cleanup(&self, ns: &str) {
        if let Some(store) = self.connect(ns).await {
            store.destroy().await.unwrap();
            store.close().await;
        }
        if (self.url)(ns).starts_with("sqlite://") {
            let path = std::env::temp_dir().join(format!("rsched-it-{ns}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// Redis at `RSCHED_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/0`), one key prefix per case.
#[derive(Debug, Default)]
pub struct Redis;

/// The Redis server under test: `RSCHED_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/0`.
pub fn redis_url() -> String {
    std::env::var("RSCHED_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned())
}

impl Redis {
    async fn connect(&self, ns: &str) -> Option<rsched::redis::RedisJobStore> {
        let url = redis_url();
        match rsched::redis::RedisJobStore::open(
            &url,
            rsched::redis::RedisOptions {
                prefix: format!("{ns}:"),
            },
        )
        .await
        {
            Ok(store) => Some(store),
            Err(e) if !strict() => {
                eprintln!("skipped: Redis is not reachable at {url}: {e}");
                None
            }
            Err(e) => panic!("Redis is not reachable at {url}: {e}"),
        }
    }
}

#[async_trait::async_trait]
impl Backend for Redis {
    /// Everything: persistent, shared, history, runs in progress, notifications (pub/sub),
    /// calendars.
    fn offers(&self) -> Offers {
        Offers {
            persistent: true,
            shared: true,
            history: true,
            running: true,
            notifications: true,
            server_clock: true,
            calendars: true,
        }
    }

    async fn open(&self, ns: &str) -> Option<Arc<dyn JobStore>> {
        Some(Arc::new(self.connect(ns).await?))
    }

    async fn reopen(&self, ns: &str) -> Option<Arc<dyn JobStore>> {
        Some(Arc::new(self.connect(ns).await?))
    }

    async fn corrupt(&self, ns: &str, id: &str) -> bool {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("HSET")
            .arg(format!("{ns}:jobs"))
            .arg(id)
            .arg("{\"version\": 1, \"id\": ")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        true
    }

    async fn cleanup(&self, ns: &str) {
        if let Some(store) = self.connect(ns).await {
            store.destroy().await.unwrap();
        }
    }
}

/// MongoDB (or a wire-compatible server) at `RSCHED_TEST_MONGO_URL` (default
/// `mongodb://127.0.0.1:27017/rsched_test`), one collection per case.
#[derive(Debug, Default)]
pub struct Mongo;

/// The MongoDB-protocol server under test: `RSCHED_TEST_MONGO_URL`, default
/// `mongodb://127.0.0.1:27017/rsched_test`.
pub fn mongo_url() -> String {
    std::env::var("RSCHED_TEST_MONGO_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/rsched_test".to_owned())
}

impl Mongo {
    async fn connect(&self, ns: &str) -> Option<rsched::mongo::MongoJobStore> {
        let url = mongo_url();
        match rsched::mongo::MongoJobStore::open(
            &url,
            rsched::mongo::MongoOptions {
                collection: format!("{ns}jobs"),
            },
        )
        .await
        {
            Ok(store) => Some(store),
            Err(e) if !strict() => {
                eprintln!("skipped: MongoDB is not reachable at {url}: {e}");
                None
            }
            Err(e) => panic!("MongoDB is not reachable at {url}: {e}"),
        }
    }
}

#[async_trait::async_trait]
impl Backend for Mongo {
    /// Persistent and shared, with run history, runs in progress and calendars; polled (no
    /// change streams: they need a replica set).
    fn offers(&self) -> Offers {
        Offers {
            persistent: true,
            shared: true,
            history: true,
            running: true,
            notifications: false,
            server_clock: true,
            calendars: true,
        }
    }

    async fn open(&self, ns: &str) -> Option<Arc<dyn JobStore>> {
        Some(Arc::new(self.connect(ns).await?))
    }

    async fn reopen(&self, ns: &str) -> Option<Arc<dyn JobStore>> {
        Some(Arc::new(self.connect(ns).await?))
    }

    async fn corrupt(&self, ns: &str, id: &str) -> bool {
        let client = mongodb::Client::with_uri_str(mongo_url()).await.unwrap();
        let db = client.default_database().unwrap();
        db.collection::<mongodb::bson::Document>(&format!("{ns}jobs"))
            .update_one(
                mongodb::bson::doc! { "_id": id },
                mongodb::bson::doc! { "$set": { "state": { "version": 99, "id": id } } },
            )
            .await
            .unwrap();
        true
    }

    async fn cleanup(&self, ns: &str) {
        if let Some(store) = self.connect(ns).await {
            store.destroy().await.unwrap();
        }
    }
}
