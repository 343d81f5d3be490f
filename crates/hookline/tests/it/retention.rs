//! Retention end to end: the server's sweeper deletes delivered events once
//! they are older than `retention.max_age`, in batches.

use crate::helpers::*;
use axum::http::{Method, StatusCode};
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
