//! Registrations: upserted by id in one transaction, unique by key and by
//! link, and the release of held events once a registration can deliver
//! (which other nodes hear about through `NOTIFY`, after the commit).

use super::PgStore;
use crate::codec::{from_doc, registration_event_key, registration_label, to_doc};
use crate::error::OrConflict;
use crate::{RegistrationStore, Result};
use async_trait::async_trait;
use hookline_core::model::{Registration, RegistrationKey};
use hookline_core::time::Millis;

type DocRow = (String, String);

fn one(row: Option<DocRow>) -> Result<Option<Registration>> {
    row.map(|(id, doc)| from_doc("registration", &id, &doc))
        .transpose()
}

pub(super) async fn save(s: &PgStore, regs: &[Registration]) -> Result<()> {
    let now = Millis::now();
    let mut tx = s.pool.begin().await?;
    let mut queued_any = false;
    for reg in regs {
        sqlx::query(
            "INSERT INTO registrations \
               (id, product_id, access_tag, webhook_id, event, env, link_id, created_at, updated_at, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
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
                "UPDATE events SET status = 'received', next_attempt_at = $1, \
                   retry_base = attempts, updated_at = $1 \
                 WHERE registration_id = $2 AND status = 'held'",
            )
            .bind(now.0)
            .bind(&reg.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if queued > 0 {
                queued_any = true;
                tracing::info!(registration_id = %reg.id, queued, "queued held events");
            }
        }
    }
    tx.commit().await?;
    if queued_any {
        s.notifier.work_committed();
    }
    Ok(())
}

pub(super) async fn get(s: &PgStore, id: &str) -> Result<Option<Registration>> {
    let row = sqlx::query_as("SELECT id, doc FROM registrations WHERE id = $1")
        .bind(id)
        .fetch_optional(&s.pool)
        .await?;
    one(row)
}

pub(super) async fn get_by_key(s: &PgStore, key: &RegistrationKey) -> Result<Option<Registration>> {
    let row = sqlx::query_as(
        "SELECT id, doc FROM registrations \
         WHERE product_id = $1 AND access_tag = $2 AND webhook_id = $3 AND event = $4 AND env = $5",
    )
    .bind(&key.product_id)
    .bind(key.access_tag.as_str())
    .bind(&key.webhook_id)
    .bind(registration_event_key(
        key.event.as_ref().map(|t| t.as_str()),
    ))
    .bind(key.env.as_str())
    .fetch_optional(&s.pool)
    .await?;
    one(row)
}

pub(super) async fn get_by_link(s: &PgStore, link_id: &str) -> Result<Option<Registration>> {
    let row = sqlx::query_as("SELECT id, doc FROM registrations WHERE link_id = $1")
        .bind(link_id)
        .fetch_optional(&s.pool)
        .await?;
    one(row)
}

pub(super) async fn list(
    s: &PgStore,
    product_id: &str,
    access_tag: Option<&str>,
) -> Result<Vec<Registration>> {
    let rows: Vec<DocRow> = sqlx::query_as(
        "SELECT id, doc FROM registrations \
         WHERE product_id = $1 AND ($2::text IS NULL OR access_tag = $2) \
         ORDER BY created_at, id",
    )
    .bind(product_id)
    .bind(access_tag)
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|(id, doc)| from_doc("registration", id, doc))
        .collect()
}

#[async_trait]
impl RegistrationStore for PgStore {
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
        save(self, regs).await
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
