//! Wire types of the management API.
//!
//! Requests are typed and leave out what is not set. Answers are typed where
//! a caller needs their fields, and lenient: fields the server adds later
//! land in `extra` (so re-serialising an answer, as `--json` output does,
//! loses nothing), and missing optional fields are `None` or empty.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Fields of an answer that this client does not name.
pub type Extra = Map<String, Value>;

// --- apps -----------------------------------------------------------------

/// An app env, in requests and answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppEnv {
    pub slug: String,
    /// Base of the provider's API in this env.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// `POST /api/v1/apps`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewApp {
    pub tag: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub envs: Vec<AppEnv>,
}

/// `POST /api/v1/apps {preset}`: an app made from a built-in provider definition.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PresetApp {
    pub preset: String,
    /// Default: the preset's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Default: the preset's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default: the preset's envs, with the provider's real API as `base_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envs: Option<Vec<AppEnv>>,
}

/// `PATCH /api/v1/apps/{app}`: only the fields set change.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envs: Option<Vec<AppEnv>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub envs: Vec<AppEnv>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A webhook env, in requests and answers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WebhookEnv {
    pub slug: String,
    /// The provider's registration API (absolute, or relative to the app env's `base_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Template of the registration request: `{headers, query, params, body}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Value>,
}

/// An event a webhook carries, in requests and answers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventDef {
    pub tag: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `$Event{type}`, `$Event{data}{type}`, …
    pub selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Value>,
}

/// `POST /api/v1/apps/{app}/webhooks` and `PUT …/webhooks/{webhook}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebhookDef {
    pub tag: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `{"scheme": …, …options}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Value>,
    pub envs: Vec<WebhookEnv>,
    pub events: Vec<EventDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    #[serde(default)]
    pub app: String,
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub verification: Value,
    #[serde(default)]
    pub envs: Vec<WebhookEnv>,
    #[serde(default)]
    pub events: Vec<EventDef>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(flatten)]
    pub extra: Extra,
}

// --- products and connections -------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProductEnv {
    pub slug: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /api/v1/products`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewProduct {
    pub tag: String,
    pub name: String,
    pub envs: Vec<ProductEnv>,
}

/// `PATCH /api/v1/products/{product}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envs: Option<Vec<ProductEnv>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub envs: Vec<ProductEnv>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Auth in the seeds' shape: injected into forwarded requests (receivers) or
/// into provider registration calls (connections).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub body: Map<String, Value>,
}

impl Auth {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
            && self.query.is_empty()
            && self.params.is_empty()
            && self.body.is_empty()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionEnv {
    pub product_env: String,
    pub app_env: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

/// `POST /api/v1/products/{product}/apps`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewConnection {
    pub app: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_tag: Option<String>,
    pub envs: Vec<ConnectionEnv>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionEnvView {
    pub product_env: String,
    pub app_env: String,
    #[serde(default)]
    pub has_auth: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    #[serde(default)]
    pub product: String,
    pub app: String,
    pub access_tag: String,
    #[serde(default)]
    pub envs: Vec<ConnectionEnvView>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(flatten)]
    pub extra: Extra,
}

// --- registrations and the seed calls ------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiverView {
    pub url: String,
    pub method: String,
    /// Names of the injected auth headers (values are never shown).
    #[serde(default)]
    pub auth_headers: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderRegistration {
    /// `not_applicable`, `skipped`, `registered`, `failed`, `deregistered`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One ingest link tied to a receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub id: String,
    pub product: String,
    pub access_tag: String,
    #[serde(default)]
    pub app: String,
    pub webhook: String,
    /// Set for a link carrying one event only.
    #[serde(default)]
    pub event: Option<String>,
    pub env: String,
    #[serde(default)]
    pub app_env: String,
    pub link: String,
    #[serde(default)]
    pub receiver: Option<ReceiverView>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub provider_registration: ProviderRegistration,
    #[serde(default)]
    pub signing_secret: String,
    #[serde(default)]
    pub has_verification_secret: bool,
    #[serde(default)]
    pub retry_schedule: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(flatten)]
    pub extra: Extra,
}

fn yes() -> bool {
    true
}

/// One env of `processor.webhook.enable`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnableEnv {
    /// Product env slug.
    pub slug: String,
    /// Receiver URL.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_secret: Option<String>,
}

/// `processor.webhook.enable`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnableRequest {
    pub product_tag: String,
    pub access_tag: String,
    pub webhook_tag: String,
    pub envs: Vec<EnableEnv>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registrations {
    pub registrations: Vec<Registration>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `processor.webhook.generateLink`: one env's webhook-wide link.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessorLinkRequest {
    pub product_tag: String,
    pub access_tag: String,
    pub webhook_tag: String,
    pub product_env: String,
    /// Receiver URL.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_secret: Option<String>,
}

