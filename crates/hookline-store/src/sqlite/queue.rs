//! The delivery queue: claiming due deliveries under a lease, completing
//! them (fenced by the lease owner), releasing leases, and the next due time.
//! Every change to deliveries rewrites their events' summary in the same
//! command ([`summarize`]).
//!
//! A delivery is queued iff `next_attempt_at IS NOT NULL`, and leased while
//! `lease_until >= now`. The partial index `deliveries_due` holds exactly the
//! queued deliveries, so claiming costs the same with 10 or 10 million kept.

use super::SqliteStore;
use crate::codec::{
    attempt_columns, delivery_columns, event_columns, open_claimed, AttemptValues, DeliveryRow,
};
use crate::rules::{
    completed_events, completion_update, CompletionUpdate, SUMMARIZE_HEAD, SUMMARIZE_TAIL,
};
use crate::sql::claims::{claims, loaded_event, loaded_registration, ClaimReads, LoadedEvent};
use crate::{Claimed, Lease, QueueStore, Result};
use async_trait::async_trait;
use hookline_core::event::{Completion, Delivery, DeliveryStatus};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use sqlx::{Connection, FromRow, QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;

/// Ids per `IN (…)` list, well under SQLite's bound-parameter limit.
const IN_CHUNK: usize = 500;

/// Appends the statements that rewrite the summary of `event_ids`' events
/// from their deliveries (see [`SUMMARIZE_HEAD`]).
pub(super) fn summarize<'a>(qb: &mut QueryBuilder<'a, Sqlite>, event_ids: &[&'a str]) {
    for chunk in event_ids.chunks(IN_CHUNK) {
        qb.push(SUMMARIZE_HEAD).push("d.event_id IN (");
        push_in_list(qb, chunk);
        qb.push(SUMMARIZE_TAIL).push("; ");
    }
}

/// Runs a command that begins a transaction; on failure rolls it back before
/// anything else uses the writer, since the command stopped inside it.
pub(super) async fn run_in_tx<'q, T>(
    conn: &mut SqliteConnection,
    mut qb: QueryBuilder<'q, Sqlite>,
) -> Result<Vec<T>>
where
    T: for<'r> FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    match qb.build_query_as::<T>().fetch_all(&mut *conn).await {
        Ok(rows) => Ok(rows),
        Err(e) => {
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                tracing::debug!(error = %rollback, "rollback after a failed command");
            }
            Err(e.into())
        }
    }
}

pub(super) async fn claim_due(
    s: &SqliteStore,
    lease: Lease<'_>,
    limit: u32,
) -> Result<Vec<Claimed>> {
    let Lease { owner, now, until } = lease;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut conn = s.write().await?;
    // One command picks and leases, so two claimers can never take the
    // same delivery; its events read `delivering` from the same commit,
    // made before anyone calls a destination. (A claim only ever makes
    // deliveries `delivering`, which rules the summary: no aggregate needed.)
    // The events go first, picked by the same query as the deliveries: on
    // the one writer, inside one transaction, both see the same due set,
    // and finding them again by lease would walk every lease this node holds.
    let due = |qb: &mut QueryBuilder<'_, Sqlite>| {
        qb.push(
            "(SELECT * FROM deliveries \
               WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ",
        )
        .push_bind(now.0)
        .push(" AND (lease_until IS NULL OR lease_until < ")
        .push_bind(now.0)
        .push(") ORDER BY next_attempt_at LIMIT ")
        .push_bind(i64::from(limit))
        .push(")");
    };
    let mut qb = QueryBuilder::<Sqlite>::new(
        "BEGIN; UPDATE events SET status = 'delivering', updated_at = ",
    );
    qb.push_bind(now.0)
        .push(" WHERE status <> 'delivering' AND id IN (SELECT event_id FROM ");
    due(&mut qb);
    qb.push("); UPDATE deliveries SET lease_owner = ")
        .push_bind(owner)
        .push(", lease_until = ")
        .push_bind(until.0)
        .push(", status = 'delivering', updated_at = ")
        .push_bind(now.0)
        .push(" WHERE id IN (SELECT id FROM ");
    due(&mut qb);
    qb.push(concat!(") RETURNING ", delivery_columns!(), "; COMMIT"));
    let rows: Vec<DeliveryRow> = run_in_tx(&mut conn, qb).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    claims(&mut *conn, owner, rows).await
}

/// Appends `(id, id, …)` of `ids` to `qb`.
fn push_in_list<'a>(qb: &mut QueryBuilder<'a, Sqlite>, ids: &[&'a str]) {
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
}

