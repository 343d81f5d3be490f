//! Configuration rows: api keys, apps, app webhooks, products and connections.
//! Each is stored whole as a JSON `doc` beside the columns that identify it
//! and keep it unique. Lists come in creation order. Updating or deleting an
//! id that does not exist changes nothing and is not an error.

use super::PgStore;
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

pub(super) async fn insert_api_key(s: &PgStore, key: &ApiKey) -> Result<()> {
    sqlx::query("INSERT INTO api_keys (id, hash, created_at, doc) VALUES ($1, $2, $3, $4)")
        .bind(&key.id)
        .bind(&key.hash)
        .bind(key.created_at.0)
        .bind(to_doc(key)?)
        .execute(&s.pool)
        .await
        // Never echo a key hash into an error message.
        .or_conflict("api key", |_| key.id.clone())?;
    Ok(())
}

pub(super) async fn find_api_key(s: &PgStore, hash: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query_as("SELECT id, doc FROM api_keys WHERE hash = $1")
        .bind(hash)
        .fetch_optional(&s.pool)
        .await?;
    one("api key", row)
}

// --- apps ----------------------------------------------------------------

pub(super) async fn insert_app(s: &PgStore, app: &App) -> Result<()> {
    sqlx::query(
        "INSERT INTO apps (id, tag, created_at, updated_at, doc) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&app.id)
    .bind(app.tag.as_str())
    .bind(app.created_at.0)
    .bind(app.updated_at.0)
    .bind(to_doc(app)?)
    .execute(&s.pool)
    .await
    .or_conflict("app", |_| app.tag.to_string())?;
    Ok(())
}

pub(super) async fn update_app(s: &PgStore, app: &App) -> Result<()> {
    sqlx::query("UPDATE apps SET tag = $1, updated_at = $2, doc = $3 WHERE id = $4")
        .bind(app.tag.as_str())
        .bind(app.updated_at.0)
        .bind(to_doc(app)?)
        .bind(&app.id)
        .execute(&s.pool)
        .await
        .or_conflict("app", |_| app.tag.to_string())?;
    Ok(())
}

pub(super) async fn get_app(s: &PgStore, tag: &str) -> Result<Option<App>> {
    let row = sqlx::query_as("SELECT id, doc FROM apps WHERE tag = $1")
        .bind(tag)
        .fetch_optional(&s.pool)
        .await?;
    one("app", row)
}

pub(super) async fn get_app_by_id(s: &PgStore, id: &str) -> Result<Option<App>> {
    let row = sqlx::query_as("SELECT id, doc FROM apps WHERE id = $1")
        .bind(id)
        .fetch_optional(&s.pool)
        .await?;
    one("app", row)
}

pub(super) async fn list_apps(s: &PgStore) -> Result<Vec<App>> {
    let rows = sqlx::query_as("SELECT id, doc FROM apps ORDER BY created_at, id")
        .fetch_all(&s.pool)
        .await?;
    all("app", rows)
}

/// Its webhooks go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_app(s: &PgStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM apps WHERE id = $1")
        .bind(id)
        .execute(&s.pool)
        .await?;
    Ok(())
}

// --- app webhooks --------------------------------------------------------

fn webhook_key(w: &AppWebhook) -> String {
    format!("{}/{}", w.app_id, w.tag)
}

pub(super) async fn insert_webhook(s: &PgStore, w: &AppWebhook) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, app_id, tag, created_at, updated_at, doc) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&w.id)
    .bind(&w.app_id)
    .bind(w.tag.as_str())
    .bind(w.created_at.0)
    .bind(w.updated_at.0)
    .bind(to_doc(w)?)
    .execute(&s.pool)
    .await
    .or_conflict("webhook", |_| webhook_key(w))?;
    Ok(())
}

pub(super) async fn update_webhook(s: &PgStore, w: &AppWebhook) -> Result<()> {
    sqlx::query("UPDATE webhooks SET tag = $1, updated_at = $2, doc = $3 WHERE id = $4")
        .bind(w.tag.as_str())
        .bind(w.updated_at.0)
        .bind(to_doc(w)?)
        .bind(&w.id)
        .execute(&s.pool)
        .await
        .or_conflict("webhook", |_| webhook_key(w))?;
    Ok(())
}

