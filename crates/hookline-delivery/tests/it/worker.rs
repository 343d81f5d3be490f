//! The delivery worker end to end: a real SQLite store, real receivers on
//! loopback, the real client and guard.

use crate::support::{
    config, enqueue, init_log, receiver, seed, sqlite_store, wait_for_status, Reply, RunningWorker,
    TestReceiver,
};
use hookline_core::event::{ErrorKind, EventStatus};
use hookline_core::retry::RetrySchedule;
use hookline_core::time::Millis;
use hookline_core::verify::{verify, InboundRequest, Verification};
use hookline_delivery::OutboundGuard;
use hookline_store::Lease;
use std::sync::Arc;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn failures_are_retried_until_delivered() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::start(vec![
        Reply::status(500).body("boom"),
        Reply::status(500).body("boom again"),
        Reply::status(200).body("thanks"),
    ])
    .await;
    let reg = seed(&store, Some(receiver(rx.url("/hook"))), None).await;
    let id = enqueue(&store, &reg, br#"{"n":1}"#).await;
    let worker = RunningWorker::start(&store, config(&[50, 50]));
    worker.wake.notify_one();

    let event = wait_for_status(&store, &id, EventStatus::Delivered, WITHIN).await;
    assert_eq!(event.attempts, 3);
    assert_eq!(event.last_response_status, Some(200));
    assert!(event.delivered_at.is_some());
    assert_eq!(event.next_attempt_at, None);

    let attempts = store.list_attempts(&id).await.unwrap();
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a.number,
                a.response_status,
                a.error.as_ref().map(|e| e.kind),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, Some(500), Some(ErrorKind::Status)),
            (2, Some(500), Some(ErrorKind::Status)),
            (3, Some(200), None),
        ]
    );
    assert_eq!(attempts[0].response_excerpt.as_deref(), Some("boom"));
    assert_eq!(attempts[2].response_excerpt.as_deref(), Some("thanks"));
    assert!(attempts
        .iter()
        .all(|a| a.id.starts_with("att_") && a.event_id == id));
    assert_eq!(attempts[0].request_url, rx.url("/hook").to_string());

    let got = rx.requests();
    assert_eq!(got.len(), 3);
    // ±20 % jitter on 50 ms: never sooner than 40 ms.
    for pair in got.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(40));
    }
    worker.stop().await;
}

#[tokio::test]
async fn retry_after_is_respected() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::start(vec![Reply::status(503).header("retry-after", "1")]).await;
    let reg = seed(&store, Some(receiver(rx.url("/hook"))), None).await;
    let id = enqueue(&store, &reg, b"{}").await;
    let worker = RunningWorker::start(&store, config(&[10]));
    worker.wake.notify_one();

    wait_for_status(&store, &id, EventStatus::Delivered, WITHIN).await;
    let got = rx.requests();
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before Retry-After"
    );
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}");
    worker.stop().await;
}

#[tokio::test]
async fn a_registration_schedule_overrides_the_default_and_exhaustion_fails() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::with_fallback(vec![], Reply::status(500)).await;
    // The worker's own schedule would retry three times; the registration's once.
    let schedule = RetrySchedule(vec![Duration::from_millis(20)]);
    let reg = seed(&store, Some(receiver(rx.url("/hook"))), Some(schedule)).await;
    let id = enqueue(&store, &reg, b"{}").await;
    let worker = RunningWorker::start(&store, config(&[20, 20, 20]));
    worker.wake.notify_one();

    let event = wait_for_status(&store, &id, EventStatus::Failed, WITHIN).await;
    assert_eq!(event.attempts, 2);
    assert_eq!(event.last_response_status, Some(500));
    assert_eq!(event.next_attempt_at, None);
    assert!(event.last_error.unwrap().contains("500"));
    assert_eq!(store.list_attempts(&id).await.unwrap().len(), 2);
    // Nothing more is attempted once failed.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(rx.requests().len(), 2);
    worker.stop().await;
}

