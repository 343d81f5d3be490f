//! Waking idle workers on other nodes: every transaction that makes work
//! claimable (events queued by ingest, held events released, a replay,
//! leases released at shutdown) also runs `pg_notify('hookline_work', …)`,
//! which PostgreSQL delivers when, and only if, it commits. Each store
//! listens on its own connection and turns the notifications of *other*
//! stores into a [`WorkNotifications`] signal.
//!
//! The payload is the sending store's instance id, so a store skips its own
//! notifications: its process already woke its workers in memory when it
//! committed. Notifications are hints, not a queue: one sent while the
//! listening connection is down is lost (a reconnect therefore signals once,
//! in case), so workers keep their poll interval as the safety net.

use crate::{Result, WorkNotifications};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgConnection;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::watch;

/// The channel every Hookline node notifies and listens on.
pub(super) const CHANNEL: &str = "hookline_work";

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

pub(super) struct Notifier {
    /// Payload of this store's notifications, unique per store.
    instance: String,
    /// Where the listening connection goes (the pool's own options).
    connect: PgConnectOptions,
    /// Started by the first subscriber, stopped when the store is dropped.
    listening: OnceLock<Listening>,
}

struct Listening {
    signal: WorkNotifications,
    task: tokio::task::AbortHandle,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Notifier {
    pub(super) fn new(connect: PgConnectOptions) -> Self {
        Notifier {
            instance: hookline_core::ids::new_id("store"),
            connect,
            listening: OnceLock::new(),
        }
    }

    /// Queues the notification in the transaction `conn` is in (or sends it
    /// at once outside one).
    pub(super) async fn notify(&self, conn: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&self.instance)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// A receiver of the signal, starting the listener on first use. `None`
    /// outside a Tokio runtime (there is nowhere to run the listener).
    pub(super) fn subscribe(&self) -> Option<WorkNotifications> {
        if let Some(l) = self.listening.get() {
            return Some(l.signal.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let l = self.listening.get_or_init(|| {
            let (tx, signal) = watch::channel(());
            let task = runtime.spawn(listen(self.connect.clone(), self.instance.clone(), tx));
            Listening {
                signal,
                task: task.abort_handle(),
            }
        });
        Some(l.signal.clone())
    }
}

/// Listens until aborted, reconnecting with backoff. Runs on a dedicated
/// one-connection pool, so it never takes a connection from queries.
async fn listen(connect: PgConnectOptions, instance: String, tx: watch::Sender<()>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(connect);
    let mut backoff = RECONNECT_MIN;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot connect to listen for work notifications");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, retry_in = ?backoff, "LISTEN {CHANNEL} failed");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(RECONNECT_MAX);
            continue;
        }
        // Whatever was sent while we were not listening is lost: look once.
        tx.send_replace(());
        backoff = RECONNECT_MIN;
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if n.payload() != instance {
                        tx.send_replace(());
                    }
                }
                // The connection dropped and was re-established (LISTEN
                // included); notifications in between are lost.
                Ok(None) => {
                    tx.send_replace(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening for work notifications failed; reconnecting");
                    break;
                }
            }
        }
        drop(listener);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}
