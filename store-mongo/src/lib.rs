#![doc = include_str!("../README.md")]

mod calendars;
mod config;
mod error;
mod history;
mod listing;
mod model;
mod running;
mod store;

pub use config::{DEFAULT_COLLECTION, DEFAULT_DATABASE, MongoOptions};
pub use store::MongoJobStore;

/// The URL schemes this store serves.
pub const URL_SCHEMES: &[&str] = &["mongodb", "mongodb+srv"];
