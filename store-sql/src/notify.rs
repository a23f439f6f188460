//! [`ChangeNotifications`] for [`SqlJobStore`]: PostgreSQL `LISTEN`/`NOTIFY` on
//! `{prefix}changes`. SQLite and MySQL have no such channel and are polled
//! ([`JobStore::notifications`](scheduler_core::JobStore::notifications) is `None` for them).

use scheduler_core::ChangeNotifications;

use crate::dialect::Dialect;
use crate::store::SqlJobStore;

impl SqlJobStore {
    /// The channel PostgreSQL stores `NOTIFY` on after every change (`{prefix}changes`).
    pub fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    /// Tells other instances the store changed (PostgreSQL `NOTIFY`; the other dialects are
    /// polled). Best effort: a lost notification only delays them to their next poll.
    pub(crate) async fn notify(&self) {
        if self.dialect == Dialect::Postgres {
            let sent = sqlx::query("SELECT pg_notify($1, 'change')")
                .bind(self.channel())
                .execute(&self.pool)
                .await;
            if let Err(e) = sent {
                tracing::debug!("NOTIFY {} failed: {e}", self.channel());
            }
        }
    }
}

impl ChangeNotifications for SqlJobStore {
    /// `LISTEN`s on [`SqlJobStore::channel`] from a task of its own (reconnecting every second
    /// while the server is away) until `stop`. Only PostgreSQL stores hand this capability out;
    /// on the other dialects, and in builds without the `postgres` feature, it does nothing.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    fn watch_changes(
        &self,
        wake: scheduler_core::ChangeListener,
        stop: tokio_util::sync::CancellationToken,
    ) {
        #[cfg(feature = "postgres")]
        if self.dialect == Dialect::Postgres {
            listen(self.url.clone(), self.channel(), wake, stop);
        }
    }
}

/// The `LISTEN` task: `wake` on every notification on `channel`, and once per (re)connection
/// (a change may have gone by unheard meanwhile).
#[cfg(feature = "postgres")]
fn listen(
    url: std::sync::Arc<str>,
    channel: String,
    wake: scheduler_core::ChangeListener,
    stop: tokio_util::sync::CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => {
                    if listener.listen(&channel).await.is_ok() {
                        wake();
                        loop {
                            tokio::select! {
                                () = stop.cancelled() => return,
                                note = listener.recv() => match note {
                                    Ok(_) => wake(),
                                    Err(_) => break,
                                },
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!("LISTEN {channel} unavailable: {e}"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    });
}
