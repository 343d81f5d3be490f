//! Storing received batches: the group commit's one write.
//!
//! A batch is written as one multi-statement command (`BEGIN; INSERT …;
//! INSERT …; COMMIT`), so it costs one round trip to the connection's thread
//! whatever its size; the same command leaves out provider redeliveries
//! (`NOT EXISTS` on the dedup index). If any statement fails the command
//! stops there and the transaction is rolled back before the writer is
//! handed on.

use super::SqliteStore;
use crate::batch::{first_conflict, Copies};
use crate::codec::{delivery_columns, event_columns, DeliveryValues, EventValues, PayloadValues};
use crate::rules::{id_tracks_time, initial_delivery};
use crate::{IngestStore, Result, StoreError};
use async_trait::async_trait;
use hookline_core::event::{Delivery, Event, Payload};
use hookline_core::time::Millis;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

/// Events per multi-row `INSERT`: 18 bound values each, well under
/// SQLite's limit of 32,766 per statement.
const EVENT_CHUNK: usize = 500;

pub(super) async fn insert(s: &SqliteStore, events: &[(Event, Payload)]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let batch: Vec<&(Event, Payload)> = events.iter().collect();
    let mut conn = s.write().await?;
    write(s, &mut conn, &batch, None).await?;
    Ok(())
}

/// [`insert`] leaving out provider redeliveries; see
/// [`IngestStore::insert_new_events`].
pub(super) async fn insert_new(
    s: &SqliteStore,
    events: Vec<(Event, Payload)>,
    dedup_since: Millis,
) -> Result<Vec<Option<String>>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let copies = Copies::of(&events);
    let candidates = copies.firsts(&events);
    let mut conn = s.write().await?;
    let inserted = write(s, &mut conn, &candidates, Some(dedup_since)).await?;
    let left_out = Copies::left_out(&candidates, &inserted);
    let originals = if left_out.is_empty() {
        HashMap::new()
    } else {
        stored_originals(&mut conn, &left_out, dedup_since).await?
    };
    drop(conn);

    copies.answers(&events, &inserted, &originals)
}

