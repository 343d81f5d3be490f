//! Shared pieces of the fuzz targets: reading an HTTP request out of fuzz
//! bytes, and the invariants every target checks.
//!
//! Inputs are text-like so the seed corpora (`corpus/<target>/`) can be real
//! provider calls that a person can read and edit.

use hookline_verify::{InboundRequest, Verification, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A request as ingest receives it, owned.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Request {
    /// Reads an HTTP/1.1-style request: a request line (`METHOD target
    /// [version]`), header lines (`Name: value`, raw bytes), an empty line,
    /// and the body. `\n` and `\r\n` both end lines. Header lines that are
    /// not a valid name and value are skipped, as a server would never pass
    /// them on; everything else, however odd, is kept.
    pub fn parse(data: &[u8]) -> Request {
        let mut rest = data;
        let mut req = Request::default();
        let request_line = take_line(&mut rest).unwrap_or(rest);
        let request_line = String::from_utf8_lossy(request_line);
        let mut words = request_line.split(' ');
        req.method = words.next().unwrap_or("").to_owned();
        if let Some((_, query)) = words.next().unwrap_or("").split_once('?') {
            req.query = Some(query.to_owned());
        }
        while let Some(line) = take_line(&mut rest) {
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                req.headers.append(name, value);
            }
        }
        req.body = rest.to_vec();
        req
    }

    pub fn inbound(&self) -> InboundRequest<'_> {
        InboundRequest {
            method: &self.method,
            headers: &self.headers,
            query: self.query.as_deref(),
            body: &self.body,
        }
    }

    /// Whether `needle` occurs anywhere in what the caller sent, ignoring
    /// ASCII case (messages lowercase header names).
    pub fn contains(&self, needle: &str) -> bool {
        let n = needle.as_bytes();
        find(self.method.as_bytes(), n)
            || self.query.as_deref().is_some_and(|q| find(q.as_bytes(), n))
            || self
                .headers
                .iter()
                .any(|(k, v)| find(k.as_str().as_bytes(), n) || find(v.as_bytes(), n))
            || find(&self.body, n)
    }
}

/// Splits off the next line (without its `\n` or `\r\n`); `None` when no
/// line end is left.
pub fn take_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = rest.iter().position(|&b| b == b'\n')?;
    let line = &rest[..end];
    *rest = &rest[end + 1..];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', tail @ ..] = v {
        v = tail;
    }
    while let [head @ .., b' ' | b'\t'] = v {
        v = head;
    }
    v
}

/// Whether `needle` occurs in `hay`, ignoring ASCII case.
fn find(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Runs every verification step ingest runs on a call, and checks what must
/// hold whatever the call: no panic, an error that has a code and a message,
/// no secret in that message, and a provider event id that is trimmed,
/// non-empty and at most 256 bytes.
pub fn check_verification(v: &Verification, secret: Option<&str>, req: &Request, now: i64) {
    let inbound = req.inbound();
    let result = hookline_verify::verify(v, secret, &inbound, now);
    if let Err(e) = &result {
        check_error(e, v, secret, req, now);
    }
    let again = hookline_verify::verify(v, secret, &inbound, now);
    assert_eq!(result, again, "verify is not deterministic");
    if let Some(id) = v.provider_event_id(&inbound) {
        assert!(
            !id.is_empty() && id.len() <= 256,
            "implausible event id {id:?}"
        );
        assert_eq!(id.trim(), id, "event id is not trimmed");
    }
}

fn check_error(e: &VerifyError, v: &Verification, secret: Option<&str>, req: &Request, now: i64) {
    let code = e.code();
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "error code {code:?} is not snake_case"
    );
    let message = e.to_string();
    let Some(secret) = secret.filter(|s| s.trim().len() >= 8) else {
        return;
    };
    // Text the message may echo: what the caller sent, and the configuration.
    let configured = serde_json::to_string(v).unwrap_or_default();
    let echoed = |s: &str| req.contains(s) || find(configured.as_bytes(), s.as_bytes());
    if !message.contains(secret) || echoed(secret) {
        return;
    }
    // The message may happen to contain text equal to the secret (the
    // fuzzer finds `missing header x` as a secret quickly). A leak is when
    // the message follows the secret: it shows a changed secret too.
    let changed = changed(secret);
    if changed != secret && !echoed(&changed) {
        if let Err(e) = hookline_verify::verify(v, Some(&changed), &req.inbound(), now) {
            assert!(
                !e.to_string().contains(&changed),
                "the verification secret appears in the error message: {message:?}"
            );
        }
    }
}

/// `secret` with every ASCII letter's case swapped and every digit moved
/// on by one: as valid a secret as before (base64 stays base64, `user:pw`
/// keeps its colon) but a different one.
fn changed(secret: &str) -> String {
    secret
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' => c.to_ascii_lowercase(),
            '0'..='8' => (c as u8 + 1) as char,
            '9' => '0',
            _ => c,
        })
        .collect()
}
