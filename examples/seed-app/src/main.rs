//! The Flask-APScheduler program of the seed tutorials, ported to axum and rsched:
//!
//! - `Hello World!` at `/`, and the scheduler's REST API at `/scheduler` (`SCHEDULER_API_ENABLED`);
//! - jobs from a configuration file (`seed-app.toml`, Flask's `JOBS`): `job1` every 5 s with
//!   args (1, 2) printing `YYYY-mm-dd HH:MM:SS job_do_sth:3`, its cron variant, and
//!   `check_before`, which reads the database handle from shared state — no "working outside
//!   of application context";
//! - `do_job_sth`, defined next to its function the way `@scheduler.task('cron',
//!   id='do_job_sth', minute='*')` does.
//!
//! ```text
//! cargo run -p seed-app -- [--config examples/seed-app/seed-app.toml] [--listen 127.0.0.1:5000]
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use rsched::trigger::CronSpec;
use rsched::{Config, JobContext, JobSpec};

/// What a Flask app keeps in `app.config` / SQLAlchemy: here a stand-in for a connection pool.
#[derive(Debug)]
struct Db {
    url: String,
    queries: AtomicU64,
}

fn now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `def job_do_sth(a, b): print(f"{now} job_do_sth:{a + b}")`
async fn job_do_sth(_ctx: JobContext, (a, b): (i64, i64)) -> Result<(), Infallible> {
    println!("{} job_do_sth:{}", now(), a + b);
    Ok(())
}

/// `@scheduler.task('cron', id='do_job_sth', minute='*')`
async fn do_job_sth(_ctx: JobContext, (): ()) -> Result<(), Infallible> {
    println!("{} job_do_sth", now());
    Ok(())
}

/// `tasks.tasks.check_before`: uses the database, which Flask only allows inside
/// `with scheduler.app.app_context():`. Here the handle comes from shared state.
async fn check_before(ctx: JobContext, (): ()) -> Result<u64, rsched::Error> {
    let db = ctx.state::<Db>()?;
    let n = db.queries.fetch_add(1, Ordering::Relaxed) + 1;
    println!("{} check_before: query #{n} on {}", now(), db.url);
    Ok(n)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let config_path = arg("--config")
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/seed-app.toml").to_owned());
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:5000".to_owned());
    let config = Config::load(config_path.as_ref())?;

    let mut registry = rsched::registry_with_builtins();
    registry.register("app:job_do_sth", job_do_sth);
    registry.register("tasks:check_before", check_before);
    registry.insert_state(Db {
        url: "sqlite://app.db".into(),
        queries: AtomicU64::new(0),
    });

    // scheduler.init_app(app): stores, executors and JOBS from the configuration.
    let scheduler = config
        .scheduler_builder(registry)
        .await?
        .scheduled(
            JobSpec::default()
                .id("do_job_sth")
                .trigger(CronSpec::new().minute("*").build()?),
            do_job_sth,
        )
        .build()?;
    for spec in config.job_specs(scheduler.registry())? {
        scheduler.add_job(spec).await?;
    }
    scheduler.start().await?;

    // SCHEDULER_API_ENABLED = True: Flask-APScheduler's REST API under /scheduler. The API
    // learns the address it listens on: loopback serves only loopback host names, any other
    // address needs credentials (ApiOptions::auth) or allow_anonymous.
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let options = rsched::http::ApiOptions {
        listen: Some(listener.local_addr()?),
        ..Default::default()
    };
    let app = Router::new()
        .route("/", get(|| async { "Hello World!" }))
        .nest(
            "/scheduler",
            rsched::http::try_router(scheduler.clone(), options)?,
        );
    println!("seed-app on http://{listen}/");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    scheduler.shutdown(true).await?;
    Ok(())
}
