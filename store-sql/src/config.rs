//! [`SqlOptions`], how a store is opened, and the table prefix check.

use scheduler_core::{Error, Result};

use crate::DEFAULT_TABLE_PREFIX;

/// How to open a SQL job store.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Prefix of the store's table names (default `rsched_`): `{prefix}jobs`,
    /// `{prefix}schema_version`. An identifier: a letter or `_`, then letters, digits or `_`,
    /// at most 40 characters.
    pub table_prefix: String,
    /// Apply the embedded migrations when opening (default true; `rsched run --no-migrate` and
    /// `rsched migrate` change that).
    pub migrate: bool,
    /// Connection pool size (default 5).
    pub max_connections: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            table_prefix: DEFAULT_TABLE_PREFIX.to_owned(),
            migrate: true,
            max_connections: 5,
        }
    }
}

/// Checks a table prefix: identifiers only, so it can be placed in SQL text safely.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](scheduler_core::ErrorKind::InvalidInput) naming `prefix` and
/// saying what is allowed.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let mut chars = prefix.chars();
    let ok = prefix.len() <= 40
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "prefix",
            format!(
                "'{prefix}' is not a valid table prefix: use a letter or '_', then letters, digits or '_' (at most 40)"
            ),
        ))
    }
}
