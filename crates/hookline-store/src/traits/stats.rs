use crate::monitor::{QueueStats, RegistrationHealth, RegistrationLoad, Traffic, TrafficQuery};
use crate::Result;
use async_trait::async_trait;
use hookline_core::time::Millis;

/// What monitoring reads and records (values in [`crate::monitor`]): queue
/// gauges for `/metrics`, traffic for charts, the load of each registration,
/// and the health judged from it.
#[async_trait]
pub trait StatsStore: Send + Sync {
    async fn queue_stats(&self) -> Result<QueueStats>;
    async fn traffic(&self, query: &TrafficQuery) -> Result<Traffic>;
    /// Attempt outcomes since `since` and current backlog, for every
    /// registration that has either (registrations with neither are absent).
    async fn registration_loads(&self, since: Millis) -> Result<Vec<RegistrationLoad>>;
    async fn list_registration_health(&self) -> Result<Vec<RegistrationHealth>>;
    /// Records a health judgement. Returns true when `healthy` differs from
    /// the previous record (none counts as healthy): exactly one of several
    /// nodes judging the same change gets true, and it sends the notification.
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool>;
}
