//! Ingest: turns a provider's call on an ingest link into a stored event.
//!
//! The link is looked up, the body read up to the limit, the signature
//! checked, the event classified, and the event handed to the
//! [`group_commit`] writer; the caller answers 2xx only once that commit is
//! durable. Rejected calls are stored too (status `rejected`), so monitoring
//! shows them, and are never forwarded; they are kept small and few (see
//! [`rejected`]: first 4 KiB of the body, a per-link and per-address limit,
//! their own retention).
//!
//! # Provider redeliveries
//! A verified call carrying a provider event id (`Verification::provider_event_id`:
//! Stripe's event `id`, `X-GitHub-Delivery`, `webhook-id`, …) that this
//! registration already received within the dedup window is a redelivery:
//! it is answered 2xx with the *original* event's id and status
//! `duplicate`, and nothing is stored or forwarded (the log records it).
//! The check is made by the [`group_commit`] writer, in the same step as the
//! insert, so two copies arriving at once store one event. A rejected call
//! never counts as an original (it is stored without its provider event id):
//! a forged request cannot make the genuine one look like a redelivery.

pub mod group_commit;
pub mod rejected;
pub mod write_health;

use crate::error::{Error, Result};
use crate::service::links::LinkTarget;
use crate::service::Gateway;
use bytes::Bytes;
use group_commit::Written;
use hookline_core::event::{Event, EventStatus, HeaderBytes, Payload, VerificationResult};
use hookline_core::ids::{new_id, LinkId};
use hookline_core::model::AppWebhook;
use hookline_core::time::Millis;
use hookline_verify::InboundRequest;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// A provider's call, exactly as received.
pub struct Inbound {
    pub method: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// The caller's address, when the server knows it (it counts rejected
    /// calls per address).
    pub peer: Option<IpAddr>,
}

/// What happened to an accepted call.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The stored event; for a duplicate, the original event.
    pub event_id: String,
    pub status: AcceptedStatus,
    /// Slack's `url_verification` challenge, to be echoed in the answer.
    pub challenge: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptedStatus {
    /// Stored with this status.
    Stored(EventStatus),
    /// A redelivery of an event already received: nothing was stored.
    Duplicate,
}

impl AcceptedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored(s) => s.as_str(),
            Self::Duplicate => "duplicate",
        }
    }
}

pub struct Ingest {
    gateway: Gateway,
    writer: group_commit::Writer,
    /// The outcome of the writer's last batch, for `/healthz`.
    health: Arc<write_health::WriteHealth>,
    /// How many rejected calls are stored per link and address.
    rejected: rejected::RejectedLimiter,
}

impl Ingest {
    /// `health` is the one `writer` records into; at most
    /// `rejected_per_minute` rejected calls per link and source address are
    /// stored each minute (`0`: all).
    pub fn new(
        gateway: Gateway,
        writer: group_commit::Writer,
        health: Arc<write_health::WriteHealth>,
        rejected_per_minute: u32,
    ) -> Self {
        Ingest {
            gateway,
            writer,
            health,
            rejected: rejected::RejectedLimiter::new(rejected_per_minute),
        }
    }

    /// Whether this node can write, as `/healthz` reports it.
    pub fn write_health(&self) -> &write_health::WriteHealth {
        &self.health
    }

