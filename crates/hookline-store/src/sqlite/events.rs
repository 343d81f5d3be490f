//! Events outside the delivery loop: finding provider redeliveries, listing and reading events and their attempts,
//! replaying one, and deleting expired ones (retention).

use super::SqliteStore;
use crate::codec::{
    attempt_columns, delivery_columns, event_columns, parse_status, AttemptRow, DeliveryRow,
    EventRow, PayloadRow,
};
use crate::rules::{id_window, list_limit, requeue_allowed};
use crate::{DeliveryRequeue, EventFilter, EventStore, Requeue, Result, RetentionStore};
use async_trait::async_trait;
use hookline_core::event::{Attempt, Delivery, Event, Payload};
use hookline_core::time::Millis;
use sqlx::sqlite::SqliteRow;
use sqlx::Connection;
use sqlx::{FromRow, QueryBuilder, Sqlite};
use std::sync::atomic::Ordering;

pub(super) async fn find_duplicate(
    s: &SqliteStore,
    registration_id: &str,
    provider_event_id: &str,
    since: Millis,
) -> Result<Option<String>> {
    // The earliest match is the original the provider is redelivering.
    let id: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM events \
         WHERE registration_id = ? AND provider_event_id = ? AND received_at >= ? \
         ORDER BY received_at LIMIT 1",
    )
    .bind(registration_id)
    .bind(provider_event_id)
    .bind(since.0)
    .fetch_optional(&s.reader)
    .await?;
    Ok(id.map(|(id,)| id))
}

pub(super) async fn list(s: &SqliteStore, f: &EventFilter) -> Result<Vec<Event>> {
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE 1 = 1"
    ));
    push_filter(s, &mut qb, f);
    if let Some(before) = &f.before_id {
        qb.push(" AND id < ").push_bind(before.as_str());
    }
    qb.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(list_limit(f.limit)));
    let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&s.reader).await?;
    rows.into_iter().map(Event::try_from).collect()
}

/// Appends `AND …` conditions for every field of `f` except the cursor
/// (`before_id`) and `limit`, to a query over `events` whose WHERE clause is
/// already open. Every listing or counting of events should filter through
/// here, so they all get the time-window shortcut below.
pub(super) fn push_filter<'a>(
    s: &SqliteStore,
    qb: &mut QueryBuilder<'a, Sqlite>,
    f: &'a EventFilter,
) {
    let text_filters = [
        ("product_tag", &f.product_tag),
        ("access_tag", &f.access_tag),
        ("webhook_tag", &f.webhook_tag),
        ("event_type", &f.event_type),
        ("env", &f.env),
        ("registration_id", &f.registration_id),
    ];
    for (column, value) in text_filters {
        if let Some(v) = value {
            qb.push(format_args!(" AND {column} = "))
                .push_bind(v.as_str());
        }
    }
    if let Some(status) = f.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    // With ids tracking time, a time window is also an id range, which the
    // (…, id) indexes seek straight into; otherwise an old window would be
    // found by walking every newer event. The exact `received_at` test stays,
    // written `+received_at` so it does not lure the planner onto the
    // received_at index (range, then sort) instead.
    let received_at = if s.ids_track_time.load(Ordering::Acquire) {
        let (lower, upper) = id_window(f.since, f.until);
        if let Some(lower) = lower {
            qb.push(" AND id >= ").push_bind(lower);
        }
        if let Some(upper) = upper {
            qb.push(" AND id < ").push_bind(upper);
        }
        "+received_at"
    } else {
        "received_at"
    };
    if let Some(since) = f.since {
        qb.push(format_args!(" AND {received_at} >= "))
            .push_bind(since.0);
    }
    if let Some(until) = f.until {
        qb.push(format_args!(" AND {received_at} < "))
            .push_bind(until.0);
    }
}

pub(super) async fn get(s: &SqliteStore, id: &str) -> Result<Option<(Event, Payload)>> {
    let row: Option<SqliteRow> = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        ", p.method, p.query, p.headers, p.body \
         FROM events LEFT JOIN event_payloads p ON p.event_id = events.id \
         WHERE events.id = ?"
    ))
    .bind(id)
    .fetch_optional(&s.reader)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let event = Event::try_from(EventRow::from_row(&row)?)?;
    let payload = PayloadRow::from_row(&row)?.into_payload(&event.id)?;
    Ok(Some((event, payload)))
}

pub(super) async fn list_attempts(s: &SqliteStore, event_id: &str) -> Result<Vec<Attempt>> {
    let rows: Vec<AttemptRow> = sqlx::query_as(concat!(
        "SELECT ",
        attempt_columns!(),
        " FROM attempts WHERE event_id = ? ORDER BY number, started_at, id"
    ))
    .bind(event_id)
    .fetch_all(&s.reader)
    .await?;
    rows.into_iter().map(Attempt::try_from).collect()
}

pub(super) async fn list_deliveries(s: &SqliteStore, event_id: &str) -> Result<Vec<Delivery>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE event_id = ? ORDER BY created_at, id"
    ))
    .bind(event_id)
    .fetch_all(&s.reader)
    .await?;
    rows.into_iter().map(Delivery::try_from).collect()
}

/// A delivery with its lease, as the replay rules need it.
#[derive(sqlx::FromRow)]
struct LeasedDelivery {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    lease_until: Option<i64>,
}

