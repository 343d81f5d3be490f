//! Events outside the delivery loop: storing a received batch, finding
//! provider redeliveries, listing and reading events and their attempts,
//! replaying one, and deleting expired ones (retention).

use super::PgStore;
use crate::batch::{chunk_by_bytes, first_conflict, Copies};
use crate::codec::{
    attempt_columns, delivery_columns, event_columns, parse_status, AttemptRow, DeliveryRow,
    DeliveryValues, EventRow, EventValues, PayloadRow, PayloadValues,
};
use crate::rules::{initial_delivery, list_limit, requeue_allowed};
use crate::{
    DeliveryRequeue, EventFilter, EventStore, IngestStore, Requeue, Result, RetentionStore,
    StoreError,
};
use async_trait::async_trait;
use hookline_core::event::{Attempt, Delivery, Event, Payload};
use hookline_core::time::Millis;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, Postgres, QueryBuilder};
use std::collections::{HashMap, HashSet};

/// A whole batch in two statements, one array per column: the round trips
/// are the same for 1 event or 500.
const INSERT_EVENTS: &str = concat!(
    "INSERT INTO events (",
    event_columns!(),
    ") SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
       $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], \
       $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], \
       $18::text[]) \
     ON CONFLICT (id) DO NOTHING RETURNING id"
);

/// The deliveries of a batch's events, `$1`…`$13` in `delivery_columns!()`
/// order.
const INSERT_DELIVERIES: &str = concat!(
    "INSERT INTO deliveries (",
    delivery_columns!(),
    ") SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
       $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], \
       $12::bigint[], $13::text[]) \
     RETURNING id"
);

const INSERT_PAYLOADS: &str =
    "INSERT INTO event_payloads (event_id, method, query, headers, body) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])";

/// Records the provider event ids of a batch in `event_dedup`, one row per
/// (registration, provider event id) naming the latest event with it. With
/// `$5` (dedup since) set, a key whose row was received at or after it is a
/// redelivery: its row is kept (and locked until commit) and its event is
/// not returned. Without `$5` every row moves to the batch's event unless
/// it names a later one. Keys are upserted in key order, so two nodes'
/// batches lock them in the same order and cannot deadlock. Returns the
/// event ids that own their key now; only those may be stored.
macro_rules! claim_keys {
    ($source:literal) => {
        concat!(
            "INSERT INTO event_dedup (registration_id, provider_event_id, event_id, received_at) \
             SELECT DISTINCT ON (registration_id, provider_event_id) \
               registration_id, provider_event_id, id, received_at FROM ",
            $source,
            " WHERE provider_event_id IS NOT NULL \
             ORDER BY registration_id, provider_event_id, received_at DESC \
             ON CONFLICT (registration_id, provider_event_id) DO UPDATE \
               SET event_id = EXCLUDED.event_id, received_at = EXCLUDED.received_at \
               WHERE CASE WHEN $DEDUP::bigint IS NULL \
                 THEN event_dedup.received_at <= EXCLUDED.received_at \
                 ELSE event_dedup.received_at < $DEDUP::bigint END \
             RETURNING event_id"
        )
    };
}

/// [`claim_keys!`] on its own, for the multi-statement path: `$1`…`$4` are
/// the batch's ids, registrations, provider ids and receive times.
fn claim_statement() -> String {
    claim_keys!(
        "UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
         AS k(id, registration_id, provider_event_id, received_at)"
    )
    .replace("$DEDUP", "$5")
}

