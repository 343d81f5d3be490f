//! Shared test helpers: a real HTTP receiver on loopback that records what
//! arrives and answers from a script, a fresh SQLite store with a seeded
//! registration, and a worker started the way `hookline serve` starts it.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hookline_core::event::{Event, EventStatus, Payload};
use hookline_core::ids::{new_id, new_signing_secret};
use hookline_core::model::{
    App, AppEnv, AppWebhook, Auth, Connection, ConnectionEnv, HttpMethod, Product, ProductEnv,
    Receiver, Registration,
};
use hookline_core::retry::RetrySchedule;
use hookline_core::testing::{EventBuilder, RegistrationBuilder, WebhookEnvBuilder};
use hookline_core::time::Millis;
use hookline_delivery::{build_client, DeliveryConfig, OutboundGuard};
use hookline_store::{DynStore, SqliteOptions, SqliteStore};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Logs to stderr when `TEST_LOG` is set; silent otherwise.
pub fn init_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("hookline_delivery=debug,info")
            .with_test_writer()
            .try_init();
    }
}

/// A guard that lets tests reach their loopback receivers.
pub fn loopback_guard() -> Arc<OutboundGuard> {
    Arc::new(OutboundGuard::new(vec![
        "127.0.0.0/8".parse().unwrap(),
        "::1/128".parse().unwrap(),
    ]))
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: ReplyBody,
    delay: Duration,
}

#[derive(Debug, Clone)]
enum ReplyBody {
    Bytes(Vec<u8>),
    /// A body that never ends, streamed as fast as the client reads.
    Endless,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Bytes(Vec::new()),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = ReplyBody::Bytes(body.into());
        self
    }

    pub fn endless_body(mut self) -> Self {
        self.body = ReplyBody::Endless;
        self
    }

    /// Waits this long after the request arrived before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

struct ReceiverState {
    script: Mutex<VecDeque<Reply>>,
    /// Answer once the script has run out.
    fallback: Reply,
    requests: Mutex<Vec<Recorded>>,
    arrived: Notify,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// An HTTP server on `127.0.0.1:0` answering every method and path from a
/// script, then with the fallback (200 `ok` unless given).
pub struct TestReceiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: JoinHandle<()>,
}

impl TestReceiver {
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::with_fallback(script, Reply::status(200).body("ok")).await
    }

    pub async fn with_fallback(script: Vec<Reply>, fallback: Reply) -> Self {
        let state = Arc::new(ReceiverState {
            script: Mutex::new(script.into()),
            fallback,
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestReceiver { addr, state, task }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> url::Url {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }

    /// `http://localhost:<port><path>`: a name, so DNS (and the guarded
    /// resolver) is involved.
    pub fn localhost_url(&self, path: &str) -> url::Url {
        format!("http://localhost:{}{path}", self.addr.port())
            .parse()
            .unwrap()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.state.arrived.notified();
            let seen = self.requests();
            if seen.len() >= n {
                return seen;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "receiver got {} requests within {within:?}, expected {n}",
                    seen.len()
                );
            }
        }
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(state): State<Arc<ReceiverState>>, req: Request) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);

    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    state.arrived.notify_waiters();

    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.fallback.clone());
    tokio::time::sleep(reply.delay).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);

    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    let body = match reply.body {
        ReplyBody::Bytes(b) => Body::from(b),
        ReplyBody::Endless => Body::from_stream(futures::stream::repeat_with(|| {
            Ok::<_, Infallible>(Bytes::from_static(&[b'x'; 1024]))
        })),
    };
    builder.body(body).unwrap()
}

// --- store and domain values ---------------------------------------------

pub use hookline_core::testing::{env, tag};

/// A fresh SQLite store in its own directory (kept alive by the `TempDir`).
pub async fn sqlite_store() -> (DynStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookline.db");
    let store = SqliteStore::open(path.to_str().unwrap(), &SqliteOptions::default())
        .await
        .unwrap();
    (Arc::new(store), dir)
}

pub fn receiver(url: url::Url) -> Receiver {
    Receiver {
        url,
        method: HttpMethod::Post,
        auth: Auth::default(),
    }
}

