//! Providers that sign the raw body alone: GitHub, Shopify and Paystack.
//! Each is a preset of the generic HMAC scheme.

use super::hmac::{Encoding, HmacAlgorithm, HmacOptions};

/// `X-Hub-Signature-256: sha256=<hex>`.
pub(crate) fn github() -> HmacOptions {
    HmacOptions::over_body(
        "x-hub-signature-256",
        Some("sha256="),
        HmacAlgorithm::Sha256,
        Encoding::Hex,
    )
}

/// `X-Shopify-Hmac-Sha256: <base64>`.
pub(crate) fn shopify() -> HmacOptions {
    HmacOptions::over_body(
        "x-shopify-hmac-sha256",
        None,
        HmacAlgorithm::Sha256,
        Encoding::Base64,
    )
}

/// `x-paystack-signature: <hex HMAC-SHA512>`.
pub(crate) fn paystack() -> HmacOptions {
    HmacOptions::over_body(
        "x-paystack-signature",
        None,
        HmacAlgorithm::Sha512,
        Encoding::Hex,
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::TestRequest;
    use crate::{verify, Verification, VerifyError};

    /// A provider case: scheme, header, secret, body and a signature computed
    /// outside this crate (GitHub's documented example; Python's `hmac` for
    /// the others).
    struct Case {
        v: Verification,
        header: &'static str,
        secret: &'static str,
        body: &'static [u8],
        signature: &'static str,
        malformed: &'static [&'static str],
    }

    fn cases() -> [Case; 3] {
        [
            Case {
                v: Verification::Github,
                header: "x-hub-signature-256",
                secret: "It's a Secret to Everybody",
                body: b"Hello, World!",
                signature: "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                malformed: &[
                    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                    "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                    "sha256=xyz",
                    "sha256=",
                ],
            },
            Case {
                v: Verification::Shopify,
                header: "x-shopify-hmac-sha256",
                secret: "shpss_0123456789abcdef",
                body: br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"12.50"}"#,
                signature: "LUzTRZVr2l03R+UJ37frrdfs3r7u+nUEbNaAlJKN3/o=",
                malformed: &["%%%", "LUzTRZVr2l03R+UJ37frrdfs3r7u+nUEbNaAlJKN3/o=="],
            },
            Case {
                v: Verification::Paystack,
                header: "x-paystack-signature",
                secret: "sk_test_0123456789abcdef",
                body: br#"{"event":"charge.success","data":{"id":302961,"reference":"qTPrJoy9Bx","amount":10000}}"#,
                signature: "d76ae224985cc9fccdb09e4530aecbb259ffb924ffdbd72d4de1ad8aa0c045b9b94f3c37e20633b972b6a41fb27a4803031b57ecdc10a1c84cded8d17c7df449",
                malformed: &["d76ae2249", "not-hex"],
            },
        ]
    }

    fn signed(c: &Case) -> TestRequest {
        TestRequest::new(c.body).header(c.header, c.signature)
    }

    #[test]
    fn valid_signature_passes() {
        for c in cases() {
            assert_eq!(
                verify(&c.v, Some(c.secret), &signed(&c).inbound(), 0),
                Ok(()),
                "{}",
                c.header
            );
        }
    }

    #[test]
    fn header_name_is_case_insensitive() {
        for c in cases() {
            let req = TestRequest::new(c.body).header(&c.header.to_uppercase(), c.signature);
            assert_eq!(
                verify(&c.v, Some(c.secret), &req.inbound(), 0),
                Ok(()),
                "{}",
                c.header
            );
        }
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        for c in cases() {
            let mut body = c.body.to_vec();
            body[1] ^= 1;
            let req = signed(&c).body(body);
            assert_eq!(
                verify(&c.v, Some(c.secret), &req.inbound(), 0),
                Err(VerifyError::SignatureMismatch)
            );
            let req = signed(&c).body([c.body, b" "].concat());
            assert_eq!(
                verify(&c.v, Some(c.secret), &req.inbound(), 0),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        for c in cases() {
            let wrong = format!("{}x", c.secret);
            assert_eq!(
                verify(&c.v, Some(&wrong), &signed(&c).inbound(), 0),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn missing_header_is_named() {
        for c in cases() {
            let req = TestRequest::new(c.body);
            assert_eq!(
                verify(&c.v, Some(c.secret), &req.inbound(), 0),
                Err(VerifyError::MissingHeader(c.header.into()))
            );
        }
    }

    #[test]
    fn malformed_header_is_named() {
        for c in cases() {
            for value in c.malformed {
                let req = TestRequest::new(c.body).header(c.header, value);
                match verify(&c.v, Some(c.secret), &req.inbound(), 0) {
                    Err(VerifyError::MalformedHeader { header, .. }) => {
                        assert_eq!(header, c.header)
                    }
                    other => panic!("{}: {value:?} gave {other:?}", c.header),
                }
            }
        }
    }

    #[test]
    fn missing_secret() {
        for c in cases() {
            for secret in [None, Some(""), Some("  ")] {
                assert_eq!(
                    verify(&c.v, secret, &signed(&c).inbound(), 0),
                    Err(VerifyError::MissingSecret)
                );
            }
        }
    }
}
