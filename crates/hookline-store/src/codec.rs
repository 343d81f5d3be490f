//! Backend-neutral mapping between stored rows and domain values: the JSON
//! `doc` of configuration rows, the column values of events, payloads and
//! attempts, and the integer conversions between them.
//!
//! Nothing here knows a SQL dialect. The row structs derive [`sqlx::FromRow`]
//! generically, so every backend decodes its rows with them as long as its
//! columns have the same names and store integers as 64-bit (`BIGINT` on
//! PostgreSQL) and JSON as text.

use crate::{Result, StoreError};
use hookline_core::event::{
    Attempt, AttemptError, Completion, Delivery, DeliveryStatus, Event, EventStatus, Payload,
    VerificationResult,
};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The event columns every backend selects and returns, in the order of
/// [`EventRow`] and [`EventValues`]. A macro rather than a const so that
/// statements can be assembled with `concat!` at compile time.
macro_rules! event_columns {
    () => {
        "id, registration_id, product_tag, access_tag, webhook_tag, env, event_type, status, \
         received_at, updated_at, attempts, retry_base, next_attempt_at, delivered_at, \
         last_response_status, last_error, provider_event_id, verification"
    };
}
pub(crate) use event_columns;

/// The attempt columns, in the order of [`AttemptRow`] and [`AttemptValues`].
macro_rules! attempt_columns {
    () => {
        "id, event_id, delivery_id, number, started_at, duration_ms, request_url, \
         response_status, response_excerpt, error"
    };
}
pub(crate) use attempt_columns;

/// The delivery columns, in the order of [`DeliveryRow`] and
/// [`DeliveryValues`].
macro_rules! delivery_columns {
    () => {
        "id, event_id, registration_id, destination_id, status, created_at, updated_at, \
         attempts, retry_base, next_attempt_at, delivered_at, last_response_status, last_error"
    };
}
pub(crate) use delivery_columns;

/// Serializes a configuration value into its `doc` column.
pub(crate) fn to_doc<T: Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string(value)?)
}

/// Reads a configuration value back from its `doc` column; a doc that no
/// longer parses is reported with the row it came from.
pub(crate) fn from_doc<T: DeserializeOwned>(entity: &str, id: &str, doc: &str) -> Result<T> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("{entity} {id}: {e}")))
}

/// The `event` key column of a registration: `''` for "every event", because
/// NULLs never collide under a UNIQUE constraint.
pub(crate) fn registration_event_key(reg_event: Option<&str>) -> &str {
    reg_event.unwrap_or("")
}

/// A human-readable registration key for `Conflict` errors.
pub(crate) fn registration_label(reg: &Registration) -> String {
    let event = reg
        .event
        .as_ref()
        .map(|e| format!("/{e}"))
        .unwrap_or_default();
    format!(
        "{}/{}/{}{event}/{}",
        reg.product_tag, reg.access_tag, reg.webhook_tag, reg.env
    )
}

fn to_i64<T: TryInto<i64>>(v: T) -> i64 {
    // Counters and durations never approach i64::MAX; saturate rather than
    // fail a write over an impossible value.
    v.try_into().unwrap_or(i64::MAX)
}

fn to_u32(column: &str, id: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} of {id} is {v}")))
}

fn to_u16(column: &str, id: &str, v: Option<i64>) -> Result<Option<u16>> {
    v.map(|v| u16::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} of {id} is {v}"))))
        .transpose()
}

fn opt_json<T: DeserializeOwned>(column: &str, id: &str, v: Option<String>) -> Result<Option<T>> {
    v.map(|s| from_doc(column, id, &s)).transpose()
}

/// An event's stored status text.
pub(crate) fn parse_status(id: &str, s: &str) -> Result<EventStatus> {
    EventStatus::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("status of event {id} is `{s}`")))
}

