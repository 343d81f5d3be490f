//! Hookline's storage: the [`Store`] traits, implemented for an embedded
//! SQLite file ([`sqlite`]) and for PostgreSQL shared by several nodes
//! ([`postgres`]).
//!
//! The store is cut by concern, so a caller names what it needs and a new
//! method touches one part: [`ConfigStore`] (keys, apps, webhooks, products,
//! connections, the secret key check), [`RegistrationStore`],
//! [`IngestStore`] (received batches), [`QueueStore`] (claims, completions,
//! leases), [`EventStore`] (reading and replaying events), [`StatsStore`]
//! (gauges, traffic, registration load and health), [`ReplayJobStore`] and
//! [`RetentionStore`]. [`Store`] is all of them plus what concerns the
//! database as a whole; [`DynStore`] (`Arc<dyn Store>`) upcasts to any part.
//!
//! # Invariants every implementation keeps
//! - A write the trait returns `Ok` for is durable (fsync'd), because ingest
//!   acknowledges providers on it.
//! - [`IngestStore::insert_events`] writes a whole batch in one transaction:
//!   that is what makes group commit possible above it.
//! - Work is claimed with a lease (`owner`, `until`) committed by
//!   [`QueueStore::claim_due`] itself. Callers make their outbound HTTP calls
//!   after it returns; no method holds a transaction open across a call.
//! - [`QueueStore::complete`] only moves an event whose lease the caller
//!   still holds; the attempt is recorded either way, because it happened.
//! - A store with a cipher ([`Store::with_cipher`]) never writes a secret of
//!   a registration or connection in plain text, and opens them on every
//!   read (see [`sealed`]).
//!
//! # Layout
//! - `traits/`: the traits, one file per part, and the umbrella [`Store`].
//! - [`error`]: the typed error every method returns.
//! - [`connect`]: opens the backend a database URL names.
//! - [`sqlite`]: the embedded default (one process owns the file).
//! - [`postgres`]: one database shared by several nodes.
//! - `sql/`: the statements both backends run as written (configuration
//!   documents and registrations, health records, replay jobs), generic over
//!   sqlx's `Database`; each backend hands in the connection to use.
//! - [`sealed`]: the cipher that seals secrets at rest, and the key check.
//! - [`monitor`]: values of the monitoring methods (gauges, traffic, health,
//!   replay jobs).
//! - `batch`: how batches are cut into statements and what a failed batch
//!   insert names, shared by both backends.
//! - `codec`: backend-neutral mapping between rows and domain values (JSON
//!   docs, with secrets sealed and opened; event/attempt/payload columns),
//!   for every backend to share.
//! - [`rules`]: the queue's rules as pure functions (what a completion does,
//!   when a replay is allowed, page sizes), so backends differ only in SQL.
#![forbid(unsafe_code)]

mod batch;
mod codec;
pub mod error;
pub mod monitor;
pub mod postgres;
pub mod rules;
pub mod sealed;
mod sql;
pub mod sqlite;
mod traits;

use hookline_core::event::{Delivery, DeliveryStatus, Event, EventStatus, Payload};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

pub use error::StoreError;
pub use monitor::{
    QueueStats, RegistrationHealth, RegistrationLoad, ReplayJob, ReplayStatus, Traffic,
    TrafficBucket, TrafficQuery,
};
pub use postgres::{PgOptions, PgStore};
pub use sealed::{DocCipher, KeyCheck};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use traits::{
    ConfigStore, EventStore, IngestStore, QueueStore, RegistrationStore, ReplayJobStore,
    RetentionStore, StatsStore, Store,
};
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Backend-independent settings for [`connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Pool size: SQLite's read pool (writes always use one connection),
    /// or PostgreSQL's pool.
    pub max_connections: u32,
    /// How long a caller waits for a free pooled connection.
    pub acquire_timeout: Duration,
    /// Apply pending migrations on connect.
    pub migrate: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(30),
            migrate: true,
        }
    }
}

/// Opens the store a database URL names: `sqlite:` (`sqlite://relative.db`,
/// `sqlite:///abs.db`, `sqlite:file.db`) or `postgres://` / `postgresql://`.
pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<DynStore> {
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => {
            let sqlite = SqliteOptions {
                readers: opts.max_connections.max(1),
                acquire_timeout: opts.acquire_timeout,
                migrate: opts.migrate,
                ..SqliteOptions::default()
            };
            Ok(Arc::new(SqliteStore::open(url, &sqlite).await?))
        }
        Some("postgres" | "postgresql") => {
            let pg = PgOptions {
                max_connections: opts.max_connections.max(1),
                acquire_timeout: opts.acquire_timeout,
                migrate: opts.migrate,
            };
            Ok(Arc::new(PgStore::open(url, &pg).await?))
        }
        // Only the scheme is echoed: the rest may hold a password.
        Some(other) => Err(StoreError::BadUrl(format!(
            "unsupported scheme `{other}:`; use sqlite:… or postgres://…"
        ))),
        None => Err(StoreError::BadUrl(
            "expected sqlite:… or postgres://…".into(),
        )),
    }
}

