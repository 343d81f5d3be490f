//! Which events a request is about: the filter `GET /api/v1/events`, the
//! live stream and bulk replays share ([`EventFilterParams`]), parsed and
//! checked here, and how a query or body is split between it and a route's
//! own fields ([`split_query`], [`split_object`]).
//!
//! Each route reads its filter with its own fields (a page, a stream
//! position, a rate) from one query string or body and rejects a field
//! neither names. `#[serde(flatten)]` cannot do that: with it serde accepts
//! unknown fields (`deny_unknown_fields` does not combine with it), and
//! utoipa documents the result as an `allOf`. So the fields are split by
//! name first, then each struct reads its share.

use super::views::time;
use crate::error::Error;
use hookline_core::event::EventStatus;
use hookline_core::time::Millis;
use hookline_store::EventFilter;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which events: the filter of the event list, the live stream and bulk
/// replays, and how a bulk replay shows its own. Every field narrows the
/// result.
// No `deny_unknown_fields`: it is only read through `split_query` and
// `split_object`, which reject unknown fields, and documenting it would
// claim `additionalProperties: false` of the replay job view.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, IntoParams, ToSchema)]
#[schema(as = ReplayFilterView)]
pub struct EventFilterParams {
    /// Product tag.
    pub product: Option<String>,
    pub access_tag: Option<String>,
    /// Webhook tag.
    pub webhook: Option<String>,
    /// Event name found by the webhook's selectors.
    pub event: Option<String>,
    pub env: Option<String>,
    /// `received`, `delivering`, `delivered`, `failed`, `rejected` or `held`.
    pub status: Option<String>,
    pub registration: Option<String>,
    /// Received at or after (RFC 3339).
    #[param(format = DateTime)]
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// Received before (RFC 3339).
    #[param(format = DateTime)]
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

impl EventFilterParams {
    /// The store's filter (no cursor, default page), or 422 `invalid_status`
    /// / `invalid_time`.
    pub fn into_filter(self) -> Result<EventFilter, Error> {
        Ok(EventFilter {
            status: parse_status(self.status)?,
            since: parse_time("since", self.since)?,
            until: parse_time("until", self.until)?,
            product_tag: self.product,
            access_tag: self.access_tag,
            webhook_tag: self.webhook,
            event_type: self.event,
            env: self.env,
            registration_id: self.registration,
            before_id: None,
            limit: 0,
        })
    }
}

impl From<&EventFilter> for EventFilterParams {
    fn from(f: &EventFilter) -> Self {
        EventFilterParams {
            product: f.product_tag.clone(),
            access_tag: f.access_tag.clone(),
            webhook: f.webhook_tag.clone(),
            event: f.event_type.clone(),
            env: f.env.clone(),
            status: f.status.map(|s| s.as_str().to_owned()),
            registration: f.registration_id.clone(),
            since: f.since.map(time),
            until: f.until.map(time),
        }
    }
}

fn parse_time(field: &str, v: Option<String>) -> Result<Option<Millis>, Error> {
    v.map(|s| {
        Millis::parse_rfc3339(&s).ok_or_else(|| {
            Error::invalid(
                "invalid_time",
                format!("`{field}` must be an RFC 3339 time, got `{s}`"),
            )
        })
    })
    .transpose()
}

fn parse_status(v: Option<String>) -> Result<Option<EventStatus>, Error> {
    v.map(|s| {
        EventStatus::parse(&s).ok_or_else(|| {
            Error::invalid(
                "invalid_status",
                format!("status `{s}` is not one of received, delivering, delivered, failed, rejected, held"),
            )
        })
    })
    .transpose()
}

/// The field names `T`'s derived `Deserialize` reads (what it passes to
/// `deserialize_struct`); empty for anything but a struct.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names<'a>(&'a mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for Names<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only the field names were wanted"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(Names(&mut names));
    names
}

/// Which of `A` and `B` names `field` (`A` first), or the error serde gives
/// an unknown field, listing both structs' fields.
fn owner<A: DeserializeOwned, B: DeserializeOwned>(field: &str) -> Result<bool, String> {
    let (a, b) = (field_names::<A>(), field_names::<B>());
    if a.contains(&field) {
        Ok(true)
    } else if b.contains(&field) {
        Ok(false)
    } else {
        let expected: Vec<String> = a.iter().chain(b).map(|n| format!("`{n}`")).collect();
        Err(format!(
            "unknown field `{field}`, expected one of {}",
            expected.join(", ")
        ))
    }
}

