//! Wire shapes shared by several resources, and their conversions from the
//! domain. Times are RFC 3339 strings; secrets of receiver auth are never
//! echoed back.

use crate::error::{Error, Result};
use hookline_core::model::{Auth, HttpMethod, Receiver, Registration};
use hookline_core::names::{EnvSlug, Tag};
use hookline_core::time::Millis;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub fn time(m: Millis) -> String {
    m.to_rfc3339()
}

pub fn tag(v: String) -> Result<Tag> {
    Ok(Tag::parse(v)?)
}

pub fn env(v: String) -> Result<EnvSlug> {
    Ok(EnvSlug::parse(v)?)
}

pub fn method(v: Option<String>) -> Result<HttpMethod> {
    match v {
        None => Ok(HttpMethod::Post),
        Some(m) => HttpMethod::parse(&m).ok_or_else(|| {
            Error::invalid(
                "invalid_method",
                format!("method `{m}` is not one of GET, POST, PUT, PATCH, DELETE"),
            )
        }),
    }
}

pub fn http_url(field: &str, v: &str) -> Result<url::Url> {
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => Err(Error::invalid(
            "invalid_url",
            format!("`{field}` must be an absolute http(s) URL, got `{v}`"),
        )),
    }
}

/// Receiver auth as the seeds write it: `{headers, query, params, body}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuthWire {
    /// Headers added to every forwarded request.
    #[serde(deserialize_with = "string_map")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters merged into the receiver URL.
    #[serde(deserialize_with = "string_map")]
    pub query: BTreeMap<String, String>,
    /// Values for `:name` / `{name}` placeholders in the receiver URL.
    #[serde(deserialize_with = "string_map")]
    pub params: BTreeMap<String, String>,
    /// Fields merged into a JSON object body.
    #[schema(value_type = Object)]
    pub body: Map<String, Value>,
}

impl AuthWire {
    pub fn into_domain(self) -> Result<Auth> {
        for name in self.headers.keys() {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Error::invalid(
                    "invalid_header",
                    format!("`{name}` is not a valid header name"),
                ));
            }
        }
        for (name, value) in &self.headers {
            if http::HeaderValue::from_str(value).is_err() {
                return Err(Error::invalid(
                    "invalid_header",
                    format!("the value of header `{name}` is not valid"),
                ));
            }
        }
        Ok(Auth {
            headers: self.headers,
            query: self.query,
            params: self.params,
            body: self.body,
        })
    }
}

/// Accepts strings, numbers and booleans as string values.
fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(serde::de::Error::custom(format!("`{k}` must be a string"))),
        })
        .collect()
}

pub fn receiver(url: &str, m: Option<String>, auth: Option<AuthWire>) -> Result<Receiver> {
    Ok(Receiver {
        url: http_url("url", url)?,
        method: method(m)?,
        auth: auth.unwrap_or_default().into_domain()?,
    })
}

/// Where events of a registration go (auth is not echoed).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiverView {
    pub url: String,
    pub method: String,
    /// Names of the injected auth headers (values are not shown).
    pub auth_headers: Vec<String>,
}

impl From<&Receiver> for ReceiverView {
    fn from(r: &Receiver) -> Self {
        ReceiverView {
            url: r.url.to_string(),
            method: r.method.to_string(),
            auth_headers: r.auth.headers.keys().cloned().collect(),
        }
    }
}

/// What Hookline did at the provider's registration API for this registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderRegistrationView {
    /// `not_applicable` (link mode), `skipped` (the provider has an API, but this link was made without calling
    /// it), `registered`, `failed` (see `message`; enable again to retry), `deregistered`.
    pub status: String,
    /// The provider's id of the webhook Hookline created (kept while it exists there).
    pub provider_id: Option<String>,
    /// The provider's HTTP status in its last answer.
    pub http_status: Option<u16>,
    /// What happened, including the provider's own error message on failure.
    pub message: Option<String>,
    pub updated_at: Option<String>,
}

/// A rotated-out signing secret that still signs forwarded requests alongside the current one.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviousSecretView {
    pub expires_at: String,
}

/// A registration: one ingest link tied to a receiver.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    pub id: String,
    pub product: String,
    pub access_tag: String,
    pub app: String,
    pub webhook: String,
    /// The event this link is for; `null` for a link carrying all the webhook's events.
    pub event: Option<String>,
    pub env: String,
    pub app_env: String,
    /// The ingest link (same as `link`).
    pub url: String,
    pub link: String,
    pub receiver: Option<ReceiverView>,
    pub active: bool,
    pub provider_registration: ProviderRegistrationView,
    /// Secret of the Standard Webhooks signature on forwarded requests.
    pub signing_secret: String,
    /// After a rotation: the previous secrets (values not shown) that still sign alongside `signing_secret`,
    /// each until its expiry.
    pub previous_signing_secrets: Vec<PreviousSecretView>,
    pub has_verification_secret: bool,
    /// Retry schedule of this registration, when it overrides the default.
    pub retry_schedule: Option<Vec<String>>,
    pub created_at: String,
    pub updated_at: String,
}

impl RegistrationView {
    pub fn new(r: &Registration, link: String) -> Self {
        RegistrationView {
            id: r.id.clone(),
            product: r.product_tag.to_string(),
            access_tag: r.access_tag.to_string(),
            app: r.app_tag.to_string(),
            webhook: r.webhook_tag.to_string(),
            event: r.event.as_ref().map(|e| e.to_string()),
            env: r.env.to_string(),
            app_env: r.app_env.to_string(),
            url: link.clone(),
            link,
            receiver: r.receiver.as_ref().map(ReceiverView::from),
            active: r.active,
            provider_registration: ProviderRegistrationView {
                status: r.provider.status.as_str().to_owned(),
                provider_id: r.provider.provider_id.clone(),
                http_status: r.provider.http_status,
                message: r.provider.message.clone(),
                updated_at: r.provider.updated_at.map(time),
            },
            signing_secret: r.signing_secret.clone(),
            previous_signing_secrets: {
                let now = Millis::now();
                r.previous_signing_secrets
                    .iter()
                    .filter(|p| p.expires_at > now)
                    .map(|p| PreviousSecretView {
                        expires_at: time(p.expires_at),
                    })
                    .collect()
            },
            has_verification_secret: r.verification_secret.is_some(),
            retry_schedule: r.retry_schedule.as_ref().map(|s| {
                s.0.iter()
                    .map(|d| humantime::format_duration(*d).to_string())
                    .collect()
            }),
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}
