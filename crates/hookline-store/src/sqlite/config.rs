//! Configuration rows: api keys, apps, app webhooks, products and connections.
//! Each is stored whole as a JSON `doc` beside the columns that identify it
//! and keep it unique. Lists come in creation order. Updating or deleting an
//! id that does not exist changes nothing and is not an error.

use super::SqliteStore;
use crate::codec::{from_doc, to_doc};
use crate::error::OrConflict;
use crate::{ConfigStore, Result};
use async_trait::async_trait;
use hookline_core::model::{ApiKey, App, AppWebhook, Connection, Product};
use hookline_core::time::Millis;
use serde::de::DeserializeOwned;

/// `(id, doc)`, as every read here selects it.
type DocRow = (String, String);

fn one<T: DeserializeOwned>(entity: &str, row: Option<DocRow>) -> Result<Option<T>> {
    row.map(|(id, doc)| from_doc(entity, &id, &doc)).transpose()
}

fn all<T: DeserializeOwned>(entity: &str, rows: Vec<DocRow>) -> Result<Vec<T>> {
    rows.iter()
        .map(|(id, doc)| from_doc(entity, id, doc))
        .collect()
}

// --- api keys ------------------------------------------------------------

pub(super) async fn insert_api_key(s: &SqliteStore, key: &ApiKey) -> Result<()> {
    sqlx::query("INSERT INTO api_keys (id, hash, created_at, doc) VALUES (?, ?, ?, ?)")
        .bind(&key.id)
        .bind(&key.hash)
        .bind(key.created_at.0)
        .bind(to_doc(key)?)
        .execute(&mut *s.write().await?)
        .await
        // Never echo a key hash into an error message.
        .or_conflict("api key", |_| key.id.clone())?;
    Ok(())
}

pub(super) async fn find_api_key(s: &SqliteStore, hash: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query_as("SELECT id, doc FROM api_keys WHERE hash = ?")
        .bind(hash)
        .fetch_optional(&s.reader)
        .await?;
    one("api key", row)
}

// --- apps ----------------------------------------------------------------

pub(super) async fn insert_app(s: &SqliteStore, app: &App) -> Result<()> {
    sqlx::query("INSERT INTO apps (id, tag, created_at, updated_at, doc) VALUES (?, ?, ?, ?, ?)")
        .bind(&app.id)
        .bind(app.tag.as_str())
        .bind(app.created_at.0)
        .bind(app.updated_at.0)
        .bind(to_doc(app)?)
        .execute(&mut *s.write().await?)
        .await
        .or_conflict("app", |_| app.tag.to_string())?;
    Ok(())
}

pub(super) async fn update_app(s: &SqliteStore, app: &App) -> Result<()> {
    sqlx::query("UPDATE apps SET tag = ?, updated_at = ?, doc = ? WHERE id = ?")
        .bind(app.tag.as_str())
        .bind(app.updated_at.0)
        .bind(to_doc(app)?)
        .bind(&app.id)
        .execute(&mut *s.write().await?)
        .await
        .or_conflict("app", |_| app.tag.to_string())?;
    Ok(())
}

pub(super) async fn get_app(s: &SqliteStore, tag: &str) -> Result<Option<App>> {
    let row = sqlx::query_as("SELECT id, doc FROM apps WHERE tag = ?")
        .bind(tag)
        .fetch_optional(&s.reader)
        .await?;
    one("app", row)
}

pub(super) async fn get_app_by_id(s: &SqliteStore, id: &str) -> Result<Option<App>> {
    let row = sqlx::query_as("SELECT id, doc FROM apps WHERE id = ?")
        .bind(id)
        .fetch_optional(&s.reader)
        .await?;
    one("app", row)
}

pub(super) async fn list_apps(s: &SqliteStore) -> Result<Vec<App>> {
    let rows = sqlx::query_as("SELECT id, doc FROM apps ORDER BY created_at, id")
        .fetch_all(&s.reader)
        .await?;
    all("app", rows)
}

/// Its webhooks go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_app(s: &SqliteStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM apps WHERE id = ?")
        .bind(id)
        .execute(&mut *s.write().await?)
        .await?;
    Ok(())
}

// --- app webhooks --------------------------------------------------------

fn webhook_key(w: &AppWebhook) -> String {
    format!("{}/{}", w.app_id, w.tag)
}

pub(super) async fn insert_webhook(s: &SqliteStore, w: &AppWebhook) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, app_id, tag, created_at, updated_at, doc) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&w.id)
    .bind(&w.app_id)
    .bind(w.tag.as_str())
    .bind(w.created_at.0)
    .bind(w.updated_at.0)
    .bind(to_doc(w)?)
    .execute(&mut *s.write().await?)
    .await
    .or_conflict("webhook", |_| webhook_key(w))?;
    Ok(())
}

