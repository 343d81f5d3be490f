//! The configuration model: providers (apps) and what they send, products and
//! how they connect to apps, and registrations that tie an ingest link to a
//! receiver. These values are stored whole and compared whole; the HTTP layer
//! owns their wire shapes.

use crate::names::{EnvSlug, Tag};
use crate::retry::RetrySchedule;
use crate::selector::Selector;
use crate::time::Millis;
use crate::verify::Verification;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// HTTP methods a receiver or a provider registration call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Values injected into an outbound request: headers added, query merged,
/// `params` substituted into URL placeholders, `body` merged into a JSON body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Auth {
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub body: Map<String, Value>,
}

impl Auth {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
            && self.query.is_empty()
            && self.params.is_empty()
            && self.body.is_empty()
    }

    /// Every value this auth injects (header, query, param and body
    /// values; body values as their text or JSON), for masking in error
    /// texts. Names are not secret and are left out.
    pub fn values(&self) -> Vec<String> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.headers
            .values()
            .chain(self.query.values())
            .chain(self.params.values())
            .cloned()
            .chain(self.body.values().map(text))
            .collect()
    }

    /// `other` layered on top of `self`: its entries win.
    pub fn merged_with(&self, other: &Auth) -> Auth {
        let mut out = self.clone();
        out.headers.extend(other.headers.clone());
        out.query.extend(other.query.clone());
        out.params.extend(other.params.clone());
        for (k, v) in &other.body {
            out.body.insert(k.clone(), v.clone());
        }
        out
    }
}

/// Where and how an event is forwarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    pub url: url::Url,
    pub method: HttpMethod,
    #[serde(default)]
    pub auth: Auth,
}

/// A provider, e.g. Stripe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub tag: Tag,
    pub name: String,
    pub description: Option<String>,
    pub envs: Vec<AppEnv>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl App {
    pub fn env(&self, slug: &EnvSlug) -> Option<&AppEnv> {
        self.envs.iter().find(|e| &e.slug == slug)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppEnv {
    pub slug: EnvSlug,
    /// Base of the provider's API for this env; relative registration URLs
    /// resolve against it.
    pub base_url: Option<url::Url>,
}

/// A webhook an app can send: how to verify it, how to register for it per
/// env, and which events it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppWebhook {
    pub id: String,
    pub app_id: String,
    pub tag: Tag,
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub verification: Verification,
    pub envs: Vec<WebhookEnv>,
    #[serde(default)]
    pub events: Vec<EventDef>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl AppWebhook {
    pub fn env(&self, slug: &EnvSlug) -> Option<&WebhookEnv> {
        self.envs.iter().find(|e| &e.slug == slug)
    }

    pub fn event(&self, tag: &Tag) -> Option<&EventDef> {
        self.events.iter().find(|e| &e.tag == tag)
    }

    /// The event name of a payload: the first selector that finds a string.
    /// A name that matches no defined event is still returned, so monitoring
    /// shows what the provider sent. Header selectors find nothing here; see
    /// [`AppWebhook::classify_request`].
    pub fn classify(&self, body: &[u8]) -> Option<String> {
        self.classify_request(body, &|_| None)
    }

    /// Like [`AppWebhook::classify`], with the request's headers too, for
    /// `$Header{…}` selectors (`header` looks a lowercase name up). The body
    /// is parsed only when a selector reads it.
    pub fn classify_request(
        &self,
        body: &[u8],
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let mut json: Option<Option<Value>> = None;
        let mut seen: Vec<&Selector> = Vec::new();
        for def in &self.events {
            if seen.contains(&&def.selector) {
                continue;
            }
            seen.push(&def.selector);
            let body_json = if def.selector.reads_body() {
                json.get_or_insert_with(|| serde_json::from_slice(body).ok())
                    .as_ref()
            } else {
                None
            };
            if let Some(name) = def.selector.find(body_json, header) {
                return Some(name);
            }
        }
        None
    }
}

/// Per-env registration spec of an app webhook. With a `registration_url` the
/// provider has an API to register URLs (full registration); without one the
/// link is pasted into the provider's dashboard (link mode).
// `remote = "Self"`: the derived code is the inherent `serialize` and
// `deserialize`, which the trait impls below wrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct WebhookEnv {
    pub slug: EnvSlug,
    pub registration_url: Option<String>,
    pub method: Option<HttpMethod>,
    #[serde(default)]
    pub sample: Option<RequestTemplate>,
    /// How to read the provider's answer to the registration call and how to
    /// update or remove the webhook it created (the API's `registration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_api: Option<ProviderApi>,
}

impl Serialize for WebhookEnv {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WebhookEnv::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for WebhookEnv {
    /// Documents written before `provider_api` moved here keep it in
    /// `sample`; one at both places reads the new one.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut doc = Value::deserialize(d)?;
        move_up(&mut doc, "sample", "provider_api");
        WebhookEnv::deserialize(doc).map_err(serde::de::Error::custom)
    }
}

/// Moves `doc.parent.field` to `doc.field` unless that is set already.
fn move_up(doc: &mut Value, parent: &str, field: &str) {
    let Some(doc) = doc.as_object_mut() else {
        return;
    };
    let old = doc
        .get_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|p| p.remove(field));
    if let Some(old) = old {
        doc.entry(field).or_insert(old);
    }
}