pub(super) async fn get_webhook(
    s: &PgStore,
    app_id: &str,
    tag: &str,
) -> Result<Option<AppWebhook>> {
    let row = sqlx::query_as("SELECT id, doc FROM webhooks WHERE app_id = $1 AND tag = $2")
        .bind(app_id)
        .bind(tag)
        .fetch_optional(&s.pool)
        .await?;
    one("webhook", row)
}

pub(super) async fn get_webhook_by_id(s: &PgStore, id: &str) -> Result<Option<AppWebhook>> {
    let row = sqlx::query_as("SELECT id, doc FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(&s.pool)
        .await?;
    one("webhook", row)
}

pub(super) async fn list_webhooks(s: &PgStore, app_id: &str) -> Result<Vec<AppWebhook>> {
    let rows =
        sqlx::query_as("SELECT id, doc FROM webhooks WHERE app_id = $1 ORDER BY created_at, id")
            .bind(app_id)
            .fetch_all(&s.pool)
            .await?;
    all("webhook", rows)
}

pub(super) async fn delete_webhook(s: &PgStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&s.pool)
        .await?;
    Ok(())
}

// --- products ------------------------------------------------------------

pub(super) async fn insert_product(s: &PgStore, p: &Product) -> Result<()> {
    sqlx::query(
        "INSERT INTO products (id, tag, created_at, updated_at, doc) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&p.id)
    .bind(p.tag.as_str())
    .bind(p.created_at.0)
    .bind(p.updated_at.0)
    .bind(to_doc(p)?)
    .execute(&s.pool)
    .await
    .or_conflict("product", |_| p.tag.to_string())?;
    Ok(())
}

pub(super) async fn update_product(s: &PgStore, p: &Product) -> Result<()> {
    sqlx::query("UPDATE products SET tag = $1, updated_at = $2, doc = $3 WHERE id = $4")
        .bind(p.tag.as_str())
        .bind(p.updated_at.0)
        .bind(to_doc(p)?)
        .bind(&p.id)
        .execute(&s.pool)
        .await
        .or_conflict("product", |_| p.tag.to_string())?;
    Ok(())
}

pub(super) async fn get_product(s: &PgStore, tag: &str) -> Result<Option<Product>> {
    let row = sqlx::query_as("SELECT id, doc FROM products WHERE tag = $1")
        .bind(tag)
        .fetch_optional(&s.pool)
        .await?;
    one("product", row)
}

pub(super) async fn list_products(s: &PgStore) -> Result<Vec<Product>> {
    let rows = sqlx::query_as("SELECT id, doc FROM products ORDER BY created_at, id")
        .fetch_all(&s.pool)
        .await?;
    all("product", rows)
}

/// Its connections go with it (`ON DELETE CASCADE`); its registrations and
/// events stay, as history.
pub(super) async fn delete_product(s: &PgStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(id)
        .execute(&s.pool)
        .await?;
    Ok(())
}

// --- connections ---------------------------------------------------------

pub(super) async fn insert_connection(s: &PgStore, c: &Connection) -> Result<()> {
    sqlx::query(
        "INSERT INTO connections (id, product_id, app_id, access_tag, created_at, updated_at, doc) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.id)
    .bind(&c.product_id)
    .bind(&c.app_id)
    .bind(c.access_tag.as_str())
    .bind(c.created_at.0)
    .bind(c.updated_at.0)
    .bind(to_doc(c)?)
    .execute(&s.pool)
    .await
    .or_conflict("connection", |_| c.access_tag.to_string())?;
    Ok(())
}

pub(super) async fn update_connection(s: &PgStore, c: &Connection) -> Result<()> {
    sqlx::query(
        "UPDATE connections SET app_id = $1, access_tag = $2, updated_at = $3, doc = $4 WHERE id = $5",
    )
    .bind(&c.app_id)
    .bind(c.access_tag.as_str())
    .bind(c.updated_at.0)
    .bind(to_doc(c)?)
    .bind(&c.id)
    .execute(&s.pool)
    .await
    .or_conflict("connection", |_| c.access_tag.to_string())?;
    Ok(())
}

pub(super) async fn get_connection(
    s: &PgStore,
    product_id: &str,
    access_tag: &str,
) -> Result<Option<Connection>> {
    let row =
        sqlx::query_as("SELECT id, doc FROM connections WHERE product_id = $1 AND access_tag = $2")
            .bind(product_id)
            .bind(access_tag)
            .fetch_optional(&s.pool)
            .await?;
    one("connection", row)
}

pub(super) async fn list_connections(s: &PgStore, product_id: &str) -> Result<Vec<Connection>> {
    let rows = sqlx::query_as(
        "SELECT id, doc FROM connections WHERE product_id = $1 ORDER BY created_at, id",
    )
    .bind(product_id)
    .fetch_all(&s.pool)
    .await?;
    all("connection", rows)
}

pub(super) async fn count_connections_for_app(s: &PgStore, app_id: &str) -> Result<u64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections WHERE app_id = $1")
        .bind(app_id)
        .fetch_one(&s.pool)
        .await?;
    // COUNT(*) is never negative.
    Ok(n.unsigned_abs())
}

pub(super) async fn delete_connection(s: &PgStore, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM connections WHERE id = $1")
        .bind(id)
        .execute(&s.pool)
        .await?;
    Ok(())
}

// --- the secret key check ------------------------------------------------

pub(super) async fn key_check(s: &PgStore) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1")
            .fetch_optional(&s.pool)
            .await?,
    )
}

