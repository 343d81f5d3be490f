//! Extractors whose rejections use the API's error shape, and the bearer-key
//! check every management route goes through.

use super::error::ApiError;
use super::params::split_query;
use super::AppState;
use crate::admin_key::hash_key;
use crate::error::Error;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// A query string read into two structs: `A` takes the parameters it names
/// (a shared set, such as [`super::params::EventFilterParams`]), `B` the
/// route's own. A parameter neither names is rejected as [`Query`] rejects
/// it with `deny_unknown_fields`: 400 `invalid_query`.
///
/// Name it in `#[utoipa::path(params(SplitQuery<A, B>))]`: utoipa documents
/// a `Query<T>` argument's fields as query parameters by its name, which it
/// does not know this one by.
pub struct SplitQuery<A, B>(pub A, pub B);

impl<A: IntoParams, B: IntoParams> IntoParams for SplitQuery<A, B> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = A::into_params(|| Some(ParameterIn::Query));
        params.extend(B::into_params(|| Some(ParameterIn::Query)));
        params
    }
}

impl<S: Send + Sync, A: DeserializeOwned, B: DeserializeOwned> FromRequestParts<S>
    for SplitQuery<A, B>
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (a, b) = split_query(parts.uri.query().unwrap_or_default()).map_err(|message| {
            ApiError(Error::BadRequest {
                code: "invalid_query",
                message,
            })
        })?;
        Ok(SplitQuery(a, b))
    }
}

/// Proof that the request carried a valid management key.
pub struct Authenticated;

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError(Error::Unauthorized { message: m.into() });
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthorized("send a management key as `Authorization: Bearer <key>`")
            })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <key>`"))?;
        check_key(state, client_ip(&parts.extensions), key).await?;
        Ok(Authenticated)
    }
}

/// The client's IP address (see [`client_ip`]), as an extractor.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

/// The client's IP address, from the accept loop's `ConnectInfo` (absent when
/// the router is called without [`crate::http_server`], e.g. in unit tests).
pub fn client_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// Checks a management key, throttled per client address (see
/// [`super::key_throttle`]): a blocked address is answered 429 without its
/// key being looked up.
pub async fn check_key(
    state: &AppState,
    client: Option<IpAddr>,
    key: &str,
) -> Result<(), ApiError> {
    let throttle = &state.key_throttle;
    if let Some(wait) = client.and_then(|c| throttle.blocked(c)) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError(Error::TooManyRequests {
            message: format!(
                "too many invalid management keys from this address; try again in {secs} s"
            ),
            retry_after_secs: secs,
        }));
    }
    match state.gateway.store.find_api_key(&hash_key(key)).await? {
        Some(_) => {
            if let Some(c) = client {
                throttle.succeeded(c);
            }
            Ok(())
        }
        None => {
            if let Some(c) = client {
                throttle.failed(c);
            }
            Err(ApiError(Error::Unauthorized {
                message: "this management key is not valid".into(),
            }))
        }
    }
}

/// Checks a management key from `Authorization: Bearer` or, for clients
/// that cannot set headers (`EventSource`), from a `key` query parameter.
pub async fn authenticate(
    s: &AppState,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
    query_key: Option<&str>,
) -> Result<(), ApiError> {
    let unauthorized = |m: &str| ApiError(Error::Unauthorized { message: m.into() });
    let from_header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let key = from_header
        .or(query_key)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized("send a management key as `Authorization: Bearer <key>` (or a `key` query parameter)"))?;
    check_key(s, client, key).await
}
