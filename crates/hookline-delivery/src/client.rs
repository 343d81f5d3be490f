//! The outbound HTTP client and one guarded request/response exchange.
//!
//! [`build_client`] makes the one `reqwest::Client` a node shares (its
//! connection pool is the point of sharing it). [`send`] makes one attempt
//! with any [`ForwardRequest`] (a delivery, or a provider registration call)
//! and reduces the outcome to what an attempt records: the status, headers
//! and a bounded excerpt of the body, or an error classified into
//! [`ErrorKind`].

use crate::guard::{GuardError, GuardedResolver, OutboundGuard};
use hookline_core::event::{ErrorKind, RESPONSE_EXCERPT_BYTES};
use hookline_core::model::HttpMethod;
use hookline_core::outbound::ForwardRequest;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The shared outbound client.
///
/// - DNS goes through [`GuardedResolver`], so refused addresses are dropped
///   at connect time, not just when a receiver is registered.
/// - Redirects are not followed: a `Location` could point at a refused
///   address, and a receiver that answers 3xx has not taken the event.
/// - Proxies from the environment (`HTTP_PROXY`, …) are ignored: through a
///   proxy the guard would only ever see the proxy's address.
/// - No client-wide timeout; [`send`] applies one per attempt.
///
/// Call out through [`send`]: the client does not consult its resolver for
/// IP-literal hosts, so on its own it would let `http://127.0.0.1/` through.
///
/// # Panics
/// Like `reqwest::Client::new`, if the TLS backend cannot be initialised.
pub fn build_client(guard: Arc<OutboundGuard>, user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(guard)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(user_agent)
        .build()
        .expect("the HTTP client's TLS backend could not be initialised")
}

/// What a receiver answered. Any status is a `Response`; the caller decides
/// what counts as success.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// The first [`RESPONSE_EXCERPT_BYTES`] of the body as lossy UTF-8.
    pub excerpt: String,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An attempt that got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SendError {}

/// Values shorter than this are not masked by [`SendError::masking`]: every
/// `1` in a message would become `[redacted]`, and a secret that short
/// protects nothing.
const MASK_MIN_LEN: usize = 4;

impl SendError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SendError {
            kind,
            message: message.into(),
        }
    }

    /// The error with every occurrence of `secrets` in its message (as is,
    /// and form- or percent-encoded as a URL would carry them) replaced by
    /// `[redacted]`. Errors are made without URLs or header values
    /// ([`classify`]); this is the second line, for whatever text a cause
    /// might one day echo.
    pub fn masking<'a>(mut self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        for secret in secrets {
            if secret.len() < MASK_MIN_LEN {
                continue;
            }
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            let path = encoded.replace('+', "%20");
            for form in [secret, encoded.as_str(), path.as_str()] {
                if self.message.contains(form) {
                    self.message = self.message.replace(form, "[redacted]");
                }
            }
        }
        self
    }
}

impl From<GuardError> for SendError {
    fn from(e: GuardError) -> Self {
        let kind = match e {
            GuardError::NotAllowed { .. } => ErrorKind::TargetNotAllowed,
            GuardError::Unresolvable { .. } => ErrorKind::Dns,
            GuardError::Scheme(_) | GuardError::NoHost => ErrorKind::Request,
        };
        SendError::new(kind, e.to_string())
    }
}

/// Sends `req` once and reads at most [`RESPONSE_EXCERPT_BYTES`] of the answer.
///
/// `timeout` bounds the wait for the response head. Once a status is in, the
/// outcome is decided; reading the excerpt gets whatever time is left, and
/// running out of it (or the body breaking) only shortens the excerpt, so a
/// receiver that answered 200 is not retried because its body dawdled.
pub async fn send(
    client: &reqwest::Client,
    guard: &OutboundGuard,
    req: &ForwardRequest,
    timeout: Duration,
) -> Result<Response, SendError> {
    // The client consults the resolver (and so the guard) only for names;
    // IP literals are checked here.
    guard.check_target(&req.url)?;
    let request = build_request(client, req)?;

    let deadline = tokio::time::Instant::now() + timeout;
    let mut response = match tokio::time::timeout(timeout, client.execute(request)).await {
        Err(_) => {
            return Err(SendError::new(
                ErrorKind::Timeout,
                format!("no response within {}", humanize(timeout)),
            ))
        }
        Ok(Err(e)) => return Err(classify(e)),
        Ok(Ok(r)) => r,
    };

    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let excerpt = read_excerpt(&mut response, deadline).await;
    Ok(Response {
        status,
        headers,
        excerpt: lossy_prefix(&excerpt),
    })
}

