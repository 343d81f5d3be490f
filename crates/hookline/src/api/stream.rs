//! The live event stream: `GET /api/v1/events/stream`, Server-Sent Events
//! fed by polling the database ([`crate::service::EventWatch`]).

use super::error::{ApiError, ErrorBody};
use super::events::EventView;
use super::extract::{authenticate, ClientIp, SplitQuery};
use super::params::EventFilterParams;
use super::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What live streams share; part of [`AppState`].
#[derive(Clone)]
pub struct StreamSettings {
    /// How often a live stream polls the database (`stream.poll_interval`).
    pub poll_interval: Duration,
    /// Ends live streams on shutdown, so that graceful shutdown is not held
    /// up by connections that never finish on their own.
    pub shutdown: CancellationToken,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_events))
}

/// Where a stream starts and how it is authorized, besides its filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
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
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(SplitQuery<EventFilterParams, StreamParams>),
    responses((status = 200, description = "Server-Sent Events: first a `ready` message (data `{}`), then one `event` message per new or changed event, its data an EventView (JSON) and its id the stream position (`Last-Event-ID`); comments keep the connection alive", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn stream_events(
    State(s): State<AppState>,
    headers: HeaderMap,
    ClientIp(client): ClientIp,
    SplitQuery(filter, q): SplitQuery<EventFilterParams, StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    authenticate(&s, &headers, client, q.key.as_deref()).await?;
    let filter = filter.into_filter()?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let watch = s.gateway.watch(filter, last_event_id.or(q.after)).await?;
    let poll = s.stream.poll_interval;
    let shutdown = s.stream.shutdown.clone();
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
