//! Webhook signature verification and Standard Webhooks signing for Hookline.
//!
//! This crate owns two things:
//!
//! - **Inbound verification**: [`verify`] checks that a webhook call really
//!   comes from the provider, using the scheme configured on the app webhook
//!   ([`Verification`], stored as JSON `{"scheme": "stripe", ...}`) and the
//!   secret of the registration. Checks run over the raw body bytes exactly as
//!   received.
//! - **Outbound signing**: [`standard`] produces the Standard Webhooks
//!   `webhook-signature` header Hookline puts on every delivery.
//!
//! # Layout
//! - `lib.rs`: [`Verification`] (the configuration), [`verify`] (dispatch),
//!   provider event ids and configuration checks.
//! - `request`: [`InboundRequest`] and the header/query/timestamp readers.
//! - `crypto`: the single HMAC helper, constant-time comparisons, decoders.
//! - `schemes/`: one module per scheme family (Stripe; Slack; providers that
//!   sign only the body; the configurable generic HMAC; Basic and API keys).
//! - `standard`: Standard Webhooks, both verifying and signing.
//! - `error`: [`VerifyError`] and its stable codes.
//!
//! # Invariants
//! - No I/O, no async, no clock: the caller passes `now` as unix seconds.
//! - Nothing here panics on request input; arithmetic on timestamps is
//!   overflow-free and every decode failure is an error value.
//! - Signatures and secrets are compared in constant time.
//! - Error messages never contain the secret or the expected signature.
#![forbid(unsafe_code)]

mod crypto;
mod error;
mod request;
mod schemes;
pub mod standard;

use serde::{Deserialize, Serialize};

pub use error::VerifyError;
pub use request::InboundRequest;
pub use schemes::hmac::{Encoding, HmacAlgorithm, HmacOptions};

