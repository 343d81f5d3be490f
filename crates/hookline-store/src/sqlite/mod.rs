//! The embedded SQLite backend: one process owns one database file.
//!
//! # Layout
//! Each part of the store is implemented in the module that owns it; where
//! the SQL is the same as PostgreSQL's it lives in `crate::sql` and the
//! module only picks the connection (writes on the writer, through
//! `SqliteStore::written`; reads on the reader pool).
//! - `open`: locating the file, the process lock, pools, PRAGMAs
//!   and migrations; `mod.rs` itself: [`Store`] (ping, the write probe).
//! - `config`: [`ConfigStore`](crate::ConfigStore) (api keys, apps,
//!   webhooks, products, connections, the key check).
//! - `registrations`: [`RegistrationStore`](crate::RegistrationStore).
//! - `batch_insert`: [`IngestStore`](crate::IngestStore), storing received
//!   batches (the group commit's write).
//! - `events`: [`EventStore`](crate::EventStore) (finding, listing and
//!   replaying events) and [`RetentionStore`](crate::RetentionStore).
//! - `queue`: [`QueueStore`](crate::QueueStore), claiming, completing and
//!   releasing leased events.
//! - `monitor`: [`StatsStore`](crate::StatsStore), queue gauges, traffic,
//!   registration load and health; cursors and counts for `events`.
//! - `replay_jobs`: [`ReplayJobStore`](crate::ReplayJobStore).
//!
//! # Why one writer connection and a reader pool
//! SQLite has one writer at a time. Every write goes through `writer`, one
//! connection behind a mutex, so writes queue for it instead of fighting over
//! the file lock with `SQLITE_BUSY`. It is not a one-connection sqlx pool
//! because a pool pings each connection it gets back, and for SQLite a ping
//! is one more round trip to the connection's thread after every write.
//! The delivery loop's reads (payloads and registrations of a claim, the next
//! due time) go through it too, for the same reason. Other reads go through
//! `reader`, whose connections are `query_only`: in WAL mode they never block
//! the writer nor each other, and a write sent there by mistake fails loudly.
//!
//! # A failed write replaces the writer
//! On a full disk or an I/O error SQLite may roll a transaction back by
//! itself (`SQLITE_FULL`, `SQLITE_IOERR`), behind the back of sqlx, which
//! then counts the connection as still inside it: its next `begin()` would
//! issue a `SAVEPOINT`, whose rollback leaves a transaction open, and every
//! later `BEGIN` fails. So after any write that fails
//! [`StoreError::Unavailable`](crate::StoreError::Unavailable) the writer is
//! closed and opened afresh (`SqliteStore::written`): no transaction state
//! survives a storage failure, and a write that succeeds costs nothing more.
//!
//! Architecture invariant: no method holds a transaction open across anything
//! but SQL; a transaction never waits on the network.

mod batch_insert;
mod config;
mod events;
mod monitor;
mod open;
mod queue;
mod registrations;
mod replay_jobs;

use crate::{DocCipher, DynStore, Result, Store};
use async_trait::async_trait;
use hookline_core::time::Millis;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection, SqlitePool};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

pub use open::database_path;

/// The statements shared with the other backend (see [`crate::sql`]).
type Sql = crate::sql::Sql<sqlx::Sqlite>;

/// How [`SqliteStore::open`] sets the database up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Connections in the read pool (at least 1).
    pub readers: u32,
    /// How long a statement waits for a lock held by another connection
    /// before failing with `SQLITE_BUSY` (checkpoints, mostly).
    pub busy_timeout: Duration,
    /// How long a caller waits for a free pooled connection.
    pub acquire_timeout: Duration,
    /// Apply pending migrations on open.
    pub migrate: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
            migrate: true,
        }
    }
}

