//! The delivery queue shared by every node: claiming due deliveries under a
//! lease with `FOR UPDATE SKIP LOCKED`, completing them (fenced by the
//! lease owner), releasing leases, and the next due time. Every change to
//! deliveries rewrites their events' summary in the same transaction.
//!
//! A delivery is queued iff `next_attempt_at IS NOT NULL`, and leased while
//! `lease_until >= now`. A node that dies keeps its leases until they run
//! out; then any node's claim takes the deliveries over. Nothing is released
//! at start: the other nodes' leases are alive.

use super::PgStore;
use crate::codec::{delivery_columns, event_columns, open_claimed, AttemptValues, DeliveryRow};
use crate::rules::{completed_events, completion_update, SUMMARIZE_HEAD, SUMMARIZE_TAIL};
use crate::sql::claims::{claims, loaded_event, loaded_registration, ClaimReads, LoadedEvent};
use crate::{Claimed, Lease, QueueStore, Result};
use async_trait::async_trait;
use hookline_core::event::{Completion, Delivery, DeliveryStatus};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};

/// One column of a batch, as the array parameter `UNNEST` reads.
fn column<'a, T, U>(rows: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

/// Rewrites the summary of the events among `event_ids` from their
/// deliveries (see [`SUMMARIZE_HEAD`]).
pub(super) async fn summarize(conn: &mut PgConnection, event_ids: &[&str]) -> Result<()> {
    sqlx::query(&format!(
        "{SUMMARIZE_HEAD}d.event_id = ANY($1){SUMMARIZE_TAIL}"
    ))
    .bind(event_ids)
    .execute(conn)
    .await?;
    Ok(())
}

