//! Providers end to end: full registration against stand-in Stripe and
//! GitHub servers (real HTTP on loopback, following their APIs), events
//! signed by the providers' own libraries, forwarded requests checked by the
//! `standardwebhooks` library, partial provider failures, junk answers,
//! rejected signatures, redeliveries, presets and signing-secret rotation.

mod peers;
mod stand_ins;

use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use stand_ins::{spawn_junk_provider, Counts, GitHubStandIn, StripeStandIn};
use std::time::Duration;

const PRODUCT: &str = "shop";
const ACCESS: &str = "pay";
const WITHIN: Duration = Duration::from_secs(10);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Product `shop` (envs prd, stg, dev) connected to `app_tag` under access
/// tag `pay`: `(product env, app env, auth)` per env.
async fn connect(app: &TestApp, app_tag: &str, envs: &[(&str, &str, Value)]) {
    app.ok(
        "/api/v1/products",
        json!({"tag": PRODUCT, "name": "Shop", "envs": [{"slug": "prd"}, {"slug": "stg"}, {"slug": "dev"}]}),
    )
    .await;
    let envs: Vec<Value> = envs
        .iter()
        .map(|(p, a, auth)| json!({"product_env": p, "app_env": a, "auth": auth}))
        .collect();
    app.ok(
        &format!("/api/v1/products/{PRODUCT}/apps"),
        json!({"app": app_tag, "access_tag": ACCESS, "envs": envs}),
    )
    .await;
}

fn bearer(key: &str) -> Value {
    json!({"headers": {"Authorization": format!("Bearer {key}")}})
}

async fn enable_raw(app: &TestApp, webhook: &str, envs: &[(&str, String)]) -> (StatusCode, Value) {
    let envs: Vec<Value> = envs
        .iter()
        .map(|(slug, url)| json!({"slug": slug, "url": url, "method": "POST"}))
        .collect();
    app.post(
        "/api/v1/processor/webhooks/enable",
        json!({"product_tag": PRODUCT, "access_tag": ACCESS, "webhook_tag": webhook, "envs": envs}),
    )
    .await
}

async fn enable(app: &TestApp, webhook: &str, envs: &[(&str, String)]) -> Vec<Value> {
    let (s, v) = enable_raw(app, webhook, envs).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["registrations"].as_array().unwrap().clone()
}

