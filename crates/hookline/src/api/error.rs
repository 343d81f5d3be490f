//! The one place errors become HTTP responses:
//! `{"error": {"code": "<stable_snake_case>", "message": "<human text>"}}`.
//! Client errors say what was wrong; anything else is an opaque 500 whose
//! cause is logged, never sent. Storage that cannot take writes (disk full,
//! database out of reach) is a 503 `storage_unavailable` with `Retry-After`.

use crate::error::Error;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `target_not_allowed`.
    pub code: String,
    pub message: String,
}

pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

pub fn status_of(e: &Error) -> StatusCode {
    use hookline_store::StoreError;
    match e {
        Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
        Error::Invalid { .. } | Error::TargetNotAllowed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } | Error::Store(StoreError::Conflict { .. }) => StatusCode::CONFLICT,
        Error::Unauthorized { .. } | Error::Verification { .. } => StatusCode::UNAUTHORIZED,
        Error::Gone(_) => StatusCode::GONE,
        Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::TooManyRejected { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Store(StoreError::Unavailable(_)) | Error::Unavailable(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self.0, "request refused: storage unavailable");
            "the storage cannot take writes right now (disk full or database out of reach); \
             nothing was stored, retry later"
                .to_owned()
        } else if status.is_server_error() {
            tracing::error!(error = %self.0, "request failed");
            "internal error; the cause is in the server log".to_owned()
        } else {
            self.0.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.0.code().to_owned(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self.0 {
            Error::MethodNotAllowed(_) => {
                headers.insert(
                    http::header::ALLOW,
                    http::HeaderValue::from_static(crate::api::INGEST_METHODS),
                );
            }
            Error::TooManyRequests {
                retry_after_secs, ..
            }
            | Error::TooManyRejected {
                retry_after_secs, ..
            } => {
                headers.insert(http::header::RETRY_AFTER, (*retry_after_secs).into());
            }
            // The client stopped sending mid-body: this connection is done.
            Error::RequestTimeout(_) => {
                headers.insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

/// `Retry-After` of a 503: seconds a client should wait before trying again.
pub const RETRY_AFTER_SECS: &str = "5";

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let message = r.body_text();
        match r {
            JsonRejection::MissingJsonContentType(_) => Error::BadRequest {
                code: "unsupported_content_type",
                message: "send the body as JSON with `Content-Type: application/json`".into(),
            },
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge(message),
            JsonRejection::JsonDataError(_) => Error::Invalid {
                code: "invalid_body",
                message,
            },
            _ => Error::BadRequest {
                code: "malformed_json",
                message,
            },
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::BadRequest {
            code: "invalid_query",
            message: r.body_text(),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(r: PathRejection) -> Self {
        Error::BadRequest {
            code: "invalid_path",
            message: r.body_text(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::RETRY_AFTER;
    use hookline_store::StoreError;

    fn connection_reset() -> StoreError {
        StoreError::from(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )))
    }

    /// Found by hookline-faults (pg-proxy-cut, pg-restart): a database out
    /// of reach was answered 500 to well-formed webhooks.
    #[test]
    fn an_unreachable_database_is_answered_503_with_retry_after() {
        assert_eq!(
            Error::Store(connection_reset()).code(),
            "storage_unavailable"
        );
        for e in [
            Error::Store(connection_reset()),
            Error::Store(StoreError::from(sqlx::Error::PoolTimedOut)),
            Error::Unavailable("storing the event failed: connection reset".into()),
        ] {
            let r = ApiError(e).into_response();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.headers()[RETRY_AFTER], RETRY_AFTER_SECS);
        }
        let corrupt =
            ApiError(Error::Store(StoreError::Corrupt("bad json".into()))).into_response();
        assert_eq!(corrupt.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(corrupt.headers().get(RETRY_AFTER).is_none());
    }
}
