//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`.
//!
//! The signed payload is `"{t}.{body}"`, HMAC-SHA256 keyed with the endpoint
//! secret used verbatim (including its `whsec_` prefix), as in Stripe's own
//! libraries. Several `v1` entries appear while a secret is being rolled; any
//! may match. `v0` (test-mode legacy) is ignored, as Stripe's libraries do.

use crate::crypto::{self, decode_hex};
use crate::request::{check_freshness, parse_timestamp};
use crate::{HmacAlgorithm, InboundRequest, VerifyError};

const HEADER: &str = "stripe-signature";

/// The parts of a `Stripe-Signature` value this scheme uses.
struct SignatureHeader {
    timestamp: i64,
    v1: Vec<Vec<u8>>,
}

fn parse(value: &str) -> Result<SignatureHeader, VerifyError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    let mut undecodable_v1 = false;
    for (key, val) in value.split(',').filter_map(|item| item.split_once('=')) {
        match key.trim() {
            // Stripe's libraries take the first `t`.
            "t" if timestamp.is_none() => timestamp = Some(val),
            "v1" => match decode_hex(val.trim()) {
                Some(sig) if !sig.is_empty() => v1.push(sig),
                _ => undecodable_v1 = true,
            },
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| VerifyError::malformed(HEADER, "no t= timestamp"))?;
    let timestamp = parse_timestamp(HEADER, timestamp)?;
    if v1.is_empty() {
        let reason = if undecodable_v1 {
            "the v1 signatures are not hex"
        } else {
            "no v1= signature"
        };
        return Err(VerifyError::malformed(HEADER, reason));
    }
    Ok(SignatureHeader { timestamp, v1 })
}

pub(crate) fn verify(
    secret: &str,
    req: &InboundRequest<'_>,
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let header = parse(req.header(HEADER)?)?;
    // Stripe's libraries sign the timestamp as they print the parsed integer.
    let t = header.timestamp.to_string();
    let expected = crypto::hmac(
        HmacAlgorithm::Sha256,
        secret.as_bytes(),
        &[t.as_bytes(), b".", req.body],
    )?;
    if !crypto::matches_any(&expected, header.v1.iter().map(Vec::as_slice)) {
        return Err(VerifyError::SignatureMismatch);
    }
    check_freshness(HEADER, header.timestamp, now_unix, tolerance_secs)
}

#[cfg(test)]
mod tests {
    use crate::test_support::TestRequest;
    use crate::{verify, Verification, VerifyError};

    const SECRET: &str = "whsec_test_secret_0123456789";
    const BODY: &str = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded","data":{"object":{"amount":2000,"currency":"eur","description":"café"}}}"#;
    const TS: i64 = 1_700_000_000;
    // From stripe-python: WebhookSignature.generate_signature_header(BODY, SECRET, TS).
    const SIG: &str = "4d02b356dbdae057cf6a4e9f2e259bc65de208e6f4400bb92944c189c02ed68d";
    const OTHER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn request(header: &str) -> TestRequest {
        TestRequest::new(BODY).header("Stripe-Signature", header)
    }

    fn valid() -> TestRequest {
        request(&format!("t={TS},v1={SIG}"))
    }

    fn check(req: &TestRequest, secret: &str, now: i64) -> Result<(), VerifyError> {
        let v = Verification::Stripe {
            tolerance_secs: None,
        };
        verify(&v, Some(secret), &req.inbound(), now)
    }

    #[test]
    fn valid_signature_passes() {
        assert_eq!(check(&valid(), SECRET, TS), Ok(()));
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let header = format!("t={TS},v1={OTHER},v1={SIG},v0={OTHER}");
        assert_eq!(check(&request(&header), SECRET, TS), Ok(()));
        let header = format!("t={TS}, v1={SIG}");
        assert_eq!(check(&request(&header), SECRET, TS), Ok(()));
        let header = format!("t={TS},v1={OTHER},v0={SIG}");
        assert_eq!(
            check(&request(&header), SECRET, TS),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let req = valid().body(BODY.replace("2000", "2001"));
        assert_eq!(check(&req, SECRET, TS), Err(VerifyError::SignatureMismatch));
    }

    #[test]
    fn tampered_timestamp_is_a_mismatch() {
        let req = request(&format!("t={},v1={SIG}", TS + 1));
        assert_eq!(check(&req, SECRET, TS), Err(VerifyError::SignatureMismatch));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        assert_eq!(
            check(&valid(), "whsec_other", TS),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_out_of_tolerance() {
        assert_eq!(check(&valid(), SECRET, TS + 300), Ok(()));
        assert_eq!(check(&valid(), SECRET, TS - 300), Ok(()));
        for now in [TS + 301, TS - 301, i64::MIN, i64::MAX] {
            assert_eq!(
                check(&valid(), SECRET, now),
                Err(VerifyError::TimestampOutOfTolerance {
                    header: "stripe-signature".into(),
                    timestamp: TS,
                    now,
                    tolerance_secs: 300,
                })
            );
        }
    }

    #[test]
    fn tolerance_is_configurable_and_zero_disables_it() {
        let v = Verification::Stripe {
            tolerance_secs: Some(1000),
        };
        assert_eq!(
            verify(&v, Some(SECRET), &valid().inbound(), TS + 1000),
            Ok(())
        );
        assert!(verify(&v, Some(SECRET), &valid().inbound(), TS + 1001).is_err());
        let v = Verification::Stripe {
            tolerance_secs: Some(0),
        };
        assert_eq!(
            verify(&v, Some(SECRET), &valid().inbound(), i64::MAX),
            Ok(())
        );
    }

    #[test]
    fn missing_header() {
        let req = TestRequest::new(BODY);
        assert_eq!(
            check(&req, SECRET, TS),
            Err(VerifyError::MissingHeader("stripe-signature".into()))
        );
    }

    #[test]
    fn malformed_headers() {
        let cases = [
            (format!("v1={SIG}"), "no t= timestamp"),
            (format!("t=,v1={SIG}"), "not a whole number"),
            (format!("t=abc,v1={SIG}"), "not a whole number"),
            (format!("t=99999999999999999999,v1={SIG}"), "out of range"),
            (format!("t={TS}"), "no v1= signature"),
            (format!("t={TS},v0={SIG}"), "no v1= signature"),
            (format!("t={TS},v1=zz"), "not hex"),
            (format!("t={TS},v1="), "not hex"),
            ("garbage".to_string(), "no t= timestamp"),
        ];
        for (header, want) in cases {
            match check(&request(&header), SECRET, TS) {
                Err(VerifyError::MalformedHeader {
                    header: name,
                    reason,
                }) => {
                    assert_eq!(name, "stripe-signature");
                    assert!(reason.contains(want), "{header:?}: {reason}");
                }
                other => panic!("{header:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn messages_do_not_leak_the_secret_or_signature() {
        let req = request(&format!("t={TS},v1={OTHER}"));
        let msg = check(&req, SECRET, TS).unwrap_err().to_string();
        assert!(!msg.contains(SECRET) && !msg.contains(SIG), "{msg}");
    }
}