#[tokio::test]
async fn forwarded_request_carries_auth_and_standard_webhooks_headers() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::start(vec![]).await;
    let mut to = receiver(rx.url("/tenants/{tenant}/hook?keep=1"));
    to.auth
        .headers
        .insert("Authorization".into(), "Bearer rcv-token".into());
    to.auth.query.insert("token".into(), "q-secret".into());
    to.auth.params.insert("tenant".into(), "t-42".into());
    to.auth
        .body
        .insert("source".into(), serde_json::json!("hookline"));
    let reg = seed(&store, Some(to), None).await;
    let id = enqueue(&store, &reg, br#"{"order":7}"#).await;
    let worker = RunningWorker::start(&store, config(&[]));
    worker.wake.notify_one();

    wait_for_status(&store, &id, EventStatus::Delivered, WITHIN).await;
    let got = rx.requests().remove(0);
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/tenants/t-42/hook");
    assert_eq!(got.query.as_deref(), Some("keep=1&token=q-secret"));
    assert_eq!(got.headers["authorization"], "Bearer rcv-token");
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.headers["x-provider-trace"], "trace-1");
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body, serde_json::json!({"order": 7, "source": "hookline"}));

    // Standard Webhooks: the event id, and a signature the receiver can check
    // with the registration's signing secret.
    assert_eq!(got.headers["webhook-id"], id.as_str());
    let inbound = InboundRequest {
        method: &got.method,
        headers: &got.headers,
        query: got.query.as_deref(),
        body: &got.body,
    };
    let scheme = Verification::StandardWebhooks {
        tolerance_secs: None,
    };
    let now = Millis::now().unix_seconds();
    verify(&scheme, Some(&reg.signing_secret), &inbound, now).expect("signature verifies");
    let other = hookline_core::ids::new_signing_secret();
    assert!(
        verify(&scheme, Some(&other), &inbound, now).is_err(),
        "a check that can fail"
    );

    // The recorded URL does not show the injected credential.
    let attempt = store.list_attempts(&id).await.unwrap().remove(0);
    assert!(
        !attempt.request_url.contains("q-secret"),
        "{}",
        attempt.request_url
    );
    assert!(
        attempt.request_url.contains("token=redacted"),
        "{}",
        attempt.request_url
    );
    worker.stop().await;
}

#[tokio::test]
async fn wake_delivers_without_waiting_for_the_poll_interval() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::start(vec![]).await;
    let reg = seed(&store, Some(receiver(rx.url("/hook"))), None).await;
    // Poll interval 30 s (see `config`): only the wake-up can be quick.
    let worker = RunningWorker::start(&store, config(&[]));
    // Let the worker find nothing and go to sleep.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let id = enqueue(&store, &reg, b"{}").await;
    // `notify_waiters` stores no permit: the worker must already be listening.
    worker.wake.notify_waiters();
    rx.wait_for(1, Duration::from_secs(2)).await;
    wait_for_status(&store, &id, EventStatus::Delivered, Duration::from_secs(2)).await;

    // And again with `notify_one`, now that the worker is idle once more.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = enqueue(&store, &reg, b"{}").await;
    worker.wake.notify_one();
    wait_for_status(&store, &id, EventStatus::Delivered, Duration::from_secs(2)).await;
    worker.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_an_in_flight_delivery_and_records_it() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::start(vec![Reply::status(200)
        .body("late")
        .delay(Duration::from_millis(400))])
    .await;
    let reg = seed(&store, Some(receiver(rx.url("/hook"))), None).await;
    let id = enqueue(&store, &reg, b"{}").await;
    let worker = RunningWorker::start(&store, config(&[]));
    worker.wake.notify_one();

    rx.wait_for(1, WITHIN).await;
    worker.stop().await;

    // Recorded before the worker returned, not after.
    let (event, _) = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Delivered);
    let attempts = store.list_attempts(&id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].response_excerpt.as_deref(), Some("late"));
    assert!(
        attempts[0].duration_ms >= 300,
        "{}",
        attempts[0].duration_ms
    );
    assert_eq!(
        store.release_leases(None).await.unwrap(),
        0,
        "no lease left behind"
    );
}

#[tokio::test]
async fn shutdown_past_the_grace_releases_the_lease() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::start(vec![Reply::status(200).delay(Duration::from_secs(10))]).await;
    let reg = seed(&store, Some(receiver(rx.url("/hook"))), None).await;
    let id = enqueue(&store, &reg, b"{}").await;
    let mut cfg = config(&[]);
    cfg.timeout = Duration::from_secs(20);
    cfg.lease = Duration::from_secs(60);
    cfg.shutdown_grace = Duration::from_millis(200);
    let worker = RunningWorker::start(&store, cfg);
    worker.wake.notify_one();

    rx.wait_for(1, WITHIN).await;
    worker.stop().await;

    // Not delivered, no attempt recorded, and claimable at once by another node.
    assert!(store.list_attempts(&id).await.unwrap().is_empty());
    let now = Millis::now();
    let claimed = store
        .claim_due(
            Lease::new("other-node", now, now + Duration::from_secs(60)),
            10,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event.id, id);
}

#[tokio::test]
async fn registration_without_receiver_holds_the_event() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let reg = seed(&store, None, None).await;
    let id = enqueue(&store, &reg, b"{}").await;
    let worker = RunningWorker::start(&store, config(&[]));
    worker.wake.notify_one();

    let event = wait_for_status(&store, &id, EventStatus::Held, WITHIN).await;
    assert_eq!(event.next_attempt_at, None);
    worker.stop().await;
}