/// Writes `batch` in one command and returns the ids stored. With
/// `dedup_since`, an event whose provider event id its registration received
/// at or after then is left out.
async fn write(
    s: &SqliteStore,
    conn: &mut SqliteConnection,
    batch: &[&(Event, Payload)],
    dedup_since: Option<Millis>,
) -> Result<HashSet<String>> {
    let breaks_id_time = s.ids_track_time.load(Ordering::Acquire)
        && !batch
            .iter()
            .all(|(e, _)| id_tracks_time(&e.id, e.received_at));
    if breaks_id_time {
        // Stop relying on ids before the event can be seen, so no listing
        // ever misses it; if the insert fails we only lose a shortcut.
        s.ids_track_time.store(false, Ordering::Release);
        tracing::warn!(
            "an event id does not carry its receive time (not `evt_<ULID>` minted at receipt); \
             listing by time falls back to slower plans from now on"
        );
    }
    let events = batch
        .iter()
        .map(|(e, _)| EventValues::new(e))
        .collect::<Result<Vec<_>>>()?;
    let payloads = batch
        .iter()
        .map(|(e, p)| Ok((e.id.as_str(), PayloadValues::new(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let deliveries: Vec<Delivery> = batch
        .iter()
        .filter_map(|(e, _)| initial_delivery(e))
        .collect();

    let mut qb = QueryBuilder::<Sqlite>::new("BEGIN; ");
    if breaks_id_time {
        qb.push("UPDATE meta SET value = '0' WHERE key = 'event_ids_track_time'; ");
    }
    for chunk in events.chunks(EVENT_CHUNK) {
        qb.push(concat!("WITH v(", event_columns!(), ") AS ("));
        qb.push_values(chunk, |mut row, v| {
            row.push_bind(v.id)
                .push_bind(v.registration_id)
                .push_bind(v.product_tag)
                .push_bind(v.access_tag)
                .push_bind(v.webhook_tag)
                .push_bind(v.env)
                .push_bind(v.event_type)
                .push_bind(v.status)
                .push_bind(v.received_at)
                .push_bind(v.updated_at)
                .push_bind(v.attempts)
                .push_bind(v.retry_base)
                .push_bind(v.next_attempt_at)
                .push_bind(v.delivered_at)
                .push_bind(v.last_response_status)
                .push_bind(v.last_error)
                .push_bind(v.provider_event_id)
                .push_bind(v.verification.as_deref());
        });
        qb.push(concat!(
            ") INSERT INTO events (",
            event_columns!(),
            ") SELECT * FROM v WHERE "
        ));
        match dedup_since {
            Some(since) => {
                qb.push(
                    "v.provider_event_id IS NULL OR NOT EXISTS (SELECT 1 FROM events e \
                     WHERE e.registration_id = v.registration_id \
                       AND e.provider_event_id = v.provider_event_id AND e.received_at >= ",
                )
                .push_bind(since.0)
                .push(")");
            }
            None => {
                qb.push("true");
            }
        }
        qb.push(" RETURNING id; ");
    }
    for chunk in payloads.chunks(EVENT_CHUNK) {
        qb.push("WITH p(event_id, method, query, headers, body) AS (");
        qb.push_values(chunk, |mut row, (id, p)| {
            row.push_bind(*id)
                .push_bind(p.method)
                .push_bind(p.query)
                .push_bind(p.headers.as_str())
                .push_bind(p.body);
        });
        // Only the payloads of events the statements above stored.
        qb.push(
            ") INSERT INTO event_payloads (event_id, method, query, headers, body) \
             SELECT * FROM p WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = p.event_id); ",
        );
    }
    for chunk in deliveries.chunks(EVENT_CHUNK) {
        qb.push(concat!("WITH d(", delivery_columns!(), ") AS ("));
        qb.push_values(chunk, |mut row, d| {
            let v = DeliveryValues::new(d);
            row.push_bind(v.id)
                .push_bind(v.event_id)
                .push_bind(v.registration_id)
                .push_bind(v.destination_id)
                .push_bind(v.status)
                .push_bind(v.created_at)
                .push_bind(v.updated_at)
                .push_bind(v.attempts)
                .push_bind(v.retry_base)
                .push_bind(v.next_attempt_at)
                .push_bind(v.delivered_at)
                .push_bind(v.last_response_status)
                .push_bind(v.last_error);
        });
        // Only the deliveries of events the statements above stored: in the
        // same commit, so storing an event costs no write of its own for
        // its delivery.
        qb.push(concat!(
            ") INSERT INTO deliveries (",
            delivery_columns!(),
            ") SELECT * FROM d WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id); "
        ));
    }
    qb.push("COMMIT");

    let stored: std::result::Result<Vec<(String,)>, sqlx::Error> =
        qb.build_query_as().fetch_all(&mut *conn).await;
    match stored {
        Ok(rows) => Ok(rows.into_iter().map(|(id,)| id).collect()),
        Err(e) => {
            // The command stopped at the failing statement, inside the
            // transaction: undo it before anything else uses the writer.
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                tracing::debug!(error = %rollback, "rollback after a failed batch");
            }
            match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    Err(StoreError::Conflict {
                        entity: "event",
                        key: conflicting_id(conn, batch).await?,
                    })
                }
                _ => Err(e.into()),
            }
        }
    }
}

/// The event id that made a batch insert fail: one already stored, or one
/// given twice in the batch.
async fn conflicting_id(
    conn: &mut SqliteConnection,
    batch: &[&(Event, Payload)],
) -> Result<String> {
    let mut existing = HashSet::new();
    for chunk in batch.chunks(EVENT_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT id FROM events WHERE id IN (");
        let mut list = qb.separated(", ");
        for (e, _) in chunk {
            list.push_bind(e.id.as_str());
        }
        list.push_unseparated(")");
        let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        existing.extend(rows.into_iter().map(|(id,)| id));
    }
    let not_stored: Vec<(String,)> = batch
        .iter()
        .filter(|(e, _)| !existing.contains(&e.id))
        .map(|(e, _)| (e.id.clone(),))
        .collect();
    Ok(first_conflict(batch.iter().map(|(e, _)| e), not_stored))
}

/// The earliest stored event at or after `since` for each (registration,
/// provider event id) of `events`.
async fn stored_originals(
    conn: &mut SqliteConnection,
    events: &[&Event],
    since: Millis,
) -> Result<HashMap<(String, String), String>> {
    let mut found = HashMap::new();
    for chunk in events.chunks(EVENT_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH k(registration_id, provider_event_id) AS (");
        qb.push_values(chunk, |mut row, e| {
            row.push_bind(e.registration_id.as_str())
                .push_bind(e.provider_event_id.as_deref());
        });
        qb.push(
            ") SELECT k.registration_id, k.provider_event_id, \
               (SELECT e.id FROM events e WHERE e.registration_id = k.registration_id \
                  AND e.provider_event_id = k.provider_event_id AND e.received_at >= ",
        )
        .push_bind(since.0)
        .push(" ORDER BY e.received_at LIMIT 1) AS original FROM k");
        let rows: Vec<(String, String, Option<String>)> =
            qb.build_query_as().fetch_all(&mut *conn).await?;
        for (reg, pid, original) in rows {
            if let Some(original) = original {
                found.insert((reg, pid), original);
            }
        }
    }
    Ok(found)
}

#[async_trait]
impl IngestStore for SqliteStore {
    async fn insert_events(&self, events: &[(Event, Payload)]) -> Result<()> {
        self.written(insert(self, events).await).await
    }
    async fn insert_new_events(
        &self,
        events: Vec<(Event, Payload)>,
        dedup_since: Millis,
    ) -> Result<Vec<Option<String>>> {
        self.written(insert_new(self, events, dedup_since).await)
            .await
    }
    async fn find_duplicate(
        &self,
        registration_id: &str,
        provider_event_id: &str,
        since: Millis,
    ) -> Result<Option<String>> {
        super::events::find_duplicate(self, registration_id, provider_event_id, since).await
    }
}
