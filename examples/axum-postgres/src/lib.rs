//! An axum service with an rsched scheduler whose jobs live in PostgreSQL: the program a
//! Flask + Flask-APScheduler + SQLAlchemy author writes, in Rust.
//!
//! - [`Settings`]: where things are (`DATABASE_URL`, `TABLE_PREFIX`, `LISTEN_ADDR`,
//!   `JOB_INTERVAL_SECONDS`);
//! - [`AppState`]: the `sqlx::PgPool`, shared by the axum handlers *and* the scheduled job;
//! - [`do_job_1`]: `@scheduler.task('interval', id='do_job_1', seconds=30)`, a job defined
//!   next to its function that inserts a row into `{prefix}heartbeats`;
//! - [`App`]: the router (`GET /`, `GET /heartbeats`, the scheduler's REST API under
//!   `/scheduler`) and the scheduler, served until [`shutdown_signal`] (SIGINT / SIGTERM).
//!
//! `main.rs` is the few lines that glue these together; the tests build the same [`App`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rsched::sql::{SqlJobStore, SqlOptions};
use rsched::trigger::IntervalSpec;
use rsched::{ErrorKind, JobContext, JobSpec, Scheduler, TaskRegistry};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// `DATABASE_URL` when unset.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `TABLE_PREFIX` when unset: the scheduler's tables are `axum_example_jobs`, `…_runs`, …, and
/// the job writes `axum_example_heartbeats`.
pub const DEFAULT_TABLE_PREFIX: &str = "axum_example_";

/// `LISTEN_ADDR` when unset: loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    3000,
));

/// `JOB_INTERVAL_SECONDS` when unset: `seconds=30`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The id of the scheduled job (`@scheduler.task(..., id='do_job_1')`).
pub const JOB_ID: &str = "do_job_1";

/// What the service needs to know, from the environment ([`Settings::from_env`]) or set in code.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The PostgreSQL database: the job store and the application's own tables.
    pub database_url: String,
    /// Prefix of every table this service creates (a letter or `_`, then letters, digits, `_`).
    pub table_prefix: String,
    /// The address the HTTP server listens on.
    pub listen: SocketAddr,
    /// How often [`do_job_1`] runs.
    pub interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            table_prefix: DEFAULT_TABLE_PREFIX.to_owned(),
            listen: DEFAULT_LISTEN,
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl Settings {
    /// Reads `DATABASE_URL`, `TABLE_PREFIX`, `LISTEN_ADDR` and `JOB_INTERVAL_SECONDS` (a
    /// positive number of seconds), each defaulting to the value in [`Settings::default`].
    ///
    /// # Errors
    /// A variable that is set but cannot be used, named.
    pub fn from_env() -> anyhow::Result<Settings> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut settings = Settings::default();
        if let Some(url) = var("DATABASE_URL") {
            settings.database_url = url;
        }
        if let Some(prefix) = var("TABLE_PREFIX") {
            settings.table_prefix = prefix;
        }
        if let Some(listen) = var("LISTEN_ADDR") {
            settings.listen = listen
                .parse()
                .with_context(|| format!("LISTEN_ADDR: '{listen}' is not host:port"))?;
        }
        if let Some(seconds) = var("JOB_INTERVAL_SECONDS") {
            settings.interval = seconds
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .filter(|d| !d.is_zero())
                .with_context(|| {
                    format!("JOB_INTERVAL_SECONDS: '{seconds}' is not a positive number")
                })?;
        }
        rsched::sql::validate_prefix(&settings.table_prefix).context("TABLE_PREFIX")?;
        Ok(settings)
    }
}

/// The application state: what a Flask app reaches through `db.session` and `app.config`.
/// Cheap to clone; the axum handlers get it as `State<AppState>`, the job as
/// `ctx.state::<AppState>()`.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The application's connection pool.
    pub pool: PgPool,
    /// `{prefix}heartbeats`, the table [`do_job_1`] writes and `GET /heartbeats` reads.
    heartbeats: Arc<str>,
}

impl AppState {
    /// Connects to `settings.database_url` and creates `{prefix}heartbeats` if missing.
    ///
    /// # Errors
    /// A bad prefix; the database cannot be reached or refuses the table.
    pub async fn connect(settings: &Settings) -> anyhow::Result<AppState> {
        // The prefix goes into SQL text: only identifiers pass.
        rsched::sql::validate_prefix(&settings.table_prefix)?;
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&settings.database_url)
            .await
            .context("cannot connect to DATABASE_URL")?;
        let heartbeats: Arc<str> = format!("{}heartbeats", settings.table_prefix).into();
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {heartbeats} (\
             id BIGSERIAL PRIMARY KEY, \
             job_id TEXT NOT NULL, \
             scheduled_for TIMESTAMPTZ NOT NULL, \
             ran_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
             scheduler_id TEXT NOT NULL)"
        ))
        .execute(&pool)
        .await
        .with_context(|| format!("cannot create table {heartbeats}"))?;
        Ok(AppState { pool, heartbeats })
    }

    /// The table [`do_job_1`] writes (`{prefix}heartbeats`).
    pub fn heartbeats_table(&self) -> &str {
        &self.heartbeats
    }
}

