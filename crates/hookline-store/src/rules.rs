//! The queue's rules as pure functions, so that every backend moves events the
//! same way and only the SQL differs: what a completion does to its event,
//! when a replay is allowed, how big a listing page may be, and how a time
//! window becomes an id range.

use crate::Claimed;
use hookline_core::event::{
    Completion, Delivery, DeliveryStatus, Event, EventStatus, NextStep, Payload,
};
use hookline_core::model::{primary_destination_id, Registration};
use hookline_core::time::Millis;
use std::collections::HashMap;

/// The id of an event's delivery to its registration's primary destination:
/// the event's own id under the `dlv_` prefix (as the migration that made
/// deliveries named those of the events stored before it).
pub fn primary_delivery_id(event_id: &str) -> String {
    let tail = event_id.strip_prefix("evt_").unwrap_or(event_id);
    format!("dlv_{tail}")
}

/// The delivery an event gets when it is stored, to its registration's one
/// destination, in the state the event's summary fields describe: a new
/// event is `received` (a `pending` delivery due at `next_attempt_at`) or
/// `held`; fixtures and imports may store any state. A `rejected` event is
/// never forwarded and gets none.
pub(crate) fn initial_delivery(e: &Event) -> Option<Delivery> {
    let status = match e.status {
        EventStatus::Rejected => return None,
        EventStatus::Received => DeliveryStatus::Pending,
        // Nobody holds a lease on what is only now stored: waiting for a
        // retry, or a claim whose worker is gone.
        EventStatus::Delivering if e.attempts > e.retry_base => DeliveryStatus::Pending,
        EventStatus::Delivering => DeliveryStatus::Delivering,
        EventStatus::Delivered => DeliveryStatus::Delivered,
        EventStatus::Failed => DeliveryStatus::Failed,
        EventStatus::Held => DeliveryStatus::Held,
    };
    Some(Delivery {
        id: primary_delivery_id(&e.id),
        event_id: e.id.clone(),
        registration_id: e.registration_id.clone(),
        destination_id: primary_destination_id(&e.registration_id),
        status,
        attempts: e.attempts,
        retry_base: e.retry_base,
        next_attempt_at: e.next_attempt_at,
        delivered_at: e.delivered_at,
        last_response_status: e.last_response_status,
        last_error: e.last_error.clone(),
        created_at: e.received_at,
        updated_at: e.updated_at,
    })
}

/// An event's status as its deliveries make it (`None`: it has none). In
/// order: one in flight, or waiting for a retry, makes it `delivering`; one
/// queued and not yet tried `received`; one held (or paused) `held`; one
/// failed `failed`; otherwise all are done: `delivered`. With one delivery
/// this is exactly the status events had before deliveries existed.
/// [`SUMMARY_STATUS_SQL`] is the same rule in SQL.
pub fn summary_status(deliveries: &[Delivery]) -> Option<EventStatus> {
    if deliveries.is_empty() {
        return None;
    }
    let any = |f: &dyn Fn(&Delivery) -> bool| deliveries.iter().any(f);
    Some(
        if any(&|d| {
            d.status == DeliveryStatus::Delivering
                || (d.status == DeliveryStatus::Pending && d.attempts > d.retry_base)
        }) {
            EventStatus::Delivering
        } else if any(&|d| d.status == DeliveryStatus::Pending) {
            EventStatus::Received
        } else if any(&|d| matches!(d.status, DeliveryStatus::Held | DeliveryStatus::Paused)) {
            EventStatus::Held
        } else if any(&|d| d.status == DeliveryStatus::Failed) {
            EventStatus::Failed
        } else {
            EventStatus::Delivered
        },
    )
}

/// [`summary_status`] as an aggregate over the deliveries `d` of one event,
/// the same text on every backend.
macro_rules! summary_status_sql {
    () => {
        "CASE \
           WHEN MAX(CASE WHEN d.status = 'delivering' \
                 OR (d.status = 'pending' AND d.attempts > d.retry_base) THEN 1 ELSE 0 END) = 1 \
             THEN 'delivering' \
           WHEN MAX(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END) = 1 THEN 'received' \
           WHEN MAX(CASE WHEN d.status IN ('held', 'paused') THEN 1 ELSE 0 END) = 1 THEN 'held' \
           WHEN MAX(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) = 1 THEN 'failed' \
           ELSE 'delivered' END"
    };
}

