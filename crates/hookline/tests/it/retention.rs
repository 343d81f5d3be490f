//! Retention end to end: the server's sweeper deletes delivered events once
//! they are older than `retention.max_age`, in batches.

use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn delivered_events_are_deleted_once_expired() {
    let app = spawn_app_with(|c| {
        c.retention.max_age = Duration::from_millis(500);
        c.retention.interval = Duration::from_millis(100);
        c.retention.batch = 2; // Five events: three batches.
    })
    .await;
    seed_model(&app).await;
    let rx = spawn_receiver(vec![]).await;
    let link = link_to(&app, &rx.url("/hook")).await;

    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, v) = app
            .ingest(
                &link,
                Method::POST,
                format!("{{\"n\":{i}}}").as_bytes(),
                &[],
            )
            .await;
        assert!(s.is_success(), "{s}: {v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.wait_status(id, "delivered", Duration::from_secs(10))
            .await;
    }
    assert_eq!(rx.hits().len(), 5);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for id in &ids {
        loop {
            let (s, v) = app.get(&format!("/api/v1/events/{id}")).await;
            if s == StatusCode::NOT_FOUND {
                break;
            }
            assert_eq!(s, StatusCode::OK, "{v}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "event {id} still there: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    app.stop().await;
}

/// A link whose webhook checks Standard Webhooks signatures; returns the
/// link and the secret genuine calls are signed with.
async fn signed_link(app: &TestApp, url: &str) -> (String, String) {
    app.ok(
        "/api/v1/apps",
        json!({"tag": "sw", "name": "SW", "envs": [{"slug": "live"}]}),
    )
    .await;
    app.ok(
        "/api/v1/apps/sw/webhooks",
        json!({"tag": "evt", "name": "Events",
            "verification": {"scheme": "standard_webhooks"}, "envs": [{"slug": "live"}]}),
    )
    .await;
    app.ok(
        "/api/v1/products",
        json!({"tag": "p", "name": "P", "envs": [{"slug": "prd"}]}),
    )
    .await;
    app.ok(
        "/api/v1/products/p/apps",
        json!({"app": "sw", "access_tag": "main",
            "envs": [{"product_env": "prd", "app_env": "live"}]}),
    )
    .await;
    let secret = hookline_verify::standard::generate_secret(&[9; 32]);
    let v = app
        .ok(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": "p", "access_tag": "main", "webhook_tag": "evt",
                "product_env": "prd", "url": url, "method": "POST", "verification_secret": secret}),
        )
        .await;
    (v["link"].as_str().unwrap().to_owned(), secret)
}

/// Posts `body` signed with `secret`.
async fn post_signed(app: &TestApp, link: &str, secret: &str, id: &str, body: &[u8]) -> StatusCode {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sig = hookline_verify::standard::sign(secret, id, ts, body).unwrap();
    let ts = ts.to_string();
    let headers = [
        ("webhook-id", id),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", sig.as_str()),
    ];
    app.ingest(link, Method::POST, body, &headers).await.0
}

/// Bytes of every file in the data dir (SQLite: the database, its WAL and
/// shared memory).
fn data_dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|f| f.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

async fn rejected_ids(app: &TestApp) -> Vec<String> {
    let (s, v) = app.get("/api/v1/events?status=rejected&limit=200").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_flood_of_bad_signature_posts_leaves_the_database_bounded() {
    const POSTS: usize = 2_000;
    const PER_MINUTE: u32 = 30;
    let app = spawn_app_with(|c| c.ingest.rejected_per_minute = PER_MINUTE).await;
    let rx = spawn_receiver(vec![]).await;
    let (link, secret) = signed_link(&app, &rx.url("/hook")).await;
    let before = data_dir_bytes(app.dir.path());

    // 2,000 unsigned posts of 64 KiB each: 125 MiB if they were all kept.
    let body = vec![b'A'; 64 << 10];
    use futures::StreamExt;
    let statuses: Vec<StatusCode> = futures::stream::iter(0..POSTS)
        .map(|i| {
            let (app, link, body) = (&app, &link, &body);
            async move {
                let id = format!("msg_forged_{i}");
                let headers = [
                    ("webhook-id", id.as_str()),
                    ("webhook-timestamp", "1700000000"),
                    ("webhook-signature", "v1,Zm9yZ2Vk"),
                ];
                app.ingest(link, Method::POST, body, &headers).await.0
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        unauthorized, PER_MINUTE as usize,
        "recorded and answered 401"
    );
    assert_eq!(unauthorized + limited, POSTS, "every post refused");

    // Only the first ones were stored, each with the start of its body.
    let ids = rejected_ids(&app).await;
    assert_eq!(ids.len(), PER_MINUTE as usize);
    let (s, v) = app.get(&format!("/api/v1/events/{}", ids[0])).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["request"]["body_size"], 4096, "{}", v["request"]);
    assert_eq!(v["verification"]["received_body_bytes"], 64 << 10, "{v}");
    assert!(v["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "webhook-id"));

    let grown = data_dir_bytes(app.dir.path()).saturating_sub(before);
    assert!(
        grown < 4 << 20,
        "the data dir grew by {grown} bytes for {POSTS} rejected posts"
    );

    // Genuine calls from the same address are not limited.
    assert_eq!(
        post_signed(&app, &link, &secret, "msg_genuine", b"{\"ok\":true}").await,
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn rejected_calls_are_deleted_after_their_own_retention() {
    let app = spawn_app_with(|c| {
        c.retention.rejected_after = Duration::from_millis(500);
        c.retention.interval = Duration::from_millis(100);
        c.retention.batch = 2; // Five rejected calls: three batches.
    })
    .await;
    let rx = spawn_receiver(vec![]).await;
    let (link, secret) = signed_link(&app, &rx.url("/hook")).await;
    for i in 0..5 {
        let (s, v) = app
            .ingest(
                &link,
                Method::POST,
                format!("{{\"n\":{i}}}").as_bytes(),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    let rejected = rejected_ids(&app).await;
    assert_eq!(rejected.len(), 5);
    assert_eq!(
        post_signed(&app, &link, &secret, "msg_kept", b"{\"n\":99}").await,
        StatusCode::OK
    );
    rx.wait_hits(1, Duration::from_secs(10)).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !rejected_ids(&app).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rejected calls still kept: {:?}",
            rejected_ids(&app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in &rejected {
        let (s, _) = app.get(&format!("/api/v1/events/{id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    // The delivered event is younger than `max_age` (30 days): kept.
    let (s, v) = app.get("/api/v1/events?status=delivered").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    app.stop().await;
}
