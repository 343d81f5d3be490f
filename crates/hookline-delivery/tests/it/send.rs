//! One attempt through the real client against real loopback servers: what
//! comes back, and how failures are classified.

use crate::support::{init_log, loopback_guard, Reply, TestReceiver};
use hookline_core::event::{ErrorKind, RESPONSE_EXCERPT_BYTES};
use hookline_core::model::HttpMethod;
use hookline_core::outbound::ForwardRequest;
use hookline_delivery::{build_client, send, GuardError, OutboundGuard};
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn post(url: url::Url) -> ForwardRequest {
    ForwardRequest {
        method: HttpMethod::Post,
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"ok":true}"#.to_vec(),
    }
}

async fn send_with(
    guard: Arc<OutboundGuard>,
    req: &ForwardRequest,
    timeout: Duration,
) -> Result<hookline_delivery::Response, hookline_delivery::SendError> {
    let client = build_client(guard.clone(), "hookline-test");
    send(&client, &guard, req, timeout).await
}

#[tokio::test]
async fn a_2xx_comes_back_with_its_body() {
    init_log();
    let rx =
        TestReceiver::start(vec![Reply::status(202).header("x-a", "1").body("accepted")]).await;
    let res = send_with(
        loopback_guard(),
        &post(rx.url("/hook?x=1")),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 202);
    assert!(res.is_success());
    assert_eq!(res.excerpt, "accepted");
    assert_eq!(res.headers.get("x-a").unwrap(), "1");
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hook");
    assert_eq!(got[0].query.as_deref(), Some("x=1"));
    assert_eq!(got[0].body, br#"{"ok":true}"#);
    assert_eq!(got[0].headers.get("user-agent").unwrap(), "hookline-test");
}

#[tokio::test]
async fn name_resolving_to_loopback_is_refused_unless_allowed() {
    init_log();
    let rx = TestReceiver::start(vec![]).await;
    let url = rx.localhost_url("/hook");
    let refused = Arc::new(OutboundGuard::new(vec![]));

    // Up front…
    let err = refused.check_url(&url).await.unwrap_err();
    assert!(
        matches!(err, GuardError::NotAllowed { ref host, .. } if host == "localhost"),
        "{err:?}"
    );

    // …through `send`…
    let err = send_with(refused.clone(), &post(url.clone()), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TargetNotAllowed, "{err:?}");
    assert!(
        err.message.contains("HOOKLINE_ALLOWED_TARGETS=127.0.0.0/8"),
        "{}",
        err.message
    );

    // …and by the client alone, at connect time: nothing else checks here.
    let client = build_client(refused.clone(), "hookline-test");
    let err = client.get(url.clone()).send().await.unwrap_err();
    let mut source = err.source();
    let mut found = false;
    while let Some(e) = source {
        found |= e.downcast_ref::<GuardError>().is_some();
        source = e.source();
    }
    assert!(
        found,
        "the resolver's refusal is in the error chain: {err:?}"
    );
    assert!(rx.requests().is_empty(), "nothing reached the receiver");

    // Allow-listing 127.0.0.0/8 alone is enough at connect time.
    let allowed = Arc::new(OutboundGuard::new(vec!["127.0.0.0/8".parse().unwrap()]));
    let res = send_with(allowed, &post(url), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test]
async fn ip_literal_is_checked_without_the_resolver() {
    init_log();
    let rx = TestReceiver::start(vec![]).await;
    let refused = Arc::new(OutboundGuard::new(vec![]));
    for url in [
        rx.url("/hook"),
        format!("http://[::ffff:127.0.0.1]:{}/hook", rx.addr.port())
            .parse()
            .unwrap(),
    ] {
        let err = send_with(refused.clone(), &post(url), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::TargetNotAllowed, "{err:?}");
    }
    assert!(rx.requests().is_empty());
}

#[tokio::test]
async fn slow_receiver_is_a_timeout() {
    init_log();
    let rx = TestReceiver::start(vec![Reply::status(200).delay(Duration::from_secs(3))]).await;
    let started = Instant::now();
    let err = send_with(
        loopback_guard(),
        &post(rx.url("/slow")),
        Duration::from_millis(200),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up on time"
    );
}

#[tokio::test]
async fn closed_port_is_a_connect_error() {
    init_log();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/hook").parse().unwrap();
    let err = send_with(loopback_guard(), &post(url), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err:?}");
}

#[tokio::test]
async fn unresolvable_name_is_a_dns_error() {
    init_log();
    let url = "http://no-such-host.invalid/hook".parse().unwrap();
    let err = send_with(loopback_guard(), &post(url), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Dns, "{err:?}");
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_a_tls_error() {
    init_log();
    let rx = TestReceiver::start(vec![]).await;
    let url = format!("https://127.0.0.1:{}/hook", rx.addr.port())
        .parse()
        .unwrap();
    let err = send_with(loopback_guard(), &post(url), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Tls, "{err:?}");
}

#[tokio::test]
async fn non_2xx_keeps_only_a_4_kib_excerpt() {
    init_log();
    let body = "é".repeat(3000); // 6000 bytes, 2 per char
    let rx = TestReceiver::start(vec![Reply::status(500).body(body.clone())]).await;
    let res = send_with(
        loopback_guard(),
        &post(rx.url("/err")),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 500);
    assert!(!res.is_success());
    assert_eq!(res.excerpt.len(), RESPONSE_EXCERPT_BYTES);
    assert!(body.starts_with(&res.excerpt));
}

#[tokio::test]
async fn an_endless_body_is_not_read_past_the_excerpt() {
    init_log();
    let rx = TestReceiver::start(vec![Reply::status(503).endless_body()]).await;
    let started = Instant::now();
    let res = send_with(
        loopback_guard(),
        &post(rx.url("/flood")),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 503);
    assert_eq!(res.excerpt.len(), RESPONSE_EXCERPT_BYTES);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped reading after the excerpt instead of draining until the timeout"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    init_log();
    let rx = TestReceiver::start(vec![Reply::status(302).header("location", "/elsewhere")]).await;
    let res = send_with(
        loopback_guard(),
        &post(rx.url("/hook")),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(res.status, 302);
    assert!(!res.is_success());
    assert_eq!(res.headers.get("location").unwrap(), "/elsewhere");
    let got = rx.requests();
    assert_eq!(got.len(), 1, "the redirect was not followed: {got:?}");
    assert_eq!(got[0].path, "/hook");
}

#[tokio::test]
async fn non_http_scheme_is_refused() {
    let req = post("ftp://example.com/x".parse().unwrap());
    let err = send_with(loopback_guard(), &req, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Request, "{err:?}");
}

/// Secret values a request carries in its URL (query, a path segment filled
/// from `auth.params`), its headers and its body.
const SECRETS: [&str; 4] = [
    "QUERYSECRET41",
    "PATHSECRET42",
    "HEADERSECRET43",
    "BODYSECRET44",
];

fn with_secrets(base: &str) -> ForwardRequest {
    ForwardRequest {
        method: HttpMethod::Post,
        url: format!("{base}/t/{}/hook?x&token={}", SECRETS[1], SECRETS[0])
            .parse()
            .unwrap(),
        headers: vec![(
            "authorization".into(),
            format!("Bearer {}", SECRETS[2]).into(),
        )],
        body: format!(r#"{{"api_key":"{}"}}"#, SECRETS[3]).into_bytes(),
    }
}

fn assert_no_secret(err: &hookline_delivery::SendError) {
    for s in SECRETS {
        assert!(!err.message.contains(s), "`{s}` leaked: {err:?}");
        assert!(!err.to_string().contains(s), "`{s}` leaked: {err}");
    }
}

#[tokio::test]
async fn transport_errors_carry_no_secret_of_the_request() {
    init_log();
    // Connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let err = send_with(
        loopback_guard(),
        &with_secrets(&closed),
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err:?}");
    assert_no_secret(&err);

    // TLS spoken to a plain HTTP server.
    let rx = TestReceiver::start(vec![]).await;
    let tls = format!("https://127.0.0.1:{}", rx.addr.port());
    let err = send_with(
        loopback_guard(),
        &with_secrets(&tls),
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Tls, "{err:?}");
    assert_no_secret(&err);

    // The connection closed before an answer.
    let hangup = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let io = format!("http://{}", hangup.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = hangup.accept().await {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        }
    });
    let err = send_with(loopback_guard(), &with_secrets(&io), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Io, "{err:?}");
    assert_no_secret(&err);

    // No answer in time.
    let slow = TestReceiver::start(vec![Reply::status(200).delay(Duration::from_secs(3))]).await;
    let err = send_with(
        loopback_guard(),
        &with_secrets(slow.url("").to_string().trim_end_matches('/')),
        Duration::from_millis(200),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err:?}");
    assert_no_secret(&err);
}

#[tokio::test]
async fn a_header_value_that_cannot_be_sent_is_not_echoed() {
    let mut req = with_secrets("http://127.0.0.1:9");
    req.headers
        .push(("x-token".into(), format!("{}\n", SECRETS[2]).into()));
    let err = send_with(loopback_guard(), &req, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Request, "{err:?}");
    assert_no_secret(&err);
}
