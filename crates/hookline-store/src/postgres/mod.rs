//! The PostgreSQL store: one database shared by several Hookline nodes.
//!
//! Unlike SQLite, no process owns the database, so nothing here may assume
//! it is alone: work is claimed with `FOR UPDATE SKIP LOCKED` under leases
//! that expire (a dead node's leases are taken over once they run out, never
//! released at start), completions are fenced by the lease owner, a health
//! change is judged under an advisory lock so one node reports it, and
//! migrations run under the migrator's advisory lock so nodes may start
//! together.
//!
//! # Layout
//! - `open`: URL and pool options, migrations, the test for a usable server.
//! - `clock`: the offset to the server's clock, which is every node's time
//!   (measured at open and on [`Store::sync_clock`]).
//! - `notify`: `NOTIFY hookline_work` on commits that queue work, and the
//!   `LISTEN` task behind
//!   [`QueueStore::work_notifications`](crate::QueueStore::work_notifications).
//! - `config` ([`ConfigStore`](crate::ConfigStore)), `registrations`
//!   ([`RegistrationStore`](crate::RegistrationStore)), `events`
//!   ([`IngestStore`](crate::IngestStore), [`EventStore`](crate::EventStore),
//!   [`RetentionStore`](crate::RetentionStore)), `queue`
//!   ([`QueueStore`](crate::QueueStore)), `monitor`
//!   ([`StatsStore`](crate::StatsStore)), `replay_jobs`
//!   ([`ReplayJobStore`](crate::ReplayJobStore)): each part of the store in
//!   the module that owns it, as for SQLite; `mod.rs` itself implements
//!   [`Store`] (ping, the clock).
//! - [`testing`]: throwaway databases for test suites.
//!
//! Where the SQL is the same as SQLite's (configuration, registrations,
//! health records, replay jobs) it lives in `crate::sql`, and the module
//! here runs it on the pool. Rows are decoded with the backend-neutral
//! structs of `codec`; the queue's decisions come from [`crate::rules`], so
//! only the SQL differs from SQLite.

mod clock;
mod config;
mod events;
mod monitor;
mod notify;
mod open;
mod queue;
mod registrations;
mod replay_jobs;
pub mod testing;

use crate::{DocCipher, DynStore, Result, Store};
use async_trait::async_trait;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// The statements shared with the other backend (see [`crate::sql`]).
type Sql = crate::sql::Sql<sqlx::Postgres>;

/// How to open a [`PgStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Pool size (the `LISTEN` connection comes on top).
    pub max_connections: u32,
    /// How long a caller waits for a free pooled connection.
    pub acquire_timeout: Duration,
    /// Apply pending migrations on open (under an advisory lock).
    pub migrate: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            migrate: true,
        }
    }
}

/// A Hookline store in a PostgreSQL database. A clone is another handle on
/// the same pool (as [`Store::with_cipher`] makes).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Sends our `NOTIFY`s and hears other nodes' (see `notify`).
    notifier: Arc<notify::Notifier>,
    /// Seals the secrets of registrations and connections as their
    /// documents are written, and opens them as they are read (`None`: kept
    /// as given). See [`crate::sealed`].
    cipher: Option<DocCipher>,
}

impl PgStore {
    /// Opens (and by default migrates) the database a `postgres://` or
    /// `postgresql://` URL names.
    pub async fn open(url: &str, opts: &PgOptions) -> Result<PgStore> {
        open::open(url, opts).await
    }

    /// This process's offset to the server's clock, measured now (without
    /// adopting it; [`Store::sync_clock`] does both).
    pub async fn measure_clock(&self) -> Result<hookline_core::time::ClockSample> {
        clock::measure(self).await
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
    async fn sync_clock(&self) -> Result<Option<crate::ClockSync>> {
        clock::sync(self).await.map(Some)
    }
    fn with_cipher(&self, cipher: Option<DocCipher>) -> DynStore {
        Arc::new(PgStore {
            cipher,
            ..self.clone()
        })
    }
}