async fn disable(app: &TestApp, webhook: &str) -> Vec<Value> {
    app.ok(
        "/api/v1/processor/webhooks/disable",
        json!({"product_tag": PRODUCT, "access_tag": ACCESS, "webhook_tag": webhook}),
    )
    .await["registrations"]
        .as_array()
        .unwrap()
        .clone()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn provider(r: &Value) -> &Value {
    &r["provider_registration"]
}

fn preset_events(app: &Value) -> Vec<String> {
    app["webhooks"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| text(&e["tag"]).to_owned())
        .collect()
}

async fn events_of(app: &TestApp, registration: &str) -> Vec<Value> {
    let (s, v) = app
        .get(&format!(
            "/api/v1/events?registration={registration}&limit=500"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["data"].as_array().unwrap().clone()
}

/// The Stripe preset, pointed at the stand-in, with envs live and test.
async fn stripe_app(app: &TestApp, stripe: &StripeStandIn) -> Value {
    let made = app
        .ok(
            "/api/v1/apps",
            json!({"preset": "stripe", "envs": [
                {"slug": "live", "base_url": stripe.base}, {"slug": "test", "base_url": stripe.base}
            ]}),
        )
        .await;
    assert_eq!(made["tag"], "stripe");
    assert_eq!(made["webhooks"][0]["tag"], "events");
    made
}

const INVOICE_PAID: &str = r#"{"id":"evt_1StandIn","object":"event","api_version":"2024-06-20","created":1700000000,"type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice","amount_paid":4200,"customer_name":"Zoë Çelik ✓"}}}"#;

#[tokio::test]
async fn stripe_full_registration_for_three_envs_then_signed_events_reach_the_receiver() {
    if !peers::ready("stripe_full_registration").await {
        return;
    }
    let stripe = StripeStandIn::spawn(&["sk_live_standin", "sk_test_standin"]).await;
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    let made = stripe_app(&app, &stripe).await;
    connect(
        &app,
        "stripe",
        &[
            ("prd", "live", bearer("sk_live_standin")),
            ("stg", "test", bearer("sk_test_standin")),
            ("dev", "test", bearer("sk_test_standin")),
        ],
    )
    .await;
    let envs = [
        ("prd", rx.url("/prd")),
        ("stg", rx.url("/stg")),
        ("dev", rx.url("/dev")),
    ];
    let regs = enable(&app, "events", &envs).await;

    // One endpoint per env at Stripe, created with the link, the webhook's
    // events as `enabled_events[]`, form-encoded, with that env's key.
    assert_eq!(
        stripe.counts(),
        Counts {
            creates: 3,
            updates: 0,
            deletes: 0
        }
    );
    assert_eq!(stripe.endpoints().len(), 3);
    assert!(stripe
        .content_types()
        .iter()
        .all(|c| c == "application/x-www-form-urlencoded"));
    for (r, key) in regs
        .iter()
        .zip(["sk_live_standin", "sk_test_standin", "sk_test_standin"])
    {
        let p = provider(r);
        assert_eq!(p["status"], "registered", "{r}");
        assert_eq!(p["http_status"], 200);
        let endpoint = stripe.endpoint_for(text(&r["link"]));
        assert_eq!(p["provider_id"], endpoint.id.as_str());
        assert_eq!(endpoint.enabled_events, preset_events(&made));
        assert_eq!(endpoint.key, key);
        assert_eq!(endpoint.metadata["hookline_env"], text(&r["env"]));
        assert_eq!(r["has_verification_secret"], true);
    }

    // Stripe sends an event to prd's endpoint, signed by its own library
    // with the secret it returned at registration.
    let prd = &regs[0];
    let endpoint = stripe.endpoint_for(text(&prd["link"]));
    let sig = peers::stripe_signature(&endpoint.secret, now(), INVOICE_PAID).await;
    let (s, acc) = app
        .ingest(
            &endpoint.url,
            Method::POST,
            INVOICE_PAID.as_bytes(),
            &[
                ("Stripe-Signature", &sig),
                ("Content-Type", "application/json"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{acc}");
    assert_eq!(acc["status"], "received");
    let ev = app.wait_status(text(&acc["id"]), "delivered", WITHIN).await;
    assert_eq!(ev["event"], "invoice.paid");
    assert_eq!(ev["verification"]["ok"], true);
    assert_eq!(ev["provider_event_id"], "evt_1StandIn");
    let hit = rx.wait_hits(1, WITHIN).await.remove(0);
    assert_eq!(hit.uri.path(), "/prd");
    assert_eq!(&hit.body[..], INVOICE_PAID.as_bytes());
    peers::standard_verify(text(&prd["signing_secret"]), &hit)
        .await
        .expect("the forwarded request verifies with prd's signing secret");
    assert!(
        peers::standard_verify(text(&regs[1]["signing_secret"]), &hit)
            .await
            .is_err(),
        "another registration's secret must not verify it"
    );

    // Enabling again updates the three endpoints: same ids, same links, no
    // second endpoint, and the captured secrets still verify.
    let again = enable(&app, "events", &envs).await;
    assert_eq!(
        stripe.counts(),
        Counts {
            creates: 3,
            updates: 3,
            deletes: 0
        }
    );
    assert_eq!(stripe.endpoints().len(), 3);
    for (a, b) in regs.iter().zip(&again) {
        assert_eq!(a["link"], b["link"]);
        assert_eq!(provider(a)["provider_id"], provider(b)["provider_id"]);
        assert_eq!(provider(b)["status"], "registered");
        assert!(text(&provider(b)["message"]).starts_with("updated webhook we_"));
    }
    let stg = stripe.endpoint_for(text(&again[1]["link"]));
    let body = INVOICE_PAID.replace("evt_1StandIn", "evt_2StandIn");
    let sig = peers::stripe_signature(&stg.secret, now(), &body).await;
    let (s, acc) = app
        .ingest(
            &stg.url,
            Method::POST,
            body.as_bytes(),
            &[("Stripe-Signature", &sig)],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{acc}");
    app.wait_status(text(&acc["id"]), "delivered", WITHIN).await;

    // Disabling deregisters at Stripe and retires the links.
    let gone = disable(&app, "events").await;
    assert_eq!(gone.len(), 3);
    for r in &gone {
        assert_eq!(provider(r)["status"], "deregistered", "{r}");
        assert_eq!(r["active"], false);
    }
    assert_eq!(stripe.counts().deletes, 3);
    assert!(stripe.endpoints().is_empty());
    let (s, _) = app
        .ingest(
            text(&prd["link"]),
            Method::POST,
            INVOICE_PAID.as_bytes(),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::GONE);
    app.stop().await;
}

#[tokio::test]
async fn github_full_registration_with_a_generated_secret() {
    if !peers::ready("github_full_registration").await {
        return;
    }
    let gh = GitHubStandIn::spawn("ghp_standin").await;
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    let made = app
        .ok(
            "/api/v1/apps",
            json!({"preset": "github", "envs": [{"slug": "live", "base_url": gh.base}]}),
        )
        .await;
    let repo_auth = |repo: &str| json!({"headers": {"Authorization": "Bearer ghp_standin"}, "params": {"owner": "octo-org", "repo": repo}});
    connect(
        &app,
        "github",
        &[
            ("prd", "live", repo_auth("app")),
            ("stg", "live", repo_auth("app-staging")),
            ("dev", "live", repo_auth("app-dev")),
        ],
    )
    .await;
    let envs = [
        ("prd", rx.url("/prd")),
        ("stg", rx.url("/stg")),
        ("dev", rx.url("/dev")),
    ];
    let regs = enable(&app, "repository", &envs).await;
    assert_eq!(
        gh.counts(),
        Counts {
            creates: 3,
            updates: 0,
            deletes: 0
        }
    );
    for (r, repo) in regs.iter().zip(["app", "app-staging", "app-dev"]) {
        assert_eq!(provider(r)["status"], "registered", "{r}");
        assert_eq!(provider(r)["http_status"], 201);
        let hook = gh.hook_for(text(&r["link"]));
        assert_eq!(provider(r)["provider_id"], hook.id.to_string());
        assert_eq!(
            (hook.owner.as_str(), hook.repo.as_str()),
            ("octo-org", repo)
        );
        assert_eq!(hook.content_type, "json");
        assert_eq!(hook.events, preset_events(&made));
        let secret = hook.secret.expect("Hookline sends config.secret");
        assert_eq!(secret.len(), 64, "32 random bytes, hex");
        assert_eq!(r["has_verification_secret"], true);
    }

    // GitHub delivers a push, signed by @octokit/webhooks-methods with the
    // secret Hookline generated; the event name comes from the header.
    let prd = &regs[0];
    let hook = gh.hook_for(text(&prd["link"]));
    let body = r#"{"ref":"refs/heads/main","repository":{"full_name":"octo-org/app"},"pusher":{"name":"Zoë"}}"#;
    let sig = peers::github_signature(hook.secret.as_deref().unwrap(), body).await;
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", delivery),
        ("X-Hub-Signature-256", sig.as_str()),
        ("Content-Type", "application/json"),
        ("User-Agent", "GitHub-Hookshot/044aadd"),
    ];
    let (s, acc) = app
        .ingest(&hook.url, Method::POST, body.as_bytes(), &headers)
        .await;
    assert_eq!(s, StatusCode::OK, "{acc}");
    let ev = app.wait_status(text(&acc["id"]), "delivered", WITHIN).await;
    assert_eq!(ev["event"], "push");
    assert_eq!(ev["provider_event_id"], delivery);
    let hit = rx.wait_hits(1, WITHIN).await.remove(0);
    assert_eq!(hit.headers["x-github-event"], "push");
    peers::standard_verify(text(&prd["signing_secret"]), &hit)
        .await
        .expect("the forwarded request verifies with the registration's signing secret");

    // GitHub redelivers the same delivery: answered, not forwarded again.
    let (s, dup) = app
        .ingest(&hook.url, Method::POST, body.as_bytes(), &headers)
        .await;
    assert_eq!(s, StatusCode::OK, "{dup}");
    assert_eq!(
        (dup["status"].as_str(), &dup["id"]),
        (Some("duplicate"), &acc["id"])
    );

    // Enabling again PATCHes the hooks, with the same secret.
    let before: Vec<String> = regs
        .iter()
        .map(|r| gh.hook_for(text(&r["link"])).secret.unwrap())
        .collect();
    let again = enable(&app, "repository", &envs).await;
    assert_eq!(
        gh.counts(),
        Counts {
            creates: 3,
            updates: 3,
            deletes: 0
        }
    );
    assert_eq!(gh.hooks().len(), 3);
    let mut patched: Vec<String> = gh
        .patched_secrets()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let mut want = before.clone();
    patched.sort();
    want.sort();
    assert_eq!(patched, want);
    for (a, b) in regs.iter().zip(&again) {
        assert_eq!(provider(a)["provider_id"], provider(b)["provider_id"]);
    }

    // Disabling deletes the hooks.
    for r in disable(&app, "repository").await {
        assert_eq!(provider(&r)["status"], "deregistered", "{r}");
        assert_eq!(provider(&r)["http_status"], 204);
    }
    assert!(gh.hooks().is_empty());
    assert_eq!(rx.hits().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_provider_failure_is_reported_per_env_and_the_others_are_kept() {
    // prd and dev use a key Stripe accepts; stg's key is revoked.
    let stripe = StripeStandIn::spawn(&["sk_live_standin", "sk_test_standin"]).await;
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    stripe_app(&app, &stripe).await;
    connect(
        &app,
        "stripe",
        &[
            ("prd", "live", bearer("sk_live_standin")),
            ("stg", "test", bearer("sk_test_revoked")),
            ("dev", "test", bearer("sk_test_standin")),
        ],
    )
    .await;
    let envs = [
        ("prd", rx.url("/prd")),
        ("stg", rx.url("/stg")),
        ("dev", rx.url("/dev")),
    ];
    let regs = enable(&app, "events", &envs).await;
    let status: Vec<&str> = regs.iter().map(|r| text(&provider(r)["status"])).collect();
    assert_eq!(status, ["registered", "failed", "registered"]);
    let stg = &regs[1];
    assert_eq!(provider(stg)["http_status"], 401);
    assert!(
        text(&provider(stg)["message"]).contains("Invalid API Key provided"),
        "{stg}"
    );
    assert_eq!(provider(stg)["provider_id"], Value::Null);
    assert_eq!(stg["has_verification_secret"], false);
    assert_eq!(stripe.endpoints().len(), 2);

    // Everything is saved: the envs that exist at Stripe, and the failed one
    // with its link (which works if pasted by hand).
    let (_, all) = app
        .get(&format!(
            "/api/v1/products/{PRODUCT}/apps/{ACCESS}/webhooks"
        ))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");

    // With a working key, enabling again creates stg and updates the others.
    app.call(
        Method::PATCH,
        &format!("/api/v1/products/{PRODUCT}/apps/{ACCESS}"),
        Some(json!({"envs": [
            {"product_env": "prd", "app_env": "live", "auth": bearer("sk_live_standin")},
            {"product_env": "stg", "app_env": "test", "auth": bearer("sk_test_standin")},
            {"product_env": "dev", "app_env": "test", "auth": bearer("sk_test_standin")}
        ]})),
    )
    .await;
    let again = enable(&app, "events", &envs).await;
    assert!(
        again.iter().all(|r| provider(r)["status"] == "registered"),
        "{again:?}"
    );
    assert_eq!(
        stripe.counts(),
        Counts {
            creates: 3,
            updates: 2,
            deletes: 0
        }
    );
    assert_eq!(stripe.endpoints().len(), 3);
    assert_eq!(again[1]["link"], stg["link"]);
    app.stop().await;
}

#[tokio::test]
async fn junk_provider_answers_are_clean_per_env_failures() {
    let junk = spawn_junk_provider().await;
    let app = spawn_app_with(|c| c.providers.timeout = Duration::from_secs(1)).await;
    let rx = spawn_receiver(vec![]).await;
    let kinds = ["html", "huge", "noid", "boom", "slow"];
    app.ok(
        "/api/v1/apps",
        json!({"tag": "junky", "name": "Junky", "envs": kinds.map(|k| json!({"slug": k, "base_url": junk}))}),
    )
    .await;
    app.ok(
        "/api/v1/apps/junky/webhooks",
        json!({"tag": "hooks", "name": "Hooks", "envs": kinds.map(|k| json!({
            "slug": k, "registration_url": format!("/{k}"), "method": "POST",
            "sample": {"body": {"url": "{{link}}", "events": "{{events}}"}},
            "registration": {"id_path": "/id"}
        }))}),
    )
    .await;
    app.ok(
        "/api/v1/products",
        json!({"tag": "jp", "name": "JP", "envs": kinds.map(|k| json!({"slug": k}))}),
    )
    .await;
    app.ok(
        "/api/v1/products/jp/apps",
        json!({"app": "junky", "access_tag": "j", "envs": kinds.map(|k| json!({"product_env": k, "app_env": k}))}),
    )
    .await;
    let (s, v) = app
        .post(
            "/api/v1/processor/webhooks/enable",
            json!({"product_tag": "jp", "access_tag": "j", "webhook_tag": "hooks",
                   "envs": kinds.map(|k| json!({"slug": k, "url": rx.url("/x")}))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let regs = v["registrations"].as_array().unwrap();
    let expect = [
        ("html", Some(200u64), "is not JSON"),
        ("huge", Some(200), "is over 64 KiB"),
        ("noid", Some(201), "without a webhook id at `/id`"),
        ("boom", Some(500), "upstream exploded"),
        ("slow", None, "no complete answer within"),
    ];
    for (r, (env, http_status, message)) in regs.iter().zip(expect) {
        assert_eq!(r["env"], env);
        let p = provider(r);
        assert_eq!(p["status"], "failed", "{r}");
        assert_eq!(p["http_status"].as_u64(), http_status, "{r}");
        let m = text(&p["message"]);
        assert!(m.contains(message), "{env}: {m}");
        assert!(
            !m.contains('\u{1b}'),
            "control characters are dropped: {m:?}"
        );
        assert_eq!(p["provider_id"], Value::Null);
    }

    // A template that cannot be filled is refused before anything is called
    // or saved.
    app.ok(
        "/api/v1/apps/junky/webhooks",
        json!({"tag": "params", "name": "Needs params", "envs": [{
            "slug": "html", "registration_url": "/repos/{owner}/hooks", "method": "POST"
        }]}),
    )
    .await;
    let (s, v) = app
        .post(
            "/api/v1/processor/webhooks/enable",
            json!({"product_tag": "jp", "access_tag": "j", "webhook_tag": "params",
                   "envs": [{"slug": "html", "url": rx.url("/x")}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid_registration_call");
    assert!(text(&v["error"]["message"]).contains("`owner`"), "{v}");
    let (_, all) = app.get("/api/v1/products/jp/apps/j/webhooks").await;
    assert_eq!(all.as_array().unwrap().len(), kinds.len(), "{all}");
    app.stop().await;
}

#[tokio::test]
async fn provider_calls_go_through_the_outbound_guard() {
    let stripe = StripeStandIn::spawn(&["sk_live_standin"]).await;
    // No allow-list: the stand-in's loopback address is refused.
    let app = spawn_app_with(|c| c.allowed_targets = vec![]).await;
    stripe_app(&app, &stripe).await;
    connect(
        &app,
        "stripe",
        &[("prd", "live", bearer("sk_live_standin"))],
    )
    .await;
    let (s, v) = enable_raw(
        &app,
        "events",
        &[("prd", "https://receiver.invalid/hook".into())],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "target_not_allowed");
    assert!(
        text(&v["error"]["message"]).contains("HOOKLINE_ALLOWED_TARGETS"),
        "{v}"
    );
    assert_eq!(stripe.counts(), Counts::default());
    let (_, all) = app
        .get(&format!(
            "/api/v1/products/{PRODUCT}/apps/{ACCESS}/webhooks"
        ))
        .await;
    assert!(all.as_array().unwrap().is_empty(), "{all}");
    app.stop().await;
}

/// Stripe registration for prd only; returns (registration, endpoint).
async fn stripe_prd(
    app: &TestApp,
    stripe: &StripeStandIn,
    rx: &Receiver,
) -> (Value, stand_ins::StripeEndpoint) {
    stripe_app(app, stripe).await;
    connect(app, "stripe", &[("prd", "live", bearer("sk_live_standin"))]).await;
    let reg = enable(app, "events", &[("prd", rx.url("/prd"))])
        .await
        .remove(0);
    let endpoint = stripe.endpoint_for(text(&reg["link"]));
    (reg, endpoint)
}

#[tokio::test]
async fn failed_signature_checks_are_401_rejected_and_never_forwarded() {
    if !peers::ready("failed_signature_checks").await {
        return;
    }
    let stripe = StripeStandIn::spawn(&["sk_live_standin"]).await;
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    let (reg, endpoint) = stripe_prd(&app, &stripe, &rx).await;
    let other_secret = hookline_core::ids::new_signing_secret();
    let tampered = INVOICE_PAID.replace("4200", "4201");
    let cases = [
        (
            "tampered body",
            tampered.clone(),
            Some(peers::stripe_signature(&endpoint.secret, now(), INVOICE_PAID).await),
            "signature_mismatch",
        ),
        (
            "wrong secret",
            INVOICE_PAID.to_owned(),
            Some(peers::stripe_signature(&other_secret, now(), INVOICE_PAID).await),
            "signature_mismatch",
        ),
        (
            "stale timestamp",
            INVOICE_PAID.to_owned(),
            Some(peers::stripe_signature(&endpoint.secret, now() - 3600, INVOICE_PAID).await),
            "timestamp_out_of_tolerance",
        ),
        (
            "missing header",
            INVOICE_PAID.to_owned(),
            None,
            "missing_header",
        ),
        (
            "malformed header",
            INVOICE_PAID.to_owned(),
            Some("t=yesterday,v1=zz".to_owned()),
            "malformed_header",
        ),
    ];
    for (what, body, sig, code) in &cases {
        let headers: Vec<(&str, &str)> = sig
            .as_deref()
            .map(|s| vec![("Stripe-Signature", s)])
            .unwrap_or_default();
        let (s, v) = app
            .ingest(&endpoint.url, Method::POST, body.as_bytes(), &headers)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {v}");
        assert_eq!(v["error"]["code"], "signature_invalid", "{what}");
        let id = text(&v["error"]["message"])
            .rsplit("event ")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_owned();
        let (_, ev) = app.get(&format!("/api/v1/events/{id}")).await;
        assert_eq!(ev["status"], "rejected", "{what}: {ev}");
        assert_eq!(ev["verification"]["ok"], false);
        assert_eq!(ev["verification"]["code"], *code, "{what}: {ev}");
        assert!(!text(&ev["verification"]["message"]).is_empty());
        assert_eq!(ev["next_attempt_at"], Value::Null);
    }
    let rejected = events_of(&app, text(&reg["id"])).await;
    assert_eq!(rejected.len(), cases.len());
    assert!(rejected.iter().all(|e| e["status"] == "rejected"));

    // A tampered GitHub delivery is rejected the same way.
    let gh = GitHubStandIn::spawn("ghp_standin").await;
    app.ok(
        "/api/v1/apps",
        json!({"preset": "github", "envs": [{"slug": "live", "base_url": gh.base}]}),
    )
    .await;
    app.ok(
        &format!("/api/v1/products/{PRODUCT}/apps"),
        json!({"app": "github", "access_tag": "gh", "envs": [{"product_env": "prd", "app_env": "live",
               "auth": {"headers": {"Authorization": "Bearer ghp_standin"}, "params": {"owner": "o", "repo": "r"}}}]}),
    )
    .await;
    let reg = app
        .ok(
            "/api/v1/processor/webhooks/enable",
            json!({"product_tag": PRODUCT, "access_tag": "gh", "webhook_tag": "repository",
                   "envs": [{"slug": "prd", "url": rx.url("/gh")}]}),
        )
        .await["registrations"][0]
        .clone();
    let hook = gh.hook_for(text(&reg["link"]));
    let body = r#"{"action":"opened","number":1}"#;
    let sig = peers::github_signature(hook.secret.as_deref().unwrap(), body).await;
    let (s, _) = app
        .ingest(
            &hook.url,
            Method::POST,
            br#"{"action":"closed","number":1}"#,
            &[
                ("X-GitHub-Event", "pull_request"),
                ("X-Hub-Signature-256", &sig),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Nothing reached the receiver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.hits().is_empty(), "{:?}", rx.hits());
    app.stop().await;
}

#[tokio::test]
async fn a_redelivered_provider_event_is_forwarded_once() {
    if !peers::ready("redelivered_provider_event").await {
        return;
    }
    let stripe = StripeStandIn::spawn(&["sk_live_standin"]).await;
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    let (reg, endpoint) = stripe_prd(&app, &stripe, &rx).await;
    let send = |body: String, sig: String| {
        let app = &app;
        let url = endpoint.url.clone();
        async move {
            app.ingest(
                &url,
                Method::POST,
                body.as_bytes(),
                &[("Stripe-Signature", &sig)],
            )
            .await
        }
    };

    // Stripe retries an event: same id, new signature timestamp.
    let first = send(
        INVOICE_PAID.into(),
        peers::stripe_signature(&endpoint.secret, now() - 5, INVOICE_PAID).await,
    )
    .await;
    let retry = send(
        INVOICE_PAID.into(),
        peers::stripe_signature(&endpoint.secret, now(), INVOICE_PAID).await,
    )
    .await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(first.1["status"], "received");
    assert_eq!(retry.0, StatusCode::OK, "{}", retry.1);
    assert_eq!(retry.1["status"], "duplicate");
    assert_eq!(retry.1["id"], first.1["id"]);

    // Two copies at the same moment: one stored, one duplicate.
    let body = INVOICE_PAID.replace("evt_1StandIn", "evt_race");
    let sig = peers::stripe_signature(&endpoint.secret, now(), &body).await;
    let (a, b) = tokio::join!(send(body.clone(), sig.clone()), send(body, sig));
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    let mut statuses = [text(&a.1["status"]), text(&b.1["status"])];
    statuses.sort();
    assert_eq!(statuses, ["duplicate", "received"]);
    assert_eq!(a.1["id"], b.1["id"]);

    // A forged copy that arrives first is rejected and does not make the
    // genuine event look like a redelivery.
    let body = INVOICE_PAID.replace("evt_1StandIn", "evt_forged_first");
    let forged =
        peers::stripe_signature(&hookline_core::ids::new_signing_secret(), now(), &body).await;
    let (s, _) = send(body.clone(), forged).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let genuine = send(
        body.clone(),
        peers::stripe_signature(&endpoint.secret, now(), &body).await,
    )
    .await;
    assert_eq!(genuine.1["status"], "received", "{}", genuine.1);

    for id in [&first.1["id"], &a.1["id"], &genuine.1["id"]] {
        app.wait_status(text(id), "delivered", WITHIN).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits().len(), 3, "one delivery per provider event");
    let stored = events_of(&app, text(&reg["id"])).await;
    assert_eq!(
        stored.len(),
        4,
        "three originals and the rejected forgery: {stored:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn presets_are_listed_and_make_apps() {
    let app = spawn_app().await;
    let (s, list) = app.get("/api/v1/presets").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| text(&p["preset"]))
        .collect();
    assert_eq!(
        names,
        [
            "stripe",
            "github",
            "shopify",
            "slack",
            "paystack",
            "standard_webhooks"
        ]
    );
    let by = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["preset"] == n)
            .unwrap()
            .clone()
    };
    let stripe = by("stripe");
    assert_eq!(stripe["base_url"], "https://api.stripe.com/");
    let w = &stripe["webhooks"][0];
    assert_eq!(w["mode"], "full_registration");
    assert_eq!(w["verification"]["scheme"], "stripe");
    assert_eq!(w["registration"]["url"], "/v1/webhook_endpoints");
    assert_eq!(w["registration"]["secret_path"], "/secret");
    assert_eq!(
        by("github")["webhooks"][0]["events"][0]["selector"],
        "$Header{x-github-event}"
    );
    for link_mode in ["shopify", "slack", "paystack", "standard_webhooks"] {
        assert_eq!(by(link_mode)["webhooks"][0]["mode"], "link", "{link_mode}");
    }
    let (s, one) = app.get("/api/v1/presets/github").await;
    assert_eq!((s, one["name"].as_str()), (StatusCode::OK, Some("GitHub")));
    let (s, _) = app.get("/api/v1/presets/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Without envs: the preset's, pointing at the provider's real API.
    let made = app.ok("/api/v1/apps", json!({"preset": "stripe"})).await;
    assert_eq!(
        made["envs"][0],
        json!({"slug": "live", "base_url": "https://api.stripe.com/"})
    );
    let env = &made["webhooks"][0]["envs"][0];
    assert_eq!(env["registration_url"], "/v1/webhook_endpoints");
    assert_eq!(env["registration"]["id_path"], "/id");
    assert_eq!(env["registration"]["deregister"]["method"], "DELETE");
    assert_eq!(
        env["sample"]["headers"]["Content-Type"],
        "application/x-www-form-urlencoded"
    );
    let (s, v) = app.post("/api/v1/apps", json!({"preset": "stripe"})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::CONFLICT, &json!("app_exists"))
    );
    let (s, v) = app
        .post(
            "/api/v1/apps",
            json!({"preset": "stripe", "tag": "stripe-eu", "envs": [{"slug": "eu"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["envs"][0]["base_url"], "https://api.stripe.com/");
    let (s, v) = app.post("/api/v1/apps", json!({"preset": "nope"})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("unknown_preset"))
    );
    let (s, v) = app.post("/api/v1/apps", json!({"name": "No tag"})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("missing_field"))
    );

    // A hand-written registration spec is checked.
    app.ok(
        "/api/v1/apps",
        json!({"tag": "hand", "name": "Hand", "envs": [{"slug": "live"}]}),
    )
    .await;
    for (bad, why) in [
        (
            json!({"slug": "live", "registration": {"id_path": "/id"}}),
            "registration_url",
        ),
        (
            json!({"slug": "live", "registration_url": "https://api.example.com/hooks", "registration": {"deregister": {"url": "https://api.example.com/hooks/{provider_id}"}}}),
            "id_path",
        ),
        (
            json!({"slug": "live", "registration_url": "https://api.example.com/hooks", "registration": {"id_path": "id"}}),
            "JSON Pointer",
        ),
        (
            json!({"slug": "live", "registration_url": "https://api.example.com/hooks", "registration": {"id_path": "/id", "deregister": {"url": "/hooks/{provider_id}"}}}),
            "base_url",
        ),
    ] {
        let (s, v) = app
            .post(
                "/api/v1/apps/hand/webhooks",
                json!({"tag": "w", "name": "W", "envs": [bad]}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["error"]["code"], "invalid_registration");
        assert!(text(&v["error"]["message"]).contains(why), "{v}");
    }

    let (_, doc) = app.get("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/presets",
        "/api/v1/presets/{preset}",
        "/api/v1/registrations/{id}/rotate-secret",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    app.stop().await;
}

/// HMAC-SHA256, computed here so Slack's scheme is checked independently.
fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

#[tokio::test]
async fn slack_link_mode_echoes_the_challenge_and_classifies_callbacks() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    app.ok("/api/v1/apps", json!({"preset": "slack"})).await;
    connect(&app, "slack", &[("prd", "live", json!({}))]).await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let link = app
        .ok(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": PRODUCT, "access_tag": ACCESS, "webhook_tag": "events", "product_env": "prd",
                   "url": rx.url("/slack"), "verification_secret": secret}),
        )
        .await["link"]
        .as_str()
        .unwrap()
        .to_owned();
    let signed = |body: &str| {
        let ts = now().to_string();
        let sig = format!(
            "v0={}",
            hmac_sha256_hex(secret.as_bytes(), format!("v0:{ts}:{body}").as_bytes())
        );
        (ts, sig)
    };
    let challenge = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (ts, sig) = signed(challenge);
    let (s, v) = app
        .ingest(
            &link,
            Method::POST,
            challenge.as_bytes(),
            &[
                ("X-Slack-Request-Timestamp", &ts),
                ("X-Slack-Signature", &sig),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let callback = r#"{"type":"event_callback","event_id":"Ev0PV52K21","event":{"type":"app_mention","text":"<@U0LAN0Z89> hi"}}"#;
    let (ts, sig) = signed(callback);
    let (s, v) = app
        .ingest(
            &link,
            Method::POST,
            callback.as_bytes(),
            &[
                ("X-Slack-Request-Timestamp", &ts),
                ("X-Slack-Signature", &sig),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("challenge").is_none());
    let ev = app.wait_status(text(&v["id"]), "delivered", WITHIN).await;
    assert_eq!(ev["event"], "app_mention");
    assert_eq!(ev["provider_event_id"], "Ev0PV52K21");
    app.stop().await;
}

/// A link-mode registration to `rx`; returns (registration id, signing secret, link).
async fn plain_link(app: &TestApp, rx: &Receiver) -> (String, String, String) {
    seed_model(app).await;
    let v = app
        .ok(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "product_env": "prd", "url": rx.url("/signed")}),
        )
        .await;
    (
        text(&v["registration"]["id"]).to_owned(),
        text(&v["signing_secret"]).to_owned(),
        text(&v["link"]).to_owned(),
    )
}

fn verifies(secret: &str, hit: &Hit) -> bool {
    let req = hookline_verify::InboundRequest {
        method: "POST",
        headers: &hit.headers,
        query: None,
        body: &hit.body,
    };
    let scheme = hookline_core::verify::Verification::StandardWebhooks {
        tolerance_secs: None,
    };
    hookline_verify::verify(&scheme, Some(secret), &req, now()).is_ok()
}

#[tokio::test]
async fn rotating_the_signing_secret() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    let (id, old, link) = plain_link(&app, &rx).await;
    let path = format!("/api/v1/registrations/{id}/rotate-secret");
    let v = app.ok(&path, json!({"overlap": "1h"})).await;
    let new = text(&v["signing_secret"]).to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let previous = v["previous_signing_secrets"].as_array().unwrap();
    assert_eq!(previous.len(), 1);
    let expires = chrono::DateTime::parse_from_rfc3339(text(&previous[0]["expires_at"])).unwrap();
    let left = expires.timestamp() - now();
    assert!((3590..=3600).contains(&left), "{left}");
    let (_, read) = app.get(&format!("/api/v1/registrations/{id}")).await;
    assert_eq!(read["signing_secret"], new.as_str());

    let (_, acc) = app
        .ingest(&link, Method::POST, br#"{"type":"order.paid"}"#, &[])
        .await;
    app.wait_status(text(&acc["id"]), "delivered", WITHIN).await;
    let hit = rx.wait_hits(1, WITHIN).await.remove(0);
    assert!(verifies(&new, &hit), "signed with the new secret");

    // No body: the configured overlap (24h by default).
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["previous_signing_secrets"].as_array().unwrap().len(), 2);

    let (s, v) = app.post(&path, json!({"overlap": "soon"})).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_overlap"))
    );
    let (s, v) = app.post(&path, json!({"overlap": "1h", "extra": 1})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = app
        .post("/api/v1/registrations/reg_nope/rotate-secret", json!({}))
        .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("registration_not_found"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_out_secret_keeps_signing_during_the_overlap() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    let (id, old, link) = plain_link(&app, &rx).await;
    let path = format!("/api/v1/registrations/{id}/rotate-secret");
    let new = text(&app.ok(&path, json!({"overlap": "1h"})).await["signing_secret"]).to_owned();
    let (_, acc) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    app.wait_status(text(&acc["id"]), "delivered", WITHIN).await;
    let hit = rx.wait_hits(1, WITHIN).await.remove(0);
    assert!(
        verifies(&new, &hit) && verifies(&old, &hit),
        "both secrets sign during the overlap"
    );

    // Without an overlap the previous secret stops signing at once.
    let newest = text(&app.ok(&path, json!({"overlap": "0s"})).await["signing_secret"]).to_owned();
    let (_, acc) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    app.wait_status(text(&acc["id"]), "delivered", WITHIN).await;
    let hit = rx.wait_hits(2, WITHIN).await.remove(1);
    assert!(
        verifies(&newest, &hit) && verifies(&old, &hit),
        "the 1h overlap of `old` still runs"
    );
    assert!(
        !verifies(&new, &hit),
        "`new` was rotated out without overlap"
    );
    app.stop().await;
}