/// An `events` row as selected with `event_columns!()`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    pub id: String,
    pub registration_id: String,
    pub product_tag: String,
    pub access_tag: String,
    pub webhook_tag: String,
    pub env: String,
    pub event_type: Option<String>,
    pub status: String,
    pub received_at: i64,
    pub updated_at: i64,
    pub attempts: i64,
    pub retry_base: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub last_response_status: Option<i64>,
    pub last_error: Option<String>,
    pub provider_event_id: Option<String>,
    pub verification: Option<String>,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<Event> {
        Ok(Event {
            status: parse_status(&r.id, &r.status)?,
            attempts: to_u32("attempts", &r.id, r.attempts)?,
            retry_base: to_u32("retry_base", &r.id, r.retry_base)?,
            last_response_status: to_u16("last_response_status", &r.id, r.last_response_status)?,
            verification: opt_json::<VerificationResult>("verification", &r.id, r.verification)?,
            registration_id: r.registration_id,
            product_tag: r.product_tag,
            access_tag: r.access_tag,
            webhook_tag: r.webhook_tag,
            env: r.env,
            event_type: r.event_type,
            received_at: Millis(r.received_at),
            updated_at: Millis(r.updated_at),
            provider_event_id: r.provider_event_id,
            next_attempt_at: r.next_attempt_at.map(Millis),
            delivered_at: r.delivered_at.map(Millis),
            last_error: r.last_error,
            id: r.id,
        })
    }
}

/// An event's column values ready to bind, in `event_columns!()` order.
pub(crate) struct EventValues<'a> {
    pub id: &'a str,
    pub registration_id: &'a str,
    pub product_tag: &'a str,
    pub access_tag: &'a str,
    pub webhook_tag: &'a str,
    pub env: &'a str,
    pub event_type: Option<&'a str>,
    pub status: &'static str,
    pub received_at: i64,
    pub updated_at: i64,
    pub attempts: i64,
    pub retry_base: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub last_response_status: Option<i64>,
    pub last_error: Option<&'a str>,
    pub provider_event_id: Option<&'a str>,
    pub verification: Option<String>,
}

impl<'a> EventValues<'a> {
    pub fn new(e: &'a Event) -> Result<Self> {
        Ok(EventValues {
            id: &e.id,
            registration_id: &e.registration_id,
            product_tag: &e.product_tag,
            access_tag: &e.access_tag,
            webhook_tag: &e.webhook_tag,
            env: &e.env,
            event_type: e.event_type.as_deref(),
            status: e.status.as_str(),
            received_at: e.received_at.0,
            updated_at: e.updated_at.0,
            attempts: i64::from(e.attempts),
            retry_base: i64::from(e.retry_base),
            next_attempt_at: e.next_attempt_at.map(|m| m.0),
            delivered_at: e.delivered_at.map(|m| m.0),
            last_response_status: e.last_response_status.map(i64::from),
            last_error: e.last_error.as_deref(),
            provider_event_id: e.provider_event_id.as_deref(),
            verification: e.verification.as_ref().map(to_doc).transpose()?,
        })
    }
}

/// An `event_payloads` row. The columns are optional so that a payload read
/// through an outer join can report a missing row as corruption.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PayloadRow {
    pub method: Option<String>,
    pub query: Option<String>,
    pub headers: Option<String>,
    pub body: Option<Vec<u8>>,
}

impl PayloadRow {
    pub fn into_payload(self, event_id: &str) -> Result<Payload> {
        let missing = || StoreError::Corrupt(format!("event {event_id} has no payload"));
        let headers = self.headers.ok_or_else(missing)?;
        Ok(Payload {
            method: self.method.ok_or_else(missing)?,
            query: self.query,
            headers: from_doc("headers of event", event_id, &headers)?,
            body: self.body.ok_or_else(missing)?,
        })
    }
}

/// A payload's column values ready to bind.
pub(crate) struct PayloadValues<'a> {
    pub method: &'a str,
    pub query: Option<&'a str>,
    pub headers: String,
    pub body: &'a [u8],
}

impl<'a> PayloadValues<'a> {
    pub fn new(p: &'a Payload) -> Result<Self> {
        Ok(PayloadValues {
            method: &p.method,
            query: p.query.as_deref(),
            headers: to_doc(&p.headers)?,
            body: &p.body,
        })
    }
}

