//! The error every service operation returns. Each variant carries a stable
//! snake_case code; [`crate::api::error`] maps them to HTTP once.

use hookline_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed request: bad JSON, a field of the wrong type.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Well-formed but not acceptable: unknown env, invalid tag, bad URL.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{what} `{key}` was not found")]
    NotFound { what: &'static str, key: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { message: String },
    /// A receiver or provider URL that the outbound guard refuses.
    #[error("{0}")]
    TargetNotAllowed(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A method no provider can mean on an ingest link (CONNECT, TRACE).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request body stopped arriving (`http.body_idle_timeout`).
    #[error("{0}")]
    RequestTimeout(String),
    /// Too many failed management-key checks from this client address; try
    /// again after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// Inbound signature check failed.
    #[error("{message}")]
    Verification { code: &'static str, message: String },
    /// Inbound signature check failed, and this link and address already
    /// had their share of stored rejected calls this minute.
    #[error("{message}")]
    TooManyRejected {
        message: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The storage cannot take the write now (disk full, database out of
    /// reach); carries the cause for the log. Answered 503 like
    /// [`StoreError::Unavailable`], whose text it is when a store error
    /// had to be shared (group commit).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str, key: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            key: key.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. }
            | Error::Invalid { code, .. }
            | Error::Conflict { code, .. } => code,
            Error::NotFound { what, .. } => match *what {
                "app" => "app_not_found",
                "webhook" => "webhook_not_found",
                "product" => "product_not_found",
                "connection" => "connection_not_found",
                "registration" => "registration_not_found",
                "event" => "event_not_found",
                "link" => "link_not_found",
                _ => "not_found",
            },
            Error::Unauthorized { .. } => "unauthorized",
            Error::TargetNotAllowed(_) => "target_not_allowed",
            Error::Gone(_) => "link_retired",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::RequestTimeout(_) => "request_timeout",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::Verification { code, .. } => code,
            Error::TooManyRejected { .. } => "too_many_rejected_calls",
            Error::Store(StoreError::Conflict { .. }) => "conflict",
            Error::Store(StoreError::Unavailable(_)) | Error::Unavailable(_) => {
                "storage_unavailable"
            }
            Error::Store(_) | Error::Internal(_) => "internal_error",
        }
    }
}

impl From<hookline_core::names::NameError> for Error {
    fn from(e: hookline_core::names::NameError) -> Self {
        Error::invalid("invalid_name", e.to_string())
    }
}
