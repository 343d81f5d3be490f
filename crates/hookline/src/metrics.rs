//! Prometheus metrics: the process-wide recorder, the names and help texts
//! of every metric Hookline records, the HTTP middleware that counts and
//! times requests, and `GET /metrics`.
//!
//! Code records through the `metrics` facade (`counter!`, `histogram!`), so
//! the delivery crate needs no handle; this module installs the one global
//! recorder on the first [`install`] (a process runs one application; tests
//! run several, which then share it) and renders it on scrape. Gauges that
//! describe the database (queue depth, oldest queued event, held events) are
//! read from the store on each scrape instead, so every node of a cluster
//! reports the same truth without a background refresher.

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::error::Error;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookline_core::event::EventStatus;
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

/// Calls on ingest links that passed verification (stored `received` or `held`).
pub const EVENTS_RECEIVED: &str = "hookline_events_received_total";
/// Calls on ingest links that failed verification (stored `rejected`).
pub const EVENTS_REJECTED: &str = "hookline_events_rejected_total";
pub const EVENTS_REJECTED_UNSTORED: &str = "hookline_events_rejected_unstored_total";
pub use hookline_delivery::worker::metric_names::{
    ATTEMPTS, ATTEMPT_DURATION, DELIVERY_LATENCY, EVENTS_DELIVERED, EVENTS_FAILED,
};
pub const HTTP_REQUESTS: &str = "hookline_http_requests_total";
pub const HTTP_DURATION: &str = "hookline_http_request_duration_seconds";
pub const REPLAYED: &str = "hookline_replay_events_total";
pub const HEALTH_NOTIFICATIONS: &str = "hookline_health_notifications_total";

/// Seconds, from a few milliseconds (a local receiver) to the hours a
/// retried event may take.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    7200.0, 36000.0,
];
/// Seconds, for one HTTP exchange (bounded by the delivery timeout).
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once per process and returns its handle.
///
/// If another recorder was installed first (an embedding program's), the
/// handle renders a recorder nobody records into, and a warning says so.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(DELIVERY_LATENCY.to_owned()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_duration_seconds".to_owned()), DURATION_BUCKETS)
                })
                .expect("bucket lists are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if ::metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will not see Hookline's metrics");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
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

/// Counts and times HTTP requests by route template (`/api/v1/events/{id}`,
/// never the concrete path, so ids do not explode the label set).
pub async fn track_http(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    ::metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    ::metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Prometheus text exposition of this node's metrics plus the queue gauges.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, body = crate::api::error::ErrorBody, description = "`metrics.require_key` is on and no valid key was sent"),
        (status = 429, body = crate::api::error::ErrorBody, description = "Too many invalid management keys from this address (`too_many_requests`)")))]
pub async fn scrape(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if !s.monitor.metrics_enabled {
        return Err(ApiError(Error::not_found(
            "route",
            "GET /metrics (metrics.enabled is off)",
        )));
    }
    if s.monitor.metrics_require_key {
        let client = crate::api::extract::client_ip(req.extensions());
        crate::api::monitor::authenticate(&s, req.headers(), client, None).await?;
    }
    let handle = &s.monitor.metrics;
    handle.run_upkeep();
    let mut text = handle.render();
    let q = s.gateway.store.queue_stats().await.map_err(Error::from)?;
    let age = q
        .oldest_queued_received_at
        .map_or(0.0, |t| ((Millis::now().0 - t.0).max(0) as f64) / 1000.0);
    let unhealthy = s
        .gateway
        .store
        .list_registration_health()
        .await
        .map_err(Error::from)?
        .iter()
        .filter(|h| !h.healthy)
        .count();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    };
    gauge(
        "hookline_queue_depth",
        "Queued events (due or waiting for a retry), all registrations.",
        q.queued as f64,
    );
    gauge(
        "hookline_queue_oldest_age_seconds",
        "Age of the oldest queued event (0 when none).",
        age,
    );
    gauge(
        "hookline_events_held",
        "Events held until their registration gets a receiver.",
        q.held as f64,
    );
    gauge(
        "hookline_registrations_unhealthy",
        "Registrations the last health check found unhealthy.",
        unhealthy as f64,
    );
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
