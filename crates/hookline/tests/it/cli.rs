//! The `hookline` CLI as a user runs it: the real binary, pointed with
//! `--url/--key` at a real server started in-process.

use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The CLI's exit status, stdout and stderr.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

fn command(app: &TestApp, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"));
    cmd.args(["--url", &app.base, "--key", &app.key])
        .args(args)
        .env_remove("HOOKLINE_URL")
        .env_remove("HOOKLINE_ADMIN_KEY")
        // Away from any ./hookline-data/admin.key of the developer.
        .current_dir(app.dir.path())
        .kill_on_drop(true);
    cmd
}

async fn cli(app: &TestApp, args: &[&str]) -> Run {
    let out = command(app, args).output().await.expect("the CLI runs");
    Run {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the CLI, asserts it succeeded, returns its stdout.
async fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let r = cli(app, args).await;
    assert!(
        r.ok,
        "hookline {args:?} failed\nstdout: {}\nstderr: {}",
        r.out, r.err
    );
    r.out
}

async fn cli_json(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = cli_ok(app, &all).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn management_commands_round_trip() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;

    let out = cli_ok(
        &app,
        &[
            "apps", "create", "--tag", "shop", "--name", "Shop", "--env", "live", "--env", "test",
        ],
    )
    .await;
    assert!(out.contains("created app shop"), "{out}");
    let hook = app.dir.path().join("webhook.yaml");
    std::fs::write(
        &hook,
        "tag: order_created\nname: Order created\nenvs: [{slug: live}, {slug: test}]\n\
         events:\n  - {tag: order.created, name: Order created, selector: \"$Event{type}\"}\n  - {tag: order.paid, name: Order paid, selector: \"$Event{type}\"}\n",
    )
    .unwrap();
    let out = cli_ok(
        &app,
        &["apps", "add-webhook", "shop", "-f", hook.to_str().unwrap()],
    )
    .await;
    assert!(out.contains("created webhook shop/order_created"), "{out}");

    let out = cli_ok(&app, &["apps", "list"]).await;
    assert!(out.contains("TAG") && out.contains("shop"), "{out}");
    let apps = cli_json(&app, &["apps", "list"]).await;
    assert_eq!(apps[0]["tag"], "shop");
    assert_eq!(apps[0]["envs"][1]["slug"], "test");
    let shop = cli_json(&app, &["apps", "get", "shop"]).await;
    assert_eq!(shop["webhooks"][0]["events"][1]["tag"], "order.paid");
    let out = cli_ok(&app, &["apps", "get", "shop"]).await;
    assert!(out.contains("webhook order_created"), "{out}");

    cli_ok(
        &app,
        &[
            "products",
            "create",
            "--tag",
            "my_product",
            "--name",
            "My product",
            "--env",
            "prd=Production",
            "--env",
            "stg",
        ],
    )
    .await;
    let p = cli_json(&app, &["products", "get", "my_product"]).await;
    assert_eq!(p["envs"][0]["name"], "Production");
    let out = cli_ok(
        &app,
        &[
            "connections",
            "create",
            "my_product",
            "--app",
            "shop",
            "--access-tag",
            "admin",
            "--env",
            "prd=live",
            "--env",
            "stg=test",
        ],
    )
    .await;
    assert!(out.contains("as admin"), "{out}");
    let conns = cli_json(&app, &["connections", "list", "my_product"]).await;
    assert_eq!(conns[0]["access_tag"], "admin");
    assert_eq!(conns[0]["envs"][1]["app_env"], "test");

    // processor.webhook.generateLink prints the link alone.
    let link = cli_ok(
        &app,
        &[
            "link",
            "--product",
            "my_product",
            "--access-tag",
            "admin",
            "--webhook",
            "order_created",
            "--env",
            "prd",
            "--receiver",
            &rx.url("/orders"),
            "--header",
            "Authorization: Bearer t",
        ],
    )
    .await;
    let link = link.trim();
    assert!(
        link.starts_with(&format!("{}/webhooks/v1/process/", app.base)),
        "{link}"
    );
    // product.webhook.generateLink without a receiver: events are held.
    let held = cli_json(
        &app,
        &[
            "link",
            "--product",
            "my_product",
            "--access-tag",
            "admin",
            "--event",
            "order.paid",
            "--env",
            "stg",
        ],
    )
    .await;
    assert_eq!(held["registration"]["event"], "order.paid");
    assert!(held["registration"]["receiver"].is_null());
    // processor.webhook.enable.
    let out = cli_ok(
        &app,
        &[
            "enable",
            "--product",
            "my_product",
            "--access-tag",
            "admin",
            "--webhook",
            "order_created",
            "--env",
            &format!("stg={}", rx.url("/stg")),
            "--method",
            "PUT",
        ],
    )
    .await;
    assert!(out.contains("stg") && out.contains("PUT"), "{out}");

    let regs = cli_json(&app, &["registrations", "list", "--product", "my_product"]).await;
    assert_eq!(regs.as_array().unwrap().len(), 3, "{regs}");
    let out = cli_ok(&app, &["registrations", "list", "--product", "my_product"]).await;
    assert!(out.contains(link), "{out}");

    // Point the held event link at a receiver.
    let id = held["registration"]["id"].as_str().unwrap();
    let out = cli_ok(
        &app,
        &[
            "registrations",
            "set-receiver",
            id,
            "--receiver",
            &rx.url("/paid"),
        ],
    )
    .await;
    assert!(out.contains(&rx.url("/paid")), "{out}");
    let r = cli_json(&app, &["registrations", "get", id]).await;
    assert_eq!(r["receiver"]["url"], rx.url("/paid"));
    assert_eq!(r["receiver"]["method"], "POST");

    // disable retires the webhook's stg links.
    let out = cli_ok(
        &app,
        &[
            "disable",
            "--product",
            "my_product",
            "--access-tag",
            "admin",
            "--webhook",
            "order_created",
            "--env",
            "stg",
        ],
    )
    .await;
    assert!(out.contains("retired"), "{out}");
    let (_, all) = app
        .get("/api/v1/products/my_product/apps/admin/webhooks")
        .await;
    let active = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["active"] == true)
        .count();
    assert_eq!(active, 1, "{all}");

    // Errors carry the API's code and status, and fail the command.
    let r = cli(&app, &["apps", "get", "nope"]).await;
    assert!(!r.ok);
    assert!(
        r.err.contains("not_found") && r.err.contains("404"),
        "{}",
        r.err
    );
    let wrong = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["--url", &app.base, "--key", "hk_wrong", "apps", "list"])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && err.contains("401"), "{err}");

    // Presets: listed, shown, and an app made from one.
    let out = cli_ok(&app, &["presets", "list"]).await;
    assert!(out.contains("stripe") && out.contains("github"), "{out}");
    let stripe = cli_json(&app, &["presets", "get", "stripe"]).await;
    assert_eq!(stripe["preset"], "stripe");
    let out = cli_ok(
        &app,
        &["apps", "create", "--preset", "github", "--env", "live"],
    )
    .await;
    assert!(out.contains("created app github"), "{out}");
    let gh = cli_json(&app, &["apps", "get", "github"]).await;
    assert!(!gh["webhooks"].as_array().unwrap().is_empty(), "{gh}");

    // delete
    cli_ok(&app, &["apps", "create", "--tag", "tmp", "--name", "Tmp"]).await;
    let out = cli_ok(&app, &["apps", "delete", "tmp"]).await;
    assert!(out.contains("deleted app tmp"), "{out}");
    assert!(!cli(&app, &["apps", "get", "tmp"]).await.ok);

    // The OpenAPI command prints the document the server serves.
    let doc = cli_json(&app, &["openapi"]).await;
    assert_eq!(doc, serde_json::to_value(hookline::api::openapi()).unwrap());
    app.stop().await;
}

