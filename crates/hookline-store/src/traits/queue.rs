use crate::{Claimed, Lease, Result, WorkNotifications};
use async_trait::async_trait;
use hookline_core::event::Completion;
use hookline_core::time::Millis;

/// The delivery queue, of deliveries: work is claimed with a [`Lease`]
/// committed by [`claim_due`](QueueStore::claim_due) itself, so
/// callers make their outbound calls after it returns, and
/// [`complete`](QueueStore::complete) only moves a delivery whose lease the
/// caller still holds. Every change to deliveries rewrites their events'
/// summary in the same transaction.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Leases up to `limit` queued deliveries due at `lease.now` whose lease
    /// is free or expired: sets the lease's owner and end and status
    /// `delivering` (their events read `delivering` too), commits, and
    /// returns them oldest due first. A registration whose secrets the
    /// store's cipher cannot open does not fail the claim: its deliveries
    /// come back with [`Claimed::unreadable_secrets`] set and the secrets
    /// left out.
    async fn claim_due(&self, lease: Lease<'_>, limit: u32) -> Result<Vec<Claimed>>;
    /// Records attempts and moves their deliveries on, in one transaction.
    /// The attempt is recorded either way, because it happened.
    async fn complete(&self, completions: &[Completion]) -> Result<()>;
    /// Clears leases (of one owner, or all when `None`) so the deliveries
    /// can be claimed again at once (`pending`, due as before). Returns how
    /// many were released.
    async fn release_leases(&self, owner: Option<&str>) -> Result<u64>;
    /// The earliest `next_attempt_at` among queued deliveries, leased or
    /// not.
    async fn next_due(&self) -> Result<Option<Millis>>;

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
}
