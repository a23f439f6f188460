#![doc = include_str!("../README.md")]

mod store;

pub use store::MemoryJobStore;

/// The URL schemes this store serves.
pub const URL_SCHEMES: &[&str] = &["memory"];