/// A [`Store`] on an embedded SQLite file. See the module docs for why it
/// holds two pools. A clone is another handle on the same connections and
/// lock (as [`Store::with_cipher`] makes); the lock goes with the last one.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one write connection; `None` once closed.
    writer: Arc<Mutex<Option<SqliteConnection>>>,
    /// How `writer` is opened, to open it again after a storage failure.
    writer_options: SqliteConnectOptions,
    /// `query_only` connections for reads, concurrent with the writer.
    reader: SqlitePool,
    /// The database file, for messages.
    path: PathBuf,
    /// Cached `meta.event_ids_track_time`: while true, listing turns time
    /// windows into id ranges (see [`crate::rules::id_window`]). Only this
    /// process writes the file, so the cache cannot go stale; it is cleared
    /// before the first event breaking the rule is written, never after.
    ids_track_time: Arc<AtomicBool>,
    /// Seals the secrets of registrations and connections as their
    /// documents are written, and opens them as they are read (`None`: kept
    /// as given). See [`crate::sealed`].
    cipher: Option<DocCipher>,
    /// Exclusive advisory lock on `<db>.lock`, held for the store's lifetime:
    /// it is what makes releasing every lease at open safe. Dropping the
    /// store drops the file and so releases the lock.
    _lock: Arc<File>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a path or `sqlite:` URL.
    /// Fails with [`StoreError::Locked`](crate::StoreError::Locked) when
    /// another store, in this or another process, has it open.
    pub async fn open(path_or_url: &str, opts: &SqliteOptions) -> Result<SqliteStore> {
        open::open(path_or_url, opts).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the readers and the writer (of every handle on them), waiting
    /// for connections in use to come back, so the WAL is checkpointed
    /// before the process exits. Dropping the store without it is safe,
    /// only less tidy.
    pub async fn close(&self) {
        self.reader.close().await;
        if let Some(conn) = self.writer.lock().await.take() {
            if let Err(e) = conn.close().await {
                tracing::warn!(error = %e, "closing the SQLite writer failed");
            }
        }
    }

    /// Passes `result` through; when it is a storage failure, first swaps
    /// the writer for a freshly opened connection (see the module docs).
    /// Only a failure costs anything.
    async fn written<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            if e.is_unavailable() {
                self.reopen_writer().await;
            }
        }
        result
    }

    /// Replaces the writer with a new connection. If none can be opened (the
    /// file is out of reach) the old one stays, and the next failure tries
    /// again; a closed store stays closed.
    async fn reopen_writer(&self) {
        let mut writer = self.writer.lock().await;
        if writer.is_none() {
            return;
        }
        match self.writer_options.connect().await {
            Ok(fresh) => {
                if let Some(old) = writer.replace(fresh) {
                    // Closing rolls back whatever the old one still had open.
                    if let Err(e) = old.close().await {
                        tracing::debug!(error = %e, "closing the replaced SQLite writer failed");
                    }
                }
                tracing::info!("SQLite writer reopened after a storage failure");
            }
            Err(e) => {
                tracing::warn!(error = %e, "reopening the SQLite writer failed; keeping the old one")
            }
        }
    }

    /// The write connection, once the writes queued before this one are done.
    async fn write(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>> {
        MutexGuard::try_map(self.writer.lock().await, Option::as_mut)
            .map_err(|_| sqlx::Error::PoolClosed.into())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
    /// Rewrites one `meta` row through the writer: a commit with its WAL
    /// append and fsync, like any ingest batch (only smaller).
    async fn probe_write(&self) -> Result<()> {
        let probe = async {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ('write_probe', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(Millis::now().0.to_string())
            .execute(&mut *self.write().await?)
            .await?;
            Ok(())
        };
        self.written(probe.await).await
    }
    fn with_cipher(&self, cipher: Option<DocCipher>) -> DynStore {
        Arc::new(SqliteStore {
            cipher,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RegistrationHealth, StatsStore};

    fn health(id: &str, reason: String) -> RegistrationHealth {
        RegistrationHealth {
            registration_id: id.into(),
            healthy: false,
            reasons: vec![reason],
            since: Millis(1),
            checked_at: Millis(1),
            attempts: 0,
            failed_attempts: 0,
            backlog: 0,
            oldest_backlog_received_at: None,
        }
    }

    /// `max_page_count` makes SQLite fail with `SQLITE_FULL`, the code of a
    /// full disk, as soon as the file would have to grow.
    async fn cap_pages(s: &SqliteStore, cap: Option<i64>) {
        let mut conn = s.write().await.unwrap();
        let cap = match cap {
            Some(c) => c,
            None => sqlx::query_scalar::<_, i64>("PRAGMA page_count")
                .fetch_one(&mut *conn)
                .await
                .unwrap(),
        };
        sqlx::query(&format!("PRAGMA max_page_count = {cap}"))
            .execute(&mut *conn)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_transaction_that_fails_on_a_full_disk_leaves_the_writer_in_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hookline.db");
        let s = SqliteStore::open(db.to_str().unwrap(), &SqliteOptions::default())
            .await
            .unwrap();
        s.save_registration_health(&health("r1", "small".into()))
            .await
            .unwrap();

        cap_pages(&s, None).await;
        // A transaction (`conn.begin()`) whose write needs new pages: SQLite
        // answers SQLITE_FULL and rolls the whole transaction back itself.
        let err = s
            .save_registration_health(&health("r2", "x".repeat(1 << 20)))
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        cap_pages(&s, Some(1 << 30)).await; // space is back

        // sqlx's view of the connection must agree with SQLite's: a
        // transaction begun and rolled back leaves none open (before the fix
        // sqlx still counted the auto-rolled-back one, so this was a
        // SAVEPOINT whose rollback kept a transaction open) ...
        {
            let mut conn = s.write().await.unwrap();
            let tx = conn.begin().await.unwrap();
            tx.rollback().await.unwrap();
            // ... so the hand-written `BEGIN; …; COMMIT` commands of ingest
            // and completions can start theirs.
            sqlx::query("BEGIN; COMMIT")
                .execute(&mut *conn)
                .await
                .expect("no transaction is left open on the writer");
        }
        s.probe_write().await.unwrap();
        s.save_registration_health(&health("r3", "x".repeat(1 << 20)))
            .await
            .unwrap();
        // Committed, so the readers see it.
        let ids: Vec<String> = s
            .list_registration_health()
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.registration_id)
            .collect();
        assert_eq!(ids, ["r1", "r3"]);
    }
}