/// The statement that writes the summary of the events whose deliveries
/// changed, up to the predicate that names them (on `d.event_id`), which
/// the caller appends followed by [`SUMMARIZE_TAIL`]. It runs in the
/// transaction that changed the deliveries. The event's `updated_at` is
/// its deliveries' latest change, and its last outcome that of the delivery
/// that changed last: with one delivery (every event until fan-out) that
/// is the group's own values, so the lookups of the latest one run only for
/// events with several.
macro_rules! summarize_head {
    () => {
        concat!(
    "UPDATE events SET status = s.status, attempts = s.attempts, retry_base = s.retry_base, \
       next_attempt_at = s.next_attempt_at, delivered_at = s.delivered_at, \
       updated_at = s.updated_at, \
       last_response_status = CASE WHEN s.n = 1 THEN s.last_response_status \
         ELSE (SELECT l.last_response_status FROM deliveries l \
         WHERE l.event_id = events.id ORDER BY l.updated_at DESC, l.id DESC LIMIT 1) END, \
       last_error = CASE WHEN s.n = 1 THEN s.last_error \
         ELSE (SELECT l.last_error FROM deliveries l \
         WHERE l.event_id = events.id ORDER BY l.updated_at DESC, l.id DESC LIMIT 1) END \
     FROM (SELECT d.event_id AS id, COUNT(*) AS n, \
       MAX(d.last_response_status) AS last_response_status, MAX(d.last_error) AS last_error, ",
    summary_status_sql!(),
    " AS status, CAST(SUM(d.attempts) AS BIGINT) AS attempts, \
       MIN(d.retry_base) AS retry_base, MIN(d.next_attempt_at) AS next_attempt_at, \
       MAX(d.delivered_at) AS delivered_at, MAX(d.updated_at) AS updated_at \
       FROM deliveries d WHERE "
        )
    };
}
macro_rules! summarize_tail {
    () => {
        " GROUP BY d.event_id) AS s WHERE events.id = s.id"
    };
}
/// [`SUMMARIZE_HEAD`], the predicate, [`SUMMARIZE_TAIL`] as one literal.
macro_rules! concat_summarize {
    ($predicate:literal) => {
        concat!(summarize_head!(), $predicate, summarize_tail!())
    };
}
pub(crate) const SUMMARIZE_HEAD: &str = summarize_head!();
/// See [`SUMMARIZE_HEAD`].
pub(crate) const SUMMARIZE_TAIL: &str = summarize_tail!();

/// Queues the held deliveries of registration `$2`, due at `$1`, with the
/// schedule restarting: they never had a chance. (`status = 'held'` is a
/// literal so the partial index applies.) [`SUMMARIZE_RELEASED`] follows.
pub(crate) const RELEASE_HELD: &str =
    "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, retry_base = attempts, \
       updated_at = $1 \
     WHERE registration_id = $2 AND status = 'held'";

/// The summary of registration `$1`'s events that [`RELEASE_HELD`] queued.
pub(crate) const SUMMARIZE_RELEASED: &str = concat_summarize!(
    "d.event_id IN (SELECT id FROM events WHERE registration_id = $1 AND status = 'held')"
);

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

