//! Registrations on PostgreSQL: the statements of
//! [`crate::sql::config`] on the pool. Held events released by a save
//! are announced to the other nodes through `NOTIFY`, after the commit.

use super::{PgStore, Sql};
use crate::{RegistrationStore, Result};
use async_trait::async_trait;
use hookline_core::model::{Registration, RegistrationKey};

#[async_trait]
impl RegistrationStore for PgStore {
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
        let queued =
            Sql::save_registrations(&mut *self.pool.acquire().await?, self.cipher.as_ref(), regs)
                .await?;
        if queued {
            self.notifier.work_committed();
        }
        Ok(())
    }
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>> {
        Sql::get_registration(&self.pool, self.cipher.as_ref(), id).await
    }
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>> {
        Sql::get_registration_by_key(&self.pool, self.cipher.as_ref(), key).await
    }
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>> {
        Sql::get_registration_by_link(&self.pool, self.cipher.as_ref(), link_id).await
    }
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        Sql::list_registrations(&self.pool, self.cipher.as_ref(), product_id, access_tag).await
    }
}
