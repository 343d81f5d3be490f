//! Delivery through the running server: retries, exhaustion, replay, and the
//! Standard Webhooks signature on forwarded requests.

use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn receiver_failing_twice_then_ok_ends_delivered_with_three_attempts() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![500, 500, 200]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/flaky")).await;
    let (_, v) = app
        .ingest(&link, Method::POST, b"{\"type\":\"order.created\"}", &[])
        .await;
    let id = v["id"].as_str().unwrap();
    let ev = app
        .wait_status(id, "delivered", Duration::from_secs(10))
        .await;
    assert_eq!(ev["attempts"], 3);
    let log = ev["attempt_log"].as_array().unwrap();
    let statuses: Vec<_> = log
        .iter()
        .map(|a| a["response_status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![500, 500, 200]);
    assert_eq!(log[0]["error_kind"], "status");
    assert!(log[2]["error_kind"].is_null());
    assert_eq!(rx.hits().len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn exhausted_retries_fail_and_replay_delivers() {
    let app = spawn_app().await;
    // Schedule of two retries: three attempts, all 503, then a 200 for the replay.
    let rx = spawn_receiver(vec![503, 503, 503]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/down")).await;
    let (_, v) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    let id = v["id"].as_str().unwrap();
    let ev = app.wait_status(id, "failed", Duration::from_secs(10)).await;
    assert_eq!(ev["attempts"], 3);
    assert_eq!(ev["last_response_status"], 503);

    let (s, r) = app
        .post(&format!("/api/v1/events/{id}/replay"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let ev = app
        .wait_status(id, "delivered", Duration::from_secs(10))
        .await;
    assert_eq!(ev["attempts"], 4);
    app.stop().await;
}

#[tokio::test]
async fn dead_receiver_is_recorded_as_connect_error() {
    let app = spawn_app().await;
    seed_model(&app).await;
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let link = link_to(&app, &format!("http://127.0.0.1:{port}/gone")).await;
    let (_, v) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    let ev = app
        .wait_status(v["id"].as_str().unwrap(), "failed", Duration::from_secs(10))
        .await;
    let log = ev["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|a| a["error_kind"] == "connect" && a["response_status"].is_null()),
        "{log:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn forwarded_requests_carry_a_valid_standard_webhooks_signature() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let v = app
        .ok(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "product_env": "prd", "url": rx.url("/signed")}),
        )
        .await;
    let secret = v["signing_secret"].as_str().unwrap().to_owned();
    let link = v["link"].as_str().unwrap();
    let (_, acc) = app
        .ingest(link, Method::POST, b"{\"type\":\"order.paid\"}", &[])
        .await;
    let hit = rx.wait_hits(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(hit.headers["webhook-id"], acc["id"].as_str().unwrap());
    let verification = hookline_core::verify::Verification::StandardWebhooks {
        tolerance_secs: None,
    };
    let req = hookline_verify::InboundRequest {
        method: "POST",
        headers: &hit.headers,
        query: None,
        body: &hit.body,
    };
    let now = chrono::Utc::now().timestamp();
    hookline_verify::verify(&verification, Some(&secret), &req, now)
        .expect("signature verifies with the registration's secret");
    let other = hookline_core::ids::new_signing_secret();
    assert!(hookline_verify::verify(&verification, Some(&other), &req, now).is_err());
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_delivery() {
    let app = spawn_app().await;
    let rx = spawn_receiver_on("127.0.0.1:0", vec![], Duration::from_millis(800)).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/slow")).await;
    let (_, v) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    let id = v["id"].as_str().unwrap().to_owned();
    // Wait until the slow receiver has the request in hand, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = app.dir.path().to_path_buf();
    let keep = tempfile::TempDir::new().unwrap();
    // Keep the data dir alive past `stop` by moving it out of the TestApp.
    let TestApp {
        token,
        handle,
        dir: data,
        key,
        ..
    } = app;
    token.cancel();
    handle.unwrap().await.unwrap().unwrap();
    assert_eq!(rx.hits().len(), 1);
    drop(keep);

    // A restart on the same data dir shows the attempt recorded as delivered.
    let app2 = spawn_app_with(|c| c.data_dir = dir.clone()).await;
    assert_eq!(app2.key, key);
    let ev = app2
        .wait_status(&id, "delivered", Duration::from_secs(5))
        .await;
    assert_eq!(ev["attempts"], 1);
    assert_eq!(rx.hits().len(), 1, "no second delivery");
    app2.stop().await;
    drop(data);
}

#[tokio::test]
async fn event_shows_its_delivery_and_one_delivery_replays() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![503, 503, 503, 200]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/one")).await;
    let (_, v) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    let id = v["id"].as_str().unwrap();
    let ev = app.wait_status(id, "failed", Duration::from_secs(10)).await;

    // One destination: the registration's receiver, with every attempt.
    let deliveries = ev["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{ev}");
    let d = &deliveries[0];
    let dlv = d["id"].as_str().unwrap();
    assert!(dlv.starts_with("dlv_"), "{d}");
    assert!(
        d["destination_id"].as_str().unwrap().starts_with("dst_"),
        "{d}"
    );
    assert_eq!(d["status"], "failed");
    assert_eq!(d["attempts"].as_array().unwrap().len(), 3);
    assert!(d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["delivery_id"] == dlv));
    assert_eq!(d["last_response_status"], 503);

    let (s, r) = app
        .post(&format!("/api/v1/deliveries/{dlv}/replay"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["id"], dlv);
    assert_eq!(r["status"], "pending");
    let ev = app
        .wait_status(id, "delivered", Duration::from_secs(10))
        .await;
    assert_eq!(ev["deliveries"][0]["status"], "delivered");
    assert_eq!(ev["attempts"], 4);

    let (s, _) = app
        .post("/api/v1/deliveries/dlv_nope/replay", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_held_event_has_a_held_delivery_that_cannot_be_replayed() {
    let app = spawn_app().await;
    seed_model(&app).await;
    // A product link without a receiver: its events are held.
    let v = app
        .ok(
            "/api/v1/products/my_product/webhooks/link",
            json!({"app": "admin", "event": "order.created", "env": "stg"}),
        )
        .await;
    let link = v["link"].as_str().unwrap();
    let (_, acc) = app
        .ingest(link, Method::POST, b"{\"type\":\"order.created\"}", &[])
        .await;
    let id = acc["id"].as_str().unwrap();
    let ev = app.wait_status(id, "held", Duration::from_secs(5)).await;
    assert_eq!(ev["deliveries"][0]["status"], "held", "{ev}");
    let dlv = ev["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let (s, r) = app
        .post(&format!("/api/v1/deliveries/{dlv}/replay"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{r}");
    assert_eq!(r["error"]["code"], "replay_not_allowed");
    app.stop().await;
}
