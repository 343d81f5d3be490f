//! The name and help text of every metric Hookline exports. Recorded series
//! are described to the recorder once (`describe`); the gauges read from
//! the store on each scrape are written with their help text by the
//! `/metrics` handler (`crate::api::metrics`).

/// Calls on ingest links that passed verification (stored `received` or `held`).
pub const EVENTS_RECEIVED: &str = "hookline_events_received_total";
/// Calls on ingest links that failed verification (stored `rejected`).
pub const EVENTS_REJECTED: &str = "hookline_events_rejected_total";
/// Rejected calls counted but not stored (over `ingest.rejected_per_minute`).
pub const EVENTS_REJECTED_UNSTORED: &str = "hookline_events_rejected_unstored_total";
/// Recorded by the delivery worker (`hookline-delivery`), described here.
pub use hookline_delivery::worker::metric_names::{
    ATTEMPTS, ATTEMPT_DURATION, DELIVERY_LATENCY, EVENTS_DELIVERED, EVENTS_FAILED,
};
pub const HTTP_REQUESTS: &str = "hookline_http_requests_total";
pub const HTTP_DURATION: &str = "hookline_http_request_duration_seconds";
pub const REPLAYED: &str = "hookline_replay_events_total";
pub const HEALTH_NOTIFICATIONS: &str = "hookline_health_notifications_total";

/// Gauges read from the store on each scrape, so that every node reports
/// the shared database's truth.
pub const QUEUE_DEPTH: &str = "hookline_queue_depth";
pub const QUEUE_OLDEST_AGE: &str = "hookline_queue_oldest_age_seconds";
pub const EVENTS_HELD: &str = "hookline_events_held";
pub const REGISTRATIONS_UNHEALTHY: &str = "hookline_registrations_unhealthy";

/// Gives the recorder the help text (and unit) of every recorded metric.
pub(super) fn describe() {
    use ::metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        EVENTS_RECEIVED,
        "Calls on ingest links that passed verification, by product, app and env."
    );
    describe_counter!(
        EVENTS_REJECTED,
        "Calls on ingest links that failed verification, by product, app and env."
    );
    describe_counter!(
        EVENTS_REJECTED_UNSTORED,
        "Rejected calls not stored because their link and address were over ingest.rejected_per_minute."
    );
    describe_counter!(
        EVENTS_DELIVERED,
        "Events a receiver acknowledged with a 2xx."
    );
    describe_counter!(EVENTS_FAILED, "Events whose retries ran out.");
    describe_counter!(
        ATTEMPTS,
        "Delivery attempts, by outcome (success, failure)."
    );
    describe_histogram!(
        DELIVERY_LATENCY,
        Unit::Seconds,
        "From receipt to the receiver's acknowledgement, retries included."
    );
    describe_histogram!(
        ATTEMPT_DURATION,
        Unit::Seconds,
        "Duration of one delivery attempt."
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests served, by method, route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (to the response head; streams stay open longer)."
    );
    describe_counter!(REPLAYED, "Events queued again by bulk replays.");
    describe_counter!(
        HEALTH_NOTIFICATIONS,
        "Health change notifications sent, by kind and outcome."
    );
}
