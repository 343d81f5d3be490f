//! Secrets at rest: values written through the API never appear in the raw
//! database files, yet everything that needs them still works.

use crate::helpers::*;
use axum::http::Method;
use serde_json::json;
use std::time::Duration;

fn raw_database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        // The database, its WAL and shared-memory files.
        if name.starts_with("hookline.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(
        !all.is_empty(),
        "no database files found in {}",
        dir.display()
    );
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secrets_written_through_the_api_are_not_in_the_database_file() {
    // It reads SQLite's files, whatever backend the rest of the suite runs
    // on (HOOKLINE_TEST_BACKEND).
    let app = spawn_app_with(|c| {
        c.database_url = format!("sqlite://{}", c.data_dir.join("hookline.db").display())
    })
    .await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let provider_cred = "sk_live_PROVIDERCRED_7f3a9";
    let (s, v) = app
        .call(
            Method::PATCH,
            "/api/v1/products/my_product/apps/admin",
            Some(json!({"envs": [{"product_env": "prd", "app_env": "live",
                                  "auth": {"headers": {"Authorization": format!("Bearer {provider_cred}")}}}]})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    let header_secret = "HEADER_SECRET_c81d";
    let query_secret = "QUERY_SECRET_52be";
    let param_secret = "PARAMSECRET9e1";
    let body_secret = "BODY_SECRET_0aa4";
    let verification_secret = "VERIFY_SECRET_77d2";
    let v = app
        .ok(
            "/api/v1/processor/webhooks/enable",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "envs": [{"slug": "prd", "url": rx.url("/t/{tenant}"), "method": "POST",
                             "verification_secret": verification_secret,
                             "auth": {"headers": {"X-Receiver-Token": header_secret},
                                      "query": {"token": query_secret},
                                      "params": {"tenant": param_secret},
                                      "body": {"api_key": body_secret}}}]}),
        )
        .await;
    let signing_secret = v["registrations"][0]["signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let link = v["registrations"][0]["link"].as_str().unwrap().to_owned();

    // Everything still works from the sealed values.
    app.ingest(&link, Method::POST, b"{\"type\":\"order.created\"}", &[])
        .await;
    let hit = rx.wait_hits(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(hit.headers["x-receiver-token"], header_secret);
    assert_eq!(hit.uri.path(), format!("/t/{param_secret}"));
    assert_eq!(
        hit.uri.query(),
        Some(format!("token={query_secret}").as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(body["api_key"], body_secret);

    // Rotate: the old signing secret is kept (sealed) for the overlap.
    let reg_id = v["registrations"][0]["id"].as_str().unwrap();
    let rotated = app
        .ok(
            &format!("/api/v1/registrations/{reg_id}/rotate-secret"),
            json!({}),
        )
        .await;
    let new_secret = rotated["signing_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, signing_secret);

    let bytes = raw_database_bytes(app.dir.path());
    for secret in [
        provider_cred,
        header_secret,
        query_secret,
        param_secret,
        body_secret,
        verification_secret,
        signing_secret.as_str(),
        app.key.as_str(),
    ] {
        assert!(
            !contains(&bytes, secret),
            "`{secret}` is readable in the database file"
        );
    }
    // The search itself works: a non-secret value written the same way is found.
    assert!(
        contains(&bytes, "X-Receiver-Token"),
        "header names are kept readable"
    );
    app.stop().await;
}

/// Collects every log line of the runtime it is set on. `#[tokio::test]`
/// runs the app's tasks on the test's own thread, so a thread-local default
/// subscriber sees the worker's and the API's logs.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_delivery_that_cannot_connect_shows_and_logs_no_receiver_secret() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let app = spawn_app().await;
    seed_model(&app).await;
    let secrets = [
        "S3CRET_query_5d1",
        "S3CRETparam6e2",
        "S3CRET_header_7f3",
        "S3CRET_body_8a4",
    ];
    // Port 9 (discard) is closed: every attempt is refused at connect.
    let v = app
        .ok(
            "/api/v1/processor/webhooks/enable",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "envs": [{"slug": "prd", "url": "http://127.0.0.1:9/t/{tenant}/hook?x", "method": "POST",
                             "auth": {"query": {"token": secrets[0]},
                                      "params": {"tenant": secrets[1]},
                                      "headers": {"Authorization": format!("Bearer {}", secrets[2])},
                                      "body": {"api_key": secrets[3]}}}]}),
        )
        .await;
    let link = v["registrations"][0]["link"].as_str().unwrap().to_owned();
    let (s, ack) = app
        .ingest(&link, Method::POST, b"{\"type\":\"order.created\"}", &[])
        .await;
    assert!(s.is_success(), "{ack}");
    let id = ack["id"].as_str().unwrap().to_owned();
    let event = app
        .wait_status(&id, "failed", Duration::from_secs(20))
        .await;

    let attempts = event["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{event}");
    for a in attempts {
        assert_eq!(a["error_kind"], "connect", "{a}");
    }
    let (_, list) = app.get("/api/v1/events").await;
    assert!(
        list.to_string().contains(&id),
        "the list shows the event: {list}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("delivery attempt failed"),
        "the failed attempts are logged: {logged}"
    );
    for secret in secrets {
        assert!(
            !event.to_string().contains(secret),
            "`{secret}` is in the event: {event}"
        );
        assert!(
            !list.to_string().contains(secret),
            "`{secret}` is in the list: {list}"
        );
        assert!(!logged.contains(secret), "`{secret}` is logged: {logged}");
    }
    app.stop().await;
}

// --- the secret key check ----------------------------------------------------

use hookline::config::Config;
use hookline::startup::Application;
use hookline_store::postgres::testing::{self, TestDatabase};

/// Builds an app on `dir` (the same database each time: SQLite in the dir,
/// or under HOOKLINE_TEST_BACKEND=postgres the PostgreSQL database of the
/// [`DataDir`] that holds `dir`).
async fn build_on(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut Config),
) -> Result<Application, String> {
    let mut config = test_config(dir);
    if let Some(db) = crate::backend::database_for(dir).await {
        config.database_url = db.url().to_owned();
    }
    tweak(&mut config);
    Application::build(config).await.map_err(|e| e.to_string())
}

/// Serves until stopped, then waits for the shutdown to finish.
async fn run_then_stop(app: Application) {
    let token = app.shutdown_token();
    let running = tokio::spawn(app.run_until_stopped());
    token.cancel();
    running.await.unwrap().unwrap();
}

fn other_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([0x5au8; 32])
}

