//! Bulk replay jobs on SQLite: the statements of [`crate::sql::background`],
//! written on the one writer and read from the reader pool.

use super::{Sql, SqliteStore};
use crate::monitor::ReplayJob;
use crate::{ReplayJobStore, Result};
use async_trait::async_trait;
use hookline_core::time::Millis;

#[async_trait]
impl ReplayJobStore for SqliteStore {
    async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()> {
        let done = Sql::insert_replay_job(&mut *self.write().await?, job).await;
        self.written(done).await
    }
    async fn get_replay_job(&self, id: &str) -> Result<Option<ReplayJob>> {
        Sql::get_replay_job(&self.reader, id).await
    }
    async fn list_replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>> {
        Sql::list_replay_jobs(&self.reader, limit).await
    }
    async fn claim_replay_job(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ReplayJob>> {
        let claimed =
            Sql::claim_replay_job(&mut *self.write().await?, owner, now, lease_until).await;
        self.written(claimed).await
    }
    async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool> {
        let done = Sql::update_replay_job(&mut *self.write().await?, job, owner).await;
        self.written(done).await
    }
    async fn cancel_replay_job(&self, id: &str, now: Millis) -> Result<Option<ReplayJob>> {
        let done = Sql::cancel_replay_job(&mut *self.write().await?, id, now).await;
        self.written(done).await
    }
    async fn release_replay_jobs(&self, owner: &str) -> Result<u64> {
        let done = Sql::release_replay_jobs(&mut *self.write().await?, owner).await;
        self.written(done).await
    }
}