/// Reads a query string into `A` (the parameters it names) and `B` (the
/// rest); a parameter neither names is an error, as it is for one struct
/// with `deny_unknown_fields`. Errors are worded as axum's `Query` words
/// them (each share is read by it).
pub fn split_query<A: DeserializeOwned, B: DeserializeOwned>(
    query: &str,
) -> Result<(A, B), String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = url::form_urlencoded::parse(pair.as_bytes())
            .next()
            .map(|(k, _)| k)
            .unwrap_or_default();
        match owner::<A, B>(&name) {
            Ok(true) => a.push(pair),
            Ok(false) => b.push(pair),
            Err(e) => return Err(format!("Failed to deserialize query string: {e}")),
        }
    }
    fn read<T: DeserializeOwned>(pairs: Vec<&str>) -> Result<T, String> {
        // The pairs come from a valid URI, so they make one again.
        let uri: http::Uri = format!("/?{}", pairs.join("&"))
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        axum::extract::Query::try_from_uri(&uri)
            .map(|axum::extract::Query(v)| v)
            .map_err(|e| e.body_text())
    }
    Ok((read(a)?, read(b)?))
}

/// [`split_query`] for a JSON object.
pub fn split_object<A: DeserializeOwned, B: DeserializeOwned>(
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<(A, B), String> {
    let (mut a, mut b) = (serde_json::Map::new(), serde_json::Map::new());
    for (name, value) in object {
        if owner::<A, B>(&name)? {
            a.insert(name, value);
        } else {
            b.insert(name, value);
        }
    }
    fn read<T: DeserializeOwned>(
        m: serde_json::Map<String, serde_json::Value>,
    ) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::Object(m)).map_err(|e| e.to_string())
    }
    Ok((read(a)?, read(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Page {
        limit: Option<u32>,
        cursor: Option<String>,
    }

    #[test]
    fn field_names_are_the_struct_fields() {
        assert_eq!(field_names::<Page>(), ["limit", "cursor"]);
        assert_eq!(field_names::<EventFilterParams>().len(), 9);
        assert!(field_names::<String>().is_empty());
    }

    #[test]
    fn a_query_is_split_between_the_filter_and_the_rest() {
        let (f, p): (EventFilterParams, Page) =
            split_query("product=shop&limit=5&since=2026-01-01T00%3A00%3A00Z&cursor=evt_1")
                .unwrap();
        assert_eq!(f.product.as_deref(), Some("shop"));
        assert_eq!(f.since.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(
            p,
            Page {
                limit: Some(5),
                cursor: Some("evt_1".into())
            }
        );
        let (f, p): (EventFilterParams, Page) = split_query("").unwrap();
        assert_eq!((f, p), Default::default());
    }

    #[test]
    fn unknown_and_bad_fields_are_errors() {
        let e = split_query::<EventFilterParams, Page>("product=a&nope=1").unwrap_err();
        assert!(
            e.starts_with("Failed to deserialize query string: unknown field `nope`, expected one of `product`"),
            "{e}"
        );
        assert!(e.ends_with("`limit`, `cursor`"), "{e}");
        // An encoded name is decoded before it is looked up.
        assert!(split_query::<EventFilterParams, Page>("%6Cimit=1").is_ok());
        let e = split_query::<EventFilterParams, Page>("limit=x").unwrap_err();
        assert!(e.contains("limit: invalid digit"), "{e}");
        assert!(split_query::<EventFilterParams, Page>("limit=1&limit=2").is_err());
        let object = serde_json::json!({"status": "failed", "rate": 3, "x": 1});
        let serde_json::Value::Object(object) = object else {
            unreachable!()
        };
        #[derive(Debug, Deserialize)]
        struct Rate {
            #[allow(dead_code)]
            rate: Option<u32>,
        }
        let e = split_object::<EventFilterParams, Rate>(object).unwrap_err();
        assert!(e.starts_with("unknown field `x`"), "{e}");
    }

    #[test]
    fn the_filter_is_checked_in_one_place() {
        let bad = |p: EventFilterParams| p.into_filter().unwrap_err().code();
        let status = EventFilterParams {
            status: Some("lost".into()),
            ..Default::default()
        };
        assert_eq!(bad(status), "invalid_status");
        let until = EventFilterParams {
            until: Some("yesterday".into()),
            ..Default::default()
        };
        assert_eq!(bad(until), "invalid_time");
        let f = EventFilterParams {
            status: Some("failed".into()),
            since: Some("2026-01-01T00:00:00Z".into()),
            registration: Some("reg_1".into()),
            ..Default::default()
        }
        .into_filter()
        .unwrap();
        assert_eq!(f.status, Some(EventStatus::Failed));
        assert_eq!(f.registration_id.as_deref(), Some("reg_1"));
        // Shown as it was asked for.
        let shown = EventFilterParams::from(&f);
        assert_eq!(shown.status.as_deref(), Some("failed"));
        assert_eq!(shown.since.as_deref(), Some("2026-01-01T00:00:00.000Z"));
    }
}