#[tokio::test]
async fn refused_target_is_recorded_as_not_allowed() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx = TestReceiver::start(vec![]).await;
    let reg = seed(&store, Some(receiver(rx.localhost_url("/hook"))), None).await;
    let id = enqueue(&store, &reg, b"{}").await;
    let worker =
        RunningWorker::start_with_guard(&store, config(&[]), Arc::new(OutboundGuard::new(vec![])));
    worker.wake.notify_one();

    let event = wait_for_status(&store, &id, EventStatus::Failed, WITHIN).await;
    assert!(event
        .last_error
        .unwrap()
        .contains("HOOKLINE_ALLOWED_TARGETS"));
    let attempts = store.list_attempts(&id).await.unwrap();
    assert_eq!(
        attempts[0].error.as_ref().unwrap().kind,
        ErrorKind::TargetNotAllowed
    );
    assert!(rx.requests().is_empty());
    worker.stop().await;
}

#[tokio::test]
async fn concurrency_is_bounded() {
    init_log();
    let (store, _dir) = sqlite_store().await;
    let rx =
        TestReceiver::with_fallback(vec![], Reply::status(200).delay(Duration::from_millis(150)))
            .await;
    let reg = seed(&store, Some(receiver(rx.url("/hook"))), None).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(enqueue(&store, &reg, b"{}").await);
    }
    let mut cfg = config(&[]);
    cfg.concurrency = 2;
    let worker = RunningWorker::start(&store, cfg);
    worker.wake.notify_one();

    for id in &ids {
        wait_for_status(&store, id, EventStatus::Delivered, WITHIN).await;
    }
    assert_eq!(rx.requests().len(), 6);
    assert_eq!(rx.max_in_flight(), 2, "two at a time, and both slots used");
    worker.stop().await;
}

#[tokio::test]
async fn secrets_that_cannot_be_opened_fail_the_attempt_instead_of_holding_the_lease() {
    use hookline_store::{DocCipher, DynStore};
    init_log();
    let (raw, _dir) = sqlite_store().await;
    let written_with: DynStore = raw.with_cipher(Some(DocCipher::new(&DocCipher::generate_key())));
    let read_with: DynStore = raw.with_cipher(Some(DocCipher::new(&DocCipher::generate_key())));
    let rx = TestReceiver::start(vec![]).await;
    let mut target = receiver(rx.url("/hook"));
    target
        .auth
        .headers
        .insert("authorization".into(), "Bearer s3cret".into());
    // Sealed under one key, claimed by a worker with another; a second
    // registration stored in plain text is claimed in the same batch.
    let sealed = seed(&written_with, Some(target), None).await;
    let bad = enqueue(&written_with, &sealed, br#"{"n":1}"#).await;
    let mut plain = sealed.clone();
    plain.id = hookline_core::ids::new_id("reg");
    plain.link_id = hookline_core::ids::LinkId::generate();
    plain.access_tag = crate::support::tag("plain");
    plain.receiver = Some(receiver(rx.url("/plain")));
    raw.save_registrations(std::slice::from_ref(&plain))
        .await
        .unwrap();
    let good = enqueue(&raw, &plain, br#"{"n":2}"#).await;

    let worker = RunningWorker::start(&read_with, config(&[60_000]));
    worker.wake.notify_one();
    wait_for_status(&raw, &good, EventStatus::Delivered, WITHIN).await;
    let deadline = std::time::Instant::now() + WITHIN;
    let event = loop {
        let (event, _) = raw.get_event(&bad).await.unwrap().unwrap();
        if event.attempts > 0 || std::time::Instant::now() > deadline {
            break event;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    worker.stop().await;

    let hits = rx.requests();
    assert_eq!(hits.len(), 1, "only the readable one was sent: {hits:?}");
    assert_eq!(hits[0].path, "/plain");
    assert_eq!(event.attempts, 1, "{event:?}");
    assert_eq!(event.status, EventStatus::Delivering, "waiting to retry");
    assert!(
        event.next_attempt_at.unwrap() > Millis::now() + Duration::from_secs(30),
        "retried on its schedule, not at once: {event:?}"
    );
    let attempts = raw.list_attempts(&bad).await.unwrap();
    let error = attempts[0].error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::SecretUnreadable, "{error:?}");
    assert!(error.message.contains("secret key"), "{error:?}");
    // The lease ended with the attempt: nothing is left leased.
    assert_eq!(raw.release_leases(None).await.unwrap(), 0);
}
