use crate::Result;
use async_trait::async_trait;
use hookline_core::model::{Registration, RegistrationKey};

/// Registrations: unique by key (product, access tag, webhook, event, env)
/// and by link, upserted by id, and the release of their held events once
/// they can deliver.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// Inserts or updates (by id) every registration in one transaction.
    /// `Conflict` when a new one's key or link is already taken. For each
    /// saved registration that is active and has a receiver, its `held`
    /// deliveries are queued (`pending`, due now; their events `received`)
    /// in the same transaction.
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()>;
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>>;
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>>;
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>>;
    /// Registrations of a product, optionally of one access tag, oldest first.
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>>;
}