/// The `reqwest::Request` for `req`. Public for callers that drive the
/// client themselves (provider registration calls); like every error made
/// here, a refusal names neither the URL nor any header value.
pub fn build_request(
    client: &reqwest::Client,
    req: &ForwardRequest,
) -> Result<reqwest::Request, SendError> {
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            SendError::new(ErrorKind::Request, format!("invalid header name `{name}`"))
        })?;
        let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
            SendError::new(
                ErrorKind::Request,
                format!("invalid value for header `{name}`"),
            )
        })?;
        headers.append(name, value);
    }
    let mut builder = client
        .request(method(req.method), req.url.clone())
        .headers(headers);
    // No body (and so no `content-length: 0`) on a GET that has none.
    if !(req.body.is_empty() && req.method == HttpMethod::Get) {
        builder = builder.body(req.body.clone());
    }
    builder.build().map_err(classify)
}

fn method(m: HttpMethod) -> reqwest::Method {
    match m {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
    }
}

/// Reads chunks until the excerpt is full, the body ends or `deadline`
/// passes, then stops: the rest of a large body is never downloaded. A body
/// that breaks or stalls midway keeps what arrived.
async fn read_excerpt(response: &mut reqwest::Response, deadline: tokio::time::Instant) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < RESPONSE_EXCERPT_BYTES {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = RESPONSE_EXCERPT_BYTES - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(Ok(None) | Err(_)) | Err(_) => break,
        }
    }
    buf
}

/// Lossy UTF-8, except that a character cut in half by the excerpt limit is
/// dropped rather than shown as a replacement character.
fn lossy_prefix(bytes: &[u8]) -> String {
    let end = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Maps a client error to the kind an attempt records, by walking its cause
/// chain: the guard's own errors come back from the resolver wrapped in
/// several layers of connector errors, and rustls's inside `io::Error`s.
/// Public for callers that drive the client themselves.
///
/// This is the one place a `reqwest::Error` becomes text, and it drops the
/// error's URL first: a receiver URL carries `auth.query` values and
/// `auth.params` filled into its path, and the text is stored on attempts,
/// shown by the API and logged. No cause below reqwest's own error (hyper,
/// the connector, rustls, `io::Error`) names the URL, a header value or the
/// body. What an attempt shows of the URL is `request_url`, masked by the
/// worker.
pub fn classify(err: reqwest::Error) -> SendError {
    let err = err.without_url();
    let mut cause: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(e) = cause {
        if let Some(guard) = e.downcast_ref::<GuardError>() {
            return guard.clone().into();
        }
        if e.is::<rustls::Error>() {
            return SendError::new(ErrorKind::Tls, chain_message(&err));
        }
        cause = next_cause(e);
    }
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_builder() {
        ErrorKind::Request
    } else if err.is_connect() {
        ErrorKind::Connect
    } else {
        // The connection was made but broke while sending or reading.
        ErrorKind::Io
    };
    SendError::new(kind, chain_message(&err))
}

/// The next error in the chain. `io::Error::source` skips the error an
/// `io::Error` wraps (it returns that error's own source), which would hide
/// exactly the rustls error we look for, so wrapped errors are visited.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => Some(inner),
        None => e.source(),
    }
}

/// The error and its causes, `: `-separated, skipping a cause whose text its
/// parent already includes.
fn chain_message(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cause = next_cause(err);
    while let Some(e) = cause {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = next_cause(e);
    }
    out
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_drops_a_split_character_only_at_the_end() {
        let s = "aé".as_bytes();
        assert_eq!(lossy_prefix(&s[..2]), "a");
        assert_eq!(lossy_prefix(s), "aé");
        assert_eq!(lossy_prefix(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn masking_hides_secrets_as_is_and_url_encoded() {
        let e = SendError::new(
            ErrorKind::Io,
            "at /t/a%20b%2Fc?token=s+3%26 (tok s3cret) 1111",
        );
        let masked = e.masking(["a b/c", "s 3&", "s3cret", "1111"]);
        assert_eq!(
            masked.message,
            "at /t/[redacted]?token=[redacted] (tok [redacted]) [redacted]"
        );
        let short = SendError::new(ErrorKind::Io, "os error 1").masking(["1"]);
        assert_eq!(short.message, "os error 1", "values under 4 bytes are left");
    }
}
