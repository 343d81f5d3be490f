//! `/api/v1/processor/webhooks/*`: the seeds' `processor.webhook.enable`,
//! `processor.webhook.generateLink`, and `disable`.

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Json};
use super::products::{link_view, LinkView};
use super::views::{env, receiver, tag, AuthWire, RegistrationView};
use super::AppState;
use crate::error::Result;
use crate::service::{EnableEnv, EnableInput, LinkInput};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enable))
        .routes(routes!(generate_link))
        .routes(routes!(disable))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableEnvWire {
    /// Product env slug.
    #[schema(value_type = crate::api::doc::EnvSlugName)]
    pub slug: String,
    /// Receiver URL.
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub auth: Option<AuthWire>,
    /// Secret inbound calls are verified against (the webhook's scheme says how). For a
    /// provider whose registration answer carries its signing secret (Stripe), that secret
    /// is kept instead; for one that takes a secret from Hookline (GitHub), this one is sent.
    #[serde(default)]
    pub verification_secret: Option<String>,
    /// Credentials for the provider's registration API in this env (full registration),
    /// layered on the connection env's `auth`. `auth` above is the *receiver's* and is
    /// never sent to the provider.
    #[serde(default)]
    pub provider_auth: Option<AuthWire>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {
    #[schema(value_type = crate::api::doc::TagName)]
    pub product_tag: String,
    #[schema(value_type = crate::api::doc::TagName)]
    pub access_tag: String,
    #[schema(value_type = crate::api::doc::TagName)]
    pub webhook_tag: String,
    /// At least one env.
    #[schema(min_items = 1)]
    pub envs: Vec<EnableEnvWire>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnableResponse {
    pub registrations: Vec<RegistrationView>,
}

/// The seeds' `processor.webhook.enable` (full registration): receivers for all envs at once.
///
/// For every env whose app webhook env has a `registration_url`, Hookline also calls the
/// provider's registration API (through the outbound guard) with the env's template filled in
/// (link, event tags, env, a generated secret where the template asks for one), the connection
/// env's auth and `provider_auth`; it keeps the provider's webhook id and signing secret. Calling
/// again updates that webhook instead of creating another. A provider failure does not fail the
/// call: that env's `provider_registration` says `failed` with the provider's status and message,
/// and the other envs are saved as usual (check every env's status). Problems found before any
/// call (unknown env, a template that cannot be filled, a refused target) are 4xx and change nothing.
#[utoipa::path(post, path = "/api/v1/processor/webhooks/enable", tag = "seed", request_body = EnableRequest,
    responses((status = 200, body = EnableResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn enable(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<EnableRequest>,
) -> Result<Json<EnableResponse>, ApiError> {
    let envs = req
        .envs
        .into_iter()
        .map(|e| {
            Ok(EnableEnv {
                slug: env(e.slug)?,
                receiver: receiver(&e.url, e.method, e.auth)?,
                verification_secret: e.verification_secret,
                provider_auth: e.provider_auth.unwrap_or_default().into_domain()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let input = EnableInput {
        product_tag: tag(req.product_tag)?,
        access_tag: tag(req.access_tag)?,
        webhook_tag: tag(req.webhook_tag)?,
        envs,
    };
    let regs = s.gateway.enable(input).await?;
    Ok(Json(EnableResponse {
        registrations: regs
            .iter()
            .map(|r| RegistrationView::new(r, s.gateway.link_url(&r.link_id)))
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessorLinkRequest {
    #[schema(value_type = crate::api::doc::TagName)]
    pub product_tag: String,
    #[schema(value_type = crate::api::doc::TagName)]
    pub access_tag: String,
    #[schema(value_type = crate::api::doc::TagName)]
    pub webhook_tag: String,
    #[schema(value_type = crate::api::doc::EnvSlugName)]
    pub product_env: String,
    /// Receiver URL.
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub auth: Option<AuthWire>,
    #[serde(default)]
    pub verification_secret: Option<String>,
}

/// The seeds' `processor.webhook.generateLink`: one env's link, to paste into the provider's dashboard.
#[utoipa::path(post, path = "/api/v1/processor/webhooks/link", tag = "seed", request_body = ProcessorLinkRequest,
    responses((status = 200, body = LinkView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn generate_link(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<ProcessorLinkRequest>,
) -> Result<Json<LinkView>, ApiError> {
    let input = LinkInput {
        product_tag: tag(req.product_tag)?,
        access_tag: tag(req.access_tag)?,
        webhook_tag: Some(tag(req.webhook_tag)?),
        event: None,
        env: env(req.product_env)?,
        receiver: Some(receiver(&req.url, req.method, req.auth)?),
        verification_secret: req.verification_secret,
    };
    let reg = s.gateway.generate_link(input).await?;
    Ok(Json(link_view(&s, &reg)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    #[schema(value_type = crate::api::doc::TagName)]
    pub product_tag: String,
    #[schema(value_type = crate::api::doc::TagName)]
    pub access_tag: String,
    #[schema(value_type = crate::api::doc::TagName)]
    pub webhook_tag: String,
    /// Product env slugs; every env when omitted.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::api::doc::EnvSlugName>>)]
    pub envs: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisableResponse {
    /// The registrations retired by this call.
    pub registrations: Vec<RegistrationView>,
}

/// Retire a webhook's links (and its event links) in some or all envs; where the app defines a
/// deregistration call, the provider's webhook is removed too (`provider_registration.status`
/// becomes `deregistered`, or `failed` with the reason: disabling again retries it).
#[utoipa::path(post, path = "/api/v1/processor/webhooks/disable", tag = "seed", request_body = DisableRequest,
    responses((status = 200, body = DisableResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn disable(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<DisableRequest>,
) -> Result<Json<DisableResponse>, ApiError> {
    let envs = req
        .envs
        .map(|v| v.into_iter().map(env).collect::<Result<Vec<_>>>())
        .transpose()?;
    let regs = s
        .gateway
        .disable(
            &tag(req.product_tag)?,
            &tag(req.access_tag)?,
            &tag(req.webhook_tag)?,
            envs,
        )
        .await?;
    Ok(Json(DisableResponse {
        registrations: regs
            .iter()
            .map(|r| RegistrationView::new(r, s.gateway.link_url(&r.link_id)))
            .collect(),
    }))
}
