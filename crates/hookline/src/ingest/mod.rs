//! Ingest: turns a provider's call on an ingest link into a stored event.
//!
//! The link is looked up, the body read up to the limit, the signature
//! checked, the event classified, and the event handed to the
//! [`group_commit`] writer; the caller answers 2xx only once that commit is
//! durable. Rejected calls are stored too (status `rejected`), so monitoring
//! shows them, and are never forwarded.

pub mod group_commit;

use crate::error::{Error, Result};
use crate::service::Gateway;
use bytes::Bytes;
use hookline_core::event::{Event, EventStatus, Payload, VerificationResult};
use hookline_core::ids::{new_id, LinkId};
use hookline_core::time::Millis;
use hookline_verify::InboundRequest;

/// A provider's call, exactly as received.
pub struct Inbound {
    pub method: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// What happened to an accepted call.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub event_id: String,
    pub status: EventStatus,
}

pub struct Ingest {
    gateway: Gateway,
    writer: group_commit::Writer,
}

impl Ingest {
    pub fn new(gateway: Gateway, writer: group_commit::Writer) -> Self {
        Ingest { gateway, writer }
    }

    pub async fn accept(&self, link: &str, inbound: Inbound) -> Result<Accepted> {
        let unknown = || Error::not_found("link", "this ingest link");
        let link = LinkId::parse(link).ok_or_else(unknown)?;
        let store = &self.gateway.store;
        let reg = store
            .get_registration_by_link(link.as_str())
            .await?
            .ok_or_else(unknown)?;
        if !reg.active {
            return Err(Error::Gone(
                "this ingest link was retired (its registration is disabled)".into(),
            ));
        }
        let webhook = store
            .get_webhook_by_id(&reg.webhook_id)
            .await?
            .ok_or_else(|| {
                Error::Gone("the webhook this link was made for no longer exists".into())
            })?;

        let now = Millis::now();
        let request = InboundRequest {
            method: &inbound.method,
            headers: &inbound.headers,
            query: inbound.query.as_deref(),
            body: &inbound.body,
        };
        let scheme = webhook.verification.scheme();
        let checked = hookline_verify::verify(
            &webhook.verification,
            reg.verification_secret.as_deref(),
            &request,
            now.unix_seconds(),
        );
        let provider_event_id = webhook.verification.provider_event_id(&request);
        let verification = (scheme != "none").then(|| VerificationResult {
            scheme: scheme.to_owned(),
            ok: checked.is_ok(),
            code: checked.as_ref().err().map(|e| e.code().to_owned()),
            message: checked.as_ref().err().map(|e| e.to_string()),
        });

        let status = match (&checked, &reg.receiver) {
            (Err(_), _) => EventStatus::Rejected,
            (Ok(()), None) => EventStatus::Held,
            (Ok(()), Some(_)) => EventStatus::Received,
        };
        let event = Event {
            id: new_id("evt"),
            registration_id: reg.id.clone(),
            product_tag: reg.product_tag.to_string(),
            access_tag: reg.access_tag.to_string(),
            webhook_tag: reg.webhook_tag.to_string(),
            env: reg.env.to_string(),
            event_type: webhook.classify(&inbound.body),
            status,
            received_at: now,
            updated_at: now,
            verification,
            provider_event_id,
            attempts: 0,
            retry_base: 0,
            next_attempt_at: (status == EventStatus::Received).then_some(now),
            delivered_at: None,
            last_response_status: None,
            last_error: None,
        };
        let payload = Payload {
            method: inbound.method,
            query: inbound.query,
            headers: header_pairs(&inbound.headers),
            body: inbound.body.to_vec(),
        };
        let event_id = event.id.clone();
        tracing::debug!(
            event_id,
            registration_id = reg.id,
            status = status.as_str(),
            "ingested"
        );
        self.writer.write(event, payload).await?;

        if let Err(e) = checked {
            return Err(Error::Verification {
                code: "signature_invalid",
                message: format!(
                    "{} verification failed: {e} (recorded as event {event_id})",
                    scheme
                ),
            });
        }
        if status == EventStatus::Received {
            self.gateway.wake_workers();
        }
        Ok(Accepted { event_id, status })
    }
}

/// Header values that are not UTF-8 are kept as Latin-1, which maps each
/// byte to one char, so nothing is lost.
fn header_pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let value = match v.to_str() {
                Ok(s) => s.to_owned(),
                Err(_) => v.as_bytes().iter().map(|&b| b as char).collect(),
            };
            (k.as_str().to_owned(), value)
        })
        .collect()
}