impl ClaimReads for &PgStore {
    async fn events(&mut self, ids: &[&str]) -> Result<HashMap<String, LoadedEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            ", p.method, p.query, p.headers, p.body \
             FROM events LEFT JOIN event_payloads p ON p.event_id = events.id \
             WHERE events.id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(loaded_event).collect()
    }

    async fn registrations(
        &mut self,
        ids: &[&str],
    ) -> Result<HashMap<String, std::result::Result<Registration, String>>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, doc FROM registrations WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(loaded_registration).collect())
    }

    async fn fail_undeliverable(
        &mut self,
        owner: &str,
        failed: &[(Delivery, String)],
    ) -> Result<()> {
        let (ids, reasons): (Vec<&str>, Vec<String>) = failed
            .iter()
            .map(|(d, why)| (d.id.as_str(), format!("cannot be delivered: {why}")))
            .unzip();
        let event_ids: Vec<&str> = failed.iter().map(|(d, _)| d.event_id.as_str()).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE deliveries d SET status = $1, next_attempt_at = NULL, lease_owner = NULL, \
               lease_until = NULL, last_error = u.reason, updated_at = $2 \
             FROM UNNEST($3::text[], $4::text[]) AS u(id, reason) \
             WHERE d.id = u.id AND d.lease_owner = $5",
        )
        .bind(DeliveryStatus::Failed.as_str())
        .bind(Millis::now().0)
        .bind(ids)
        .bind(reasons)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        summarize(&mut tx, &event_ids).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl QueueStore for PgStore {
    async fn claim_due(&self, lease: Lease<'_>, limit: u32) -> Result<Vec<Claimed>> {
        let Lease { owner, now, until } = lease;
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One statement picks and leases. SKIP LOCKED makes concurrent claimers
        // (other nodes, or this one's next loop) pass over rows being claimed
        // instead of queueing behind them, and the lock re-checks the
        // conditions on the row's newest version, so no two claims get the same
        // delivery. Its events read `delivering` from the same statement (a
        // claim only ever makes deliveries `delivering`, which rules the
        // summary). It commits (autocommit) before anyone calls a destination.
        let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "WITH due AS MATERIALIZED ( \
               SELECT id AS due_id FROM deliveries \
               WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $3 \
                 AND (lease_until IS NULL OR lease_until < $3) \
               ORDER BY next_attempt_at LIMIT $4 \
               FOR UPDATE SKIP LOCKED), \
             claimed AS ( \
               UPDATE deliveries SET lease_owner = $1, lease_until = $2, status = 'delivering', \
                 updated_at = $3 \
               FROM due WHERE deliveries.id = due.due_id \
               RETURNING deliveries.*), \
             summary AS ( \
               UPDATE events SET status = 'delivering', updated_at = $3 \
               WHERE events.id IN (SELECT event_id FROM claimed) AND events.status <> 'delivering') \
             SELECT ",
            delivery_columns!(),
            " FROM claimed"
        ))
        .bind(owner)
        .bind(until.0)
        .bind(now.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }

        let claimed = claims(&mut &*self, owner, rows).await?;
        Ok(open_claimed(self.cipher.as_ref(), claimed))
    }

    /// Records the attempts, then moves each delivery whose lease the
    /// completion's owner still holds, then rewrites their events' summary:
    /// three statements for the whole group, in one transaction.
    async fn complete(&self, completions: &[Completion]) -> Result<()> {
        if completions.is_empty() {
            return Ok(());
        }
        let now = Millis::now();
        let attempts = AttemptValues::of_completions(completions)?;
        let updates: Vec<_> = completions.iter().map(completion_update).collect();

        let mut tx = self.pool.begin().await?;
        // The attempt happened, so it is recorded even when the lease was lost;
        // only an event that no longer exists has nowhere to keep it. Recording
        // the same attempt twice keeps the first.
        sqlx::query(
            "INSERT INTO attempts (id, event_id, delivery_id, number, started_at, duration_ms, \
               request_url, response_status, response_excerpt, error) \
             SELECT a.* FROM UNNEST($1::text[], $2::text[], $10::text[], $3::bigint[], \
                 $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::text[]) \
               AS a(id, event_id, delivery_id, number, started_at, duration_ms, request_url, \
                 response_status, response_excerpt, error) \
             WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(column(&attempts, |a| a.id))
        .bind(column(&attempts, |a| a.event_id))
        .bind(column(&attempts, |a| a.number))
        .bind(column(&attempts, |a| a.started_at))
        .bind(column(&attempts, |a| a.duration_ms))
        .bind(column(&attempts, |a| a.request_url))
        .bind(column(&attempts, |a| a.response_status))
        .bind(column(&attempts, |a| a.response_excerpt))
        .bind(column(&attempts, |a| a.error.as_deref()))
        .bind(column(&attempts, |a| a.delivery_id))
        .execute(&mut *tx)
        .await?;

        // Fencing: only the lease holder moves the delivery; another node may
        // have claimed it after our lease expired, and its outcome wins. Of
        // several completions of one delivery, the first by the holder moves it
        // (and frees the lease, which fences the rest), as if they ran one after
        // another.
        let moved: Vec<(String,)> = sqlx::query_as(
            "UPDATE deliveries e SET status = c.status, next_attempt_at = c.next_attempt_at, \
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
               JOIN deliveries cur ON cur.id = u.id AND cur.lease_owner = u.owner \
               ORDER BY u.id, u.ord) c \
             WHERE e.id = c.id AND e.lease_owner = c.owner \
             RETURNING e.id",
        )
        .bind(now.0)
        .bind(column(completions, |c| c.attempt.delivery_id.as_str()))
        .bind(column(completions, |c| c.lease_owner.as_str()))
        .bind(column(&updates, |u| u.status.as_str()))
        .bind(column(&updates, |u| u.next_attempt_at))
        .bind(column(&updates, |u| u.delivered_at))
        .bind(column(&updates, |u| u.last_response_status))
        .bind(column(&updates, |u| u.last_error.as_deref()))
        .fetch_all(&mut *tx)
        .await?;
        let event_ids = completed_events(completions);
        summarize(&mut tx, &event_ids).await?;
        tx.commit().await?;

        if moved.len() < completions.len() {
            let moved: HashSet<String> = moved.into_iter().map(|(id,)| id).collect();
            let mut warned = HashSet::new();
            for c in completions {
                let id = &c.attempt.delivery_id;
                if !moved.contains(id) && warned.insert(id) {
                    tracing::warn!(
                        event_id = %c.attempt.event_id,
                        delivery_id = %id,
                        lease_owner = %c.lease_owner,
                        "completion under a lost lease: attempt recorded, delivery not moved"
                    );
                }
            }
        }
        Ok(())
    }

    async fn release_leases(&self, owner: Option<&str>) -> Result<u64> {
        // A delivery whose call was cut short is queued again as it was: due
        // when it was due, its attempt count unchanged.
        let mut tx = self.pool.begin().await?;
        let released: Vec<(String,)> = sqlx::query_as(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, \
               status = CASE WHEN status = 'delivering' THEN 'pending' ELSE status END \
             WHERE lease_owner IS NOT NULL AND ($1::text IS NULL OR lease_owner = $1) \
             RETURNING event_id",
        )
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
        let event_ids: Vec<&str> = released.iter().map(|(id,)| id.as_str()).collect();
        if !event_ids.is_empty() {
            summarize(&mut tx, &event_ids).await?;
        }
        tx.commit().await?;
        if !released.is_empty() {
            // Claimable now rather than when the leases would have run out:
            // tell the other nodes (a node shutting down hands its work over).
            self.notifier.work_committed_now(&self.pool).await;
        }
        Ok(released.len() as u64)
    }

    async fn next_due(&self) -> Result<Option<Millis>> {
        let (due,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE next_attempt_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(due.map(Millis))
    }

    fn work_notifications(&self) -> Option<crate::WorkNotifications> {
        self.notifier.subscribe()
    }
}
