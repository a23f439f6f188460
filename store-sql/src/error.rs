//! sqlx errors onto [`scheduler_core::Error`].

use scheduler_core::{Error, ErrorKind};

/// A driver error as the store reports it: a unique-key violation is
/// [`ErrorKind::AlreadyExists`], a lost or unreachable server [`ErrorKind::Unavailable`],
/// anything else [`ErrorKind::Internal`]; the sqlx error is kept as the source.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    let kind = match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ErrorKind::AlreadyExists,
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("database error: {e}")).with_source(e)
}
