use crate::{EventFilter, Requeue, Result};
use async_trait::async_trait;
use hookline_core::event::{Attempt, Event, Payload};
use hookline_core::time::Millis;

/// Reading the event log (pages newest first for the API, ids after a
/// cursor for live streams and bulk replay, counts), an event's attempts,
/// and replaying one event.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>>;
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>>;
    /// Attempts of an event, first to last.
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>>;
    /// Queues a delivered, failed or waiting event again, due now, with the
    /// retry schedule restarting (`retry_base` = `attempts`).
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue>;

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