/// The events of a group of completions, each once: the ones whose summary
/// the group's transaction rewrites.
pub(crate) fn completed_events(completions: &[Completion]) -> Vec<&str> {
    let mut ids: Vec<&str> = completions
        .iter()
        .map(|c| c.attempt.event_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Claimed deliveries matched with their events (with payloads) and
/// registrations, as loaded by id after the claim. A delivery whose event or
/// registration is missing or unreadable comes back apart, with the reason:
/// it can never be made, and the backend marks it failed.
#[allow(clippy::type_complexity)]
pub(crate) fn assemble_claims(
    deliveries: Vec<Delivery>,
    events: &HashMap<String, Result<(Event, Payload), String>>,
    registrations: &HashMap<String, Result<Registration, String>>,
) -> (Vec<Claimed>, Vec<(Delivery, String)>) {
    let mut claimed = Vec::with_capacity(deliveries.len());
    let mut undeliverable = Vec::new();
    for delivery in deliveries {
        let registration = match registrations.get(&delivery.registration_id) {
            Some(Ok(reg)) => reg,
            Some(Err(why)) => {
                undeliverable.push((delivery, why.clone()));
                continue;
            }
            None => {
                let why = format!("registration {} does not exist", delivery.registration_id);
                undeliverable.push((delivery, why));
                continue;
            }
        };
        match events.get(&delivery.event_id) {
            Some(Ok((event, payload))) => claimed.push(Claimed {
                event: event.clone(),
                payload: payload.clone(),
                delivery,
                registration: registration.clone(),
                unreadable_secrets: None,
            }),
            Some(Err(why)) => {
                let why = why.clone();
                undeliverable.push((delivery, why));
            }
            None => undeliverable.push((delivery, "its event is missing".to_owned())),
        }
    }
    (claimed, undeliverable)
}

/// The columns a completion writes on its delivery (besides clearing the
/// lease and counting the attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompletionUpdate {
    pub status: DeliveryStatus,
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
            DeliveryStatus::Delivered,
            None,
            Some(
                a.started_at
                    .0
                    .saturating_add(i64::try_from(a.duration_ms).unwrap_or(i64::MAX)),
            ),
        ),
        // Waiting for its next attempt; the event still reads `delivering`.
        NextStep::RetryAt(t) => (DeliveryStatus::Pending, Some(t.0), None),
        NextStep::Failed => (DeliveryStatus::Failed, None, None),
        NextStep::Held => (DeliveryStatus::Held, None, None),
    };
    CompletionUpdate {
        status,
        next_attempt_at,
        delivered_at,
        last_response_status: a.response_status.map(i64::from),
        last_error: a.error.as_ref().map(|e| e.message.clone()),
    }
}