async fn execute(database_url: &str, statement: &str) {
    use sqlx::Connection;
    if database_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query(statement).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query(statement).execute(&mut c).await.unwrap();
    }
}

async fn key_check_rows(database_url: &str) -> i64 {
    use sqlx::Connection;
    let q = "SELECT COUNT(*) FROM key_check";
    if database_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar(q).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar(q).fetch_one(&mut c).await.unwrap()
    }
}

fn database_url(dir: &std::path::Path, configured: Option<String>) -> String {
    configured.unwrap_or_else(|| format!("sqlite://{}", dir.join("hookline.db").display()))
}

#[tokio::test]
async fn a_restart_with_another_secret_key_is_refused_with_what_to_set() {
    let dir = DataDir::new().await;
    run_then_stop(build_on(dir.path(), |_| {}).await.expect("first start")).await;
    let key_file = dir.path().join("secret.key");
    let key = std::fs::read_to_string(&key_file).unwrap();

    let err = build_on(dir.path(), |c| c.secret_key = other_key())
        .await
        .err()
        .expect("another HOOKLINE_SECRET_KEY is refused");
    assert!(err.contains("refusing to start"), "{err}");
    assert!(err.contains("HOOKLINE_SECRET_KEY"), "{err}");
    assert!(err.contains("secret.key"), "{err}");

    std::fs::write(&key_file, format!("{}\n", other_key())).unwrap();
    let err = build_on(dir.path(), |_| {})
        .await
        .err()
        .expect("another secret.key is refused");
    assert!(err.contains(&key_file.display().to_string()), "{err}");
    assert!(err.contains("HOOKLINE_SECRET_KEY"), "{err}");

    std::fs::write(&key_file, key).unwrap();
    run_then_stop(
        build_on(dir.path(), |_| {})
            .await
            .expect("the right key starts"),
    )
    .await;
}

#[tokio::test]
async fn a_database_without_a_check_value_is_judged_by_its_sealed_secrets() {
    // What the previous release left: sealed secrets, no key check value.
    let app = spawn_app().await;
    let dir = app.dir.path().to_path_buf();
    let url = database_url(
        &dir,
        crate::backend::database_for(&dir)
            .await
            .map(|db| db.url().to_owned()),
    );
    seed_model(&app).await;
    // Every registration has a sealed signing secret.
    let rx = spawn_receiver(vec![]).await;
    link_to(&app, &rx.url("/hook")).await;
    // Stopped by hand to keep the data dir (and so its database) alive.
    let TestApp {
        token,
        handle,
        dir: tmp,
        ..
    } = app;
    token.cancel();
    handle.unwrap().await.unwrap().unwrap();
    execute(&url, "DELETE FROM key_check").await;

    let err = build_on(&dir, |c| c.secret_key = other_key())
        .await
        .err()
        .expect("a key that opens none of the stored secrets is refused");
    assert!(err.contains("HOOKLINE_SECRET_KEY"), "{err}");
    assert_eq!(
        key_check_rows(&url).await,
        0,
        "nothing written when refused"
    );

    run_then_stop(build_on(&dir, |_| {}).await.expect("the right key starts")).await;
    assert_eq!(key_check_rows(&url).await, 1, "the check value is written");
    let err = build_on(&dir, |c| c.secret_key = other_key())
        .await
        .err()
        .expect("and from then on other keys are refused");
    assert!(err.contains("HOOKLINE_SECRET_KEY"), "{err}");
    drop(tmp);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn a_second_node_on_one_postgres_database_with_its_own_key_refuses_to_start() {
    let server = testing::server_url("secret key check");
    let db = TestDatabase::create(&server).await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = db.url().to_owned();
    let first = build_on(dir_a.path(), |c| c.database_url = url.clone())
        .await
        .expect("the first node starts and generates its key");
    let err = build_on(dir_b.path(), |c| c.database_url = url.clone())
        .await
        .err()
        .expect("a node that generated a key of its own is refused");
    assert!(err.contains("HOOKLINE_SECRET_KEY"), "{err}");
    assert!(err.contains("secret.key"), "{err}");
    assert!(
        !dir_b.path().join("secret.key").exists(),
        "the key it generated is removed, so copying the right one in is all that is left"
    );

    std::fs::copy(
        dir_a.path().join("secret.key"),
        dir_b.path().join("secret.key"),
    )
    .unwrap();
    let second = build_on(dir_b.path(), |c| c.database_url = url.clone())
        .await
        .expect("with the first node's key it starts");
    run_then_stop(second).await;
    run_then_stop(first).await;
}
