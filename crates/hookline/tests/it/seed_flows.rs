//! The seeds' flows end to end: enable for two envs, both generateLink
//! forms, fetchAllForProductApp, and events reaching the right receivers.

use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn seed_flows_register_ingest_and_deliver() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;

    // processor.webhook.enable, with two envs and the seeds' auth shape.
    let enabled = app
        .ok(
            "/api/v1/processor/webhooks/enable",
            json!({
                "product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                "envs": [
                    {"slug": "prd", "url": rx.url("/webhooks/orders"), "method": "POST",
                     "auth": {"query": {}, "params": {}, "body": {}, "headers": {"Authorization": "Bearer prd-token"}}},
                    {"slug": "stg", "url": rx.url("/staging/{tenant}/orders"), "method": "PUT",
                     "auth": {"query": {"src": "hookline"}, "params": {"tenant": "acme"}, "body": {}, "headers": {"Authorization": "Bearer stg-token"}}}
                ]
            }),
        )
        .await;
    let regs = enabled["registrations"].as_array().unwrap();
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[0]["env"], "prd");
    assert_eq!(regs[0]["receiver"]["method"], "POST");
    assert_eq!(regs[0]["provider_registration"]["status"], "not_applicable");
    assert!(regs[0]["signing_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let prd_link = regs[0]["link"].as_str().unwrap().to_owned();
    let stg_link = regs[1]["link"].as_str().unwrap().to_owned();
    assert!(
        prd_link.starts_with(&format!("{}/webhooks/v1/process/", app.base)),
        "{prd_link}"
    );
    assert_ne!(prd_link, stg_link);

    // processor.webhook.generateLink for a third env.
    let gen = app
        .ok(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "product_env": "production", "url": rx.url("/prod-hook"), "method": "PATCH"}),
        )
        .await;
    let prod_link = gen["link"].as_str().unwrap().to_owned();

    // product.webhook.generateLink for one event, with a receiver.
    let ev = app
        .ok(
            "/api/v1/products/my_product/webhooks/link",
            json!({"app": "admin", "event": "order.paid", "env": "prd", "product": "my_product", "url": rx.url("/paid")}),
        )
        .await;
    let paid_link = ev["link"].as_str().unwrap().to_owned();

    // product.webhook.fetchAllForProductApp lists all four.
    let (s, all) = app
        .get("/api/v1/products/my_product/apps/admin/webhooks")
        .await;
    assert_eq!(s, StatusCode::OK);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    let mut urls: Vec<&str> = all.iter().map(|r| r["url"].as_str().unwrap()).collect();
    urls.sort();
    let mut want = vec![
        prd_link.as_str(),
        stg_link.as_str(),
        prod_link.as_str(),
        paid_link.as_str(),
    ];
    want.sort();
    assert_eq!(urls, want);
    assert!(all
        .iter()
        .any(|r| r["event"] == "order.paid" && r["webhook"] == "order_created"));

    // Each link delivers to its receiver, method and auth applied, body unchanged.
    let body = b"{\"type\": \"order.created\",  \"id\": 1}\n".to_vec();
    for link in [&prd_link, &stg_link, &prod_link, &paid_link] {
        let (s, v) = app
            .ingest(
                link,
                Method::POST,
                &body,
                &[("content-type", "application/json"), ("x-provider", "shop")],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "received");
    }
    let hits = rx.wait_hits(4, Duration::from_secs(10)).await;
    let by_path = |p: &str| {
        hits.iter()
            .find(|h| h.uri.path() == p)
            .unwrap_or_else(|| panic!("nothing at {p}: {hits:?}"))
            .clone()
    };

    let prd = by_path("/webhooks/orders");
    assert_eq!(prd.method, Method::POST);
    assert_eq!(prd.headers["authorization"], "Bearer prd-token");
    assert_eq!(prd.headers["x-provider"], "shop");
    assert_eq!(prd.body.as_ref(), body.as_slice());
    assert!(prd.headers.contains_key("webhook-signature"));

    let stg = by_path("/staging/acme/orders");
    assert_eq!(stg.method, Method::PUT);
    assert_eq!(stg.uri.query(), Some("src=hookline"));
    assert_eq!(stg.headers["authorization"], "Bearer stg-token");
    assert_eq!(stg.body.as_ref(), body.as_slice());

    assert_eq!(by_path("/prod-hook").method, Method::PATCH);
    assert_eq!(by_path("/paid").body.as_ref(), body.as_slice());

    // Delivered events are classified by the webhook's selector.
    let (_, page) = app.get("/api/v1/events?product=my_product&env=stg").await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["event"], "order.created");
    app.stop().await;
}

