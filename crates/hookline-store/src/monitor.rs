//! Values of the monitoring side of the store: queue gauges, per-minute
//! traffic for charts, the inputs and recorded state of registration health,
//! and bulk replay jobs. The methods that read and write them are
//! [`StatsStore`](crate::StatsStore) and
//! [`ReplayJobStore`](crate::ReplayJobStore).

use crate::EventFilter;
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
    /// Stored as JSON; `limit` is not part of it.
    pub filter: EventFilter,
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

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::event::EventStatus;

    /// A job's filter as jobs store it today (`sql::background`).
    const STORED: &str = r#"{"product_tag":"shop","access_tag":null,"webhook_tag":null,"event_type":"invoice.paid","env":null,"status":"failed","registration_id":"reg_1","since":1700000000000,"until":1700000600000,"before_id":"evt_bound"}"#;

    fn stored_filter() -> EventFilter {
        EventFilter {
            product_tag: Some("shop".into()),
            event_type: Some("invoice.paid".into()),
            status: Some(EventStatus::Failed),
            registration_id: Some("reg_1".into()),
            since: Some(Millis(1_700_000_000_000)),
            until: Some(Millis(1_700_000_600_000)),
            before_id: Some("evt_bound".into()),
            ..EventFilter::default()
        }
    }

    #[test]
    fn stored_replay_filters_still_read() {
        let f: EventFilter = serde_json::from_str(STORED).unwrap();
        assert_eq!(f, stored_filter());
        // Jobs stored before `before_id` existed.
        let old = r#"{"product_tag":null,"access_tag":null,"webhook_tag":null,"event_type":null,"env":null,"status":null,"registration_id":null,"since":null,"until":1700000600000}"#;
        let f: EventFilter = serde_json::from_str(old).unwrap();
        assert_eq!(
            f,
            EventFilter {
                until: Some(Millis(1_700_000_600_000)),
                ..EventFilter::default()
            }
        );
    }

    #[test]
    fn replay_filters_are_stored_as_before() {
        // Same document as earlier versions write, so they read it too; the
        // page size is not part of it.
        let f = EventFilter {
            limit: 200,
            ..stored_filter()
        };
        assert_eq!(serde_json::to_string(&f).unwrap(), STORED);
    }
}
