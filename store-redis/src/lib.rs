#![doc = include_str!("../README.md")]

mod calendars;
mod config;
mod error;
mod history;
mod listing;
mod model;
mod notify;
mod running;
mod store;

pub use config::{DEFAULT_PREFIX, RedisOptions};
pub use store::RedisJobStore;

/// The URL schemes this store serves.
pub const URL_SCHEMES: &[&str] = &["redis", "rediss"];
