//! Keeps this process on the database's clock: on PostgreSQL every node
//! compares leases and due times other nodes stamped, so the store measured
//! its offset to the server's clock when it opened, and this task measures
//! it again every [`REFRESH`] ([`Store::sync_clock`](hookline_store::Store::sync_clock)) so that a node whose
//! own clock steps or drifts follows the database. On SQLite the store is no
//! time authority and the task ends at its first round.

use hookline_store::DynStore;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the offset is measured again: a local clock step is followed
/// within this long.
pub const REFRESH: Duration = Duration::from_secs(10);

/// Starts the refresh task; it stops once `shutdown` is cancelled.
pub fn spawn(store: DynStore, shutdown: CancellationToken) -> JoinHandle<()> {
    spawn_every(store, REFRESH, shutdown)
}

fn spawn_every(store: DynStore, every: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match store.sync_clock().await {
                Ok(None) => return, // This process's own clock is the time.
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(
                    error = %e,
                    "measuring the database's clock failed; keeping the offset in use"
                ),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_store::{connect, ConnectOptions};

    #[tokio::test]
    async fn on_sqlite_the_task_ends_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let store = connect(&url, &ConnectOptions::default()).await.unwrap();
        let task = spawn_every(store, Duration::from_millis(10), CancellationToken::new());
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("ends without being cancelled")
            .unwrap();
    }
}
