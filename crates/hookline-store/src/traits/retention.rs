use crate::Result;
use async_trait::async_trait;
use hookline_core::time::Millis;

/// Deleting events kept long enough. Callers sweep in a loop of small
/// batches so that ingest never waits long behind a delete.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes up to `limit` events that are `delivered` or `failed` and
    /// were last updated before `before`, with their payloads and attempts,
    /// oldest first, in one short transaction. Returns how many went; fewer
    /// than `limit` means none are left.
    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64>;
    /// Deletes up to `limit` `rejected` events (failed signature checks)
    /// received before `before`, with their payloads, oldest first, in one
    /// short transaction; as
    /// [`delete_expired_events`](RetentionStore::delete_expired_events)
    /// otherwise. Rejected calls have their own, shorter retention: anyone
    /// who knows a link can make them.
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64>;
}
