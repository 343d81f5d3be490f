//! `/api/v1/presets`: the built-in provider definitions an app can be
//! created from (`POST /api/v1/apps {"preset": …}`).

use super::apps::EventDefWire;
use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Path};
use super::AppState;
use crate::error::Error;
use crate::presets::{Preset, PresetWebhook};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_presets))
        .routes(routes!(get_preset))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresetView {
    /// What `POST /api/v1/apps {"preset": …}` takes, and the app's default tag.
    pub preset: String,
    pub name: String,
    pub description: String,
    pub docs_url: Option<String>,
    /// The provider's API: every env's default `base_url`.
    pub base_url: Option<String>,
    /// The envs an app gets when the create call lists none.
    pub envs: Vec<String>,
    pub webhooks: Vec<PresetWebhookView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresetWebhookView {
    pub tag: String,
    pub name: String,
    pub description: Option<String>,
    /// `full_registration` (`enable` calls the provider's API) or `link` (paste the link into the provider's dashboard).
    pub mode: String,
    #[schema(value_type = Object)]
    pub verification: Value,
    /// What to do by hand: the credentials to connect the app with, or where to paste the link.
    pub setup: Option<String>,
    /// The registration call (`url` relative to the env's `base_url`, `method`, `sample`, `id_path`, `secret_path`,
    /// `update`, `deregister`); absent in link mode.
    #[schema(value_type = Option<Object>)]
    pub registration: Option<Value>,
    pub events: Vec<EventDefWire>,
}

fn view(p: &Preset) -> PresetView {
    PresetView {
        preset: p.preset.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        docs_url: p.docs_url.clone(),
        base_url: p.base_url.as_ref().map(|u| u.to_string()),
        envs: p.envs.iter().map(|e| e.to_string()).collect(),
        webhooks: p.webhooks.iter().map(webhook_view).collect(),
    }
}

fn webhook_view(w: &PresetWebhook) -> PresetWebhookView {
    PresetWebhookView {
        tag: w.tag.to_string(),
        name: w.name.clone(),
        description: w.description.clone(),
        mode: w.mode().to_owned(),
        verification: serde_json::to_value(&w.verification).unwrap_or(Value::Null),
        setup: w.setup.clone(),
        registration: w
            .registration
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok()),
        events: w
            .events
            .iter()
            .map(|e| EventDefWire {
                tag: e.tag.to_string(),
                name: e.name.clone(),
                description: e.description.clone(),
                selector: e.selector.to_string(),
                sample: None,
            })
            .collect(),
    }
}

/// List the built-in presets: Stripe, GitHub, Shopify, Slack, Paystack and a generic Standard Webhooks sender.
#[utoipa::path(get, path = "/api/v1/presets", tag = "apps",
    responses((status = 200, body = Vec<PresetView>)), security(("bearer" = [])))]
async fn list_presets(_: Authenticated) -> Json<Vec<PresetView>> {
    Json(crate::presets::all().iter().map(view).collect())
}

/// Read one built-in preset.
#[utoipa::path(get, path = "/api/v1/presets/{preset}", tag = "apps",
    params(("preset" = String, Path, description = "Preset name, e.g. `stripe`")),
    responses((status = 200, body = PresetView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_preset(
    _: Authenticated,
    Path(preset): Path<String>,
) -> Result<Json<PresetView>, ApiError> {
    crate::presets::get(&preset)
        .map(|p| Json(view(p)))
        .ok_or_else(|| ApiError(Error::not_found("preset", preset)))
}
