//! The one place errors become HTTP responses:
//! `{"error": {"code": "<stable_snake_case>", "message": "<human text>"}}`.
//! Client errors say what was wrong; anything else is an opaque 500 whose
//! cause is logged, never sent.

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
        Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let message = if status.is_server_error() {
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
            _ => {}
        }
        response
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
