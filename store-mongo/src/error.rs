//! MongoDB errors onto rsched's [`ErrorKind`]s: no server or a broken connection is
//! `Unavailable` (the scheduler retries), a duplicate key `AlreadyExists`.

use scheduler_core::{Error, ErrorKind};

/// A MongoDB error as rsched's [`Error`], the driver error as its source.
pub(crate) fn mongo_error(e: mongodb::error::Error) -> Error {
    use mongodb::error::ErrorKind as K;
    let kind = match &*e.kind {
        K::Io(_) | K::ServerSelection { .. } | K::ConnectionPoolCleared { .. } => {
            ErrorKind::Unavailable
        }
        K::InvalidArgument { .. } => ErrorKind::InvalidInput,
        _ if is_duplicate(&e) => ErrorKind::AlreadyExists,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("mongodb: {e}")).with_source(e)
}

/// Duplicate key (E11000).
pub(crate) fn is_duplicate(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind as K, WriteFailure};
    match &*e.kind {
        K::Write(WriteFailure::WriteError(we)) => we.code == 11000,
        K::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().all(|w| w.code == 11000)),
        K::Command(c) => c.code == 11000,
        _ => false,
    }
}