/// The job: `@scheduler.task('interval', id='do_job_1', seconds=30)`. It records each run in
/// `{prefix}heartbeats` through the application's pool, which it takes from the shared state
/// (no "working outside of application context"). Its return value, the new row's id, lands
/// in the run history (`GET /scheduler/jobs/do_job_1/runs`).
///
/// # Errors
/// No [`AppState`] in the registry; the insert failed (the run is recorded as an error).
pub async fn do_job_1(ctx: JobContext, (): ()) -> anyhow::Result<i64> {
    let state = ctx.state::<AppState>()?;
    let id: i64 = sqlx::query_scalar(&format!(
        "INSERT INTO {} (job_id, scheduled_for, scheduler_id) \
         VALUES ($1, $2::timestamptz, $3) RETURNING id",
        state.heartbeats
    ))
    .bind(ctx.job_id())
    .bind(ctx.scheduled_run_time().to_rfc3339())
    .bind(ctx.scheduler_id())
    .fetch_one(&state.pool)
    .await?;
    Ok(id)
}

/// The service: its router and its scheduler, built but not yet running.
#[derive(Debug)]
pub struct App {
    /// `GET /`, `GET /heartbeats` and the scheduler's REST API under `/scheduler`.
    pub router: Router,
    /// The scheduler (cheap to clone; clones share it).
    pub scheduler: Scheduler,
    /// The state the routes and the job share.
    pub state: AppState,
}

impl App {
    /// Connects to the database, opens the PostgreSQL job store (tables `{prefix}jobs`, …),
    /// schedules [`do_job_1`] every `settings.interval`, and builds the router. `listen` is the
    /// address the server really listens on (after binding port 0, the port it got): the
    /// scheduler API serves only the host names that address allows.
    ///
    /// # Errors
    /// The database cannot be reached; the store cannot be opened or migrated; the API options
    /// are refused (a non-loopback `listen` without credentials).
    pub async fn build(settings: &Settings, listen: SocketAddr) -> anyhow::Result<App> {
        let state = AppState::connect(settings).await?;

        // SCHEDULER_JOBSTORES = {"default": SQLAlchemyJobStore(url=...)}
        let store = SqlJobStore::open(
            &settings.database_url,
            SqlOptions {
                table_prefix: settings.table_prefix.clone(),
                ..SqlOptions::default()
            },
        )
        .await
        .context("cannot open the job store")?;

        // The registry carries the state the job reads. Give it to the builder *before*
        // `scheduled`: `SchedulerBuilder::registry` replaces the builder's registry, tasks
        // registered by `scheduled` included.
        let mut registry = TaskRegistry::new();
        registry.insert_state(state.clone());
        let trigger = IntervalSpec {
            seconds: Some(settings.interval.as_secs_f64()),
            ..IntervalSpec::default()
        }
        .build()?;
        // No executor is configured: the default one is the async executor (tokio tasks),
        // which is all this build has (no `threads` feature).
        let scheduler = Scheduler::builder()
            .registry(registry)
            .jobstore("default", store)
            // @scheduler.task('interval', id='do_job_1', seconds=30)
            .scheduled(JobSpec::default().id(JOB_ID).trigger(trigger), do_job_1)
            .build()?;

        // SCHEDULER_API_ENABLED = True, made safe: the API knows the address it is served on
        // (loopback: only loopback Host names; anything else would need `auth` or an explicit
        // `allow_anonymous`), refuses state changes from foreign origins (CSRF), and jobs
        // added through it may not use `rsched:exec` / `rsched:http` (not registered here
        // anyway).
        let api_options = rsched::http::ApiOptions {
            listen: Some(listen),
            ..rsched::http::ApiOptions::default()
        };
        let api = rsched::http::try_router(scheduler.clone(), api_options)?;
        let router = Router::new()
            .route("/", get(index))
            .route("/heartbeats", get(heartbeats))
            .with_state(state.clone())
            .nest("/scheduler", api);
        Ok(App {
            router,
            scheduler,
            state,
        })
    }

    /// Starts the scheduler and serves the router on `listener` until `shutdown` resolves;
    /// then stops accepting requests, lets the open ones finish, shuts the scheduler down
    /// waiting for running jobs (`scheduler.shutdown(wait=True)`), and closes the pool.
    ///
    /// # Errors
    /// The scheduler cannot start (e.g. the store is unreachable); the server fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            router,
            scheduler,
            state,
        } = self;
        scheduler
            .start()
            .await
            .context("cannot start the scheduler")?;
        let served = axum::serve(
            listener,
            // The client address lets the API count failed sign-ins per client.
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        // Someone may have stopped the scheduler already (`POST /scheduler/shutdown`).
        let stopped = match scheduler.shutdown(true).await {
            Err(e) if e.kind() != ErrorKind::NotRunning => Err(e),
            _ => Ok(()),
        };
        state.pool.close().await;
        served.context("the HTTP server failed")?;
        stopped.context("the scheduler did not shut down cleanly")?;
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what `docker stop` and systemd send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

async fn index() -> &'static str {
    "Hello World!\n"
}

/// `GET /heartbeats`: what the job wrote.
async fn heartbeats(State(state): State<AppState>) -> Result<Json<serde_json::Value>, DbError> {
    let (count, last_run): (i64, Option<String>) = sqlx::query_as(&format!(
        "SELECT count(*), max(ran_at)::text FROM {} WHERE job_id = $1",
        state.heartbeats
    ))
    .bind(JOB_ID)
    .fetch_one(&state.pool)
    .await?;
    Ok(Json(json!({
        "job_id": JOB_ID,
        "count": count,
        "last_run": last_run,
    })))
}

/// A database error as a 500 (the details go to the log, not to the client).
struct DbError(sqlx::Error);

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError(e)
    }
}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        tracing::error!("GET /heartbeats: database error: {}", self.0);
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error_message": "database error"})),
        )
            .into_response()
    }
}
