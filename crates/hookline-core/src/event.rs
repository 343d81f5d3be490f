//! Received events and their delivery attempts.
//!
//! Status machine: an accepted event starts `received` (or `held` when its
//! registration has no receiver, or `rejected` when verification failed and it
//! is never forwarded). A worker's claim makes it `delivering`; it stays there
//! between retries and ends `delivered` or, when retries run out, `failed`.
//! Replay puts a delivered or failed event back in the queue.

use crate::time::Millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Received,
    Delivering,
    Delivered,
    Failed,
    Rejected,
    Held,
}

impl EventStatus {
    pub const ALL: [EventStatus; 6] = [
        Self::Received,
        Self::Delivering,
        Self::Delivered,
        Self::Failed,
        Self::Rejected,
        Self::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An inbound request exactly as received. Header values that are not UTF-8
/// are kept as Latin-1 text, which maps every byte to one char and back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub method: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl Payload {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of checking an inbound call's signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationResult {
    pub scheme: String,
    pub ok: bool,
    /// Stable code of the failure (`signature_mismatch`, …).
    pub code: Option<String>,
    pub message: Option<String>,
    /// The body's size as received, when only its first bytes were stored
    /// (a rejected call keeps [`REJECTED_BODY_KEPT`] bytes); `None`: the
    /// body is stored whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_body_bytes: Option<u64>,
}

/// How much of a rejected call's body is stored: enough to see what was
/// sent, not enough for unsigned posts to fill the disk.
pub const REJECTED_BODY_KEPT: usize = 4096;

/// An event as stored, without its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub registration_id: String,
    pub product_tag: String,
    pub access_tag: String,
    pub webhook_tag: String,
    pub env: String,
    /// The event name found by the webhook's selectors, if any.
    pub event_type: Option<String>,
    pub status: EventStatus,
    pub received_at: Millis,
    pub updated_at: Millis,
    pub verification: Option<VerificationResult>,
    /// The provider's own delivery or event id, used to drop redeliveries.
    pub provider_event_id: Option<String>,
    /// Attempts made in total.
    pub attempts: u32,
    /// Attempts made when the event was last queued; the retry schedule
    /// counts from here, so a replay starts the schedule afresh.
    pub retry_base: u32,
    /// When a worker may next claim it; `None` when nothing is queued.
    pub next_attempt_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub last_response_status: Option<u16>,
    pub last_error: Option<String>,
}

/// What a worker records after trying one delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: String,
    pub event_id: String,
    /// 1-based, over the event's whole life.
    pub number: u32,
    pub started_at: Millis,
    pub duration_ms: u64,
    pub request_url: String,
    pub response_status: Option<u16>,
    /// First 4 KiB of the response body (lossy UTF-8).
    pub response_excerpt: Option<String>,
    pub error: Option<AttemptError>,
}

pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    Dns,
    Connect,
    Tls,
    TargetNotAllowed,
    /// The receiver answered, but not with a 2xx.
    Status,
    /// The connection broke while sending or reading.
    Io,
    /// The request could not be built (bad receiver URL, …).
    Request,
    /// The registration's secrets could not be decrypted with this node's
    /// secret key; nothing was sent.
    SecretUnreadable,
}

/// What the store does with an event after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(Millis),
    Failed,
    /// The registration lost its receiver (or was retired) meanwhile.
    Held,
}

/// A finished attempt, handed to the store with the lease it ran under.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub lease_owner: String,
    pub attempt: Attempt,
    pub next: NextStep,
}
