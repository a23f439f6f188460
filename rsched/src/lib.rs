#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod builtin;
pub mod config;
mod factory;

pub use config::{Config, ConfigError};
pub use factory::{executor_from_config, store_from_config, store_from_url, url_schemes};

pub use scheduler_core::*;

/// The store URL used when a configuration names no `default` job store.
pub const DEFAULT_STORE_URL: &str = "memory://";

/// The in-process job store (feature `memory`).
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use store_memory as memory;

/// The SQL job stores (features `sqlite`, `postgres`, `mysql`).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql")))
)]
pub use store_sql as sql;

/// The Redis job store (feature `redis`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store_redis as redis;

/// The MongoDB job store (feature `mongodb`).
#[cfg(feature = "mongodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "mongodb")))]
pub use store_mongo as mongo;

/// The REST API and dashboard as an axum router (feature `http`).
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use scheduler_http as http;

/// The thread-pool executor (feature `threads`).
#[cfg(feature = "threads")]
#[cfg_attr(docsrs, doc(cfg(feature = "threads")))]
pub use executor_threads as threads;

/// The process-pool executor (feature `process`): crash isolation and timeouts.
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub use executor_process as process;

/// A task registry with the built-in tasks (`rsched:exec`, `rsched:log`) registered.
pub fn registry_with_builtins() -> TaskRegistry {
    let mut registry = TaskRegistry::new();
    builtin::register(&mut registry);
    registry
}
