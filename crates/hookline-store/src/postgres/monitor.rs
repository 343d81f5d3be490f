//! Monitoring reads and writes: events by id (bulk replay), queue gauges,
//! and, through the shared SQL ([`crate::sql`]), per-minute traffic, health
//! inputs and records, for several nodes at once.

use super::{PgStore, Sql};
use crate::codec::{event_columns, EventRow};
use crate::monitor::{QueueStats, RegistrationHealth, RegistrationLoad, Traffic, TrafficQuery};
use crate::{Result, StatsStore};
use async_trait::async_trait;
use hookline_core::event::Event;
use hookline_core::time::Millis;

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
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

#[async_trait]
impl StatsStore for PgStore {
    async fn queue_stats(&self) -> Result<QueueStats> {
        queue_stats(self).await
    }
    async fn traffic(&self, query: &TrafficQuery) -> Result<Traffic> {
        Sql::traffic(&self.pool, query).await
    }
    async fn registration_loads(&self, since: Millis) -> Result<Vec<RegistrationLoad>> {
        Sql::registration_loads(&self.pool, since).await
    }
    async fn list_registration_health(&self) -> Result<Vec<RegistrationHealth>> {
        Sql::list_registration_health(&self.pool).await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        Sql::save_registration_health(&mut *self.pool.acquire().await?, health).await
    }
}
