//! Stand-in providers: real HTTP servers on loopback that follow the
//! providers' registration APIs closely enough that Hookline cannot tell
//! them apart (paths, methods, encodings, authentication, answers, errors),
//! record what they were asked, and deliver signed events to what was
//! registered, as the real ones do.
//!
//! - Stripe: `POST /v1/webhook_endpoints` (form-encoded, `url` and
//!   `enabled_events[]`, answers `id` and `secret`), `POST
//!   /v1/webhook_endpoints/{id}` (update), `DELETE /v1/webhook_endpoints/{id}`.
//! - GitHub: `POST /repos/{owner}/{repo}/hooks` (JSON, `config.url`,
//!   `config.secret`; 201 with the secret masked; 422 for a second hook with
//!   the same URL), `PATCH` and `DELETE /repos/{owner}/{repo}/hooks/{id}`.
//! - A junk provider whose answers are wrong in the ways real ones can be.

// The handlers' helpers return the error answer itself as `Err(Response)`,
// as axum handlers do; boxing it would only add noise to test servers.
#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))
        .map(str::to_owned)
}

/// How often each call was made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub creates: u32,
    pub updates: u32,
    pub deletes: u32,
}

// --- Stripe -------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct StripeEndpoint {
    pub id: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub secret: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The API key it was created with.
    pub key: String,
}

#[derive(Default)]
struct StripeState {
    endpoints: BTreeMap<String, StripeEndpoint>,
    next: u32,
    counts: Counts,
    keys: HashSet<String>,
    content_types: Vec<String>,
}

type Stripe = Arc<Mutex<StripeState>>;

pub struct StripeStandIn {
    pub base: String,
    state: Stripe,
}

fn stripe_error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
    )
        .into_response()
}

impl StripeStandIn {
    /// Accepts these secret keys.
    pub async fn spawn(keys: &[&str]) -> Self {
        let state: Stripe = Arc::default();
        state.lock().unwrap().keys = keys.iter().map(|k| k.to_string()).collect();
        let router = Router::new()
            .route("/v1/webhook_endpoints", post(stripe_create))
            .route(
                "/v1/webhook_endpoints/{id}",
                post(stripe_update).delete(stripe_delete),
            )
            .with_state(state.clone());
        StripeStandIn {
            base: serve(router).await,
            state,
        }
    }

    pub fn endpoints(&self) -> Vec<StripeEndpoint> {
        self.state
            .lock()
            .unwrap()
            .endpoints
            .values()
            .cloned()
            .collect()
    }

    pub fn endpoint_for(&self, url: &str) -> StripeEndpoint {
        self.endpoints()
            .into_iter()
            .find(|e| e.url == url)
            .unwrap_or_else(|| panic!("no Stripe endpoint for {url}"))
    }

    pub fn counts(&self) -> Counts {
        self.state.lock().unwrap().counts
    }

    pub fn content_types(&self) -> Vec<String> {
        self.state.lock().unwrap().content_types.clone()
    }
}

/// The caller's key, or Stripe's 401.
fn stripe_auth(s: &StripeState, headers: &HeaderMap) -> Result<String, Response> {
    match bearer(headers) {
        Some(k) if s.keys.contains(&k) => Ok(k),
        Some(k) => Err(stripe_error(
            StatusCode::UNAUTHORIZED,
            format!(
                "Invalid API Key provided: {}****",
                k.chars().take(8).collect::<String>()
            ),
        )),
        None => Err(stripe_error(
            StatusCode::UNAUTHORIZED,
            "You did not provide an API key.".into(),
        )),
    }
}

