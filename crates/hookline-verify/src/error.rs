//! The one error type of the crate: why an inbound request was not accepted,
//! or why a secret or configuration cannot be used.
//!
//! Messages name the header (or query parameter) and what was wrong with it.
//! They never contain the secret, the expected signature or the value the
//! client sent, so they can be shown in monitoring and returned to callers.

/// Why a request failed verification, or why signing could not be done.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The scheme needs a secret and the registration has none.
    #[error("no verification secret is configured for this webhook")]
    MissingSecret,

    /// The secret exists but cannot be used by this scheme, e.g. a Standard
    /// Webhooks secret that is not base64.
    #[error("the verification secret cannot be used: {reason}")]
    InvalidSecret {
        /// What is wrong with it (never the secret itself).
        reason: String,
    },

    /// The verification options are inconsistent; [`crate::Verification::validate`]
    /// reports the same problem at registration time.
    #[error("the verification options are invalid: {0}")]
    InvalidConfig(String),

    /// A header the scheme needs is absent (holds the header name).
    #[error("missing header {0}")]
    MissingHeader(String),

    /// A query parameter the scheme needs is absent (holds the parameter name).
    #[error("missing query parameter {0}")]
    MissingQueryParam(String),

    /// A header is present but cannot be parsed.
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        /// Header name, lower case.
        header: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// The signed timestamp is too far from the current time (replay protection).
    #[error(
        "timestamp {timestamp} in header {header} is {} s away from the current time {now}; \
         at most {tolerance_secs} s are allowed",
        now.abs_diff(*timestamp)
    )]
    TimestampOutOfTolerance {
        /// Header that carried the timestamp.
        header: String,
        /// The timestamp sent, unix seconds.
        timestamp: i64,
        /// The caller's current time, unix seconds.
        now: i64,
        /// The allowed distance in seconds.
        tolerance_secs: u64,
    },

    /// No signature in the request matches the body and the configured secret.
    #[error("the request signature does not match its body and the configured secret")]
    SignatureMismatch,

    /// Basic credentials or an API key were sent but are not the configured ones.
    #[error("the credentials in {location} do not match the configured secret")]
    CredentialMismatch {
        /// Where they were read, e.g. `header authorization` or `query parameter key`.
        location: String,
    },
}

impl VerifyError {
    /// Stable snake_case code, used as the `code` of API errors and in monitoring.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingSecret => "missing_secret",
            VerifyError::InvalidSecret { .. } => "invalid_secret",
            VerifyError::InvalidConfig(_) => "invalid_config",
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::MissingQueryParam(_) => "missing_query_param",
            VerifyError::MalformedHeader { .. } => "malformed_header",
            VerifyError::TimestampOutOfTolerance { .. } => "timestamp_out_of_tolerance",
            VerifyError::SignatureMismatch => "signature_mismatch",
            VerifyError::CredentialMismatch { .. } => "credential_mismatch",
        }
    }

    pub(crate) fn malformed(header: &str, reason: impl Into<String>) -> Self {
        VerifyError::MalformedHeader {
            header: header.to_ascii_lowercase(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_secret(reason: impl Into<String>) -> Self {
        VerifyError::InvalidSecret {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_message_states_the_distance_without_overflowing() {
        let e = VerifyError::TimestampOutOfTolerance {
            header: "webhook-timestamp".into(),
            timestamp: i64::MIN,
            now: i64::MAX,
            tolerance_secs: 300,
        };
        let msg = e.to_string();
        assert!(msg.contains("webhook-timestamp"), "{msg}");
        assert!(msg.contains(&u64::MAX.to_string()), "{msg}");
        assert_eq!(e.code(), "timestamp_out_of_tolerance");
    }

    #[test]
    fn malformed_header_names_the_header_in_lower_case() {
        let e = VerifyError::malformed("Stripe-Signature", "no t= timestamp");
        assert_eq!(
            e.to_string(),
            "malformed header stripe-signature: no t= timestamp"
        );
        assert_eq!(e.code(), "malformed_header");
    }
}