#[tokio::test]
async fn events_list_show_and_replay() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/orders")).await;
    let mut ids = Vec::new();
    for n in 0..2 {
        let body = json!({"type": "order.created", "n": n}).to_string();
        let (s, v) = app
            .ingest(
                &link,
                Method::POST,
                body.as_bytes(),
                &[("content-type", "application/json")],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        app.wait_status(&id, "delivered", Duration::from_secs(10))
            .await;
        ids.push(id);
    }

    let page = cli_json(
        &app,
        &[
            "events",
            "list",
            "--product",
            "my_product",
            "--status",
            "delivered",
        ],
    )
    .await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{page}");
    assert_eq!(data[0]["id"], ids[1].as_str(), "newest first");
    // A page of one, then the next with the printed cursor.
    let out = cli_ok(&app, &["events", "list", "--limit", "1"]).await;
    assert!(out.contains(&ids[1]) && !out.contains(&ids[0]), "{out}");
    let cursor = out
        .lines()
        .find_map(|l| l.strip_prefix("more: --cursor "))
        .unwrap_or_else(|| panic!("no cursor in {out}"))
        .trim()
        .to_owned();
    let out = cli_ok(
        &app,
        &["events", "list", "--limit", "1", "--cursor", &cursor],
    )
    .await;
    assert!(out.contains(&ids[0]), "{out}");
    let none = cli_json(&app, &["events", "list", "--event", "order.paid"]).await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);

    let out = cli_ok(&app, &["events", "show", &ids[0]]).await;
    assert!(out.contains("delivered"), "{out}");
    // The request line names the path the provider called.
    let link_path = link.strip_prefix(&app.base).unwrap();
    let body_len = json!({"type": "order.created", "n": 0}).to_string().len();
    assert!(
        out.contains(&format!("request: POST {link_path} ({body_len} bytes)")),
        "{out}"
    );
    assert!(out.contains(r#"{"n":0,"type":"order.created"}"#), "{out}");
    assert!(out.contains(&rx.url("/orders")), "{out}");
    let d = cli_json(&app, &["events", "show", &ids[0]]).await;
    assert_eq!(d["request"]["method"], "POST");
    assert_eq!(d["attempt_log"][0]["response_status"], 200);

    let out = cli_ok(&app, &["events", "replay", &ids[0]]).await;
    assert!(out.contains("queued"), "{out}");
    rx.wait_hits(3, Duration::from_secs(10)).await;
    let r = cli(&app, &["events", "replay", "evt_nope"]).await;
    assert!(!r.ok && r.err.contains("404"), "{}", r.err);
    app.stop().await;
}

#[tokio::test]
async fn listen_forwards_events_to_a_local_url() {
    let app = spawn_app().await;
    let gateway_rx = spawn_receiver(vec![]).await;
    let local = spawn_receiver(vec![201]).await;
    seed_model(&app).await;
    let link = link_to(&app, &gateway_rx.url("/hooks")).await;

    let (mut child, mut stdout, _) = start_listen(&app, &link, &local.url("/local/hooks")).await;

    // An event with a non-JSON, non-UTF-8 body, a custom header and PUT.
    let body: &[u8] = b"order.created \xff\x00 raw";
    let (s, v) = app
        .ingest(
            &link,
            Method::PUT,
            body,
            &[
                ("content-type", "application/octet-stream"),
                ("x-shop-topic", "orders"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let hits = local.wait_hits(1, Duration::from_secs(20)).await;
    let hit = &hits[0];
    assert_eq!(hit.method, Method::PUT);
    assert_eq!(hit.uri.path(), "/local/hooks");
    assert_eq!(&hit.body[..], body);
    assert_eq!(hit.headers["x-shop-topic"], "orders");
    assert_eq!(hit.headers["content-type"], "application/octet-stream");
    assert_eq!(hit.headers["webhook-id"], id.as_str());
    assert!(hit.headers.contains_key("webhook-signature"));

    let line = next_line(&mut stdout).await;
    assert!(line.contains(&id) && line.contains("→ 201"), "{line}");
    assert!(line.contains(" ms)"), "{line}");

    // A second event, with a JSON body naming its type.
    let body = json!({"type": "order.paid"}).to_string();
    let (_, v) = app
        .ingest(
            &link,
            Method::POST,
            body.as_bytes(),
            &[("content-type", "application/json")],
        )
        .await;
    let id2 = v["id"].as_str().unwrap().to_owned();
    let hits = local.wait_hits(2, Duration::from_secs(20)).await;
    assert_eq!(hits[1].method, Method::POST);
    assert_eq!(hits[1].body, body.as_bytes());
    let line = next_line(&mut stdout).await;
    assert!(
        line.contains("order.paid") && line.contains(&id2) && line.contains("→ 200"),
        "{line}"
    );
    // The gateway delivered to the registration's own receiver as well.
    gateway_rx.wait_hits(2, Duration::from_secs(10)).await;

    child.kill().await.unwrap();
    app.stop().await;
}

/// Starts `hookline listen` and waits until it is connected; returns the
/// child and its stdout lines (stderr is drained in the background).
async fn start_listen(
    app: &TestApp,
    link: &str,
    forward_to: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let mut child = command(app, &["listen", link, "--forward-to", forward_to])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.starts_with("Ready") {
                return;
            }
        }
        panic!("listen ended before it was ready");
    })
    .await
    .expect("listen is ready within 20 s");
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = stderr.next_line().await {
            keep.lock().unwrap().push(l);
        }
    });
    (child, stdout, log)
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("listen printed a line within 20 s")
        .unwrap()
        .expect("listen is still running")
}