/// Tolerance for timestamped schemes when none is configured: 5 minutes,
/// what Stripe, Slack and Standard Webhooks recommend.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// How inbound calls to an app webhook are verified. Stored as JSON on the app
/// webhook: `{"scheme": "stripe", "tolerance_secs": 600}`.
///
/// Every scheme except `none` needs the registration's secret. For schemes
/// with a timestamp, `tolerance_secs` is the largest allowed distance between
/// the signed timestamp and now, in either direction (default
/// [`DEFAULT_TOLERANCE_SECS`]); `0` turns the check off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
// Deserialized through `wire::Verification`, which rejects unknown fields for
// every scheme (serde's derive cannot for unit variants).
#[serde(tag = "scheme", rename_all = "snake_case", from = "wire::Verification")]
pub enum Verification {
    /// Accept every call.
    #[default]
    None,
    /// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`: hex
    /// HMAC-SHA256 of `"{t}.{body}"` keyed with the endpoint secret
    /// (`whsec_…`, used verbatim). Any `v1` may match; `v0` is ignored.
    Stripe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the body.
    Github,
    /// `X-Shopify-Hmac-Sha256: <base64>`: HMAC-SHA256 of the body keyed with
    /// the app's client secret.
    Shopify,
    /// `X-Slack-Signature: v0=<hex>`: HMAC-SHA256 of
    /// `"v0:{X-Slack-Request-Timestamp}:{body}"` keyed with the signing secret.
    Slack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// `x-paystack-signature: <hex>`: HMAC-SHA512 of the body keyed with the
    /// secret key.
    Paystack,
    /// Standard Webhooks (and Svix): `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<b64> [v1,<b64>…]` (or the `svix-` names);
    /// HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed with the base64
    /// secret after an optional `whsec_` prefix.
    StandardWebhooks {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// A configurable HMAC for providers without a built-in scheme.
    Hmac(HmacOptions),
    /// `Authorization: Basic <base64(user:password)>`; the secret is
    /// `user:password`.
    Basic,
    /// A shared key sent verbatim in a header (default `x-api-key`) or, when
    /// `query` is set, in that query parameter. Set at most one of the two.
    ApiKey {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
    },
}

/// Checks an inbound request against the configured scheme.
///
/// `secret` is the registration's verification secret (`None` or blank when
/// there is none); `now_unix` is the current time in unix seconds, used by
/// schemes that sign a timestamp. The signature is checked before the
/// timestamp, so [`VerifyError::TimestampOutOfTolerance`] is only reported
/// for requests that were genuinely signed (a replay or a skewed clock).
pub fn verify(
    v: &Verification,
    secret: Option<&str>,
    req: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<(), VerifyError> {
    if *v == Verification::None {
        return Ok(());
    }
    let secret = match secret {
        Some(s) if !s.trim().is_empty() => s,
        _ => return Err(VerifyError::MissingSecret),
    };
    let tolerance = |t: &Option<u64>| t.unwrap_or(DEFAULT_TOLERANCE_SECS);
    match v {
        Verification::None => Ok(()),
        Verification::Stripe { tolerance_secs } => {
            schemes::stripe::verify(secret, req, now_unix, tolerance(tolerance_secs))
        }
        Verification::Github => {
            schemes::hmac::verify(&schemes::body::github(), secret, req, now_unix)
        }
        Verification::Shopify => {
            schemes::hmac::verify(&schemes::body::shopify(), secret, req, now_unix)
        }
        Verification::Paystack => {
            schemes::hmac::verify(&schemes::body::paystack(), secret, req, now_unix)
        }
        Verification::Slack { tolerance_secs } => {
            schemes::slack::verify(secret, req, now_unix, tolerance(tolerance_secs))
        }
        Verification::StandardWebhooks { tolerance_secs } => {
            standard::verify(secret, req, now_unix, tolerance(tolerance_secs))
        }
        Verification::Hmac(options) => schemes::hmac::verify(options, secret, req, now_unix),
        Verification::Basic => schemes::credentials::verify_basic(secret, req),
        Verification::ApiKey { header, query } => {
            schemes::credentials::verify_api_key(header.as_deref(), query.as_deref(), secret, req)
        }
    }
}

impl Verification {
    /// The scheme's name as it appears in the JSON `scheme` field.
    pub fn scheme(&self) -> &'static str {
        match self {
            Verification::None => "none",
            Verification::Stripe { .. } => "stripe",
            Verification::Github => "github",
            Verification::Shopify => "shopify",
            Verification::Slack { .. } => "slack",
            Verification::Paystack => "paystack",
            Verification::StandardWebhooks { .. } => "standard_webhooks",
            Verification::Hmac(_) => "hmac",
            Verification::Basic => "basic",
            Verification::ApiKey { .. } => "api_key",
        }
    }

    /// The provider's own delivery or event id, for deduplication, where the
    /// scheme knows where it is:
    ///
    /// | scheme | source |
    /// |---|---|
    /// | `stripe` | JSON body `id` (`evt_…`) |
    /// | `github` | `X-GitHub-Delivery` |
    /// | `shopify` | `X-Shopify-Webhook-Id` |
    /// | `slack` | JSON body `event_id` (Events API) |
    /// | `standard_webhooks` | `webhook-id`, else `svix-id` |
    /// | `hmac` | the `id_header`, if configured |
    ///
    /// Other schemes (including `paystack`, which sends no delivery id) give
    /// `None`. Values are trimmed; empty or over-long (> 256 bytes) values
    /// give `None`. This does not verify anything: call it after [`verify`].
    pub fn provider_event_id(&self, req: &InboundRequest<'_>) -> Option<String> {
        match self {
            Verification::Stripe { .. } => json_string_field(req.body, "id"),
            Verification::Github => req.header_text("x-github-delivery"),
            Verification::Shopify => req.header_text("x-shopify-webhook-id"),
            Verification::Slack { .. } => json_string_field(req.body, "event_id"),
            Verification::StandardWebhooks { .. } => standard::event_id(req),
            Verification::Hmac(options) => req.header_text(options.id_header.as_deref()?),
            Verification::None
            | Verification::Paystack
            | Verification::Basic
            | Verification::ApiKey { .. } => None,
        }
    }

    /// Catches configuration errors at registration time, with a message
    /// meant for the person who wrote the configuration.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Verification::Hmac(options) => options.validate(),
            Verification::ApiKey { header, query } => {
                schemes::credentials::validate_api_key(header.as_deref(), query.as_deref())
            }
            Verification::None
            | Verification::Stripe { .. }
            | Verification::Github
            | Verification::Shopify
            | Verification::Slack { .. }
            | Verification::Paystack
            | Verification::StandardWebhooks { .. }
            | Verification::Basic => Ok(()),
        }
    }
}

