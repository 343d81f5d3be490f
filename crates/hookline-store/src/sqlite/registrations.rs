//! Registrations on SQLite: the statements of [`crate::sql::config`],
//! the save in one transaction on the writer, reads from the reader pool.

use super::{Sql, SqliteStore};
use crate::{RegistrationStore, Result};
use async_trait::async_trait;
use hookline_core::model::{Registration, RegistrationKey};

#[async_trait]
impl RegistrationStore for SqliteStore {
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
        let saved = Sql::save_registrations(&mut *self.write().await?, regs).await;
        self.written(saved.map(|_queued| ())).await
    }
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>> {
        Sql::get_registration(&self.reader, id).await
    }
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>> {
        Sql::get_registration_by_key(&self.reader, key).await
    }
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>> {
        Sql::get_registration_by_link(&self.reader, link_id).await
    }
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        Sql::list_registrations(&self.reader, product_id, access_tag).await
    }
}
