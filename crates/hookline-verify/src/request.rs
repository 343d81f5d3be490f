//! The view of an inbound request that schemes verify, and the header, query
//! and timestamp readers they share.

use http::HeaderMap;

use crate::VerifyError;

/// An inbound webhook call exactly as received: nothing decoded, nothing
/// re-serialized, so signatures are checked over the bytes the provider signed.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// HTTP method as received, e.g. `POST`.
    pub method: &'a str,
    /// Request headers; lookups are case-insensitive.
    pub headers: &'a HeaderMap,
    /// Raw query string without the leading `?`, if the URL had one.
    pub query: Option<&'a str>,
    /// Raw body bytes.
    pub body: &'a [u8],
}

impl<'a> InboundRequest<'a> {
    /// The value of a header the scheme requires.
    pub(crate) fn header(&self, name: &str) -> Result<&'a str, VerifyError> {
        self.optional_header(name)?
            .ok_or_else(|| VerifyError::MissingHeader(name.to_ascii_lowercase()))
    }

    /// The value of a header, `None` if absent, an error if it is not
    /// readable text or empty.
    pub(crate) fn optional_header(&self, name: &str) -> Result<Option<&'a str>, VerifyError> {
        // `HeaderMap::get(&str)` returns `None` for names that are not valid
        // header names, so configured names cannot make this panic.
        let Some(value) = self.headers.get(name) else {
            return Ok(None);
        };
        let value = value.to_str().map_err(|_| {
            VerifyError::malformed(name, "the value contains bytes that are not visible ASCII")
        })?;
        if value.trim().is_empty() {
            return Err(VerifyError::malformed(name, "the value is empty"));
        }
        Ok(Some(value))
    }

    /// A header's value for informational use (event ids): trimmed, `None`
    /// when absent, unreadable, empty or implausibly long.
    pub(crate) fn header_text(&self, name: &str) -> Option<String> {
        let value = self.headers.get(name)?.to_str().ok()?;
        plausible_id(value)
    }

    /// The first value of a query parameter, percent-decoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(self.query?).ok()?;
        pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Longest provider event id [`crate::Verification::provider_event_id`] returns;
/// anything longer is not an id a provider would send.
const MAX_EVENT_ID_LEN: usize = 256;

/// `value` trimmed, if it is a usable dedup id.
pub(crate) fn plausible_id(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value.len() <= MAX_EVENT_ID_LEN).then(|| value.to_owned())
}

/// Parses a unix-seconds timestamp: ASCII digits only, within `i64`.
pub(crate) fn parse_timestamp(header: &str, value: &str) -> Result<i64, VerifyError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::malformed(
            header,
            "the timestamp is not a whole number of unix seconds",
        ));
    }
    value
        .parse()
        .map_err(|_| VerifyError::malformed(header, "the timestamp is out of range"))
}

/// Checks that `timestamp` is within `tolerance_secs` of `now`, in either
/// direction. A tolerance of 0 disables the check (as in Stripe's libraries).
pub(crate) fn check_freshness(
    header: &str,
    timestamp: i64,
    now: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    if tolerance_secs == 0 || now.abs_diff(timestamp) <= tolerance_secs {
        return Ok(());
    }
    Err(VerifyError::TimestampOutOfTolerance {
        header: header.to_ascii_lowercase(),
        timestamp,
        now,
        tolerance_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn req<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> InboundRequest<'a> {
        InboundRequest {
            method: "POST",
            headers,
            query,
            body: b"",
        }
    }

    #[test]
    fn header_reports_missing_non_ascii_and_empty_values() {
        let h = map(&[("x-a", b"ok"), ("x-b", b"caf\xc3\xa9"), ("x-c", b"  ")]);
        let r = req(&h, None);
        assert_eq!(r.header("X-A"), Ok("ok"));
        assert_eq!(
            r.header("x-z"),
            Err(VerifyError::MissingHeader("x-z".into()))
        );
        assert_eq!(r.header("x-b").unwrap_err().code(), "malformed_header");
        assert_eq!(r.header("x-c").unwrap_err().code(), "malformed_header");
        assert_eq!(
            r.header("not a header name"),
            Err(VerifyError::MissingHeader("not a header name".into()))
        );
    }

    #[test]
    fn query_param_decodes_and_takes_the_first() {
        let h = HeaderMap::new();
        let r = req(&h, Some("a=1&key=s%3Dcret+x&key=second&flag"));
        assert_eq!(r.query_param("key").as_deref(), Some("s=cret x"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("nope"), None);
        assert_eq!(req(&h, None).query_param("key"), None);
    }

    #[test]
    fn timestamps_parse_strictly() {
        assert_eq!(parse_timestamp("t", "1700000000"), Ok(1_700_000_000));
        for bad in ["", "-5", "+5", "1.5", "1e9", "abc", "99999999999999999999"] {
            assert_eq!(
                parse_timestamp("t", bad).unwrap_err().code(),
                "malformed_header",
                "{bad}"
            );
        }
    }

    #[test]
    fn freshness_is_symmetric_inclusive_and_overflow_free() {
        assert!(check_freshness("t", 1000, 1300, 300).is_ok());
        assert!(check_freshness("t", 1300, 1000, 300).is_ok());
        assert!(check_freshness("t", 1000, 1301, 300).is_err());
        assert!(check_freshness("t", 1301, 1000, 300).is_err());
        assert!(check_freshness("t", i64::MAX, i64::MIN, 300).is_err());
        assert!(check_freshness("t", i64::MAX, i64::MIN, 0).is_ok());
    }
}
