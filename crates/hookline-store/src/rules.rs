//! The queue's rules as pure functions, so that every backend moves events the
//! same way and only the SQL differs: what a completion does to its event,
//! when a replay is allowed, how big a listing page may be, and how a time
//! window becomes an id range.

use hookline_core::event::{Completion, EventStatus, NextStep};
use hookline_core::time::Millis;

/// A page of events is never larger than this, whatever the caller asks.
pub const MAX_LIST_LIMIT: u32 = 1000;
/// The page size when the caller leaves `limit` at 0.
pub const DEFAULT_LIST_LIMIT: u32 = 100;

/// The page size actually used for a requested `limit`.
pub fn list_limit(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    }
}

/// How far the time inside an event id (`evt_<ULID>`) may be from the
/// event's `received_at` for ids to stand in for time. Ingest mints both in
/// the same breath; the margin only absorbs scheduling hiccups.
pub const EVENT_ID_SLACK_MS: i64 = 5_000;

/// Whether `id` is a canonical `evt_<ULID>` minted within
/// [`EVENT_ID_SLACK_MS`] of `received_at`.
pub(crate) fn id_tracks_time(id: &str, received_at: Millis) -> bool {
    let Some(text) = id.strip_prefix("evt_") else {
        return false;
    };
    let Ok(ulid) = ulid::Ulid::from_string(text) else {
        return false;
    };
    // Lower-case spellings decode too, but sort apart from canonical ones.
    if ulid.to_string() != text {
        return false;
    }
    let minted = i64::try_from(ulid.timestamp_ms()).unwrap_or(i64::MAX);
    minted.abs_diff(received_at.0) <= EVENT_ID_SLACK_MS.unsigned_abs()
}

/// The id range `[lower, upper)` that holds every event received in
/// `[since, until)`, given that ids track time. A bound is `None` when it
/// would not narrow anything. The range is wider than the window by the
/// slack on each side, so callers still filter on `received_at`.
pub(crate) fn id_window(
    since: Option<Millis>,
    until: Option<Millis>,
) -> (Option<String>, Option<String>) {
    const ULID_TIME_LIMIT: i64 = 1 << 48;
    let id_at = |ms: i64| {
        let ms = u64::try_from(ms)
            .ok()
            .filter(|&ms| ms < ULID_TIME_LIMIT as u64)?;
        Some(format!("evt_{}", ulid::Ulid::from_parts(ms, 0)))
    };
    (
        since.and_then(|t| id_at(t.0.saturating_sub(EVENT_ID_SLACK_MS))),
        until.and_then(|t| id_at(t.0.saturating_add(EVENT_ID_SLACK_MS))),
    )
}

/// The columns a completion writes on its event (besides clearing the lease
/// and counting the attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompletionUpdate {
    pub status: EventStatus,
    pub next_attempt_at: Option<i64>,
    /// Set only when delivered; otherwise the previous value is kept.
    pub delivered_at: Option<i64>,
    pub last_response_status: Option<i64>,
    pub last_error: Option<String>,
}

pub(crate) fn completion_update(c: &Completion) -> CompletionUpdate {
    let a = &c.attempt;
    let (status, next_attempt_at, delivered_at) = match c.next {
        // The receiver acknowledged when its answer arrived.
        NextStep::Delivered => (
            EventStatus::Delivered,
            None,
            Some(
                a.started_at
                    .0
                    .saturating_add(i64::try_from(a.duration_ms).unwrap_or(i64::MAX)),
            ),
        ),
        // Between retries the event stays `delivering`: it is still on its way.
        NextStep::RetryAt(t) => (EventStatus::Delivering, Some(t.0), None),
        NextStep::Failed => (EventStatus::Failed, None, None),
        NextStep::Held => (EventStatus::Held, None, None),
    };
    CompletionUpdate {
        status,
        next_attempt_at,
        delivered_at,
        last_response_status: a.response_status.map(i64::from),
        last_error: a.error.as_ref().map(|e| e.message.clone()),
    }
}

