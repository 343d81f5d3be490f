//! Extractors whose rejections use the API's error shape, and the bearer-key
//! check every management route goes through.

use super::error::ApiError;
use super::AppState;
use crate::admin_key::hash_key;
use crate::error::Error;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

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
