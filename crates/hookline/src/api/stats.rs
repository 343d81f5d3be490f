//! Traffic statistics for charts: `GET /api/v1/stats`.

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Query};
use super::views::time;
use super::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

/// Delivery latency (receipt → acknowledgement), in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Percentiles {
    pub count: u64,
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
    pub max: i64,
}

impl From<crate::service::Percentiles> for Percentiles {
    fn from(p: crate::service::Percentiles) -> Self {
        Percentiles {
            count: p.count,
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
            max: p.max,
        }
    }
}

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
        .gateway
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
        latency_ms: st.latency.map(Percentiles::from),
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