/// Queues again those of `candidates` the replay rules allow, in `tx`, and
/// rewrites their event's summary; returns the ids queued.
async fn requeue_allowed_of(
    tx: &mut sqlx::SqliteConnection,
    event_id: &str,
    candidates: Vec<LeasedDelivery>,
    now: Millis,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for c in candidates {
        let lease_until = c.lease_until;
        let d = Delivery::try_from(c.delivery)?;
        if requeue_allowed(&d, lease_until, now) {
            ids.push(d.id);
        }
    }
    if ids.is_empty() {
        return Ok(ids);
    }
    let mut qb =
        QueryBuilder::<Sqlite>::new("UPDATE deliveries SET status = 'pending', next_attempt_at = ");
    qb.push_bind(now.0)
        .push(", retry_base = attempts, lease_owner = NULL, lease_until = NULL, updated_at = ")
        .push_bind(now.0)
        .push(" WHERE id IN (");
    let mut list = qb.separated(", ");
    for id in &ids {
        list.push_bind(id.as_str());
    }
    list.push_unseparated("); ");
    super::queue::summarize(&mut qb, &[event_id]);
    qb.build().execute(&mut *tx).await?;
    Ok(ids)
}

pub(super) async fn requeue(s: &SqliteStore, id: &str, now: Millis) -> Result<Requeue> {
    // Read and write on the writer in one transaction: no claim can slip in
    // between the check and the update.
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    let status: Option<(String,)> = sqlx::query_as("SELECT status FROM events WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((status,)) = status else {
        return Ok(Requeue::NotFound);
    };
    let candidates: Vec<LeasedDelivery> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        ", lease_until FROM deliveries WHERE event_id = ?"
    ))
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    if requeue_allowed_of(&mut tx, id, candidates, now)
        .await?
        .is_empty()
    {
        return Ok(Requeue::NotAllowed(parse_status(id, &status)?));
    }
    let row: EventRow = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE id = ?"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Requeue::Queued(Event::try_from(row)?))
}

pub(super) async fn requeue_delivery(
    s: &SqliteStore,
    id: &str,
    now: Millis,
) -> Result<DeliveryRequeue> {
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    let found: Option<LeasedDelivery> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        ", lease_until FROM deliveries WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(found) = found else {
        return Ok(DeliveryRequeue::NotFound);
    };
    let event_id = found.delivery.event_id.clone();
    let status = Delivery::try_from(found.delivery.clone())?.status;
    if requeue_allowed_of(&mut tx, &event_id, vec![found], now)
        .await?
        .is_empty()
    {
        return Ok(DeliveryRequeue::NotAllowed(status));
    }
    let row: DeliveryRow = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE id = ?"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(DeliveryRequeue::Queued(Delivery::try_from(row)?))
}

/// Deletes up to `limit` delivered or failed events last updated before
/// `before`; payloads and attempts go with them (`ON DELETE CASCADE`). One
/// short write on the writer: ingest waits at most for one batch.
pub(super) async fn delete_expired(s: &SqliteStore, before: Millis, limit: u32) -> Result<u64> {
    if limit == 0 {
        return Ok(0);
    }
    // The status list is literal so the partial index `events_expirable` applies.
    let deleted = sqlx::query(
        "DELETE FROM events WHERE id IN ( \
           SELECT id FROM events \
           WHERE status IN ('delivered', 'failed') AND updated_at < ? \
           ORDER BY updated_at LIMIT ?)",
    )
    .bind(before.0)
    .bind(i64::from(limit))
    .execute(&mut *s.write().await?)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// Deletes up to `limit` rejected events received before `before`, with
/// their payloads, through the partial index `events_rejected`.
pub(super) async fn delete_rejected(s: &SqliteStore, before: Millis, limit: u32) -> Result<u64> {
    if limit == 0 {
        return Ok(0);
    }
    let deleted = sqlx::query(
        "DELETE FROM events WHERE id IN ( \
           SELECT id FROM events WHERE status = 'rejected' AND received_at < ? \
           ORDER BY received_at LIMIT ?)",
    )
    .bind(before.0)
    .bind(i64::from(limit))
    .execute(&mut *s.write().await?)
    .await?
    .rows_affected();
    Ok(deleted)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        list(self, filter).await
    }
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>> {
        get(self, id).await
    }
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>> {
        list_attempts(self, event_id).await
    }
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue> {
        self.written(requeue(self, id, now).await).await
    }
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        list_deliveries(self, event_id).await
    }
    async fn requeue_delivery(&self, id: &str, now: Millis) -> Result<DeliveryRequeue> {
        self.written(requeue_delivery(self, id, now).await).await
    }
    // Cursors and counts, for live streams and bulk replay: in `monitor.rs`.
    async fn list_events_after(
        &self,
        filter: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>> {
        super::monitor::list_events_after(self, filter, after_id).await
    }
    async fn get_events(&self, ids: &[String]) -> Result<Vec<Event>> {
        super::monitor::get_events(self, ids).await
    }
    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        super::monitor::count_events(self, filter).await
    }
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64> {
        self.written(delete_expired(self, before, limit).await)
            .await
    }
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64> {
        self.written(delete_rejected(self, before, limit).await)
            .await
    }
}