/// A request template (headers, query, params, body) filled in at
/// registration; [`crate::provider`] says which placeholders it takes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestTemplate {
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub body: Value,
}

/// A provider's webhook-registration API beyond the call that creates a
/// webhook (the env's `registration_url`, `method` and `sample`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderApi {
    /// JSON Pointer (RFC 6901, e.g. `/id`) to the provider's id of the
    /// created webhook in its answer; a number is kept as its decimal text.
    /// Without it Hookline cannot update or remove the webhook later.
    pub id_path: Option<String>,
    /// JSON Pointer to the secret the provider signs its calls with (Stripe:
    /// `/secret`); it becomes the registration's `verification_secret`.
    pub secret_path: Option<String>,
    /// Sent instead of the create call when the registration already has a
    /// provider id. Without it, enabling again leaves the provider alone.
    pub update: Option<ProviderCall>,
    /// Sent by `disable`. Without it the provider's webhook stays (and the
    /// registration says so).
    pub deregister: Option<ProviderCall>,
}

/// One more call to the provider's API. `url` is absolute or relative to the
/// app env's `base_url`, and may use `{provider_id}` and `{param}` path
/// placeholders like the registration URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderCall {
    pub url: String,
    pub method: HttpMethod,
    /// `None`: an update sends the registration call's template; a
    /// deregistration sends no body.
    #[serde(default)]
    pub sample: Option<RequestTemplate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDef {
    pub tag: Tag,
    pub name: String,
    pub description: Option<String>,
    pub selector: Selector,
    #[serde(default)]
    pub sample: Option<Value>,
}

/// A team's product, deployed in several envs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub tag: Tag,
    pub name: String,
    pub envs: Vec<ProductEnv>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Product {
    pub fn env(&self, slug: &EnvSlug) -> Option<&ProductEnv> {
        self.envs.iter().find(|e| &e.slug == slug)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductEnv {
    pub slug: EnvSlug,
    pub name: Option<String>,
}

/// An app connected to a product under an access tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub product_id: String,
    pub app_id: String,
    pub access_tag: Tag,
    pub envs: Vec<ConnectionEnv>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Connection {
    pub fn env(&self, product_env: &EnvSlug) -> Option<&ConnectionEnv> {
        self.envs.iter().find(|e| &e.product_env == product_env)
    }
}

/// Maps a product env onto an app env, with the credentials used to call the
/// provider's API in that env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEnv {
    pub product_env: EnvSlug,
    pub app_env: EnvSlug,
    #[serde(default)]
    pub auth: Auth,
}

/// What happened when Hookline registered (or did not register) the link with
/// the provider's API.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProviderRegistration {
    pub status: ProviderStatus,
    /// The provider's id of the webhook it created; kept while the webhook
    /// exists there (also after a failed update), so enabling again updates
    /// it and `disable` removes it.
    pub provider_id: Option<String>,
    pub http_status: Option<u16>,
    pub message: Option<String>,
    pub updated_at: Option<Millis>,
}

