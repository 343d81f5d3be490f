//! The configurable HMAC scheme (`{"scheme": "hmac", ...}`) for providers
//! without a built-in one. The built-in body-only providers
//! ([`super::body`]) are presets of it.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, decode_base64, decode_hex};
use crate::request::{check_freshness, parse_timestamp};
use crate::{validate_header_name, InboundRequest, VerifyError, DEFAULT_TOLERANCE_SECS};

/// Hash function of an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

/// How the signature bytes are written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Hexadecimal, either case.
    #[default]
    Hex,
    /// Standard base64, padding optional.
    Base64,
}

/// Options of the generic HMAC scheme. JSON example:
/// `{"scheme": "hmac", "header": "x-signature", "prefix": "sha256=",
///   "signed": "{timestamp}.{body}", "timestamp_header": "x-timestamp"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacOptions {
    /// Hash function; default `sha256`.
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// Header carrying the signature.
    pub header: String,
    /// Text before the signature in the header, e.g. `sha256=`; removed
    /// (ignoring ASCII case) before decoding, and required when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// How the signature is encoded; default `hex`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Template of the signed message; default `{body}`. Placeholders:
    /// `{body}` (raw body, required), `{timestamp}` (value of
    /// `timestamp_header`), `{id}` (value of `id_header`), `{method}`,
    /// `{query}` (raw query string, empty if none). Every other character is
    /// literal; `{` must open one of these placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
    /// Header with the unix-seconds timestamp; when set, `{timestamp}` must be
    /// in `signed` and the timestamp is checked against `tolerance_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// Header with the provider's delivery id, used by `{id}` and as the
    /// provider event id for deduplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_header: Option<String>,
    /// Allowed distance between the timestamp and now, in seconds (default
    /// 300, `0` disables); only with `timestamp_header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
}

const DEFAULT_SIGNED: &str = "{body}";

/// One piece of the `signed` template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part<'t> {
    Literal(&'t str),
    Body,
    Timestamp,
    Id,
    Method,
    Query,
}

fn parse_template(template: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(&rest[..open]));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("`signed` has a `{{` without a closing `}}`: {template:?}"))?;
        parts.push(match &after[..close] {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "method" => Part::Method,
            "query" => Part::Query,
            other => {
                return Err(format!(
                    "`signed` has an unknown placeholder {{{other}}}; known are \
                     {{body}}, {{timestamp}}, {{id}}, {{method}} and {{query}}"
                ))
            }
        });
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest));
    }
    Ok(parts)
}

impl HmacOptions {
    /// An HMAC over the raw body alone, the shape several providers use.
    pub(crate) fn over_body(
        header: &str,
        prefix: Option<&str>,
        algorithm: HmacAlgorithm,
        encoding: Encoding,
    ) -> Self {
        HmacOptions {
            algorithm,
            header: header.to_owned(),
            prefix: prefix.map(str::to_owned),
            encoding,
            signed: None,
            timestamp_header: None,
            id_header: None,
            tolerance_secs: None,
        }
    }

    /// Checks the options; see [`crate::Verification::validate`].
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.template().map(|_| ())
    }

    /// The parsed `signed` template, once the options are known consistent.
    fn template(&self) -> Result<Vec<Part<'_>>, String> {
        validate_header_name("header", &self.header)?;
        if let Some(h) = &self.timestamp_header {
            validate_header_name("timestamp_header", h)?;
        }
        if let Some(h) = &self.id_header {
            validate_header_name("id_header", h)?;
        }
        let parts = parse_template(self.signed.as_deref().unwrap_or(DEFAULT_SIGNED))?;
        let uses = |p: Part<'_>| parts.contains(&p);
        if !uses(Part::Body) {
            return Err(
                "`signed` must include {body}, or the body would not be authenticated".into(),
            );
        }
        if uses(Part::Timestamp) && self.timestamp_header.is_none() {
            return Err("`signed` uses {timestamp} but `timestamp_header` is not set".into());
        }
        if uses(Part::Id) && self.id_header.is_none() {
            return Err("`signed` uses {id} but `id_header` is not set".into());
        }
        if self.timestamp_header.is_some() && !uses(Part::Timestamp) {
            return Err(
                "`timestamp_header` is set but `signed` does not include {timestamp}, \
                        so the timestamp would not be authenticated"
                    .into(),
            );
        }
        if self.tolerance_secs.is_some() && self.timestamp_header.is_none() {
            return Err("`tolerance_secs` needs `timestamp_header`".into());
        }
        Ok(parts)
    }
}

