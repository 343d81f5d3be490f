//! Hookline's storage: one [`Store`] trait, implemented for an embedded SQLite
//! file ([`sqlite`]) and for PostgreSQL shared by several nodes.
//!
//! # Invariants every implementation keeps
//! - A write the trait returns `Ok` for is durable (fsync'd), because ingest
//!   acknowledges providers on it.
//! - [`Store::insert_events`] writes a whole batch in one transaction: that is
//!   what makes group commit possible above it.
//! - Work is claimed with a lease (`owner`, `until`) committed by
//!   [`Store::claim_due`] itself. Callers make their outbound HTTP calls after
//!   it returns; no method holds a transaction open across a call.
//! - [`Store::complete`] only moves an event whose lease the caller still
//!   holds; the attempt is recorded either way, because it happened.
//!
//! # Layout
//! - [`error`]: the typed error every method returns.
//! - [`connect`]: opens the backend a database URL names.
//! - [`sqlite`]: the embedded default (one process owns the file).
//! - [`postgres`]: one database shared by several nodes.
//! - [`monitor`]: values of the monitoring methods (gauges, traffic, health,
//!   replay jobs).
//! - `batch`: how batches are cut into statements and what a failed batch
//!   insert names, shared by both backends.
//! - `codec`: backend-neutral mapping between rows and domain values (JSON
//!   docs, event/attempt/payload columns), for every backend to share.
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
pub mod sqlite;

use async_trait::async_trait;
use hookline_core::event::{
    Attempt, Completion, Delivery, DeliveryStatus, Event, EventStatus, Payload,
};
use hookline_core::model::{
    ApiKey, App, AppWebhook, Connection, Product, Registration, RegistrationKey,
};
use hookline_core::time::Millis;
use std::sync::Arc;
use std::time::Duration;

pub use error::StoreError;
pub use monitor::{
    QueueStats, RegistrationHealth, RegistrationLoad, ReplayFilter, ReplayJob, ReplayStatus,
    Traffic, TrafficBucket, TrafficQuery,
};
pub use postgres::{PgOptions, PgStore};
pub use sealed::{DocCipher, SealedStore};
pub use sqlite::{SqliteOptions, SqliteStore};
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

/// Filters for listing events; every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq)]
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
    pub before_id: Option<String>,
    /// Page size, capped at [`rules::MAX_LIST_LIMIT`]; 0 means
    /// [`rules::DEFAULT_LIST_LIMIT`].
    pub limit: u32,
}

/// A signal that another process made work claimable (see
/// [`Store::work_notifications`]): `changed().await` resolves once per burst
/// of notifications.
pub type WorkNotifications = tokio::sync::watch::Receiver<()>;