/// `product.webhook.generateLink`: a link for one event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductLinkRequest {
    /// The app's access tag.
    pub app: String,
    /// Event tag.
    pub event: String,
    /// Product env slug.
    pub env: String,
    /// Webhook tag, when several webhooks of the app define the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// Receiver; without one, events are held until one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_secret: Option<String>,
}

/// The answer of both `generateLink` forms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkResponse {
    pub link: String,
    pub registration: Registration,
    #[serde(default)]
    pub signing_secret: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /api/v1/processor/webhooks/disable`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DisableRequest {
    pub product_tag: String,
    pub access_tag: String,
    pub webhook_tag: String,
    /// Product env slugs; every env when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envs: Option<Vec<String>>,
}

/// A receiver in `PATCH /api/v1/registrations/{id}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceiverSpec {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

/// `PATCH /api/v1/registrations/{id}`: `None` leaves a field as it is;
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegistrationPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<ReceiverSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_secret: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Option<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

// --- events ---------------------------------------------------------------

/// Which events: the filter of `GET /api/v1/events`, of the event stream
/// and of bulk replays; every field narrows the result. Also how a bulk
/// replay shows its filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    /// Product tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_tag: Option<String>,
    /// Webhook tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// Event name found by the webhook's selectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// `received`, `delivering`, `delivered`, `failed`, `rejected` or `held`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Registration id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    /// Received at or after (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Received before (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A page of `GET /api/v1/events`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventQuery {
    #[serde(flatten)]
    pub filter: EventFilter,
    /// Page size, 1–500 (server default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The live event stream (`GET /api/v1/events/stream`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamQuery {
    #[serde(flatten)]
    pub filter: EventFilter,
    /// Start after this event id (default: from a few seconds ago).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A bulk replay to start (`POST /api/v1/replays`) or preview.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewReplay {
    #[serde(flatten)]
    pub filter: EventFilter,
    /// Events per second, 1 to the server's `replay.rate` (its default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
}

/// A bulk replay and its progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayJob {
    pub id: String,
    /// `running`, `completed` or `cancelled`.
    pub status: String,
    pub filter: EventFilter,
    /// Events per second.
    pub rate: u32,
    /// Events that matched when the job was created.
    pub total: u64,
    /// Events queued again so far.
    pub replayed: u64,
    /// Matching events that could not be replayed (rejected, held, already
    /// queued, or being delivered at that moment).
    pub skipped: u64,
    /// `(replayed + skipped) / total`, 0–1 (1 once completed).
    pub progress: f64,
    /// Id of the last event handled; the job resumes after it.
    pub cursor: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// How many events a bulk replay would go through.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayPreview {
    /// Events the filter matches now.
    pub matching: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A received event, as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(default)]
    pub registration_id: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub access_tag: String,
    #[serde(default)]
    pub webhook: String,
    #[serde(default)]
    pub env: String,
    /// Event name found by the webhook's selectors.
    #[serde(default)]
    pub event: Option<String>,
    pub status: String,
    #[serde(default)]
    pub received_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub next_attempt_at: Option<String>,
    #[serde(default)]
    pub delivered_at: Option<String>,
    #[serde(default)]
    pub last_response_status: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub provider_event_id: Option<String>,
    #[serde(default)]
    pub verification: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventPage {
    pub data: Vec<Event>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The request a provider made, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRequest {
    pub method: String,
    #[serde(default)]
    pub query: Option<String>,
    /// `[name, value]` pairs in the order received.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body when it is UTF-8.
    #[serde(default)]
    pub body: Option<String>,
    /// The body in base64 when it is not UTF-8.
    #[serde(default)]
    pub body_base64: Option<String>,
    #[serde(default)]
    pub body_size: usize,
}

impl EventRequest {
    /// The body's exact bytes.
    pub fn body_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        use base64::Engine;
        match (&self.body, &self.body_base64) {
            (Some(text), _) => Ok(text.as_bytes().to_vec()),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64),
            (None, None) => Ok(Vec::new()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(default)]
    pub id: String,
    /// The delivery it was made for.
    #[serde(default)]
    pub delivery_id: String,
    pub number: u32,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub request_url: String,
    #[serde(default)]
    pub response_status: Option<u16>,
    #[serde(default)]
    pub response_excerpt: Option<String>,
    #[serde(default)]
    pub error_kind: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The event on its way to one destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    #[serde(default)]
    pub event_id: String,
    #[serde(default)]
    pub destination_id: String,
    /// `pending`, `delivering`, `delivered`, `failed`, `held`, `filtered`,
    /// `paused`.
    pub status: String,
    /// This delivery's attempts, first to last.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    #[serde(default)]
    pub next_attempt_at: Option<String>,
    #[serde(default)]
    pub delivered_at: Option<String>,
    #[serde(default)]
    pub last_response_status: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One event with its request, its deliveries and every attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: Event,
    pub request: EventRequest,
    #[serde(default)]
    pub attempt_log: Vec<Attempt>,
    /// One per destination; none for a rejected event.
    #[serde(default)]
    pub deliveries: Vec<Delivery>,
}
