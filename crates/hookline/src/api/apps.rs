//! `/api/v1/apps`: providers and the webhooks they send.

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Json, Path};
use super::views::{env, http_url, method, tag, time};
use super::AppState;
use crate::error::{Error, Result};
use crate::service::{AppPatch, NewApp, NewWebhook};
use axum::extract::State;
use axum::http::StatusCode;
use hookline_core::model::{App, AppEnv, AppWebhook, EventDef, RequestTemplate, WebhookEnv};
use hookline_core::selector::Selector;
use hookline_core::verify::Verification;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_app, list_apps))
        .routes(routes!(get_app, update_app, delete_app))
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, replace_webhook, delete_webhook))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppEnvWire {
    pub slug: String,
    /// Base of the provider's API in this env; relative registration URLs resolve against it.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn app_envs(envs: Vec<AppEnvWire>) -> Result<Vec<AppEnv>> {
    envs.into_iter()
        .map(|e| {
            Ok(AppEnv {
                slug: env(e.slug)?,
                base_url: e
                    .base_url
                    .as_deref()
                    .map(|u| http_url("base_url", u))
                    .transpose()?,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub envs: Vec<AppEnvWire>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAppRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub envs: Option<Vec<AppEnvWire>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    pub id: String,
    pub tag: String,
    pub name: String,
    pub description: Option<String>,
    pub envs: Vec<AppEnvWire>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<App> for AppView {
    fn from(a: App) -> Self {
        AppView {
            id: a.id,
            tag: a.tag.to_string(),
            name: a.name,
            description: a.description,
            envs: a
                .envs
                .into_iter()
                .map(|e| AppEnvWire {
                    slug: e.slug.to_string(),
                    base_url: e.base_url.map(|u| u.to_string()),
                })
                .collect(),
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

/// Create an app (a provider).
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", request_body = CreateAppRequest,
    responses((status = 201, body = AppView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_app(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<CreateAppRequest>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    let input = NewApp {
        tag: tag(req.tag)?,
        name: req.name,
        description: req.description,
        envs: app_envs(req.envs)?,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.gateway.create_app(input).await?.into()),
    ))
}

/// List apps.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps",
    responses((status = 200, body = Vec<AppView>)), security(("bearer" = [])))]
async fn list_apps(
    _: Authenticated,
    State(s): State<AppState>,
) -> Result<Json<Vec<AppView>>, ApiError> {
    Ok(Json(
        s.gateway
            .list_apps()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Read one app.
#[utoipa::path(get, path = "/api/v1/apps/{app}", tag = "apps", params(("app" = String, Path, description = "App tag")),
    responses((status = 200, body = AppView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_app(
    _: Authenticated,
    State(s): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    Ok(Json(s.gateway.app(&app).await?.into()))
}

/// Update an app's name, description or envs.
#[utoipa::path(patch, path = "/api/v1/apps/{app}", tag = "apps", params(("app" = String, Path, description = "App tag")),
    request_body = UpdateAppRequest,
    responses((status = 200, body = AppView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_app(
    _: Authenticated,
    State(s): State<AppState>,
    Path(app): Path<String>,
    Json(req): Json<UpdateAppRequest>,
) -> Result<Json<AppView>, ApiError> {
    let patch = AppPatch {
        name: req.name,
        description: req.description.map(Some),
        envs: req.envs.map(app_envs).transpose()?,
    };
    Ok(Json(s.gateway.update_app(&app, patch).await?.into()))
}

/// Delete an app and its webhooks (refused while a product is connected to it).
#[utoipa::path(delete, path = "/api/v1/apps/{app}", tag = "apps", params(("app" = String, Path, description = "App tag")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_app(
    _: Authenticated,
    State(s): State<AppState>,
    Path(app): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.gateway.delete_app(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- webhooks -----------------------------------------------------------

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RequestTemplateWire {
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub body: Value,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEnvWire {
    pub slug: String,
    /// The provider's API for registering a webhook URL in this env (absolute, or relative to the app env's `base_url`).
    /// Without it the env is in link mode: the link is pasted into the provider's dashboard.
    #[serde(default)]
    pub registration_url: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// Template of the registration request.
    #[serde(default)]
    pub sample: Option<RequestTemplateWire>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventDefWire {
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Where the event name is in a payload: `$Event{type}`, `$Event{data}{type}`.
    pub selector: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub sample: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `{"scheme": "none" | "stripe" | "github" | "shopify" | "slack" | "paystack" | "standard_webhooks" | "hmac" | "basic" | "api_key", ...options}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub verification: Option<Value>,
    #[serde(default)]
    pub envs: Vec<WebhookEnvWire>,
    #[serde(default)]
    pub events: Vec<EventDefWire>,
}

impl WebhookRequest {
    fn into_input(self) -> Result<NewWebhook> {
        let verification = match self.verification {
            None | Some(Value::Null) => Verification::None,
            Some(v) => serde_json::from_value(v).map_err(|e| {
                Error::invalid("invalid_verification", format!("verification: {e}"))
            })?,
        };
        let envs = self
            .envs
            .into_iter()
            .map(|e| {
                Ok(WebhookEnv {
                    slug: env(e.slug)?,
                    registration_url: e.registration_url,
                    method: e.method.map(|m| method(Some(m))).transpose()?,
                    sample: e.sample.map(|t| RequestTemplate {
                        headers: t.headers,
                        query: t.query,
                        params: t.params,
                        body: t.body,
                    }),
                })
            })
            .collect::<Result<_>>()?;
        let events = self
            .events
            .into_iter()
            .map(|e| {
                Ok(EventDef {
                    tag: tag(e.tag)?,
                    name: e.name,
                    description: e.description,
                    selector: Selector::parse(&e.selector)
                        .map_err(|e| Error::invalid("invalid_selector", e.to_string()))?,
                    sample: e.sample,
                })
            })
            .collect::<Result<_>>()?;
        Ok(NewWebhook {
            tag: tag(self.tag)?,
            name: self.name,
            description: self.description,
            verification,
            envs,
            events,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub app: String,
    pub tag: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub verification: Value,
    pub envs: Vec<WebhookEnvWire>,
    pub events: Vec<EventDefWire>,
    pub created_at: String,
    pub updated_at: String,
}

fn webhook_view(app: &str, w: AppWebhook) -> WebhookView {
    WebhookView {
        id: w.id,
        app: app.to_owned(),
        tag: w.tag.to_string(),
        name: w.name,
        description: w.description,
        verification: serde_json::to_value(&w.verification).unwrap_or(Value::Null),
        envs: w
            .envs
            .into_iter()
            .map(|e| WebhookEnvWire {
                slug: e.slug.to_string(),
                registration_url: e.registration_url,
                method: e.method.map(|m| m.to_string()),
                sample: e.sample.map(|t| RequestTemplateWire {
                    headers: t.headers,
                    query: t.query,
                    params: t.params,
                    body: t.body,
                }),
            })
            .collect(),
        events: w
            .events
            .into_iter()
            .map(|e| EventDefWire {
                tag: e.tag.to_string(),
                name: e.name,
                description: e.description,
                selector: e.selector.to_string(),
                sample: e.sample,
            })
            .collect(),
        created_at: time(w.created_at),
        updated_at: time(w.updated_at),
    }
}

/// Define a webhook an app sends: verification, per-env registration, events.
#[utoipa::path(post, path = "/api/v1/apps/{app}/webhooks", tag = "apps", params(("app" = String, Path, description = "App tag")),
    request_body = WebhookRequest,
    responses((status = 201, body = WebhookView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_webhook(
    _: Authenticated,
    State(s): State<AppState>,
    Path(app): Path<String>,
    Json(req): Json<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    let w = s.gateway.create_webhook(&app, req.into_input()?).await?;
    Ok((StatusCode::CREATED, Json(webhook_view(&app, w))))
}

/// List an app's webhooks.
#[utoipa::path(get, path = "/api/v1/apps/{app}/webhooks", tag = "apps", params(("app" = String, Path, description = "App tag")),
    responses((status = 200, body = Vec<WebhookView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn list_webhooks(
    _: Authenticated,
    State(s): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let list = s.gateway.list_webhooks(&app).await?;
    Ok(Json(
        list.into_iter().map(|w| webhook_view(&app, w)).collect(),
    ))
}

/// Read one webhook.
#[utoipa::path(get, path = "/api/v1/apps/{app}/webhooks/{webhook}", tag = "apps",
    params(("app" = String, Path, description = "App tag"), ("webhook" = String, Path, description = "Webhook tag")),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_webhook(
    _: Authenticated,
    State(s): State<AppState>,
    Path((app, webhook)): Path<(String, String)>,
) -> Result<Json<WebhookView>, ApiError> {
    let (_, w) = s.gateway.webhook(&app, &webhook).await?;
    Ok(Json(webhook_view(&app, w)))
}

/// Replace a webhook's definition (its tag stays).
#[utoipa::path(put, path = "/api/v1/apps/{app}/webhooks/{webhook}", tag = "apps",
    params(("app" = String, Path, description = "App tag"), ("webhook" = String, Path, description = "Webhook tag")),
    request_body = WebhookRequest,
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn replace_webhook(
    _: Authenticated,
    State(s): State<AppState>,
    Path((app, webhook)): Path<(String, String)>,
    Json(req): Json<WebhookRequest>,
) -> Result<Json<WebhookView>, ApiError> {
    let w = s
        .gateway
        .replace_webhook(&app, &webhook, req.into_input()?)
        .await?;
    Ok(Json(webhook_view(&app, w)))
}

/// Delete a webhook; its links answer 410 from then on.
#[utoipa::path(delete, path = "/api/v1/apps/{app}/webhooks/{webhook}", tag = "apps",
    params(("app" = String, Path, description = "App tag"), ("webhook" = String, Path, description = "Webhook tag")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_webhook(
    _: Authenticated,
    State(s): State<AppState>,
    Path((app, webhook)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.gateway.delete_webhook(&app, &webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}
