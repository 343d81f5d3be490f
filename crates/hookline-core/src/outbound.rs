//! Builds the request Hookline forwards to a receiver: the receiver's method
//! and URL with the registration's auth injected, the original headers minus
//! hop-by-hop ones, and Standard Webhooks signature headers.

use crate::event::{HeaderBytes, Payload};
use crate::model::{HttpMethod, Receiver};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct ForwardRequest {
    pub method: HttpMethod,
    pub url: url::Url,
    /// Header values byte for byte (the inbound ones exactly as received).
    pub headers: Vec<(String, HeaderBytes)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("receiver URL placeholder `{0}` has no value in auth.params")]
    MissingParam(String),
    #[error("receiver URL is not valid after filling params: {0}")]
    BadUrl(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// How the forwarded request is signed: `webhook-id` is the event id (stable
/// across retries, so receivers can deduplicate), with every active secret.
pub struct Signing<'a> {
    pub msg_id: &'a str,
    pub timestamp: i64,
    pub secrets: &'a [&'a str],
}

/// Headers never copied from the inbound request: hop-by-hop headers, and
/// those the HTTP client sets itself or Hookline sets below.
const DROPPED: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

pub fn build_forward(
    receiver: &Receiver,
    payload: &Payload,
    signing: &Signing<'_>,
) -> Result<ForwardRequest, BuildError> {
    let auth = &receiver.auth;
    let mut url = fill_params(receiver.url.as_str(), &auth.params)?;
    if !auth.query.is_empty() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !auth.query.contains_key(k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut pairs = url.query_pairs_mut();
        pairs.clear();
        pairs.extend_pairs(kept);
        pairs.extend_pairs(auth.query.iter());
    }

    let body = if receiver.method == HttpMethod::Get {
        Vec::new()
    } else {
        merge_body(&payload.body, &auth.body)
    };

    let mut headers: Vec<(String, HeaderBytes)> = payload
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !DROPPED.contains(&k.as_str())
                && !auth.headers.keys().any(|a| a.eq_ignore_ascii_case(&k))
        })
        .cloned()
        .collect();
    headers.extend(
        auth.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into())),
    );

    let signature = hookline_verify::standard::sign_all(
        signing.secrets,
        signing.msg_id,
        signing.timestamp,
        &body,
    )
    .map_err(|e| BuildError::Signing(e.to_string()))?;
    headers.push(("webhook-id".into(), signing.msg_id.into()));
    headers.push((
        "webhook-timestamp".into(),
        signing.timestamp.to_string().into(),
    ));
    headers.push(("webhook-signature".into(), signature.into()));

    Ok(ForwardRequest {
        method: receiver.method,
        url,
        headers,
        body,
    })
}

/// Replaces `{name}` and `:name` path placeholders with percent-encoded values.
fn fill_params(
    url: &str,
    params: &std::collections::BTreeMap<String, String>,
) -> Result<url::Url, BuildError> {
    let parsed = url::Url::parse(url).map_err(|e| BuildError::BadUrl(e.to_string()))?;
    // `{` and `}` arrive percent-encoded from the URL parser.
    let path = parsed.path().replace("%7B", "{").replace("%7D", "}");
    if !path.contains('{') && !path.contains("/:") {
        return Ok(parsed);
    }
    let mut out = Vec::new();
    for seg in path.split('/') {
        let name = seg
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .or_else(|| seg.strip_prefix(':'));
        match name {
            Some(name) if !name.is_empty() => {
                let value = params
                    .get(name)
                    .ok_or_else(|| BuildError::MissingParam(name.to_owned()))?;
                out.push(percent_encode_segment(value));
            }
            _ => out.push(seg.to_owned()),
        }
    }
    let mut filled = parsed.clone();
    filled.set_path(&out.join("/"));
    Ok(filled)
}

fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Merges `extra` into a JSON object body. Any other body (not JSON, or JSON
/// that is not an object) is forwarded byte for byte.
fn merge_body(body: &[u8], extra: &serde_json::Map<String, Value>) -> Vec<u8> {
    if extra.is_empty() {
        return body.to_vec();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut map)) => {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
            serde_json::to_vec(&Value::Object(map)).unwrap_or_else(|_| body.to_vec())
        }
        _ => body.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Auth;
    use serde_json::json;

    fn payload(body: &[u8]) -> Payload {
        Payload {
            method: "POST".into(),
            query: None,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Host".into(), "gw".into()),
                ("Stripe-Signature".into(), "t=1,v1=ab".into()),
            ],
            body: body.to_vec(),
        }
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn sign() -> Signing<'static> {
        Signing {
            msg_id: "evt_1",
            timestamp: 1_700_000_000,
            secrets: &[SECRET],
        }
    }

    #[test]
    fn injects_auth_everywhere() {
        let mut auth = Auth::default();
        auth.headers
            .insert("Authorization".into(), "Bearer t".into());
        auth.query.insert("k".into(), "v w".into());
        auth.params.insert("id".into(), "a/b".into());
        auth.params.insert("tenant".into(), "t1".into());
        auth.body.insert("source".into(), json!("hookline"));
        let r = Receiver {
            url: url::Url::parse("https://x.example/{tenant}/orders/:id?keep=1&k=old").unwrap(),
            method: HttpMethod::Put,
            auth,
        };
        let f = build_forward(&r, &payload(br#"{"a":1}"#), &sign()).unwrap();
        assert_eq!(f.method, HttpMethod::Put);
        assert_eq!(f.url.path(), "/t1/orders/a%2Fb");
        assert_eq!(f.url.query(), Some("keep=1&k=v+w"));
        let body: Value = serde_json::from_slice(&f.body).unwrap();
        assert_eq!(body, json!({"a": 1, "source": "hookline"}));
        let names: Vec<_> = f
            .headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect();
        assert!(names.contains(&"authorization".into()));
        assert!(names.contains(&"stripe-signature".into()));
        assert!(!names.contains(&"host".into()));
        assert!(names.contains(&"webhook-signature".into()));
    }

    #[test]
    fn body_bytes_unchanged_without_body_auth() {
        let raw = b"{ \"spaced\" :  1 }\n";
        let r = Receiver {
            url: url::Url::parse("https://x.example/hook").unwrap(),
            method: HttpMethod::Post,
            auth: Auth::default(),
        };
        let f = build_forward(&r, &payload(raw), &sign()).unwrap();
        assert_eq!(f.body, raw);
        let non_json = build_forward(
            &Receiver {
                auth: Auth {
                    body: json!({"x": 1}).as_object().unwrap().clone(),
                    ..Auth::default()
                },
                ..r
            },
            &payload(b"a=1&b=2"),
            &sign(),
        )
        .unwrap();
        assert_eq!(non_json.body, b"a=1&b=2");
    }

    #[test]
    fn missing_param_is_an_error() {
        let r = Receiver {
            url: url::Url::parse("https://x.example/{id}").unwrap(),
            method: HttpMethod::Post,
            auth: Auth::default(),
        };
        assert_eq!(
            build_forward(&r, &payload(b"{}"), &sign()),
            Err(BuildError::MissingParam("id".into()))
        );
    }
}
