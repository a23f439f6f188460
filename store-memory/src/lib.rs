#![doc = include_str!("../README.md")]

mod calendars;
mod config;
mod error;
mod history;
mod model;
mod store;

pub use config::MemoryOptions;
pub use store::MemoryJobStore;

/// The URL schemes this store serves.
pub const URL_SCHEMES: &[&str] = &["memory"];