/// Whether a delivery in `status` with these counts, leased until
/// `lease_until`, may be queued again at `now`.
///
/// Delivered and failed deliveries may be replayed, and so may one waiting
/// for a retry or abandoned by a dead worker. One queued and not yet tried
/// is queued already; `held` waits for a receiver, `filtered` and `paused`
/// for their destination; a live lease means a worker is calling the
/// destination right now.
pub(crate) fn requeue_allowed(d: &Delivery, lease_until: Option<i64>, now: Millis) -> bool {
    let leased = lease_until.is_some_and(|until| until >= now.0);
    match d.status {
        DeliveryStatus::Delivered | DeliveryStatus::Failed => true,
        DeliveryStatus::Delivering => !leased,
        DeliveryStatus::Pending => !leased && d.attempts > d.retry_base,
        DeliveryStatus::Held | DeliveryStatus::Filtered | DeliveryStatus::Paused => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::event::{Attempt, AttemptError, ErrorKind};
    use hookline_core::testing::{DeliveryBuilder, EventBuilder};

    fn completion(next: NextStep) -> Completion {
        Completion {
            lease_owner: "w".into(),
            attempt: Attempt {
                id: "att_1".into(),
                event_id: "evt_1".into(),
                delivery_id: "dlv_1".into(),
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
    fn completion_moves_delivery_per_next_step() {
        let d = completion_update(&completion(NextStep::Delivered));
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(d.delivered_at, Some(1_250));
        assert_eq!(d.next_attempt_at, None);

        let r = completion_update(&completion(NextStep::RetryAt(Millis(9_000))));
        assert_eq!(r.status, DeliveryStatus::Pending);
        assert_eq!(r.next_attempt_at, Some(9_000));
        assert_eq!(r.last_response_status, Some(503));
        assert_eq!(r.last_error.as_deref(), Some("503 Service Unavailable"));

        assert_eq!(
            completion_update(&completion(NextStep::Failed)).status,
            DeliveryStatus::Failed
        );
        assert_eq!(
            completion_update(&completion(NextStep::Held)).status,
            DeliveryStatus::Held
        );
    }

    fn delivery(status: DeliveryStatus, attempts: u32, retry_base: u32) -> Delivery {
        DeliveryBuilder::new()
            .status(status)
            .attempts(attempts)
            .retry_base(retry_base)
            .created_at(Millis(0))
            .updated_at(Millis(0))
            .build()
    }

    #[test]
    fn requeue_rules() {
        use DeliveryStatus::*;
        let now = Millis(100);
        assert!(requeue_allowed(&delivery(Delivered, 1, 0), None, now));
        assert!(requeue_allowed(&delivery(Failed, 5, 0), None, now));
        // Abandoned by a dead worker, or waiting for a retry.
        assert!(requeue_allowed(&delivery(Delivering, 0, 0), Some(99), now));
        assert!(requeue_allowed(&delivery(Pending, 2, 0), None, now));
        assert!(!requeue_allowed(
            &delivery(Delivering, 0, 0),
            Some(100),
            now
        ));
        // Queued and not yet tried: queued already.
        assert!(!requeue_allowed(&delivery(Pending, 0, 0), None, now));
        assert!(!requeue_allowed(&delivery(Pending, 3, 3), None, now));
        for s in [Held, Filtered, Paused] {
            assert!(!requeue_allowed(&delivery(s, 0, 0), None, now), "{s:?}");
        }
    }

    #[test]
    fn summary_status_reads_as_one_delivery_did_and_orders_many() {
        use DeliveryStatus::*;
        let one = |s, a, b| summary_status(&[delivery(s, a, b)]);
        assert_eq!(one(Pending, 0, 0), Some(EventStatus::Received));
        assert_eq!(one(Pending, 3, 3), Some(EventStatus::Received));
        assert_eq!(one(Pending, 1, 0), Some(EventStatus::Delivering));
        assert_eq!(one(Delivering, 0, 0), Some(EventStatus::Delivering));
        assert_eq!(one(Delivered, 1, 0), Some(EventStatus::Delivered));
        assert_eq!(one(Failed, 5, 0), Some(EventStatus::Failed));
        assert_eq!(one(Held, 0, 0), Some(EventStatus::Held));
        assert_eq!(summary_status(&[]), None);
        let many = |ds: &[(DeliveryStatus, u32)]| {
            summary_status(
                &ds.iter()
                    .map(|&(s, a)| delivery(s, a, 0))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            many(&[(Delivered, 1), (Pending, 0), (Failed, 3)]),
            Some(EventStatus::Received)
        );
        assert_eq!(
            many(&[(Held, 0), (Pending, 2)]),
            Some(EventStatus::Delivering)
        );
        assert_eq!(many(&[(Delivered, 1), (Held, 0)]), Some(EventStatus::Held));
        assert_eq!(
            many(&[(Delivered, 1), (Failed, 1)]),
            Some(EventStatus::Failed)
        );
        assert_eq!(
            many(&[(Delivered, 1), (Filtered, 0)]),
            Some(EventStatus::Delivered)
        );
    }

    #[test]
    fn initial_delivery_follows_the_event() {
        let e = EventBuilder::new()
            .id("evt_01ABC")
            .registration_id("reg_01XYZ")
            .tags("p", "a", "w")
            .received_at(Millis(5))
            .due(Millis(5))
            .build();
        let d = initial_delivery(&e).unwrap();
        assert_eq!(
            (d.id.as_str(), d.destination_id.as_str()),
            ("dlv_01ABC", "dst_01XYZ")
        );
        assert_eq!(
            (d.status, d.next_attempt_at),
            (DeliveryStatus::Pending, Some(Millis(5)))
        );
        let held = EventBuilder::from(e.clone())
            .status(EventStatus::Held)
            .next_attempt_at(None)
            .build();
        assert_eq!(
            initial_delivery(&held).unwrap().status,
            DeliveryStatus::Held
        );
        let rejected = EventBuilder::from(e).status(EventStatus::Rejected).build();
        assert_eq!(initial_delivery(&rejected), None);
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
