//! Events outside the delivery loop: finding provider redeliveries, listing
//! and reading events and their attempts, replaying one, and deleting
//! expired ones (retention). The SQL is shared ([`crate::sql::events`]);
//! here, reads go through the reader pool, writes on the writer, and the id
//! window of listings follows `ids_track_time`.

use super::{Sql, SqliteStore};
use crate::sql::events::{EXPIRED, REJECTED};
use crate::{DeliveryRequeue, EventFilter, EventStore, Requeue, Result, RetentionStore};
use async_trait::async_trait;
use hookline_core::event::{Attempt, Delivery, Event, Payload};
use hookline_core::time::Millis;
use std::sync::atomic::Ordering;

pub(super) async fn find_duplicate(
    s: &SqliteStore,
    registration_id: &str,
    provider_event_id: &str,
    since: Millis,
) -> Result<Option<String>> {
    Sql::find_duplicate(&s.reader, registration_id, provider_event_id, since).await
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let ids_track_time = self.ids_track_time.load(Ordering::Acquire);
        Sql::list_events(&self.reader, filter, ids_track_time).await
    }
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>> {
        Sql::get_event(&self.reader, id).await
    }
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>> {
        Sql::list_attempts(&self.reader, event_id).await
    }
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue> {
        let queued = Sql::requeue(&mut *self.write().await?, id, now).await;
        self.written(queued).await
    }
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        Sql::list_deliveries(&self.reader, event_id).await
    }
    async fn requeue_delivery(&self, id: &str, now: Millis) -> Result<DeliveryRequeue> {
        let queued = Sql::requeue(&mut *self.write().await?, id, now).await;
        self.written(queued).await
    }
    async fn list_events_after(
        &self,
        filter: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>> {
        Sql::list_events_after(&self.reader, filter, after_id).await
    }
    async fn get_events(&self, ids: &[String]) -> Result<Vec<Event>> {
        super::monitor::get_events(self, ids).await
    }
    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        Sql::count_events(&self.reader, filter).await
    }
}

/// One short write on the writer each: ingest waits at most for one batch.
#[async_trait]
impl RetentionStore for SqliteStore {
    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64> {
        let deleted = Sql::delete_events(&mut *self.write().await?, EXPIRED, before, limit).await;
        self.written(deleted).await
    }
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64> {
        let deleted = Sql::delete_events(&mut *self.write().await?, REJECTED, before, limit).await;
        self.written(deleted).await
    }
}