/// Which events: the one filter for listing, counting, streaming and bulk
/// replays; every field narrows the result.
///
/// A replay job stores it as JSON (see [`ReplayJob::filter`]), so the field
/// names are a stored format: jobs written by earlier versions, without
/// newer fields, still read (`default`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    pub product_tag: Option<String>,
    pub access_tag: Option<String>,
    pub webhook_tag: Option<String>,
    pub event_type: Option<String>,
    pub env: Option<String>,
    pub status: Option<EventStatus>,
    pub registration_id: Option<String>,
    /// Received at or after.
    pub since: Option<Millis>,
    /// Received strictly before.
    pub until: Option<Millis>,
    /// Cursor: only events with an id strictly less than this (newest first).
    /// A replay job sets it when created to an event id minted then, so that
    /// events received after the job was created are not part of it (see
    /// `hookline::service::ReplayJobs::create`); `None` in jobs stored before
    /// it existed, whose `until` was capped instead.
    pub before_id: Option<String>,
    /// Page size, capped at [`rules::MAX_LIST_LIMIT`]; 0 means
    /// [`rules::DEFAULT_LIST_LIMIT`]. Not stored with a replay job: its
    /// runner picks a page size per step.
    #[serde(skip)]
    pub limit: u32,
}

/// A signal that another process made work claimable (see
/// [`QueueStore::work_notifications`]): `changed().await` resolves once per
/// burst of notifications.
pub type WorkNotifications = tokio::sync::watch::Receiver<()>;

/// The terms of a claim ([`QueueStore::claim_due`]): who will hold the
/// leases, the claim's clock (what is due, and which leases have run out),
/// and when the new leases run out.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub now: Millis,
    pub until: Millis,
}

impl<'a> Lease<'a> {
    pub fn new(owner: &'a str, now: Millis, until: Millis) -> Self {
        Self { owner, now, until }
    }
}

/// A delivery a worker has leased, with everything needed to make it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub delivery: Delivery,
    pub event: Event,
    pub payload: Payload,
    pub registration: Registration,
    /// Why the registration's secrets could not be opened with the store's
    /// cipher (see [`sealed`]); `None` when they opened, or when the store
    /// has no cipher. The secrets are then missing from `registration`, so
    /// the event must not be sent: the worker records a failed attempt
    /// instead, which ends the lease.
    pub unreadable_secrets: Option<String>,
}

/// What a replay found.
// One is returned per replay request and matched at once: boxing the event
// would cost every caller an indirection to save stack nobody misses.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Requeue {
    Queued(Event),
    NotFound,
    /// None of the event's deliveries may be replayed (it was rejected and
    /// has none, they are held, or a worker is calling right now).
    NotAllowed(EventStatus),
}

/// What a replay of one delivery found.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryRequeue {
    Queued(Delivery),
    NotFound,
    /// The delivery's status does not allow a replay (see
    /// `rules::requeue_allowed`).
    NotAllowed(DeliveryStatus),
}

/// What [`Store::sync_clock`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSync {
    /// The offset in use after the measurement (database − this machine).
    pub offset_ms: i64,
    /// The round trip of the sample used; the offset is good to ± half of it.
    pub round_trip: std::time::Duration,
    /// Whether the measurement replaced the offset in use.
    pub adopted: bool,
}

pub type DynStore = Arc<dyn Store>;