/// An `attempts` row as selected with `attempt_columns!()`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRow {
    pub id: String,
    pub event_id: String,
    pub delivery_id: String,
    pub number: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub request_url: String,
    pub response_status: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = StoreError;

    fn try_from(r: AttemptRow) -> Result<Attempt> {
        Ok(Attempt {
            number: to_u32("number", &r.id, r.number)?,
            duration_ms: u64::try_from(r.duration_ms).map_err(|_| {
                StoreError::Corrupt(format!("duration_ms of {} is {}", r.id, r.duration_ms))
            })?,
            response_status: to_u16("response_status", &r.id, r.response_status)?,
            error: opt_json::<AttemptError>("error", &r.id, r.error)?,
            event_id: r.event_id,
            delivery_id: r.delivery_id,
            started_at: Millis(r.started_at),
            request_url: r.request_url,
            response_excerpt: r.response_excerpt,
            id: r.id,
        })
    }
}

/// An attempt's column values ready to bind, in `attempt_columns!()` order.
pub(crate) struct AttemptValues<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub delivery_id: &'a str,
    pub number: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub request_url: &'a str,
    pub response_status: Option<i64>,
    pub response_excerpt: Option<&'a str>,
    pub error: Option<String>,
}

impl<'a> AttemptValues<'a> {
    pub fn new(a: &'a Attempt) -> Result<Self> {
        Ok(AttemptValues {
            id: &a.id,
            event_id: &a.event_id,
            delivery_id: &a.delivery_id,
            number: i64::from(a.number),
            started_at: a.started_at.0,
            duration_ms: to_i64(a.duration_ms),
            request_url: &a.request_url,
            response_status: a.response_status.map(i64::from),
            response_excerpt: a.response_excerpt.as_deref(),
            error: a.error.as_ref().map(to_doc).transpose()?,
        })
    }

    /// The attempts of a group of completions, in order.
    pub fn of_completions(completions: &'a [Completion]) -> Result<Vec<Self>> {
        completions.iter().map(|c| Self::new(&c.attempt)).collect()
    }
}

/// A `deliveries` row as selected with `delivery_columns!()`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub registration_id: String,
    pub destination_id: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: i64,
    pub retry_base: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub last_response_status: Option<i64>,
    pub last_error: Option<String>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Delivery> {
        Ok(Delivery {
            status: DeliveryStatus::parse(&r.status).ok_or_else(|| {
                StoreError::Corrupt(format!("status of delivery {} is `{}`", r.id, r.status))
            })?,
            attempts: to_u32("attempts", &r.id, r.attempts)?,
            retry_base: to_u32("retry_base", &r.id, r.retry_base)?,
            last_response_status: to_u16("last_response_status", &r.id, r.last_response_status)?,
            event_id: r.event_id,
            registration_id: r.registration_id,
            destination_id: r.destination_id,
            created_at: Millis(r.created_at),
            updated_at: Millis(r.updated_at),
            next_attempt_at: r.next_attempt_at.map(Millis),
            delivered_at: r.delivered_at.map(Millis),
            last_error: r.last_error,
            id: r.id,
        })
    }
}

/// A delivery's column values ready to bind, in `delivery_columns!()` order.
pub(crate) struct DeliveryValues<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub registration_id: &'a str,
    pub destination_id: &'a str,
    pub status: &'static str,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: i64,
    pub retry_base: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub last_response_status: Option<i64>,
    pub last_error: Option<&'a str>,
}

impl<'a> DeliveryValues<'a> {
    pub fn new(d: &'a Delivery) -> Self {
        DeliveryValues {
            id: &d.id,
            event_id: &d.event_id,
            registration_id: &d.registration_id,
            destination_id: &d.destination_id,
            status: d.status.as_str(),
            created_at: d.created_at.0,
            updated_at: d.updated_at.0,
            attempts: i64::from(d.attempts),
            retry_base: i64::from(d.retry_base),
            next_attempt_at: d.next_attempt_at.map(|m| m.0),
            delivered_at: d.delivered_at.map(|m| m.0),
            last_response_status: d.last_response_status.map(i64::from),
            last_error: d.last_error.as_deref(),
        }
    }
}

