//! The delivery queue: claiming due events under a lease, completing them
//! (fenced by the lease owner), releasing leases, and the next due time.
//!
//! An event is queued iff `next_attempt_at IS NOT NULL`, and leased while
//! `lease_until >= now`. The partial index `events_due` holds exactly the
//! queued events, so claiming costs the same with 10 or 10 million events
//! kept.

use super::SqliteStore;
use crate::codec::{
    attempt_columns, event_columns, from_doc, open_claimed, AttemptValues, EventRow,
};
use crate::rules::{completion_update, CompletionUpdate};
use crate::{Claimed, QueueStore, Result};
use async_trait::async_trait;
use hookline_core::event::{Completion, Event, EventStatus, Payload};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use sqlx::{Connection, FromRow, QueryBuilder, Sqlite, SqliteConnection};
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
    let mut conn = s.write().await?;
    // One statement picks and leases, so two claimers can never take the
    // same event; outside a transaction it commits on its own, before anyone
    // calls a receiver.
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
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    let mut events = rows
        .into_iter()
        .map(Event::try_from)
        .collect::<Result<Vec<_>>>()?;
    // RETURNING has no defined order.
    events.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));

    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let mut payloads = load_payloads(&mut conn, &ids).await?;
    let mut reg_ids: Vec<&str> = events.iter().map(|e| e.registration_id.as_str()).collect();
    reg_ids.sort_unstable();
    reg_ids.dedup();
    let registrations = load_registrations(&mut conn, &reg_ids).await?;

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
                unreadable_secrets: None,
            }),
            Some(Err(why)) => undeliverable.push((event.id, why)),
            None => undeliverable.push((event.id, "its payload is missing".to_owned())),
        }
    }
    if !undeliverable.is_empty() {
        fail_undeliverable(&mut conn, owner, &undeliverable).await?;
    }
    Ok(claimed)
}