/// Stripe's API reads form-encoded bodies only.
fn stripe_form(
    s: &mut StripeState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Response> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    s.content_types.push(ct.clone());
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(stripe_error(
            StatusCode::BAD_REQUEST,
            format!("Invalid request: unsupported Content-Type {ct}. If error persists and you need assistance, please contact support@stripe.com."),
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

fn endpoint_json(e: &StripeEndpoint, with_secret: bool) -> Value {
    let mut v = json!({
        "id": e.id, "object": "webhook_endpoint", "api_version": null, "application": null,
        "created": 1_700_000_000, "description": e.description, "enabled_events": e.enabled_events,
        "livemode": false, "metadata": e.metadata, "status": "enabled", "url": e.url,
    });
    if with_secret {
        v["secret"] = json!(e.secret);
    }
    v
}

fn apply_stripe_fields(e: &mut StripeEndpoint, pairs: &[(String, String)]) {
    let events: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "enabled_events[]")
        .map(|(_, v)| v.clone())
        .collect();
    if !events.is_empty() {
        e.enabled_events = events;
    }
    for (k, v) in pairs {
        match k.as_str() {
            "url" => e.url = v.clone(),
            "description" => e.description = Some(v.clone()),
            _ => {
                if let Some(field) = k
                    .strip_prefix("metadata[")
                    .and_then(|r| r.strip_suffix(']'))
                {
                    e.metadata.insert(field.to_owned(), v.clone());
                }
            }
        }
    }
}

async fn stripe_create(State(s): State<Stripe>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = s.lock().unwrap();
    let key = match stripe_auth(&s, &headers) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let pairs = match stripe_form(&mut s, &headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !pairs.iter().any(|(k, _)| k == "url") {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "Missing required param: url.".into(),
        );
    }
    if !pairs.iter().any(|(k, _)| k == "enabled_events[]") {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "Missing required param: enabled_events.".into(),
        );
    }
    s.next += 1;
    s.counts.creates += 1;
    let mut e = StripeEndpoint {
        id: format!("we_standin{:04}", s.next),
        url: String::new(),
        enabled_events: Vec::new(),
        secret: hookline_core::ids::new_signing_secret(),
        description: None,
        metadata: BTreeMap::new(),
        key,
    };
    apply_stripe_fields(&mut e, &pairs);
    let answer = endpoint_json(&e, true);
    s.endpoints.insert(e.id.clone(), e);
    Json(answer).into_response()
}

async fn stripe_update(
    State(s): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = stripe_auth(&s, &headers) {
        return r;
    }
    let pairs = match stripe_form(&mut s, &headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    s.counts.updates += 1;
    let Some(e) = s.endpoints.get_mut(&id) else {
        return stripe_error(
            StatusCode::NOT_FOUND,
            format!("No such webhook endpoint: '{id}'"),
        );
    };
    apply_stripe_fields(e, &pairs);
    // Stripe shows the secret only when the endpoint is created.
    Json(endpoint_json(e, false)).into_response()
}

async fn stripe_delete(
    State(s): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = stripe_auth(&s, &headers) {
        return r;
    }
    match s.endpoints.remove(&id) {
        Some(_) => {
            s.counts.deletes += 1;
            Json(json!({"id": id, "object": "webhook_endpoint", "deleted": true})).into_response()
        }
        None => stripe_error(
            StatusCode::NOT_FOUND,
            format!("No such webhook endpoint: '{id}'"),
        ),
    }
}

// --- GitHub -------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct GitHubHook {
    pub id: u64,
    pub owner: String,
    pub repo: String,
    pub url: String,
    pub content_type: String,
    pub secret: Option<String>,
    pub events: Vec<String>,
    pub active: bool,
}

#[derive(Default)]
struct GitHubState {
    hooks: BTreeMap<u64, GitHubHook>,
    next: u64,
    counts: Counts,
    token: String,
    /// Secrets sent with each PATCH, in order.
    patched_secrets: Vec<Option<String>>,
}

type GitHub = Arc<Mutex<GitHubState>>;

pub struct GitHubStandIn {
    pub base: String,
    state: GitHub,
}

fn github_error(status: StatusCode, message: &str, errors: Option<Value>) -> Response {
    let mut body = json!({"message": message, "documentation_url": "https://docs.github.com/rest/repos/webhooks", "status": status.as_u16().to_string()});
    if let Some(e) = errors {
        body["errors"] = e;
    }
    (status, Json(body)).into_response()
}

fn hook_json(h: &GitHubHook) -> Value {
    json!({
        "type": "Repository", "id": h.id, "name": "web", "active": h.active, "events": h.events,
        "config": {
            "content_type": h.content_type, "insecure_ssl": "0", "url": h.url,
            // GitHub never shows a hook's secret back.
            "secret": h.secret.as_ref().map(|_| "********"),
        },
        "updated_at": "2024-01-01T00:00:00Z", "created_at": "2024-01-01T00:00:00Z",
        "url": format!("https://api.github.com/repos/{}/{}/hooks/{}", h.owner, h.repo, h.id),
        "test_url": format!("https://api.github.com/repos/{}/{}/hooks/{}/test", h.owner, h.repo, h.id),
        "ping_url": format!("https://api.github.com/repos/{}/{}/hooks/{}/pings", h.owner, h.repo, h.id),
        "deliveries_url": format!("https://api.github.com/repos/{}/{}/hooks/{}/deliveries", h.owner, h.repo, h.id),
        "last_response": {"code": null, "status": "unused", "message": null}
    })
}

impl GitHubStandIn {
    pub async fn spawn(token: &str) -> Self {
        let state: GitHub = Arc::default();
        {
            let mut s = state.lock().unwrap();
            s.token = token.to_owned();
            s.next = 1000;
        }
        let router = Router::new()
            .route("/repos/{owner}/{repo}/hooks", post(github_create))
            .route(
                "/repos/{owner}/{repo}/hooks/{id}",
                axum::routing::patch(github_update).delete(github_delete),
            )
            .with_state(state.clone());
        GitHubStandIn {
            base: serve(router).await,
            state,
        }
    }

    pub fn hooks(&self) -> Vec<GitHubHook> {
        self.state.lock().unwrap().hooks.values().cloned().collect()
    }

    pub fn hook_for(&self, url: &str) -> GitHubHook {
        self.hooks()
            .into_iter()
            .find(|h| h.url == url)
            .unwrap_or_else(|| panic!("no GitHub hook for {url}"))
    }

    pub fn counts(&self) -> Counts {
        self.state.lock().unwrap().counts
    }

    pub fn patched_secrets(&self) -> Vec<Option<String>> {
        self.state.lock().unwrap().patched_secrets.clone()
    }
}

fn github_auth(s: &GitHubState, headers: &HeaderMap) -> Result<(), Response> {
    match bearer(headers) {
        Some(t) if t == s.token => Ok(()),
        _ => Err(github_error(
            StatusCode::UNAUTHORIZED,
            "Bad credentials",
            None,
        )),
    }
}

fn github_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) if json_type => Ok(v),
        _ => Err(github_error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            None,
        )),
    }
}

