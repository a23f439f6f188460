//! The store's errors. It talks to no server, so it fails only on what callers ask of it:
//! a taken id (`AlreadyExists`), a lease someone else holds (`LeaseLost`), a missing job
//! (`NotFound`, [`scheduler_core::Error::job_not_found`]), a URL it does not serve.

use scheduler_core::{Error, ErrorKind};

/// `AlreadyExists`: the id is taken.
pub(crate) fn already_exists(id: &str) -> Error {
    Error::new(
        ErrorKind::AlreadyExists,
        format!("a job with id '{id}' already exists"),
    )
}

/// `LeaseLost`: `owner` does not hold the lease of job `id` (`holder` does, or nobody).
pub(crate) fn lease_lost(id: &str, owner: &str, holder: Option<&str>) -> Error {
    let message = match holder {
        Some(holder) => format!("job '{id}' is leased by {holder}, not {owner}"),
        None => format!("job '{id}' is not leased by {owner}"),
    };
    Error::new(ErrorKind::LeaseLost, message)
}
