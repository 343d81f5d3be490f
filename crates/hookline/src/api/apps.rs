//! `/api/v1/apps`: providers and the webhooks they send.

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Json, Path};
use super::views::{env, http_url, method, tag, time};
use super::AppState;
use crate::error::{Error, Result};
use crate::service::{AppPatch, NewApp, NewWebhook, PresetApp};
use axum::extract::State;
use axum::http::StatusCode;
use hookline_core::model::{
    App, AppEnv, AppWebhook, EventDef, HttpMethod, ProviderApi, ProviderCall, RequestTemplate,
    WebhookEnv,
};
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
    #[schema(value_type = crate::api::doc::EnvSlugName)]
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

/// An app, described in full or made from a built-in preset (`GET /api/v1/presets`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    /// Required, unless `preset` is given (then the preset's name, e.g. `stripe`).
    #[serde(default)]
    #[schema(value_type = Option<crate::api::doc::TagName>)]
    pub tag: Option<String>,
    /// Required, unless `preset` is given (then the preset's display name).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The app's envs. With a preset: when omitted, the preset's envs; an env without
    /// `base_url` gets the provider's real API.
    #[serde(default)]
    pub envs: Option<Vec<AppEnvWire>>,
    /// A built-in preset (`stripe`, `github`, `shopify`, `slack`, `paystack`,
    /// `standard_webhooks`): the app is created with the preset's webhooks, verification,
    /// events and registration calls.
    #[serde(default)]
    pub preset: Option<String>,
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
    /// The webhooks a preset created (only in the answer to a create from a preset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Vec<WebhookView>>,
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
            webhooks: None,
        }
    }
}

/// Create an app (a provider), in full or from a preset.
///
/// `{"preset": "stripe", "tag"?, "envs"?: [{"slug", "base_url"?}]}` creates the app with the
/// preset's webhooks (verification, events, registration calls); the answer lists them under
/// `webhooks`. Registration URLs are relative to each env's `base_url`, so pointing it at a
/// sandbox or a stand-in server makes `enable` call that instead of the provider's real API.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", request_body = CreateAppRequest,
    responses((status = 201, body = AppView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Invalid input, or `unknown_preset`")),
    security(("bearer" = [])))]
