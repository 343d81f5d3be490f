use crate::Result;
use async_trait::async_trait;
use hookline_core::event::{Event, Payload};
use hookline_core::time::Millis;

/// Storing what providers sent: a batch of received events in one
/// transaction (what makes group commit possible above it), and the checks
/// that leave provider redeliveries out.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Stores a batch of received events (with payloads) and their
    /// deliveries in one transaction. Each event but a rejected one gets one
    /// delivery, to its registration's primary destination, in the state
    /// its summary fields describe (`received`: `pending`, due at
    /// `next_attempt_at`; `held`: held; see `rules::initial_delivery`).
    async fn insert_events(&self, events: &[(Event, Payload)]) -> Result<()>;
    /// Like [`insert_events`](IngestStore::insert_events), leaving out
    /// provider redeliveries: an event whose `provider_event_id` this
    /// registration already received at or after `dedup_since` (or earlier
    /// in the same batch) is not stored. The answer holds, per event, `None`
    /// when it was stored and the original's id when it was left out.
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
}
