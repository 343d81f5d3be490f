//! The HTTP layer: routes per resource, wire types, the one error mapping.
//! Handlers extract state, key and validated JSON, call [`crate::service`]
//! or [`crate::ingest`], and render the answer; nothing else happens here.
//! No background task starts here ([`crate::startup`] starts them all), and
//! no module outside `api/` imports this one but `startup` (which builds
//! [`AppState`] and the router) and the binary (the OpenAPI document).

pub mod apps;
pub mod doc;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod key_throttle;
pub mod metrics;
pub mod params;
pub mod presets;
pub mod processor;
pub mod products;
pub mod registrations;
pub mod replays;
pub mod stats;
pub mod stream;
pub mod views;

use crate::error::Error;
use crate::ingest::{Inbound, Ingest};
use crate::service::{Gateway, ReplayJobs};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use error::ApiError;
use serde::Serialize;
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

#[derive(Clone)]
pub struct AppState {
    pub gateway: Gateway,
    pub ingest: Arc<Ingest>,
    /// Largest accepted ingest body.
    pub max_body_bytes: usize,
    /// Failed management-key checks per client address.
    pub key_throttle: Arc<key_throttle::KeyThrottle>,
    /// What `GET /metrics` renders (see [`metrics`]).
    pub metrics: metrics::MetricsEndpoint,
    /// Bulk replay jobs: created, listed and cancelled here, run by the
    /// background runner that [`crate::startup`] starts.
    pub replays: ReplayJobs,
    /// Poll interval and shutdown of live streams (see [`stream`]).
    pub stream: stream::StreamSettings,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Hookline", description = "Self-hosted webhook gateway: management API and ingest links."),
    paths(index, ingest, healthz, metrics::scrape),
    modifiers(&BearerAuth),
    tags(
        (name = "index", description = "Where the dashboard, the API and its document are"),
        (name = "seed", description = "The calls of the original product docs"),
        (name = "apps", description = "Providers and the webhooks they send"),
        (name = "products", description = "Products, envs and connected apps"),
        (name = "registrations", description = "Links tied to receivers"),
        (name = "events", description = "Received events and delivery attempts"),
        (name = "ingest", description = "Where providers send webhooks"),
        (name = "monitoring", description = "Metrics and traffic statistics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    build_routes().1
}

fn build_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(apps::router())
        .merge(products::router())
        .merge(processor::router())
        .merge(registrations::router())
        .merge(events::router())
        .merge(stats::router())
        .merge(stream::router())
        .merge(replays::router())
        .merge(health::router())
        .merge(presets::router())
        .split_for_parts();
    doc::add_shared_responses(&mut doc);
    (router, doc)
}

/// Management JSON bodies above this are refused with 413.
const MANAGEMENT_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let (api, doc) = build_routes();
    let doc = Arc::new(doc);
    let api = api
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .layer(DefaultBodyLimit::max(MANAGEMENT_BODY_LIMIT))
        .fallback(not_found);
    Router::new()
        .route(
            "/webhooks/v1/process/{link_id}",
            any(ingest).layer(DefaultBodyLimit::disable()),
        )
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::scrape))
        .merge(crate::dashboard::router())
        .merge(api)
        .layer(axum::middleware::from_fn(metrics::track_http))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span),
        )
        .with_state(state)
}

/// Any path no route serves: 404 naming the method and path (not the
/// query, which may carry a `?key=`).
async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    let mut path = uri.path().to_owned();
    if path.len() > 200 {
        let mut end = 200;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
        path.push('…');
    }
    ApiError(Error::not_found("route", format!("{method} {path}")))
}

/// Where to go from `/`.
#[derive(Serialize, ToSchema)]
pub struct Index {
    /// `hookline`.
    pub name: String,
    pub version: String,
    /// The web dashboard.
    pub dashboard: String,
    /// The OpenAPI document of the management API.
    pub openapi: String,
    /// Base of the management API (`Authorization: Bearer <key>`).
    pub api: String,
    pub health: String,
}

/// Where things are: a browser (`Accept: text/html`) is sent to the
/// dashboard; any other client gets the addresses of the dashboard, the API
/// and its OpenAPI document.
#[utoipa::path(get, path = "/", tag = "index",
    responses((status = 200, body = Index, description = "Where the dashboard, the API and its OpenAPI document are"),
        (status = 303, description = "A browser (`Accept: text/html`): to the dashboard",
            headers(("location" = String, description = "`/dashboard`")))))]
async fn index(headers: axum::http::HeaderMap) -> Response {
    let wants_html = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| m.trim().to_ascii_lowercase().starts_with("text/html"));
    if wants_html {
        return axum::response::Redirect::to("/dashboard").into_response();
    }
    Json(Index {
        name: "hookline".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        dashboard: "/dashboard".into(),
        openapi: "/api/v1/openapi.json".into(),
        api: "/api/v1".into(),
        health: "/healthz".into(),
    })
    .into_response()
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError(Error::Internal("a handler panicked".into())).into_response()
}