pub(super) async fn update_webhook(s: &SqliteStore, w: &AppWebhook) -> Result<()> {
    sqlx::query("UPDATE webhooks SET tag = ?, updated_at = ?, doc = ? WHERE id = ?")
        .bind(w.tag.as_str())
        .bind(w.updated_at.0)
        .bind(to_doc(w)?)
        .bind(&w.id)
        .execute(&mut *s.write().await?)
        .await
        .or_conflict("webhook", |_| webhook_key(w))?;
    Ok(())
}

pub(super) async fn get_webhook(
    s: &SqliteStore,
    app_id: &str,
    tag: &str,
) -> Result<Option<AppWebhook>> {
    let row = sqlx::query_as("SELECT id, doc FROM webhooks WHERE app_id = ? AND tag = ?")
        .bind(app_id)
        .bind(tag)
        .fetch_optional(&s.reader)
        .await?;
    one("webhook", row)
}

pub(super) async fn get_webhook_by_id(s: &SqliteStore, id: &str) -> Result<Option<AppWebhook>> {
    let row = sqlx::query_as("SELECT id, doc FROM webhooks WHERE id = ?")
        .bind(id)
        .fetch_optional(&s.reader)
        .await?;
    one("webhook", row)
}

pub(super) async fn list_webhooks(s: &SqliteStore, app_id: &str) -> Result<Vec<AppWebhook>> {
    let rows =
        sqlx::query_as("SELECT id, doc FROM webhooks WHERE app_id = ? ORDER BY created_at, id")
            .bind(app_id)
            .fetch_all(&s.reader)
            .await?;
    all("webhook", rows)
}

pub(super) async fn delete_webhook(s: &SqliteStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM webhooks WHERE id = ?")
        .bind(id)
        .execute(&mut *s.write().await?)
        .await?;
    Ok(())
}

// --- products ------------------------------------------------------------

pub(super) async fn insert_product(s: &SqliteStore, p: &Product) -> Result<()> {
    sqlx::query(
        "INSERT INTO products (id, tag, created_at, updated_at, doc) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&p.id)
    .bind(p.tag.as_str())
    .bind(p.created_at.0)
    .bind(p.updated_at.0)
    .bind(to_doc(p)?)
    .execute(&mut *s.write().await?)
    .await
    .or_conflict("product", |_| p.tag.to_string())?;
    Ok(())
}

pub(super) async fn update_product(s: &SqliteStore, p: &Product) -> Result<()> {
    sqlx::query("UPDATE products SET tag = ?, updated_at = ?, doc = ? WHERE id = ?")
        .bind(p.tag.as_str())
        .bind(p.updated_at.0)
        .bind(to_doc(p)?)
        .bind(&p.id)
        .execute(&mut *s.write().await?)
        .await
        .or_conflict("product", |_| p.tag.to_string())?;
    Ok(())
}

pub(super) async fn get_product(s: &SqliteStore, tag: &str) -> Result<Option<Product>> {
    let row = sqlx::query_as("SELECT id, doc FROM products WHERE tag = ?")
        .bind(tag)
        .fetch_optional(&s.reader)
        .await?;
    one("product", row)
}

pub(super) async fn list_products(s: &SqliteStore) -> Result<Vec<Product>> {
    let rows = sqlx::query_as("SELECT id, doc FROM products ORDER BY created_at, id")
        .fetch_all(&s.reader)
        .await?;
    all("product", rows)
}

/// Its connections go with it (`ON DELETE CASCADE`); its registrations and
/// events stay, as history.
pub(super) async fn delete_product(s: &SqliteStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM products WHERE id = ?")
        .bind(id)
        .execute(&mut *s.write().await?)
        .await?;
    Ok(())
}

// --- connections ---------------------------------------------------------

pub(super) async fn insert_connection(s: &SqliteStore, c: &Connection) -> Result<()> {
    sqlx::query(
        "INSERT INTO connections (id, product_id, app_id, access_tag, created_at, updated_at, doc) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&c.id)
    .bind(&c.product_id)
    .bind(&c.app_id)
    .bind(c.access_tag.as_str())
    .bind(c.created_at.0)
    .bind(c.updated_at.0)
    .bind(to_doc(c)?)
    .execute(&mut *s.write().await?)
    .await
    .or_conflict("connection", |_| c.access_tag.to_string())?;
    Ok(())
}

pub(super) async fn update_connection(s: &SqliteStore, c: &Connection) -> Result<()> {
    sqlx::query(
        "UPDATE connections SET app_id = ?, access_tag = ?, updated_at = ?, doc = ? WHERE id = ?",
    )
    .bind(&c.app_id)
    .bind(c.access_tag.as_str())
    .bind(c.updated_at.0)
    .bind(to_doc(c)?)
    .bind(&c.id)
    .execute(&mut *s.write().await?)
    .await
    .or_conflict("connection", |_| c.access_tag.to_string())?;
    Ok(())
}

pub(super) async fn get_connection(
    s: &SqliteStore,
    product_id: &str,
    access_tag: &str,
) -> Result<Option<Connection>> {
    let row =
        sqlx::query_as("SELECT id, doc FROM connections WHERE product_id = ? AND access_tag = ?")
            .bind(product_id)
            .bind(access_tag)
            .fetch_optional(&s.reader)
            .await?;
    one("connection", row)
}

pub(super) async fn list_connections(s: &SqliteStore, product_id: &str) -> Result<Vec<Connection>> {
    let rows = sqlx::query_as(
        "SELECT id, doc FROM connections WHERE product_id = ? ORDER BY created_at, id",
    )
    .bind(product_id)
    .fetch_all(&s.reader)
    .await?;
    all("connection", rows)
}

pub(super) async fn count_connections_for_app(s: &SqliteStore, app_id: &str) -> Result<u64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections WHERE app_id = ?")
        .bind(app_id)
        .fetch_one(&s.reader)
        .await?;
    // COUNT(*) is never negative.
    Ok(n.unsigned_abs())
}

pub(super) async fn delete_connection(s: &SqliteStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM connections WHERE id = ?")
        .bind(id)
        .execute(&mut *s.write().await?)
        .await?;
    Ok(())
}

// --- the secret key check ------------------------------------------------

pub(super) async fn key_check(s: &SqliteStore) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1")
            .fetch_optional(&s.reader)
            .await?,
    )
}