/// A signing secret that was rotated out and signs alongside the current one
/// until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    /// Link mode: the provider has no registration API; paste the link.
    #[default]
    NotApplicable,
    /// The provider has a registration API but it was not called.
    Skipped,
    Registered,
    Failed,
    Deregistered,
}

impl ProviderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotApplicable => "not_applicable",
            Self::Skipped => "skipped",
            Self::Registered => "registered",
            Self::Failed => "failed",
            Self::Deregistered => "deregistered",
        }
    }
}

/// The natural key of a registration: one link per key, ever.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistrationKey {
    pub product_id: String,
    pub access_tag: Tag,
    pub webhook_id: String,
    pub event: Option<Tag>,
    pub env: EnvSlug,
}

/// See [`Registration::primary_destination_id`].
pub fn primary_destination_id(registration_id: &str) -> String {
    let tail = registration_id
        .strip_prefix("reg_")
        .unwrap_or(registration_id);
    format!("dst_{tail}")
}

/// Ties product + access tag + app webhook (+ event) + env to an ingest link
/// and a receiver. The tags are copied in so events can be filtered and
/// listed without joins; tags never change after creation.
// `remote = "Self"`: see `WebhookEnv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Registration {
    pub id: String,
    pub product_id: String,
    pub product_tag: Tag,
    pub access_tag: Tag,
    pub app_tag: Tag,
    pub webhook_id: String,
    pub webhook_tag: Tag,
    pub event: Option<Tag>,
    pub env: EnvSlug,
    pub app_env: EnvSlug,
    pub link_id: crate::ids::LinkId,
    pub receiver: Option<Receiver>,
    /// Secret that inbound calls are verified against (scheme on the webhook).
    pub verification_secret: Option<String>,
    /// Secret Hookline signs forwarded requests with (`whsec_…`).
    pub signing_secret: String,
    /// Signing secrets replaced by a rotation, still signing until they
    /// expire (see [`Registration::signing_secrets`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_signing_secrets: Vec<PreviousSecret>,
    pub provider: ProviderRegistration,
    pub retry_schedule: Option<RetrySchedule>,
    pub active: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Serialize for Registration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Registration::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Registration {
    /// Documents written before `previous_signing_secrets` moved here keep
    /// them in `provider`; a list at both places reads the new one.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut doc = Value::deserialize(d)?;
        move_up(&mut doc, "provider", "previous_signing_secrets");
        Registration::deserialize(doc).map_err(serde::de::Error::custom)
    }
}

impl Registration {
    /// The id of the registration's primary destination, its receiver. It is
    /// the registration's own id under the `dst_` prefix, so it needs no row
    /// of its own and stays the same for the registration's whole life.
    pub fn primary_destination_id(&self) -> String {
        primary_destination_id(&self.id)
    }

    /// Every secret forwarded requests are signed with at `now`: the current
    /// one first, then rotated-out ones that have not expired. Standard
    /// Webhooks receivers accept a request if any signature matches, so a
    /// receiver still configured with the old secret keeps verifying during
    /// the overlap.
    pub fn signing_secrets(&self, now: Millis) -> Vec<&str> {
        std::iter::once(self.signing_secret.as_str())
            .chain(
                self.previous_signing_secrets
                    .iter()
                    .filter(|p| p.expires_at > now)
                    .map(|p| p.secret.as_str()),
            )
            .collect()
    }

    /// Makes `new` the signing secret; the current one keeps signing until
    /// `now + overlap` (not at all with a zero overlap). Expired ones are
    /// dropped.
    pub fn rotate_signing_secret(
        &mut self,
        new: String,
        now: Millis,
        overlap: std::time::Duration,
    ) {
        let old = std::mem::replace(&mut self.signing_secret, new);
        let kept = &mut self.previous_signing_secrets;
        kept.retain(|p| p.expires_at > now);
        if !overlap.is_zero() {
            kept.insert(
                0,
                PreviousSecret {
                    secret: old,
                    expires_at: now + overlap,
                },
            );
        }
    }

    pub fn key(&self) -> RegistrationKey {
        RegistrationKey {
            product_id: self.product_id.clone(),
            access_tag: self.access_tag.clone(),
            webhook_id: self.webhook_id.clone(),
            event: self.event.clone(),
            env: self.env.clone(),
        }
    }
}

