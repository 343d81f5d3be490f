use crate::monitor::ReplayJob;
use crate::Result;
use async_trait::async_trait;
use hookline_core::time::Millis;

/// Bulk replay jobs (values in [`crate::monitor`]): their progress is kept
/// so that they resume after a restart or on another node, and a node works
/// on one under a lease, as on events.
#[async_trait]
pub trait ReplayJobStore: Send + Sync {
    /// `Conflict` when the id exists.
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
}
