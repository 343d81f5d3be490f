//! A full disk, for real: `hookline serve` runs in a private mount namespace
//! (`unshare -m`) whose data dir is a small tmpfs. The test fills that tmpfs
//! from outside (through `/proc/<pid>/root`, which shows the child's mounts),
//! sees ingest answer 503 `storage_unavailable` with `Retry-After` and
//! `/healthz` answer 503, frees the space, and checks that the node recovers
//! by itself and that every event acknowledged before, during and after
//! reaches the receiver. Needs root (to mount), as CI and this sandbox have.

use crate::crash::{client, KEY};
use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The tmpfs: room for the database, its WAL and a few hundred events.
const TMPFS_SIZE: &str = "24m";

/// Starts `hookline serve` with its data dir on a fresh tmpfs of its own.
fn start_on_tmpfs(data_dir: &Path) -> (Child, String) {
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size={TMPFS_SIZE} hookline-test \"$0\" && exec \"$@\""
        ))
        .arg(data_dir)
        .arg(env!("CARGO_BIN_EXE_hookline"))
        .arg("serve")
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .env("HOOKLINE_DATA_DIR", data_dir)
        .env("HOOKLINE_ADMIN_KEY", KEY)
        .env("HOOKLINE_ALLOWED_TARGETS", "127.0.0.0/8")
        .env("HOOKLINE_DELIVERY__RETRY_SCHEDULE", "100ms,100ms,100ms")
        .env("HOOKLINE_DELIVERY__POLL_INTERVAL", "100ms")
        .env("HOOKLINE_DELIVERY__TIMEOUT", "2s")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("unshare is installed");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("hookline started in its own mount namespace (needs root: unshare -m, mount -t tmpfs)")
            .unwrap();
        if let Some(rest) = line.strip_prefix("hookline listening on port ") {
            break rest.split(';').next().unwrap().trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://127.0.0.1:{port}"))
}

/// Writes zeros to `path` until the filesystem is full; returns the bytes
/// written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0;
    for chunk in [1 << 16, 4096, 512, 1] {
        let buf = vec![0u8; chunk];
        loop {
            match file.write(&buf) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
    }
    written
}

async fn healthz(base: &str) -> (StatusCode, serde_json::Value) {
    let resp = reqwest::get(format!("{base}/healthz")).await.unwrap();
    (resp.status(), resp.json().await.unwrap_or_default())
}

/// Posts one 8 KiB event; the id when acknowledged, else the answer.
async fn post(api: &TestApp, link: &str, n: usize) -> Result<String, reqwest::Response> {
    let body = format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(8 << 10));
    let resp = api.http.post(link).body(body).send().await.unwrap();
    if resp.status().is_success() {
        let v: serde_json::Value = resp.json().await.unwrap();
        Ok(v["id"].as_str().unwrap().to_owned())
    } else {
        Err(resp)
    }
}

/// Management writes of three kinds: an app, a registration's PATCH and a
/// `generateLink` (a new registration). `round` keeps tags and URLs unique.
async fn management_writes(
    api: &TestApp,
    rx: &Receiver,
    registration: &str,
    round: usize,
) -> Vec<(&'static str, StatusCode, serde_json::Value)> {
    let (s1, v1) = api
        .post(
            "/api/v1/apps",
            json!({"tag": format!("full_{round}"), "name": "Full", "envs": [{"slug": "live"}]}),
        )
        .await;
    let (s2, v2) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/registrations/{registration}"),
            Some(json!({"retry_schedule": ["100ms", "100ms", format!("{}ms", 100 + round)]})),
        )
        .await;
    let (s3, v3) = api
        .post(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "product_env": "prd", "url": rx.url(&format!("/mgmt/{round}")), "method": "POST"}),
        )
        .await;
    vec![
        ("POST /api/v1/apps", s1, v1),
        ("PATCH /api/v1/registrations/{id}", s2, v2),
        ("POST /api/v1/processor/webhooks/link", s3, v3),
    ]
}

/// While the disk is full a management write either still fits or is
/// refused 503 `storage_unavailable`, never 500; returns how many were
/// refused.
fn refused_as_unavailable(answers: &[(&str, StatusCode, serde_json::Value)]) -> usize {
    let mut refused = 0;
    for (what, status, v) in answers {
        if status.is_success() {
            continue;
        }
        assert_eq!(
            *status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what} on a full disk: {v}"
        );
        assert_eq!(v["error"]["code"], "storage_unavailable", "{what}: {v}");
        refused += 1;
    }
    refused
}

