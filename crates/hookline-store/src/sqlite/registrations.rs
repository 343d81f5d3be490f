//! Registrations: upserted by id in one transaction, unique by key and by
//! link, and the release of held events once a registration can deliver.

use super::SqliteStore;
use crate::codec::{from_doc, registration_event_key, registration_label, to_doc};
use crate::error::OrConflict;
use crate::{RegistrationStore, Result};
use async_trait::async_trait;
use hookline_core::model::{Registration, RegistrationKey};
use hookline_core::time::Millis;
use sqlx::Connection;

type DocRow = (String, String);

fn one(row: Option<DocRow>) -> Result<Option<Registration>> {
    row.map(|(id, doc)| from_doc("registration", &id, &doc))
        .transpose()
}

pub(super) async fn save(s: &SqliteStore, regs: &[Registration]) -> Result<()> {
    let now = Millis::now();
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    for reg in regs {
        sqlx::query(
            "INSERT INTO registrations \
               (id, product_id, access_tag, webhook_id, event, env, link_id, created_at, updated_at, doc) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET \
               product_id = excluded.product_id, access_tag = excluded.access_tag, \
               webhook_id = excluded.webhook_id, event = excluded.event, env = excluded.env, \
               link_id = excluded.link_id, updated_at = excluded.updated_at, doc = excluded.doc",
        )
        .bind(&reg.id)
        .bind(&reg.product_id)
        .bind(reg.access_tag.as_str())
        .bind(&reg.webhook_id)
        .bind(registration_event_key(reg.event.as_ref().map(|t| t.as_str())))
        .bind(reg.env.as_str())
        .bind(reg.link_id.as_str())
        .bind(reg.created_at.0)
        .bind(reg.updated_at.0)
        .bind(to_doc(reg)?)
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
            // The schedule restarts for them: they never had a chance.
            // `status = 'held'` is a literal so the partial index applies.
            let queued = sqlx::query(
                "UPDATE events SET status = 'received', next_attempt_at = ?, \
                   retry_base = attempts, updated_at = ? \
                 WHERE registration_id = ? AND status = 'held'",
            )
            .bind(now.0)
            .bind(now.0)
            .bind(&reg.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if queued > 0 {
                tracing::info!(registration_id = %reg.id, queued, "queued held events");
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get(s: &SqliteStore, id: &str) -> Result<Option<Registration>> {
    let row = sqlx::query_as("SELECT id, doc FROM registrations WHERE id = ?")
        .bind(id)
        .fetch_optional(&s.reader)
        .await?;
    one(row)
}

pub(super) async fn get_by_key(
    s: &SqliteStore,
    key: &RegistrationKey,
) -> Result<Option<Registration>> {
    let row = sqlx::query_as(
        "SELECT id, doc FROM registrations \
         WHERE product_id = ? AND access_tag = ? AND webhook_id = ? AND event = ? AND env = ?",
    )
    .bind(&key.product_id)
    .bind(key.access_tag.as_str())
    .bind(&key.webhook_id)
    .bind(registration_event_key(
        key.event.as_ref().map(|t| t.as_str()),
    ))
    .bind(key.env.as_str())
    .fetch_optional(&s.reader)
    .await?;
    one(row)
}

pub(super) async fn get_by_link(s: &SqliteStore, link_id: &str) -> Result<Option<Registration>> {
    let row = sqlx::query_as("SELECT id, doc FROM registrations WHERE link_id = ?")
        .bind(link_id)
        .fetch_optional(&s.reader)
        .await?;
    one(row)
}

pub(super) async fn list(
    s: &SqliteStore,
    product_id: &str,
    access_tag: Option<&str>,
) -> Result<Vec<Registration>> {
    // `?2 IS NULL` keeps one statement (and one cached plan) for both cases;
    // the key index still narrows by product_id.
    let rows: Vec<DocRow> = sqlx::query_as(
        "SELECT id, doc FROM registrations \
         WHERE product_id = ?1 AND (?2 IS NULL OR access_tag = ?2) \
         ORDER BY created_at, id",
    )
    .bind(product_id)
    .bind(access_tag)
    .fetch_all(&s.reader)
    .await?;
    rows.iter()
        .map(|(id, doc)| from_doc("registration", id, doc))
        .collect()
}

#[async_trait]
impl RegistrationStore for SqliteStore {
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
        self.written(save(self, regs).await).await
    }
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>> {
        get(self, id).await
    }
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>> {
        get_by_key(self, key).await
    }
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>> {
        get_by_link(self, link_id).await
    }
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        list(self, product_id, access_tag).await
    }
}
