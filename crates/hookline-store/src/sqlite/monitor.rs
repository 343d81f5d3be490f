//! Monitoring reads and writes: events by id (bulk replay), queue gauges,
//! and, through the shared SQL ([`crate::sql`]), per-minute traffic, health
//! inputs and records.
//!
//! Reads go through the reader pool; the health record is written on the
//! writer like everything else.

use super::{Sql, SqliteStore};
use crate::codec::{event_columns, EventRow};
use crate::monitor::{QueueStats, RegistrationHealth, RegistrationLoad, Traffic, TrafficQuery};
use crate::{Result, StatsStore};
use async_trait::async_trait;
use hookline_core::event::Event;
use hookline_core::time::Millis;
use sqlx::{QueryBuilder, Sqlite};

/// Ids per `IN (…)` list, well under SQLite's bound-parameter limit.
const IN_CHUNK: usize = 500;

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

#[async_trait]
impl StatsStore for SqliteStore {
    async fn queue_stats(&self) -> Result<QueueStats> {
        queue_stats(self).await
    }
    async fn traffic(&self, query: &TrafficQuery) -> Result<Traffic> {
        Sql::traffic(&self.reader, query).await
    }
    async fn registration_loads(&self, since: Millis) -> Result<Vec<RegistrationLoad>> {
        Sql::registration_loads(&self.reader, since).await
    }
    async fn list_registration_health(&self) -> Result<Vec<RegistrationHealth>> {
        Sql::list_registration_health(&self.reader).await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        let saved = Sql::save_registration_health(&mut *self.write().await?, health).await;
        self.written(saved).await
    }
}
