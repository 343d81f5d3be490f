//! Waking idle workers on other nodes: after every commit that makes work
//! claimable (events queued by ingest, held events released, a replay,
//! leases released at shutdown) the store sends `NOTIFY hookline_work`.
//! Each store listens on its own connection and turns the notifications of
//! *other* stores into a [`WorkNotifications`] signal.
//!
//! The notification is sent by a background task *after* the commit, not
//! inside the transaction: PostgreSQL serialises the commits of notifying
//! transactions, WAL flush included. Measured with pgbench (eight clients,
//! one-row commits, 2-core machine): ~2 000 commits/s plain, ~540/s with
//! `pg_notify` inside the transaction, ~1 700/s with `pg_notify` sent after
//! the commit. Sending from a task also keeps the round trip out of ingest's
//! answer and merges a burst of commits into one notification. Should the
//! process die between the commit and the notification, other nodes find
//! the work at their next poll.
//!
//! The payload is the sending store's instance id, so a store skips its own
//! notifications: its process already woke its workers in memory when it
//! committed. Notifications are hints, not a queue: one sent while the
//! listening connection is down is lost (a reconnect therefore signals once,
//! in case), so workers keep their poll interval as the safety net.

use crate::WorkNotifications;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};

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
    /// Poked after each commit that queued work; the sender task behind it
    /// sends one notification per burst of pokes.
    outbox: Arc<Notify>,
    /// Stops the sender task when the store is dropped.
    _sender: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    /// Starts the sender task on the current runtime (the store is opened
    /// in one).
    pub(super) fn new(pool: PgPool, connect: PgConnectOptions) -> Self {
        let instance = hookline_core::ids::new_id("store");
        let outbox = Arc::new(Notify::new());
        let sender = tokio::spawn(send(pool, instance.clone(), outbox.clone()));
        Notifier {
            instance,
            connect,
            listening: OnceLock::new(),
            outbox,
            _sender: AbortOnDrop(sender.abort_handle()),
        }
    }

    /// Tells the other nodes, soon, that work was committed. Call it only
    /// after the commit: a notification must never announce work that a
    /// rollback took back.
    pub(super) fn work_committed(&self) {
        self.outbox.notify_one();
    }

    /// Sends the notification now and waits for it: for rare commits after
    /// which the process may soon exit (leases released at shutdown).
    pub(super) async fn work_committed_now(&self, pool: &PgPool) {
        if let Err(e) = notify(pool, &self.instance).await {
            tracing::warn!(error = %e, "could not notify other nodes of released work; they find it at their next poll");
        }
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

/// Sends a notification for each wake of `outbox` (a wake that arrives
/// while one is being sent is kept, so the last commit is always covered).
async fn send(pool: PgPool, instance: String, outbox: Arc<Notify>) {
    loop {
        outbox.notified().await;
        if let Err(e) = notify(&pool, &instance).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "could not notify other nodes of new work; they find it at their next poll");
        }
    }
}

async fn notify(pool: &PgPool, instance: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(instance)
        .execute(pool)
        .await?;
    Ok(())
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