/// Insert-if-absent, then read back: of nodes starting together, the first
/// insert wins and every node reads that one.
pub(super) async fn init_key_check(s: &PgStore, value: &str, now: i64) -> Result<String> {
    sqlx::query(
        "INSERT INTO key_check (id, value, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(value)
    .bind(now)
    .execute(&s.pool)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1")
            .fetch_one(&s.pool)
            .await?,
    )
}

pub(super) async fn docs_containing(s: &PgStore, needle: &str, limit: u32) -> Result<Vec<String>> {
    // `strpos`, not LIKE: the needle is matched as is.
    Ok(sqlx::query_scalar(
        "(SELECT doc FROM registrations WHERE strpos(doc, $1) > 0 LIMIT $2) \
         UNION ALL \
         (SELECT doc FROM connections WHERE strpos(doc, $1) > 0 LIMIT $2)",
    )
    .bind(needle)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await?)
}

#[async_trait]
impl ConfigStore for PgStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        insert_api_key(self, key).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        find_api_key(self, hash).await
    }
    async fn insert_app(&self, app: &App) -> Result<()> {
        insert_app(self, app).await
    }
    async fn update_app(&self, app: &App) -> Result<()> {
        update_app(self, app).await
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
        delete_app(self, id).await
    }
    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        insert_webhook(self, webhook).await
    }
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        update_webhook(self, webhook).await
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
        delete_webhook(self, id).await
    }
    async fn insert_product(&self, product: &Product) -> Result<()> {
        insert_product(self, product).await
    }
    async fn update_product(&self, product: &Product) -> Result<()> {
        update_product(self, product).await
    }
    async fn get_product(&self, tag: &str) -> Result<Option<Product>> {
        get_product(self, tag).await
    }
    async fn list_products(&self) -> Result<Vec<Product>> {
        list_products(self).await
    }
    async fn delete_product(&self, id: &str) -> Result<()> {
        delete_product(self, id).await
    }
    async fn insert_connection(&self, connection: &Connection) -> Result<()> {
        insert_connection(self, connection).await
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        update_connection(self, connection).await
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
        delete_connection(self, id).await
    }
    async fn key_check(&self) -> Result<Option<String>> {
        key_check(self).await
    }
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String> {
        init_key_check(self, value, now.0).await
    }
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>> {
        docs_containing(self, needle, limit).await
    }
}
