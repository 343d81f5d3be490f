//! Monitoring reads and writes: events after a cursor (live streams, bulk
//! replay), counts, queue gauges, per-minute traffic, health inputs and
//! records, and bulk replay jobs.
//!
//! Reads go through the reader pool; the health record and the replay jobs
//! are written on the writer like everything else.

use super::SqliteStore;
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
use sqlx::Connection;
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
    // Both counts are served by partial indexes (`events_due`, `events_held`).
    let (queued, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(received_at) FROM events WHERE next_attempt_at IS NOT NULL",
    )
    .fetch_one(&s.reader)
    .await?;
    let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events WHERE status = 'held'")
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
        "SELECT registration_id, COUNT(*), MIN(received_at) FROM events \
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

pub(super) async fn list_registration_health(s: &SqliteStore) -> Result<Vec<RegistrationHealth>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT registration_id, doc FROM registration_health ORDER BY registration_id",
    )
    .fetch_all(&s.reader)
    .await?;
    rows.iter()
        .map(|(id, doc)| from_doc("registration health", id, doc))
        .collect()
}

pub(super) async fn save_registration_health(
    s: &SqliteStore,
    h: &RegistrationHealth,
) -> Result<bool> {
    // Read and write in one transaction on the single writer: two checks
    // can never both see the same change.
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    let prev: Option<(i64, i64)> =
        sqlx::query_as("SELECT healthy, since FROM registration_health WHERE registration_id = ?")
            .bind(&h.registration_id)
            .fetch_optional(&mut *tx)
            .await?;
    let was_healthy = prev.is_none_or(|(healthy, _)| healthy != 0);
    let changed = was_healthy != h.healthy;
    let mut record = h.clone();
    if let (Some((_, since)), false) = (prev, changed) {
        record.since = Millis(since);
    }
    sqlx::query(
        "INSERT INTO registration_health (registration_id, healthy, since, checked_at, doc) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (registration_id) DO UPDATE SET healthy = excluded.healthy, \
           since = excluded.since, checked_at = excluded.checked_at, doc = excluded.doc",
    )
    .bind(&record.registration_id)
    .bind(i64::from(record.healthy))
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

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) async fn insert_replay_job(s: &SqliteStore, job: &ReplayJob) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO replay_jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
    .execute(&mut *s.write().await?)
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

pub(super) async fn get_replay_job(s: &SqliteStore, id: &str) -> Result<Option<ReplayJob>> {
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM replay_jobs WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&s.reader)
    .await?;
    row.map(ReplayJob::try_from).transpose()
}

pub(super) async fn list_replay_jobs(s: &SqliteStore, limit: u32) -> Result<Vec<ReplayJob>> {
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM replay_jobs ORDER BY created_at DESC, id DESC LIMIT ?"
    ))
    .bind(i64::from(list_limit(limit)))
    .fetch_all(&s.reader)
    .await?;
    rows.into_iter().map(ReplayJob::try_from).collect()
}

pub(super) async fn claim_replay_job(
    s: &SqliteStore,
    owner: &str,
    now: Millis,
    lease_until: Millis,
) -> Result<Option<ReplayJob>> {
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "UPDATE replay_jobs SET owner = ?1, lease_until = ?2 \
         WHERE id = (SELECT id FROM replay_jobs WHERE status = 'running' \
           AND (owner IS NULL OR owner = ?1 OR lease_until IS NULL OR lease_until < ?3) \
           ORDER BY updated_at, id LIMIT 1) \
         RETURNING {JOB_COLUMNS}"
    ))
    .bind(owner)
    .bind(lease_until.0)
    .bind(now.0)
    .fetch_optional(&mut *s.write().await?)
    .await?;
    row.map(ReplayJob::try_from).transpose()
}

pub(super) async fn update_replay_job(
    s: &SqliteStore,
    job: &ReplayJob,
    owner: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE replay_jobs SET status = ?, replayed = ?, skipped = ?, cursor = ?, updated_at = ?, \
           finished_at = ?, owner = ?, lease_until = ? \
         WHERE id = ? AND owner = ? AND status = 'running'",
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
    .execute(&mut *s.write().await?)
    .await?
    .rows_affected();
    Ok(done == 1)
}

pub(super) async fn cancel_replay_job(
    s: &SqliteStore,
    id: &str,
    now: Millis,
) -> Result<Option<ReplayJob>> {
    let mut conn = s.write().await?;
    let mut tx = conn.begin().await?;
    sqlx::query(
        "UPDATE replay_jobs SET status = 'cancelled', finished_at = ?1, updated_at = ?1, \
           owner = NULL, lease_until = NULL \
         WHERE id = ?2 AND status = 'running'",
    )
    .bind(now.0)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM replay_jobs WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(ReplayJob::try_from).transpose()
}

pub(super) async fn release_replay_jobs(s: &SqliteStore, owner: &str) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE replay_jobs SET owner = NULL, lease_until = NULL WHERE owner = ?")
            .bind(owner)
            .execute(&mut *s.write().await?)
            .await?
            .rows_affected(),
    )
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
        list_registration_health(self).await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        self.written(save_registration_health(self, health).await)
            .await
    }
}

#[async_trait]
impl ReplayJobStore for SqliteStore {
    async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()> {
        self.written(insert_replay_job(self, job).await).await
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
        self.written(claim_replay_job(self, owner, now, lease_until).await)
            .await
    }
    async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool> {
        self.written(update_replay_job(self, job, owner).await)
            .await
    }
    async fn cancel_replay_job(&self, id: &str, now: Millis) -> Result<Option<ReplayJob>> {
        self.written(cancel_replay_job(self, id, now).await).await
    }
    async fn release_replay_jobs(&self, owner: &str) -> Result<u64> {
        self.written(release_replay_jobs(self, owner).await).await
    }
}
