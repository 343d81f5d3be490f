//! Shared test helpers: `spawn_app`, a recording receiver, and the seed model.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hookline::config::Config;
use hookline::startup::Application;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
    pub token: CancellationToken,
    pub handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub dir: DataDir,
}

/// A test app's data dir (removed when dropped) and, with
/// `HOOKLINE_TEST_BACKEND=postgres`, its database (dropped with the last
/// `DataDir` that holds it; see `backend`).
pub struct DataDir {
    dir: tempfile::TempDir,
    _database: Option<Arc<hookline_store::postgres::testing::TestDatabase>>,
}

impl DataDir {
    /// A fresh data dir, with a database of its own under
    /// `HOOKLINE_TEST_BACKEND=postgres` (found again by its path).
    pub async fn new() -> DataDir {
        let dir = tempfile::tempdir().unwrap();
        let database = crate::backend::database_for(dir.path()).await;
        DataDir {
            dir,
            _database: database,
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A data dir without a database of its own (for apps run elsewhere).
impl From<tempfile::TempDir> for DataDir {
    fn from(dir: tempfile::TempDir) -> Self {
        DataDir {
            dir,
            _database: None,
        }
    }
}

/// The defaults, on port 0, in a fresh data dir, allowed to call loopback,
/// with a short retry schedule so retry tests take milliseconds.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::defaults();
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.data_dir = dir.to_path_buf();
    c.allowed_targets = vec!["127.0.0.0/8".parse().unwrap()];
    c.delivery.retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(100)];
    c.delivery.timeout = Duration::from_secs(5);
    c.delivery.poll_interval = Duration::from_millis(200);
    c.delivery.shutdown_grace = Duration::from_secs(5);
    c
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        hookline::telemetry::init(hookline::config::LogFormat::Text);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    tweak(&mut config);
    // HOOKLINE_TEST_BACKEND=postgres: a database of the data dir's own.
    let database = if config.database_url.is_empty() {
        crate::backend::database_for(&config.data_dir).await
    } else {
        None
    };
    if let Some(db) = &database {
        config.database_url = db.url().to_owned();
    }
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let key = app.admin_key().to_owned();
    let token = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        key,
        http: reqwest::Client::new(),
        token,
        handle: Some(handle),
        dir: DataDir {
            dir,
            _database: database,
        },
    }
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// POSTs and asserts a 2xx.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.post(path, body).await;
        assert!(s.is_success(), "POST {path} answered {s}: {v}");
        v
    }

    /// Sends raw bytes to an ingest link.
    pub async fn ingest(
        &self,
        link: &str,
        method: Method,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, link).body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Polls an event until its status is `want` (or panics after `within`).
    pub async fn wait_status(&self, event_id: &str, want: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (s, v) = self.get(&format!("/api/v1/events/{event_id}")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            if v["status"] == want {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "event {event_id} is {} after {within:?}, wanted {want}: {v}",
                    v["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn stop(mut self) {
        self.token.cancel();
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// A request as a receiver saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Statuses to answer, in order; 200 once empty.
    script: Arc<Mutex<VecDeque<u16>>>,
    delay: Duration,
}

/// A real HTTP server on loopback that records every request.
pub struct Receiver {
    pub base: String,
    state: ReceiverState,
}

pub async fn spawn_receiver(script: Vec<u16>) -> Receiver {
    spawn_receiver_on("127.0.0.1:0", script, Duration::ZERO).await
}

pub async fn spawn_receiver_on(addr: &str, script: Vec<u16>, delay: Duration) -> Receiver {
    let state = ReceiverState {
        hits: Default::default(),
        script: Arc::new(Mutex::new(script.into())),
        delay,
    };
    let router = axum::Router::new()
        .fallback(record)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Receiver { base, state }
}

async fn record(
    State(s): State<ReceiverState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    s.hits.lock().unwrap().push(Hit {
        method,
        uri,
        headers,
        body,
    });
    let code = s.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

impl Receiver {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    pub async fn wait_hits(&self, n: usize, within: Duration) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "receiver got {} requests after {within:?}, wanted {n}",
                    hits.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The model the seeds assume: a shop app with an `order_created` webhook,
/// and product `my_product` (envs prd, stg, production) connected to it
/// under access tag `admin`.
pub async fn seed_model(app: &TestApp) {
    app.ok(
        "/api/v1/apps",
        json!({"tag": "shop", "name": "Shop", "envs": [{"slug": "live"}, {"slug": "test"}]}),
    )
    .await;
    app.ok(
        "/api/v1/apps/shop/webhooks",
        json!({
            "tag": "order_created", "name": "Order created",
            "envs": [{"slug": "live"}, {"slug": "test"}],
            "events": [
                {"tag": "order.created", "name": "Order created", "selector": "$Event{type}"},
                {"tag": "order.paid", "name": "Order paid", "selector": "$Event{type}"}
            ]
        }),
    )
    .await;
    app.ok(
        "/api/v1/products",
        json!({"tag": "my_product", "name": "My product", "envs": [{"slug": "prd"}, {"slug": "stg"}, {"slug": "production"}]}),
    )
    .await;
    app.ok(
        "/api/v1/products/my_product/apps",
        json!({"app": "shop", "access_tag": "admin", "envs": [
            {"product_env": "prd", "app_env": "live"},
            {"product_env": "stg", "app_env": "test"},
            {"product_env": "production", "app_env": "live"}
        ]}),
    )
    .await;
}

/// A one-env `generateLink` to `url`; returns the link.
pub async fn link_to(app: &TestApp, url: &str) -> String {
    let v = app
        .ok(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "product_env": "prd", "url": url, "method": "POST"}),
        )
        .await;
    v["link"].as_str().unwrap().to_owned()
}