/// The whole batch as one autocommit statement: the provider ids claimed
/// ([`claim_keys!`]), the events, minus provider redeliveries of events
/// received since `dedup_since`, and the payloads of those stored — one
/// round trip and one commit, the same for 1 event or 500. Returns the ids
/// stored, or `None` when the batch needs [`insert_in_transaction`] instead:
/// its payloads need several statements, or an id is already stored (the
/// statement then fails and stores nothing, and the slow path names the id).
fn batch_statement() -> String {
    concat!(
        "WITH u AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], \
           $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], \
           $16::text[], $17::text[], $18::text[]) AS u(",
        event_columns!(),
        ")), \
         claim AS (",
        claim_keys!("u"),
        "), \
         ev AS ( \
           INSERT INTO events (",
        event_columns!(),
        ") SELECT u.* FROM u \
           WHERE $23::bigint IS NULL OR u.provider_event_id IS NULL \
             OR u.id IN (SELECT event_id FROM claim) \
           RETURNING id), \
         pl AS ( \
           INSERT INTO event_payloads (event_id, method, query, headers, body) \
           SELECT p.* FROM UNNEST($1::text[], $19::text[], $20::text[], $21::text[], $22::bytea[]) \
             AS p(event_id, method, query, headers, body) \
           WHERE p.event_id IN (SELECT id FROM ev)), \
         dl AS ( \
           INSERT INTO deliveries (",
        delivery_columns!(),
        ") SELECT d.* FROM UNNEST($24::text[], $25::text[], $26::text[], $27::text[], \
             $28::text[], $29::bigint[], $30::bigint[], $31::bigint[], $32::bigint[], \
             $33::bigint[], $34::bigint[], $35::bigint[], $36::text[]) AS d(",
        delivery_columns!(),
        ") WHERE d.event_id IN (SELECT id FROM ev)) \
         SELECT id FROM ev"
    )
    .replace("$DEDUP", "$23")
}

static INSERT_BATCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(batch_statement);
static CLAIM_KEYS: std::sync::LazyLock<String> = std::sync::LazyLock::new(claim_statement);

/// Binds `$1`…`$18`: one array per column of `values`, in
/// `event_columns!()` order.
fn bind_event_columns<'q>(
    query: QueryAs<'q, Postgres, (String,), PgArguments>,
    values: &'q [EventValues<'q>],
) -> QueryAs<'q, Postgres, (String,), PgArguments> {
    macro_rules! column {
        ($f:expr) => {
            values.iter().map($f).collect::<Vec<_>>()
        };
    }
    query
        .bind(column!(|v| v.id))
        .bind(column!(|v| v.registration_id))
        .bind(column!(|v| v.product_tag))
        .bind(column!(|v| v.access_tag))
        .bind(column!(|v| v.webhook_tag))
        .bind(column!(|v| v.env))
        .bind(column!(|v| v.event_type))
        .bind(column!(|v| v.status))
        .bind(column!(|v| v.received_at))
        .bind(column!(|v| v.updated_at))
        .bind(column!(|v| v.attempts))
        .bind(column!(|v| v.retry_base))
        .bind(column!(|v| v.next_attempt_at))
        .bind(column!(|v| v.delivered_at))
        .bind(column!(|v| v.last_response_status))
        .bind(column!(|v| v.last_error))
        .bind(column!(|v| v.provider_event_id))
        .bind(column!(|v| v.verification.as_deref()))
}

/// Binds one array per column of `values`, in `delivery_columns!()` order,
/// as the next 13 parameters.
fn bind_delivery_columns<'q>(
    query: QueryAs<'q, Postgres, (String,), PgArguments>,
    values: &'q [DeliveryValues<'q>],
) -> QueryAs<'q, Postgres, (String,), PgArguments> {
    macro_rules! column {
        ($f:expr) => {
            values.iter().map($f).collect::<Vec<_>>()
        };
    }
    query
        .bind(column!(|v| v.id))
        .bind(column!(|v| v.event_id))
        .bind(column!(|v| v.registration_id))
        .bind(column!(|v| v.destination_id))
        .bind(column!(|v| v.status))
        .bind(column!(|v| v.created_at))
        .bind(column!(|v| v.updated_at))
        .bind(column!(|v| v.attempts))
        .bind(column!(|v| v.retry_base))
        .bind(column!(|v| v.next_attempt_at))
        .bind(column!(|v| v.delivered_at))
        .bind(column!(|v| v.last_response_status))
        .bind(column!(|v| v.last_error))
}

/// The deliveries `events` get when stored (`rules::initial_delivery`).
fn initial_deliveries<'a>(events: impl Iterator<Item = &'a Event>) -> Vec<Delivery> {
    events.filter_map(initial_delivery).collect()
}

