//! `/api/v1/events`: search, inspect and replay received events.

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Path, SplitQuery};
use super::params::EventFilterParams;
use super::views::time;
use super::AppState;
use crate::error::Error;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use hookline_core::event::{Attempt, Delivery, Event};
use hookline_store::EventFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(replay_event))
        .routes(routes!(replay_delivery))
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// A page of `GET /api/v1/events`, besides its filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// `filter`, narrowed to this page.
    fn apply(self, filter: EventFilter) -> Result<EventFilter, Error> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(Error::invalid(
                "invalid_limit",
                format!("`limit` must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(EventFilter {
            before_id: self.cursor,
            limit,
            ..filter
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    pub scheme: String,
    pub ok: bool,
    pub code: Option<String>,
    pub message: Option<String>,
    /// The body's size as received when only its first 4 KiB were stored
    /// (rejected calls); absent when the body is stored whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_body_bytes: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub registration_id: String,
    pub product: String,
    pub access_tag: String,
    pub webhook: String,
    pub env: String,
    /// Event name found by the webhook's selectors.
    pub event: Option<String>,
    /// `received`, `delivering`, `delivered`, `failed`, `rejected` or `held`.
    pub status: String,
    pub received_at: String,
    pub updated_at: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_response_status: Option<u16>,
    pub last_error: Option<String>,
    pub provider_event_id: Option<String>,
    pub verification: Option<VerificationView>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            id: e.id,
            registration_id: e.registration_id,
            product: e.product_tag,
            access_tag: e.access_tag,
            webhook: e.webhook_tag,
            env: e.env,
            event: e.event_type,
            status: e.status.as_str().to_owned(),
            received_at: time(e.received_at),
            updated_at: time(e.updated_at),
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at.map(time),
            delivered_at: e.delivered_at.map(time),
            last_response_status: e.last_response_status,
            last_error: e.last_error,
            provider_event_id: e.provider_event_id,
            verification: e.verification.map(|v| VerificationView {
                scheme: v.scheme,
                ok: v.ok,
                code: v.code,
                message: v.message,
                received_body_bytes: v.received_body_bytes,
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Search events, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(SplitQuery<EventFilterParams, PageParams>),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_events(
    _: Authenticated,
    State(s): State<AppState>,
    SplitQuery(filter, page): SplitQuery<EventFilterParams, PageParams>,
) -> Result<Json<EventPage>, ApiError> {
    let filter = page.apply(filter.into_filter()?)?;
    let limit = filter.limit as usize;
    let events = s.gateway.list_events(&filter).await?;
    let next_cursor = (events.len() == limit)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(EventPage {
        data: events.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub method: String,
    pub query: Option<String>,
    /// `[name, value]` pairs in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as text when it is UTF-8.
    pub body: Option<String>,
    /// The body in base64 when it is not UTF-8.
    pub body_base64: Option<String>,
    pub body_size: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: String,
    /// The delivery it was made for.
    pub delivery_id: String,
    /// 1-based, over its delivery's life.
    pub number: u32,
    pub started_at: String,
    pub duration_ms: u64,
    pub request_url: String,
    pub response_status: Option<u16>,
    /// First 4 KiB of the response body.
    pub response_excerpt: Option<String>,
    /// `timeout`, `dns`, `connect`, `tls`, `target_not_allowed`, `status`, `io`, `request`, `secret_unreadable`.
    pub error_kind: Option<String>,
    pub error: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            id: a.id,
            delivery_id: a.delivery_id,
            number: a.number,
            started_at: time(a.started_at),
            duration_ms: a.duration_ms,
            request_url: a.request_url,
            response_status: a.response_status,
            response_excerpt: a.response_excerpt,
            error_kind: a.error.as_ref().map(|e| {
                serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            }),
            error: a.error.map(|e| e.message),
        }
    }
}

/// The event on its way to one destination.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub destination_id: String,
    /// `pending` (queued: due now or waiting for a retry at
    /// `next_attempt_at`), `delivering` (a call is in flight), `delivered`,
    /// `failed` (retries exhausted), `held` (no receiver yet), `filtered`,
    /// `paused`.
    pub status: String,
    /// This delivery's attempts, first to last.
    pub attempts: Vec<AttemptView>,
    /// When the next attempt is due; `null` when none is queued.
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_response_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl DeliveryView {
    /// `d` with its attempts, picked from all of its event's.
    fn new(d: Delivery, attempts: &[Attempt]) -> Self {
        DeliveryView {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .cloned()
                .map(Into::into)
                .collect(),
            status: d.status.as_str().to_owned(),
            next_attempt_at: d.next_attempt_at.map(time),
            delivered_at: d.delivered_at.map(time),
            last_response_status: d.last_response_status,
            last_error: d.last_error,
            created_at: time(d.created_at),
            updated_at: time(d.updated_at),
            id: d.id,
            event_id: d.event_id,
            destination_id: d.destination_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetailView {
    #[serde(flatten)]
    pub event: EventView,
    pub request: RequestView,
    /// Every attempt of every delivery, first to last.
    pub attempt_log: Vec<AttemptView>,
    /// One per destination (today: the registration's receiver); none for a
    /// rejected event.
    pub deliveries: Vec<DeliveryView>,
}

/// Read one event with its request, its deliveries and every attempt.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "Event id")),
    responses((status = 200, body = EventDetailView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_event(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventDetailView>, ApiError> {
    let d = s.gateway.event(&id).await?;
    let body_size = d.payload.body.len();
    let (body, body_base64) = match String::from_utf8(d.payload.body) {
        Ok(s) => (Some(s), None),
        Err(e) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
        ),
    };
    Ok(Json(EventDetailView {
        event: d.event.into(),
        request: RequestView {
            method: d.payload.method,
            query: d.payload.query,
            headers: d
                .payload
                .headers
                .into_iter()
                .map(|(k, v)| (k, v.to_text_lossy()))
                .collect(),
            body,
            body_base64,
            body_size,
        },
        deliveries: d
            .deliveries
            .into_iter()
            .map(|dl| DeliveryView::new(dl, &d.attempts))
            .collect(),
        attempt_log: d.attempts.into_iter().map(Into::into).collect(),
    }))
}

/// Queue every delivery of an event again that is delivered, failed, or waiting for a retry.
#[utoipa::path(post, path = "/api/v1/events/{id}/replay", tag = "events", params(("id" = String, Path, description = "Event id")),
    responses((status = 202, body = EventView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn replay_event(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EventView>), ApiError> {
    let e = s.gateway.replay(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(e.into())))
}

/// Queue one delivery again (delivered, failed, or waiting for a retry).
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/replay", tag = "events", params(("id" = String, Path, description = "Delivery id")),
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn replay_delivery(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let (d, attempts) = s.gateway.replay_delivery(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::new(d, &attempts))))
}
