//! The store's options, and the URL that selects them.

use scheduler_core::{Error, Result};

/// Options of a [`MemoryJobStore`](crate::MemoryJobStore).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryOptions {
    /// Keep a bounded run history per job in memory (default off: recording every run costs
    /// about a third more time per run at 100,000 runs a second, which in-process stores are
    /// chosen for). URL form: `memory://?history=true`.
    pub history: bool,
}

impl MemoryOptions {
    /// `options` with what the URL's query adds (`history=true`).
    ///
    /// # Errors
    /// `InvalidInput` when `url` is not a `memory://` URL.
    pub fn from_url(url: &str, options: MemoryOptions) -> Result<MemoryOptions> {
        let Some(rest) = url.strip_prefix("memory://") else {
            return Err(Error::invalid(
                "url",
                format!("'{url}' is not a memory:// URL"),
            ));
        };
        let history = rest
            .split_once('?')
            .map(|(_, query)| query.split('&').any(|pair| pair == "history=true"))
            .unwrap_or(false);
        Ok(MemoryOptions {
            history: options.history || history,
        })
    }
}
