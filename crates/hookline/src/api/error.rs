//! The one place errors become HTTP responses:
//! `{"error": {"code": "<stable_snake_case>", "message": "<human text>"}}`.
//! Client errors say what was wrong; anything else is an opaque 500 whose
//! cause is logged, never sent.

use crate::error::Error;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::header::RETRY_AFTER;
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
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self.0, "request failed: database unavailable");
            "the database is unavailable; retry shortly".to_owned()
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
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return (status, [(RETRY_AFTER, "1")], Json(body)).into_response();
        }
        (status, Json(body)).into_response()
    }
}

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
    use hookline_store::StoreError;

    fn connection_reset() -> StoreError {
        StoreError::Database(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )))
    }

    #[test]
    fn an_unreachable_database_is_answered_503_with_retry_after() {
        assert_eq!(
            Error::Store(connection_reset()).code(),
            "database_unavailable"
        );
        let pool = StoreError::Database(sqlx::Error::PoolTimedOut);
        for e in [
            Error::Store(connection_reset()),
            Error::Store(pool),
            Error::Unavailable("storing the event failed: connection reset".into()),
        ] {
            let r = ApiError(e).into_response();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.headers()[RETRY_AFTER], "1");
        }
        let corrupt =
            ApiError(Error::Store(StoreError::Corrupt("bad json".into()))).into_response();
        assert_eq!(corrupt.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(corrupt.headers().get(RETRY_AFTER).is_none());
    }
}
