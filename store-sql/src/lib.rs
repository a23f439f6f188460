#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod calendars;
mod config;
mod dialect;
mod error;
mod history;
mod listing;
mod migrations;
mod model;
mod notify;
mod running;
mod store;

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub mod mysql;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

pub use config::{SqlOptions, validate_prefix};
pub use dialect::Dialect;
pub use store::SqlJobStore;

/// The URL schemes this crate serves in this build.
pub const URL_SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "postgres")]
    "postgresql",
    #[cfg(feature = "mysql")]
    "mysql",
    #[cfg(feature = "mysql")]
    "mariadb",
];

/// The table prefix used when none is configured.
pub const DEFAULT_TABLE_PREFIX: &str = "rsched_";

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 6;
