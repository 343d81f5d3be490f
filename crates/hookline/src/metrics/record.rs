//! Recording functions: what ingest, the replay runner, the health checks
//! and the HTTP middleware call to count and time what they do, with the
//! labels each metric carries. They go through the `metrics` facade, so
//! callers need neither the recorder nor anything of the HTTP layer.

use super::names::*;
use hookline_core::event::EventStatus;
use hookline_core::model::Registration;
use std::time::Duration;

fn labels(reg: &Registration) -> [(&'static str, String); 3] {
    [
        ("product", reg.product_tag.to_string()),
        ("app", reg.app_tag.to_string()),
        ("env", reg.env.to_string()),
    ]
}

/// Counts one stored ingest call; ingest calls it after the commit.
pub fn ingested(reg: &Registration, status: EventStatus) {
    let name = if status == EventStatus::Rejected {
        EVENTS_REJECTED
    } else {
        EVENTS_RECEIVED
    };
    ::metrics::counter!(name, &labels(reg)).increment(1);
}

/// A rejected call that was counted but not stored (over the per-address limit).
pub fn rejected_unstored(reg: &Registration) {
    ::metrics::counter!(EVENTS_REJECTED_UNSTORED, &labels(reg)).increment(1);
}

/// One event queued again by a bulk replay.
pub fn replayed() {
    ::metrics::counter!(REPLAYED).increment(1);
}

/// One attempt to send a health change notification of `kind`
/// (`registration.healthy`, `registration.unhealthy`).
pub fn health_notification(kind: &'static str, sent: bool) {
    let outcome = if sent { "sent" } else { "failed" };
    ::metrics::counter!(HEALTH_NOTIFICATIONS, "kind" => kind, "outcome" => outcome).increment(1);
}

/// One HTTP request answered: `route` is the route template
/// (`/api/v1/events/{id}`), never the concrete path, so ids do not explode
/// the label set.
pub fn http_request(method: String, route: String, status: u16, took: Duration) {
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    ::metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    ::metrics::histogram!(HTTP_DURATION, &labels).record(took.as_secs_f64());
}
