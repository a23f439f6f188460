#![doc = include_str!("../README.md")]

mod civil;
mod datespec;
mod error;
pub mod trigger;
mod tz;

pub use error::{Error, ErrorKind, Result};
pub use trigger::{BuiltinTrigger, Trigger, isoformat};
pub use tz::TimeZone;
