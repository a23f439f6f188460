//! The store's options.

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "rsched:";

/// Options of a [`RedisJobStore`](crate::RedisJobStore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Every key of the store starts with it (default [`DEFAULT_PREFIX`], `rsched:`), so
    /// several stores share one database without meeting.
    pub prefix: String,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}
