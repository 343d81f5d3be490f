//! Monitoring routes: traffic statistics (`/api/v1/stats`), bulk replays
//! (`/api/v1/replays`), registration health (`/api/v1/health/…`) and the
//! live event stream (`/api/v1/events/stream`, Server-Sent Events).

use super::error::{ApiError, ErrorBody};
use super::events::EventView;
use super::extract::{authenticate, Authenticated, ClientIp, Json, Path, Query};
use super::views::time;
use super::AppState;
use crate::error::Error;
use crate::service::monitor::{NewReplay, Percentiles};
use crate::service::Monitor;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use hookline_core::event::EventStatus;
use hookline_core::time::Millis;
use hookline_store::{EventFilter, RegistrationHealth, ReplayFilter, ReplayJob};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the monitoring routes share; part of [`AppState`], built by
/// [`crate::startup`] (which also starts the replay runner and the health
/// checks of [`Self::service`]).
pub struct MonitorState {
    pub service: Monitor,
    /// How often a live stream polls the database.
    pub stream_poll: Duration,
    /// Ends live streams on shutdown, so that graceful shutdown is not held
    /// up by connections that never finish on their own.
    pub shutdown: CancellationToken,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(stream_events))
        .routes(routes!(create_replay, list_replays))
        .routes(routes!(preview_replay))
        .routes(routes!(get_replay))
        .routes(routes!(cancel_replay))
        .routes(routes!(list_health))
        .routes(routes!(registration_health))
}

fn parse_time(field: &str, v: Option<String>) -> Result<Option<Millis>, Error> {
    v.map(|s| {
        Millis::parse_rfc3339(&s).ok_or_else(|| {
            Error::invalid(
                "invalid_time",
                format!("`{field}` must be an RFC 3339 time, got `{s}`"),
            )
        })
    })
    .transpose()
}

fn parse_status(v: Option<String>) -> Result<Option<EventStatus>, Error> {
    v.map(|s| {
        EventStatus::parse(&s).ok_or_else(|| {
            Error::invalid(
                "invalid_status",
                format!("status `{s}` is not one of received, delivering, delivered, failed, rejected, held"),
            )
        })
    })
    .transpose()
}

// --- statistics --------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Registration id; all registrations when absent.
    pub registration: Option<String>,
    /// Window length in minutes, 1–1440 (default 60).
    #[param(minimum = 1, maximum = 1440)]
    pub minutes: Option<u32>,
    /// Bucket length in seconds, at most the window (default 60).
    #[param(minimum = 1, maximum = 86400)]
    pub bucket: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsBucketView {
    /// Start of the bucket.
    pub start: String,
    /// Events received that passed verification.
    pub received: u64,
    /// Events received that failed verification.
    pub rejected: u64,
    /// Successful attempts (events delivered), by time of the answer.
    pub delivered: u64,
    /// Failed attempts, by start time.
    pub failed: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub registration: Option<String>,
    pub since: String,
    pub until: String,
    pub bucket_seconds: i64,
    pub received: u64,
    pub rejected: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Successful attempts over attempts in the window; `null` without attempts.
    pub success_rate: Option<f64>,
    /// Delivery latency (receipt → acknowledgement) percentiles, in ms.
    pub latency_ms: Option<Percentiles>,
    pub buckets: Vec<StatsBucketView>,
}