async fn insert_batch(
    s: &PgStore,
    events: &[&(Event, Payload)],
    dedup_since: Option<Millis>,
) -> Result<Option<HashSet<String>>> {
    let payload_bytes: usize = events.iter().map(|(_, p)| p.body.len()).sum();
    if payload_bytes > crate::batch::PAYLOAD_CHUNK_BYTES {
        return Ok(None);
    }
    let values = events
        .iter()
        .map(|(e, _)| EventValues::new(e))
        .collect::<Result<Vec<_>>>()?;
    let payloads = events
        .iter()
        .map(|(_, p)| PayloadValues::new(p))
        .collect::<Result<Vec<_>>>()?;
    let deliveries = initial_deliveries(events.iter().map(|(e, _)| e));
    let delivery_values: Vec<DeliveryValues> = deliveries.iter().map(DeliveryValues::new).collect();
    let query = bind_event_columns(sqlx::query_as(INSERT_BATCH.as_str()), &values)
        .bind(payloads.iter().map(|p| p.method).collect::<Vec<_>>())
        .bind(payloads.iter().map(|p| p.query).collect::<Vec<_>>())
        .bind(
            payloads
                .iter()
                .map(|p| p.headers.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(payloads.iter().map(|p| p.body).collect::<Vec<_>>())
        .bind(dedup_since.map(|m| m.0));
    let stored: std::result::Result<Vec<(String,)>, sqlx::Error> =
        bind_delivery_columns(query, &delivery_values)
            .fetch_all(&s.pool)
            .await;
    let stored = match stored {
        Ok(rows) => rows.into_iter().map(|(id,)| id).collect::<HashSet<_>>(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if events
        .iter()
        .any(|(e, _)| e.next_attempt_at.is_some() && stored.contains(&e.id))
    {
        s.notifier.work_committed();
    }
    Ok(Some(stored))
}

pub(super) async fn insert(s: &PgStore, events: &[(Event, Payload)]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let all: Vec<&(Event, Payload)> = events.iter().collect();
    match insert_batch(s, &all, None).await? {
        Some(stored) if stored.len() == events.len() => Ok(()),
        // An id already stored, or given twice: nothing was stored, and
        // the transaction names the id.
        _ => insert_in_transaction(s, events).await,
    }
}

/// [`insert`] leaving out provider redeliveries: one statement stores the
/// batch minus the redeliveries it finds; only when some were left out does
/// a second query look up the originals they are answered with.
pub(super) async fn insert_new(
    s: &PgStore,
    events: Vec<(Event, Payload)>,
    dedup_since: Millis,
) -> Result<Vec<Option<String>>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let copies = Copies::of(&events);
    let firsts = copies.firsts(&events);
    let (stored, originals) = match insert_batch(s, &firsts, Some(dedup_since)).await? {
        Some(stored) => {
            let left_out = Copies::left_out(&firsts, &stored);
            let originals = if left_out.is_empty() {
                HashMap::new()
            } else {
                find_originals(s, &left_out, dedup_since).await?
            };
            (stored, originals)
        }
        None => insert_new_in_steps(s, &firsts, dedup_since).await?,
    };
    copies.answers(&events, &stored, &originals)
}

/// The event each (registration, provider event id) of `events` names in
/// `event_dedup` if it was received at or after `since`, in one query: the
/// originals of redeliveries a batch left out. The node that stored one has
/// committed by then (the upsert waited for it).
async fn find_originals(
    s: &PgStore,
    events: &[&Event],
    since: Millis,
) -> Result<HashMap<(String, String), String>> {
    let keyed: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| e.provider_event_id.is_some())
        .collect();
    let mut originals = HashMap::new();
    if keyed.is_empty() {
        return Ok(originals);
    }
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT d.registration_id, d.provider_event_id, d.event_id \
         FROM UNNEST($1::text[], $2::text[]) AS k(registration_id, provider_event_id) \
         JOIN event_dedup d ON d.registration_id = k.registration_id \
           AND d.provider_event_id = k.provider_event_id \
         WHERE d.received_at >= $3",
    )
    .bind(
        keyed
            .iter()
            .map(|e| e.registration_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        keyed
            .iter()
            .map(|e| e.provider_event_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(since.0)
    .fetch_all(&s.pool)
    .await?;
    for (reg, pid, original) in rows {
        originals.insert((reg, pid), original);
    }
    Ok(originals)
}

/// Claims the provider ids of `events` in `event_dedup` ([`claim_keys!`])
/// inside `tx`; returns the ids of the events that own their key now.
async fn claim_in(
    tx: &mut sqlx::PgConnection,
    events: &[&Event],
    dedup_since: Option<Millis>,
) -> Result<HashSet<String>> {
    let keyed: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| e.provider_event_id.is_some())
        .collect();
    if keyed.is_empty() {
        return Ok(HashSet::new());
    }
    let owners: Vec<(String,)> = sqlx::query_as(CLAIM_KEYS.as_str())
        .bind(keyed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
        .bind(
            keyed
                .iter()
                .map(|e| e.registration_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            keyed
                .iter()
                .map(|e| e.provider_event_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(keyed.iter().map(|e| e.received_at.0).collect::<Vec<_>>())
        .bind(dedup_since.map(|m| m.0))
        .fetch_all(&mut *tx)
        .await?;
    Ok(owners.into_iter().map(|(id,)| id).collect())
}

/// The batch in one transaction of two statements (more for payloads past
/// [`crate::batch::PAYLOAD_CHUNK_BYTES`]); an id already stored fails it
/// with [`StoreError::Conflict`] naming that id.
async fn insert_in_transaction(s: &PgStore, events: &[(Event, Payload)]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = s.pool.begin().await?;
    let all: Vec<&Event> = events.iter().map(|(e, _)| e).collect();
    claim_in(&mut tx, &all, None).await?;
    insert_rows(s, tx, events).await
}

/// The events and payloads of [`insert_in_transaction`], in `tx`, then the
/// commit.
async fn insert_rows(
    s: &PgStore,
    mut tx: sqlx::Transaction<'_, Postgres>,
    events: &[(Event, Payload)],
) -> Result<()> {
    if events.is_empty() {
        tx.commit().await?;
        return Ok(());
    }
    let values = events
        .iter()
        .map(|(e, _)| EventValues::new(e))
        .collect::<Result<Vec<_>>>()?;
    let inserted: Vec<(String,)> = bind_event_columns(sqlx::query_as(INSERT_EVENTS), &values)
        .fetch_all(&mut *tx)
        .await?;
    if inserted.len() < events.len() {
        // Dropping `tx` rolls the whole batch back.
        return Err(StoreError::Conflict {
            entity: "event",
            key: first_conflict(events.iter().map(|(e, _)| e), inserted),
        });
    }

    let payloads = events
        .iter()
        .map(|(e, p)| Ok((e.id.as_str(), PayloadValues::new(p)?)))
        .collect::<Result<Vec<_>>>()?;
    for chunk in chunk_by_bytes(&payloads, |(_, p)| p.body.len()) {
        sqlx::query(INSERT_PAYLOADS)
            .bind(chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|(_, p)| p.method).collect::<Vec<_>>())
            .bind(chunk.iter().map(|(_, p)| p.query).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|(_, p)| p.headers.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|(_, p)| p.body).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
    }
    let deliveries = initial_deliveries(events.iter().map(|(e, _)| e));
    let delivery_values: Vec<DeliveryValues> = deliveries.iter().map(DeliveryValues::new).collect();
    bind_delivery_columns(sqlx::query_as(INSERT_DELIVERIES), &delivery_values)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    if events.iter().any(|(e, _)| e.next_attempt_at.is_some()) {
        s.notifier.work_committed();
    }
    Ok(())
}

/// [`insert_new`] in steps, for batches [`insert_batch`] cannot take: one
/// transaction claims the provider ids of all `firsts`, then stores those
/// that own their key and those without one ([`insert_rows`]); the
/// originals of the rest are looked up after the commit. Returns the ids
/// stored and the originals found.
async fn insert_new_in_steps(
    s: &PgStore,
    firsts: &[&(Event, Payload)],
    dedup_since: Millis,
) -> Result<(HashSet<String>, HashMap<(String, String), String>)> {
    let mut tx = s.pool.begin().await?;
    let first_events: Vec<&Event> = firsts.iter().map(|(e, _)| e).collect();
    let owners = claim_in(&mut tx, &first_events, Some(dedup_since)).await?;
    type Items<'a> = Vec<&'a (Event, Payload)>;
    let (fresh, left_out): (Items, Items) = firsts
        .iter()
        .partition(|(e, _)| e.provider_event_id.is_none() || owners.contains(&e.id));
    let fresh: Vec<(Event, Payload)> = fresh.into_iter().cloned().collect();
    insert_rows(s, tx, &fresh).await?;
    let left_out: Vec<&Event> = left_out.into_iter().map(|(e, _)| e).collect();
    let originals = find_originals(s, &left_out, dedup_since).await?;
    let stored: HashSet<String> = fresh.into_iter().map(|(e, _)| e.id).collect();
    Ok((stored, originals))
}

pub(super) async fn find_duplicate(
    s: &PgStore,
    registration_id: &str,
    provider_event_id: &str,
    since: Millis,
) -> Result<Option<String>> {
    // The earliest match is the original the provider is redelivering.
    let id: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM events \
         WHERE registration_id = $1 AND provider_event_id = $2 AND received_at >= $3 \
         ORDER BY received_at LIMIT 1",
    )
    .bind(registration_id)
    .bind(provider_event_id)
    .bind(since.0)
    .fetch_optional(&s.pool)
    .await?;
    Ok(id.map(|(id,)| id))
}

pub(super) async fn list(s: &PgStore, f: &EventFilter) -> Result<Vec<Event>> {
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE TRUE"
    ));
    push_filter(&mut qb, f);
    if let Some(before) = &f.before_id {
        qb.push(" AND id < ").push_bind(before.as_str());
    }
    qb.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(list_limit(f.limit)));
    let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&s.pool).await?;
    rows.into_iter().map(Event::try_from).collect()
}

/// Appends `AND …` conditions for every field of `f` except the cursor
/// (`before_id`) and `limit` to a query over `events` whose WHERE clause is
/// open. Every listing and count of events filters through here.
///
/// SQLite also narrows a time window to an id range while every stored id
/// carries its receive time, a fact it caches per process. Several nodes
/// cannot share such a cache safely, so PostgreSQL relies on its planner:
/// `events_received_at` for windows, the `(…, id)` indexes for the rest.
pub(super) fn push_filter<'a>(qb: &mut QueryBuilder<'a, Postgres>, f: &'a EventFilter) {
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
    if let Some(since) = f.since {
        qb.push(" AND received_at >= ").push_bind(since.0);
    }
    if let Some(until) = f.until {
        qb.push(" AND received_at < ").push_bind(until.0);
    }
}