#[tokio::test]
async fn listen_reconnects_after_the_gateway_restarts_and_misses_nothing() {
    let app = spawn_app().await;
    let gateway_rx = spawn_receiver(vec![]).await;
    let local = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let link = link_to(&app, &gateway_rx.url("/hooks")).await;
    let (mut child, mut stdout, log) = start_listen(&app, &link, &local.url("/dev")).await;

    let send = |app: &TestApp, n: u32| {
        let body = json!({"type": "order.created", "n": n}).to_string();
        let link = link.clone();
        let http = app.http.clone();
        async move {
            let r = http.post(&link).body(body).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let first = send(&app, 1).await;
    local.wait_hits(1, Duration::from_secs(20)).await;
    assert!(next_line(&mut stdout).await.contains(&first));

    // Stop the gateway (which ends the stream) and start it again on the
    // same port and data; an event arrives before `listen` is back.
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let TestApp {
        token, handle, dir, ..
    } = app;
    token.cancel();
    handle.unwrap().await.unwrap().unwrap();
    let app = spawn_app_with(|c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.data_dir = dir.path().to_path_buf();
    })
    .await;
    let second = send(&app, 2).await;
    let hits = local.wait_hits(2, Duration::from_secs(30)).await;
    assert_eq!(hits[1].headers["webhook-id"], second.as_str());
    assert!(next_line(&mut stdout).await.contains(&second));
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("reconnecting")),
        "{:?}",
        log.lock().unwrap()
    );
    // Each event is forwarded once, even though the stream also reports
    // their status changes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(local.hits().len(), 2);

    child.kill().await.unwrap();
    app.stop().await;
    drop(dir);
}

