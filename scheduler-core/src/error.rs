//! The one error type of rsched's core, shared by every backend.
//!
//! Callers branch on [`ErrorKind`]; humans read the message. Messages are lowercase, say what
//! failed and with which value, and carry no trailing period, e.g.
//! `hour: value 24 is out of range 0..=23`.

use std::fmt;

/// What kind of failure an [`Error`] reports. Backends map their driver errors onto these kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The job (or other named item) does not exist.
    NotFound,
    /// A job with the same id already exists (`add_job` without `replace_existing`).
    AlreadyExists,
    /// The caller no longer holds the lease it tried to use (another instance took the job over).
    LeaseLost,
    /// The input is invalid: a bad trigger field, an unparsable date, an unknown time zone...
    InvalidInput,
    /// A backing service (database, broker) is unreachable; retrying later may succeed.
    Unavailable,
    /// A value could not be encoded or decoded.
    Serialization,
    /// The operation is not supported by this backend.
    Unsupported,
    /// A bug or an invariant violation inside rsched.
    Internal,
    /// `start` on a scheduler that is already running (APScheduler's `SchedulerAlreadyRunningError`).
    AlreadyRunning,
    /// An operation that needs a running scheduler (APScheduler's `SchedulerNotRunningError`).
    NotRunning,
    /// A run was refused: the job already has `max_instances` runs executing.
    MaxInstancesReached,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::LeaseLost => "lease lost",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Serialization => "serialization",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
            ErrorKind::AlreadyRunning => "already running",
            ErrorKind::NotRunning => "not running",
            ErrorKind::MaxInstancesReached => "max instances reached",
        })
    }
}

/// An error from rsched: a [`kind`](Error::kind) to branch on, a message for humans and an
/// optional underlying cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// Creates an error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An [`ErrorKind::InvalidInput`] error whose message names the offending `field`:
    /// `"{field}: {message}"` (or just the message when `field` is empty).
    pub fn invalid(field: &str, message: impl fmt::Display) -> Self {
        let message = if field.is_empty() {
            message.to_string()
        } else {
            format!("{field}: {message}")
        };
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// The [`ErrorKind::NotFound`] error every store answers for a job id it does not hold:
    /// `no job with id '{id}'`.
    pub fn job_not_found(id: &str) -> Self {
        Error::new(ErrorKind::NotFound, format!("no job with id '{id}'"))
    }

    /// Attaches the underlying cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Prefixes the message with a field path, for errors found inside a nested value:
    /// `triggers[1]` + `hour: ...` gives `triggers[1].hour: ...`.
    pub fn in_field(mut self, path: &str) -> Self {
        let names_a_field = self.message.split_once(": ").is_some_and(|(head, _)| {
            !head.is_empty()
                && head
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
        });
        self.message = if names_a_field {
            format!("{path}.{}", self.message)
        } else {
            format!("{path}: {}", self.message)
        };
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message (without the cause).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `Result` with rsched's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
