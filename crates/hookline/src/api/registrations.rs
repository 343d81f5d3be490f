//! `/api/v1/registrations`: read registrations and change their receiver,
//! secrets, retry schedule or state.

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Json, Path, Query};
use super::views::{receiver, AuthWire, RegistrationView};
use super::AppState;
use crate::error::Error;
use crate::service::RegistrationPatch;
use axum::extract::State;
use hookline_core::retry::RetrySchedule;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_registrations))
        .routes(routes!(get_registration, update_registration))
        .routes(routes!(rotate_secret))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RegistrationQuery {
    /// Product tag.
    pub product: String,
    /// Access tag.
    pub access_tag: Option<String>,
}

/// List a product's registrations.
#[utoipa::path(get, path = "/api/v1/registrations", tag = "registrations", params(RegistrationQuery),
    responses((status = 200, body = Vec<RegistrationView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn list_registrations(
    _: Authenticated,
    State(s): State<AppState>,
    Query(q): Query<RegistrationQuery>,
) -> Result<axum::Json<Vec<RegistrationView>>, ApiError> {
    let product = s.gateway.product(&q.product).await?;
    let regs = s
        .gateway
        .store
        .list_registrations(&product.id, q.access_tag.as_deref())
        .await?;
    Ok(axum::Json(
        regs.iter()
            .map(|r| RegistrationView::new(r, s.gateway.link_url(&r.link_id)))
            .collect(),
    ))
}

/// Read one registration.
#[utoipa::path(get, path = "/api/v1/registrations/{id}", tag = "registrations",
    params(("id" = String, Path, description = "Registration id")),
    responses((status = 200, body = RegistrationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_registration(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<RegistrationView>, ApiError> {
    let r = s.gateway.registration(&id).await?;
    Ok(axum::Json(RegistrationView::new(
        &r,
        s.gateway.link_url(&r.link_id),
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverWire {
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub auth: Option<AuthWire>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRegistrationRequest {
    /// New receiver; held events go out once one is set.
    #[serde(default)]
    pub receiver: Option<ReceiverWire>,
    /// Secret inbound calls are verified against; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub verification_secret: Option<Option<String>>,
    /// Waits after each failed attempt (`["10s", "1m"]`); `null` returns to the server default.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub retry_schedule: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub active: Option<bool>,
}

fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Change a registration's receiver, verification secret, retry schedule or state.
#[utoipa::path(patch, path = "/api/v1/registrations/{id}", tag = "registrations",
    params(("id" = String, Path, description = "Registration id")), request_body = UpdateRegistrationRequest,
    responses((status = 200, body = RegistrationView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_registration(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<UpdateRegistrationRequest>,
) -> Result<axum::Json<RegistrationView>, ApiError> {
    let retry_schedule = match req.retry_schedule {
        None => None,
        Some(None) => Some(None),
        Some(Some(list)) => {
            let delays = list
                .iter()
                .map(|d| {
                    humantime::parse_duration(d).map_err(|e| {
                        Error::invalid("invalid_retry_schedule", format!("`{d}`: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(Some(RetrySchedule(delays)))
        }
    };
    let patch = RegistrationPatch {
        receiver: req
            .receiver
            .map(|r| receiver(&r.url, r.method, r.auth))
            .transpose()?,
        verification_secret: req.verification_secret,
        retry_schedule,
        active: req.active,
    };
    let r = s.gateway.update_registration(&id, patch).await?;
    Ok(axum::Json(RegistrationView::new(
        &r,
        s.gateway.link_url(&r.link_id),
    )))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the previous secret keeps signing alongside the new one (`"1h"`, `"0s"` for not at all);
    /// default: the server's `signing.rotation_overlap` (24h unless configured).
    #[serde(default)]
    pub overlap: Option<String>,
}

/// Issue a new signing secret for forwarded requests. The previous one keeps signing alongside it (every
/// request carries both signatures in `webhook-signature`) until the overlap ends, so receivers can move to
/// the new secret without rejecting anything. The body is optional.
#[utoipa::path(post, path = "/api/v1/registrations/{id}/rotate-secret", tag = "registrations",
    params(("id" = String, Path, description = "Registration id")),
    request_body(content = Option<RotateSecretRequest>, content_type = "application/json"),
    responses((status = 200, body = RegistrationView, description = "The registration, with its new `signing_secret`"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rotate_secret(
    _: Authenticated,
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::Json<RegistrationView>, ApiError> {
    let req: RotateSecretRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecretRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                Error::BadRequest {
                    code: "malformed_json",
                    message: format!("the body is not valid JSON: {e}"),
                }
            } else {
                Error::invalid("invalid_body", e.to_string())
            }
        })?
    };
    let overlap = req
        .overlap
        .map(|o| {
            humantime::parse_duration(&o)
                .map_err(|e| Error::invalid("invalid_overlap", format!("`{o}`: {e}")))
        })
        .transpose()?;
    let r = s.gateway.rotate_signing_secret(&id, overlap).await?;
    Ok(axum::Json(RegistrationView::new(
        &r,
        s.gateway.link_url(&r.link_id),
    )))
}
