//! Received events, their deliveries and the deliveries' attempts.
//!
//! An *event* is what a provider sent, stored once and never changed but for
//! its summary. Each destination that should get it has a *delivery* with
//! its own status, attempts, schedule and lease; today a registration has
//! one destination, its receiver.
//!
//! Delivery status machine: a delivery starts `pending` (due now), or `held`
//! while its registration has no receiver. A worker's claim makes it
//! `delivering`; after a failed attempt with retries left it is `pending`
//! again with its next attempt time; it ends `delivered` or, when retries run
//! out, `failed`. Replay makes a delivered or failed delivery `pending`.
//!
//! The event's status is derived from its deliveries (see
//! [`EventStatus`]): with one destination it reads as before deliveries
//! existed — `received` until the first attempt, `delivering` while one is
//! in flight or a retry is waiting, then `delivered`, `failed` or `held`. An
//! event that failed verification is `rejected` and has no delivery.

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

/// An inbound request exactly as received, header values byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub method: String,
    pub query: Option<String>,
    pub headers: Vec<(String, HeaderBytes)>,
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl Payload {
    /// A header's value, when it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.to_str())
    }
}

/// A header value's exact bytes (HTTP allows any byte but CR, LF and NUL;
/// providers send UTF-8 and, rarely, Latin-1 or worse).
///
/// Stored (serde) as a JSON string when every byte is visible ASCII, space
/// or tab, else as `{"base64": "…"}`, so no byte is re-encoded. A stored
/// string with characters up to U+00FF is read back one byte per character
/// (Latin-1): rows written before this type kept non-ASCII values that way,
/// so they too are forwarded exactly as received. A string with characters
/// above U+00FF (never written by Hookline) is read as its UTF-8 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderBytes(pub Vec<u8>);

impl HeaderBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text, when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The value as text for people (invalid UTF-8 replaced by U+FFFD).
    pub fn to_text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    fn is_plain(&self) -> bool {
        self.0
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    }
}

impl From<&str> for HeaderBytes {
    fn from(s: &str) -> Self {
        HeaderBytes(s.as_bytes().to_vec())
    }
}

impl From<String> for HeaderBytes {
    fn from(s: String) -> Self {
        HeaderBytes(s.into_bytes())
    }
}

impl From<&[u8]> for HeaderBytes {
    fn from(b: &[u8]) -> Self {
        HeaderBytes(b.to_vec())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredHeader {
    Text(String),
    Bytes { base64: String },
}

impl Serialize for HeaderBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        if self.is_plain() {
            // Visible ASCII: the bytes are the text.
            let text = std::str::from_utf8(&self.0).expect("ASCII");
            return s.serialize_str(text);
        }
        StoredHeader::Bytes {
            base64: base64::engine::general_purpose::STANDARD.encode(&self.0),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for HeaderBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        Ok(match StoredHeader::deserialize(d)? {
            StoredHeader::Text(t) if t.chars().all(|c| (c as u32) <= 0xff) => {
                HeaderBytes(t.chars().map(|c| c as u8).collect())
            }
            StoredHeader::Text(t) => HeaderBytes(t.into_bytes()),
            StoredHeader::Bytes { base64 } => HeaderBytes(
                base64::engine::general_purpose::STANDARD
                    .decode(base64)
                    .map_err(serde::de::Error::custom)?,
            ),
        })
    }
}

#[cfg(test)]
mod header_bytes_tests {
    use super::HeaderBytes;

    fn round_trip(bytes: &[u8]) -> (String, HeaderBytes) {
        let json = serde_json::to_string(&HeaderBytes(bytes.to_vec())).unwrap();
        let back = serde_json::from_str(&json).unwrap();
        (json, back)
    }

    #[test]
    fn every_value_comes_back_byte_for_byte() {
        for v in [
            &b"plain text"[..],
            b"a\tb",
            b"\xff\xfe",
            "café".as_bytes(),
            b"\x7f",
            b"",
        ] {
            let (json, back) = round_trip(v);
            assert_eq!(back.as_bytes(), v, "{json}");
        }
        assert_eq!(round_trip(b"plain").0, r#""plain""#);
        assert_eq!(round_trip(b"\xff").0, r#"{"base64":"/w=="}"#);
    }

    #[test]
    fn rows_written_before_keep_their_bytes() {
        // Non-ASCII values were stored Latin-1 decoded: one char per byte.
        let old: HeaderBytes = serde_json::from_str(r#""caf\u00c3\u00a9 \u00ff""#).unwrap();
        assert_eq!(old.as_bytes(), b"caf\xc3\xa9 \xff");
        let ascii: HeaderBytes = serde_json::from_str(r#""v=1, t=2""#).unwrap();
        assert_eq!(ascii.as_bytes(), b"v=1, t=2");
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

/// An event as stored, without its payload: the request's facts (fixed at
/// receipt) and a summary of its deliveries, which the store keeps in step
/// with them in the same transaction. With one destination the summary's
/// figures are that delivery's. When an event is stored, its summary fields
/// say in which state its delivery starts (see the store's `insert_events`).
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
    /// Attempts made in total, over all deliveries.
    pub attempts: u32,
    /// The least of its deliveries' [`Delivery::retry_base`].
    pub retry_base: u32,
    /// The earliest next attempt of its deliveries; `None` when none is
    /// queued.
    pub next_attempt_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    /// Of the delivery that changed last.
    pub last_response_status: Option<u16>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting in the queue: due at `next_attempt_at` (now, or a retry).
    Pending,
    /// Leased by a worker, which is calling the destination.
    Delivering,
    Delivered,
    /// Retries ran out (or it can never be sent).
    Failed,
    /// Its registration has no receiver yet.
    Held,
    /// Its destination's filter did not match: never sent.
    Filtered,
    /// Its destination is paused.
    Paused,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 7] = [
        Self::Pending,
        Self::Delivering,
        Self::Delivered,
        Self::Failed,
        Self::Held,
        Self::Filtered,
        Self::Paused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Held => "held",
            Self::Filtered => "filtered",
            Self::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One event on its way to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `dlv_<ULID>`.
    pub id: String,
    pub event_id: String,
    pub registration_id: String,
    pub destination_id: String,
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts made when it was last queued; the retry schedule counts
    /// from here, so a replay starts the schedule afresh.
    pub retry_base: u32,
    /// When a worker may next claim it; `None` when it is not queued.
    pub next_attempt_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub last_response_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a worker records after trying one delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: String,
    pub event_id: String,
    pub delivery_id: String,
    /// 1-based, over the delivery's whole life.
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

/// What the store does with a delivery after an attempt.
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
