//! Events outside the delivery loop: storing a received batch, finding
//! provider redeliveries, listing and reading events and their attempts,
//! replaying one, and deleting expired ones (retention).

use super::SqliteStore;
use crate::batch::{chunk_by_bytes, first_conflict};
use crate::codec::{
    attempt_columns, event_columns, parse_status, AttemptRow, EventRow, EventValues, PayloadRow,
    PayloadValues,
};
use crate::rules::{id_tracks_time, id_window, list_limit, requeue_allowed};
use crate::{EventFilter, Requeue, Result, StoreError};
use hookline_core::event::{Attempt, Event, Payload};
use hookline_core::time::Millis;
use sqlx::sqlite::SqliteRow;
use sqlx::Connection;
use sqlx::SqliteConnection;
use sqlx::{FromRow, QueryBuilder, Sqlite};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Events per multi-row `INSERT`: 18 bound values each, well under
/// SQLite's limit of 32,766.
const EVENT_CHUNK: usize = 500;

pub(super) async fn insert(s: &SqliteStore, events: &[(Event, Payload)]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    insert_in(s, &mut tx, events).await?;
    tx.commit().await?;
    Ok(())
}

/// [`insert`] leaving out provider redeliveries, with the lookup of
/// originals and the insert in one transaction on the one writer, so a
/// redelivery can never slip in between.
pub(super) async fn insert_new(
    s: &SqliteStore,
    events: Vec<(Event, Payload)>,
    dedup_since: Millis,
) -> Result<Vec<Option<String>>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    let mut stored = stored_originals(&mut tx, &events, dedup_since).await?;
    let mut originals = Vec::with_capacity(events.len());
    let mut fresh = Vec::with_capacity(events.len());
    for (event, payload) in events {
        let original = event.provider_event_id.as_ref().and_then(|pid| {
            let key = (event.registration_id.clone(), pid.clone());
            match stored.get(&key) {
                Some(id) => Some(id.clone()),
                None => {
                    // Later copies in this batch redeliver this one.
                    stored.insert(key, event.id.clone());
                    None
                }
            }
        });
        if original.is_none() {
            fresh.push((event, payload));
        }
        originals.push(original);
    }
    if !fresh.is_empty() {
        insert_in(s, &mut tx, &fresh).await?;
    }
    tx.commit().await?;
    Ok(originals)
}

/// The earliest stored event at or after `since` for each (registration,
/// provider event id) of the batch that has one: one statement per chunk.
async fn stored_originals(
    conn: &mut SqliteConnection,
    events: &[(Event, Payload)],
    since: Millis,
) -> Result<HashMap<(String, String), String>> {
    let mut keys: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|(e, _)| Some((e.registration_id.as_str(), e.provider_event_id.as_deref()?)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut found = HashMap::new();
    for chunk in keys.chunks(EVENT_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH k(registration_id, provider_event_id) AS (");
        qb.push_values(chunk, |mut row, (reg, pid)| {
            row.push_bind(*reg).push_bind(*pid);
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

/// Inserts a batch inside the caller's transaction.
async fn insert_in(
    s: &SqliteStore,
    tx: &mut SqliteConnection,
    events: &[(Event, Payload)],
) -> Result<()> {
    let breaks_id_time = s.ids_track_time.load(Ordering::Acquire)
        && !events
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
    if breaks_id_time {
        sqlx::query("UPDATE meta SET value = '0' WHERE key = 'event_ids_track_time'")
            .execute(&mut *tx)
            .await?;
    }
    // Multi-row statements: the cost of a batch is a handful of round trips
    // to the connection's thread, however many events it holds.
    let values = events
        .iter()
        .map(|(e, _)| EventValues::new(e))
        .collect::<Result<Vec<_>>>()?;
    let mut inserted: Vec<(String,)> = Vec::with_capacity(events.len());
    for chunk in values.chunks(EVENT_CHUNK) {
        let mut qb =
            QueryBuilder::<Sqlite>::new(concat!("INSERT INTO events (", event_columns!(), ") "));
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
        qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        inserted.extend(qb.build_query_as().fetch_all(&mut *tx).await?);
    }
    if inserted.len() < events.len() {
        // Dropping `tx` rolls the whole batch back.
        return Err(StoreError::Conflict {
            entity: "event",
            key: first_conflict(events, inserted),
        });
    }

    let payloads = events
        .iter()
        .map(|(e, p)| Ok((e.id.as_str(), PayloadValues::new(p)?)))
        .collect::<Result<Vec<_>>>()?;
    for by_bytes in chunk_by_bytes(&payloads, |(_, p)| p.body.len()) {
        for chunk in by_bytes.chunks(EVENT_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO event_payloads (event_id, method, query, headers, body) ",
            );
            qb.push_values(chunk, |mut row, (id, p)| {
                row.push_bind(*id)
                    .push_bind(p.method)
                    .push_bind(p.query)
                    .push_bind(p.headers.as_str())
                    .push_bind(p.body);
            });
            qb.build().execute(&mut *tx).await?;
        }
    }
    Ok(())
}

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

pub(super) async fn requeue(s: &SqliteStore, id: &str, now: Millis) -> Result<Requeue> {
    // Read and write on the writer in one transaction: no claim can slip in
    // between the check and the update.
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    let current: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT status, lease_until FROM events WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, lease_until)) = current else {
        return Ok(Requeue::NotFound);
    };
    if let Err(status) = requeue_allowed(parse_status(id, &status)?, lease_until, now) {
        return Ok(Requeue::NotAllowed(status));
    }
    let row: EventRow = sqlx::query_as(concat!(
        "UPDATE events SET status = 'received', next_attempt_at = ?1, retry_base = attempts, \
           lease_owner = NULL, lease_until = NULL, updated_at = ?1 \
         WHERE id = ?2 RETURNING ",
        event_columns!()
    ))
    .bind(now.0)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Requeue::Queued(Event::try_from(row)?))
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