/// Everything `apply` may write, with `updated_at`s: equal before and after
/// a run means the run wrote nothing.
async fn snapshot(app: &TestApp) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/api/v1/apps",
        "/api/v1/apps/shop/webhooks",
        "/api/v1/products",
        "/api/v1/products/my_product/apps",
        "/api/v1/products/my_product/apps/admin/webhooks",
    ] {
        let (s, v) = app.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        out.insert(path.into(), v);
    }
    Value::Object(out)
}

fn setup_yaml(receiver: &str, product_name: &str) -> String {
    format!(
        r#"
apps:
  - tag: shop
    name: Shop
    envs: [{{slug: live}}, {{slug: test, base_url: "https://api.shop.test"}}]
    webhooks:
      - tag: order_created
        name: Order created
        verification: {{scheme: hmac, header: X-Shop-Signature}}
        envs: [{{slug: live}}, {{slug: test}}]
        events:
          - {{tag: order.created, name: Order created, selector: "$Event{{type}}"}}
          - {{tag: order.paid, name: Order paid, selector: "$Event{{type}}"}}
  - preset: github
    envs: [{{slug: live}}]
products:
  - tag: my_product
    name: {product_name}
    envs: [{{slug: prd, name: Production}}, {{slug: stg}}]
    connections:
      - app: shop
        access_tag: admin
        envs:
          - {{product_env: prd, app_env: live}}
          - {{product_env: stg, app_env: test, auth: {{headers: {{X-Api-Key: "${{SHOP_API_KEY}}"}}}}}}
registrations:
  - product: my_product
    access_tag: admin
    webhook: order_created
    envs: [prd, stg]
    receiver:
      url: {receiver}/orders
      method: post
      auth: {{headers: {{Authorization: "Bearer ${{SHOP_API_KEY}}"}}}}
    verification_secret: s3cret
    retry_schedule: [60s, 5m]
  - product: my_product
    access_tag: admin
    event: order.paid
    env: prd
"#
    )
}

