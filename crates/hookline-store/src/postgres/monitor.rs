//! Monitoring reads and writes: events after a cursor (live streams, bulk
//! replay), counts, queue gauges, per-minute traffic, health inputs and
//! records, and bulk replay jobs, for several nodes at once.

use super::events::push_filter;
use super::PgStore;
use crate::codec::{event_columns, from_doc, to_doc, EventRow};
use crate::monitor::{
    QueueStats, RegistrationHealth, RegistrationLoad, ReplayFilter, ReplayJob, ReplayStatus,
    Traffic, TrafficBucket, TrafficQuery,
};
use crate::rules::list_limit;
use crate::{EventFilter, ReplayJobStore, Result, StatsStore, StoreError};
use async_trait::async_trait;
use hookline_core::event::Event;
use hookline_core::time::Millis;
use sqlx::{Postgres, QueryBuilder};
use std::collections::BTreeMap;

/// First key of the advisory locks taken here (the second is a hash of the
/// registration id): "HL" in ASCII. The two-key form never collides with the
/// migrator's single-key lock.
const HEALTH_LOCK_CLASS: i32 = 0x484C;

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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
    // Both counts are served by partial indexes (`events_due`, `events_held`).
    let (queued, oldest, held): (i64, Option<i64>, i64) = sqlx::query_as(
        "SELECT \
           (SELECT COUNT(*) FROM events WHERE next_attempt_at IS NOT NULL), \
           (SELECT MIN(received_at) FROM events WHERE next_attempt_at IS NOT NULL), \
           (SELECT COUNT(*) FROM events WHERE status = 'held')",
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
        "SELECT registration_id, COUNT(*), MIN(received_at) FROM events \
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

pub(super) async fn list_registration_health(s: &PgStore) -> Result<Vec<RegistrationHealth>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT registration_id, doc FROM registration_health ORDER BY registration_id",
    )
    .fetch_all(&s.pool)
    .await?;
    rows.iter()
        .map(|(id, doc)| from_doc("registration health", id, doc))
        .collect()
}

pub(super) async fn save_registration_health(s: &PgStore, h: &RegistrationHealth) -> Result<bool> {
    let mut tx = s.pool.begin().await?;
    // Nodes judging the same registration at once take turns, so exactly
    // one of them sees the change (a row lock cannot cover the first record,
    // which does not exist yet). Released at commit.
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(HEALTH_LOCK_CLASS)
        .bind(&h.registration_id)
        .execute(&mut *tx)
        .await?;
    let prev: Option<(bool, i64)> =
        sqlx::query_as("SELECT healthy, since FROM registration_health WHERE registration_id = $1")
            .bind(&h.registration_id)
            .fetch_optional(&mut *tx)
            .await?;
    let was_healthy = prev.is_none_or(|(healthy, _)| healthy);
    let changed = was_healthy != h.healthy;
    let mut record = h.clone();
    if let (Some((_, since)), false) = (prev, changed) {
        record.since = Millis(since);
    }
    sqlx::query(
        "INSERT INTO registration_health (registration_id, healthy, since, checked_at, doc) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (registration_id) DO UPDATE SET healthy = excluded.healthy, \
           since = excluded.since, checked_at = excluded.checked_at, doc = excluded.doc",
    )
    .bind(&record.registration_id)
    .bind(record.healthy)
    .bind(record.since.0)
    .bind(record.checked_at.0)
    .bind(to_doc(&record)?)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(changed)
}

const JOB_COLUMNS: &str = "id, status, filter, rate, total, replayed, skipped, cursor, \
    created_at, updated_at, finished_at, owner, lease_until";

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    status: String,
    filter: String,
    rate: i64,
    total: i64,
    replayed: i64,
    skipped: i64,
    cursor: Option<String>,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
    owner: Option<String>,
    lease_until: Option<i64>,
}

impl TryFrom<JobRow> for ReplayJob {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<ReplayJob> {
        let filter: ReplayFilter = from_doc("replay job filter", &r.id, &r.filter)?;
        Ok(ReplayJob {
            status: ReplayStatus::parse(&r.status).ok_or_else(|| {
                StoreError::Corrupt(format!("status of replay job {} is `{}`", r.id, r.status))
            })?,
            filter,
            rate: u32::try_from(r.rate).unwrap_or(u32::MAX),
            total: to_u64(r.total),
            replayed: to_u64(r.replayed),
            skipped: to_u64(r.skipped),
            cursor: r.cursor,
            created_at: Millis(r.created_at),
            updated_at: Millis(r.updated_at),
            finished_at: r.finished_at.map(Millis),
            owner: r.owner,
            lease_until: r.lease_until.map(Millis),
            id: r.id,
        })
    }
}