// --- documents with secrets ------------------------------------------------
//
// Registrations and connections carry secrets (receiver auth values,
// verification and signing secrets, provider credentials). A store with a
// cipher seals them here, as their doc is written, and opens them as it is
// read, so no path to the database can skip it; a store without one keeps
// them as given (and reads sealed values back as they are).

use crate::sealed::DocCipher;
use crate::Claimed;
use hookline_core::model::{ApiKey, App, AppWebhook, Auth, Connection, Product};

/// The columns of a configuration row besides `doc`, with their values.
/// Every one but the timestamps is text.
pub(crate) struct Columns<'a> {
    pub id: &'a str,
    /// Set once, when the row is inserted.
    pub fixed: Vec<(&'static str, &'a str)>,
    /// Rewritten by every update, with `updated_at` and `doc`.
    pub keys: Vec<(&'static str, &'a str)>,
    pub created_at: Millis,
    /// `None` for kinds that are never updated.
    pub updated_at: Option<Millis>,
}

/// A kind of configuration document, stored whole as the JSON `doc` of a
/// row in [`TABLE`](Self::TABLE) beside the columns that find it and keep it
/// unique.
pub(crate) trait Document: Serialize + DeserializeOwned + Send + Sync {
    /// What messages call one.
    const ENTITY: &'static str;
    const TABLE: &'static str;

    fn columns(&self) -> Columns<'_>;

    /// What a unique violation of `constraint` reports as the key that
    /// collided.
    fn conflict_key(&self, constraint: &str) -> String;

    /// A copy with its secrets sealed under `cipher`; `None` for kinds
    /// without secrets.
    fn sealed(&self, _cipher: &DocCipher) -> Option<Self> {
        None
    }

    /// Opens what [`sealed`](Self::sealed) sealed. A secret that does not
    /// open is [`StoreError::Corrupt`].
    fn opened(self, _cipher: &DocCipher) -> Result<Self> {
        Ok(self)
    }

    /// Its `doc`, secrets sealed where the store has a cipher.
    fn doc(&self, cipher: Option<&DocCipher>) -> Result<String> {
        match cipher.and_then(|c| self.sealed(c)) {
            Some(sealed) => to_doc(&sealed),
            None => to_doc(self),
        }
    }

    /// One back from its row, secrets opened where the store has a cipher.
    fn from_row(cipher: Option<&DocCipher>, id: &str, doc: &str) -> Result<Self> {
        let value: Self = from_doc(Self::ENTITY, id, doc)?;
        match cipher {
            Some(c) => value.opened(c),
            None => Ok(value),
        }
    }
}

impl Document for ApiKey {
    const ENTITY: &'static str = "api key";
    const TABLE: &'static str = "api_keys";

    fn columns(&self) -> Columns<'_> {
        Columns {
            id: &self.id,
            fixed: vec![("hash", &self.hash)],
            keys: Vec::new(),
            created_at: self.created_at,
            updated_at: None,
        }
    }

    // Never echo a key hash into an error message.
    fn conflict_key(&self, _: &str) -> String {
        self.id.clone()
    }
}

/// Apps and products: found by their tag, which is unique.
macro_rules! tagged_document {
    ($kind:ty, $entity:literal, $table:literal) => {
        impl Document for $kind {
            const ENTITY: &'static str = $entity;
            const TABLE: &'static str = $table;

            fn columns(&self) -> Columns<'_> {
                Columns {
                    id: &self.id,
                    fixed: Vec::new(),
                    keys: vec![("tag", self.tag.as_str())],
                    created_at: self.created_at,
                    updated_at: Some(self.updated_at),
                }
            }

            fn conflict_key(&self, _: &str) -> String {
                self.tag.to_string()
            }
        }
    };
}
tagged_document!(App, "app", "apps");
tagged_document!(Product, "product", "products");

impl Document for AppWebhook {
    const ENTITY: &'static str = "webhook";
    const TABLE: &'static str = "webhooks";

