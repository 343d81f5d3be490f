//! The HTTP side of metrics: the middleware that counts and times every
//! request by route template, and `GET /metrics`, which renders this
//! process's recorder ([`crate::metrics`]) plus gauges read from the store on
//! each scrape (queue depth, oldest queued event, held events, unhealthy
//! registrations), so every node reports the shared database's truth
//! without a refresher task.

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::error::Error;
use crate::metrics::{names, record};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookline_core::time::Millis;
use metrics_exporter_prometheus::PrometheusHandle;
use std::fmt::Write as _;
use std::time::Instant;

/// What `GET /metrics` serves from; part of [`AppState`].
#[derive(Clone)]
pub struct MetricsEndpoint {
    /// Renders this process's metrics.
    pub handle: PrometheusHandle,
    /// `metrics.enabled`: off, `/metrics` answers 404.
    pub enabled: bool,
    /// `metrics.require_key`: a management key is needed to scrape.
    pub require_key: bool,
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
    record::http_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// Prometheus text exposition of this node's metrics plus the queue gauges.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody, description = "`metrics.require_key` is on and no valid key was sent"),
        (status = 429, body = ErrorBody, description = "Too many invalid management keys from this address (`too_many_requests`)")))]
pub async fn scrape(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if !s.metrics.enabled {
        return Err(ApiError(Error::not_found(
            "route",
            "GET /metrics (metrics.enabled is off)",
        )));
    }
    if s.metrics.require_key {
        let client = super::extract::client_ip(req.extensions());
        super::extract::authenticate(&s, req.headers(), client, None).await?;
    }
    let handle = &s.metrics.handle;
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
        names::QUEUE_DEPTH,
        "Queued events (due or waiting for a retry), all registrations.",
        q.queued as f64,
    );
    gauge(
        names::QUEUE_OLDEST_AGE,
        "Age of the oldest queued event (0 when none).",
        age,
    );
    gauge(
        names::EVENTS_HELD,
        "Events held until their registration gets a receiver.",
        q.held as f64,
    );
    gauge(
        names::REGISTRATIONS_UNHEALTHY,
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