#[derive(Serialize, ToSchema)]
pub struct IngestAccepted {
    /// Id of the stored event; for a `duplicate`, the original event's.
    pub id: String,
    /// `received` (queued for delivery), `held` (no receiver yet), or `duplicate` (a provider
    /// redelivery of an event received within the dedup window: not stored or forwarded again).
    pub status: String,
    /// Slack's `url_verification` challenge, echoed so Slack accepts the link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// A provider's call on an ingest link. Any method and content type; the
/// answer is 2xx only once the event is durably stored.
#[utoipa::path(post, path = "/webhooks/v1/process/{link_id}", tag = "ingest",
    params(("link_id" = String, Path, description = "The link's unguessable id")),
    request_body(content = String, description = "Any body, kept byte for byte", content_type = "*/*"),
    responses((status = 200, body = IngestAccepted), (status = 401, body = error::ErrorBody, description = "Signature check failed (recorded as rejected)"),
        (status = 404, body = error::ErrorBody, description = "Unknown link"), (status = 410, body = error::ErrorBody, description = "Retired link"),
        (status = 400, body = error::ErrorBody, description = "Malformed body (`malformed_body`), e.g. broken chunked encoding"),
        (status = 405, body = error::ErrorBody, description = "CONNECT or TRACE (`method_not_allowed`); `Allow` lists the accepted methods"),
        (status = 408, body = error::ErrorBody, description = "The body stalled for `http.body_idle_timeout` or took over `http.body_read_timeout` (`request_timeout`)"),
        (status = 413, body = error::ErrorBody, description = "Body over the limit, or a `Content-Length` over it (answered before any body is read)"),
        (status = 429, body = error::ErrorBody, description = "Signature check failed, and too many rejected calls came from this address on this link this minute (not recorded; see Retry-After)"),
        (status = 503, body = error::ErrorBody, description = "Storage cannot take writes (disk full, database out of reach): nothing stored; see Retry-After")))]
async fn ingest(
    State(s): State<AppState>,
    Path(link_id): Path<String>,
    RawQuery(query): RawQuery,
    req: Request<Body>,
) -> Result<Json<IngestAccepted>, ApiError> {
    let (parts, body) = req.into_parts();
    if matches!(parts.method, Method::CONNECT | Method::TRACE) {
        return Err(Error::MethodNotAllowed(format!(
            "{} is not a webhook call; an ingest link accepts {INGEST_METHODS}",
            parts.method
        ))
        .into());
    }
    let too_large = || {
        Error::PayloadTooLarge(format!(
            "the body is over the limit of {} bytes",
            s.max_body_bytes
        ))
    };
    // Before the body is read, so that `Expect: 100-continue` is answered
    // 413 at once (hyper sends `100 Continue` only when the body is polled).
    let announced = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > s.max_body_bytes as u64) {
        return Err(too_large().into());
    }
    // `http_server` puts the peer address on every request.
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let body = axum::body::to_bytes(body, s.max_body_bytes)
        .await
        .map_err(|e| body_error(&e, too_large))?;
    let inbound = Inbound {
        method: parts.method.as_str().to_owned(),
        query,
        headers: parts.headers,
        body,
        peer,
    };
    let accepted = s.ingest.accept(&link_id, inbound).await?;
    tracing::Span::current().record("event_id", accepted.event_id.as_str());
    Ok(Json(IngestAccepted {
        id: accepted.event_id,
        status: accepted.status.as_str().to_owned(),
        challenge: accepted.challenge,
    }))
}

/// The methods an ingest link answers: everything but CONNECT and TRACE
/// (the value of `Allow` on a 405).
pub const INGEST_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Why reading an ingest body failed: over the limit (413), stalled (408,
/// see [`crate::http_server::BodyTimeout`]), or malformed, e.g. broken
/// chunked encoding or a connection closed mid-body (400).
fn body_error(e: &axum::Error, too_large: impl FnOnce() -> Error) -> Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return too_large();
        }
        if let Some(t) = c.downcast_ref::<crate::http_server::BodyTimeout>() {
            return Error::RequestTimeout(format!("{t}; send the whole body without pausing"));
        }
        cause = c.source();
    }
    Error::BadRequest {
        code: "malformed_body",
        message: format!("the request body could not be read: {e}"),
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// 200 when this node can reach its database, 503 otherwise.
#[utoipa::path(get, path = "/healthz", tag = "ingest",
    responses((status = 200, body = Health), (status = 503, body = error::ErrorBody)))]
async fn healthz(State(s): State<AppState>) -> Response {
    let unhealthy = |code: &str, message: &str| {
        let body = error::ErrorBody {
            error: error::ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        };
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(error::RETRY_AFTER_SECS),
        );
        response
    };
    if let Err(e) = s.gateway.store.ping().await {
        tracing::warn!(error = %e, "health check failed");
        return unhealthy(
            "database_unreachable",
            "this node cannot reach its database",
        );
    }
    // See `ingest::write_health` for what "cannot write" is based on.
    if let Some(e) = s
        .ingest
        .write_health()
        .check(s.gateway.store.as_ref())
        .await
    {
        tracing::warn!(error = %e, "health check: storage cannot be written");
        return unhealthy(
            "storage_unavailable",
            "this node cannot write to its storage (disk full or I/O errors); ingest answers 503 until a write succeeds",
        );
    }
    Json(Health {
        status: "ok".into(),
    })
    .into_response()
}
