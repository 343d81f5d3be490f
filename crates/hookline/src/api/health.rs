//! Registration health: `/api/v1/health/registrations[/{id}]`, as last
//! judged by the background checks ([`crate::service::HealthChecker`]).

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Path, Query};
use super::views::time;
use super::AppState;
use crate::service::health::HealthOf;
use axum::extract::State;
use hookline_store::RegistrationHealth;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_health))
        .routes(routes!(registration_health))
}

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
    /// A registration and its record, if a check has judged it.
    fn of((id, record): HealthOf) -> Self {
        match record {
            Some(h) => Self::judged(h),
            None => Self::unjudged(id),
        }
    }

    fn judged(h: RegistrationHealth) -> Self {
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
    let mut out: Vec<RegistrationHealthView> = match q.product {
        Some(tag) => s
            .gateway
            .product_health(&tag)
            .await?
            .into_iter()
            .map(RegistrationHealthView::of)
            .collect(),
        None => s
            .gateway
            .health_records()
            .await?
            .into_iter()
            .map(RegistrationHealthView::judged)
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
    Ok(axum::Json(RegistrationHealthView::of(
        s.gateway.registration_health(&id).await?,
    )))
}