fn apply_config(h: &mut GitHubHook, body: &Value) {
    if let Some(config) = body.get("config") {
        h.url = config["url"].as_str().unwrap_or(&h.url).to_owned();
        h.content_type = config["content_type"].as_str().unwrap_or("form").to_owned();
        h.secret = config["secret"].as_str().map(str::to_owned);
    }
    if let Some(events) = body.get("events").and_then(Value::as_array) {
        h.events = events
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
    }
    if let Some(a) = body.get("active").and_then(Value::as_bool) {
        h.active = a;
    }
}

async fn github_create(
    State(s): State<GitHub>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = github_auth(&s, &headers) {
        return r;
    }
    let body = match github_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(url) = body.pointer("/config/url").and_then(Value::as_str) else {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed",
            Some(
                json!([{"resource": "Hook", "code": "custom", "message": "Config must contain URL for webhooks"}]),
            ),
        );
    };
    if s.hooks
        .values()
        .any(|h| h.owner == owner && h.repo == repo && h.url == url)
    {
        return github_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed",
            Some(
                json!([{"resource": "Hook", "code": "custom", "message": "Hook already exists on this repository"}]),
            ),
        );
    }
    s.next += 1;
    s.counts.creates += 1;
    let mut h = GitHubHook {
        id: s.next,
        owner,
        repo,
        url: String::new(),
        content_type: "form".into(),
        secret: None,
        events: vec!["push".into()],
        active: true,
    };
    apply_config(&mut h, &body);
    let answer = hook_json(&h);
    s.hooks.insert(h.id, h);
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn github_update(
    State(s): State<GitHub>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = github_auth(&s, &headers) {
        return r;
    }
    let body = match github_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.counts.updates += 1;
    s.patched_secrets.push(
        body.pointer("/config/secret")
            .and_then(Value::as_str)
            .map(str::to_owned),
    );
    match s.hooks.get_mut(&id) {
        Some(h) if h.owner == owner && h.repo == repo => {
            apply_config(h, &body);
            Json(hook_json(h)).into_response()
        }
        _ => github_error(StatusCode::NOT_FOUND, "Not Found", None),
    }
}

async fn github_delete(
    State(s): State<GitHub>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = github_auth(&s, &headers) {
        return r;
    }
    match s.hooks.get(&id) {
        Some(h) if h.owner == owner && h.repo == repo => {
            s.hooks.remove(&id);
            s.counts.deletes += 1;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => github_error(StatusCode::NOT_FOUND, "Not Found", None),
    }
}

// --- junk ---------------------------------------------------------------

/// Answers that are wrong in ways real providers' can be, one per path:
/// `/html` (200, not JSON), `/huge` (200, valid JSON of 300 KiB), `/noid`
/// (201 without an id), `/boom` (500, plain text), `/slow` (answers after
/// 30 s).
pub async fn spawn_junk_provider() -> String {
    let router = Router::new()
        .route(
            "/html",
            post(|| async {
                (
                    [("content-type", "text/html")],
                    "<html><body>Welcome to our new website!</body></html>",
                )
            }),
        )
        .route(
            "/huge",
            post(|| async {
                let pad = "a".repeat(300 * 1024);
                Json(json!({"id": "wh_huge", "pad": pad}))
            }),
        )
        .route(
            "/noid",
            post(|| async {
                (
                    StatusCode::CREATED,
                    Json(json!({"ok": true, "object": "webhook"})),
                )
            }),
        )
        .route(
            "/boom",
            post(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "upstream exploded\n\u{1b}[0m",
                )
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Json(json!({"id": "wh_slow"}))
            }),
        );
    serve(router).await
}
