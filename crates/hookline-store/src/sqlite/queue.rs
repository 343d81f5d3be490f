//! The delivery queue: claiming due events under a lease, completing them
//! (fenced by the lease owner), releasing leases, and the next due time.
//!
//! An event is queued iff `next_attempt_at IS NOT NULL`, and leased while
//! `lease_until >= now`. The partial index `events_due` holds exactly the
//! queued events, so claiming costs the same with 10 or 10 million events
//! kept.

use super::SqliteStore;
use crate::codec::{attempt_columns, event_columns, from_doc, AttemptValues, EventRow};
use crate::rules::completion_update;
use crate::{Claimed, Result};
use hookline_core::event::{Completion, Event, EventStatus, Payload};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use sqlx::{FromRow, QueryBuilder, Sqlite};
use std::collections::HashMap;

/// Ids per `IN (…)` list, well under SQLite's bound-parameter limit.
const IN_CHUNK: usize = 500;

pub(super) async fn claim_due(
    s: &SqliteStore,
    owner: &str,
    now: Millis,
    lease_until: Millis,
    limit: u32,
) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // One statement picks and leases, so two claimers can never take the
    // same event; it commits before anyone calls a receiver.
    let mut tx = s.writer.begin().await?;
    let rows: Vec<EventRow> = sqlx::query_as(concat!(
        "UPDATE events SET lease_owner = ?1, lease_until = ?2, status = 'delivering', \
           updated_at = ?3 \
         WHERE id IN (SELECT id FROM events \
           WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?3 \
             AND (lease_until IS NULL OR lease_until < ?3) \
           ORDER BY next_attempt_at LIMIT ?4) \
         RETURNING ",
        event_columns!()
    ))
    .bind(owner)
    .bind(lease_until.0)
    .bind(now.0)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    let mut events = rows
        .into_iter()
        .map(Event::try_from)
        .collect::<Result<Vec<_>>>()?;
    // RETURNING has no defined order.
    events.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));

    // The lease is committed; the rest is read from a snapshot that includes it.
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let mut payloads = load_payloads(s, &ids).await?;
    let mut reg_ids: Vec<&str> = events.iter().map(|e| e.registration_id.as_str()).collect();
    reg_ids.sort_unstable();
    reg_ids.dedup();
    let registrations = load_registrations(s, &reg_ids).await?;

    let mut claimed = Vec::with_capacity(events.len());
    let mut undeliverable = Vec::new();
    for event in events {
        let registration = match registrations.get(&event.registration_id) {
            Some(Ok(reg)) => reg.clone(),
            Some(Err(why)) => {
                undeliverable.push((event.id, why.clone()));
                continue;
            }
            None => {
                let why = format!("registration {} does not exist", event.registration_id);
                undeliverable.push((event.id, why));
                continue;
            }
        };
        match payloads.remove(&event.id) {
            Some(Ok(payload)) => claimed.push(Claimed {
                event,
                payload,
                registration,
            }),
            Some(Err(why)) => undeliverable.push((event.id, why)),
            None => undeliverable.push((event.id, "its payload is missing".to_owned())),
        }
    }
    if !undeliverable.is_empty() {
        fail_undeliverable(s, owner, &undeliverable).await?;
    }
    Ok(claimed)
}

/// Payloads by event id; one that cannot be read is an `Err` with the reason,
/// so that one bad row does not stop the others from being delivered.
async fn load_payloads(
    s: &SqliteStore,
    ids: &[&str],
) -> Result<HashMap<String, Result<Payload, String>>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT event_id, method, query, headers, body FROM event_payloads WHERE event_id IN (",
        );
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        list.push_unseparated(")");
        for row in qb.build().fetch_all(&s.reader).await? {
            let event_id: String = sqlx::Row::try_get(&row, "event_id")?;
            let payload = crate::codec::PayloadRow::from_row(&row)?
                .into_payload(&event_id)
                .map_err(|e| e.to_string());
            out.insert(event_id, payload);
        }
    }
    Ok(out)
}

