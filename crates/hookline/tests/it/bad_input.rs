//! Bad input gets a clear error with a stable code, and never a 500.

use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

fn code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {v}"))
}

#[tokio::test]
async fn private_receivers_are_refused_without_an_allow_list() {
    let app = spawn_app_with(|c| c.allowed_targets.clear()).await;
    seed_model(&app).await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://169.254.169.254/latest",
        "http://10.1.2.3/x",
        "http://[::1]:9/x",
    ] {
        let (s, v) = app
            .post(
                "/api/v1/processor/webhooks/enable",
                json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                       "envs": [{"slug": "prd", "url": url, "method": "POST"}]}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {v}");
        assert_eq!(code(&v), "target_not_allowed");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("HOOKLINE_ALLOWED_TARGETS"),
            "{v}"
        );
    }
    // Nothing was stored by the refused calls.
    let (_, all) = app
        .get("/api/v1/products/my_product/apps/admin/webhooks")
        .await;
    assert!(all.as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn enable_is_all_or_nothing() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let (s, v) = app
        .post(
            "/api/v1/processor/webhooks/enable",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "envs": [{"slug": "prd", "url": rx.url("/ok"), "method": "POST"},
                            {"slug": "nope", "url": rx.url("/ok"), "method": "POST"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&v), "unknown_env");
    let (_, all) = app
        .get("/api/v1/products/my_product/apps/admin/webhooks")
        .await;
    assert!(all.as_array().unwrap().is_empty(), "{all}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_links_and_oversized_bodies() {
    let app = spawn_app_with(|c| c.max_body_bytes = 1024).await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    for bad in [
        "abc",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "../../etc/passwd",
    ] {
        let (s, v) = app
            .ingest(
                &format!("{}/webhooks/v1/process/{bad}", app.base),
                Method::POST,
                b"{}",
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{bad}: {v}");
    }
    let link = link_to(&app, &rx.url("/x")).await;
    let (s, v) = app
        .ingest(&link, Method::POST, &vec![b'a'; 1025], &[])
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&v), "payload_too_large");
    let (s, _) = app
        .ingest(&link, Method::POST, &vec![b'a'; 1024], &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn management_key_is_required() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/apps", app.base);
    let none = app.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let v: Value = none.json().await.unwrap();
    assert_eq!(code(&v), "unauthorized");
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("hk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let basic = app
        .http
        .get(&url)
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // Health needs no key.
    let h = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn unknown_resources_have_stable_codes() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let enable = |p: &str, a: &str, w: &str, env: &str| json!({"product_tag": p, "access_tag": a, "webhook_tag": w, "envs": [{"slug": env, "url": rx.url("/x"), "method": "POST"}]});
    let cases = [
        (
            enable("nope", "admin", "order_created", "prd"),
            StatusCode::NOT_FOUND,
            "product_not_found",
        ),
        (
            enable("my_product", "nope", "order_created", "prd"),
            StatusCode::NOT_FOUND,
            "connection_not_found",
        ),
        (
            enable("my_product", "admin", "nope", "prd"),
            StatusCode::NOT_FOUND,
            "webhook_not_found",
        ),
        (
            enable("my_product", "admin", "order_created", "dev"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_env",
        ),
        (
            enable("my product", "admin", "order_created", "prd"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
    ];
    for (body, status, want) in cases {
        let (s, v) = app.post("/api/v1/processor/webhooks/enable", body).await;
        assert_eq!((s, code(&v)), (status, want), "{v}");
    }
    let (s, v) = app
        .post(
            "/api/v1/products/my_product/webhooks/link",
            json!({"app": "admin", "event": "order.refunded", "env": "prd"}),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_event")
    );
    let (s, v) = app.get("/api/v1/events/evt_nope").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "event_not_found"));
    let (s, v) = app
        .post("/api/v1/apps", json!({"tag": "shop", "name": "again"}))
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "app_exists"));
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_is_a_400_and_nothing_is_a_500() {
    let app = spawn_app().await;
    seed_model(&app).await;
    let paths = [
        "/api/v1/apps",
        "/api/v1/apps/shop/webhooks",
        "/api/v1/products",
        "/api/v1/products/my_product/apps",
        "/api/v1/products/my_product/webhooks/link",
        "/api/v1/processor/webhooks/enable",
        "/api/v1/processor/webhooks/link",
        "/api/v1/processor/webhooks/disable",
    ];
    for p in paths {
        let resp = app
            .http
            .post(format!("{}{p}", app.base))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .body("{,\"tag\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{p}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(code(&v), "malformed_json", "{p}");
    }
    // Wrong shapes, wrong types, junk values: client errors, never 500.
    let junk = [
        json!(null),
        json!([]),
        json!("x"),
        json!(7),
        json!({}),
        json!({"tag": 5, "name": []}),
        json!({"tag": "ok", "name": "n", "envs": [{"slug": ""}]}),
        json!({"tag": "ok2", "name": "n", "envs": [{"slug": "a", "base_url": "ftp://x"}]}),
        json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created", "envs": []}),
        json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created", "envs": [{"slug": "prd", "url": "not a url"}]}),
        json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created", "envs": [{"slug": "prd", "url": "http://127.0.0.1/x", "method": "TRACE"}]}),
        json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created", "product_env": "prd", "url": "http://127.0.0.1/{x}"}),
        json!({"tag": "w", "name": "n", "verification": {"scheme": "nope"}}),
        json!({"tag": "w", "name": "n", "events": [{"tag": "e", "name": "e", "selector": "type"}]}),
        json!({"app": "admin", "event": "order.created", "env": "prd", "url": "http://127.0.0.1/x", "auth": {"headers": {"bad header": "v"}}}),
    ];
    for p in paths {
        for body in &junk {
            let (s, v) = app.post(p, body.clone()).await;
            assert!(
                s.is_client_error() || s.is_success(),
                "{p} {body} → {s} {v}"
            );
            if s.is_client_error() {
                code(&v);
            }
        }
    }
    for q in [
        "/api/v1/events?status=weird",
        "/api/v1/events?limit=0",
        "/api/v1/events?since=yesterday",
        "/api/v1/events?limit=abc",
        "/api/v1/nope",
    ] {
        let (s, v) = app.get(q).await;
        assert!(s.is_client_error(), "{q} → {s} {v}");
        code(&v);
    }
    app.stop().await;
}

/// The list, the stream and bulk replays read one filter, checked the same
/// way, and each rejects a field it does not know.
#[tokio::test]
async fn the_event_filter_is_read_alike_and_unknown_fields_are_refused() {
    let app = spawn_app().await;
    let filter = "product=p&access_tag=a&webhook=w&event=e&env=prd&status=failed\
        &registration=reg_1&since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z";
    let (s, v) = app
        .get(&format!("/api/v1/events?{filter}&limit=5&cursor=evt_1"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for path in ["/api/v1/events", "/api/v1/events/stream"] {
        for (q, want) in [
            ("product=p&nope=1", "invalid_query"),
            ("status=weird", "invalid_status"),
            ("since=yesterday", "invalid_time"),
            ("until=yesterday", "invalid_time"),
        ] {
            let (s, v) = app.get(&format!("{path}?{q}")).await;
            let status = if want == "invalid_query" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!((s, code(&v)), (status, want), "{path}?{q}: {v}");
        }
    }
    // Each route's own fields belong to it only.
    for q in [
        "/api/v1/events?after=evt_1",
        "/api/v1/events/stream?limit=5",
    ] {
        let (s, v) = app.get(q).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{q}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown field"),
            "{v}"
        );
    }
    let (s, v) = app
        .post(
            "/api/v1/replays/preview",
            json!({"product": "p", "status": "failed", "since": "2026-01-01T00:00:00Z", "rate": 1}),
        )
        .await;
    assert_eq!((s, &v["matching"]), (StatusCode::OK, &json!(0)), "{v}");
    for (body, want) in [
        (json!({"product": "p", "limit": 5}), "invalid_body"),
        (json!({"status": "weird"}), "invalid_status"),
        (json!({"until": "yesterday"}), "invalid_time"),
        (json!({"product": 5}), "invalid_body"),
    ] {
        for path in ["/api/v1/replays/preview", "/api/v1/replays"] {
            let (s, v) = app.post(path, body.clone()).await;
            assert_eq!(
                (s, code(&v)),
                (StatusCode::UNPROCESSABLE_ENTITY, want),
                "{path} {body}: {v}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_is_served() {
    let app = spawn_app().await;
    let v: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/processor/webhooks/enable",
        "/api/v1/processor/webhooks/link",
        "/api/v1/products/{product}/webhooks/link",
        "/api/v1/products/{product}/apps/{access_tag}/webhooks",
        "/api/v1/events/{id}/replay",
        "/webhooks/v1/process/{link_id}",
    ] {
        assert!(
            v["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    app.stop().await;
}