pub(super) async fn insert_replay_job(s: &PgStore, job: &ReplayJob) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO replay_jobs ({JOB_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&job.id)
    .bind(job.status.as_str())
    .bind(to_doc(&job.filter)?)
    .bind(i64::from(job.rate))
    .bind(to_i64(job.total))
    .bind(to_i64(job.replayed))
    .bind(to_i64(job.skipped))
    .bind(job.cursor.as_deref())
    .bind(job.created_at.0)
    .bind(job.updated_at.0)
    .bind(job.finished_at.map(|t| t.0))
    .bind(job.owner.as_deref())
    .bind(job.lease_until.map(|t| t.0))
    .execute(&s.pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            entity: "replay job",
            key: job.id.clone(),
        },
        _ => StoreError::from(e),
    })?;
    Ok(())
}

pub(super) async fn get_replay_job(s: &PgStore, id: &str) -> Result<Option<ReplayJob>> {
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM replay_jobs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&s.pool)
    .await?;
    row.map(ReplayJob::try_from).transpose()
}

pub(super) async fn list_replay_jobs(s: &PgStore, limit: u32) -> Result<Vec<ReplayJob>> {
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM replay_jobs ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(i64::from(list_limit(limit)))
    .fetch_all(&s.pool)
    .await?;
    rows.into_iter().map(ReplayJob::try_from).collect()
}

pub(super) async fn claim_replay_job(
    s: &PgStore,
    owner: &str,
    now: Millis,
    lease_until: Millis,
) -> Result<Option<ReplayJob>> {
    // As for events: pick and lease in one statement, passing over a job
    // another node is claiming right now.
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "UPDATE replay_jobs SET owner = $1, lease_until = $2 \
         WHERE id = (SELECT id FROM replay_jobs WHERE status = 'running' \
           AND (owner IS NULL OR owner = $1 OR lease_until IS NULL OR lease_until < $3) \
           ORDER BY updated_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLUMNS}"
    ))
    .bind(owner)
    .bind(lease_until.0)
    .bind(now.0)
    .fetch_optional(&s.pool)
    .await?;
    row.map(ReplayJob::try_from).transpose()
}

pub(super) async fn update_replay_job(s: &PgStore, job: &ReplayJob, owner: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE replay_jobs SET status = $1, replayed = $2, skipped = $3, cursor = $4, \
           updated_at = $5, finished_at = $6, owner = $7, lease_until = $8 \
         WHERE id = $9 AND owner = $10 AND status = 'running'",
    )
    .bind(job.status.as_str())
    .bind(to_i64(job.replayed))
    .bind(to_i64(job.skipped))
    .bind(job.cursor.as_deref())
    .bind(job.updated_at.0)
    .bind(job.finished_at.map(|t| t.0))
    .bind(job.owner.as_deref())
    .bind(job.lease_until.map(|t| t.0))
    .bind(&job.id)
    .bind(owner)
    .execute(&s.pool)
    .await?
    .rows_affected();
    Ok(done == 1)
}

pub(super) async fn cancel_replay_job(
    s: &PgStore,
    id: &str,
    now: Millis,
) -> Result<Option<ReplayJob>> {
    let mut tx = s.pool.begin().await?;
    sqlx::query(
        "UPDATE replay_jobs SET status = 'cancelled', finished_at = $1, updated_at = $1, \
           owner = NULL, lease_until = NULL \
         WHERE id = $2 AND status = 'running'",
    )
    .bind(now.0)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM replay_jobs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(ReplayJob::try_from).transpose()
}

pub(super) async fn release_replay_jobs(s: &PgStore, owner: &str) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE replay_jobs SET owner = NULL, lease_until = NULL WHERE owner = $1")
            .bind(owner)
            .execute(&s.pool)
            .await?
            .rows_affected(),
    )
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
        list_registration_health(self).await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        save_registration_health(self, health).await
    }
}

#[async_trait]
impl ReplayJobStore for PgStore {
    async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()> {
        insert_replay_job(self, job).await
    }
    async fn get_replay_job(&self, id: &str) -> Result<Option<ReplayJob>> {
        get_replay_job(self, id).await
    }
    async fn list_replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>> {
        list_replay_jobs(self, limit).await
    }
    async fn claim_replay_job(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ReplayJob>> {
        claim_replay_job(self, owner, now, lease_until).await
    }
    async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool> {
        update_replay_job(self, job, owner).await
    }
    async fn cancel_replay_job(&self, id: &str, now: Millis) -> Result<Option<ReplayJob>> {
        cancel_replay_job(self, id, now).await
    }
    async fn release_replay_jobs(&self, owner: &str) -> Result<u64> {
        release_replay_jobs(self, owner).await
    }
}