async fn apply(app: &TestApp, file: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["apply", "-f", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = command(app, &args)
        .env("SHOP_API_KEY", "k-123")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "apply failed\n{stdout}\n{stderr}");
    stdout
}

fn links(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.contains("/webhooks/v1/process/"))
        })
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn apply_twice_changes_nothing_the_second_time() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    let file = app.dir.path().join("setup.yaml");
    std::fs::write(&file, setup_yaml(&rx.base, "My product")).unwrap();

    let first = apply(&app, &file, &[]).await;
    for want in [
        "app shop: created",
        "app github: created",
        "webhook shop/order_created: created",
        "product my_product: created",
        "connection my_product/admin: created",
        "registration my_product/admin/order_created prd: created",
        "registration my_product/admin/order_created stg: created",
        "registration my_product/admin/:order.paid prd: created",
        "links:",
    ] {
        assert!(first.contains(want), "missing `{want}` in\n{first}");
    }
    let first_links = links(&first);
    assert_eq!(first_links.len(), 3, "{first}");
    let regs = app
        .get("/api/v1/products/my_product/apps/admin/webhooks")
        .await
        .1;
    let prd = regs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["env"] == "prd" && r["event"].is_null())
        .unwrap();
    assert_eq!(prd["receiver"]["url"], rx.url("/orders"));
    assert_eq!(prd["receiver"]["auth_headers"], json!(["Authorization"]));
    assert_eq!(prd["has_verification_secret"], true);
    assert_eq!(prd["retry_schedule"], json!(["1m", "5m"]));

    // Second run, same file: no write at all.
    let before = snapshot(&app).await;
    let second = apply(&app, &file, &[]).await;
    let changes: Vec<&str> = second.lines().filter(|l| l.contains(": ")).collect();
    assert_eq!(changes.len(), 8, "{second}");
    for l in &changes {
        assert!(l.ends_with(": no changes"), "`{l}` in\n{second}");
    }
    assert_eq!(links(&second), first_links, "links are kept");
    assert_eq!(
        snapshot(&app).await,
        before,
        "the second run wrote something"
    );

    // A changed file: a dry run shows the change and writes nothing ...
    std::fs::write(&file, setup_yaml(&format!("{}/v2", rx.base), "Renamed")).unwrap();
    let dry = apply(&app, &file, &["--dry-run"]).await;
    assert!(
        dry.contains("product my_product: would be updated (name)"),
        "{dry}"
    );
    assert!(
        dry.contains(
            "registration my_product/admin/order_created prd: would be updated (receiver)"
        ),
        "{dry}"
    );
    assert_eq!(snapshot(&app).await, before, "the dry run wrote something");
    // ... and a real run updates just that, keeping the links.
    let third = apply(&app, &file, &[]).await;
    assert!(
        third.contains("product my_product: updated (name)"),
        "{third}"
    );
    assert!(third.contains("app shop: no changes"), "{third}");
    assert!(
        third.contains("connection my_product/admin: no changes"),
        "{third}"
    );
    assert!(
        third.contains("registration my_product/admin/:order.paid prd: no changes"),
        "{third}"
    );
    assert_eq!(links(&third), first_links);
    let (_, r) = app
        .get("/api/v1/products/my_product/apps/admin/webhooks")
        .await;
    assert!(r
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["receiver"]["url"] == format!("{}/v2/orders", rx.base)));
    app.stop().await;
}

