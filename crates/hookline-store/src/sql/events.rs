//! Events outside the delivery loop, as both backends read and write them:
//! finding provider redeliveries, listing, counting and reading events and
//! their deliveries and attempts, replaying an event or one delivery,
//! deleting expired events (retention), and the traffic and per-registration
//! load the monitor reads.
//!
//! What stays in each backend: storing a batch (PostgreSQL's one `UNNEST`
//! statement, SQLite's multi-statement command on its writer), reading
//! events by a list of ids (one array, or `IN` lists in chunks), the queue
//! gauges, which connection runs what, and what follows a commit. Counts of
//! a condition are written `COUNT(CASE … END)` and `COUNT(column)`, which
//! both dialects read alike.

use super::{Dialect, Sql};
use crate::codec::{
    attempt_columns, delivery_columns, event_columns, parse_status, AttemptRow, DeliveryRow,
    EventRow, PayloadRow,
};
use crate::monitor::{RegistrationLoad, Traffic, TrafficBucket, TrafficQuery};
use crate::rules::{id_window, list_limit, requeue_allowed, SUMMARIZE_HEAD, SUMMARIZE_TAIL};
use crate::{DeliveryRequeue, EventFilter, Requeue, Result, StoreError};
use hookline_core::event::{Attempt, Delivery, Event, Payload};
use hookline_core::time::Millis;
use sqlx::query::QueryAs;
use sqlx::{
    ColumnIndex, Connection as _, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type,
};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// What each row type is selected with, up to the condition.
const EVENTS: &str = concat!("SELECT ", event_columns!(), " FROM events WHERE ");
const DELIVERIES: &str = concat!("SELECT ", delivery_columns!(), " FROM deliveries WHERE ");
const ATTEMPTS: &str = concat!("SELECT ", attempt_columns!(), " FROM attempts WHERE ");
/// The candidates of a replay, with their lease.
const LEASED: &str = concat!(
    "SELECT lease_until, ",
    delivery_columns!(),
    " FROM deliveries WHERE "
);

/// For [`Sql::delete_events`]: delivered or failed events last updated
/// before `$1`; payloads and attempts go with them (`ON DELETE CASCADE`).
/// The status list is literal so the partial index `events_expirable`
/// applies.
pub(crate) const EXPIRED: &str =
    "status IN ('delivered', 'failed') AND updated_at < $1 ORDER BY updated_at";
/// For [`Sql::delete_events`]: rejected events received before `$1`, with
/// their payloads, through the partial index `events_rejected`.
pub(crate) const REJECTED: &str = "status = 'rejected' AND received_at < $1 ORDER BY received_at";

/// What else differs between the backends in the statements here.
pub(crate) trait Locking: Dialect {
    /// Ends a select whose rows a replay checks and then changes, so that
    /// they stay locked until it commits. SQLite's one writer needs none.
    const FOR_UPDATE: &'static str;
}

impl Locking for sqlx::Sqlite {
    const FOR_UPDATE: &'static str = "";
}

impl Locking for sqlx::Postgres {
    const FOR_UPDATE: &'static str = " FOR UPDATE";
}

/// A delivery with its lease, as the replay rules need it.
#[derive(sqlx::FromRow)]
pub(crate) struct LeasedDelivery {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    lease_until: Option<i64>,
}

/// What [`Sql::requeue`] found, before it is told in `T`'s terms.
pub(crate) enum Outcome<R> {
    NotFound,
    /// None of the deliveries may be queued again; the event's status and
    /// the deliveries looked at.
    NotAllowed {
        status: String,
        deliveries: Vec<Delivery>,
    },
    /// Queued; the row read back.
    Queued(R),
}

/// What a replay answers: [`Requeue`] for an event's deliveries,
/// [`DeliveryRequeue`] for one delivery. The statements take the id asked
/// for as `$1`.
pub(crate) trait Replay: Sized + Send {
    /// The row read back once queued.
    type Row: Send + Unpin;
    /// Selects the event's id and status. The event is locked first either
    /// way, so that two replays never deadlock.
    const EVENT: &'static str;
    /// Which deliveries are candidates.
    const CANDIDATES: &'static str;
    /// Selects the row read back, up to the condition.
    const READ_BACK: &'static str;

    fn answer(id: &str, outcome: Outcome<Self::Row>) -> Result<Self>;
    /// Whether deliveries were queued.
    fn queued(&self) -> bool;
}

