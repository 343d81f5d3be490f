//! The store's traits, one per concern, and [`Store`], the umbrella every
//! backend implements whole.
//!
//! A caller names the part it needs (`&dyn QueueStore`, or
//! `Arc<dyn ConfigStore>` upcast from a [`DynStore`]); a
//! new method touches one trait and the one module of each backend that
//! implements it. The parts:
//! - [`ConfigStore`]: api keys, apps and their webhooks, products,
//!   connections, and the secret key check.
//! - [`RegistrationStore`]: registrations, and the release of their held
//!   events.
//! - [`IngestStore`]: storing received batches, provider redeliveries.
//! - [`QueueStore`]: claiming, completing and releasing leased events, and
//!   the wake-ups of other processes.
//! - [`EventStore`]: reading events, their attempts, and replaying one.
//! - [`StatsStore`]: queue gauges, traffic, registration load and health.
//! - [`ReplayJobStore`]: bulk replay jobs, leased like events.
//! - [`RetentionStore`]: deleting what has been kept long enough.

mod config;
mod events;
mod ingest;
mod queue;
mod registrations;
mod replay_jobs;
mod retention;
mod stats;

pub use config::ConfigStore;
pub use events::EventStore;
pub use ingest::IngestStore;
pub use queue::QueueStore;
pub use registrations::RegistrationStore;
pub use replay_jobs::ReplayJobStore;
pub use retention::RetentionStore;
pub use stats::StatsStore;

use crate::{ClockSync, DocCipher, DynStore, Result};
use async_trait::async_trait;

/// The whole store: every part, plus what concerns the database as a whole
/// (reachability, a write probe, its clock). [`DynStore`]
/// is an `Arc<dyn Store>`; it upcasts to any part.
#[async_trait]
pub trait Store:
    ConfigStore
    + RegistrationStore
    + IngestStore
    + QueueStore
    + EventStore
    + StatsStore
    + ReplayJobStore
    + RetentionStore
    + Send
    + Sync
    + 'static
{
    /// Answers when the database can be reached.
    async fn ping(&self) -> Result<()>;
    /// A small durable write, to learn whether the storage takes writes
    /// again after [`StoreError::Unavailable`](crate::StoreError::Unavailable)
    /// (`/healthz` of a node that could not write). The default only pings:
    /// a backend without a cheap write of its own learns of recovery from
    /// the next real write.
    async fn probe_write(&self) -> Result<()> {
        self.ping().await
    }

    /// Re-measures this process's offset to the database's clock and adopts
    /// it for [`Millis::now`](hookline_core::time::Millis::now) (and ids)
    /// when it moved by more than the measurement's error: nodes sharing a
    /// database compare each other's leases and due times, so the database's
    /// clock is their time. The store measures once when it opens; the
    /// server calls this periodically so that a node whose own clock steps
    /// or drifts follows.
    ///
    /// `None` (the default) when the backend is no time authority: one
    /// process owns an SQLite file, and its own clock is the time.
    async fn sync_clock(&self) -> Result<Option<ClockSync>> {
        Ok(None)
    }

    /// Another handle on the same database (same connections; on SQLite the
    /// same process lock) whose registration and connection documents are
    /// written with their secrets sealed under `cipher` and read with them
    /// opened, and whose claims mark a registration whose secrets do not
    /// open (see [`crate::sealed`]). `None`: secrets are stored and read as
    /// they are. A store opens without a cipher; the server sets its key
    /// with this before serving.
    fn with_cipher(&self, cipher: Option<DocCipher>) -> DynStore;
}