pub(super) async fn get(s: &PgStore, id: &str) -> Result<Option<(Event, Payload)>> {
    let row: Option<PgRow> = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        ", p.method, p.query, p.headers, p.body \
         FROM events LEFT JOIN event_payloads p ON p.event_id = events.id \
         WHERE events.id = $1"
    ))
    .bind(id)
    .fetch_optional(&s.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let event = Event::try_from(EventRow::from_row(&row)?)?;
    let payload = PayloadRow::from_row(&row)?.into_payload(&event.id)?;
    Ok(Some((event, payload)))
}

pub(super) async fn list_attempts(s: &PgStore, event_id: &str) -> Result<Vec<Attempt>> {
    let rows: Vec<AttemptRow> = sqlx::query_as(concat!(
        "SELECT ",
        attempt_columns!(),
        " FROM attempts WHERE event_id = $1 ORDER BY number, started_at, id"
    ))
    .bind(event_id)
    .fetch_all(&s.pool)
    .await?;
    rows.into_iter().map(Attempt::try_from).collect()
}

pub(super) async fn list_deliveries(s: &PgStore, event_id: &str) -> Result<Vec<Delivery>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE event_id = $1 ORDER BY created_at, id"
    ))
    .bind(event_id)
    .fetch_all(&s.pool)
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