pub(super) async fn init_key_check(s: &SqliteStore, value: &str, now: i64) -> Result<String> {
    let mut conn = s.write().await?;
    sqlx::query(
        "INSERT INTO key_check (id, value, created_at) VALUES (1, ?, ?) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(value)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

pub(super) async fn docs_containing(
    s: &SqliteStore,
    needle: &str,
    limit: u32,
) -> Result<Vec<String>> {
    // `instr`, not LIKE: the needle is matched as is, case and all.
    Ok(sqlx::query_scalar(
        "SELECT doc FROM (SELECT doc FROM registrations WHERE instr(doc, ?1) > 0 LIMIT ?2) \
         UNION ALL \
         SELECT doc FROM (SELECT doc FROM connections WHERE instr(doc, ?1) > 0 LIMIT ?2)",
    )
    .bind(needle)
    .bind(i64::from(limit))
    .fetch_all(&s.reader)
    .await?)
}

#[async_trait]
impl ConfigStore for SqliteStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        self.written(insert_api_key(self, key).await).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        find_api_key(self, hash).await
    }
    async fn insert_app(&self, app: &App) -> Result<()> {
        self.written(insert_app(self, app).await).await
    }
    async fn update_app(&self, app: &App) -> Result<()> {
        self.written(update_app(self, app).await).await
    }
    async fn get_app(&self, tag: &str) -> Result<Option<App>> {
        get_app(self, tag).await
    }
    async fn get_app_by_id(&self, id: &str) -> Result<Option<App>> {
        get_app_by_id(self, id).await
    }
    async fn list_apps(&self) -> Result<Vec<App>> {
        list_apps(self).await
    }
    async fn delete_app(&self, id: &str) -> Result<()> {
        self.written(delete_app(self, id).await).await
    }
    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        self.written(insert_webhook(self, webhook).await).await
    }
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        self.written(update_webhook(self, webhook).await).await
    }
    async fn get_webhook(&self, app_id: &str, tag: &str) -> Result<Option<AppWebhook>> {
        get_webhook(self, app_id, tag).await
    }
    async fn get_webhook_by_id(&self, id: &str) -> Result<Option<AppWebhook>> {
        get_webhook_by_id(self, id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<AppWebhook>> {
        list_webhooks(self, app_id).await
    }
    async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.written(delete_webhook(self, id).await).await
    }
    async fn insert_product(&self, product: &Product) -> Result<()> {
        self.written(insert_product(self, product).await).await
    }
    async fn update_product(&self, product: &Product) -> Result<()> {
        self.written(update_product(self, product).await).await
    }
    async fn get_product(&self, tag: &str) -> Result<Option<Product>> {
        get_product(self, tag).await
    }
    async fn list_products(&self) -> Result<Vec<Product>> {
        list_products(self).await
    }
    async fn delete_product(&self, id: &str) -> Result<()> {
        self.written(delete_product(self, id).await).await
    }
    async fn insert_connection(&self, connection: &Connection) -> Result<()> {
        self.written(insert_connection(self, connection).await)
            .await
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        self.written(update_connection(self, connection).await)
            .await
    }
    async fn get_connection(
        &self,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>> {
        get_connection(self, product_id, access_tag).await
    }
    async fn list_connections(&self, product_id: &str) -> Result<Vec<Connection>> {
        list_connections(self, product_id).await
    }
    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64> {
        count_connections_for_app(self, app_id).await
    }
    async fn delete_connection(&self, id: &str) -> Result<()> {
        self.written(delete_connection(self, id).await).await
    }
    async fn key_check(&self) -> Result<Option<String>> {
        key_check(self).await
    }
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String> {
        self.written(init_key_check(self, value, now.0).await).await
    }
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>> {
        docs_containing(self, needle, limit).await
    }
}
