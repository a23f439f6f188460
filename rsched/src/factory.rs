//! Building stores, executors and schedulers from URLs and configuration.

use std::sync::Arc;

use scheduler_core::executor::Executor;
use scheduler_core::store::JobStore;
use scheduler_core::{
    AsyncExecutor, EngineOptions, Error, ErrorKind, Result, Scheduler, SchedulerBuilder,
    TaskRegistry,
};

use crate::config::{Config, ConfigError, ExecutorConfig, JobStoreConfig, redact_url, url_secrets};

/// The URL schemes of the stores compiled into this build.
pub fn url_schemes() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut schemes: Vec<&'static str> = Vec::new();
    #[cfg(feature = "memory")]
    schemes.extend_from_slice(store_memory::URL_SCHEMES);
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    schemes.extend_from_slice(store_sql::URL_SCHEMES);
    #[cfg(feature = "redis")]
    schemes.extend_from_slice(store_redis::URL_SCHEMES);
    #[cfg(feature = "mongodb")]
    schemes.extend_from_slice(store_mongo::URL_SCHEMES);
    schemes
}

/// Every store URL scheme rsched knows, with the `rsched` feature that brings it.
const SCHEME_FEATURES: &[(&str, &str)] = &[
    ("memory", "memory"),
    ("sqlite", "sqlite"),
    ("postgres", "postgres"),
    ("postgresql", "postgres"),
    ("mysql", "mysql"),
    ("mariadb", "mysql"),
    ("redis", "redis"),
    ("rediss", "redis"),
    ("mongodb", "mongodb"),
    ("mongodb+srv", "mongodb"),
];

/// The `rsched` feature that serves `scheme`, when rsched has a store for it.
fn scheme_feature(scheme: &str) -> Option<&'static str> {
    SCHEME_FEATURES
        .iter()
        .find(|(s, _)| *s == scheme)
        .map(|(_, feature)| *feature)
}

/// Opens the job store a URL names (`memory://`, and the database URLs of the enabled store
/// features), choosing the backend by scheme.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](scheduler_core::ErrorKind::InvalidInput) for a malformed URL or a scheme this build does not serve;
/// the store's own errors when it cannot open.
pub async fn store_from_url(url: &str) -> Result<Arc<dyn JobStore>> {
    let config = JobStoreConfig {
        url: url.to_owned(),
        prefix: None,
        collection: None,
        migrate: true,
    };
    store_from_config(&config).await
}

/// Opens a job store from its configuration.
///
/// # Errors
/// As [`store_from_url`].
pub async fn store_from_config(config: &JobStoreConfig) -> Result<Arc<dyn JobStore>> {
    open_store(config)
        .await
        .map_err(|e| scrub_secrets(e, &config.url))
}

/// `error` without the secrets of `url`: a driver's message (or its cause) that repeats a
/// password gets `***` in its place, and the cause is dropped.
fn scrub_secrets(error: Error, url: &str) -> Error {
    let mut secrets = url_secrets(url);
    let mut causes = String::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        causes.push_str(&format!("{cause} {cause:?}"));
        source = cause.source();
    }
    if !secrets
        .iter()
        .any(|s| error.message().contains(s.as_str()) || causes.contains(s.as_str()))
    {
        return error;
    }
    let mut message = error.message().to_owned();
    // Longest first, so a decoded secret inside an encoded one is not left half-replaced.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in &secrets {
        message = message.replace(secret.as_str(), "***");
    }
    Error::new(error.kind(), message)
}

