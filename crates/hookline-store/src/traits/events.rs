use crate::{DeliveryRequeue, EventFilter, Requeue, Result};
use async_trait::async_trait;
use hookline_core::event::{Attempt, Delivery, Event, Payload};
use hookline_core::time::Millis;

/// Reading the event log (pages newest first for the API, ids after a
/// cursor for live streams and bulk replay, counts), an event's deliveries
/// and attempts, and replaying an event's deliveries or one of them.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>>;
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>>;
    /// Attempts of an event (all its deliveries), first to last.
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>>;
    /// Deliveries of an event, oldest first.
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>>;
    /// Queues every delivered, failed or waiting delivery of an event again,
    /// due now, with the retry schedule restarting (`retry_base` =
    /// `attempts`), and rewrites the event's summary; the other deliveries
    /// are left as they are.
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue>;
    /// As [`requeue_event`](EventStore::requeue_event), for one delivery.
    async fn requeue_delivery(&self, id: &str, now: Millis) -> Result<DeliveryRequeue>;

    /// Events matching `filter` with an id strictly greater than `after_id`
    /// (all when `None`), oldest id first; `filter.before_id` is an upper
    /// bound and `filter.limit` the page size, as for
    /// [`list_events`](EventStore::list_events).
    async fn list_events_after(
        &self,
        filter: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>>;
    /// The events among `ids` that exist, in no particular order.
    async fn get_events(&self, ids: &[String]) -> Result<Vec<Event>>;
    /// How many events match `filter`, `filter.before_id` included as an
    /// upper bound as for [`list_events_after`](EventStore::list_events_after)
    /// (`limit` ignored).
    async fn count_events(&self, filter: &EventFilter) -> Result<u64>;
}
