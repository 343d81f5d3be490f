//! Events outside the delivery loop: storing a received batch, here, in
//! PostgreSQL's own way; finding provider redeliveries, listing and reading
//! events and their attempts, replaying one, and deleting expired ones
//! (retention) through the shared SQL ([`crate::sql::events`]), on the pool,
//! with a notification to other nodes once a replay has committed.

use super::{PgStore, Sql};
use crate::batch::{chunk_by_bytes, first_conflict, Copies};
use crate::codec::{delivery_columns, event_columns, DeliveryValues, EventValues, PayloadValues};
use crate::rules::initial_delivery;
use crate::sql::events::{Replay, EXPIRED, REJECTED};
use crate::{
    DeliveryRequeue, EventFilter, EventStore, IngestStore, Requeue, Result, RetentionStore,
    StoreError,
};
use async_trait::async_trait;
use hookline_core::event::{Attempt, Delivery, Event, Payload};
use hookline_core::time::Millis;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::Postgres;
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

/// Binds one array per column as the next parameters of `$query`: per
/// listed field of each of `$values` (`field` or `field.method()`), or per
/// closure over them.
macro_rules! bind_arrays {
    ($query:expr, $values:expr => $($field:ident $(.$method:ident())?),+ $(,)?) => {
        $query$(.bind($values.iter().map(|v| v.$field$(.$method())?).collect::<Vec<_>>()))+
    };
    ($query:expr, $values:expr => $($f:expr),+ $(,)?) => {
        $query$(.bind($values.iter().map($f).collect::<Vec<_>>()))+
    };
}

type Rows<'q> = QueryAs<'q, Postgres, (String,), PgArguments>;

/// Binds `$1`…`$18`: one array per column of `values`, in
/// `event_columns!()` order.
fn bind_event_columns<'q>(query: Rows<'q>, values: &'q [EventValues<'q>]) -> Rows<'q> {
    bind_arrays!(query, values => id, registration_id, product_tag, access_tag, webhook_tag,
        env, event_type, status, received_at, updated_at, attempts, retry_base, next_attempt_at,
        delivered_at, last_response_status, last_error, provider_event_id, verification.as_deref())
}

/// Binds one array per column of `values`, in `delivery_columns!()` order,
/// as the next 13 parameters.
fn bind_delivery_columns<'q>(query: Rows<'q>, values: &'q [DeliveryValues<'q>]) -> Rows<'q> {
    bind_arrays!(query, values => id, event_id, registration_id, destination_id, status,
        created_at, updated_at, attempts, retry_base, next_attempt_at, delivered_at,
        last_response_status, last_error)
}

/// The column values of `events`, and of their payloads with the event id,
/// ready to bind.
#[allow(clippy::type_complexity)]
fn values_of<'a>(
    events: impl IntoIterator<Item = &'a (Event, Payload)>,
) -> Result<(Vec<EventValues<'a>>, Vec<(&'a str, PayloadValues<'a>)>)> {
    let (mut values, mut payloads) = (Vec::new(), Vec::new());
    for (e, p) in events {
        values.push(EventValues::new(e)?);
        payloads.push((e.id.as_str(), PayloadValues::new(p)?));
    }
    Ok((values, payloads))
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
    let (values, payloads) = values_of(events.iter().copied())?;
    let deliveries = initial_deliveries(events.iter().map(|(e, _)| e));
    let delivery_values: Vec<DeliveryValues> = deliveries.iter().map(DeliveryValues::new).collect();
    let query = bind_event_columns(sqlx::query_as(INSERT_BATCH.as_str()), &values);
    let query = bind_arrays!(query, payloads =>
        |(_, p)| p.method, |(_, p)| p.query, |(_, p)| p.headers.as_str(), |(_, p)| p.body);
    let query = query.bind(dedup_since.map(|m| m.0));
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
    let copies = Copies::of(&events);
    let firsts = copies.firsts(&events);
    if firsts.is_empty() {
        return Ok(Vec::new());
    }
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
    let keyed = with_provider_id(events);
    let mut originals = HashMap::new();
    if keyed.is_empty() {
        return Ok(originals);
    }
    let query = sqlx::query_as(
        "SELECT d.registration_id, d.provider_event_id, d.event_id \
         FROM UNNEST($1::text[], $2::text[]) AS k(registration_id, provider_event_id) \
         JOIN event_dedup d ON d.registration_id = k.registration_id \
           AND d.provider_event_id = k.provider_event_id \
         WHERE d.received_at >= $3",
    );
    let query = bind_arrays!(query, keyed =>
        |e| e.registration_id.as_str(), |e| e.provider_event_id.as_deref());
    let rows: Vec<(String, String, String)> = query.bind(since.0).fetch_all(&s.pool).await?;
    for (reg, pid, original) in rows {
        originals.insert((reg, pid), original);
    }
    Ok(originals)
}

