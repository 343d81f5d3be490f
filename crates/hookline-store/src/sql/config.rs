//! Configuration documents: api keys, apps, app webhooks, products,
//! connections and registrations, each stored whole as a JSON `doc` beside
//! the columns that identify it and keep it unique (the secrets of the last
//! two sealed under the store's cipher, by the codec); the release of a
//! registration's held deliveries once it can deliver; and the secret key
//! check. Lists come in creation order. Updating or deleting an id that does
//! not exist changes nothing and is not an error.

use super::{Dialect, Sql};
use crate::codec::{
    connection_doc, connection_from_doc, from_doc, registration_doc, registration_event_key,
    registration_from_doc, registration_label, to_doc,
};
use crate::error::OrConflict;
use crate::rules::{RELEASE_HELD, SUMMARIZE_RELEASED};
use crate::{DocCipher, Result};
use hookline_core::model::{
    ApiKey, App, AppWebhook, Connection, Product, Registration, RegistrationKey,
};
use hookline_core::time::Millis;
use serde::de::DeserializeOwned;
use sqlx::{ColumnIndex, Connection as _, Decode, Encode, Executor, IntoArguments, Type};

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

fn webhook_key(w: &AppWebhook) -> String {
    format!("{}/{}", w.app_id, w.tag)
}

