//! Standard Webhooks (<https://www.standardwebhooks.com>): signing for
//! Hookline's outbound deliveries, and the `standard_webhooks` inbound scheme.
//!
//! The signature is `v1,` + base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"`.
//! The key is the secret after an optional `whsec_` prefix, base64-decoded
//! (padding optional), exactly as the reference libraries read it; a secret
//! without the prefix is therefore also base64. The `webhook-signature`
//! header is a space-separated list, so receivers accept both secrets while
//! one is being rotated.
//!
//! Inbound, the `svix-id`, `svix-timestamp` and `svix-signature` names are
//! accepted where the `webhook-` ones are absent.

use base64::Engine as _;

use crate::crypto::{self, decode_base64, BASE64};
use crate::request::{check_freshness, parse_timestamp};
use crate::{HmacAlgorithm, InboundRequest, VerifyError};

/// Prefix of Standard Webhooks secrets.
pub const SECRET_PREFIX: &str = "whsec_";

const ID: [&str; 2] = ["webhook-id", "svix-id"];
const TIMESTAMP: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
const SIGNATURE: [&str; 2] = ["webhook-signature", "svix-signature"];

/// A new secret, `whsec_` + base64 of `random_bytes`. The caller supplies the
/// randomness (24 to 64 bytes from a CSPRNG; Hookline uses 32).
pub fn generate_secret(random_bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", BASE64.encode(random_bytes))
}

/// The `webhook-signature` value for one secret: `v1,<base64>`.
///
/// Fails with [`VerifyError::InvalidSecret`] if the secret is not base64
/// after its optional `whsec_` prefix, or is empty.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    let key = decode_secret(secret)?;
    let signature = signature(&key, msg_id, &timestamp.to_string(), body)?;
    Ok(format!("v1,{}", BASE64.encode(signature)))
}

/// The `webhook-signature` value carrying one signature per secret, separated
/// by spaces (`v1,a v1,b`), for use while a secret is being rotated.
///
/// Fails with [`VerifyError::MissingSecret`] when `secrets` is empty.
pub fn sign_all(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::MissingSecret);
    }
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

fn decode_secret(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = decode_base64(encoded.trim()).ok_or_else(|| {
        VerifyError::invalid_secret(
            "a Standard Webhooks secret is base64, optionally prefixed with whsec_",
        )
    })?;
    if key.is_empty() {
        return Err(VerifyError::invalid_secret("the secret is empty"));
    }
    Ok(key)
}

fn signature(
    key: &[u8],
    msg_id: &str,
    timestamp: &str,
    body: &[u8],
) -> Result<Vec<u8>, VerifyError> {
    crypto::hmac(
        HmacAlgorithm::Sha256,
        key,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    )
}

/// The first of `names` present on the request, with its value.
fn first_header<'a>(
    req: &InboundRequest<'a>,
    names: [&'static str; 2],
) -> Result<(&'static str, &'a str), VerifyError> {
    for name in names {
        if let Some(value) = req.optional_header(name)? {
            return Ok((name, value));
        }
    }
    Err(VerifyError::MissingHeader(names[0].to_owned()))
}

/// The `webhook-id` (or `svix-id`) of a request.
pub(crate) fn event_id(req: &InboundRequest<'_>) -> Option<String> {
    ID.iter().find_map(|name| req.header_text(name))
}

