//! Bulk replays: `/api/v1/replays` (create, preview, list, progress,
//! cancel). The jobs run in the background ([`crate::service::ReplayJobs`]).

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Json, Path};
use super::params::{split_object, EventFilterParams};
use super::views::time;
use super::AppState;
use crate::error::Error;
use crate::service::NewReplay;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_store::ReplayJob;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, Schema};
use utoipa::openapi::RefOr;
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

/// The body of `POST /api/v1/replays` (and its preview): which events, and
/// how fast.
#[derive(Debug, Default)]
pub struct ReplayRequest {
    pub filter: EventFilterParams,
    pub options: ReplayOptions,
}

/// A bulk replay's own fields, besides its filter.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayOptions {
    /// Events per second, 1 to `replay.rate` (the default); outside that, 422
    /// `invalid_rate` (for a preview too).
    #[schema(minimum = 1)]
    pub rate: Option<u32>,
}

impl<'de> Deserialize<'de> for ReplayRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let object = serde_json::Map::deserialize(d)?;
        let (filter, options) = split_object(object).map_err(serde::de::Error::custom)?;
        Ok(ReplayRequest { filter, options })
    }
}

/// One object with the filter's and the options' properties, as the body
/// is read, and no others.
impl utoipa::PartialSchema for ReplayRequest {
    fn schema() -> RefOr<Schema> {
        let mut schema = match EventFilterParams::schema() {
            RefOr::T(Schema::Object(o)) => o,
            _ => unreachable!("the filter's schema is an object"),
        };
        if let RefOr::T(Schema::Object(options)) = ReplayOptions::schema() {
            schema.properties.extend(options.properties);
            schema.required.extend(options.required);
        }
        schema.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        // The filter's own description tells of its other uses.
        schema.description = None;
        RefOr::T(Schema::Object(schema))
    }
}

impl ToSchema for ReplayRequest {}

impl ReplayRequest {
    fn into_input(self) -> Result<NewReplay, Error> {
        Ok(NewReplay {
            filter: self.filter.into_filter()?,
            rate: self.options.rate,
        })
    }
}

/// A bulk replay and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayJobView {
    pub id: String,
    /// `running`, `completed` or `cancelled`.
    pub status: String,
    pub filter: EventFilterParams,
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
        ReplayJobView {
            id: j.id,
            status: j.status.as_str().to_owned(),
            filter: (&j.filter).into(),
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
