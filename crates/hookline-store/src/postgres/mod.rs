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
//!   `LISTEN` task behind [`Store::work_notifications`].
//! - `config`, `registrations`, `events`, `queue`, `monitor`: the trait's
//!   sections, one file each, as for SQLite.
//! - [`testing`]: throwaway databases for test suites.
//!
//! Rows are decoded with the backend-neutral structs of `codec`; the queue's
//! decisions come from [`crate::rules`], so only the SQL differs from SQLite.

mod clock;
mod config;
mod events;
mod monitor;
mod notify;
mod open;
mod queue;
mod registrations;
pub mod testing;

use crate::monitor::{
    QueueStats, RegistrationHealth, RegistrationLoad, ReplayJob, Traffic, TrafficQuery,
};
use crate::{Claimed, DeliveryRequeue, EventFilter, Requeue, Result, Store};
use async_trait::async_trait;
use hookline_core::event::{Attempt, Completion, Delivery, Event, Payload};
use hookline_core::model::{
    ApiKey, App, AppWebhook, Connection, Product, Registration, RegistrationKey,
};
use hookline_core::time::Millis;
use sqlx::PgPool;
use std::time::Duration;

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

/// A Hookline store in a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    /// Sends our `NOTIFY`s and hears other nodes' (see `notify`).
    notifier: notify::Notifier,
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

    async fn key_check(&self) -> Result<Option<String>> {
        config::key_check(self).await
    }
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String> {
        config::init_key_check(self, value, now.0).await
    }
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>> {
        config::docs_containing(self, needle, limit).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        config::insert_api_key(self, key).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        config::find_api_key(self, hash).await
    }

    async fn insert_app(&self, app: &App) -> Result<()> {
        config::insert_app(self, app).await
    }
    async fn update_app(&self, app: &App) -> Result<()> {
        config::update_app(self, app).await
    }
    async fn get_app(&self, tag: &str) -> Result<Option<App>> {
        config::get_app(self, tag).await
    }
    async fn get_app_by_id(&self, id: &str) -> Result<Option<App>> {
        config::get_app_by_id(self, id).await
    }
    async fn list_apps(&self) -> Result<Vec<App>> {
        config::list_apps(self).await
    }
    async fn delete_app(&self, id: &str) -> Result<()> {
        config::delete_app(self, id).await
    }

    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        config::insert_webhook(self, webhook).await
    }
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        config::update_webhook(self, webhook).await
    }
    async fn get_webhook(&self, app_id: &str, tag: &str) -> Result<Option<AppWebhook>> {
        config::get_webhook(self, app_id, tag).await
    }
    async fn get_webhook_by_id(&self, id: &str) -> Result<Option<AppWebhook>> {
        config::get_webhook_by_id(self, id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<AppWebhook>> {
        config::list_webhooks(self, app_id).await
    }
    async fn delete_webhook(&self, id: &str) -> Result<()> {
        config::delete_webhook(self, id).await
    }

    async fn insert_product(&self, product: &Product) -> Result<()> {
        config::insert_product(self, product).await
    }
    async fn update_product(&self, product: &Product) -> Result<()> {
        config::update_product(self, product).await
    }
    async fn get_product(&self, tag: &str) -> Result<Option<Product>> {
        config::get_product(self, tag).await
    }
    async fn list_products(&self) -> Result<Vec<Product>> {
        config::list_products(self).await
    }
    async fn delete_product(&self, id: &str) -> Result<()> {
        config::delete_product(self, id).await
    }

    async fn insert_connection(&self, connection: &Connection) -> Result<()> {
        config::insert_connection(self, connection).await
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        config::update_connection(self, connection).await
    }
    async fn get_connection(
        &self,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>> {
        config::get_connection(self, product_id, access_tag).await
    }
    async fn list_connections(&self, product_id: &str) -> Result<Vec<Connection>> {
        config::list_connections(self, product_id).await
    }
    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64> {
        config::count_connections_for_app(self, app_id).await
    }
    async fn delete_connection(&self, id: &str) -> Result<()> {
        config::delete_connection(self, id).await
    }

    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
        registrations::save(self, regs).await
    }
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>> {
        registrations::get(self, id).await
    }
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>> {
        registrations::get_by_key(self, key).await
    }
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>> {
        registrations::get_by_link(self, link_id).await
    }
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        registrations::list(self, product_id, access_tag).await
    }

    async fn insert_events(&self, events: &[(Event, Payload)]) -> Result<()> {
        events::insert(self, events).await
    }
    async fn insert_new_events(
        &self,
        events: Vec<(Event, Payload)>,
        dedup_since: Millis,
    ) -> Result<Vec<Option<String>>> {
        events::insert_new(self, events, dedup_since).await
    }
    async fn find_duplicate(
        &self,
        registration_id: &str,
        provider_event_id: &str,
        since: Millis,
    ) -> Result<Option<String>> {
        events::find_duplicate(self, registration_id, provider_event_id, since).await
    }
    async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        queue::claim_due(self, owner, now, lease_until, limit).await
    }
    async fn complete(&self, completions: &[Completion]) -> Result<()> {
        queue::complete(self, completions).await
    }
    async fn release_leases(&self, owner: Option<&str>) -> Result<u64> {
        queue::release_leases(self, owner).await
    }
    async fn next_due(&self) -> Result<Option<Millis>> {
        queue::next_due(self).await
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        events::list(self, filter).await
    }
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>> {
        events::get(self, id).await
    }
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>> {
        events::list_attempts(self, event_id).await
    }
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue> {
        events::requeue(self, id, now).await
    }
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        events::list_deliveries(self, event_id).await
    }
    async fn requeue_delivery(&self, id: &str, now: Millis) -> Result<DeliveryRequeue> {
        events::requeue_delivery(self, id, now).await
    }

    async fn list_events_after(
        &self,
        filter: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>> {
        monitor::list_events_after(self, filter, after_id).await
    }
    async fn get_events(&self, ids: &[String]) -> Result<Vec<Event>> {
        monitor::get_events(self, ids).await
    }
    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        monitor::count_events(self, filter).await
    }
    async fn queue_stats(&self) -> Result<QueueStats> {
        monitor::queue_stats(self).await
    }
    async fn traffic(&self, query: &TrafficQuery) -> Result<Traffic> {
        monitor::traffic(self, query).await
    }
    async fn registration_loads(&self, since: Millis) -> Result<Vec<RegistrationLoad>> {
        monitor::registration_loads(self, since).await
    }
    async fn list_registration_health(&self) -> Result<Vec<RegistrationHealth>> {
        monitor::list_registration_health(self).await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        monitor::save_registration_health(self, health).await
    }
    async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()> {
        monitor::insert_replay_job(self, job).await
    }
    async fn get_replay_job(&self, id: &str) -> Result<Option<ReplayJob>> {
        monitor::get_replay_job(self, id).await
    }
    async fn list_replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>> {
        monitor::list_replay_jobs(self, limit).await
    }
    async fn claim_replay_job(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ReplayJob>> {
        monitor::claim_replay_job(self, owner, now, lease_until).await
    }
    async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool> {
        monitor::update_replay_job(self, job, owner).await
    }
    async fn cancel_replay_job(&self, id: &str, now: Millis) -> Result<Option<ReplayJob>> {
        monitor::cancel_replay_job(self, id, now).await
    }
    async fn release_replay_jobs(&self, owner: &str) -> Result<u64> {
        monitor::release_replay_jobs(self, owner).await
    }

    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64> {
        events::delete_expired(self, before, limit).await
    }
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64> {
        events::delete_rejected(self, before, limit).await
    }

    fn work_notifications(&self) -> Option<crate::WorkNotifications> {
        self.notifier.subscribe()
    }

    async fn sync_clock(&self) -> Result<Option<crate::ClockSync>> {
        clock::sync(self).await.map(Some)
    }
}