impl ClaimReads for SqliteConnection {
    async fn events(&mut self, ids: &[&str]) -> Result<HashMap<String, LoadedEvent>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                event_columns!(),
                ", p.method, p.query, p.headers, p.body \
                 FROM events LEFT JOIN event_payloads p ON p.event_id = events.id \
                 WHERE events.id IN ("
            ));
            push_in_list(&mut qb, chunk);
            for row in qb.build().fetch_all(&mut *self).await? {
                let (id, loaded) = loaded_event(&row)?;
                out.insert(id, loaded);
            }
        }
        Ok(out)
    }

    async fn registrations(
        &mut self,
        ids: &[&str],
    ) -> Result<HashMap<String, std::result::Result<Registration, String>>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("SELECT id, doc FROM registrations WHERE id IN (");
            push_in_list(&mut qb, chunk);
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut *self).await?;
            out.extend(rows.into_iter().map(loaded_registration));
        }
        Ok(out)
    }

    async fn fail_undeliverable(
        &mut self,
        owner: &str,
        failed: &[(Delivery, String)],
    ) -> Result<()> {
        let now = Millis::now();
        let mut tx = self.begin().await?;
        for (d, why) in failed {
            sqlx::query(
                "UPDATE deliveries SET status = ?, next_attempt_at = NULL, lease_owner = NULL, \
                   lease_until = NULL, last_error = ?, updated_at = ? \
                 WHERE id = ? AND lease_owner = ?",
            )
            .bind(DeliveryStatus::Failed.as_str())
            .bind(format!("cannot be delivered: {why}"))
            .bind(now.0)
            .bind(&d.id)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        }
        let ids: Vec<&str> = failed.iter().map(|(d, _)| d.event_id.as_str()).collect();
        let mut qb = QueryBuilder::<Sqlite>::new("");
        summarize(&mut qb, &ids);
        qb.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Completions per statement: 9 bound values each, far below SQLite's limit.
const COMPLETE_CHUNK: usize = 500;

pub(super) async fn complete(s: &SqliteStore, completions: &[Completion]) -> Result<()> {
    if completions.is_empty() {
        return Ok(());
    }
    let now = Millis::now();
    let attempts = AttemptValues::of_completions(completions)?;
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
                .push_bind(a.delivery_id)
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
                row.push_bind(c.attempt.delivery_id.as_str())
                    .push_bind(c.lease_owner.as_str())
                    .push_bind(u.status.as_str())
                    .push_bind(u.next_attempt_at)
                    .push_bind(u.delivered_at)
                    .push_bind(u.last_response_status)
                    .push_bind(u.last_error.as_deref());
            });
            qb.push(
                ") UPDATE deliveries SET status = c.status, next_attempt_at = c.next_attempt_at, \
                   delivered_at = COALESCE(c.delivered_at, deliveries.delivered_at), \
                   lease_owner = NULL, lease_until = NULL, attempts = deliveries.attempts + 1, \
                   last_response_status = c.last_response_status, last_error = c.last_error, \
                   updated_at = ",
            )
            .push_bind(now.0)
            .push(
                " FROM c WHERE deliveries.id = c.id AND deliveries.lease_owner = c.owner \
                 RETURNING deliveries.id; ",
            );
        }
    }
    let event_ids = completed_events(completions);
    summarize(&mut qb, &event_ids);
    qb.push("COMMIT");

    let mut conn = s.write().await?;
    let moved: Vec<(String,)> = run_in_tx(&mut conn, qb).await?;
    drop(conn);
    if moved.len() < completions.len() {
        let mut moved: HashMap<&str, usize> = moved.iter().fold(HashMap::new(), |mut m, (id,)| {
            *m.entry(id.as_str()).or_default() += 1;
            m
        });
        for c in completions {
            match moved.get_mut(c.attempt.delivery_id.as_str()) {
                Some(n) if *n > 0 => *n -= 1,
                _ => tracing::warn!(
                    event_id = %c.attempt.event_id,
                    delivery_id = %c.attempt.delivery_id,
                    lease_owner = %c.lease_owner,
                    "completion under a lost lease: attempt recorded, delivery not moved"
                ),
            }
        }
    }
    Ok(())
}

/// `completions` split so that no delivery appears twice in one round,
/// keeping their order: the n-th completion of a delivery goes in round n.
fn rounds(completions: &[Completion]) -> Vec<Vec<&Completion>> {
    let mut rounds: Vec<Vec<&Completion>> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(completions.len());
    for c in completions {
        let n = seen.entry(c.attempt.delivery_id.as_str()).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(c);
        *n += 1;
    }
    rounds
}

pub(super) async fn release_leases(s: &SqliteStore, owner: Option<&str>) -> Result<u64> {
    // A delivery whose call was cut short is queued again as it was: due
    // when it was due, its attempt count unchanged.
    let mut qb = QueryBuilder::<Sqlite>::new(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, \
           status = CASE WHEN status = 'delivering' THEN 'pending' ELSE status END \
         WHERE lease_owner ",
    );
    match owner {
        Some(owner) => qb.push("= ").push_bind(owner),
        None => qb.push("IS NOT NULL"),
    };
    qb.push(" RETURNING event_id");
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    let released: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *tx).await?;
    let ids: Vec<&str> = released.iter().map(|(id,)| id.as_str()).collect();
    if !ids.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new("");
        summarize(&mut qb, &ids);
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(released.len() as u64)
}

pub(super) async fn next_due(s: &SqliteStore) -> Result<Option<Millis>> {
    // On the writer, like the rest of the delivery loop's reads: one round
    // trip, no pooled connection to hand back.
    let (due,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(next_attempt_at) FROM deliveries WHERE next_attempt_at IS NOT NULL",
    )
    .fetch_one(&mut *s.write().await?)
    .await?;
    Ok(due.map(Millis))
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn claim_due(&self, lease: Lease<'_>, limit: u32) -> Result<Vec<Claimed>> {
        let claimed = claim_due(self, lease, limit).await;
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