/// A management API key; only its SHA-256 hash is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub hash: String,
    pub created_at: Millis,
}

#[cfg(test)]
mod stored_shape_tests {
    use super::*;
    use crate::testing::{RegistrationBuilder, WebhookEnvBuilder};
    use serde_json::json;

    fn api(id_path: &str) -> ProviderApi {
        ProviderApi {
            id_path: Some(id_path.into()),
            ..ProviderApi::default()
        }
    }

    #[test]
    fn a_webhook_env_stored_with_the_api_in_its_template_reads_it_on_the_env() {
        let old: WebhookEnv = serde_json::from_value(json!({
            "slug": "prd", "registration_url": "/hooks", "method": "POST",
            "sample": {"headers": {"x-a": "1"}, "query": {}, "params": {}, "body": null,
                       "provider_api": {"id_path": "/id"}}
        }))
        .unwrap();
        assert_eq!(old.provider_api, Some(api("/id")));
        let mut headers = BTreeMap::new();
        headers.insert("x-a".to_owned(), "1".to_owned());
        assert_eq!(
            old.sample,
            Some(RequestTemplate {
                headers,
                ..RequestTemplate::default()
            })
        );

        let both: WebhookEnv = serde_json::from_value(json!({
            "slug": "prd", "registration_url": "/hooks", "method": null,
            "sample": {"provider_api": {"id_path": "/old"}},
            "provider_api": {"id_path": "/new"}
        }))
        .unwrap();
        assert_eq!(both.provider_api, Some(api("/new")));
    }

    #[test]
    fn a_webhook_env_round_trips_with_the_api_on_the_env_only() {
        let env = WebhookEnvBuilder::new("prd")
            .registration("/hooks", HttpMethod::Post)
            .sample(RequestTemplate::default())
            .provider_api(api("/id"))
            .build();
        let doc = serde_json::to_value(&env).unwrap();
        assert_eq!(doc["provider_api"], json!(api("/id")));
        assert!(doc["sample"].get("provider_api").is_none(), "{doc}");
        assert_eq!(serde_json::from_value::<WebhookEnv>(doc).unwrap(), env);

        let link_mode = WebhookEnvBuilder::new("prd").build();
        let doc = serde_json::to_value(&link_mode).unwrap();
        assert!(doc.get("provider_api").is_none(), "{doc}");
        assert_eq!(
            serde_json::from_value::<WebhookEnv>(doc).unwrap(),
            link_mode
        );
    }

    fn previous(secret: &str) -> PreviousSecret {
        PreviousSecret {
            secret: secret.into(),
            expires_at: Millis(5),
        }
    }

    #[test]
    fn a_registration_stored_with_previous_secrets_under_provider_reads_them_on_itself() {
        let reg = RegistrationBuilder::new().build();
        let mut doc = serde_json::to_value(&reg).unwrap();
        doc["provider"]["previous_signing_secrets"] = json!([previous("whsec_old")]);
        let old: Registration = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(old.previous_signing_secrets, vec![previous("whsec_old")]);
        assert_eq!(old.provider, reg.provider);

        doc["previous_signing_secrets"] = json!([previous("whsec_new")]);
        let both: Registration = serde_json::from_value(doc).unwrap();
        assert_eq!(both.previous_signing_secrets, vec![previous("whsec_new")]);
    }

    #[test]
    fn a_registration_round_trips_with_previous_secrets_on_itself_only() {
        let reg = RegistrationBuilder::new()
            .previous_signing_secrets(vec![previous("whsec_old")])
            .build();
        let doc = serde_json::to_value(&reg).unwrap();
        assert_eq!(
            doc["previous_signing_secrets"],
            json!([previous("whsec_old")])
        );
        assert!(
            doc["provider"].get("previous_signing_secrets").is_none(),
            "{doc}"
        );
        assert_eq!(serde_json::from_value::<Registration>(doc).unwrap(), reg);

        let fresh = RegistrationBuilder::new().build();
        let doc = serde_json::to_value(&fresh).unwrap();
        assert!(doc.get("previous_signing_secrets").is_none(), "{doc}");
        assert_eq!(serde_json::from_value::<Registration>(doc).unwrap(), fresh);
    }
}