/// A top-level string field of a JSON object body, if the body is one.
/// Read without building the document (ingest calls this on every Stripe
/// and Slack body): the other values are skipped, though still checked, so
/// an invalid body gives `None` as before. Of a field given twice the last
/// counts, as in a parsed document.
fn json_string_field(body: &[u8], field: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde::de::DeserializeSeed::deserialize(top_level::Field(field), &mut de).ok()?;
    de.end().ok()?;
    match value? {
        serde_json::Value::String(s) => request::plausible_id(&s),
        _ => None,
    }
}

mod top_level {
    //! The seed behind [`super::json_string_field`].

    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use std::fmt;

    /// The value of one top-level field of a JSON object; only that value
    /// is built.
    pub(super) struct Field<'f>(pub &'f str);

    impl<'de> DeserializeSeed<'de> for Field<'_> {
        type Value = Option<serde_json::Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Field<'_> {
        type Value = Option<serde_json::Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(wanted) = map.next_key_seed(KeyIs(self.0))? {
                if wanted {
                    found = Some(map.next_value()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    /// Whether a key is the one wanted, compared without keeping it.
    struct KeyIs<'f>(&'f str);

    impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for KeyIs<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
            Ok(key == self.0)
        }
    }
}

/// Checks that a configured header name is one HTTP allows.
fn validate_header_name(field: &str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("`{field}` must not be empty"));
    }
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| format!("`{field}` is not a valid HTTP header name: {name:?}"))
}

mod wire {
    //! The deserialized form of [`super::Verification`].
    //!
    //! serde ignores `deny_unknown_fields` for unit variants of internally
    //! tagged enums, so `{"scheme": "github", "secret": "…"}` would silently
    //! drop the misplaced field. Here every variant is a struct variant, which
    //! honours it; the conversion is one-to-one.

    use serde::Deserialize;

    use crate::HmacOptions;

    #[derive(Deserialize)]
    #[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
    pub(super) enum Verification {
        None {},
        Stripe {
            #[serde(default)]
            tolerance_secs: Option<u64>,
        },
        Github {},
        Shopify {},
        Slack {
            #[serde(default)]
            tolerance_secs: Option<u64>,
        },
        Paystack {},
        StandardWebhooks {
            #[serde(default)]
            tolerance_secs: Option<u64>,
        },
        Hmac(HmacOptions),
        Basic {},
        ApiKey {
            #[serde(default)]
            header: Option<String>,
            #[serde(default)]
            query: Option<String>,
        },
    }

    impl From<Verification> for super::Verification {
        fn from(v: Verification) -> Self {
            match v {
                Verification::None {} => Self::None,
                Verification::Stripe { tolerance_secs } => Self::Stripe { tolerance_secs },
                Verification::Github {} => Self::Github,
                Verification::Shopify {} => Self::Shopify,
                Verification::Slack { tolerance_secs } => Self::Slack { tolerance_secs },
                Verification::Paystack {} => Self::Paystack,
                Verification::StandardWebhooks { tolerance_secs } => {
                    Self::StandardWebhooks { tolerance_secs }
                }
                Verification::Hmac(options) => Self::Hmac(options),
                Verification::Basic {} => Self::Basic,
                Verification::ApiKey { header, query } => Self::ApiKey { header, query },
            }
        }
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
