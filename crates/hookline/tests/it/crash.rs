//! Crash safety: the real binary is killed with SIGKILL right after the last
//! acknowledgement; on restart every acknowledged event is delivered.

use crate::helpers::*;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const KEY: &str = "hk_crash_test_key_0123456789";

/// Starts `hookline serve` on a free port; returns the child and its base URL.
fn start(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("serve")
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .env("HOOKLINE_DATA_DIR", data_dir)
        .env("HOOKLINE_ADMIN_KEY", KEY)
        .env("HOOKLINE_ALLOWED_TARGETS", "127.0.0.0/8")
        .env("HOOKLINE_DELIVERY__CONCURRENCY", "2")
        .env("HOOKLINE_DELIVERY__RETRY_SCHEDULE", "100ms,100ms,100ms")
        .env("HOOKLINE_DELIVERY__POLL_INTERVAL", "100ms")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("hookline binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines.next().expect("hookline printed its port").unwrap();
        if let Some(rest) = line.strip_prefix("hookline listening on port ") {
            break rest.split(';').next().unwrap().trim().to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://127.0.0.1:{port}"))
}

pub(crate) fn client(base: &str) -> TestApp {
    TestApp {
        base: base.to_owned(),
        key: KEY.to_owned(),
        http: reqwest::Client::new(),
        token: Default::default(),
        handle: None,
        dir: tempfile::tempdir().unwrap().into(),
    }
}

#[tokio::test]
async fn acknowledged_events_survive_sigkill() {
    const N: usize = 60;
    let data = tempfile::tempdir().unwrap();
    // A slow receiver keeps most events queued or in flight at the kill.
    let rx = spawn_receiver_on("127.0.0.1:0", vec![], Duration::from_millis(50)).await;

    let (mut child, base) = start(data.path());
    let api = client(&base);
    seed_model(&api).await;
    let link = link_to(&api, &rx.url("/crash")).await;

    let sends = (0..N).map(|i| {
        let http = api.http.clone();
        let link = link.clone();
        async move {
            let resp = http
                .post(&link)
                .body(format!("{{\"n\":{i}}}"))
                .send()
                .await
                .unwrap();
            assert!(
                resp.status().is_success(),
                "ingest answered {}",
                resp.status()
            );
            resp.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let acked: Vec<String> = futures::future::join_all(sends).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = rx.hits().len();
    assert!(
        before < N,
        "the kill came after every delivery ({before}); the test proves nothing"
    );

    let (mut child, base) = start(data.path());
    let api = client(&base);
    for id in &acked {
        api.wait_status(id, "delivered", Duration::from_secs(30))
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