impl Replay for Requeue {
    type Row = EventRow;
    const EVENT: &'static str = "SELECT id, status FROM events WHERE id = $1";
    const CANDIDATES: &'static str = "event_id = $1";
    const READ_BACK: &'static str = EVENTS;

    fn answer(id: &str, outcome: Outcome<EventRow>) -> Result<Requeue> {
        Ok(match outcome {
            Outcome::NotFound => Requeue::NotFound,
            Outcome::NotAllowed { status, .. } => Requeue::NotAllowed(parse_status(id, &status)?),
            Outcome::Queued(row) => Requeue::Queued(Event::try_from(row)?),
        })
    }
    fn queued(&self) -> bool {
        matches!(self, Requeue::Queued(_))
    }
}

impl Replay for DeliveryRequeue {
    type Row = DeliveryRow;
    const EVENT: &'static str = "SELECT id, status FROM events \
        WHERE id = (SELECT event_id FROM deliveries WHERE id = $1)";
    const CANDIDATES: &'static str = "id = $1";
    const READ_BACK: &'static str = DELIVERIES;

    fn answer(_: &str, outcome: Outcome<DeliveryRow>) -> Result<DeliveryRequeue> {
        match outcome {
            Outcome::Queued(row) => Ok(DeliveryRequeue::Queued(Delivery::try_from(row)?)),
            Outcome::NotAllowed { deliveries, .. } => {
                Ok(deliveries.first().map_or(DeliveryRequeue::NotFound, |d| {
                    DeliveryRequeue::NotAllowed(d.status)
                }))
            }
            Outcome::NotFound => Ok(DeliveryRequeue::NotFound),
        }
    }
    fn queued(&self) -> bool {
        matches!(self, DeliveryRequeue::Queued(_))
    }
}

/// A statement whose text and parameters grow together, the parameters
/// written `$n` (which both dialects read). sqlx's `QueryBuilder` does not
/// serve here: run from code generic over the backend, its arguments would
/// have to outlive the builder.
struct Statement<'a> {
    sql: String,
    params: Vec<Param<'a>>,
}

