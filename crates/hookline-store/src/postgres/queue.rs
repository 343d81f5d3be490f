//! The delivery queue shared by every node: claiming due events under a
//! lease with `FOR UPDATE SKIP LOCKED`, completing them (fenced by the lease
//! owner), releasing leases, and the next due time.
//!
//! An event is queued iff `next_attempt_at IS NOT NULL`, and leased while
//! `lease_until >= now`. A node that dies keeps its leases until they run
//! out; then any node's claim takes the events over. Nothing is released at
//! start: the other nodes' leases are alive.

use super::PgStore;
use crate::codec::{event_columns, from_doc, open_claimed, AttemptValues, EventRow, PayloadRow};
use crate::rules::completion_update;
use crate::{Claimed, QueueStore, Result};
use async_trait::async_trait;
use hookline_core::event::{Completion, Event, EventStatus, Payload};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use sqlx::FromRow;
use std::collections::{HashMap, HashSet};

pub(super) async fn claim_due(
    s: &PgStore,
    owner: &str,
    now: Millis,
    lease_until: Millis,
    limit: u32,
) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // One statement picks and leases. SKIP LOCKED makes concurrent claimers
    // (other nodes, or this one's next loop) pass over rows being claimed
    // instead of queueing behind them, and the lock re-checks the
    // conditions on the row's newest version, so no two claims get the same
    // event. It commits (autocommit) before anyone calls a receiver.
    let rows: Vec<EventRow> = sqlx::query_as(concat!(
        "WITH due AS MATERIALIZED ( \
           SELECT id AS due_id FROM events \
           WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) \
           ORDER BY next_attempt_at LIMIT $4 \
           FOR UPDATE SKIP LOCKED) \
         UPDATE events SET lease_owner = $1, lease_until = $2, status = 'delivering', \
           updated_at = $3 \
         FROM due WHERE events.id = due.due_id \
         RETURNING ",
        event_columns!()
    ))
    .bind(owner)
    .bind(lease_until.0)
    .bind(now.0)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
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
                unreadable_secrets: None,
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
    s: &PgStore,
    ids: &[&str],
) -> Result<HashMap<String, Result<Payload, String>>> {
    let rows = sqlx::query(
        "SELECT event_id, method, query, headers, body FROM event_payloads \
         WHERE event_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&s.pool)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let event_id: String = sqlx::Row::try_get(&row, "event_id")?;
        let payload = PayloadRow::from_row(&row)?
            .into_payload(&event_id)
            .map_err(|e| e.to_string());
        out.insert(event_id, payload);
    }
    Ok(out)
}

/// Registrations by id; an unreadable doc is an `Err` with the reason.
async fn load_registrations(
    s: &PgStore,
    ids: &[&str],
) -> Result<HashMap<String, Result<Registration, String>>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, doc FROM registrations WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&s.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, doc)| {
            let reg = from_doc("registration", &id, &doc).map_err(|e| e.to_string());
            (id, reg)
        })
        .collect())
}

/// Marks claimed events that can never be delivered as failed, with the
/// reason, instead of returning an error: an error would leave them leased,
/// to be claimed (and fail the whole batch) again and again.
async fn fail_undeliverable(s: &PgStore, owner: &str, events: &[(String, String)]) -> Result<()> {
    for (id, why) in events {
        tracing::error!(event_id = %id, reason = %why, "event cannot be delivered; marked failed");
    }
    let (ids, reasons): (Vec<&str>, Vec<String>) = events
        .iter()
        .map(|(id, why)| (id.as_str(), format!("cannot be delivered: {why}")))
        .unzip();
    sqlx::query(
        "UPDATE events e SET status = $1, next_attempt_at = NULL, lease_owner = NULL, \
           lease_until = NULL, last_error = u.reason, updated_at = $2 \
         FROM UNNEST($3::text[], $4::text[]) AS u(id, reason) \
         WHERE e.id = u.id AND e.lease_owner = $5",
    )
    .bind(EventStatus::Failed.as_str())
    .bind(Millis::now().0)
    .bind(ids)
    .bind(reasons)
    .bind(owner)
    .execute(&s.pool)
    .await?;
    Ok(())
}

