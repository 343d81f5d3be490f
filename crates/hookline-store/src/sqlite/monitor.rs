//! Monitoring reads and writes: events after a cursor (live streams, bulk
//! replay), counts, queue gauges, per-minute traffic, health inputs and
//! records, and bulk replay jobs.
//!
//! Reads go through the reader pool; the health record and the replay jobs
//! are written on the writer like everything else.

use super::{Sql, SqliteStore};
use crate::codec::{event_columns, EventRow};
use crate::monitor::{
    QueueStats, RegistrationHealth, RegistrationLoad, Traffic, TrafficBucket, TrafficQuery,
};
use crate::rules::list_limit;
use crate::{EventFilter, Result, StatsStore};
use async_trait::async_trait;
use hookline_core::event::Event;
use hookline_core::time::Millis;
use sqlx::{QueryBuilder, Sqlite};
use std::collections::BTreeMap;

/// Ids per `IN (…)` list, well under SQLite's bound-parameter limit.
const IN_CHUNK: usize = 500;

/// Appends `filter`'s conditions (not its cursor) to a `… WHERE 1 = 1`.
fn push_filter(qb: &mut QueryBuilder<'_, Sqlite>, f: &EventFilter) {
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
                .push_bind(v.clone());
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

pub(super) async fn list_events_after(
    s: &SqliteStore,
    f: &EventFilter,
    after_id: Option<&str>,
) -> Result<Vec<Event>> {
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE 1 = 1"
    ));
    push_filter(&mut qb, f);
    if let Some(after) = after_id {
        qb.push(" AND id > ").push_bind(after.to_owned());
    }
    if let Some(before) = &f.before_id {
        qb.push(" AND id < ").push_bind(before.clone());
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(list_limit(f.limit)));
    let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&s.reader).await?;
    rows.into_iter().map(Event::try_from).collect()
}

pub(super) async fn get_events(s: &SqliteStore, ids: &[String]) -> Result<Vec<Event>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE id IN ("
        ));
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        list.push_unseparated(")");
        let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&s.reader).await?;
        for row in rows {
            out.push(Event::try_from(row)?);
        }
    }
    Ok(out)
}

pub(super) async fn count_events(s: &SqliteStore, f: &EventFilter) -> Result<u64> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM events WHERE 1 = 1");
    push_filter(&mut qb, f);
    if let Some(before) = &f.before_id {
        qb.push(" AND id < ").push_bind(before.clone());
    }
    let (n,): (i64,) = qb.build_query_as().fetch_one(&s.reader).await?;
    Ok(to_u64(n))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) async fn queue_stats(s: &SqliteStore) -> Result<QueueStats> {
    // Both counts are served by partial indexes (`deliveries_due`,
    // `deliveries_held`); a delivery is created when its event is received.
    let (queued, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE next_attempt_at IS NOT NULL",
    )
    .fetch_one(&s.reader)
    .await?;
    let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE status = 'held'")
        .fetch_one(&s.reader)
        .await?;
    Ok(QueueStats {
        queued: to_u64(queued),
        oldest_queued_received_at: oldest.map(Millis),
        held: to_u64(held),
    })
}

pub(super) async fn traffic(s: &SqliteStore, q: &TrafficQuery) -> Result<Traffic> {
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

    let mut qb = QueryBuilder::<Sqlite>::new("SELECT (received_at - ");
    qb.push_bind(q.since.0)
        .push(") / ")
        .push_bind(bucket)
        .push(
            " AS b, SUM(status != 'rejected'), SUM(status = 'rejected') FROM events \
             WHERE received_at >= ",
        )
        .push_bind(q.since.0)
        .push(" AND received_at < ")
        .push_bind(q.until.0);
    if let Some(reg) = &q.registration_id {
        qb.push(" AND registration_id = ").push_bind(reg.clone());
    }
    qb.push(" GROUP BY b");
    let rows: Vec<(i64, i64, i64)> = qb.build_query_as().fetch_all(&s.reader).await?;
    for (b, received, rejected) in rows {
        if let Some(slot) = usize::try_from(b).ok().and_then(|b| buckets.get_mut(b)) {
            slot.received += to_u64(received);
            slot.rejected += to_u64(rejected);
        }
    }

    // Attempts that made a call (a held event's record has no URL). A
    // successful one counts in the bucket its answer arrived in.
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT a.started_at + a.duration_ms AS done, a.started_at, a.error IS NULL AS ok, \
           e.received_at \
         FROM attempts a JOIN events e ON e.id = a.event_id \
         WHERE a.request_url != '' AND a.started_at >= ",
    );
    qb.push_bind(q.since.0)
        .push(" AND a.started_at < ")
        .push_bind(q.until.0);
    if let Some(reg) = &q.registration_id {
        qb.push(" AND e.registration_id = ").push_bind(reg.clone());
    }
    qb.push(" ORDER BY a.started_at DESC");
    let rows: Vec<(i64, i64, bool, i64)> = qb.build_query_as().fetch_all(&s.reader).await?;
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

pub(super) async fn registration_loads(
    s: &SqliteStore,
    since: Millis,
) -> Result<Vec<RegistrationLoad>> {
    let mut loads: BTreeMap<String, RegistrationLoad> = BTreeMap::new();
    fn entry(loads: &mut BTreeMap<String, RegistrationLoad>, id: String) -> &mut RegistrationLoad {
        loads.entry(id.clone()).or_insert_with(|| RegistrationLoad {
            registration_id: id,
            ..RegistrationLoad::default()
        })
    }
    let attempts: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT e.registration_id, COUNT(*), SUM(a.error IS NOT NULL) \
         FROM attempts a JOIN events e ON e.id = a.event_id \
         WHERE a.started_at >= ? AND a.request_url != '' \
         GROUP BY e.registration_id",
    )
    .bind(since.0)
    .fetch_all(&s.reader)
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
    .fetch_all(&s.reader)
    .await?;
    for (id, n, oldest) in backlog {
        let l = entry(&mut loads, id);
        l.backlog = to_u64(n);
        l.oldest_backlog_received_at = oldest.map(Millis);
    }
    Ok(loads.into_values().collect())
}

#[async_trait]
impl StatsStore for SqliteStore {
    async fn queue_stats(&self) -> Result<QueueStats> {
        queue_stats(self).await
    }
    async fn traffic(&self, query: &TrafficQuery) -> Result<Traffic> {
        traffic(self, query).await
    }
    async fn registration_loads(&self, since: Millis) -> Result<Vec<RegistrationLoad>> {
        registration_loads(self, since).await
    }
    async fn list_registration_health(&self) -> Result<Vec<RegistrationHealth>> {
        Sql::list_registration_health(&self.reader).await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        let saved = Sql::save_registration_health(&mut *self.write().await?, health).await;
        self.written(saved).await
    }
}
