//! Monitoring reads and writes: events after a cursor (live streams, bulk
//! replay), counts, queue gauges, per-minute traffic, health inputs and
//! records, and bulk replay jobs, for several nodes at once.

use super::events::push_filter;
use super::{PgStore, Sql};
use crate::codec::{event_columns, EventRow};
use crate::monitor::{
    QueueStats, RegistrationHealth, RegistrationLoad, Traffic, TrafficBucket, TrafficQuery,
};
use crate::rules::list_limit;
use crate::{EventFilter, Result, StatsStore};
use async_trait::async_trait;
use hookline_core::event::Event;
use hookline_core::time::Millis;
use sqlx::{Postgres, QueryBuilder};
use std::collections::BTreeMap;

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) async fn list_events_after(
    s: &PgStore,
    f: &EventFilter,
    after_id: Option<&str>,
) -> Result<Vec<Event>> {
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE TRUE"
    ));
    push_filter(&mut qb, f);
    if let Some(after) = after_id {
        qb.push(" AND id > ").push_bind(after);
    }
    if let Some(before) = &f.before_id {
        qb.push(" AND id < ").push_bind(before.as_str());
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(list_limit(f.limit)));
    let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&s.pool).await?;
    rows.into_iter().map(Event::try_from).collect()
}

pub(super) async fn get_events(s: &PgStore, ids: &[String]) -> Result<Vec<Event>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<EventRow> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(&s.pool)
    .await?;
    rows.into_iter().map(Event::try_from).collect()
}

pub(super) async fn count_events(s: &PgStore, f: &EventFilter) -> Result<u64> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM events WHERE TRUE");
    push_filter(&mut qb, f);
    if let Some(before) = &f.before_id {
        qb.push(" AND id < ").push_bind(before.as_str());
    }
    let (n,): (i64,) = qb.build_query_as().fetch_one(&s.pool).await?;
    Ok(to_u64(n))
}

pub(super) async fn queue_stats(s: &PgStore) -> Result<QueueStats> {
    // Both counts are served by partial indexes (`deliveries_due`,
    // `deliveries_held`); a delivery is created when its event is received.
    let (queued, oldest, held): (i64, Option<i64>, i64) = sqlx::query_as(
        "SELECT \
           (SELECT COUNT(*) FROM deliveries WHERE next_attempt_at IS NOT NULL), \
           (SELECT MIN(created_at) FROM deliveries WHERE next_attempt_at IS NOT NULL), \
           (SELECT COUNT(*) FROM deliveries WHERE status = 'held')",
    )
    .fetch_one(&s.pool)
    .await?;
    Ok(QueueStats {
        queued: to_u64(queued),
        oldest_queued_received_at: oldest.map(Millis),
        held: to_u64(held),
    })
}

pub(super) async fn traffic(s: &PgStore, q: &TrafficQuery) -> Result<Traffic> {
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

    let mut qb = QueryBuilder::<Postgres>::new("SELECT (received_at - ");
    qb.push_bind(q.since.0)
        .push(") / ")
        .push_bind(bucket)
        .push(
            " AS b, COUNT(*) FILTER (WHERE status <> 'rejected'), \
             COUNT(*) FILTER (WHERE status = 'rejected') FROM events \
             WHERE received_at >= ",
        )
        .push_bind(q.since.0)
        .push(" AND received_at < ")
        .push_bind(q.until.0);
    if let Some(reg) = &q.registration_id {
        qb.push(" AND registration_id = ").push_bind(reg.as_str());
    }
    qb.push(" GROUP BY b");
    let rows: Vec<(i64, i64, i64)> = qb.build_query_as().fetch_all(&s.pool).await?;
    for (b, received, rejected) in rows {
        if let Some(slot) = usize::try_from(b).ok().and_then(|b| buckets.get_mut(b)) {
            slot.received += to_u64(received);
            slot.rejected += to_u64(rejected);
        }
    }

    // Attempts that made a call (a held event's record has no URL). A
    // successful one counts in the bucket its answer arrived in.
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT a.started_at + a.duration_ms AS done, a.started_at, a.error IS NULL AS ok, \
           e.received_at \
         FROM attempts a JOIN events e ON e.id = a.event_id \
         WHERE a.request_url <> '' AND a.started_at >= ",
    );
    qb.push_bind(q.since.0)
        .push(" AND a.started_at < ")
        .push_bind(q.until.0);
    if let Some(reg) = &q.registration_id {
        qb.push(" AND e.registration_id = ").push_bind(reg.as_str());
    }
    qb.push(" ORDER BY a.started_at DESC");
    let rows: Vec<(i64, i64, bool, i64)> = qb.build_query_as().fetch_all(&s.pool).await?;
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
    s: &PgStore,
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
        "SELECT e.registration_id, COUNT(*), COUNT(*) FILTER (WHERE a.error IS NOT NULL) \
         FROM attempts a JOIN events e ON e.id = a.event_id \
         WHERE a.started_at >= $1 AND a.request_url <> '' \
         GROUP BY e.registration_id",
    )
    .bind(since.0)
    .fetch_all(&s.pool)
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
    .fetch_all(&s.pool)
    .await?;
    for (id, n, oldest) in backlog {
        let l = entry(&mut loads, id);
        l.backlog = to_u64(n);
        l.oldest_backlog_received_at = oldest.map(Millis);
    }
    Ok(loads.into_values().collect())
}

#[async_trait]
impl StatsStore for PgStore {
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
        Sql::list_registration_health(&self.pool).await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        Sql::save_registration_health(&mut *self.pool.acquire().await?, health).await
    }
}