pub(crate) fn verify(
    secret: &str,
    req: &InboundRequest<'_>,
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let key = decode_secret(secret)?;
    let (_, msg_id) = first_header(req, ID)?;
    let (timestamp_header, raw_timestamp) = first_header(req, TIMESTAMP)?;
    let (signature_header, signatures) = first_header(req, SIGNATURE)?;
    let timestamp = parse_timestamp(timestamp_header, raw_timestamp)?;

    // Entries of other versions (e.g. `v1a`, asymmetric) are skipped.
    let mut candidates = Vec::new();
    let mut undecodable_v1 = false;
    for entry in signatures.split_ascii_whitespace() {
        if let Some(("v1", encoded)) = entry.split_once(',') {
            match decode_base64(encoded).filter(|sig| !sig.is_empty()) {
                Some(sig) => candidates.push(sig),
                None => undecodable_v1 = true,
            }
        }
    }
    if candidates.is_empty() {
        let reason = if undecodable_v1 {
            "the v1 signatures are not valid base64"
        } else {
            "no v1,<base64> signature"
        };
        return Err(VerifyError::malformed(signature_header, reason));
    }

    // The reference libraries sign the timestamp as the integer they parsed.
    let expected = signature(&key, msg_id, &timestamp.to_string(), req.body)?;
    if !crypto::matches_any(&expected, candidates.iter().map(Vec::as_slice)) {
        return Err(VerifyError::SignatureMismatch);
    }
    check_freshness(timestamp_header, timestamp, now_unix, tolerance_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestRequest;
    use crate::{verify as verify_any, Verification};

    // The example from the Standard Webhooks specification and reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn valid() -> TestRequest {
        TestRequest::new(BODY)
            .header("webhook-id", MSG_ID)
            .header("webhook-timestamp", TS.to_string())
            .header("webhook-signature", SIG)
    }

    fn check(req: &TestRequest, secret: &str, now: i64) -> Result<(), VerifyError> {
        let v = Verification::StandardWebhooks {
            tolerance_secs: None,
        };
        verify_any(&v, Some(secret), &req.inbound(), now)
    }

    #[test]
    fn sign_matches_the_specification_example() {
        assert_eq!(sign(SECRET, MSG_ID, TS, BODY.as_bytes()).unwrap(), SIG);
    }

    #[test]
    fn secret_prefix_and_padding_are_optional() {
        let bare = SECRET.strip_prefix("whsec_").unwrap();
        assert_eq!(sign(bare, MSG_ID, TS, BODY.as_bytes()).unwrap(), SIG);
        // 24 bytes encode without padding; an unpadded 20-byte secret too.
        let key = [7u8; 20];
        let padded = generate_secret(&key);
        assert!(padded.ends_with('='));
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(
            sign(&padded, MSG_ID, TS, b"x").unwrap(),
            sign(unpadded, MSG_ID, TS, b"x").unwrap()
        );
    }

    #[test]
    fn generate_secret_round_trips() {
        let bytes: Vec<u8> = (0..32).collect();
        let secret = generate_secret(&bytes);
        assert!(secret.starts_with("whsec_"));
        assert_eq!(decode_secret(&secret).unwrap(), bytes);
    }

    #[test]
    fn invalid_secrets_are_reported_without_the_secret() {
        for secret in ["whsec_not base64!", "whsec_", "whsec_a"] {
            let err = sign(secret, MSG_ID, TS, b"x").unwrap_err();
            assert_eq!(err.code(), "invalid_secret", "{secret}");
            assert!(!err.to_string().contains(secret));
            assert_eq!(
                check(&valid(), secret, TS).unwrap_err().code(),
                "invalid_secret"
            );
        }
    }

    #[test]
    fn sign_all_joins_with_spaces_and_needs_a_secret() {
        let other = generate_secret(&[1u8; 32]);
        let all = sign_all(&[SECRET, &other], MSG_ID, TS, BODY.as_bytes()).unwrap();
        let (first, second) = all.split_once(' ').unwrap();
        assert_eq!(first, SIG);
        assert_eq!(second, sign(&other, MSG_ID, TS, BODY.as_bytes()).unwrap());
        assert_eq!(
            sign_all(&[], MSG_ID, TS, b""),
            Err(VerifyError::MissingSecret)
        );
        assert_eq!(
            sign_all(&[SECRET, "whsec_!"], MSG_ID, TS, b"")
                .unwrap_err()
                .code(),
            "invalid_secret"
        );
    }

    #[test]
    fn valid_signature_passes() {
        assert_eq!(check(&valid(), SECRET, TS), Ok(()));
    }

    #[test]
    fn any_v1_in_the_list_may_match() {
        let other = sign(&generate_secret(&[1u8; 32]), MSG_ID, TS, BODY.as_bytes()).unwrap();
        let list = format!("v1a,ignored {other}  {SIG} v2,whatever");
        let req = valid()
            .without("webhook-signature")
            .header("webhook-signature", list);
        assert_eq!(check(&req, SECRET, TS), Ok(()));
    }

    #[test]
    fn svix_header_names_are_accepted() {
        let req = TestRequest::new(BODY)
            .header("svix-id", MSG_ID)
            .header("svix-timestamp", TS.to_string())
            .header("svix-signature", SIG);
        assert_eq!(check(&req, SECRET, TS), Ok(()));
        let v = Verification::StandardWebhooks {
            tolerance_secs: None,
        };
        assert_eq!(v.provider_event_id(&req.inbound()).as_deref(), Some(MSG_ID));
    }

    #[test]
    fn tampered_body_or_id_is_a_mismatch() {
        let req = valid().body(BODY.replace('4', "5"));
        assert_eq!(check(&req, SECRET, TS), Err(VerifyError::SignatureMismatch));
        let req = valid()
            .without("webhook-id")
            .header("webhook-id", "msg_other");
        assert_eq!(check(&req, SECRET, TS), Err(VerifyError::SignatureMismatch));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let other = generate_secret(&[9u8; 32]);
        assert_eq!(
            check(&valid(), &other, TS),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_out_of_tolerance() {
        for now in [TS + 301, TS - 301] {
            assert_eq!(
                check(&valid(), SECRET, now),
                Err(VerifyError::TimestampOutOfTolerance {
                    header: "webhook-timestamp".into(),
                    timestamp: TS,
                    now,
                    tolerance_secs: 300,
                })
            );
        }
        let v = Verification::StandardWebhooks {
            tolerance_secs: Some(3600),
        };
        assert_eq!(
            verify_any(&v, Some(SECRET), &valid().inbound(), TS + 3600),
            Ok(())
        );
    }

    #[test]
    fn missing_headers_are_named() {
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            assert_eq!(
                check(&valid().without(name), SECRET, TS),
                Err(VerifyError::MissingHeader(name.into()))
            );
        }
    }

    #[test]
    fn malformed_headers_are_named() {
        let cases = [
            (
                "webhook-signature",
                "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
            ("webhook-signature", "v1,"),
            ("webhook-signature", "v1,***"),
            ("webhook-signature", "v1a,abc"),
            ("webhook-timestamp", "1614265330.5"),
            ("webhook-timestamp", "now"),
            ("webhook-id", " "),
        ];
        for (name, value) in cases {
            let req = valid().without(name).header(name, value);
            match check(&req, SECRET, TS) {
                Err(VerifyError::MalformedHeader { header, .. }) => assert_eq!(header, name),
                other => panic!("{name}: {value:?} gave {other:?}"),
            }
        }
    }
}
