//! Schemes that carry the shared secret itself: HTTP Basic and API keys.
//! Comparisons hash both sides first, so neither the secret's length nor a
//! matching prefix shows in timing.

use crate::crypto::{decode_base64, secret_eq};
use crate::{validate_header_name, InboundRequest, VerifyError};

const AUTHORIZATION: &str = "authorization";
const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

/// `Authorization: Basic <base64(user:password)>` against a `user:password` secret.
pub(crate) fn verify_basic(secret: &str, req: &InboundRequest<'_>) -> Result<(), VerifyError> {
    if !secret.contains(':') {
        return Err(VerifyError::invalid_secret(
            "a basic secret has the form user:password",
        ));
    }
    let value = req.header(AUTHORIZATION)?;
    let (scheme, credentials) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| VerifyError::malformed(AUTHORIZATION, "expected `Basic <credentials>`"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(VerifyError::malformed(
            AUTHORIZATION,
            "expected the Basic authentication scheme",
        ));
    }
    let credentials = decode_base64(credentials.trim()).ok_or_else(|| {
        VerifyError::malformed(AUTHORIZATION, "the credentials are not valid base64")
    })?;
    if secret_eq(&credentials, secret.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::CredentialMismatch {
            location: format!("header {AUTHORIZATION}"),
        })
    }
}

/// See [`crate::Verification::ApiKey`].
pub(crate) fn validate_api_key(header: Option<&str>, query: Option<&str>) -> Result<(), String> {
    match (header, query) {
        (Some(_), Some(_)) => Err("set either `header` or `query`, not both".into()),
        (Some(header), None) => validate_header_name("header", header),
        (None, Some("")) => Err("`query` must not be empty".into()),
        (None, _) => Ok(()),
    }
}

pub(crate) fn verify_api_key(
    header: Option<&str>,
    query: Option<&str>,
    secret: &str,
    req: &InboundRequest<'_>,
) -> Result<(), VerifyError> {
    validate_api_key(header, query).map_err(VerifyError::InvalidConfig)?;
    let (given, location) = match query {
        Some(param) => (
            req.query_param(param)
                .ok_or_else(|| VerifyError::MissingQueryParam(param.to_owned()))?,
            format!("query parameter {param}"),
        ),
        None => {
            let name = header.unwrap_or(DEFAULT_API_KEY_HEADER);
            (
                req.header(name)?.to_owned(),
                format!("header {}", name.to_ascii_lowercase()),
            )
        }
    };
    if secret_eq(given.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::CredentialMismatch { location })
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::TestRequest;
    use crate::{verify, Verification, VerifyError};

    const BASIC_SECRET: &str = "hook:s3cret:with-colon";
    // base64("hook:s3cret:with-colon")
    const BASIC_HEADER: &str = "Basic aG9vazpzM2NyZXQ6d2l0aC1jb2xvbg==";

    fn basic(req: &TestRequest, secret: &str) -> Result<(), VerifyError> {
        verify(&Verification::Basic, Some(secret), &req.inbound(), 0)
    }

    #[test]
    fn basic_valid_credentials_pass() {
        let req = TestRequest::new("{}").header("Authorization", BASIC_HEADER);
        assert_eq!(basic(&req, BASIC_SECRET), Ok(()));
        let req =
            TestRequest::new("{}").header("authorization", BASIC_HEADER.replace("Basic", "basic"));
        assert_eq!(basic(&req, BASIC_SECRET), Ok(()));
    }

    #[test]
    fn basic_wrong_credentials_are_a_mismatch() {
        let req = TestRequest::new("{}").header("Authorization", BASIC_HEADER);
        let err = basic(&req, "hook:other").unwrap_err();
        assert_eq!(
            err,
            VerifyError::CredentialMismatch {
                location: "header authorization".into()
            }
        );
        assert!(!err.to_string().contains("hook:other"));
    }

    #[test]
    fn basic_missing_and_malformed_header() {
        assert_eq!(
            basic(&TestRequest::new("{}"), BASIC_SECRET),
            Err(VerifyError::MissingHeader("authorization".into()))
        );
        for value in ["Bearer abc", "Basic", "Basic !!!", "aG9vazpzM2NyZXQ="] {
            let req = TestRequest::new("{}").header("authorization", value);
            assert_eq!(
                basic(&req, BASIC_SECRET).unwrap_err().code(),
                "malformed_header",
                "{value}"
            );
        }
    }

    #[test]
    fn basic_secret_must_have_a_colon() {
        let req = TestRequest::new("{}").header("Authorization", BASIC_HEADER);
        assert_eq!(basic(&req, "nocolon").unwrap_err().code(), "invalid_secret");
    }

    fn api_key(header: Option<&str>, query: Option<&str>) -> Verification {
        Verification::ApiKey {
            header: header.map(Into::into),
            query: query.map(Into::into),
        }
    }

    #[test]
    fn api_key_default_header() {
        let v = api_key(None, None);
        let req = TestRequest::new("{}").header("X-API-Key", "k-123");
        assert_eq!(verify(&v, Some("k-123"), &req.inbound(), 0), Ok(()));
        assert_eq!(
            verify(&v, Some("k-124"), &req.inbound(), 0),
            Err(VerifyError::CredentialMismatch {
                location: "header x-api-key".into()
            })
        );
        assert_eq!(
            verify(&v, Some("k-123"), &TestRequest::new("{}").inbound(), 0),
            Err(VerifyError::MissingHeader("x-api-key".into()))
        );
    }

    #[test]
    fn api_key_custom_header() {
        let v = api_key(Some("X-Hook-Token"), None);
        let req = TestRequest::new("{}").header("x-hook-token", "k-123");
        assert_eq!(verify(&v, Some("k-123"), &req.inbound(), 0), Ok(()));
        let req = TestRequest::new("{}").header("x-api-key", "k-123");
        assert_eq!(
            verify(&v, Some("k-123"), &req.inbound(), 0),
            Err(VerifyError::MissingHeader("x-hook-token".into()))
        );
    }

    #[test]
    fn api_key_query_param() {
        let v = api_key(None, Some("token"));
        let req = TestRequest::new("{}").query("a=b&token=k%2B1");
        assert_eq!(verify(&v, Some("k+1"), &req.inbound(), 0), Ok(()));
        assert_eq!(
            verify(&v, Some("k+2"), &req.inbound(), 0),
            Err(VerifyError::CredentialMismatch {
                location: "query parameter token".into()
            })
        );
        let req = TestRequest::new("{}")
            .query("a=b")
            .header("x-api-key", "k+1");
        assert_eq!(
            verify(&v, Some("k+1"), &req.inbound(), 0),
            Err(VerifyError::MissingQueryParam("token".into()))
        );
    }

    #[test]
    fn api_key_validation() {
        assert_eq!(api_key(None, None).validate(), Ok(()));
        assert!(api_key(Some("x"), Some("y"))
            .validate()
            .unwrap_err()
            .contains("not both"));
        assert!(api_key(Some(""), None).validate().is_err());
        assert!(api_key(None, Some("")).validate().is_err());
        let req = TestRequest::new("{}").header("x", "k");
        assert_eq!(
            verify(&api_key(Some("x"), Some("y")), Some("k"), &req.inbound(), 0)
                .unwrap_err()
                .code(),
            "invalid_config"
        );
    }
}
