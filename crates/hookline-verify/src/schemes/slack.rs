//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of
//! `"v0:{X-Slack-Request-Timestamp}:{body}"` keyed with the signing secret.
//! The timestamp is signed exactly as it appears in its header.

use crate::crypto::{self, decode_hex};
use crate::request::{check_freshness, parse_timestamp};
use crate::{HmacAlgorithm, InboundRequest, VerifyError};

const SIGNATURE: &str = "x-slack-signature";
const TIMESTAMP: &str = "x-slack-request-timestamp";

pub(crate) fn verify(
    secret: &str,
    req: &InboundRequest<'_>,
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let signature = req.header(SIGNATURE)?;
    let raw_timestamp = req.header(TIMESTAMP)?;
    let timestamp = parse_timestamp(TIMESTAMP, raw_timestamp)?;
    let given = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or_else(|| VerifyError::malformed(SIGNATURE, "expected v0=<hex>"))?;
    let given = decode_hex(given)
        .filter(|g| !g.is_empty())
        .ok_or_else(|| VerifyError::malformed(SIGNATURE, "the signature after v0= is not hex"))?;

    let expected = crypto::hmac(
        HmacAlgorithm::Sha256,
        secret.as_bytes(),
        &[b"v0:", raw_timestamp.as_bytes(), b":", req.body],
    )?;
    if !crypto::matches_any(&expected, [given.as_slice()]) {
        return Err(VerifyError::SignatureMismatch);
    }
    check_freshness(TIMESTAMP, timestamp, now_unix, tolerance_secs)
}

#[cfg(test)]
mod tests {
    use crate::test_support::TestRequest;
    use crate::{verify, Verification, VerifyError};

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebbot&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8490703";
    const TS: i64 = 1_531_420_618;
    // Python: hmac.new(SECRET, f"v0:{TS}:{BODY}", sha256).hexdigest()
    const SIG: &str = "v0=0250e0cdd1c47a0bbb436aef240d2595fad4efdbc83b0d6636c1c1362b35a689";

    fn valid() -> TestRequest {
        TestRequest::new(BODY)
            .header("X-Slack-Signature", SIG)
            .header("X-Slack-Request-Timestamp", TS.to_string())
    }

    fn check(req: &TestRequest, secret: &str, now: i64) -> Result<(), VerifyError> {
        let v = Verification::Slack {
            tolerance_secs: None,
        };
        verify(&v, Some(secret), &req.inbound(), now)
    }

    #[test]
    fn valid_signature_passes() {
        assert_eq!(check(&valid(), SECRET, TS + 10), Ok(()));
    }

    #[test]
    fn tampered_body_or_timestamp_is_a_mismatch() {
        let req = valid().body(BODY.replace("foobar", "foobaz"));
        assert_eq!(check(&req, SECRET, TS), Err(VerifyError::SignatureMismatch));
        let req = valid()
            .without("x-slack-request-timestamp")
            .header("x-slack-request-timestamp", (TS + 1).to_string());
        assert_eq!(check(&req, SECRET, TS), Err(VerifyError::SignatureMismatch));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        assert_eq!(
            check(&valid(), "other", TS),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn stale_timestamp_is_out_of_tolerance() {
        let err = check(&valid(), SECRET, TS + 301).unwrap_err();
        assert_eq!(
            err,
            VerifyError::TimestampOutOfTolerance {
                header: "x-slack-request-timestamp".into(),
                timestamp: TS,
                now: TS + 301,
                tolerance_secs: 300,
            }
        );
        assert!(err.to_string().contains("301 s"), "{err}");
    }

    #[test]
    fn missing_headers() {
        for name in ["x-slack-signature", "x-slack-request-timestamp"] {
            assert_eq!(
                check(&valid().without(name), SECRET, TS),
                Err(VerifyError::MissingHeader(name.into()))
            );
        }
    }

    #[test]
    fn malformed_headers() {
        let cases = [
            (
                "x-slack-signature",
                "0250e0cdd1c47a0bbb436aef240d2595fad4efdbc83b0d6636c1c1362b35a689",
            ),
            ("x-slack-signature", "v1=0250e0cd"),
            ("x-slack-signature", "v0=nothex"),
            ("x-slack-signature", "v0="),
            ("x-slack-request-timestamp", "soon"),
            ("x-slack-request-timestamp", "-1"),
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