#[tokio::test]
async fn calling_again_updates_and_keeps_the_link() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let enable = |url: String| {
        json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
               "envs": [{"slug": "prd", "url": url, "method": "POST", "auth": {"headers": {}}}]})
    };
    let first = app
        .ok("/api/v1/processor/webhooks/enable", enable(rx.url("/a")))
        .await;
    let second = app
        .ok("/api/v1/processor/webhooks/enable", enable(rx.url("/b")))
        .await;
    let (l1, l2) = (&first["registrations"][0], &second["registrations"][0]);
    assert_eq!(l1["link"], l2["link"]);
    assert_eq!(l1["id"], l2["id"]);
    assert_eq!(l2["receiver"]["url"], rx.url("/b"));
    // generateLink for the same key is the same registration, too.
    let link = link_to(&app, &rx.url("/c")).await;
    assert_eq!(link, l1["link"].as_str().unwrap());
    let (_, all) = app
        .get("/api/v1/products/my_product/apps/admin/webhooks")
        .await;
    assert_eq!(all.as_array().unwrap().len(), 1);

    app.ingest(&link, Method::POST, b"{}", &[]).await;
    let hits = rx.wait_hits(1, Duration::from_secs(10)).await;
    assert_eq!(hits[0].uri.path(), "/c");
    app.stop().await;
}

#[tokio::test]
async fn held_events_go_out_once_a_receiver_is_set() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let v = app
        .ok(
            "/api/v1/products/my_product/webhooks/link",
            json!({"app": "admin", "event": "order.created", "env": "stg"}),
        )
        .await;
    let link = v["link"].as_str().unwrap();
    assert!(v["registration"]["receiver"].is_null());
    let (s, acc) = app
        .ingest(link, Method::POST, b"{\"type\":\"order.created\"}", &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(acc["status"], "held");
    let id = acc["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.hits().is_empty());

    let reg_id = v["registration"]["id"].as_str().unwrap();
    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/registrations/{reg_id}"),
            Some(json!({"receiver": {"url": rx.url("/late"), "method": "POST"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.wait_status(id, "delivered", Duration::from_secs(10))
        .await;
    assert_eq!(rx.hits()[0].uri.path(), "/late");
    app.stop().await;
}

#[tokio::test]
async fn disable_retires_links() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/x")).await;
    // Accepted first, so ingest has the link cached: disabling must still
    // take effect at once.
    let (s, _) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    assert_eq!(s, StatusCode::OK);
    let v = app
        .ok("/api/v1/processor/webhooks/disable", json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created"}))
        .await;
    assert_eq!(v["registrations"].as_array().unwrap().len(), 1);
    let (s, body) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(body["error"]["code"], "link_retired");
    // Enabling again brings the same link back.
    assert_eq!(link_to(&app, &rx.url("/x")).await, link);
    let (s, _) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    assert_eq!(s, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn events_are_listed_filtered_and_paginated() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/p")).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let kind = if i % 2 == 0 {
            "order.created"
        } else {
            "order.paid"
        };
        let (_, v) = app
            .ingest(
                &link,
                Method::POST,
                format!("{{\"type\":\"{kind}\",\"n\":{i}}}").as_bytes(),
                &[],
            )
            .await;
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/events?product=my_product&limit=3&cursor={c}"),
            None => "/api/v1/events?product=my_product&limit=3".into(),
        };
        let (s, page) = app.get(&q).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let (_, paid) = app.get("/api/v1/events?event=order.paid").await;
    assert_eq!(paid["data"].as_array().unwrap().len(), 3);
    let (_, none) = app.get("/api/v1/events?product=other").await;
    assert!(none["data"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn raw_bytes_headers_query_and_method_are_kept() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/raw")).await;
    let body: Vec<u8> = (0u8..=255).collect();
    let (s, v) = app
        .ingest(
            &format!("{link}?a=1&b=%20x"),
            Method::PUT,
            &body,
            &[
                ("content-type", "application/octet-stream"),
                ("x-sig", "abc"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let id = v["id"].as_str().unwrap();
    let ev = app
        .wait_status(id, "delivered", Duration::from_secs(10))
        .await;
    assert_eq!(ev["request"]["method"], "PUT");
    assert_eq!(ev["request"]["query"], "a=1&b=%20x");
    assert_eq!(ev["request"]["body_size"], 256);
    assert!(ev["request"]["body"].is_null());
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
    assert_eq!(ev["request"]["body_base64"], b64.as_str());
    assert!(ev["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "x-sig" && h[1] == "abc"));
    assert_eq!(rx.hits()[0].body.as_ref(), body.as_slice());
    app.stop().await;
}

#[tokio::test]
async fn an_event_link_naming_its_webhook_keeps_the_event() {
    let app = spawn_app().await;
    seed_model(&app).await;
    let v = app
        .ok(
            "/api/v1/products/my_product/webhooks/link",
            json!({"app": "admin", "event": "order.paid", "webhook": "order_created", "env": "prd"}),
        )
        .await;
    assert_eq!(v["registration"]["event"], "order.paid");
    assert_eq!(v["registration"]["webhook"], "order_created");
    // It is a different registration from the webhook-wide link of the same env.
    let wide = link_to(&app, "http://127.0.0.1:9/x").await;
    assert_ne!(wide, v["link"].as_str().unwrap());
    app.stop().await;
}