async fn create_app(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<CreateAppRequest>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    if let Some(preset) = req.preset {
        let input = PresetApp {
            preset,
            tag: req.tag.map(tag).transpose()?,
            name: req.name,
            description: req.description,
            envs: req.envs.map(app_envs).transpose()?,
        };
        let (app, webhooks) = s.gateway.create_app_from_preset(input).await?;
        let app_tag = app.tag.to_string();
        let mut view = AppView::from(app);
        view.webhooks = Some(
            webhooks
                .into_iter()
                .map(|w| webhook_view(&app_tag, w))
                .collect(),
        );
        return Ok((StatusCode::CREATED, Json(view)));
    }
    let missing = |field: &str| {
        Error::invalid(
            "missing_field",
            format!("`{field}` is required (or create the app from a `preset`)"),
        )
    };
    let input = NewApp {
        tag: tag(req.tag.ok_or_else(|| missing("tag"))?)?,
        name: req.name.ok_or_else(|| missing("name"))?,
        description: req.description,
        envs: app_envs(req.envs.unwrap_or_default())?,
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
    /// The body template: any JSON value, `null` for none.
    #[schema(value_type = Value)]
    pub body: Value,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEnvWire {
    #[schema(value_type = crate::api::doc::EnvSlugName)]
    pub slug: String,
    /// The provider's API for registering a webhook URL in this env (absolute, or relative to the app env's `base_url`,
    /// appended to its path). Path placeholders `{name}` are filled from the auth `params` (e.g. `/repos/{owner}/{repo}/hooks`).
    /// Without it the env is in link mode: the link is pasted into the provider's dashboard.
    #[serde(default)]
    pub registration_url: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// Template of the registration request. Values take placeholders: `{{link}}` (the ingest link), `{{events}}`
    /// (the webhook's event tags: a JSON list where a body value is exactly `"{{events}}"`, else comma-separated),
    /// `{{env}}`, `{{app_env}}`, `{{product}}`, `{{access_tag}}`, `{{webhook}}`, `{{secret}}` (a secret Hookline
    /// generates, sends, and verifies the provider's calls with), `{{provider_id}}`, and any auth `params` key.
    /// The body is JSON, or form-encoded when the headers say `Content-Type: application/x-www-form-urlencoded`
    /// (objects as `key[field]`, a list repeats its key: `"enabled_events[]": "{{events}}"`).
    #[serde(default)]
    pub sample: Option<RequestTemplateWire>,
    /// How to read the provider's answer, and how to update or remove the webhook it created.
    #[serde(default)]
    pub registration: Option<ProviderApiWire>,
}

/// A provider's registration API beyond the create call.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderApiWire {
    /// JSON Pointer to the provider's webhook id in its answer (`/id`); needed to update or remove it later.
    pub id_path: Option<String>,
    /// JSON Pointer to the signing secret in the answer (Stripe: `/secret`); kept as the registration's
    /// `verification_secret`.
    pub secret_path: Option<String>,
    /// Called instead of the create call when enabling again (`{provider_id}` in the URL). Without it, enabling
    /// again leaves the provider's webhook as it is.
    pub update: Option<ProviderCallWire>,
    /// Called by `disable`. Without it, the provider's webhook stays.
    pub deregister: Option<ProviderCallWire>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderCallWire {
    /// Absolute, or relative to the app env's `base_url`; `{provider_id}` and `{param}` placeholders.
    pub url: String,
    /// Default: `POST` for `update`, `DELETE` for `deregister`.
    #[serde(default)]
    pub method: Option<String>,
    /// Default: the registration template for `update`, no body for `deregister`.
    #[serde(default)]
    pub sample: Option<RequestTemplateWire>,
}

fn template(t: RequestTemplateWire) -> RequestTemplate {
    RequestTemplate {
        headers: t.headers,
        query: t.query,
        params: t.params,
        body: t.body,
    }
}

fn template_wire(t: RequestTemplate) -> RequestTemplateWire {
    RequestTemplateWire {
        headers: t.headers,
        query: t.query,
        params: t.params,
        body: t.body,
    }
}

fn provider_call(c: ProviderCallWire, default: HttpMethod) -> Result<ProviderCall> {
    Ok(ProviderCall {
        url: c.url,
        method: match c.method {
            Some(m) => method(Some(m))?,
            None => default,
        },
        sample: c.sample.map(template),
    })
}

fn provider_call_wire(c: ProviderCall) -> ProviderCallWire {
    ProviderCallWire {
        url: c.url,
        method: Some(c.method.to_string()),
        sample: c.sample.map(template_wire),
    }
}

/// The env's registration spec, checked: a `registration` needs a `registration_url`.
fn webhook_env(e: WebhookEnvWire) -> Result<WebhookEnv> {
    let slug = env(e.slug)?;
    let api = e
        .registration
        .map(|r| {
            Ok::<_, Error>(ProviderApi {
                id_path: r.id_path,
                secret_path: r.secret_path,
                update: r
                    .update
                    .map(|c| provider_call(c, HttpMethod::Post))
                    .transpose()?,
                deregister: r
                    .deregister
                    .map(|c| provider_call(c, HttpMethod::Delete))
                    .transpose()?,
            })
        })
        .transpose()?;
    if let Some(api) = &api {
        if e.registration_url.is_none() {
            return Err(Error::invalid(
                "invalid_registration",
                format!(
                    "env `{slug}`: `registration` needs a `registration_url` (the create call)"
                ),
            ));
        }
        hookline_core::provider::validate_api(api)
            .map_err(|m| Error::invalid("invalid_registration", format!("env `{slug}`: {m}")))?;
    }
    Ok(WebhookEnv {
        slug,
        registration_url: e.registration_url,
        method: e.method.map(|m| method(Some(m))).transpose()?,
        sample: e.sample.map(template),
        provider_api: api,
    })
}

/// Relative update and deregistration URLs need the app env's `base_url`
/// (the catalog checks the registration URL itself the same way).
fn check_provider_urls(app: &App, input: &NewWebhook) -> Result<()> {
    for e in &input.envs {
        let (Some(api), Some(app_env)) = (&e.provider_api, app.env(&e.slug)) else {
            continue;
        };
        for (field, call) in [("update", &api.update), ("deregister", &api.deregister)] {
            let Some(call) = call else { continue };
            if url::Url::parse(&call.url).is_err() && app_env.base_url.is_none() {
                return Err(Error::invalid(
                    "invalid_registration",
                    format!(
                        "env `{}`: `{field}.url` `{}` is relative but app env `{}` has no base_url",
                        e.slug, call.url, e.slug
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn webhook_env_wire(e: WebhookEnv) -> WebhookEnvWire {
    // With a `registration`, an empty template is not shown (it sends what
    // none does), as when the spec was stored inside the template.
    let shown = |t: &RequestTemplate| e.provider_api.is_none() || *t != RequestTemplate::default();
    WebhookEnvWire {
        slug: e.slug.to_string(),
        registration_url: e.registration_url,
        method: e.method.map(|m| m.to_string()),
        sample: e.sample.filter(shown).map(template_wire),
        registration: e.provider_api.map(|a| ProviderApiWire {
            id_path: a.id_path,
            secret_path: a.secret_path,
            update: a.update.map(provider_call_wire),
            deregister: a.deregister.map(provider_call_wire),
        }),
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventDefWire {
    #[schema(value_type = crate::api::doc::TagName)]
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Where the event name is: a path in the JSON body (`$Event{type}`, `$Event{data}{type}`) or a header
    /// (`$Header{x-github-event}`).
    pub selector: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub sample: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    #[schema(value_type = crate::api::doc::TagName)]
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
            .map(webhook_env)
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
        envs: w.envs.into_iter().map(webhook_env_wire).collect(),
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
    let input = req.into_input()?;
    check_provider_urls(&s.gateway.app(&app).await?, &input)?;
    let w = s.gateway.create_webhook(&app, input).await?;
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
    let input = req.into_input()?;
    check_provider_urls(&s.gateway.app(&app).await?, &input)?;
    let w = s.gateway.replace_webhook(&app, &webhook, input).await?;
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
