//! What the background tasks keep in the database, so that any node carries
//! on where another stopped: the last health judgement per registration
//! (with change detection in the transaction that records it, so a change is
//! reported once), and bulk replay jobs (their progress, and the lease under
//! which one node works on each, as on events).

use super::{Backend, Dialect, Sql};
use crate::codec::{from_doc, to_doc};
use crate::error::OrConflict;
use crate::monitor::{RegistrationHealth, ReplayJob, ReplayStatus};
use crate::rules::list_limit;
use crate::{Result, StoreError};
use hookline_core::time::Millis;
use sqlx::{ColumnIndex, Connection as _, Decode, Encode, Executor, IntoArguments, Type};

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

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl TryFrom<JobRow> for ReplayJob {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<ReplayJob> {
        let filter: crate::EventFilter = from_doc("replay job filter", &r.id, &r.filter)?;
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

impl<DB> Sql<DB>
where
    DB: Dialect,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    // --- registration health ---------------------------------------------

    pub(crate) async fn list_registration_health<'c>(
        ex: impl Executor<'c, Database = DB>,
    ) -> Result<Vec<RegistrationHealth>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT registration_id, doc FROM registration_health ORDER BY registration_id",
        )
        .fetch_all(ex)
        .await?;
        rows.iter()
            .map(|(id, doc)| from_doc("registration health", id, doc))
            .collect()
    }

    /// Reads the previous record and writes this one in one transaction on
    /// `conn` (after [`Dialect::HEALTH_LOCK`], where the backend needs it),
    /// so two checks can never both see the same change; true when
    /// `healthy` changed (no record counts as healthy).
    pub(crate) async fn save_registration_health(
        conn: &mut DB::Connection,
        h: &RegistrationHealth,
    ) -> Result<bool> {
        let mut tx = conn.begin().await?;
        if let Some(lock) = DB::HEALTH_LOCK {
            sqlx::query(lock)
                .bind(h.registration_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let prev: Option<(bool, i64)> = sqlx::query_as(
            "SELECT healthy, since FROM registration_health WHERE registration_id = $1",
        )
        .bind(h.registration_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let was_healthy = prev.is_none_or(|(healthy, _)| healthy);
        let changed = was_healthy != h.healthy;
        let mut record = h.clone();
        if let (Some((_, since)), false) = (prev, changed) {
            record.since = Millis(since);
        }
        let doc = to_doc(&record)?;
        sqlx::query(
            "INSERT INTO registration_health (registration_id, healthy, since, checked_at, doc) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (registration_id) DO UPDATE SET healthy = excluded.healthy, \
               since = excluded.since, checked_at = excluded.checked_at, doc = excluded.doc",
        )
        .bind(record.registration_id.as_str())
        .bind(record.healthy)
        .bind(record.since.0)
        .bind(record.checked_at.0)
        .bind(doc.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changed)
    }

    // --- replay jobs -----------------------------------------------------

    pub(crate) async fn insert_replay_job(
        b: &impl Backend<Db = DB>,
        job: &ReplayJob,
    ) -> Result<()> {
        let filter = to_doc(&job.filter)?;
        let done = sqlx::query(&format!(
            "INSERT INTO replay_jobs ({JOB_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(job.id.as_str())
        .bind(job.status.as_str())
        .bind(filter.as_str())
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
        .execute(&mut *b.writer().await?)
        .await
        .or_conflict("replay job", |_| job.id.clone())
        .map(|_| ());
        b.written(done).await
    }

    pub(crate) async fn get_replay_job(
        b: &impl Backend<Db = DB>,
        id: &str,
    ) -> Result<Option<ReplayJob>> {
        Self::job_row(b.reads(), id)
            .await?
            .map(ReplayJob::try_from)
            .transpose()
    }

    async fn job_row<'c>(ex: impl Executor<'c, Database = DB>, id: &str) -> Result<Option<JobRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM replay_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(ex)
        .await?)
    }

    pub(crate) async fn list_replay_jobs(
        b: &impl Backend<Db = DB>,
        limit: u32,
    ) -> Result<Vec<ReplayJob>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM replay_jobs ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(list_limit(limit)))
        .fetch_all(b.reads())
        .await?;
        rows.into_iter().map(ReplayJob::try_from).collect()
    }

    /// Picks and leases in one statement (as for events), passing over a
    /// job another node is claiming right now where the backend can
    /// ([`Dialect::SKIP_LOCKED`]).
    pub(crate) async fn claim_replay_job(
        b: &impl Backend<Db = DB>,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ReplayJob>> {
        let skip_locked = DB::SKIP_LOCKED;
        let claimed: Result<Option<JobRow>> = sqlx::query_as(&format!(
            "UPDATE replay_jobs SET owner = $1, lease_until = $2 \
             WHERE id = (SELECT id FROM replay_jobs WHERE status = 'running' \
               AND (owner IS NULL OR owner = $1 OR lease_until IS NULL OR lease_until < $3) \
               ORDER BY updated_at, id LIMIT 1{skip_locked}) \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(owner)
        .bind(lease_until.0)
        .bind(now.0)
        .fetch_optional(&mut *b.writer().await?)
        .await
        .map_err(Into::into);
        b.written(claimed)
            .await?
            .map(ReplayJob::try_from)
            .transpose()
    }

    pub(crate) async fn update_replay_job(
        b: &impl Backend<Db = DB>,
        job: &ReplayJob,
        owner: &str,
    ) -> Result<bool> {
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
        .bind(job.id.as_str())
        .bind(owner)
        .execute(&mut *b.writer().await?)
        .await
        .map(|done| DB::rows_affected(&done) == 1)
        .map_err(Into::into);
        b.written(done).await
    }

    /// Cancels and reads the job back, in one transaction.
    pub(crate) async fn cancel_replay_job(
        b: &impl Backend<Db = DB>,
        id: &str,
        now: Millis,
    ) -> Result<Option<ReplayJob>> {
        let done = Self::cancel_job(&mut *b.writer().await?, id, now).await;
        b.written(done).await?.map(ReplayJob::try_from).transpose()
    }

    async fn cancel_job(
        conn: &mut DB::Connection,
        id: &str,
        now: Millis,
    ) -> Result<Option<JobRow>> {
        let mut tx = conn.begin().await?;
        sqlx::query(
            "UPDATE replay_jobs SET status = 'cancelled', finished_at = $1, updated_at = $1, \
               owner = NULL, lease_until = NULL \
             WHERE id = $2 AND status = 'running'",
        )
        .bind(now.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = Self::job_row(&mut *tx, id).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub(crate) async fn release_replay_jobs(b: &impl Backend<Db = DB>, owner: &str) -> Result<u64> {
        let done =
            sqlx::query("UPDATE replay_jobs SET owner = NULL, lease_until = NULL WHERE owner = $1")
                .bind(owner)
                .execute(&mut *b.writer().await?)
                .await
                .map(|done| DB::rows_affected(&done))
                .map_err(Into::into);
        b.written(done).await
    }
}

/// Implements [`ReplayJobStore`](crate::ReplayJobStore) for a [`Backend`]
/// with the statements here.
macro_rules! replay_job_store {
    ($store:ty) => {
        $crate::sql::store_impl! {
            $store, $crate::ReplayJobStore;
            {
                async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()> {
                    Sql::insert_replay_job(self, job).await
                }
                async fn get_replay_job(&self, id: &str) -> Result<Option<ReplayJob>> {
                    Sql::get_replay_job(self, id).await
                }
                async fn list_replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>> {
                    Sql::list_replay_jobs(self, limit).await
                }
                async fn claim_replay_job(
                    &self,
                    owner: &str,
                    now: Millis,
                    lease_until: Millis,
                ) -> Result<Option<ReplayJob>> {
                    Sql::claim_replay_job(self, owner, now, lease_until).await
                }
                async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool> {
                    Sql::update_replay_job(self, job, owner).await
                }
                async fn cancel_replay_job(
                    &self,
                    id: &str,
                    now: Millis,
                ) -> Result<Option<ReplayJob>> {
                    Sql::cancel_replay_job(self, id, now).await
                }
                async fn release_replay_jobs(&self, owner: &str) -> Result<u64> {
                    Sql::release_replay_jobs(self, owner).await
                }
            }
        }
    };
}
pub(crate) use replay_job_store;
