//! Bulk replays: `/api/v1/replays` (create, preview, list, progress,
//! cancel). The jobs run in the background ([`crate::service::ReplayJobs`]).

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Json, Path};
use super::params::{parse_status, parse_time};
use super::views::time;
use super::AppState;
use crate::error::Error;
use crate::service::NewReplay;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_store::{ReplayFilter, ReplayJob};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_replay, list_replays))
        .routes(routes!(preview_replay))
        .routes(routes!(get_replay))
        .routes(routes!(cancel_replay))
}

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
    let job = s.replays.create(req.into_input()?).await?;
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
    let matching = s.replays.preview(&req.into_input()?).await?;
    Ok(axum::Json(ReplayPreview { matching }))
}

/// Bulk replays, newest first (the last 100).
#[utoipa::path(get, path = "/api/v1/replays", tag = "events",
    responses((status = 200, body = Vec<ReplayJobView>)), security(("bearer" = [])))]
async fn list_replays(
    _: Authenticated,
    State(s): State<AppState>,
) -> Result<axum::Json<Vec<ReplayJobView>>, ApiError> {
    let jobs = s.replays.list(100).await?;
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
    Ok(axum::Json(s.replays.get(&id).await?.into()))
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
    Ok(axum::Json(s.replays.cancel(&id).await?.into()))
}