/// Whether an event in `status`, leased until `lease_until`, may be queued
/// again at `now`; `Err` carries the status that forbids it.
///
/// Delivered and failed events may be replayed, and so may a `delivering`
/// event that nobody holds (waiting for a retry, or abandoned by a dead
/// worker). A `received` event is already queued; `held` waits for a
/// receiver; `rejected` failed verification and is never forwarded; a live
/// lease means a worker is calling the receiver right now.
pub(crate) fn requeue_allowed(
    status: EventStatus,
    lease_until: Option<i64>,
    now: Millis,
) -> Result<(), EventStatus> {
    let leased = lease_until.is_some_and(|until| until >= now.0);
    match status {
        EventStatus::Delivered | EventStatus::Failed => Ok(()),
        EventStatus::Delivering if !leased => Ok(()),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::event::{Attempt, AttemptError, ErrorKind};

    fn completion(next: NextStep) -> Completion {
        Completion {
            lease_owner: "w".into(),
            attempt: Attempt {
                id: "att_1".into(),
                event_id: "evt_1".into(),
                number: 1,
                started_at: Millis(1_000),
                duration_ms: 250,
                request_url: "https://r.example/".into(),
                response_status: Some(503),
                response_excerpt: None,
                error: Some(AttemptError {
                    kind: ErrorKind::Status,
                    message: "503 Service Unavailable".into(),
                }),
            },
            next,
        }
    }

    #[test]
    fn completion_moves_event_per_next_step() {
        let d = completion_update(&completion(NextStep::Delivered));
        assert_eq!(d.status, EventStatus::Delivered);
        assert_eq!(d.delivered_at, Some(1_250));
        assert_eq!(d.next_attempt_at, None);

        let r = completion_update(&completion(NextStep::RetryAt(Millis(9_000))));
        assert_eq!(r.status, EventStatus::Delivering);
        assert_eq!(r.next_attempt_at, Some(9_000));
        assert_eq!(r.last_response_status, Some(503));
        assert_eq!(r.last_error.as_deref(), Some("503 Service Unavailable"));

        assert_eq!(
            completion_update(&completion(NextStep::Failed)).status,
            EventStatus::Failed
        );
        assert_eq!(
            completion_update(&completion(NextStep::Held)).status,
            EventStatus::Held
        );
    }

    #[test]
    fn requeue_rules() {
        let now = Millis(100);
        assert_eq!(requeue_allowed(EventStatus::Delivered, None, now), Ok(()));
        assert_eq!(requeue_allowed(EventStatus::Failed, None, now), Ok(()));
        assert_eq!(requeue_allowed(EventStatus::Delivering, None, now), Ok(()));
        assert_eq!(
            requeue_allowed(EventStatus::Delivering, Some(99), now),
            Ok(())
        );
        assert_eq!(
            requeue_allowed(EventStatus::Delivering, Some(100), now),
            Err(EventStatus::Delivering)
        );
        for s in [
            EventStatus::Rejected,
            EventStatus::Held,
            EventStatus::Received,
        ] {
            assert_eq!(requeue_allowed(s, None, now), Err(s));
        }
    }

    #[test]
    fn ids_track_time_only_when_canonical_and_close() {
        let t = Millis(1_700_000_000_000);
        let id = |ms: i64| format!("evt_{}", ulid::Ulid::from_parts(ms as u64, 12345));
        assert!(id_tracks_time(&id(t.0), t));
        assert!(id_tracks_time(&id(t.0 - EVENT_ID_SLACK_MS), t));
        assert!(!id_tracks_time(&id(t.0 + EVENT_ID_SLACK_MS + 1), t));
        assert!(!id_tracks_time(&id(t.0).to_lowercase(), t));
        assert!(!id_tracks_time("evt_0001", t));
        assert!(!id_tracks_time(&id(t.0).replace("evt_", "msg_"), t));
    }

    #[test]
    fn id_window_holds_every_tracking_id_of_the_time_window() {
        let since = Millis(1_700_000_000_000);
        let until = Millis(1_700_000_060_000);
        let (lo, hi) = id_window(Some(since), Some(until));
        let (lo, hi) = (lo.unwrap(), hi.unwrap());
        for (minted, received) in [
            (since.0 - EVENT_ID_SLACK_MS, since.0),
            (until.0 - 1 + EVENT_ID_SLACK_MS, until.0 - 1),
        ] {
            let id = format!(
                "evt_{}",
                ulid::Ulid::from_parts(minted as u64, u128::MAX >> 48)
            );
            assert!(id_tracks_time(&id, Millis(received)));
            assert!(lo <= id && id < hi, "{lo} <= {id} < {hi}");
        }
        assert_eq!(id_window(None, None), (None, None));
        assert_eq!(
            id_window(Some(Millis(0)), Some(Millis(i64::MAX))),
            (None, None)
        );
    }

    #[test]
    fn limits_are_capped_and_defaulted() {
        assert_eq!(list_limit(0), DEFAULT_LIST_LIMIT);
        assert_eq!(list_limit(7), 7);
        assert_eq!(list_limit(50_000), MAX_LIST_LIMIT);
    }
}