/// Registrations by id; an unreadable doc is an `Err` with the reason.
async fn load_registrations(
    s: &SqliteStore,
    ids: &[&str],
) -> Result<HashMap<String, Result<Registration, String>>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT id, doc FROM registrations WHERE id IN (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        list.push_unseparated(")");
        let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&s.reader).await?;
        for (id, doc) in rows {
            let reg = from_doc("registration", &id, &doc).map_err(|e| e.to_string());
            out.insert(id, reg);
        }
    }
    Ok(out)
}

/// Marks claimed events that can never be delivered as failed, with the
/// reason, instead of returning an error: an error would leave them leased,
/// to be claimed (and fail the whole batch) again and again.
async fn fail_undeliverable(
    s: &SqliteStore,
    owner: &str,
    events: &[(String, String)],
) -> Result<()> {
    let now = Millis::now();
    let mut tx = s.writer.begin().await?;
    for (id, why) in events {
        tracing::error!(event_id = %id, reason = %why, "event cannot be delivered; marked failed");
        sqlx::query(
            "UPDATE events SET status = ?, next_attempt_at = NULL, lease_owner = NULL, \
               lease_until = NULL, last_error = ?, updated_at = ? \
             WHERE id = ? AND lease_owner = ?",
        )
        .bind(EventStatus::Failed.as_str())
        .bind(format!("cannot be delivered: {why}"))
        .bind(now.0)
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn complete(s: &SqliteStore, completions: &[Completion]) -> Result<()> {
    if completions.is_empty() {
        return Ok(());
    }
    let now = Millis::now();
    let mut tx = s.writer.begin().await?;
    for c in completions {
        let a = AttemptValues::new(&c.attempt)?;
        // The attempt happened, so it is recorded even when the lease was
        // lost; only an event that no longer exists has nowhere to keep it.
        // Recording the same attempt twice keeps the first.
        sqlx::query(concat!(
            "INSERT INTO attempts (",
            attempt_columns!(),
            ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
             WHERE EXISTS (SELECT 1 FROM events WHERE id = ?2) \
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(a.id)
        .bind(a.event_id)
        .bind(a.number)
        .bind(a.started_at)
        .bind(a.duration_ms)
        .bind(a.request_url)
        .bind(a.response_status)
        .bind(a.response_excerpt)
        .bind(a.error.as_deref())
        .execute(&mut *tx)
        .await?;

        let u = completion_update(c);
        // Fencing: only the lease holder moves the event. Another worker may
        // have claimed it after our lease expired, and its outcome wins.
        let moved = sqlx::query(
            "UPDATE events SET status = ?, next_attempt_at = ?, \
               delivered_at = COALESCE(?, delivered_at), lease_owner = NULL, lease_until = NULL, \
               attempts = attempts + 1, last_response_status = ?, last_error = ?, updated_at = ? \
             WHERE id = ? AND lease_owner = ?",
        )
        .bind(u.status.as_str())
        .bind(u.next_attempt_at)
        .bind(u.delivered_at)
        .bind(u.last_response_status)
        .bind(u.last_error.as_deref())
        .bind(now.0)
        .bind(&c.attempt.event_id)
        .bind(&c.lease_owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tracing::warn!(
                event_id = %c.attempt.event_id,
                lease_owner = %c.lease_owner,
                "completion under a lost lease: attempt recorded, event not moved"
            );
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn release_leases(s: &SqliteStore, owner: Option<&str>) -> Result<u64> {
    let q = match owner {
        Some(owner) => sqlx::query(
            "UPDATE events SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
        )
        .bind(owner),
        None => sqlx::query(
            "UPDATE events SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner IS NOT NULL",
        ),
    };
    Ok(q.execute(&s.writer).await?.rows_affected())
}

pub(super) async fn next_due(s: &SqliteStore) -> Result<Option<Millis>> {
    let (due,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(next_attempt_at) FROM events WHERE next_attempt_at IS NOT NULL")
            .fetch_one(&s.reader)
            .await?;
    Ok(due.map(Millis))
}