/// Payloads by event id; one that cannot be read is an `Err` with the reason,
/// so that one bad row does not stop the others from being delivered.
async fn load_payloads(
    conn: &mut SqliteConnection,
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
        for row in qb.build().fetch_all(&mut *conn).await? {
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
    conn: &mut SqliteConnection,
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
        let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
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
    conn: &mut SqliteConnection,
    owner: &str,
    events: &[(String, String)],
) -> Result<()> {
    let now = Millis::now();
    let mut tx = conn.begin().await?;
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

/// Completions per statement: 9 bound values each, far below SQLite's limit.
const COMPLETE_CHUNK: usize = 500;

pub(super) async fn complete(s: &SqliteStore, completions: &[Completion]) -> Result<()> {
    if completions.is_empty() {
        return Ok(());
    }
    let now = Millis::now();
    let attempts = completions
        .iter()
        .map(|c| AttemptValues::new(&c.attempt))
        .collect::<Result<Vec<_>>>()?;
    let rounds: Vec<Vec<(&Completion, CompletionUpdate)>> = rounds(completions)
        .into_iter()
        .map(|round| {
            round
                .into_iter()
                .map(|c| (c, completion_update(c)))
                .collect()
        })
        .collect();

    // One command, so a group of results costs one round trip to the
    // connection's thread.
    let mut qb = QueryBuilder::<Sqlite>::new("BEGIN; ");
    for chunk in attempts.chunks(COMPLETE_CHUNK) {
        // The attempt happened, so it is recorded even when the lease was
        // lost; only an event that no longer exists has nowhere to keep it.
        // Recording the same attempt twice keeps the first.
        qb.push(concat!("WITH a(", attempt_columns!(), ") AS ("));
        qb.push_values(chunk, |mut row, a| {
            row.push_bind(a.id)
                .push_bind(a.event_id)
                .push_bind(a.number)
                .push_bind(a.started_at)
                .push_bind(a.duration_ms)
                .push_bind(a.request_url)
                .push_bind(a.response_status)
                .push_bind(a.response_excerpt)
                .push_bind(a.error.as_deref());
        });
        qb.push(concat!(
            ") INSERT INTO attempts (",
            attempt_columns!(),
            ") SELECT * FROM a WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id) \
             ON CONFLICT (id) DO NOTHING; "
        ));
    }
    // Fencing: only the lease holder moves the event. Another worker may
    // have claimed it after our lease expired, and its outcome wins. Several
    // completions of one event go in successive rounds, so they apply as if
    // one after another: the first by the holder moves it and frees the
    // lease, which fences the rest.
    for round in &rounds {
        for chunk in round.chunks(COMPLETE_CHUNK) {
            qb.push(
                "WITH c(id, owner, status, next_attempt_at, delivered_at, \
                   last_response_status, last_error) AS (",
            );
            qb.push_values(chunk, |mut row, (c, u)| {
                row.push_bind(c.attempt.event_id.as_str())
                    .push_bind(c.lease_owner.as_str())
                    .push_bind(u.status.as_str())
                    .push_bind(u.next_attempt_at)
                    .push_bind(u.delivered_at)
                    .push_bind(u.last_response_status)
                    .push_bind(u.last_error.as_deref());
            });
            qb.push(
                ") UPDATE events SET status = c.status, next_attempt_at = c.next_attempt_at, \
                   delivered_at = COALESCE(c.delivered_at, events.delivered_at), \
                   lease_owner = NULL, lease_until = NULL, attempts = events.attempts + 1, \
                   last_response_status = c.last_response_status, last_error = c.last_error, \
                   updated_at = ",
            )
            .push_bind(now.0)
            .push(
                " FROM c WHERE events.id = c.id AND events.lease_owner = c.owner \
                 RETURNING events.id; ",
            );
        }
    }
    qb.push("COMMIT");

    let mut conn = s.write().await?;
    let moved: Vec<(String,)> = match qb.build_query_as().fetch_all(&mut *conn).await {
        Ok(moved) => moved,
        Err(e) => {
            // Stopped inside the transaction: undo it before anything else
            // uses the writer.
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                tracing::debug!(error = %rollback, "rollback after failed completions");
            }
            return Err(e.into());
        }
    };
    drop(conn);
    if moved.len() < completions.len() {
        let mut moved: HashMap<&str, usize> = moved.iter().fold(HashMap::new(), |mut m, (id,)| {
            *m.entry(id.as_str()).or_default() += 1;
            m
        });
        for c in completions {
            match moved.get_mut(c.attempt.event_id.as_str()) {
                Some(n) if *n > 0 => *n -= 1,
                _ => tracing::warn!(
                    event_id = %c.attempt.event_id,
                    lease_owner = %c.lease_owner,
                    "completion under a lost lease: attempt recorded, event not moved"
                ),
            }
        }
    }
    Ok(())
}

/// `completions` split so that no event appears twice in one round, keeping
/// their order: the n-th completion of an event goes in round n.
fn rounds(completions: &[Completion]) -> Vec<Vec<&Completion>> {
    let mut rounds: Vec<Vec<&Completion>> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(completions.len());
    for c in completions {
        let n = seen.entry(c.attempt.event_id.as_str()).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(c);
        *n += 1;
    }
    rounds
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
    Ok(q.execute(&mut *s.write().await?).await?.rows_affected())
}

pub(super) async fn next_due(s: &SqliteStore) -> Result<Option<Millis>> {
    // On the writer, like the rest of the delivery loop's reads: one round
    // trip, no pooled connection to hand back.
    let (due,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(next_attempt_at) FROM events WHERE next_attempt_at IS NOT NULL")
            .fetch_one(&mut *s.write().await?)
            .await?;
    Ok(due.map(Millis))
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let claimed = claim_due(self, owner, now, lease_until, limit).await;
        Ok(open_claimed(
            self.cipher.as_ref(),
            self.written(claimed).await?,
        ))
    }
    async fn complete(&self, completions: &[Completion]) -> Result<()> {
        self.written(complete(self, completions).await).await
    }
    async fn release_leases(&self, owner: Option<&str>) -> Result<u64> {
        self.written(release_leases(self, owner).await).await
    }
    async fn next_due(&self) -> Result<Option<Millis>> {
        self.written(next_due(self).await).await
    }
}
