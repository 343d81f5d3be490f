//! Configuration rows on SQLite: the statements of [`crate::sql::config`],
//! written on the one writer (replaced after a storage failure, see
//! [`SqliteStore::written`]) and read from the reader pool.

use super::{Sql, SqliteStore};
use crate::{ConfigStore, Result};
use async_trait::async_trait;
use hookline_core::model::{ApiKey, App, AppWebhook, Connection, Product};
use hookline_core::time::Millis;

#[async_trait]
impl ConfigStore for SqliteStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        let done = Sql::insert_api_key(&mut *self.write().await?, key).await;
        self.written(done).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        Sql::find_api_key(&self.reader, hash).await
    }

    async fn insert_app(&self, app: &App) -> Result<()> {
        let done = Sql::insert_app(&mut *self.write().await?, app).await;
        self.written(done).await
    }
    async fn update_app(&self, app: &App) -> Result<()> {
        let done = Sql::update_app(&mut *self.write().await?, app).await;
        self.written(done).await
    }
    async fn get_app(&self, tag: &str) -> Result<Option<App>> {
        Sql::get_app(&self.reader, tag).await
    }
    async fn get_app_by_id(&self, id: &str) -> Result<Option<App>> {
        Sql::get_app_by_id(&self.reader, id).await
    }
    async fn list_apps(&self) -> Result<Vec<App>> {
        Sql::list_apps(&self.reader).await
    }
    async fn delete_app(&self, id: &str) -> Result<()> {
        let done = Sql::delete_app(&mut *self.write().await?, id).await;
        self.written(done).await
    }

    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        let done = Sql::insert_webhook(&mut *self.write().await?, webhook).await;
        self.written(done).await
    }
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        let done = Sql::update_webhook(&mut *self.write().await?, webhook).await;
        self.written(done).await
    }
    async fn get_webhook(&self, app_id: &str, tag: &str) -> Result<Option<AppWebhook>> {
        Sql::get_webhook(&self.reader, app_id, tag).await
    }
    async fn get_webhook_by_id(&self, id: &str) -> Result<Option<AppWebhook>> {
        Sql::get_webhook_by_id(&self.reader, id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<AppWebhook>> {
        Sql::list_webhooks(&self.reader, app_id).await
    }
    async fn delete_webhook(&self, id: &str) -> Result<()> {
        let done = Sql::delete_webhook(&mut *self.write().await?, id).await;
        self.written(done).await
    }

    async fn insert_product(&self, product: &Product) -> Result<()> {
        let done = Sql::insert_product(&mut *self.write().await?, product).await;
        self.written(done).await
    }
    async fn update_product(&self, product: &Product) -> Result<()> {
        let done = Sql::update_product(&mut *self.write().await?, product).await;
        self.written(done).await
    }
    async fn get_product(&self, tag: &str) -> Result<Option<Product>> {
        Sql::get_product(&self.reader, tag).await
    }
    async fn list_products(&self) -> Result<Vec<Product>> {
        Sql::list_products(&self.reader).await
    }
    async fn delete_product(&self, id: &str) -> Result<()> {
        let done = Sql::delete_product(&mut *self.write().await?, id).await;
        self.written(done).await
    }

    async fn insert_connection(&self, connection: &Connection) -> Result<()> {
        let done =
            Sql::insert_connection(&mut *self.write().await?, self.cipher.as_ref(), connection)
                .await;
        self.written(done).await
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        let done =
            Sql::update_connection(&mut *self.write().await?, self.cipher.as_ref(), connection)
                .await;
        self.written(done).await
    }
    async fn get_connection(
        &self,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>> {
        Sql::get_connection(&self.reader, self.cipher.as_ref(), product_id, access_tag).await
    }
    async fn list_connections(&self, product_id: &str) -> Result<Vec<Connection>> {
        Sql::list_connections(&self.reader, self.cipher.as_ref(), product_id).await
    }
    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64> {
        Sql::count_connections_for_app(&self.reader, app_id).await
    }
    async fn delete_connection(&self, id: &str) -> Result<()> {
        let done = Sql::delete_connection(&mut *self.write().await?, id).await;
        self.written(done).await
    }

    async fn key_check(&self) -> Result<Option<String>> {
        Sql::key_check(&self.reader).await
    }
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String> {
        let done = Sql::init_key_check(&mut *self.write().await?, value, now.0).await;
        self.written(done).await
    }
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>> {
        Sql::docs_containing(&self.reader, needle, limit).await
    }
}
