//! Several nodes on one PostgreSQL database, as separate `hookline serve`
//! processes: one is killed with SIGKILL mid-stream and the other finishes
//! its work; an idle node is woken by the other's ingest.
//!
//! Needs `HOOKLINE_TEST_POSTGRES_URL` (skipped with a notice without it,
//! failed under `CI`).

use crate::helpers::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookline_store::postgres::testing::{self, TestDatabase};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "hk_multinode_test_key_0123456789";
/// Nodes sharing a database must share the key that seals its secrets.
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Deliveries in flight per node.
const CONCURRENCY: usize = 4;

/// A `hookline serve` process.
struct Node {
    child: Child,
    base: String,
    /// The node's lease owner id, read from its log.
    node_id: Arc<Mutex<Option<String>>>,
}

impl Node {
    /// Starts a node on `db_url`; `env` adds or overrides settings.
    fn start(db_url: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookline"));
        cmd.arg("serve")
            .env("HOOKLINE_LISTEN", "127.0.0.1:0")
            .env("HOOKLINE_DATA_DIR", data_dir)
            .env("HOOKLINE_DATABASE_URL", db_url)
            .env("HOOKLINE_ADMIN_KEY", KEY)
            .env("HOOKLINE_SECRET_KEY", SECRET_KEY)
            .env("HOOKLINE_ALLOWED_TARGETS", "127.0.0.0/8")
            .env("HOOKLINE_DELIVERY__CONCURRENCY", CONCURRENCY.to_string())
            .env("HOOKLINE_DELIVERY__RETRY_SCHEDULE", "100ms,100ms,100ms")
            .env("HOOKLINE_DELIVERY__POLL_INTERVAL", "200ms")
            // A dead node's events come back after 3 s instead of 60 s.
            .env("HOOKLINE_DELIVERY__TIMEOUT", "2s")
            .env("HOOKLINE_DELIVERY__LEASE", "3s")
            .env("HOOKLINE_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,hookline_delivery::worker=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("hookline binary starts");

        let node_id = Arc::new(Mutex::new(None));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let id_slot = node_id.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let fields = serde_json::from_str::<serde_json::Value>(&line)
                    .map(|v| v["fields"].clone())
                    .unwrap_or_default();
                if fields["message"] == "delivery worker started" {
                    *id_slot.lock().unwrap() = fields["node_id"].as_str().map(str::to_owned);
                } else if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("{line}");
                }
            }
        });

        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("hookline printed its port (did it start?)")
                .unwrap();
            if let Some(rest) = line.strip_prefix("hookline listening on port ") {
                break rest.split(';').next().unwrap().trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
            node_id,
        }
    }

    fn api(&self) -> TestApp {
        TestApp {
            base: self.base.clone(),
            key: KEY.to_owned(),
            http: reqwest::Client::new(),
            token: Default::default(),
            handle: None,
            dir: tempfile::tempdir().unwrap().into(),
        }
    }

    /// The node's worker id, once its log has said it.
    async fn node_id(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(id) = self.node_id.lock().unwrap().clone() {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "the node never logged its worker id"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A receiver that records each delivery's `webhook-id` the moment it
/// arrives (so a delivery cut short by a kill still counts), then answers
/// 200 after `delay` (or 10 s for a body containing `slow`).
#[derive(Clone)]
struct Recorder {
    hits: Arc<Mutex<Vec<(String, Instant)>>>,
    delay: Duration,
}

impl Recorder {
    async fn spawn(delay: Duration) -> (Recorder, String) {
        let rec = Recorder {
            hits: Default::default(),
            delay,
        };
        let router = axum::Router::new().fallback(record).with_state(rec.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (rec, url)
    }

    fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (id, _) in self.hits.lock().unwrap().iter() {
            *counts.entry(id.clone()).or_default() += 1;
        }
        counts
    }

    fn first_hit(&self, id: &str) -> Option<Instant> {
        let hits = self.hits.lock().unwrap();
        hits.iter().find(|(h, _)| h == id).map(|(_, at)| *at)
    }
}

async fn record(State(r): State<Recorder>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    r.hits.lock().unwrap().push((id, Instant::now()));
    let slow = body.windows(4).any(|w| w == b"slow");
    tokio::time::sleep(if slow {
        Duration::from_secs(10)
    } else {
        r.delay
    })
    .await;
    StatusCode::OK
}

/// The link as served by another node: same link id, other base.
fn on_node(link: &str, node: &Node) -> String {
    let path = link
        .find("/webhooks/")
        .map(|i| &link[i..])
        .expect("an ingest link");
    format!("{}{path}", node.base)
}

/// Sends one event; its id when the node acknowledged it.
async fn send(http: &reqwest::Client, link: &str, body: String) -> Option<String> {
    let resp = http.post(link).body(body).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let v: serde_json::Value = resp.json().await.ok()?;
    v["id"].as_str().map(str::to_owned)
}

/// Recorded attempts of an event that made a call.
async fn recorded_calls(api: &TestApp, id: &str) -> usize {
    let (s, v) = api.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["attempt_log"]
        .as_array()
        .expect("attempt log")
        .iter()
        .filter(|a| a["request_url"].as_str().is_some_and(|u| !u.is_empty()))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn acknowledged_events_survive_a_node_killed_mid_stream() {
    const N: usize = 240;
    let server = testing::server_url("multi-node");
    let db = TestDatabase::create(&server).await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both start at once on the fresh database: one migrates, one waits.
    let (node_a, node_b) = std::thread::scope(|s| {
        let a = s.spawn(|| Node::start(db.url(), dir_a.path(), &[]));
        let b = s.spawn(|| Node::start(db.url(), dir_b.path(), &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (id_a, id_b) = (node_a.node_id().await, node_b.node_id().await);
    assert_ne!(id_a, id_b);
    let api_b = node_b.api();

    // A slow receiver keeps every worker busy, so the killed node has
    // deliveries in flight.
    let (rx, url) = Recorder::spawn(Duration::from_millis(100)).await;
    let api_a = node_a.api();
    seed_model(&api_a).await;
    let link_a = link_to(&api_a, &url).await;
    let link_b = on_node(&link_a, &node_b);

    // What A holds when it dies (claimed, not completed) is read at once,
    // long before its 3 s leases run out and B takes them over. Only these
    // events may be delivered twice.
    let mut pg = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
        .await
        .unwrap();
    let kill = Arc::new(tokio::sync::Notify::new());
    let killer = {
        let (kill, id_a) = (kill.clone(), id_a.clone());
        let mut node_a = node_a;
        tokio::spawn(async move {
            kill.notified().await;
            node_a.child.kill().unwrap(); // SIGKILL
            node_a.child.wait().unwrap();
            // Let the server finish what A sent before it died (a commit
            // in the socket buffer), so it is not counted as held.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let held: Vec<String> =
                sqlx::query_scalar("SELECT event_id FROM deliveries WHERE lease_owner = $1")
                    .bind(&id_a)
                    .fetch_all(&mut pg)
                    .await
                    .unwrap();
            (held.into_iter().collect::<HashSet<String>>(), pg)
        })
    };

    // The stream: eight senders, alternating nodes. A is killed once a
    // third of the events are acknowledged; sends to it fail from then on.
    let acked = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let sends = (0..N).map(|i| {
        let (http, acked, kill) = (http.clone(), acked.clone(), kill.clone());
        let link = if i % 2 == 0 {
            link_a.clone()
        } else {
            link_b.clone()
        };
        async move {
            let id = send(&http, &link, format!("{{\"n\":{i}}}")).await;
            if id.is_some() && acked.fetch_add(1, Ordering::SeqCst) + 1 == N / 3 {
                kill.notify_one();
            }
            id
        }
    });
    use futures::StreamExt;
    let results: Vec<Option<String>> = futures::stream::iter(sends)
        .buffer_unordered(8)
        .collect()
        .await;
    let (held_by_a, mut pg) = tokio::time::timeout(Duration::from_secs(10), killer)
        .await
        .expect("node A was killed")
        .unwrap();
    let acked: Vec<String> = results.into_iter().flatten().collect();
    assert!(
        acked.len() > N / 2,
        "only {} of {N} acknowledged",
        acked.len()
    );
    assert!(
        !held_by_a.is_empty(),
        "node A held no lease when it was killed; the test proves nothing"
    );

    // Every acknowledged event is delivered: B takes A's leases over once
    // they run out.
    for id in &acked {
        api_b
            .wait_status(id, "delivered", Duration::from_secs(60))
            .await;
    }
    let counts = rx.counts();
    let mut duplicates = 0;
    for id in &acked {
        let hits = counts.get(id).copied().unwrap_or(0);
        assert!(
            hits >= 1,
            "acknowledged event {id} never reached the receiver"
        );
        let recorded = recorded_calls(&api_b, id).await;
        if hits > 1 {
            duplicates += hits - 1;
            // Only an attempt whose completion was never recorded — one A
            // made under a lease it never completed — is repeated.
            assert!(
                held_by_a.contains(id),
                "{id} was delivered {hits} times but A did not hold it at the kill"
            );
            assert_eq!(recorded, hits - 1, "{id}: one unrecorded attempt, no more");
        } else {
            assert_eq!(recorded, hits, "{id}: every delivery recorded");
        }
    }
    assert!(
        duplicates <= held_by_a.len(),
        "{duplicates} duplicates, but A held only {} leases",
        held_by_a.len()
    );
    // The queue drains: nothing stays leased by the dead node (events it
    // stored but never acknowledged included).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (left,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM deliveries WHERE lease_owner = $1 OR next_attempt_at IS NOT NULL",
        )
        .bind(&id_a)
        .fetch_one(&mut pg)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} events still queued or leased by A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "multinode: {} acknowledged, A held {} leases at the kill, {duplicates} duplicate deliveries",
        acked.len(),
        held_by_a.len()
    );
    drop(pg);
    drop(node_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn an_idle_node_is_woken_by_another_nodes_ingest() {
    let server = testing::server_url("multi-node");
    let db = TestDatabase::create(&server).await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Polling alone would take 30 s: a prompt delivery by B means B was
    // woken by A's commit. A has a single delivery slot.
    let slow_poll = [
        ("HOOKLINE_DELIVERY__POLL_INTERVAL", "30s"),
        ("HOOKLINE_DELIVERY__CONCURRENCY", "1"),
        ("HOOKLINE_DELIVERY__TIMEOUT", "20s"),
        ("HOOKLINE_DELIVERY__LEASE", "30s"),
    ];
    let node_a = Node::start(db.url(), dir_a.path(), &slow_poll);
    let node_b = Node::start(db.url(), dir_b.path(), &slow_poll);
    let (api_a, api_b) = (node_a.api(), node_b.api());
    node_a.node_id().await;
    node_b.node_id().await;
    let (rx, url) = Recorder::spawn(Duration::ZERO).await;
    seed_model(&api_a).await;
    let link = link_to(&api_a, &url).await;
    let http = reqwest::Client::new();

    // Occupy one worker with a slow delivery (whichever node claims it),
    // then send one event to the node whose worker is busy.
    let slow = send(&http, &link, "{\"slow\":true}".into()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rx.first_hit(&slow).is_none() {
        assert!(
            Instant::now() < deadline,
            "the slow event was never delivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Node ids are not in the API: find the busy node by its lease.
    let mut pg = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
        .await
        .unwrap();
    let busy: String = sqlx::query_scalar("SELECT lease_owner FROM deliveries WHERE event_id = $1")
        .bind(&slow)
        .fetch_one(&mut pg)
        .await
        .unwrap();
    let busy_node = if busy == node_a.node_id().await {
        &node_a
    } else {
        &node_b
    };
    let sent_at = Instant::now();
    let fast = send(&http, &on_node(&link, busy_node), "{\"fast\":true}".into())
        .await
        .unwrap();
    api_b
        .wait_status(&fast, "delivered", Duration::from_secs(10))
        .await;
    let latency = rx.first_hit(&fast).unwrap() - sent_at;
    assert!(
        latency < Duration::from_secs(5),
        "the idle node took {latency:?}: it was not woken"
    );
}

/// A provider sending one event twice, each copy to a different node at the
/// same moment (a redelivery racing the original, as behind a load
/// balancer): each provider event id is stored and delivered exactly once,
/// and both copies are answered with its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn one_provider_event_sent_to_two_nodes_at_once_is_stored_and_delivered_once() {
    const N: usize = 50;
    let server = testing::server_url("multi-node");
    let db = TestDatabase::create(&server).await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node_a = Node::start(db.url(), dir_a.path(), &[]);
    let node_b = Node::start(db.url(), dir_b.path(), &[]);
    let (api_a, api_b) = (node_a.api(), node_b.api());
    let (rx, url) = Recorder::spawn(Duration::ZERO).await;

    // A Standard Webhooks provider: `webhook-id` is its event id.
    api_a
        .ok(
            "/api/v1/apps",
            serde_json::json!({"tag": "sw", "name": "SW", "envs": [{"slug": "live"}]}),
        )
        .await;
    api_a
        .ok(
            "/api/v1/apps/sw/webhooks",
            serde_json::json!({"tag": "evt", "name": "Events",
                "verification": {"scheme": "standard_webhooks"}, "envs": [{"slug": "live"}]}),
        )
        .await;
    api_a
        .ok(
            "/api/v1/products",
            serde_json::json!({"tag": "p", "name": "P", "envs": [{"slug": "prd"}]}),
        )
        .await;
    api_a
        .ok(
            "/api/v1/products/p/apps",
            serde_json::json!({"app": "sw", "access_tag": "main",
                "envs": [{"product_env": "prd", "app_env": "live"}]}),
        )
        .await;
    let secret = hookline_verify::standard::generate_secret(&[7; 32]);
    let link = api_a
        .ok(
            "/api/v1/processor/webhooks/link",
            serde_json::json!({"product_tag": "p", "access_tag": "main", "webhook_tag": "evt",
                "product_env": "prd", "url": url, "method": "POST", "verification_secret": secret}),
        )
        .await["link"]
        .as_str()
        .unwrap()
        .to_owned();
    let (link_a, link_b) = (on_node(&link, &node_a), on_node(&link, &node_b));

    let http = reqwest::Client::new();
    let post = |link: String, msg_id: String, body: String| {
        let (http, secret) = (http.clone(), secret.clone());
        async move {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let sig =
                hookline_verify::standard::sign(&secret, &msg_id, ts, body.as_bytes()).unwrap();
            let resp = http
                .post(&link)
                .header("webhook-id", &msg_id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{msg_id}");
            let v: serde_json::Value = resp.json().await.unwrap();
            (
                v["id"].as_str().unwrap().to_owned(),
                v["status"].as_str().unwrap().to_owned(),
            )
        }
    };
    let mut stored = Vec::new();
    for i in 0..N {
        let msg_id = format!("msg_race_{i}");
        let body = format!("{{\"type\":\"order.created\",\"n\":{i}}}");
        let (a, b) = tokio::join!(
            tokio::spawn(post(link_a.clone(), msg_id.clone(), body.clone())),
            tokio::spawn(post(link_b.clone(), msg_id.clone(), body)),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut statuses = [a.1.as_str(), b.1.as_str()];
        statuses.sort();
        assert_eq!(statuses, ["duplicate", "received"], "{msg_id}: {a:?} {b:?}");
        assert_eq!(
            a.0, b.0,
            "{msg_id}: both copies answered with the original's id"
        );
        stored.push(a.0);
    }

    for id in &stored {
        api_b
            .wait_status(id, "delivered", Duration::from_secs(30))
            .await;
    }
    // Late duplicates would have arrived by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = rx.counts();
    assert_eq!(
        counts.len(),
        N,
        "one delivered event per provider event: {counts:?}"
    );
    for id in &stored {
        assert_eq!(counts.get(id), Some(&1), "{id} delivered once");
    }
    let mut pg = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
        .await
        .unwrap();
    let per_id: Vec<(String, i64)> =
        sqlx::query_as("SELECT provider_event_id, COUNT(*) FROM events GROUP BY provider_event_id")
            .fetch_all(&mut pg)
            .await
            .unwrap();
    assert_eq!(per_id.len(), N, "{per_id:?}");
    assert!(
        per_id.iter().all(|(_, n)| *n == 1),
        "stored twice: {per_id:?}"
    );
    drop(pg);
    drop((node_a, node_b));
}