/// Reads a signature header: strips `prefix` (required when set, ASCII case
/// ignored) and decodes the rest.
fn decode_signature(
    header: &str,
    value: &str,
    prefix: Option<&str>,
    encoding: Encoding,
) -> Result<Vec<u8>, VerifyError> {
    let mut value = value.trim();
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        value = value
            .get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .and_then(|_| value.get(prefix.len()..))
            .ok_or_else(|| {
                VerifyError::malformed(
                    header,
                    format!("expected the value to start with {prefix:?}"),
                )
            })?;
    }
    let decoded = match encoding {
        Encoding::Hex => decode_hex(value),
        Encoding::Base64 => decode_base64(value),
    };
    decoded.filter(|bytes| !bytes.is_empty()).ok_or_else(|| {
        let what = match encoding {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        };
        VerifyError::malformed(header, format!("the signature is not valid {what}"))
    })
}

pub(crate) fn verify(
    options: &HmacOptions,
    secret: &str,
    req: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<(), VerifyError> {
    let parts = options.template().map_err(VerifyError::InvalidConfig)?;
    let given = decode_signature(
        &options.header,
        req.header(&options.header)?,
        options.prefix.as_deref(),
        options.encoding,
    )?;

    let timestamp = match &options.timestamp_header {
        Some(name) => {
            let raw = req.header(name)?;
            Some((name, raw, parse_timestamp(name, raw)?))
        }
        None => None,
    };
    let id = match &options.id_header {
        Some(name) if parts.contains(&Part::Id) => req.header(name)?,
        _ => "",
    };

    let message: Vec<&[u8]> = parts
        .iter()
        .map(|part| match part {
            Part::Literal(text) => text.as_bytes(),
            Part::Body => req.body,
            Part::Timestamp => timestamp.map_or(&b""[..], |(_, raw, _)| raw.as_bytes()),
            Part::Id => id.as_bytes(),
            Part::Method => req.method.as_bytes(),
            Part::Query => req.query.unwrap_or("").as_bytes(),
        })
        .collect();
    let expected = crypto::hmac(options.algorithm, secret.as_bytes(), &message)?;
    if !crypto::matches_any(&expected, [given.as_slice()]) {
        return Err(VerifyError::SignatureMismatch);
    }

    if let Some((name, _, ts)) = timestamp {
        let tolerance = options.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS);
        check_freshness(name, ts, now_unix, tolerance)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestRequest;
    use crate::{verify as verify_any, Verification};

    const SECRET: &str = "generic-secret";
    const BODY: &[u8] = br#"{"order":42}"#;
    const TS: i64 = 1_700_000_000;

    fn options() -> HmacOptions {
        HmacOptions {
            algorithm: HmacAlgorithm::Sha1,
            header: "X-Signature".into(),
            prefix: Some("sha1=".into()),
            encoding: Encoding::Base64,
            signed: Some("{method} {query}|{id}.{timestamp}.{body}".into()),
            timestamp_header: Some("X-Timestamp".into()),
            id_header: Some("X-Delivery".into()),
            tolerance_secs: Some(60),
        }
    }

    // Computed independently with Python:
    // base64(hmac.new(b"generic-secret", b'POST a=1&b=2|dlv_1.1700000000.{"order":42}', sha1).digest())
    const SIGNATURE: &str = "sha1=ef11SqEH0qIp+WxGGSFSLjyIvo0=";

    fn valid() -> TestRequest {
        TestRequest::new(BODY)
            .query("a=1&b=2")
            .header("x-signature", SIGNATURE)
            .header("x-timestamp", TS.to_string())
            .header("x-delivery", "dlv_1")
    }

    fn check(req: &TestRequest, secret: &str, now: i64) -> Result<(), VerifyError> {
        verify_any(
            &Verification::Hmac(options()),
            Some(secret),
            &req.inbound(),
            now,
        )
    }

    #[test]
    fn valid_signature_passes_with_every_placeholder() {
        assert_eq!(check(&valid(), SECRET, TS + 30), Ok(()));
    }

    #[test]
    fn prefix_is_matched_ignoring_case() {
        let req = valid()
            .without("x-signature")
            .header("x-signature", SIGNATURE.replace("sha1=", "SHA1="));
        assert_eq!(check(&req, SECRET, TS), Ok(()));
    }

    #[test]
    fn every_signed_input_is_covered() {
        let mut method = valid();
        method.method = "PUT".into();
        for tampered in [
            valid().body(&b"{\"order\":43}"[..]),
            valid().query("a=1&b=3"),
            valid().without("x-delivery").header("x-delivery", "dlv_2"),
            valid()
                .without("x-timestamp")
                .header("x-timestamp", (TS + 1).to_string()),
            method,
        ] {
            assert_eq!(
                check(&tampered, SECRET, TS),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        assert_eq!(
            check(&valid(), "other", TS),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn stale_timestamp_uses_the_configured_tolerance() {
        assert_eq!(check(&valid(), SECRET, TS + 60), Ok(()));
        let err = check(&valid(), SECRET, TS + 61).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::TimestampOutOfTolerance { ref header, timestamp: TS, tolerance_secs: 60, .. }
                    if header == "x-timestamp"
            ),
            "{err:?}"
        );
    }

    #[test]
    fn missing_headers_are_named() {
        for name in ["x-signature", "x-timestamp", "x-delivery"] {
            assert_eq!(
                check(&valid().without(name), SECRET, TS),
                Err(VerifyError::MissingHeader(name.into()))
            );
        }
    }

    #[test]
    fn malformed_headers_are_named() {
        let cases = [
            ("x-signature", "ef11SqEH0qIp+WxGGSFSLjyIvo0="), // prefix missing
            ("x-signature", "sha1=not base64!"),
            ("x-signature", "sha1="),
            ("x-timestamp", "yesterday"),
        ];
        for (name, value) in cases {
            let req = valid().without(name).header(name, value);
            match check(&req, SECRET, TS) {
                Err(VerifyError::MalformedHeader { header, .. }) => assert_eq!(header, name),
                other => panic!("{name}: {value:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn defaults_sign_the_body_as_hex_sha256() {
        let v: Verification =
            serde_json::from_str(r#"{"scheme":"hmac","header":"x-sig"}"#).unwrap();
        let Verification::Hmac(o) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(
            o,
            &HmacOptions::over_body("x-sig", None, HmacAlgorithm::Sha256, Encoding::Hex)
        );
        // hmac.new(b"generic-secret", b'{"order":42}', sha256).hexdigest()
        let sig = "6fdd9e2f5c2a1bf005b49c3040430aa09052daf3c1a7420e6204a0fdea39db2b";
        let req = TestRequest::new(BODY).header("x-sig", sig);
        assert_eq!(verify_any(&v, Some(SECRET), &req.inbound(), 0), Ok(()));
        let req = TestRequest::new(BODY).header("x-sig", sig.to_uppercase());
        assert_eq!(verify_any(&v, Some(SECRET), &req.inbound(), 0), Ok(()));
    }

    #[test]
    fn template_parsing() {
        assert_eq!(
            parse_template("v0:{timestamp}:{body}").unwrap(),
            vec![
                Part::Literal("v0:"),
                Part::Timestamp,
                Part::Literal(":"),
                Part::Body
            ]
        );
        assert_eq!(parse_template("").unwrap(), vec![]);
        assert!(parse_template("{body").unwrap_err().contains("closing"));
        assert!(parse_template("{bdy}").unwrap_err().contains("{bdy}"));
    }

    #[test]
    fn validate_catches_inconsistent_options() {
        let ok = options();
        assert_eq!(ok.validate(), Ok(()));
        let cases: Vec<(HmacOptions, &str)> = vec![
            (
                HmacOptions {
                    header: "".into(),
                    ..ok.clone()
                },
                "`header` must not be empty",
            ),
            (
                HmacOptions {
                    header: "bad header".into(),
                    ..ok.clone()
                },
                "not a valid HTTP header name",
            ),
            (
                HmacOptions {
                    id_header: Some("a:b".into()),
                    ..ok.clone()
                },
                "`id_header`",
            ),
            (
                HmacOptions {
                    signed: Some("{id}.{timestamp}".into()),
                    ..ok.clone()
                },
                "must include {body}",
            ),
            (
                HmacOptions {
                    signed: Some("{nonce}{body}".into()),
                    ..ok.clone()
                },
                "unknown placeholder {nonce}",
            ),
            (
                HmacOptions {
                    timestamp_header: None,
                    ..ok.clone()
                },
                "`timestamp_header` is not set",
            ),
            (
                HmacOptions {
                    id_header: None,
                    ..ok.clone()
                },
                "`id_header` is not set",
            ),
            (
                HmacOptions {
                    signed: Some("{id}{body}".into()),
                    ..ok.clone()
                },
                "does not include {timestamp}",
            ),
            (
                HmacOptions {
                    signed: Some("{body}".into()),
                    timestamp_header: None,
                    id_header: None,
                    ..ok.clone()
                },
                "`tolerance_secs` needs",
            ),
        ];
        for (options, want) in cases {
            let err = options.validate().unwrap_err();
            assert!(err.contains(want), "{options:?}: {err}");
            // The same problem stops verification instead of panicking.
            let v = Verification::Hmac(options);
            assert_eq!(
                verify_any(&v, Some(SECRET), &valid().inbound(), TS)
                    .unwrap_err()
                    .code(),
                "invalid_config"
            );
        }
    }

    #[test]
    fn id_header_is_only_required_when_signed() {
        let options = HmacOptions {
            id_header: Some("x-delivery".into()),
            ..HmacOptions::over_body("x-sig", None, HmacAlgorithm::Sha256, Encoding::Hex)
        };
        let sig = "6fdd9e2f5c2a1bf005b49c3040430aa09052daf3c1a7420e6204a0fdea39db2b";
        let req = TestRequest::new(BODY).header("x-sig", sig);
        assert_eq!(
            verify_any(
                &Verification::Hmac(options),
                Some(SECRET),
                &req.inbound(),
                0
            ),
            Ok(())
        );
    }
}