/// Stores an app with a webhook, a product connected to it, and one
/// registration forwarding to `receiver` (none: events are held).
pub async fn seed(
    store: &DynStore,
    receiver: Option<Receiver>,
    schedule: Option<RetrySchedule>,
) -> Registration {
    let now = Millis::now();
    let app = App {
        id: new_id("app"),
        tag: tag("acme"),
        name: "Acme".into(),
        description: None,
        envs: vec![AppEnv {
            slug: env("prd"),
            base_url: None,
        }],
        created_at: now,
        updated_at: now,
    };
    store.insert_app(&app).await.unwrap();
    let webhook = AppWebhook {
        id: new_id("whk"),
        app_id: app.id.clone(),
        tag: tag("orders"),
        name: "Orders".into(),
        description: None,
        verification: Default::default(),
        envs: vec![WebhookEnvBuilder::new("prd").build()],
        events: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    store.insert_webhook(&webhook).await.unwrap();
    let product = Product {
        id: new_id("prd"),
        tag: tag("shop"),
        name: "Shop".into(),
        envs: vec![ProductEnv {
            slug: env("prd"),
            name: None,
        }],
        created_at: now,
        updated_at: now,
    };
    store.insert_product(&product).await.unwrap();
    let connection = Connection {
        id: new_id("con"),
        product_id: product.id.clone(),
        app_id: app.id.clone(),
        access_tag: tag("acme-main"),
        envs: vec![ConnectionEnv {
            product_env: env("prd"),
            app_env: env("prd"),
            auth: Auth::default(),
        }],
        created_at: now,
        updated_at: now,
    };
    store.insert_connection(&connection).await.unwrap();
    let reg = RegistrationBuilder::new()
        .product(&product.id, product.tag.as_str())
        .access_tag(connection.access_tag.as_str())
        .app_tag(app.tag.as_str())
        .webhook(&webhook.id, webhook.tag.as_str())
        .receiver(receiver)
        .verification_secret(None)
        .signing_secret(&new_signing_secret())
        .retry_schedule(schedule)
        .created_at(now)
        .updated_at(now)
        .build();
    store
        .save_registrations(std::slice::from_ref(&reg))
        .await
        .unwrap();
    reg
}

/// A `received` event of `reg`, due now, with a JSON body.
pub fn queued_event(reg: &Registration, body: &[u8]) -> (Event, Payload) {
    let now = Millis::now();
    let event = EventBuilder::for_registration(reg)
        .event_type(Some("order.created"))
        .received_at(now)
        .due(now)
        .build();
    let payload = Payload {
        method: "POST".into(),
        query: None,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Provider-Trace".into(), "trace-1".into()),
            ("Connection".into(), "keep-alive".into()),
        ],
        body: body.to_vec(),
    };
    (event, payload)
}

/// Inserts one queued event and returns its id.
pub async fn enqueue(store: &DynStore, reg: &Registration, body: &[u8]) -> String {
    let (event, payload) = queued_event(reg, body);
    store
        .insert_events(&[(event.clone(), payload)])
        .await
        .unwrap();
    event.id
}

/// Polls the store until the event has `status`; panics after `within`, or
/// at once if the event settled in another final status.
pub async fn wait_for_status(
    store: &DynStore,
    event_id: &str,
    status: EventStatus,
    within: Duration,
) -> Event {
    let deadline = Instant::now() + within;
    loop {
        let (event, _) = store.get_event(event_id).await.unwrap().unwrap();
        if event.status == status {
            return event;
        }
        let settled = matches!(
            event.status,
            EventStatus::Delivered | EventStatus::Failed | EventStatus::Held
        );
        if settled || Instant::now() > deadline {
            panic!(
                "event is {:?} after {within:?} (attempts {}, last error {:?}), expected {status:?}",
                event.status, event.attempts, event.last_error
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// --- the worker ----------------------------------------------------------

/// A config for tests: short attempt timeout, a fast retry schedule, and a
/// poll interval long enough that a test passing on time proves the worker
/// was woken rather than polling.
pub fn config(schedule_ms: &[u64]) -> DeliveryConfig {
    let mut cfg = DeliveryConfig::new(format!("node-{}", new_id("t")));
    cfg.timeout = Duration::from_secs(2);
    cfg.lease = Duration::from_secs(10);
    cfg.poll_interval = Duration::from_secs(30);
    cfg.shutdown_grace = Duration::from_secs(5);
    cfg.schedule = RetrySchedule(
        schedule_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect(),
    );
    cfg
}

pub struct RunningWorker {
    pub handle: JoinHandle<()>,
    pub wake: Arc<Notify>,
    pub shutdown: CancellationToken,
}

impl RunningWorker {
    pub fn start(store: &DynStore, cfg: DeliveryConfig) -> Self {
        Self::start_with_guard(store, cfg, loopback_guard())
    }

    pub fn start_with_guard(
        store: &DynStore,
        cfg: DeliveryConfig,
        guard: Arc<OutboundGuard>,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let client = build_client(guard.clone(), "hookline-test");
        let handle = hookline_delivery::spawn(
            store.clone(),
            client,
            guard,
            cfg,
            wake.clone(),
            shutdown.clone(),
        );
        RunningWorker {
            handle,
            wake,
            shutdown,
        }
    }

    /// Cancels and waits for the worker to finish its shutdown.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("worker stops")
            .expect("worker task did not panic");
    }
}
