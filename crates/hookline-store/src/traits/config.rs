use crate::Result;
use async_trait::async_trait;
use hookline_core::model::{ApiKey, App, AppWebhook, Connection, Product};
use hookline_core::time::Millis;

/// Configuration: management keys, apps and their webhooks, products and
/// the apps connected to them, each stored whole as a document beside the
/// columns that keep it unique. Lists come in creation order; updating or
/// deleting an id that does not exist changes nothing and is not an error.
/// Also the secret key check (see [`crate::sealed`]).
#[async_trait]
pub trait ConfigStore: Send + Sync {
    // --- management keys -------------------------------------------------
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()>;
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>>;

    // --- apps and their webhooks ----------------------------------------
    /// `Conflict` when the tag is taken.
    async fn insert_app(&self, app: &App) -> Result<()>;
    async fn update_app(&self, app: &App) -> Result<()>;
    async fn get_app(&self, tag: &str) -> Result<Option<App>>;
    async fn get_app_by_id(&self, id: &str) -> Result<Option<App>>;
    async fn list_apps(&self) -> Result<Vec<App>>;
    /// Deletes the app and its webhooks.
    async fn delete_app(&self, id: &str) -> Result<()>;

    /// `Conflict` when the app already has a webhook with that tag.
    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()>;
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()>;
    async fn get_webhook(&self, app_id: &str, tag: &str) -> Result<Option<AppWebhook>>;
    async fn get_webhook_by_id(&self, id: &str) -> Result<Option<AppWebhook>>;
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<AppWebhook>>;
    async fn delete_webhook(&self, id: &str) -> Result<()>;

    // --- products and connected apps ------------------------------------
    async fn insert_product(&self, product: &Product) -> Result<()>;
    async fn update_product(&self, product: &Product) -> Result<()>;
    async fn get_product(&self, tag: &str) -> Result<Option<Product>>;
    async fn list_products(&self) -> Result<Vec<Product>>;
    /// Deletes the product and its connections; its registrations and events
    /// stay, as history.
    async fn delete_product(&self, id: &str) -> Result<()>;

    /// `Conflict` when the product already uses the access tag.
    async fn insert_connection(&self, connection: &Connection) -> Result<()>;
    async fn update_connection(&self, connection: &Connection) -> Result<()>;
    async fn get_connection(
        &self,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>>;
    async fn list_connections(&self, product_id: &str) -> Result<Vec<Connection>>;
    /// How many connections (over all products) use this app.
    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64>;
    async fn delete_connection(&self, id: &str) -> Result<()>;

    // --- the secret key check (see `sealed`) -------------------------------
    /// The stored key check value, if one was written.
    async fn key_check(&self) -> Result<Option<String>>;
    /// Stores `value` as the key check value unless one is stored already,
    /// and returns the stored one (this or the earlier one): of nodes
    /// starting together, every one reads the same value back.
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String>;
    /// The stored documents (JSON text) of up to `limit` registrations and
    /// up to `limit` connections whose text contains `needle`.
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>>;
}
