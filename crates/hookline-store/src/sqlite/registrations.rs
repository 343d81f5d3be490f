//! Registrations on SQLite: the statements of [`crate::sql::config`],
//! the save in one transaction on the writer, reads from the reader pool.

use super::{Sql, SqliteStore};
use crate::{RegistrationStore, Result};
use async_trait::async_trait;
use hookline_core::model::{Registration, RegistrationKey};

#[async_trait]
impl RegistrationStore for SqliteStore {
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
        let saved =
            Sql::save_registrations(&mut *self.write().await?, self.cipher.as_ref(), regs).await;
        self.written(saved.map(|_queued| ())).await
    }
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>> {
        Sql::get_registration(&self.reader, self.cipher.as_ref(), id).await
    }
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>> {
        Sql::get_registration_by_key(&self.reader, self.cipher.as_ref(), key).await
    }
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>> {
        Sql::get_registration_by_link(&self.reader, self.cipher.as_ref(), link_id).await
    }
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        Sql::list_registrations(&self.reader, self.cipher.as_ref(), product_id, access_tag).await
    }
}