enum Param<'a> {
    Text(&'a str),
    OwnedText(String),
    Int(i64),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl From<String> for Param<'_> {
    fn from(v: String) -> Self {
        Param::OwnedText(v)
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl<'a> Statement<'a> {
    fn new(sql: impl Into<String>) -> Self {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    fn push(&mut self, sql: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write as _;
        // Writing to a `String` cannot fail.
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Appends the placeholder of parameter `value`.
    fn push_bind(&mut self, value: impl Into<Param<'a>>) -> &mut Self {
        self.params.push(value.into());
        let n = self.params.len();
        self.push(format_args!("${n}"))
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Rewrites the summary of event `$1` from its deliveries.
static SUMMARIZE_EVENT: LazyLock<String> =
    LazyLock::new(|| format!("{SUMMARIZE_HEAD}d.event_id = $1{SUMMARIZE_TAIL}"));

impl<DB> Sql<DB>
where
    DB: Locking,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
    for<'r> PayloadRow: FromRow<'r, DB::Row>,
    for<'r> AttemptRow: FromRow<'r, DB::Row>,
    for<'r> DeliveryRow: FromRow<'r, DB::Row>,
    for<'r> LeasedDelivery: FromRow<'r, DB::Row>,
{
    /// `st` ready to run, its parameters bound.
    fn query_as<'q, O>(st: &'q Statement<'_>) -> QueryAs<'q, DB, O, DB::Arguments<'q>>
    where
        O: for<'r> FromRow<'r, DB::Row>,
    {
        st.params
            .iter()
            .fold(sqlx::query_as(&st.sql), |q, p| match p {
                Param::Text(v) => q.bind(*v),
                Param::OwnedText(v) => q.bind(v.as_str()),
                Param::Int(v) => q.bind(*v),
            })
    }

    pub(crate) async fn find_duplicate<'c>(
        ex: impl Executor<'c, Database = DB>,
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
        .fetch_optional(ex)
        .await?;
        Ok(id.map(|(id,)| id))
    }

    /// A page of events, newest first; for `ids_track_time` see
    /// [`Self::push_filter`].
    pub(crate) async fn list_events<'c>(
        ex: impl Executor<'c, Database = DB>,
        f: &EventFilter,
        ids_track_time: bool,
    ) -> Result<Vec<Event>> {
        Self::page(
            ex,
            Self::filtered(EVENTS, f, ids_track_time),
            " DESC",
            f.limit,
        )
        .await
    }

    /// Events matching `f` after the cursor `after_id`, oldest id first.
    pub(crate) async fn list_events_after<'c>(
        ex: impl Executor<'c, Database = DB>,
        f: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>> {
        let mut st = Self::filtered(EVENTS, f, false);
        if let Some(after) = after_id {
            st.push(" AND id > ").push_bind(after);
        }
        Self::page(ex, st, "", f.limit).await
    }

    /// The first `limit` ([`list_limit`]) events `st` selects, by id in
    /// `direction`.
    async fn page<'c>(
        ex: impl Executor<'c, Database = DB>,
        mut st: Statement<'_>,
        direction: &str,
        limit: u32,
    ) -> Result<Vec<Event>> {
        st.push(format_args!(" ORDER BY id{direction} LIMIT "))
            .push_bind(i64::from(list_limit(limit)));
        let rows: Vec<EventRow> = Self::query_as(&st).fetch_all(ex).await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    pub(crate) async fn count_events<'c>(
        ex: impl Executor<'c, Database = DB>,
        f: &EventFilter,
    ) -> Result<u64> {
        let st = Self::filtered("SELECT COUNT(*) FROM events WHERE ", f, false);
        let (n,): (i64,) = Self::query_as(&st).fetch_one(ex).await?;
        Ok(to_u64(n))
    }

    /// `select` (up to its WHERE conditions) over the events that match `f`,
    /// its `before_id` included ([`Self::push_filter`]), with the WHERE
    /// clause left open.
    fn filtered<'a>(select: &str, f: &'a EventFilter, ids_track_time: bool) -> Statement<'a> {
        let mut st = Statement::new(format!("{select}TRUE"));
        Self::push_filter(&mut st, f, ids_track_time);
        if let Some(before) = &f.before_id {
            st.push(" AND id < ").push_bind(before.as_str());
        }
        st
    }

    /// Appends `AND …` conditions for every field of `f` except the cursor
    /// (`before_id`) and `limit` to a query over `events` whose WHERE clause
    /// is open. Every listing and count of events filters through here.
    ///
    /// While `ids_track_time` (SQLite: every stored id carries its receive
    /// time, a fact it caches per process) a time window is also an id
    /// range, which the `(…, id)` indexes seek straight into; otherwise an
    /// old window would be found by walking every newer event. The exact
    /// `received_at` test stays, written `+received_at` so it does not lure
    /// SQLite's planner onto the received_at index (range, then sort)
    /// instead. Several nodes cannot share such a cache safely, so
    /// PostgreSQL relies on its planner: `events_received_at` for windows,
    /// the `(…, id)` indexes for the rest. Only the newest-first listing
    /// asks for the window.
    fn push_filter<'a>(st: &mut Statement<'a>, f: &'a EventFilter, ids_track_time: bool) {
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
                st.push(format_args!(" AND {column} = "))
                    .push_bind(v.as_str());
            }
        }
        if let Some(status) = f.status {
            st.push(" AND status = ").push_bind(status.as_str());
        }
        let received_at = if ids_track_time {
            let (lower, upper) = id_window(f.since, f.until);
            if let Some(lower) = lower {
                st.push(" AND id >= ").push_bind(lower);
            }
            if let Some(upper) = upper {
                st.push(" AND id < ").push_bind(upper);
            }
            "+received_at"
        } else {
            "received_at"
        };
        if let Some(since) = f.since {
            st.push(format_args!(" AND {received_at} >= "))
                .push_bind(since.0);
        }
        if let Some(until) = f.until {
            st.push(format_args!(" AND {received_at} < "))
                .push_bind(until.0);
        }
    }

    pub(crate) async fn get_event<'c>(
        ex: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> Result<Option<(Event, Payload)>> {
        let row: Option<DB::Row> = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            ", p.method, p.query, p.headers, p.body \
             FROM events LEFT JOIN event_payloads p ON p.event_id = events.id \
             WHERE events.id = $1"
        ))
        .bind(id)
        .fetch_optional(ex)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let event = Event::try_from(EventRow::from_row(&row)?)?;
        let payload = PayloadRow::from_row(&row)?.into_payload(&event.id)?;
        Ok(Some((event, payload)))
    }

    pub(crate) async fn list_attempts<'c>(
        ex: impl Executor<'c, Database = DB>,
        event_id: &str,
    ) -> Result<Vec<Attempt>> {
        Self::of_event::<AttemptRow, _, _>(ex, ATTEMPTS, "number, started_at, id", event_id).await
    }

    pub(crate) async fn list_deliveries<'c>(
        ex: impl Executor<'c, Database = DB>,
        event_id: &str,
    ) -> Result<Vec<Delivery>> {
        Self::of_event::<DeliveryRow, _, _>(ex, DELIVERIES, "created_at, id", event_id).await
    }

    /// The rows of event `event_id` `select` picks (up to the condition),
    /// in `order`, read as `T`.
    async fn of_event<'c, R, T, E>(
        ex: E,
        select: &str,
        order: &str,
        event_id: &str,
    ) -> Result<Vec<T>>
    where
        R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
        T: TryFrom<R, Error = StoreError>,
        E: Executor<'c, Database = DB>,
    {
        let rows: Vec<R> = sqlx::query_as(&format!("{select}event_id = $1 ORDER BY {order}"))
            .bind(event_id)
            .fetch_all(ex)
            .await?;
        rows.into_iter().map(T::try_from).collect()
    }

    /// Queues again the deliveries the replay rules allow of event `id`
    /// ([`Requeue`]) or of delivery `id` ([`DeliveryRequeue`]), in one
    /// transaction on `conn`, and rewrites the event's summary. The event
    /// is read first, and the rows stay locked from the check to the update
    /// ([`Locking::FOR_UPDATE`]): no claim (nor another node's replay) can
    /// slip in between.
    pub(crate) async fn requeue<T>(conn: &mut DB::Connection, id: &str, now: Millis) -> Result<T>
    where
        T: Replay,
        for<'r> T::Row: FromRow<'r, DB::Row>,
    {
        let lock = DB::FOR_UPDATE;
        let mut tx = conn.begin().await?;
        let found: Option<(String, String)> = sqlx::query_as(&format!("{}{lock}", T::EVENT))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((event_id, status)) = found else {
            return T::answer(id, Outcome::NotFound);
        };
        let candidates = format!("{LEASED}{}{lock}", T::CANDIDATES);
        let candidates: Vec<LeasedDelivery> = sqlx::query_as(&candidates)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let mut deliveries = Vec::with_capacity(candidates.len());
        let mut allowed = Vec::new();
        for c in candidates {
            let d = Delivery::try_from(c.delivery)?;
            if requeue_allowed(&d, c.lease_until, now) {
                allowed.push(d.id.clone());
            }
            deliveries.push(d);
        }
        if allowed.is_empty() {
            return T::answer(id, Outcome::NotAllowed { status, deliveries });
        }
        // An event has a delivery per destination: a short list.
        let ids: Vec<String> = (2..allowed.len() + 2).map(|n| format!("${n}")).collect();
        let update = format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, \
               retry_base = attempts, lease_owner = NULL, lease_until = NULL, updated_at = $1 \
             WHERE id IN ({})",
            ids.join(", ")
        );
        let update = allowed
            .iter()
            .fold(sqlx::query(&update).bind(now.0), |q, id| {
                q.bind(id.as_str())
            });
        update.execute(&mut *tx).await?;
        sqlx::query(SUMMARIZE_EVENT.as_str())
            .bind(event_id.as_str())
            .execute(&mut *tx)
            .await?;
        let row: T::Row = sqlx::query_as(&format!("{}id = $1", T::READ_BACK))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        T::answer(id, Outcome::Queued(row))
    }

    /// Deletes the first `limit` events `which` picks ([`EXPIRED`] or
    /// [`REJECTED`], with the time as `$1`). Rows another transaction holds
    /// (a replay, a late completion) are skipped where the backend locks
    /// rows ([`Dialect::SKIP_LOCKED`]): the next sweep gets them.
    pub(crate) async fn delete_events<'c>(
        ex: impl Executor<'c, Database = DB>,
        which: &str,
        before: Millis,
        limit: u32,
    ) -> Result<u64> {
        if limit == 0 {
            return Ok(0);
        }
        let skip_locked = DB::SKIP_LOCKED;
        let deleted = sqlx::query(&format!(
            "DELETE FROM events WHERE id IN ( \
               SELECT id FROM events WHERE {which} LIMIT $2{skip_locked})"
        ))
        .bind(before.0)
        .bind(i64::from(limit))
        .execute(ex)
        .await?;
        Ok(DB::rows_affected(&deleted))
    }

    // --- statistics ------------------------------------------------------

    pub(crate) async fn traffic(pool: &Pool<DB>, q: &TrafficQuery) -> Result<Traffic> {
        let bucket = q.bucket_ms.max(1);
        let span = (q.until.0 - q.since.0).max(0);
        let n = usize::try_from((span + bucket - 1) / bucket).unwrap_or(0);
        let mut buckets: Vec<TrafficBucket> = (0..n)
            .map(|k| TrafficBucket {
                start: Millis(q.since.0 + k as i64 * bucket),
                received: 0,
                rejected: 0,
                delivered: 0,
                failed: 0,
            })
            .collect();
        let index = |t: i64| -> Option<usize> {
            (t >= q.since.0 && t < q.until.0)
                .then(|| usize::try_from((t - q.since.0) / bucket).ok())
                .flatten()
        };

        let mut st = Statement::new("SELECT (received_at - ");
        st.push_bind(q.since.0)
            .push(") / ")
            .push_bind(bucket)
            .push(
                " AS b, COUNT(CASE WHEN status <> 'rejected' THEN 1 END), \
                 COUNT(CASE WHEN status = 'rejected' THEN 1 END) FROM events \
                 WHERE received_at >= ",
            )
            .push_bind(q.since.0)
            .push(" AND received_at < ")
            .push_bind(q.until.0);
        if let Some(reg) = &q.registration_id {
            st.push(" AND registration_id = ").push_bind(reg.as_str());
        }
        st.push(" GROUP BY b");
        let rows: Vec<(i64, i64, i64)> = Self::query_as(&st).fetch_all(pool).await?;
        for (b, received, rejected) in rows {
            if let Some(slot) = usize::try_from(b).ok().and_then(|b| buckets.get_mut(b)) {
                slot.received += to_u64(received);
                slot.rejected += to_u64(rejected);
            }
        }

        // Attempts that made a call (a held event's record has no URL). A
        // successful one counts in the bucket its answer arrived in.
        let mut st = Statement::new(
            "SELECT a.started_at + a.duration_ms AS done, a.started_at, a.error IS NULL AS ok, \
               e.received_at \
             FROM attempts a JOIN events e ON e.id = a.event_id \
             WHERE a.request_url <> '' AND a.started_at >= ",
        );
        st.push_bind(q.since.0)
            .push(" AND a.started_at < ")
            .push_bind(q.until.0);
        if let Some(reg) = &q.registration_id {
            st.push(" AND e.registration_id = ").push_bind(reg.as_str());
        }
        st.push(" ORDER BY a.started_at DESC");
        let rows: Vec<(i64, i64, bool, i64)> = Self::query_as(&st).fetch_all(pool).await?;
        let mut latencies = Vec::new();
        for (done, started, ok, received) in rows {
            if ok {
                if let Some(i) = index(done.min(q.until.0 - 1)) {
                    buckets[i].delivered += 1;
                }
                if latencies.len() < q.max_latencies as usize {
                    latencies.push((done - received).max(0));
                }
            } else if let Some(i) = index(started) {
                buckets[i].failed += 1;
            }
        }
        Ok(Traffic {
            buckets,
            latencies_ms: latencies,
        })
    }

    pub(crate) async fn registration_loads(
        pool: &Pool<DB>,
        since: Millis,
    ) -> Result<Vec<RegistrationLoad>> {
        let mut loads: BTreeMap<String, RegistrationLoad> = BTreeMap::new();
        fn entry(
            loads: &mut BTreeMap<String, RegistrationLoad>,
            id: String,
        ) -> &mut RegistrationLoad {
            loads.entry(id.clone()).or_insert_with(|| RegistrationLoad {
                registration_id: id,
                ..RegistrationLoad::default()
            })
        }
        let attempts: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT e.registration_id, COUNT(*), COUNT(a.error) \
             FROM attempts a JOIN events e ON e.id = a.event_id \
             WHERE a.started_at >= $1 AND a.request_url <> '' \
             GROUP BY e.registration_id",
        )
        .bind(since.0)
        .fetch_all(pool)
        .await?;
        for (id, total, failed) in attempts {
            let l = entry(&mut loads, id);
            l.attempts = to_u64(total);
            l.failed_attempts = to_u64(failed);
        }
        let backlog: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT registration_id, COUNT(*), MIN(created_at) FROM deliveries \
             WHERE next_attempt_at IS NOT NULL GROUP BY registration_id",
        )
        .fetch_all(pool)
        .await?;
        for (id, n, oldest) in backlog {
            let l = entry(&mut loads, id);
            l.backlog = to_u64(n);
            l.oldest_backlog_received_at = oldest.map(Millis);
        }
        Ok(loads.into_values().collect())
    }
}
