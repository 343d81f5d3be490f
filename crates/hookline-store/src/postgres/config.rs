//! Configuration rows on PostgreSQL: the statements of
//! [`crate::sql::config`] on the pool.

use super::{PgStore, Sql};
use crate::{ConfigStore, Result};
use async_trait::async_trait;
use hookline_core::model::{ApiKey, App, AppWebhook, Connection, Product};
use hookline_core::time::Millis;

#[async_trait]
impl ConfigStore for PgStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        Sql::insert_api_key(&self.pool, key).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        Sql::find_api_key(&self.pool, hash).await
    }

    async fn insert_app(&self, app: &App) -> Result<()> {
        Sql::insert_app(&self.pool, app).await
    }
    async fn update_app(&self, app: &App) -> Result<()> {
        Sql::update_app(&self.pool, app).await
    }
    async fn get_app(&self, tag: &str) -> Result<Option<App>> {
        Sql::get_app(&self.pool, tag).await
    }
    async fn get_app_by_id(&self, id: &str) -> Result<Option<App>> {
        Sql::get_app_by_id(&self.pool, id).await
    }
    async fn list_apps(&self) -> Result<Vec<App>> {
        Sql::list_apps(&self.pool).await
    }
    async fn delete_app(&self, id: &str) -> Result<()> {
        Sql::delete_app(&self.pool, id).await
    }

    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        Sql::insert_webhook(&self.pool, webhook).await
    }
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        Sql::update_webhook(&self.pool, webhook).await
    }
    async fn get_webhook(&self, app_id: &str, tag: &str) -> Result<Option<AppWebhook>> {
        Sql::get_webhook(&self.pool, app_id, tag).await
    }
    async fn get_webhook_by_id(&self, id: &str) -> Result<Option<AppWebhook>> {
        Sql::get_webhook_by_id(&self.pool, id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<AppWebhook>> {
        Sql::list_webhooks(&self.pool, app_id).await
    }
    async fn delete_webhook(&self, id: &str) -> Result<()> {
        Sql::delete_webhook(&self.pool, id).await
    }

    async fn insert_product(&self, product: &Product) -> Result<()> {
        Sql::insert_product(&self.pool, product).await
    }
    async fn update_product(&self, product: &Product) -> Result<()> {
        Sql::update_product(&self.pool, product).await
    }
    async fn get_product(&self, tag: &str) -> Result<Option<Product>> {
        Sql::get_product(&self.pool, tag).await
    }
    async fn list_products(&self) -> Result<Vec<Product>> {
        Sql::list_products(&self.pool).await
    }
    async fn delete_product(&self, id: &str) -> Result<()> {
        Sql::delete_product(&self.pool, id).await
    }

    async fn insert_connection(&self, connection: &Connection) -> Result<()> {
        Sql::insert_connection(&self.pool, self.cipher.as_ref(), connection).await
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        Sql::update_connection(&self.pool, self.cipher.as_ref(), connection).await
    }
    async fn get_connection(
        &self,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>> {
        Sql::get_connection(&self.pool, self.cipher.as_ref(), product_id, access_tag).await
    }
    async fn list_connections(&self, product_id: &str) -> Result<Vec<Connection>> {
        Sql::list_connections(&self.pool, self.cipher.as_ref(), product_id).await
    }
    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64> {
        Sql::count_connections_for_app(&self.pool, app_id).await
    }
    async fn delete_connection(&self, id: &str) -> Result<()> {
        Sql::delete_connection(&self.pool, id).await
    }

    async fn key_check(&self) -> Result<Option<String>> {
        Sql::key_check(&self.pool).await
    }
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String> {
        Sql::init_key_check(&mut *self.pool.acquire().await?, value, now.0).await
    }
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>> {
        Sql::docs_containing(&self.pool, needle, limit).await
    }
}