    fn columns(&self) -> Columns<'_> {
        Columns {
            id: &self.id,
            fixed: vec![("app_id", &self.app_id)],
            keys: vec![("tag", self.tag.as_str())],
            created_at: self.created_at,
            updated_at: Some(self.updated_at),
        }
    }

    fn conflict_key(&self, _: &str) -> String {
        format!("{}/{}", self.app_id, self.tag)
    }
}

impl Document for Connection {
    const ENTITY: &'static str = "connection";
    const TABLE: &'static str = "connections";

    fn columns(&self) -> Columns<'_> {
        Columns {
            id: &self.id,
            fixed: vec![("product_id", &self.product_id)],
            keys: vec![
                ("app_id", &self.app_id),
                ("access_tag", self.access_tag.as_str()),
            ],
            created_at: self.created_at,
            updated_at: Some(self.updated_at),
        }
    }

    fn conflict_key(&self, _: &str) -> String {
        self.access_tag.to_string()
    }

    fn sealed(&self, cipher: &DocCipher) -> Option<Self> {
        Some(cipher.seal_connection(self))
    }

    fn opened(self, cipher: &DocCipher) -> Result<Self> {
        cipher.open_connection(self)
    }
}

impl Document for Registration {
    const ENTITY: &'static str = "registration";
    const TABLE: &'static str = "registrations";

    /// All keys: a save rewrites the whole row but its creation time.
    fn columns(&self) -> Columns<'_> {
        Columns {
            id: &self.id,
            fixed: Vec::new(),
            keys: vec![
                ("product_id", &self.product_id),
                ("access_tag", self.access_tag.as_str()),
                ("webhook_id", &self.webhook_id),
                (
                    "event",
                    registration_event_key(self.event.as_ref().map(|t| t.as_str())),
                ),
                ("env", self.env.as_str()),
                ("link_id", self.link_id.as_str()),
            ],
            created_at: self.created_at,
            updated_at: Some(self.updated_at),
        }
    }

    fn conflict_key(&self, constraint: &str) -> String {
        if constraint.contains("link_id") {
            format!("link {}", self.link_id)
        } else {
            registration_label(self)
        }
    }

    fn sealed(&self, cipher: &DocCipher) -> Option<Self> {
        Some(cipher.seal_registration(self))
    }

    fn opened(self, cipher: &DocCipher) -> Result<Self> {
        cipher.open_registration(self)
    }
}

/// Opens the registrations of claimed events, which the queue reads with
/// their secrets as stored. One whose secrets do not open must not fail the
/// claim (its events would stay leased, and the others with them): it is
/// handed on without secrets and with [`Claimed::unreadable_secrets`] set,
/// so the worker records a failed attempt instead of sending.
pub(crate) fn open_claimed(cipher: Option<&DocCipher>, mut claimed: Vec<Claimed>) -> Vec<Claimed> {
    let Some(cipher) = cipher else {
        return claimed;
    };
    for c in &mut claimed {
        match cipher.open_registration(c.registration.clone()) {
            Ok(reg) => c.registration = reg,
            Err(e) => {
                strip_secrets(&mut c.registration);
                c.unreadable_secrets = Some(match e {
                    StoreError::Corrupt(why) => why,
                    other => other.to_string(),
                });
            }
        }
    }
    claimed
}

/// Leaves no sealed (or half-opened) secret in a registration that could
/// not be opened, so nothing can send it.
fn strip_secrets(r: &mut Registration) {
    if let Some(rx) = r.receiver.as_mut() {
        rx.auth = Auth::default();
    }
    r.verification_secret = None;
    r.signing_secret = String::new();
    r.previous_signing_secrets.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_status_is_corrupt_not_a_panic() {
        let err = parse_status("evt_1", "exploded").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(m) if m.contains("exploded")));
    }

    #[test]
    fn negative_counters_are_corrupt() {
        assert!(to_u32("attempts", "evt_1", -1).is_err());
        assert_eq!(to_u16("s", "evt_1", Some(204)).unwrap(), Some(204));
        assert!(to_u16("s", "evt_1", Some(70_000)).is_err());
    }
}