/// Records the attempts, then moves each event whose lease the completion's
/// owner still holds: two statements for the whole group, in one
/// transaction.
pub(super) async fn complete(s: &PgStore, completions: &[Completion]) -> Result<()> {
    if completions.is_empty() {
        return Ok(());
    }
    let now = Millis::now();
    let attempts = completions
        .iter()
        .map(|c| AttemptValues::new(&c.attempt))
        .collect::<Result<Vec<_>>>()?;
    let updates: Vec<_> = completions.iter().map(completion_update).collect();

    let mut tx = s.pool.begin().await?;
    // The attempt happened, so it is recorded even when the lease was lost;
    // only an event that no longer exists has nowhere to keep it. Recording
    // the same attempt twice keeps the first.
    sqlx::query(
        "INSERT INTO attempts (id, event_id, number, started_at, duration_ms, request_url, \
           response_status, response_excerpt, error) \
         SELECT a.* FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], \
             $5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::text[]) \
           AS a(id, event_id, number, started_at, duration_ms, request_url, response_status, \
             response_excerpt, error) \
         WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(attempts.iter().map(|a| a.id).collect::<Vec<_>>())
    .bind(attempts.iter().map(|a| a.event_id).collect::<Vec<_>>())
    .bind(attempts.iter().map(|a| a.number).collect::<Vec<_>>())
    .bind(attempts.iter().map(|a| a.started_at).collect::<Vec<_>>())
    .bind(attempts.iter().map(|a| a.duration_ms).collect::<Vec<_>>())
    .bind(attempts.iter().map(|a| a.request_url).collect::<Vec<_>>())
    .bind(
        attempts
            .iter()
            .map(|a| a.response_status)
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|a| a.response_excerpt)
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|a| a.error.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;

    // Fencing: only the lease holder moves the event; another node may have
    // claimed it after our lease expired, and its outcome wins. Of several
    // completions of one event, the first by the holder moves it (and frees
    // the lease, which fences the rest), as if they ran one after another.
    let moved: Vec<(String,)> = sqlx::query_as(
        "UPDATE events e SET status = c.status, next_attempt_at = c.next_attempt_at, \
           delivered_at = COALESCE(c.delivered_at, e.delivered_at), lease_owner = NULL, \
           lease_until = NULL, attempts = e.attempts + 1, \
           last_response_status = c.last_response_status, last_error = c.last_error, \
           updated_at = $1 \
         FROM ( \
           SELECT DISTINCT ON (u.id) u.* \
           FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
               $7::bigint[], $8::text[]) WITH ORDINALITY \
             AS u(id, owner, status, next_attempt_at, delivered_at, last_response_status, \
               last_error, ord) \
           JOIN events cur ON cur.id = u.id AND cur.lease_owner = u.owner \
           ORDER BY u.id, u.ord) c \
         WHERE e.id = c.id AND e.lease_owner = c.owner \
         RETURNING e.id",
    )
    .bind(now.0)
    .bind(
        completions
            .iter()
            .map(|c| c.attempt.event_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        completions
            .iter()
            .map(|c| c.lease_owner.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        updates
            .iter()
            .map(|u| u.status.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        updates
            .iter()
            .map(|u| u.next_attempt_at)
            .collect::<Vec<_>>(),
    )
    .bind(updates.iter().map(|u| u.delivered_at).collect::<Vec<_>>())
    .bind(
        updates
            .iter()
            .map(|u| u.last_response_status)
            .collect::<Vec<_>>(),
    )
    .bind(
        updates
            .iter()
            .map(|u| u.last_error.as_deref())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    if moved.len() < completions.len() {
        let moved: HashSet<String> = moved.into_iter().map(|(id,)| id).collect();
        let mut warned = HashSet::new();
        for c in completions {
            let id = &c.attempt.event_id;
            if !moved.contains(id) && warned.insert(id) {
                tracing::warn!(
                    event_id = %id,
                    lease_owner = %c.lease_owner,
                    "completion under a lost lease: attempt recorded, event not moved"
                );
            }
        }
    }
    Ok(())
}

pub(super) async fn release_leases(s: &PgStore, owner: Option<&str>) -> Result<u64> {
    let released = sqlx::query(
        "UPDATE events SET lease_owner = NULL, lease_until = NULL \
         WHERE lease_owner IS NOT NULL AND ($1::text IS NULL OR lease_owner = $1)",
    )
    .bind(owner)
    .execute(&s.pool)
    .await?
    .rows_affected();
    if released > 0 {
        // Claimable now rather than when the leases would have run out:
        // tell the other nodes (a node shutting down hands its work over).
        s.notifier.work_committed_now(&s.pool).await;
    }
    Ok(released)
}

pub(super) async fn next_due(s: &PgStore) -> Result<Option<Millis>> {
    let (due,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(next_attempt_at) FROM events WHERE next_attempt_at IS NOT NULL")
            .fetch_one(&s.pool)
            .await?;
    Ok(due.map(Millis))
}

#[async_trait]
impl QueueStore for PgStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let claimed = claim_due(self, owner, now, lease_until, limit).await?;
        Ok(open_claimed(self.cipher.as_ref(), claimed))
    }
    async fn complete(&self, completions: &[Completion]) -> Result<()> {
        complete(self, completions).await
    }
    async fn release_leases(&self, owner: Option<&str>) -> Result<u64> {
        release_leases(self, owner).await
    }
    async fn next_due(&self) -> Result<Option<Millis>> {
        next_due(self).await
    }
    fn work_notifications(&self) -> Option<crate::WorkNotifications> {
        self.notifier.subscribe()
    }
}