    pub async fn accept(&self, link: &str, inbound: Inbound) -> Result<Accepted> {
        let target = self.target(link).await?;
        let (reg, webhook) = (&target.registration, &target.webhook);

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
        // Only a verified call may be the original of later redeliveries.
        let provider_event_id = checked
            .is_ok()
            .then(|| webhook.verification.provider_event_id(&request))
            .flatten();
        let challenge = if checked.is_ok() && scheme == "slack" {
            slack_challenge(&inbound.body)
        } else {
            None
        };
        let header = |name: &str| {
            inbound
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Err(e) = &checked {
            if let Err(retry_after) = self.rejected.admit(link, inbound.peer) {
                crate::metrics::record::ingested(reg, EventStatus::Rejected);
                crate::metrics::record::rejected_unstored(reg);
                return Err(Error::TooManyRejected {
                    message: format!(
                        "{scheme} verification failed: {e}; too many rejected calls from this address \
                         on this link, so this one was not recorded"
                    ),
                    retry_after_secs: retry_after.as_secs().max(1),
                });
            }
        }
        let event_type = webhook.classify_request(&inbound.body, &header);
        // A rejected call keeps only the start of its body.
        let body = if checked.is_err() {
            rejected::kept_body(&inbound.body)
        } else {
            &inbound.body[..]
        };
        let received_body_bytes =
            (body.len() < inbound.body.len()).then_some(inbound.body.len() as u64);
        let verification = (scheme != "none").then(|| VerificationResult {
            scheme: scheme.to_owned(),
            ok: checked.is_ok(),
            code: checked.as_ref().err().map(|e| e.code().to_owned()),
            message: checked.as_ref().err().map(|e| e.to_string()),
            received_body_bytes,
        });
        let body = body.to_vec();

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
            event_type,
            status,
            received_at: now,
            updated_at: now,
            verification,
            provider_event_id: provider_event_id.clone(),
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
            body,
        };
        let event_id = event.id.clone();
        tracing::debug!(
            event_id,
            registration_id = reg.id,
            status = status.as_str(),
            "ingested"
        );
        if let Written::Duplicate(original) = self.writer.write(event, payload).await? {
            tracing::info!(
                original,
                registration_id = reg.id,
                provider_event_id = ?provider_event_id,
                "provider redelivery: answered, not stored or forwarded again"
            );
            return Ok(Accepted {
                event_id: original,
                status: AcceptedStatus::Duplicate,
                challenge,
            });
        }
        crate::metrics::record::ingested(reg, status);

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
        Ok(Accepted {
            event_id,
            status: AcceptedStatus::Stored(status),
            challenge,
        })
    }
}

impl Ingest {
    /// The link's registration and webhook, from the cache when fresh (see
    /// [`crate::service::links`]); unknown and retired links are errors.
    async fn target(&self, link: &str) -> Result<Arc<LinkTarget>> {
        let unknown = || Error::not_found("link", "this ingest link");
        let link = LinkId::parse(link).ok_or_else(unknown)?;
        let cache = &self.gateway.links;
        let target = match cache.links.get(link.as_str()) {
            Some(target) => target,
            None => {
                let generation = cache.links.generation();
                let read_at = Instant::now();
                let store = &self.gateway.store;
                let registration = store
                    .get_registration_by_link(link.as_str())
                    .await?
                    .ok_or_else(unknown)?;
                let webhook = self.webhook(&registration.webhook_id).await?;
                let target = Arc::new(LinkTarget {
                    registration,
                    webhook,
                });
                cache
                    .links
                    .insert(link.as_str(), generation, read_at, target.clone());
                target
            }
        };
        if !target.registration.active {
            return Err(Error::Gone(
                "this ingest link was retired (its registration is disabled)".into(),
            ));
        }
        Ok(target)
    }

    /// A webhook by id, shared by every link to it.
    async fn webhook(&self, id: &str) -> Result<Arc<AppWebhook>> {
        let cache = &self.gateway.links.webhooks;
        if let Some(webhook) = cache.get(id) {
            return Ok(webhook);
        }
        let generation = cache.generation();
        let read_at = Instant::now();
        let webhook = self
            .gateway
            .store
            .get_webhook_by_id(id)
            .await?
            .ok_or_else(|| {
                Error::Gone("the webhook this link was made for no longer exists".into())
            })?;
        let webhook = Arc::new(webhook);
        cache.insert(id, generation, read_at, webhook.clone());
        Ok(webhook)
    }
}

/// The `challenge` of a Slack `url_verification` call, which Slack expects
/// echoed before it accepts a Request URL.
fn slack_challenge(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    let c = v.get("challenge")?.as_str()?;
    (!c.is_empty() && c.len() <= 512).then(|| c.to_owned())
}

/// Header values byte for byte ([`HeaderBytes`]): nothing is re-encoded.
fn header_pairs(headers: &http::HeaderMap) -> Vec<(String, HeaderBytes)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().into()))
        .collect()
}
