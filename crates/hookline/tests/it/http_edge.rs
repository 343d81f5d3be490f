//! The HTTP edge against clients that misbehave on the wire: slow loris,
//! bodies that never come, `Expect: 100-continue`, broken chunked encoding,
//! CONNECT, raw header bytes and management-key guessing. Most of these speak
//! raw HTTP/1.1 over TCP, since a well-behaved client cannot send them.

use crate::helpers::*;
use axum::http::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// `/webhooks/v1/process/…` of a link.
fn path_of(link: &str) -> String {
    let i = link.find("/webhooks/").unwrap();
    link[i..].to_owned()
}

/// Reads until the peer closes (or `within` passes: then panics), returning
/// what arrived.
async fn read_to_close(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => panic!(
                "connection still open after {within:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response head (up to the blank line), or panics after `within`.
async fn read_head(s: &mut TcpStream, within: Duration) -> String {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    timeout(within, async {
        while !out.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            out.push(byte[0]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no response head within {within:?}"));
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `request` on a fresh connection, reads until the server closes it
/// (requests carry `Connection: close`) and returns status line and body.
async fn raw(app: &TestApp, request: &[u8]) -> (String, Value) {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    s.write_all(request).await.unwrap();
    let out = read_to_close(&mut s, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn event_count(app: &TestApp) -> usize {
    let (s, v) = app.get("/api/v1/events").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn slow_clients_are_cut_while_others_are_served() {
    let app = spawn_app_with(|c| {
        c.http.header_read_timeout = Duration::from_secs(1);
        c.http.body_idle_timeout = Duration::from_secs(1);
        c.http.body_read_timeout = Duration::from_secs(3);
    })
    .await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/x")).await;
    let path = path_of(&link);
    let started = Instant::now();

    let mut slow = Vec::new();
    // Headers a byte at a time, a byte every 100 ms: never whole in time.
    for _ in 0..100 {
        let (a, p) = (addr(&app), path.clone());
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(a).await.unwrap();
            let req = format!(
                "POST {p} HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
                "a".repeat(200)
            );
            for b in req.bytes() {
                if s.write_all(&[b]).await.is_err() {
                    break; // Cut.
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            read_to_close(&mut s, Duration::from_secs(5)).await
        }));
    }
    // A body announced and never sent.
    for _ in 0..50 {
        let (a, p) = (addr(&app), path.clone());
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(a).await.unwrap();
            let req = format!("POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            read_to_close(&mut s, Duration::from_secs(5)).await
        }));
    }
    // A body a byte at a time, each just inside the idle timeout: cut by
    // the whole-body timeout.
    for _ in 0..50 {
        let (a, p) = (addr(&app), path.clone());
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(a).await.unwrap();
            let req = format!("POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            for _ in 0..1000 {
                tokio::time::sleep(Duration::from_millis(700)).await;
                if s.write_all(b"a").await.is_err() {
                    break;
                }
                // Stop once the server has answered and closed.
                let mut buf = [0u8; 1024];
                match timeout(Duration::from_millis(1), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                    Err(_) => {}
                }
                assert!(started.elapsed() < Duration::from_secs(15), "never cut");
            }
            out.extend(read_to_close(&mut s, Duration::from_secs(5)).await);
            out
        }));
    }

    // Meanwhile a normal client is served promptly, again and again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..10 {
        let t = Instant::now();
        let (s, v) = app
            .ingest(&link, Method::POST, br#"{"type":"order.created"}"#, &[])
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let h = app
            .http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(h.status(), StatusCode::OK);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "request {i} took {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut answers = Vec::new();
    for task in slow {
        answers.push(String::from_utf8_lossy(&task.await.unwrap()).into_owned());
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Headers never whole: closed without an answer (hyper's header timeout).
    assert!(
        answers[..100].iter().all(|a| !a.contains("HTTP/1.1 2")),
        "{:?}",
        &answers[..3]
    );
    // Bodies that stalled or trickled: 408 request_timeout.
    for a in &answers[100..] {
        assert!(a.starts_with("HTTP/1.1 408"), "{a}");
        assert!(a.contains("request_timeout"), "{a}");
    }
    // Nothing was stored from them: only the normal client's ten calls.
    assert_eq!(event_count(&app).await, 10);
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_a_slot_frees() {
    let app = spawn_app_with(|c| {
        c.http.max_connections = 4;
        c.http.header_read_timeout = Duration::from_secs(2);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(800), s.read(&mut buf))
            .await
            .is_err(),
        "a fifth connection was served while four held every slot"
    );
    // The silent four are cut after header_read_timeout; then it is served.
    let head = read_head(&mut s, Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    for mut c in idle {
        read_to_close(&mut c, Duration::from_secs(1)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn expect_continue_over_the_limit_is_refused_at_once() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let path = path_of(&link_to(&app, &rx.url("/x")).await);
    for length in [2 * 1024 * 1024u64, 10_000_000_000] {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        // Nothing of the body is sent: the answer must not wait for it.
        let out = read_to_close(&mut s, Duration::from_secs(2)).await;
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 413"), "{length}: {text}");
        assert!(!text.contains("100 Continue"), "{text}");
        assert!(text.contains("payload_too_large"), "{text}");
    }
    // Within the limit, 100-continue is honoured and the event stored.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let head = read_head(&mut s, Duration::from_secs(2)).await;
    assert!(head.starts_with("HTTP/1.1 100"), "{head}");
    s.write_all(b"{}").await.unwrap();
    let rest =
        String::from_utf8_lossy(&read_to_close(&mut s, Duration::from_secs(5)).await).into_owned();
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert_eq!(event_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn malformed_chunked_bodies_are_bad_requests() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let path = path_of(&link_to(&app, &rx.url("/x")).await);
    for body in ["zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcdef\r\n0\r\n\r\n"] {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
        );
        let (head, v) = raw(&app, req.as_bytes()).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{body:?}: {head}");
        assert_eq!(v["error"]["code"], "malformed_body", "{v}");
    }
    // Well-formed chunked is accepted; over the limit is still 413.
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
    );
    let (head, _) = raw(&app, req.as_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(event_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn connect_and_trace_are_refused_and_not_stored() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let path = path_of(&link_to(&app, &rx.url("/x")).await);
    for method in ["CONNECT", "TRACE"] {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (head, v) = raw(&app, req.as_bytes()).await;
        assert!(head.starts_with("HTTP/1.1 405"), "{method}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("allow: get, head, post, put, patch, delete, options"),
            "{head}"
        );
        assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    }
    assert_eq!(event_count(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn header_bytes_are_forwarded_exactly() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let path = path_of(&link_to(&app, &rx.url("/x")).await);
    let mut req =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n")
            .into_bytes();
    req.extend_from_slice(b"X-Raw: a\xff\xfeb\r\n");
    req.extend_from_slice("X-Utf8: café\r\n".as_bytes());
    req.extend_from_slice(b"X-Plain: plain text\r\n\r\n{}");
    let (head, v) = raw(&app, &req).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {v}");
    let hit = rx.wait_hits(1, Duration::from_secs(5)).await.remove(0);
    assert_eq!(hit.headers["x-raw"].as_bytes(), b"a\xff\xfeb");
    assert_eq!(hit.headers["x-utf8"].as_bytes(), "café".as_bytes());
    assert_eq!(hit.headers["x-plain"].as_bytes(), b"plain text");
    // The API shows them as (lossy) text.
    let id = v["id"].as_str().unwrap();
    let (_, e) = app.get(&format!("/api/v1/events/{id}")).await;
    let headers = e["request"]["headers"].as_array().unwrap();
    let shown = |name: &str| {
        headers
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap().to_owned())
    };
    assert_eq!(shown("x-utf8").as_deref(), Some("café"), "{e}");
    assert_eq!(shown("x-raw").as_deref(), Some("a\u{fffd}\u{fffd}b"), "{e}");
    app.stop().await;
}

#[tokio::test]
async fn management_key_guessing_is_throttled_per_address() {
    let app = spawn_app_with(|c| {
        c.http.auth_failure_limit = 10;
        c.http.auth_failure_window = Duration::from_secs(2);
    })
    .await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let link = link_to(&app, &rx.url("/x")).await;
    let url = format!("{}/api/v1/apps", app.base);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..50 {
        let r = app
            .http
            .get(&url)
            .bearer_auth(format!("hk_wrong_{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], "too_many_requests", "{v}");
        }
    }
    assert!(statuses[..10].iter().all(|&s| s == 401), "{statuses:?}");
    assert!(statuses[10..].iter().all(|&s| s == 429), "{statuses:?}");
    let secs: u64 = retry_after.expect("Retry-After on 429").parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    // While blocked, even the right key is not checked…
    let (s, _) = app.get("/api/v1/apps").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // …and ingest links are not throttled at all.
    let (s, v) = app.ingest(&link, Method::POST, b"{}", &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // After the window the right key works, and clears the count.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, v) = app.get("/api/v1/apps").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A success clears the count: 2 × 9 failures with a success between
    // stay under the limit of 10.
    for _ in 0..2 {
        for _ in 0..9 {
            let r = app
                .http
                .get(&url)
                .bearer_auth("hk_wrong")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let (s, _) = app.get("/api/v1/apps").await;
        assert_eq!(
            s,
            StatusCode::OK,
            "nine failures and a success do not block"
        );
    }
    app.stop().await;
}

/// Behind a reverse proxy every request comes from the proxy's address:
/// with the proxy in `http.trusted_proxies`, the key throttle counts the
/// clients its `X-Forwarded-For` names instead, so one client guessing keys
/// does not lock the others out; without it, the header is ignored.
#[tokio::test]
async fn key_throttle_counts_forwarded_clients_behind_a_trusted_proxy() {
    async fn attempts(app: &TestApp, client: &str, n: usize) -> Vec<u16> {
        let mut statuses = Vec::new();
        for _ in 0..n {
            let r = app
                .http
                .get(format!("{}/api/v1/apps", app.base))
                .bearer_auth("hk_wrong")
                .header("x-forwarded-for", format!("198.51.100.66, {client}"))
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        statuses
    }
    let behind_proxy = spawn_app_with(|c| {
        c.http.auth_failure_limit = 3;
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert_eq!(
        attempts(&behind_proxy, "203.0.113.1", 4).await,
        [401, 401, 401, 429]
    );
    // Another client through the same proxy is not blocked…
    assert_eq!(attempts(&behind_proxy, "203.0.113.2", 1).await, [401]);
    // …nor is the proxy itself.
    let (s, _) = behind_proxy.get("/api/v1/apps").await;
    assert_eq!(s, StatusCode::OK);
    behind_proxy.stop().await;

    let direct = spawn_app_with(|c| c.http.auth_failure_limit = 3).await;
    assert_eq!(attempts(&direct, "203.0.113.1", 3).await, [401, 401, 401]);
    // Not trusted: the header is ignored, and the connection's address is blocked.
    assert_eq!(attempts(&direct, "203.0.113.2", 1).await, [429]);
    direct.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let app = spawn_app().await;
    let rx = spawn_receiver(vec![]).await;
    seed_model(&app).await;
    let path = path_of(&link_to(&app, &rx.url("/x")).await);
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let req = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.token.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The listener is closed: no new connections…
    assert!(TcpStream::connect(addr(&app)).await.is_err());
    // …but the request in flight is read, stored (the writer still runs)
    // and answered, and then its connection closes.
    s.write_all(b"{}").await.unwrap();
    let out = read_to_close(&mut s, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"status\":\"received\""), "{text}");
    app.stop().await;
}

/// `GET /`: a browser goes to the dashboard, a program learns where things
/// are; a path nothing serves is a 404 that names it.
#[tokio::test]
async fn root_points_to_the_dashboard_and_unknown_paths_are_named() {
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // What a browser sends.
    let r = no_redirects
        .get(format!("{}/", app.base))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/dashboard");
    // Followed, it lands on the dashboard page.
    let page = app
        .http
        .get(format!("{}/", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.url().path().ends_with("/dashboard"), "{}", page.url());
    assert!(page.text().await.unwrap().contains("<html"));
    // curl, scripts: JSON pointing to the dashboard and the API document.
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = no_redirects.get(format!("{}/", app.base));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "accept {accept:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["dashboard"], "/dashboard", "{v}");
        assert_eq!(v["openapi"], "/api/v1/openapi.json", "{v}");
        let (s, _) = app.get(v["openapi"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::OK);
    }
    // Unknown paths: the message names the method and path, never the query.
    for (path, named) in [
        ("/nope", "GET /nope"),
        ("/api/v1/nothing?key=hk_secret", "GET /api/v1/nothing"),
    ] {
        let (s, v) = app.get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        assert_eq!(v["error"]["code"], "not_found", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert_eq!(message, format!("route `{named}` was not found"));
        assert!(!message.contains("this path") && !message.contains("hk_secret"));
    }
    app.stop().await;
}