/// Queues again those of `candidates` (locked by the caller) the replay
/// rules allow, in `tx`, and rewrites their event's summary; returns the
/// ids queued.
async fn requeue_allowed_of(
    tx: &mut sqlx::PgConnection,
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
    sqlx::query(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, retry_base = attempts, \
           lease_owner = NULL, lease_until = NULL, updated_at = $1 \
         WHERE id = ANY($2)",
    )
    .bind(now.0)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    super::queue::summarize(tx, &[event_id]).await?;
    Ok(ids)
}

pub(super) async fn requeue(s: &PgStore, id: &str, now: Millis) -> Result<Requeue> {
    // The rows stay locked from the check to the update: no claim (nor
    // another node's replay) can slip in between.
    let mut tx = s.pool.begin().await?;
    let status: Option<(String,)> =
        sqlx::query_as("SELECT status FROM events WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status,)) = status else {
        return Ok(Requeue::NotFound);
    };
    let candidates: Vec<LeasedDelivery> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        ", lease_until FROM deliveries WHERE event_id = $1 FOR UPDATE"
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
        " FROM events WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    s.notifier.work_committed();
    Ok(Requeue::Queued(Event::try_from(row)?))
}

pub(super) async fn requeue_delivery(
    s: &PgStore,
    id: &str,
    now: Millis,
) -> Result<DeliveryRequeue> {
    let mut tx = s.pool.begin().await?;
    // Lock the event first, as `requeue` does, so the two never deadlock.
    let event_id: Option<(String,)> = sqlx::query_as(
        "SELECT e.id FROM events e JOIN deliveries d ON d.event_id = e.id \
         WHERE d.id = $1 FOR UPDATE OF e",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((event_id,)) = event_id else {
        return Ok(DeliveryRequeue::NotFound);
    };
    let found: LeasedDelivery = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        ", lease_until FROM deliveries WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
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
        " FROM deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    s.notifier.work_committed();
    Ok(DeliveryRequeue::Queued(Delivery::try_from(row)?))
}

/// Deletes up to `limit` delivered or failed events last updated before
/// `before`; payloads and attempts go with them (`ON DELETE CASCADE`). Rows
/// another transaction holds (a replay, a late completion) are skipped, not
/// waited for: the next sweep gets them.
pub(super) async fn delete_expired(s: &PgStore, before: Millis, limit: u32) -> Result<u64> {
    if limit == 0 {
        return Ok(0);
    }
    let deleted = sqlx::query(
        "DELETE FROM events WHERE id IN ( \
           SELECT id FROM events \
           WHERE status IN ('delivered', 'failed') AND updated_at < $1 \
           ORDER BY updated_at LIMIT $2 \
           FOR UPDATE SKIP LOCKED)",
    )
    .bind(before.0)
    .bind(i64::from(limit))
    .execute(&s.pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// Deletes up to `limit` rejected events received before `before`, with
/// their payloads, through the partial index `events_rejected`; rows in use
/// elsewhere are skipped, as in [`delete_expired`].
pub(super) async fn delete_rejected(s: &PgStore, before: Millis, limit: u32) -> Result<u64> {
    if limit == 0 {
        return Ok(0);
    }
    let deleted = sqlx::query(
        "DELETE FROM events WHERE id IN ( \
           SELECT id FROM events WHERE status = 'rejected' AND received_at < $1 \
           ORDER BY received_at LIMIT $2 \
           FOR UPDATE SKIP LOCKED)",
    )
    .bind(before.0)
    .bind(i64::from(limit))
    .execute(&s.pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

#[async_trait]
impl IngestStore for PgStore {
    async fn insert_events(&self, events: &[(Event, Payload)]) -> Result<()> {
        insert(self, events).await
    }
    async fn insert_new_events(
        &self,
        events: Vec<(Event, Payload)>,
        dedup_since: Millis,
    ) -> Result<Vec<Option<String>>> {
        insert_new(self, events, dedup_since).await
    }
    async fn find_duplicate(
        &self,
        registration_id: &str,
        provider_event_id: &str,
        since: Millis,
    ) -> Result<Option<String>> {
        find_duplicate(self, registration_id, provider_event_id, since).await
    }
}

#[async_trait]
impl EventStore for PgStore {
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
        requeue(self, id, now).await
    }
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        list_deliveries(self, event_id).await
    }
    async fn requeue_delivery(&self, id: &str, now: Millis) -> Result<DeliveryRequeue> {
        requeue_delivery(self, id, now).await
    }
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
impl RetentionStore for PgStore {
    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64> {
        delete_expired(self, before, limit).await
    }
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64> {
        delete_rejected(self, before, limit).await
    }
}
