//! Bulk replay jobs on PostgreSQL: the statements of
//! [`crate::sql::background`] on the pool. Several nodes claim jobs as they
//! claim events, passing over one another's rows (`SKIP LOCKED`).

use super::{PgStore, Sql};
use crate::monitor::ReplayJob;
use crate::{ReplayJobStore, Result};
use async_trait::async_trait;
use hookline_core::time::Millis;

#[async_trait]
impl ReplayJobStore for PgStore {
    async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()> {
        Sql::insert_replay_job(&self.pool, job).await
    }
    async fn get_replay_job(&self, id: &str) -> Result<Option<ReplayJob>> {
        Sql::get_replay_job(&self.pool, id).await
    }
    async fn list_replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>> {
        Sql::list_replay_jobs(&self.pool, limit).await
    }
    async fn claim_replay_job(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ReplayJob>> {
        Sql::claim_replay_job(&self.pool, owner, now, lease_until).await
    }
    async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool> {
        Sql::update_replay_job(&self.pool, job, owner).await
    }
    async fn cancel_replay_job(&self, id: &str, now: Millis) -> Result<Option<ReplayJob>> {
        Sql::cancel_replay_job(&mut *self.pool.acquire().await?, id, now).await
    }
    async fn release_replay_jobs(&self, owner: &str) -> Result<u64> {
        Sql::release_replay_jobs(&self.pool, owner).await
    }
}