/// `hookline serve` as a new user starts it, output piped: the listening
/// line comes first, then the generated key, and logs carry no colour codes
/// when they are not written to a terminal.
#[tokio::test]
async fn serve_prints_listening_then_key_without_colour_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("serve")
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .env("HOOKLINE_DATA_DIR", dir.path().join("data"))
        .env_remove("HOOKLINE_ADMIN_KEY")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("hookline serve starts");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first = Vec::new();
    while first.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("serve prints its start lines")
            .unwrap()
            .expect("stdout stays open");
        first.push(line);
    }
    assert!(
        first[0].starts_with("hookline listening on port "),
        "{first:?}"
    );
    assert!(
        first[1].starts_with("Generated a management key"),
        "{first:?}"
    );
    assert!(first[2].trim_start().starts_with("hk_"), "{first:?}");

    // At least one log line ("hookline is listening") has been written.
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), err.next_line())
        .await
        .expect("serve logs at info")
        .unwrap()
        .expect("stderr stays open");
    assert!(
        !line.contains('\u{1b}'),
        "ANSI escape in piped log: {line:?}"
    );
    let _ = child.kill().await;
}

/// The binary as `cargo install` leaves it: somewhere else than the build,
/// run from an unrelated folder. Everything it serves (dashboard assets,
/// presets, migrations) is inside it.
#[tokio::test]
async fn installed_binary_serves_everything_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("bin");
    let cwd = dir.path().join("somewhere");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    let bin = bin_dir.join("hookline");
    // A hard link is enough to run it from another path (and saves copying
    // a debug build); a copy where linking is not possible.
    if std::fs::hard_link(env!("CARGO_BIN_EXE_hookline"), &bin).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_hookline"), &bin).unwrap();
    }
    let help = tokio::process::Command::new(&bin)
        .arg("--help")
        .current_dir(&cwd)
        .output()
        .await
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("serve"));

    let mut child = tokio::process::Command::new(&bin)
        .arg("serve")
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .env_remove("HOOKLINE_DATA_DIR")
        .env_remove("HOOKLINE_DATABASE_URL")
        .env_remove("HOOKLINE_ADMIN_KEY")
        .env_remove("HOOKLINE_CONFIG")
        .current_dir(&cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hookline serve starts");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first = Vec::new();
    while first.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("serve prints its start lines")
            .unwrap()
            .expect("stdout stays open");
        first.push(line);
    }
    let port: u16 = first[0]
        .strip_prefix("hookline listening on port ")
        .and_then(|rest| rest.split(';').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{first:?}"));
    let key = first[2].trim().to_owned();
    let base = format!("http://127.0.0.1:{port}");
    // The data dir is the default, relative to where it runs.
    assert!(cwd.join("hookline-data/admin.key").exists());

    let http = reqwest::Client::new();
    for (path, contains) in [
        ("/dashboard", "<html"),
        ("/dashboard/app.js", "import"),
        ("/dashboard/style.css", "{"),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.text().await.unwrap().contains(contains), "{path}");
    }
    let r = http
        .get(format!("{base}/api/v1/presets/stripe"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // An app from a preset is stored: the migrated database works.
    let r = http
        .post(format!("{base}/api/v1/apps"))
        .bearer_auth(&key)
        .json(&json!({"preset": "stripe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let _ = child.kill().await;
}