/// A delivery a worker has leased, with everything needed to make it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub delivery: Delivery,
    pub event: Event,
    pub payload: Payload,
    pub registration: Registration,
    /// Why the registration's secrets could not be opened ([`SealedStore`]
    /// sets it; backends leave it `None`). The secrets are then missing
    /// from `registration`, so the event must not be sent: the worker
    /// records a failed attempt instead, which ends the lease.
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

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database can be reached.
    async fn ping(&self) -> Result<()>;
    /// A small durable write, to learn whether the storage takes writes
    /// again after [`StoreError::Unavailable`] (`/healthz` of a node that
    /// could not write). The default only pings: a backend without a cheap
    /// write of its own learns of recovery from the next real write.
    async fn probe_write(&self) -> Result<()> {
        self.ping().await
    }

    // --- management keys -------------------------------------------------
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()>;
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>>;

    // --- apps and their webhooks ----------------------------------------
    /// `Conflict` when the tag is taken.
    async fn insert_app(&self, app: &App) -> Result<()>;
    async fn update_app(&self, app: &App) -> Result<()>;
    async fn get_app(&self, tag: &str) -> Result<Option<App>>;
    async fn get_app_by_id(&self, id: &str) -> Result<Option<App>>;
    async fn list_apps(&self) -> Result<Vec<App>>;
    /// Deletes the app and its webhooks.
    async fn delete_app(&self, id: &str) -> Result<()>;

    /// `Conflict` when the app already has a webhook with that tag.
    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()>;
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()>;
    async fn get_webhook(&self, app_id: &str, tag: &str) -> Result<Option<AppWebhook>>;
    async fn get_webhook_by_id(&self, id: &str) -> Result<Option<AppWebhook>>;
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<AppWebhook>>;
    async fn delete_webhook(&self, id: &str) -> Result<()>;

    // --- products and connected apps ------------------------------------
    async fn insert_product(&self, product: &Product) -> Result<()>;
    async fn update_product(&self, product: &Product) -> Result<()>;
    async fn get_product(&self, tag: &str) -> Result<Option<Product>>;
    async fn list_products(&self) -> Result<Vec<Product>>;
    /// Deletes the product and its connections; its registrations and events
    /// stay, as history.
    async fn delete_product(&self, id: &str) -> Result<()>;

    // --- the secret key check (see `sealed`) -------------------------------
    /// The stored key check value, if one was written.
    async fn key_check(&self) -> Result<Option<String>>;
    /// Stores `value` as the key check value unless one is stored already,
    /// and returns the stored one (this or the earlier one): of nodes
    /// starting together, every one reads the same value back.
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String>;
    /// The stored documents (JSON text) of up to `limit` registrations and
    /// up to `limit` connections whose text contains `needle`.
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>>;

    /// `Conflict` when the product already uses the access tag.
    async fn insert_connection(&self, connection: &Connection) -> Result<()>;
    async fn update_connection(&self, connection: &Connection) -> Result<()>;
    async fn get_connection(
        &self,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>>;
    async fn list_connections(&self, product_id: &str) -> Result<Vec<Connection>>;
    /// How many connections (over all products) use this app.
    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64>;
    async fn delete_connection(&self, id: &str) -> Result<()>;

    // --- registrations ---------------------------------------------------
    /// Inserts or updates (by id) every registration in one transaction.
    /// `Conflict` when a new one's key or link is already taken. For each
    /// saved registration that is active and has a receiver, its `held`
    /// deliveries are queued (`pending`, due now; their events `received`)
    /// in the same transaction.
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()>;
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>>;
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>>;
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>>;
    /// Registrations of a product, optionally of one access tag, oldest first.
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>>;

    // --- events and the delivery queue -----------------------------------
    /// Stores a batch of received events (with payloads) and their
    /// deliveries in one transaction. Each event but a rejected one gets one
    /// delivery, to its registration's primary destination, in the state
    /// its summary fields describe (`received`: `pending`, due at
    /// `next_attempt_at`; `held`: held; see `rules::initial_delivery`).
    async fn insert_events(&self, events: &[(Event, Payload)]) -> Result<()>;
    /// Like [`insert_events`](Store::insert_events), leaving out provider
    /// redeliveries: an event whose `provider_event_id` this registration
    /// already received at or after `dedup_since` (or earlier in the same
    /// batch) is not stored. The answer holds, per event, `None` when it was
    /// stored and the original's id when it was left out.
    ///
    /// SQLite checks and inserts in one transaction on its one writer.
    /// PostgreSQL settles it in `event_dedup` (one row per registration and
    /// provider event id, upserted in the same statement), so a redelivery
    /// arriving at two nodes at once is stored by one of them.
    async fn insert_new_events(
        &self,
        events: Vec<(Event, Payload)>,
        dedup_since: Millis,
    ) -> Result<Vec<Option<String>>>;
    /// The id of an event of this registration with this provider event id
    /// received at or after `since`, if any (dedup of provider redeliveries).
    async fn find_duplicate(
        &self,
        registration_id: &str,
        provider_event_id: &str,
        since: Millis,
    ) -> Result<Option<String>>;
    /// Leases up to `limit` queued deliveries due at `now` whose lease is
    /// free or expired: sets `owner`, `lease_until` and status `delivering`
    /// (their events too), commits, and returns them oldest due first.
    async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Claimed>>;
    /// Records attempts and moves their deliveries on (and their events'
    /// summaries), in one transaction; only a delivery whose lease the
    /// completion's owner still holds moves.
    async fn complete(&self, completions: &[Completion]) -> Result<()>;
    /// Clears leases (of one owner, or all when `None`) so the deliveries can
    /// be claimed again at once (`pending`, due as before). Returns how many
    /// were released.
    async fn release_leases(&self, owner: Option<&str>) -> Result<u64>;
    /// The earliest `next_attempt_at` among queued deliveries, leased or not.
    async fn next_due(&self) -> Result<Option<Millis>>;

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>>;
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>>;
    /// Attempts of an event (all its deliveries), first to last.
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>>;
    /// Deliveries of an event, oldest first.
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>>;
    /// Queues every delivered, failed or waiting delivery of an event again,
    /// due now, with the retry schedule restarting (`retry_base` =
    /// `attempts`); the others are left as they are.
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue>;
    /// As [`Store::requeue_event`], for one delivery.
    async fn requeue_delivery(&self, id: &str, now: Millis) -> Result<DeliveryRequeue>;

    // --- monitoring (see [`monitor`]) -------------------------------------
    /// Events matching `filter` with an id strictly greater than `after_id`
    /// (all when `None`), oldest id first; `filter.before_id` is an upper
    /// bound and `filter.limit` the page size, as for [`Store::list_events`].
    async fn list_events_after(
        &self,
        filter: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>>;
    /// The events among `ids` that exist, in no particular order.
    async fn get_events(&self, ids: &[String]) -> Result<Vec<Event>>;
    /// How many events match `filter`, `filter.before_id` included as an
    /// upper bound as for [`Store::list_events_after`] (`limit` ignored).
    async fn count_events(&self, filter: &EventFilter) -> Result<u64>;
    async fn queue_stats(&self) -> Result<QueueStats>;
    async fn traffic(&self, query: &TrafficQuery) -> Result<Traffic>;
    /// Attempt outcomes since `since` and current backlog, for every
    /// registration that has either (registrations with neither are absent).
    async fn registration_loads(&self, since: Millis) -> Result<Vec<RegistrationLoad>>;
    async fn list_registration_health(&self) -> Result<Vec<RegistrationHealth>>;
    /// Records a health judgement. Returns true when `healthy` differs from
    /// the previous record (none counts as healthy): exactly one of several
    /// nodes judging the same change gets true, and it sends the notification.
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool>;

    async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()>;
    async fn get_replay_job(&self, id: &str) -> Result<Option<ReplayJob>>;
    /// Newest first.
    async fn list_replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>>;
    /// Leases the running job that progressed least recently among those
    /// free, expired, or already held by `owner`, and returns it.
    async fn claim_replay_job(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ReplayJob>>;
    /// Writes a job's progress (counts, cursor, status, finish time, lease)
    /// if `owner` still holds its lease and it is still running. Returns
    /// false when it does not (cancelled, or taken over).
    async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool>;
    /// Cancels a running job; returns the job as it now is (`None`: no such job).
    async fn cancel_replay_job(&self, id: &str, now: Millis) -> Result<Option<ReplayJob>>;
    /// Frees the leases `owner` holds on replay jobs (graceful shutdown).
    async fn release_replay_jobs(&self, owner: &str) -> Result<u64>;

    // --- retention -------------------------------------------------------
    /// Deletes up to `limit` events that are `delivered` or `failed` and
    /// were last updated before `before`, with their payloads and attempts,
    /// oldest first, in one short transaction. Returns how many went; fewer
    /// than `limit` means none are left. Callers sweep in a loop of small
    /// batches so that ingest never waits long behind a delete.
    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64>;
    /// Deletes up to `limit` `rejected` events (failed signature checks)
    /// received before `before`, with their payloads, oldest first, in one
    /// short transaction; as [`Store::delete_expired_events`] otherwise.
    /// Rejected calls have their own, shorter retention: anyone who knows a
    /// link can make them.
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64>;

    // --- waking workers across processes -----------------------------------
    /// A signal that *another process* sharing the database committed
    /// claimable work (ingested events, held events released, a replay,
    /// leases released at shutdown), so that an idle delivery worker here
    /// claims it at once instead of at its next poll. Writes made through
    /// this store are not echoed: the process that makes them wakes its own
    /// workers. It is a hint: it may fire with nothing to claim, and a
    /// notification can be lost (e.g. while reconnecting), so workers keep
    /// polling as the fallback.
    ///
    /// `None` (the default) when the backend has no other processes to hear
    /// from: one process owns an SQLite file.
    fn work_notifications(&self) -> Option<WorkNotifications> {
        None
    }

    // --- time ----------------------------------------------------------------
    /// Re-measures this process's offset to the database's clock and adopts
    /// it for [`Millis::now`] (and ids) when it moved by more than the
    /// measurement's error: nodes sharing a database compare each other's
    /// leases and due times, so the database's clock is their time. The
    /// store measures once when it opens; the server calls this periodically
    /// so that a node whose own clock steps or drifts follows.
    ///
    /// `None` (the default) when the backend is no time authority: one
    /// process owns an SQLite file, and its own clock is the time.
    async fn sync_clock(&self) -> Result<Option<ClockSync>> {
        Ok(None)
    }
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
