//! Values of the monitoring side of the store: queue gauges, per-minute
//! traffic for charts, the inputs and recorded state of registration health,
//! and bulk replay jobs. The methods that read and write them are
//! [`StatsStore`](crate::StatsStore) and
//! [`ReplayJobStore`](crate::ReplayJobStore).

use crate::EventFilter;
use hookline_core::event::EventStatus;
use hookline_core::time::Millis;
use serde::{Deserialize, Serialize};

/// What `/metrics` reports about the delivery queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Queued deliveries (due now or waiting for a retry), leased or not.
    pub queued: u64,
    /// `received_at` of the event of the oldest queued delivery.
    pub oldest_queued_received_at: Option<Millis>,
    /// Deliveries parked until their registration gets a receiver.
    pub held: u64,
}

/// Traffic of one registration (or all, when `registration_id` is `None`)
/// in `[since, until)`, cut into buckets of `bucket_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficQuery {
    pub registration_id: Option<String>,
    pub since: Millis,
    pub until: Millis,
    pub bucket_ms: i64,
    /// Most delivery latencies returned (the newest are kept).
    pub max_latencies: u32,
}

/// Counts of one bucket; `start` is `since + k * bucket_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficBucket {
    pub start: Millis,
    /// Events received that passed verification.
    pub received: u64,
    /// Events received that failed verification.
    pub rejected: u64,
    /// Attempts that the receiver acknowledged (each one delivers an event),
    /// by the time the answer came.
    pub delivered: u64,
    /// Attempts that made a call and did not succeed, by start time.
    pub failed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// One per bucket of the window, oldest first, empty ones included.
    pub buckets: Vec<TrafficBucket>,
    /// Received → delivered, in milliseconds, of the successful attempts
    /// in the window (at most `max_latencies`, unordered).
    pub latencies_ms: Vec<i64>,
}

/// What health is judged on, for one registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationLoad {
    pub registration_id: String,
    /// Attempts that made a call, started at or after the window's start.
    pub attempts: u64,
    /// Of those, the ones that did not succeed.
    pub failed_attempts: u64,
    /// Queued events of the registration.
    pub backlog: u64,
    pub oldest_backlog_received_at: Option<Millis>,
}

/// The last judgement of a registration's health, as recorded by a health
/// check. A registration without a record is healthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationHealth {
    pub registration_id: String,
    pub healthy: bool,
    /// Why it is unhealthy (empty when healthy).
    pub reasons: Vec<String>,
    /// When `healthy` last changed.
    pub since: Millis,
    pub checked_at: Millis,
    pub attempts: u64,
    pub failed_attempts: u64,
    pub backlog: u64,
    pub oldest_backlog_received_at: Option<Millis>,
}

/// The filter of a bulk replay, kept with its job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayFilter {
    pub product_tag: Option<String>,
    pub access_tag: Option<String>,
    pub webhook_tag: Option<String>,
    pub event_type: Option<String>,
    pub env: Option<String>,
    pub status: Option<EventStatus>,
    pub registration_id: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// Only events with an id strictly less than this: set when the job is
    /// created to an event id minted then, so that events received after
    /// the job was created are not part of it (see
    /// `hookline::service::Monitor::create_replay`). `None` in jobs stored
    /// before it existed, whose `until` was capped instead.
    pub before_id: Option<String>,
}

impl ReplayFilter {
    /// The same filter for listing and counting (default page).
    pub fn to_event_filter(&self) -> EventFilter {
        EventFilter {
            product_tag: self.product_tag.clone(),
            access_tag: self.access_tag.clone(),
            webhook_tag: self.webhook_tag.clone(),
            event_type: self.event_type.clone(),
            env: self.env.clone(),
            status: self.status,
            registration_id: self.registration_id.clone(),
            since: self.since,
            until: self.until,
            before_id: self.before_id.clone(),
            limit: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    Running,
    Completed,
    Cancelled,
}

impl ReplayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Completed, Self::Cancelled]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A bulk replay: every event matching `filter` received before the job
/// was created, replayed oldest first at most `rate` per second. `cursor`
/// is the id of the last event handled, so a job resumes where it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayJob {
    pub id: String,
    pub status: ReplayStatus,
    pub filter: ReplayFilter,
    /// Events per second.
    pub rate: u32,
    /// Events matching the filter when the job was created.
    pub total: u64,
    /// Events queued again.
    pub replayed: u64,
    /// Events that matched but could not be replayed (rejected, held,
    /// already queued, or being delivered right now).
    pub skipped: u64,
    pub cursor: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub finished_at: Option<Millis>,
    /// The node working on it, while its lease runs.
    pub owner: Option<String>,
    pub lease_until: Option<Millis>,
}