/// Those of `events` that carry a provider event id.
fn with_provider_id<'a>(events: &[&'a Event]) -> Vec<&'a Event> {
    events
        .iter()
        .copied()
        .filter(|e| e.provider_event_id.is_some())
        .collect()
}

/// Claims the provider ids of `events` in `event_dedup` ([`claim_keys!`])
/// inside `tx`; returns the ids of the events that own their key now.
async fn claim_in(
    tx: &mut sqlx::PgConnection,
    events: &[&Event],
    dedup_since: Option<Millis>,
) -> Result<HashSet<String>> {
    let keyed = with_provider_id(events);
    if keyed.is_empty() {
        return Ok(HashSet::new());
    }
    let query = bind_arrays!(sqlx::query_as(CLAIM_KEYS.as_str()), keyed => |e| e.id.as_str(),
        |e| e.registration_id.as_str(), |e| e.provider_event_id.as_deref(), |e| e.received_at.0);
    let owners: Vec<(String,)> = query
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
    let (values, payloads) = values_of(events)?;
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

    for chunk in chunk_by_bytes(&payloads, |(_, p)| p.body.len()) {
        let query = bind_arrays!(sqlx::query(INSERT_PAYLOADS), chunk => |(id, _)| *id,
            |(_, p)| p.method, |(_, p)| p.query, |(_, p)| p.headers.as_str(), |(_, p)| p.body);
        query.execute(&mut *tx).await?;
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
        Sql::find_duplicate(&self.pool, registration_id, provider_event_id, since).await
    }
}

/// [`Sql::requeue`] on a pooled connection, then a word to the other nodes
/// if it queued deliveries.
async fn replay<T>(s: &PgStore, id: &str, now: Millis) -> Result<T>
where
    T: Replay,
    for<'r> T::Row: sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    let answer: T = Sql::requeue(&mut *s.pool.acquire().await?, id, now).await?;
    if answer.queued() {
        s.notifier.work_committed();
    }
    Ok(answer)
}

#[async_trait]
impl EventStore for PgStore {
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        Sql::list_events(&self.pool, filter, false).await
    }
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>> {
        Sql::get_event(&self.pool, id).await
    }
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>> {
        Sql::list_attempts(&self.pool, event_id).await
    }
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue> {
        replay(self, id, now).await
    }
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>> {
        Sql::list_deliveries(&self.pool, event_id).await
    }
    async fn requeue_delivery(&self, id: &str, now: Millis) -> Result<DeliveryRequeue> {
        replay(self, id, now).await
    }
    async fn list_events_after(
        &self,
        filter: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>> {
        Sql::list_events_after(&self.pool, filter, after_id).await
    }
    async fn get_events(&self, ids: &[String]) -> Result<Vec<Event>> {
        super::monitor::get_events(self, ids).await
    }
    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        Sql::count_events(&self.pool, filter).await
    }
}

#[async_trait]
impl RetentionStore for PgStore {
    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64> {
        Sql::delete_events(&self.pool, EXPIRED, before, limit).await
    }
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64> {
        Sql::delete_events(&self.pool, REJECTED, before, limit).await
    }
}