impl<DB> Sql<DB>
where
    DB: Dialect,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    // --- api keys --------------------------------------------------------

    pub(crate) async fn insert_api_key<'c>(
        ex: impl Executor<'c, Database = DB>,
        key: &ApiKey,
    ) -> Result<()> {
        let doc = to_doc(key)?;
        sqlx::query("INSERT INTO api_keys (id, hash, created_at, doc) VALUES ($1, $2, $3, $4)")
            .bind(key.id.as_str())
            .bind(key.hash.as_str())
            .bind(key.created_at.0)
            .bind(doc.as_str())
            .execute(ex)
            .await
            // Never echo a key hash into an error message.
            .or_conflict("api key", |_| key.id.clone())?;
        Ok(())
    }

    pub(crate) async fn find_api_key<'c>(
        ex: impl Executor<'c, Database = DB>,
        hash: &str,
    ) -> Result<Option<ApiKey>> {
        let row = sqlx::query_as("SELECT id, doc FROM api_keys WHERE hash = $1")
            .bind(hash)
            .fetch_optional(ex)
            .await?;
        one("api key", row)
    }

    // --- apps ------------------------------------------------------------

    pub(crate) async fn insert_app<'c>(
        ex: impl Executor<'c, Database = DB>,
        app: &App,
    ) -> Result<()> {
        let doc = to_doc(app)?;
        sqlx::query(
            "INSERT INTO apps (id, tag, created_at, updated_at, doc) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(app.id.as_str())
        .bind(app.tag.as_str())
        .bind(app.created_at.0)
        .bind(app.updated_at.0)
        .bind(doc.as_str())
        .execute(ex)
        .await
        .or_conflict("app", |_| app.tag.to_string())?;
        Ok(())
    }

    pub(crate) async fn update_app<'c>(
        ex: impl Executor<'c, Database = DB>,
        app: &App,
    ) -> Result<()> {
        let doc = to_doc(app)?;
        sqlx::query("UPDATE apps SET tag = $1, updated_at = $2, doc = $3 WHERE id = $4")
            .bind(app.tag.as_str())
            .bind(app.updated_at.0)
            .bind(doc.as_str())
            .bind(app.id.as_str())
            .execute(ex)
            .await
            .or_conflict("app", |_| app.tag.to_string())?;
        Ok(())
    }

    pub(crate) async fn get_app<'c>(
        ex: impl Executor<'c, Database = DB>,
        tag: &str,
    ) -> Result<Option<App>> {
        let row = sqlx::query_as("SELECT id, doc FROM apps WHERE tag = $1")
            .bind(tag)
            .fetch_optional(ex)
            .await?;
        one("app", row)
    }

    pub(crate) async fn get_app_by_id<'c>(
        ex: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> Result<Option<App>> {
        let row = sqlx::query_as("SELECT id, doc FROM apps WHERE id = $1")
            .bind(id)
            .fetch_optional(ex)
            .await?;
        one("app", row)
    }

    pub(crate) async fn list_apps<'c>(ex: impl Executor<'c, Database = DB>) -> Result<Vec<App>> {
        let rows = sqlx::query_as("SELECT id, doc FROM apps ORDER BY created_at, id")
            .fetch_all(ex)
            .await?;
        all("app", rows)
    }

    /// Its webhooks go with it (`ON DELETE CASCADE`).
    pub(crate) async fn delete_app<'c>(
        ex: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(id)
            .execute(ex)
            .await?;
        Ok(())
    }

    // --- app webhooks ----------------------------------------------------

    pub(crate) async fn insert_webhook<'c>(
        ex: impl Executor<'c, Database = DB>,
        w: &AppWebhook,
    ) -> Result<()> {
        let doc = to_doc(w)?;
        sqlx::query(
            "INSERT INTO webhooks (id, app_id, tag, created_at, updated_at, doc) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(w.id.as_str())
        .bind(w.app_id.as_str())
        .bind(w.tag.as_str())
        .bind(w.created_at.0)
        .bind(w.updated_at.0)
        .bind(doc.as_str())
        .execute(ex)
        .await
        .or_conflict("webhook", |_| webhook_key(w))?;
        Ok(())
    }

    pub(crate) async fn update_webhook<'c>(
        ex: impl Executor<'c, Database = DB>,
        w: &AppWebhook,
    ) -> Result<()> {
        let doc = to_doc(w)?;
        sqlx::query("UPDATE webhooks SET tag = $1, updated_at = $2, doc = $3 WHERE id = $4")
            .bind(w.tag.as_str())
            .bind(w.updated_at.0)
            .bind(doc.as_str())
            .bind(w.id.as_str())
            .execute(ex)
            .await
            .or_conflict("webhook", |_| webhook_key(w))?;
        Ok(())
    }

    pub(crate) async fn get_webhook<'c>(
        ex: impl Executor<'c, Database = DB>,
        app_id: &str,
        tag: &str,
    ) -> Result<Option<AppWebhook>> {
        let row = sqlx::query_as("SELECT id, doc FROM webhooks WHERE app_id = $1 AND tag = $2")
            .bind(app_id)
            .bind(tag)
            .fetch_optional(ex)
            .await?;
        one("webhook", row)
    }

    pub(crate) async fn get_webhook_by_id<'c>(
        ex: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> Result<Option<AppWebhook>> {
        let row = sqlx::query_as("SELECT id, doc FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(ex)
            .await?;
        one("webhook", row)
    }

    pub(crate) async fn list_webhooks<'c>(
        ex: impl Executor<'c, Database = DB>,
        app_id: &str,
    ) -> Result<Vec<AppWebhook>> {
        let rows = sqlx::query_as(
            "SELECT id, doc FROM webhooks WHERE app_id = $1 ORDER BY created_at, id",
        )
        .bind(app_id)
        .fetch_all(ex)
        .await?;
        all("webhook", rows)
    }

    pub(crate) async fn delete_webhook<'c>(
        ex: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(ex)
            .await?;
        Ok(())
    }

    // --- products --------------------------------------------------------

    pub(crate) async fn insert_product<'c>(
        ex: impl Executor<'c, Database = DB>,
        p: &Product,
    ) -> Result<()> {
        let doc = to_doc(p)?;
        sqlx::query(
            "INSERT INTO products (id, tag, created_at, updated_at, doc) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(p.id.as_str())
        .bind(p.tag.as_str())
        .bind(p.created_at.0)
        .bind(p.updated_at.0)
        .bind(doc.as_str())
        .execute(ex)
        .await
        .or_conflict("product", |_| p.tag.to_string())?;
        Ok(())
    }

    pub(crate) async fn update_product<'c>(
        ex: impl Executor<'c, Database = DB>,
        p: &Product,
    ) -> Result<()> {
        let doc = to_doc(p)?;
        sqlx::query("UPDATE products SET tag = $1, updated_at = $2, doc = $3 WHERE id = $4")
            .bind(p.tag.as_str())
            .bind(p.updated_at.0)
            .bind(doc.as_str())
            .bind(p.id.as_str())
            .execute(ex)
            .await
            .or_conflict("product", |_| p.tag.to_string())?;
        Ok(())
    }

    pub(crate) async fn get_product<'c>(
        ex: impl Executor<'c, Database = DB>,
        tag: &str,
    ) -> Result<Option<Product>> {
        let row = sqlx::query_as("SELECT id, doc FROM products WHERE tag = $1")
            .bind(tag)
            .fetch_optional(ex)
            .await?;
        one("product", row)
    }

    pub(crate) async fn list_products<'c>(
        ex: impl Executor<'c, Database = DB>,
    ) -> Result<Vec<Product>> {
        let rows = sqlx::query_as("SELECT id, doc FROM products ORDER BY created_at, id")
            .fetch_all(ex)
            .await?;
        all("product", rows)
    }

    /// Its connections go with it (`ON DELETE CASCADE`); its registrations
    /// and events stay, as history.
    pub(crate) async fn delete_product<'c>(
        ex: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM products WHERE id = $1")
            .bind(id)
            .execute(ex)
            .await?;
        Ok(())
    }

    // --- connections -----------------------------------------------------

    pub(crate) async fn insert_connection<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        c: &Connection,
    ) -> Result<()> {
        let doc = connection_doc(cipher, c)?;
        sqlx::query(
            "INSERT INTO connections \
               (id, product_id, app_id, access_tag, created_at, updated_at, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id.as_str())
        .bind(c.product_id.as_str())
        .bind(c.app_id.as_str())
        .bind(c.access_tag.as_str())
        .bind(c.created_at.0)
        .bind(c.updated_at.0)
        .bind(doc.as_str())
        .execute(ex)
        .await
        .or_conflict("connection", |_| c.access_tag.to_string())?;
        Ok(())
    }

    pub(crate) async fn update_connection<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        c: &Connection,
    ) -> Result<()> {
        let doc = connection_doc(cipher, c)?;
        sqlx::query(
            "UPDATE connections SET app_id = $1, access_tag = $2, updated_at = $3, doc = $4 \
             WHERE id = $5",
        )
        .bind(c.app_id.as_str())
        .bind(c.access_tag.as_str())
        .bind(c.updated_at.0)
        .bind(doc.as_str())
        .bind(c.id.as_str())
        .execute(ex)
        .await
        .or_conflict("connection", |_| c.access_tag.to_string())?;
        Ok(())
    }

    pub(crate) async fn get_connection<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>> {
        let row: Option<DocRow> = sqlx::query_as(
            "SELECT id, doc FROM connections WHERE product_id = $1 AND access_tag = $2",
        )
        .bind(product_id)
        .bind(access_tag)
        .fetch_optional(ex)
        .await?;
        row.map(|(id, doc)| connection_from_doc(cipher, &id, &doc))
            .transpose()
    }

    pub(crate) async fn list_connections<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        product_id: &str,
    ) -> Result<Vec<Connection>> {
        let rows: Vec<DocRow> = sqlx::query_as(
            "SELECT id, doc FROM connections WHERE product_id = $1 ORDER BY created_at, id",
        )
        .bind(product_id)
        .fetch_all(ex)
        .await?;
        rows.iter()
            .map(|(id, doc)| connection_from_doc(cipher, id, doc))
            .collect()
    }

    pub(crate) async fn count_connections_for_app<'c>(
        ex: impl Executor<'c, Database = DB>,
        app_id: &str,
    ) -> Result<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(ex)
            .await?;
        // COUNT(*) is never negative.
        Ok(n.unsigned_abs())
    }

    pub(crate) async fn delete_connection<'c>(
        ex: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM connections WHERE id = $1")
            .bind(id)
            .execute(ex)
            .await?;
        Ok(())
    }

    // --- the secret key check --------------------------------------------

    pub(crate) async fn key_check<'c>(
        ex: impl Executor<'c, Database = DB>,
    ) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1")
                .fetch_optional(ex)
                .await?,
        )
    }

    /// Insert-if-absent, then read back (on one connection): of nodes
    /// starting together, the first insert wins and every node reads that
    /// one.
    pub(crate) async fn init_key_check(
        conn: &mut DB::Connection,
        value: &str,
        now: i64,
    ) -> Result<String> {
        sqlx::query(
            "INSERT INTO key_check (id, value, created_at) VALUES (1, $1, $2) \
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

    pub(crate) async fn docs_containing<'c>(
        ex: impl Executor<'c, Database = DB>,
        needle: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        // A position function, not LIKE: the needle is matched as is, case
        // and all.
        let find = DB::FIND;
        Ok(sqlx::query_scalar(&format!(
            "SELECT doc FROM \
               (SELECT doc FROM registrations WHERE {find}(doc, $1) > 0 LIMIT $2) AS r \
             UNION ALL \
             SELECT doc FROM \
               (SELECT doc FROM connections WHERE {find}(doc, $1) > 0 LIMIT $2) AS c"
        ))
        .bind(needle)
        .bind(i64::from(limit))
        .fetch_all(ex)
        .await?)
    }

    // --- registrations ---------------------------------------------------

    /// Upserts every registration in one transaction on `conn`, and queues
    /// the held deliveries of those that can now deliver. Returns whether any
    /// were queued (PostgreSQL then tells the other nodes).
    pub(crate) async fn save_registrations(
        conn: &mut DB::Connection,
        cipher: Option<&DocCipher>,
        regs: &[Registration],
    ) -> Result<bool> {
        let now = Millis::now();
        let mut queued_any = false;
        let mut tx = conn.begin().await?;
        for reg in regs {
            let doc = registration_doc(cipher, reg)?;
            sqlx::query(
                "INSERT INTO registrations \
                   (id, product_id, access_tag, webhook_id, event, env, link_id, created_at, \
                    updated_at, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET \
                   product_id = excluded.product_id, access_tag = excluded.access_tag, \
                   webhook_id = excluded.webhook_id, event = excluded.event, env = excluded.env, \
                   link_id = excluded.link_id, updated_at = excluded.updated_at, doc = excluded.doc",
            )
            .bind(reg.id.as_str())
            .bind(reg.product_id.as_str())
            .bind(reg.access_tag.as_str())
            .bind(reg.webhook_id.as_str())
            .bind(registration_event_key(reg.event.as_ref().map(|t| t.as_str())))
            .bind(reg.env.as_str())
            .bind(reg.link_id.as_str())
            .bind(reg.created_at.0)
            .bind(reg.updated_at.0)
            .bind(doc.as_str())
            .execute(&mut *tx)
            .await
            .or_conflict("registration", |constraint| {
                if constraint.contains("link_id") {
                    format!("link {}", reg.link_id)
                } else {
                    registration_label(reg)
                }
            })?;

            if reg.active && reg.receiver.is_some() {
                let queued = DB::rows_affected(
                    &sqlx::query(RELEASE_HELD)
                        .bind(now.0)
                        .bind(reg.id.as_str())
                        .execute(&mut *tx)
                        .await?,
                );
                if queued > 0 {
                    sqlx::query(SUMMARIZE_RELEASED)
                        .bind(reg.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    queued_any = true;
                    tracing::info!(registration_id = %reg.id, queued, "queued held deliveries");
                }
            }
        }
        tx.commit().await?;
        Ok(queued_any)
    }

    pub(crate) async fn get_registration<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        id: &str,
    ) -> Result<Option<Registration>> {
        let row: Option<DocRow> = sqlx::query_as("SELECT id, doc FROM registrations WHERE id = $1")
            .bind(id)
            .fetch_optional(ex)
            .await?;
        row.map(|(id, doc)| registration_from_doc(cipher, &id, &doc))
            .transpose()
    }

    pub(crate) async fn get_registration_by_key<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        key: &RegistrationKey,
    ) -> Result<Option<Registration>> {
        let row: Option<DocRow> = sqlx::query_as(
            "SELECT id, doc FROM registrations \
             WHERE product_id = $1 AND access_tag = $2 AND webhook_id = $3 AND event = $4 \
               AND env = $5",
        )
        .bind(key.product_id.as_str())
        .bind(key.access_tag.as_str())
        .bind(key.webhook_id.as_str())
        .bind(registration_event_key(
            key.event.as_ref().map(|t| t.as_str()),
        ))
        .bind(key.env.as_str())
        .fetch_optional(ex)
        .await?;
        row.map(|(id, doc)| registration_from_doc(cipher, &id, &doc))
            .transpose()
    }

    pub(crate) async fn get_registration_by_link<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        link_id: &str,
    ) -> Result<Option<Registration>> {
        let row: Option<DocRow> =
            sqlx::query_as("SELECT id, doc FROM registrations WHERE link_id = $1")
                .bind(link_id)
                .fetch_optional(ex)
                .await?;
        row.map(|(id, doc)| registration_from_doc(cipher, &id, &doc))
            .transpose()
    }

    pub(crate) async fn list_registrations<'c>(
        ex: impl Executor<'c, Database = DB>,
        cipher: Option<&DocCipher>,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        // `$2 IS NULL` keeps one statement (and one cached plan) for both
        // cases; the key index still narrows by product_id. The cast gives
        // PostgreSQL the parameter's type when it is NULL.
        let rows: Vec<DocRow> = sqlx::query_as(
            "SELECT id, doc FROM registrations \
             WHERE product_id = $1 AND (CAST($2 AS TEXT) IS NULL OR access_tag = $2) \
             ORDER BY created_at, id",
        )
        .bind(product_id)
        .bind(access_tag)
        .fetch_all(ex)
        .await?;
        rows.iter()
            .map(|(id, doc)| registration_from_doc(cipher, id, doc))
            .collect()
    }
}