/// Traffic per bucket (received, rejected, delivered, failed attempts),
/// success rate and delivery latency percentiles of a recent window.
#[utoipa::path(get, path = "/api/v1/stats", tag = "monitoring", params(StatsQuery),
    responses((status = 200, body = StatsView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn stats(
    _: Authenticated,
    State(s): State<AppState>,
    Query(q): Query<StatsQuery>,
) -> Result<axum::Json<StatsView>, ApiError> {
    let st = s
        .monitor
        .service
        .stats(
            q.registration.clone(),
            q.minutes.unwrap_or(60),
            q.bucket.unwrap_or(60),
        )
        .await?;
    Ok(axum::Json(StatsView {
        registration: q.registration,
        since: time(st.since),
        until: time(st.until),
        bucket_seconds: st.bucket_ms / 1000,
        received: st.received,
        rejected: st.rejected,
        delivered: st.delivered,
        failed: st.failed,
        success_rate: st.success_rate,
        latency_ms: st.latency,
        buckets: st
            .buckets
            .into_iter()
            .map(|b| StatsBucketView {
                start: time(b.start),
                received: b.received,
                rejected: b.rejected,
                delivered: b.delivered,
                failed: b.failed,
            })
            .collect(),
    }))
}

// --- live stream -------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Product tag.
    pub product: Option<String>,
    pub access_tag: Option<String>,
    /// Webhook tag.
    pub webhook: Option<String>,
    /// Event name found by the webhook's selectors.
    pub event: Option<String>,
    pub env: Option<String>,
    /// `received`, `delivering`, `delivered`, `failed`, `rejected` or `held`.
    pub status: Option<String>,
    pub registration: Option<String>,
    /// Received at or after (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Received before (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Send events with a greater id than this (default: from a few seconds
    /// ago). A reconnecting `EventSource` sends `Last-Event-ID` instead.
    pub after: Option<String>,
    /// Management key, for clients that cannot send `Authorization`
    /// (`EventSource`). Prefer the header: URLs end up in logs.
    pub key: Option<String>,
}

/// Streams events as Server-Sent Events: each new event matching the
/// filters, and each change (status, attempts) of one it sent or of the
/// newest 100 when it opened, is an `event` message whose data is the event
/// as `GET /api/v1/events/{id}` shows it (without request and attempts). A
/// `ready` message opens the stream. The database is polled, so events
/// ingested by any node appear.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamQuery),
    responses((status = 200, description = "Server-Sent Events: first a `ready` message (data `{}`), then one `event` message per new or changed event, its data an EventView (JSON) and its id the stream position (`Last-Event-ID`); comments keep the connection alive", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn stream_events(
    State(s): State<AppState>,
    headers: HeaderMap,
    ClientIp(client): ClientIp,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    authenticate(&s, &headers, client, q.key.as_deref()).await?;
    let filter = EventFilter {
        status: parse_status(q.status)?,
        since: parse_time("since", q.since)?,
        until: parse_time("until", q.until)?,
        product_tag: q.product,
        access_tag: q.access_tag,
        webhook_tag: q.webhook,
        event_type: q.event,
        env: q.env,
        registration_id: q.registration,
        before_id: None,
        limit: 0,
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let watch = s
        .monitor
        .service
        .watch(filter, last_event_id.or(q.after))
        .await?;
    let poll = s.monitor.stream_poll;
    let shutdown = s.monitor.shutdown.clone();
    let mut queue = VecDeque::new();
    queue.push_back(SseEvent::default().event("ready").data("{}"));
    let stream = futures::stream::unfold(
        (watch, queue, shutdown),
        move |(mut watch, mut queue, shutdown)| async move {
            loop {
                if let Some(message) = queue.pop_front() {
                    return Some((Ok(message), (watch, queue, shutdown)));
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(poll) => {}
                }
                match watch.poll().await {
                    Ok(events) => {
                        for e in events {
                            let mut message = SseEvent::default().event("event");
                            if let Some(position) = watch.position() {
                                message = message.id(position);
                            }
                            let view = EventView::from(e);
                            match message.json_data(&view) {
                                Ok(m) => queue.push_back(m),
                                Err(err) => {
                                    tracing::error!(error = %err, "event could not be encoded for the stream")
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "live stream poll failed; trying again"),
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

// --- bulk replay -------------------------------------------------------------

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Product tag.
    pub product: Option<String>,
    pub access_tag: Option<String>,
    /// Webhook tag.
    pub webhook: Option<String>,
    /// Event name.
    pub event: Option<String>,
    pub env: Option<String>,
    /// Only events in this status (e.g. `failed`).
    pub status: Option<String>,
    pub registration: Option<String>,
    /// Received at or after (RFC 3339).
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// Received before (RFC 3339); the job never goes past its creation.
    #[schema(format = DateTime)]
    pub until: Option<String>,
    /// Events per second, 1 to `replay.rate` (the default); outside that, 422
    /// `invalid_rate` (for a preview too).
    #[schema(minimum = 1)]
    pub rate: Option<u32>,
}

impl ReplayRequest {
    fn into_input(self) -> Result<NewReplay, Error> {
        Ok(NewReplay {
            filter: ReplayFilter {
                status: parse_status(self.status)?,
                since: parse_time("since", self.since)?,
                until: parse_time("until", self.until)?,
                product_tag: self.product,
                access_tag: self.access_tag,
                webhook_tag: self.webhook,
                event_type: self.event,
                env: self.env,
                registration_id: self.registration,
                before_id: None,
            },
            rate: self.rate,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayFilterView {
    pub product: Option<String>,
    pub access_tag: Option<String>,
    pub webhook: Option<String>,
    pub event: Option<String>,
    pub env: Option<String>,
    pub status: Option<String>,
    pub registration: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// A bulk replay and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayJobView {
    pub id: String,
    /// `running`, `completed` or `cancelled`.
    pub status: String,
    pub filter: ReplayFilterView,
    /// Events per second.
    pub rate: u32,
    /// Events that matched when the job was created.
    pub total: u64,
    /// Events queued again so far.
    pub replayed: u64,
    /// Matching events that could not be replayed (rejected, held, already
    /// queued, or being delivered at that moment).
    pub skipped: u64,
    /// `replayed + skipped`.
    pub processed: u64,
    /// `processed / total`, 0–1 (1 once completed).
    pub progress: f64,
    /// Id of the last event handled; the job resumes after it.
    pub cursor: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl From<ReplayJob> for ReplayJobView {
    fn from(j: ReplayJob) -> Self {
        let processed = j.replayed + j.skipped;
        let progress = if j.status == hookline_store::ReplayStatus::Completed {
            1.0
        } else if j.total == 0 {
            0.0
        } else {
            (processed as f64 / j.total as f64).min(1.0)
        };
        let f = j.filter;
        ReplayJobView {
            id: j.id,
            status: j.status.as_str().to_owned(),
            filter: ReplayFilterView {
                product: f.product_tag,
                access_tag: f.access_tag,
                webhook: f.webhook_tag,
                event: f.event_type,
                env: f.env,
                status: f.status.map(|s| s.as_str().to_owned()),
                registration: f.registration_id,
                since: f.since.map(time),
                until: f.until.map(time),
            },
            rate: j.rate,
            total: j.total,
            replayed: j.replayed,
            skipped: j.skipped,
            processed,
            progress,
            cursor: j.cursor,
            created_at: time(j.created_at),
            updated_at: time(j.updated_at),
            finished_at: j.finished_at.map(time),
        }
    }
}

/// Start a bulk replay of every event matching the filter received until
/// now, oldest first, throttled to `rate` events per second. The job is
/// kept in the database and resumes after a restart.
#[utoipa::path(post, path = "/api/v1/replays", tag = "events", request_body = ReplayRequest,
    responses((status = 202, body = ReplayJobView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_replay(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<ReplayRequest>,
) -> Result<(StatusCode, axum::Json<ReplayJobView>), ApiError> {
    let job = s.monitor.service.create_replay(req.into_input()?).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(job.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayPreview {
    /// Events the filter matches now.
    pub matching: u64,
}

/// How many events a bulk replay with this filter would go through (for a
/// confirmation); starts nothing.
#[utoipa::path(post, path = "/api/v1/replays/preview", tag = "events", request_body = ReplayRequest,
    responses((status = 200, body = ReplayPreview), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn preview_replay(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<ReplayRequest>,
) -> Result<axum::Json<ReplayPreview>, ApiError> {
    let matching = s.monitor.service.preview_replay(&req.into_input()?).await?;
    Ok(axum::Json(ReplayPreview { matching }))
}

/// Bulk replays, newest first (the last 100).
#[utoipa::path(get, path = "/api/v1/replays", tag = "events",
    responses((status = 200, body = Vec<ReplayJobView>)), security(("bearer" = [])))]
async fn list_replays(
    _: Authenticated,
    State(s): State<AppState>,
) -> Result<axum::Json<Vec<ReplayJobView>>, ApiError> {
    let jobs = s.monitor.service.replay_jobs(100).await?;
    Ok(axum::Json(jobs.into_iter().map(Into::into).collect()))
}

/// A bulk replay's progress.
#[utoipa::path(get, path = "/api/v1/replays/{id}", tag = "events",
    params(("id" = String, Path, description = "Replay job id")),
    responses((status = 200, body = ReplayJobView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_replay(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ReplayJobView>, ApiError> {
    Ok(axum::Json(s.monitor.service.replay_job(&id).await?.into()))
}

/// Stop a running bulk replay (events already queued again stay queued).
#[utoipa::path(post, path = "/api/v1/replays/{id}/cancel", tag = "events",
    params(("id" = String, Path, description = "Replay job id")),
    responses((status = 200, body = ReplayJobView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn cancel_replay(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ReplayJobView>, ApiError> {
    Ok(axum::Json(
        s.monitor.service.cancel_replay(&id).await?.into(),
    ))
}

// --- health ------------------------------------------------------------------

/// A registration's health as last judged by the periodic check.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationHealthView {
    pub registration_id: String,
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub healthy: bool,
    /// Which thresholds it crosses (empty when healthy).
    pub reasons: Vec<String>,
    /// When it became what it is; `null` if it was never judged unhealthy.
    pub since: Option<String>,
    /// Last check that looked at it; `null` if none did (no traffic yet).
    pub checked_at: Option<String>,
    /// Attempts in the check's window, and the failed ones among them.
    pub attempts: u64,
    pub failed_attempts: u64,
    pub failure_rate: Option<f64>,
    /// Queued events when checked.
    pub backlog: u64,
    pub oldest_backlog_received_at: Option<String>,
}

impl RegistrationHealthView {
    fn of(h: RegistrationHealth) -> Self {
        RegistrationHealthView {
            status: if h.healthy { "healthy" } else { "unhealthy" }.into(),
            healthy: h.healthy,
            reasons: h.reasons,
            since: Some(time(h.since)),
            checked_at: Some(time(h.checked_at)),
            failure_rate: (h.attempts > 0).then(|| h.failed_attempts as f64 / h.attempts as f64),
            attempts: h.attempts,
            failed_attempts: h.failed_attempts,
            backlog: h.backlog,
            oldest_backlog_received_at: h.oldest_backlog_received_at.map(time),
            registration_id: h.registration_id,
        }
    }

    fn unjudged(id: String) -> Self {
        RegistrationHealthView {
            registration_id: id,
            status: "healthy".into(),
            healthy: true,
            reasons: vec![],
            since: None,
            checked_at: None,
            attempts: 0,
            failed_attempts: 0,
            failure_rate: None,
            backlog: 0,
            oldest_backlog_received_at: None,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    /// Product tag: every registration of the product, judged or not.
    /// Without it, only registrations a check has judged.
    pub product: Option<String>,
    /// Only unhealthy ones.
    pub unhealthy: Option<bool>,
}

/// Health of registrations: unhealthy when the share of failed attempts or
/// the backlog crosses the configured thresholds (`[health]`).
#[utoipa::path(get, path = "/api/v1/health/registrations", tag = "registrations", params(HealthQuery),
    responses((status = 200, body = Vec<RegistrationHealthView>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_health(
    _: Authenticated,
    State(s): State<AppState>,
    Query(q): Query<HealthQuery>,
) -> Result<axum::Json<Vec<RegistrationHealthView>>, ApiError> {
    let mut records: std::collections::HashMap<String, RegistrationHealth> = s
        .monitor
        .service
        .health_records()
        .await?
        .into_iter()
        .map(|h| (h.registration_id.clone(), h))
        .collect();
    let mut out: Vec<RegistrationHealthView> = match q.product {
        Some(tag) => {
            let product = s.gateway.product(&tag).await?;
            s.gateway
                .store
                .list_registrations(&product.id, None)
                .await?
                .into_iter()
                .map(|r| match records.remove(&r.id) {
                    Some(h) => RegistrationHealthView::of(h),
                    None => RegistrationHealthView::unjudged(r.id),
                })
                .collect()
        }
        None => records
            .into_values()
            .map(RegistrationHealthView::of)
            .collect(),
    };
    if q.unhealthy == Some(true) {
        out.retain(|h| !h.healthy);
    }
    out.sort_by(|a, b| a.registration_id.cmp(&b.registration_id));
    Ok(axum::Json(out))
}

/// One registration's health.
#[utoipa::path(get, path = "/api/v1/health/registrations/{id}", tag = "registrations",
    params(("id" = String, Path, description = "Registration id")),
    responses((status = 200, body = RegistrationHealthView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn registration_health(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<RegistrationHealthView>, ApiError> {
    let reg = s.gateway.registration(&id).await?;
    let record = s
        .monitor
        .service
        .health_records()
        .await?
        .into_iter()
        .find(|h| h.registration_id == reg.id);
    Ok(axum::Json(match record {
        Some(h) => RegistrationHealthView::of(h),
        None => RegistrationHealthView::unjudged(reg.id),
    }))
}
