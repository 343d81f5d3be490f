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