#[tokio::test]
async fn disk_full_answers_503_and_recovers_without_losing_acknowledged_events() {
    let data = tempfile::tempdir().unwrap();
    // Slow enough that the results of the first deliveries come back while
    // the disk is full, so the worker must keep them until they can be saved.
    let rx = spawn_receiver_on("127.0.0.1:0", vec![], Duration::from_millis(400)).await;
    let (mut child, base) = start_on_tmpfs(data.path());
    // The tmpfs as the child sees it.
    let inside: PathBuf = Path::new(&format!("/proc/{}/root", child.id())).join(
        data.path()
            .strip_prefix("/")
            .expect("tempdir paths are absolute"),
    );
    let api = client(&base);
    seed_model(&api).await;
    let link = link_to(&api, &rx.url("/full")).await;
    let (_, first) = api
        .post(
            "/api/v1/processor/webhooks/link",
            json!({"product_tag": "my_product", "access_tag": "admin", "webhook_tag": "order_created",
                   "product_env": "prd", "url": rx.url("/full"), "method": "POST"}),
        )
        .await;
    let registration = first["registration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("generateLink answers a registration: {first}"))
        .to_owned();

    let mut acked = Vec::new();
    for n in 0..20 {
        acked.push(
            post(&api, &link, n)
                .await
                .expect("ingest before the disk fills"),
        );
    }
    assert_eq!(healthz(&base).await.0, StatusCode::OK);

    let filler = inside.join("filler");
    let filled = fill(&filler);
    assert!(filled > 0, "nothing was written to the tmpfs");

    // Some posts may still fit in space SQLite had already; soon one fails.
    let mut refused = None;
    for n in 20..2_000 {
        match post(&api, &link, n).await {
            Ok(id) => acked.push(id),
            Err(resp) => {
                refused = Some(resp);
                break;
            }
        }
    }
    let refused = refused.expect("ingest never failed on a full disk");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = refused
        .headers()
        .get("retry-after")
        .expect("a 503 carries Retry-After")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After is in seconds");
    assert!(retry_after > 0);
    let v: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(v["error"]["code"], "storage_unavailable", "{v}");
    // Still full: the next one is refused the same way.
    let again = post(&api, &link, 9_999).await.expect_err("still full");
    assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);

    let (status, v) = healthz(&base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "storage_unavailable", "{v}");
    // Management writes on the full disk: refused the same way, not 500.
    let mut mgmt_refused = 0;
    for round in 0..3 {
        mgmt_refused +=
            refused_as_unavailable(&management_writes(&api, &rx, &registration, round).await);
    }
    assert!(
        mgmt_refused > 0,
        "no management write failed on a full disk"
    );

    // Stay full for a while: deliveries finish, and their results cannot
    // be recorded yet.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        !rx.hits().is_empty(),
        "no delivery finished while the disk was full"
    );
    let (status, _) = healthz(&base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "still full");
    refused_as_unavailable(&management_writes(&api, &rx, &registration, 3).await);

    std::fs::remove_file(&filler).unwrap();
    // The node notices by itself (the health probe), without any ingest.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, v) = healthz(&base).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "healthz still {status} after space came back: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Writes that failed on the full disk left nothing behind on the
    // writer connection: management writes succeed again...
    for round in 4..6 {
        for (what, status, v) in management_writes(&api, &rx, &registration, round).await {
            assert!(
                status.is_success(),
                "{what} after space came back: {status} {v}"
            );
        }
    }
    // ...and so does ingest, on the old link and on one made just now.
    let new_link = link_to(&api, &rx.url("/after")).await;
    for n in 10_000..10_020 {
        let link = if n % 2 == 0 { &link } else { &new_link };
        acked.push(
            post(&api, link, n)
                .await
                .expect("ingest after space came back"),
        );
    }

    for id in &acked {
        api.wait_status(id, "delivered", Duration::from_secs(60))
            .await;
    }
    let delivered: HashSet<String> = rx
        .hits()
        .iter()
        .map(|h| h.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    for id in &acked {
        assert!(
            delivered.contains(id),
            "acknowledged event {id} never reached the receiver"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
