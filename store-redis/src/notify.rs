//! Change notifications: every script that changes the store publishes on
//! `{prefix}changes`; other instances subscribe.

use std::time::Duration;

use futures_util::StreamExt as _;
use scheduler_core::{ChangeListener, ChangeNotifications};
use tokio_util::sync::CancellationToken;

use crate::store::RedisJobStore;

impl ChangeNotifications for RedisJobStore {
    /// Subscribes to `{prefix}changes` and calls `wake` for every message; resubscribes after
    /// a connection loss (waking once then, as changes may have been missed).
    fn watch_changes(&self, wake: ChangeListener, stop: CancellationToken) {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                match store.subscribe_changes().await {
                    Ok(mut pubsub) => {
                        wake();
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                () = stop.cancelled() => return,
                                message = messages.next() => match message {
                                    Some(_) => wake(),
                                    None => break,
                                },
                            }
                        }
                    }
                    Err(e) => tracing::debug!("Redis change notifications unavailable: {e}"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }
}