async fn open_store(config: &JobStoreConfig) -> Result<Arc<dyn JobStore>> {
    let url = config.url.as_str();
    let Some((scheme, _rest)) = url.split_once("://") else {
        return Err(Error::invalid(
            "url",
            format!(
                "'{}' is not a URL (expected e.g. memory://)",
                redact_url(url)
            ),
        ));
    };
    match scheme {
        #[cfg(feature = "memory")]
        "memory" => Ok(Arc::new(store_memory::MemoryJobStore::open(
            url,
            store_memory::MemoryOptions::default(),
        )?)),
        #[cfg(feature = "mongodb")]
        "mongodb" | "mongodb+srv" => Ok(Arc::new(
            store_mongo::MongoJobStore::open(
                url,
                store_mongo::MongoOptions {
                    collection: config
                        .collection
                        .clone()
                        .unwrap_or_else(|| store_mongo::DEFAULT_COLLECTION.to_owned()),
                },
            )
            .await?,
        )),
        #[cfg(feature = "redis")]
        "redis" | "rediss" => Ok(Arc::new(
            store_redis::RedisJobStore::open(
                url,
                store_redis::RedisOptions {
                    prefix: config
                        .prefix
                        .clone()
                        .unwrap_or_else(|| store_redis::DEFAULT_PREFIX.to_owned()),
                },
            )
            .await?,
        )),
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        s if store_sql::URL_SCHEMES.contains(&s) => {
            let options = store_sql::SqlOptions {
                table_prefix: config
                    .prefix
                    .clone()
                    .unwrap_or_else(|| store_sql::DEFAULT_TABLE_PREFIX.to_owned()),
                migrate: config.migrate,
                ..store_sql::SqlOptions::default()
            };
            Ok(Arc::new(store_sql::SqlJobStore::open(url, options).await?))
        }
        other => Err(Error::invalid(
            "url",
            format!(
                "{} (this build serves: {})",
                match scheme_feature(other) {
                    Some(feature) => format!("{other}:// needs rsched's \"{feature}\" feature"),
                    None => format!("no job store for '{other}://'"),
                },
                url_schemes()
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Builds an executor from its configuration.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](scheduler_core::ErrorKind::InvalidInput) for an unknown type or one this build does not include.
pub fn executor_from_config(config: &ExecutorConfig) -> Result<Arc<dyn Executor>> {
    match config.kind.as_str() {
        "async" | "asyncio" => Ok(Arc::new(AsyncExecutor::new())),
        #[cfg(feature = "threads")]
        "threadpool" | "thread" => Ok(Arc::new(executor_threads::ThreadPoolExecutor::new(
            config
                .max_workers
                .unwrap_or(executor_threads::DEFAULT_MAX_WORKERS),
        ))),
        #[cfg(feature = "process")]
        "processpool" | "process" => Ok(Arc::new(executor_process::ProcessPoolExecutor::new(
            executor_process::ProcessPoolOptions {
                max_workers: config.max_workers,
                max_tasks_per_child: config.max_tasks_per_child,
                memory_limit: config.memory_limit,
                program: None,
            },
        ))),
        #[cfg(not(feature = "threads"))]
        "threadpool" | "thread" => Err(Error::invalid(
            "type",
            "threadpool needs rsched's \"threads\" feature",
        )),
        #[cfg(not(feature = "process"))]
        "processpool" | "process" => Err(Error::invalid(
            "type",
            "processpool needs rsched's \"process\" feature",
        )),
        other => Err(Error::invalid(
            "type",
            format!(
                "unknown executor type '{other}' (available: async{}{})",
                if cfg!(feature = "threads") {
                    ", threadpool"
                } else {
                    ""
                },
                if cfg!(feature = "process") {
                    ", processpool"
                } else {
                    ""
                }
            ),
        )),
    }
}

impl Config {
    /// A scheduler builder with this configuration's stores, executors, zone, job defaults and
    /// engine options, and `registry`'s tasks. Add the config's jobs with
    /// [`Config::job_specs`] (or use [`Config::build_scheduler`]).
    ///
    /// # Errors
    /// A located [`ConfigError`].
    pub async fn scheduler_builder(
        &self,
        registry: TaskRegistry,
    ) -> std::result::Result<SchedulerBuilder, ConfigError> {
        let mut builder = Scheduler::builder()
            .registry(registry)
            .job_defaults(self.job_defaults());
        if let Some(tz) = self.timezone()? {
            builder = builder.timezone(tz);
        }
        if let Some(id) = &self.scheduler.id {
            builder = builder.id(id.clone());
        }
        let mut options = EngineOptions::default();
        if let Some(lease) = self.scheduler.lease {
            options.lease = lease.0;
        }
        if let Some(poll) = self.scheduler.max_poll_interval {
            options.max_poll_interval = poll.0;
        }
        builder = builder.options(options);
        if let Some(follow) = self.scheduler.follow_store_clock {
            builder = builder.follow_store_clock(follow);
        }
        let mut has_default = false;
        for (alias, store) in &self.jobstores {
            let opened = store_from_config(store).await.map_err(|e| {
                // A URL that cannot be parsed or reached names the URL; anything else (a
                // failed migration, a newer schema) names the store, not its URL.
                let key = if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::Unavailable) {
                    format!("jobstores.{alias}.url")
                } else {
                    format!("jobstores.{alias}")
                };
                self.error(&key, e.message().trim_start_matches("url: "))
            })?;
            has_default |= alias == "default";
            builder = builder.jobstore_arc(alias.clone(), opened);
        }
        if !has_default {
            let store = store_from_url(crate::DEFAULT_STORE_URL)
                .await
                .map_err(|e| self.error("jobstores", e))?;
            builder = builder.jobstore_arc("default", store);
        }
        for (alias, executor) in &self.executors {
            let built = executor_from_config(executor).map_err(|e| {
                self.error(
                    &format!("executors.{alias}.type"),
                    e.message().trim_start_matches("type: "),
                )
            })?;
            builder = builder.executor_arc(alias.clone(), built);
        }
        Ok(builder)
    }

    /// Flask-APScheduler's `init_app`: builds a scheduler from this configuration with
    /// `registry`'s tasks and queues the configured jobs (replacing same-id jobs when it
    /// starts). Call `start()` on the result.
    ///
    /// # Errors
    /// A located [`ConfigError`] for any invalid setting or job.
    pub async fn build_scheduler(
        &self,
        registry: TaskRegistry,
    ) -> std::result::Result<Scheduler, ConfigError> {
        let calendars = self.exclusion_calendars()?;
        let specs = self.job_specs(&registry)?;
        let scheduler = self
            .scheduler_builder(registry)
            .await?
            .build()
            .map_err(|e| self.error("jobstores", e))?;
        for (name, calendar) in calendars {
            scheduler
                .put_calendar(&name, calendar)
                .await
                .map_err(|e| self.error(&format!("calendars.{name}"), e))?;
        }
        let count = specs.len();
        for (i, spec) in specs.into_iter().enumerate() {
            scheduler.add_job(spec).await.map_err(|e| {
                let (key, message) = e.message().split_once(": ").unwrap_or(("", e.message()));
                self.error(&format!("jobs[{i}].{key}"), message)
            })?;
        }
        tracing::debug!("{count} job(s) loaded from the configuration");
        Ok(scheduler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_scheme_names_its_feature() {
        for scheme in url_schemes() {
            assert!(scheme_feature(scheme).is_some(), "{scheme}");
        }
    }

    #[tokio::test]
    async fn a_scheme_without_its_feature_or_unknown_is_an_error_naming_it() {
        let e = store_from_url("ftp://x").await.err().unwrap();
        assert!(
            e.message().contains("no job store for 'ftp://'"),
            "{}",
            e.message()
        );
        let missing = SCHEME_FEATURES
            .iter()
            .find(|(scheme, _)| !url_schemes().contains(scheme));
        if let Some((scheme, feature)) = missing {
            let e = store_from_url(&format!("{scheme}://x"))
                .await
                .err()
                .unwrap();
            let expect = format!("{scheme}:// needs rsched's \"{feature}\" feature");
            assert!(e.message().contains(&expect), "{}", e.message());
        }
    }
}
