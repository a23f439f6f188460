//! Redis errors onto rsched's [`ErrorKind`]s: a connection that is down or refused, or a
//! timeout, is `Unavailable` (the scheduler retries); anything else `Internal`.

use scheduler_core::{Error, ErrorKind};

/// A Redis error as rsched's [`Error`], the driver error as its source.
pub(crate) fn redis_error(e: redis::RedisError) -> Error {
    let kind = if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
    {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Internal
    };
    Error::new(kind, format!("redis: {e}")).with_source(e)
}
