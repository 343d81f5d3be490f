//! The delivery worker: leases due events from the store, forwards each to
//! its receiver, and records the attempt and what happens next.
//!
//! One loop claims work; each claimed event is delivered in its own task;
//! one writer task records results in batches (group commit). The loop only
//! claims as many events as it has free delivery slots, so a claimed event
//! starts at once and its lease is spent on the call, not on waiting.
//!
//! Delivery is at least once: a result that could not be recorded, or an
//! attempt cut short by shutdown, leaves the event leased until its lease is
//! released or expires, and it is then delivered again. Receivers deduplicate
//! on `webhook-id`, which is the event id on every attempt.

use crate::client::{send, Response, SendError};
use crate::guard::OutboundGuard;
use hookline_core::event::{Attempt, AttemptError, Completion, ErrorKind, NextStep};
use hookline_core::outbound::{build_forward, Signing};
use hookline_core::retry::RetrySchedule;
use hookline_core::time::Millis;
use hookline_store::{Claimed, DynStore, Lease};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How a node's worker claims and delivers.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Lease owner; names this node in the store so that its leases can be
    /// told apart and released on shutdown.
    pub node_id: String,
    /// Most deliveries in flight at once: bounds sockets and memory.
    pub concurrency: usize,
    /// Most events claimed per store round trip.
    pub batch: u32,
    /// How long a claim is exclusive. Must exceed `timeout`, or another node
    /// could claim an event while this one is still calling its receiver.
    pub lease: Duration,
    /// Per-attempt limit for the receiver's response.
    pub timeout: Duration,
    /// Longest idle sleep: the fallback when no wake-up arrives (another
    /// node's ingest, an expired lease of a dead node).
    pub poll_interval: Duration,
    /// Used when a registration has no `retry_schedule` of its own.
    pub schedule: RetrySchedule,
    /// On shutdown, how long in-flight deliveries may finish, and then how
    /// long recording their results may take.
    pub shutdown_grace: Duration,
}

/// Names of the metrics the worker records through the `metrics` facade;
/// the server describes and exports them.
pub mod metric_names {
    /// Events a receiver acknowledged (by product, app, env).
    pub const EVENTS_DELIVERED: &str = "hookline_events_delivered_total";
    /// Events whose retries ran out.
    pub const EVENTS_FAILED: &str = "hookline_events_failed_total";
    /// Attempts, with an `outcome` label (`success`, `failure`).
    pub const ATTEMPTS: &str = "hookline_delivery_attempts_total";
    /// Histogram: receipt to acknowledgement, in seconds.
    pub const DELIVERY_LATENCY: &str = "hookline_delivery_latency_seconds";
    /// Histogram: one attempt, in seconds.
    pub const ATTEMPT_DURATION: &str = "hookline_delivery_attempt_duration_seconds";
}

/// Records an attempt's outcome in the metrics (a no-op without a recorder).
fn record_metrics(claimed: &Claimed, next: &NextStep, duration_ms: u64) {
    use metric_names::*;
    let reg = &claimed.registration;
    let labels = [
        ("product", reg.product_tag.to_string()),
        ("app", reg.app_tag.to_string()),
        ("env", reg.env.to_string()),
    ];
    let outcome = if *next == NextStep::Delivered {
        "success"
    } else {
        "failure"
    };
    let mut with_outcome = labels.to_vec();
    with_outcome.push(("outcome", outcome.to_owned()));
    metrics::counter!(ATTEMPTS, &with_outcome).increment(1);
    metrics::histogram!(ATTEMPT_DURATION, &labels).record(duration_ms as f64 / 1000.0);
    match next {
        NextStep::Delivered => {
            metrics::counter!(EVENTS_DELIVERED, &labels).increment(1);
            let latency_ms = (Millis::now().0 - claimed.event.received_at.0).max(0);
            metrics::histogram!(DELIVERY_LATENCY, &labels).record(latency_ms as f64 / 1000.0);
        }
        NextStep::Failed => metrics::counter!(EVENTS_FAILED, &labels).increment(1),
        NextStep::RetryAt(_) | NextStep::Held => {}
    }
}

/// Slack between the attempt timeout and the lease, for recording the result.
const LEASE_SLACK: Duration = Duration::from_secs(30);
/// Most results written to the store in one `complete` call.
const MAX_GROUP: usize = 256;
/// Backoff bounds when the store refuses to record results.
const WRITE_BACKOFF_MIN: Duration = Duration::from_millis(50);
const WRITE_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Wait before claiming again after the store failed a claim (at most the
/// poll interval), so a brief outage does not stall deliveries for long.
const CLAIM_RETRY: Duration = Duration::from_secs(1);
/// After a wake-up, how long the loop lets more events arrive before it
/// claims, and the result writer lets more results arrive before it writes.
/// Each claim and each write is a turn on the database's single writer
/// (SQLite) that ingest commits queue behind; gathering for this long halves
/// their number at 1,000 events/s for at most this much added latency.
const GATHER: Duration = Duration::from_millis(2);
/// An idle loop never spins faster than this, whatever is configured.
const MIN_POLL: Duration = Duration::from_millis(10);

impl DeliveryConfig {
    /// The defaults: 64 in flight, claims of 32, 30 s per attempt, leases of
    /// timeout + 30 s, 1 s idle poll, 30 s shutdown grace.
    pub fn new(node_id: impl Into<String>) -> Self {
        let timeout = Duration::from_secs(30);
        DeliveryConfig {
            node_id: node_id.into(),
            concurrency: 64,
            batch: 32,
            lease: timeout + LEASE_SLACK,
            timeout,
            poll_interval: Duration::from_secs(1),
            schedule: RetrySchedule::default(),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    /// Repairs values that would stall or endanger the loop, saying so.
    fn sanitized(mut self) -> Self {
        if self.lease <= self.timeout {
            let lease = self.timeout + LEASE_SLACK;
            tracing::warn!(?lease, timeout = ?self.timeout, "delivery lease must exceed the attempt timeout; raising it");
            self.lease = lease;
        }
        self.concurrency = self.concurrency.max(1);
        self.batch = self.batch.max(1);
        self.poll_interval = self.poll_interval.max(MIN_POLL);
        self
    }
}

/// What every delivery task needs; shared, never mutated.
struct Shared {
    client: reqwest::Client,
    guard: Arc<OutboundGuard>,
    timeout: Duration,
    schedule: RetrySchedule,
    node_id: String,
}

/// Starts the delivery worker. It runs until `shutdown` is cancelled, then
/// stops claiming, lets in-flight deliveries finish (up to
/// `shutdown_grace`), records their results and releases the leases it
/// still holds before the returned task ends.
///
/// `wake` is notified by ingest after it commits new events
/// (`notify_one` or `notify_waiters`), so they are delivered without
/// waiting for the poll interval.
pub fn spawn(
    store: DynStore,
    client: reqwest::Client,
    guard: Arc<OutboundGuard>,
    cfg: DeliveryConfig,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let cfg = cfg.sanitized();
    let shared = Arc::new(Shared {
        client,
        guard,
        timeout: cfg.timeout,
        schedule: cfg.schedule.clone(),
        node_id: cfg.node_id.clone(),
    });
    tokio::spawn(run(store, shared, cfg, wake, shutdown))
}

async fn run(
    store: DynStore,
    shared: Arc<Shared>,
    cfg: DeliveryConfig,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    // Delivery slots; a task holds one from claim to queued result.
    let slots = Arc::new(Semaphore::new(cfg.concurrency));
    // Bounded, so that a store that cannot keep up slows claiming down.
    let (done_tx, done_rx) = mpsc::channel::<Completion>(cfg.concurrency);
    // The writer signals after recording results: a retry time or a freed
    // lease may make something due sooner than the loop planned to sleep.
    let settled = Arc::new(Notify::new());
    // Cancelled when shutdown can wait no longer for the store.
    let give_up = CancellationToken::new();
    let mut writer = tokio::spawn(write_results(
        store.clone(),
        done_rx,
        settled.clone(),
        give_up.clone(),
    ));
    let mut inflight = JoinSet::new();
    tracing::info!(node_id = %cfg.node_id, concurrency = cfg.concurrency, "delivery worker started");

    loop {
        while let Some(joined) = inflight.try_join_next() {
            log_join(joined);
        }
        // Listen before looking for work: a `notify_waiters` that lands
        // while we claim would otherwise be missed until the next poll.
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if shutdown.is_cancelled() {
            break;
        }

        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = slots.acquire() => continue,
            }
        }
        let want = cfg.batch.min(u32::try_from(free).unwrap_or(u32::MAX));
        let Ok(mut reserved) = slots.clone().acquire_many_owned(want).await else {
            break; // The semaphore is never closed.
        };

        let now = Millis::now();
        let claimed = match store
            .claim_due(Lease::new(&cfg.node_id, now, now + cfg.lease), want)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                drop(reserved);
                tracing::error!(error = %e, "claiming due events failed; retrying");
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(cfg.poll_interval.min(CLAIM_RETRY)) => continue,
                }
            }
        };
        let got = claimed.len();
        for item in claimed {
            // `split` cannot fail: at most `want` events come back.
            let Some(slot) = reserved.split(1) else { break };
            let span = tracing::info_span!(
                "delivery",
                event_id = %item.event.id,
                delivery_id = %item.delivery.id,
                registration_id = %item.registration.id,
                attempt = item.delivery.attempts + 1,
            );
            let shared = shared.clone();
            let done = done_tx.clone();
            inflight.spawn(
                async move {
                    let completion = deliver(&shared, &item).await;
                    if done.send(completion).await.is_err() {
                        tracing::error!("result writer is gone; this attempt will not be recorded");
                    }
                    drop(slot);
                }
                .instrument(span),
            );
        }
        drop(reserved);
        if got == want as usize {
            continue; // Possibly more due right now.
        }

        let idle = idle_for(&store, now, cfg.poll_interval).await;
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = &mut woken => tokio::time::sleep(GATHER).await,
            _ = settled.notified() => {}
            _ = tokio::time::sleep(idle) => {}
        }
    }

    tracing::info!(in_flight = inflight.len(), "delivery worker stopping");
    let drained = tokio::time::timeout(cfg.shutdown_grace, async {
        while let Some(joined) = inflight.join_next().await {
            log_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            aborted = inflight.len(),
            "deliveries still running after the shutdown grace; aborting them (they will be delivered again)"
        );
        inflight.abort_all();
        while inflight.join_next().await.is_some() {}
    }

    // Every sender is gone now, so the writer ends once it has drained.
    drop(done_tx);
    if tokio::time::timeout(cfg.shutdown_grace, &mut writer)
        .await
        .is_err()
    {
        give_up.cancel();
        let _ = writer.await;
    }

    match store.release_leases(Some(&cfg.node_id)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(released = n, "released leases of undelivered events"),
        Err(e) => {
            tracing::error!(error = %e, "releasing leases failed; they will expire on their own")
        }
    }
    tracing::info!("delivery worker stopped");
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            tracing::error!(error = %e, "a delivery task panicked; its event is retried when the lease expires");
        }
    }
}

/// How long to sleep when nothing was claimable at `claimed_at`.
async fn idle_for(store: &DynStore, claimed_at: Millis, poll: Duration) -> Duration {
    match store.next_due().await {
        // Due after the claim: sleep until then (possibly not at all).
        Ok(Some(due)) if due > claimed_at => {
            let ms = u64::try_from(due.0 - Millis::now().0).unwrap_or(0);
            Duration::from_millis(ms).min(poll)
        }
        // Due already but not claimed, so leased: it comes back with a
        // result (which wakes the loop) or when the lease expires.
        Ok(_) => poll,
        Err(e) => {
            tracing::warn!(error = %e, "reading the next due time failed");
            poll
        }
    }
}

/// Records results in groups: whatever is queued (up to [`MAX_GROUP`]) goes
/// into one `complete` call, so a burst of finished deliveries costs one
/// transaction. A failed write is retried with backoff, holding back the
/// next group, until it succeeds or shutdown gives up on it.
async fn write_results(
    store: DynStore,
    mut results: mpsc::Receiver<Completion>,
    settled: Arc<Notify>,
    give_up: CancellationToken,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while results.recv_many(&mut group, MAX_GROUP).await > 0 {
        if group.len() < MAX_GROUP {
            tokio::time::sleep(GATHER).await;
            while group.len() < MAX_GROUP {
                match results.try_recv() {
                    Ok(c) => group.push(c),
                    Err(_) => break,
                }
            }
        }
        let mut backoff = WRITE_BACKOFF_MIN;
        loop {
            match store.complete(&group).await {
                Ok(()) => break,
                Err(e) if give_up.is_cancelled() => {
                    for c in &group {
                        tracing::error!(
                            event_id = %c.attempt.event_id,
                            attempt = c.attempt.number,
                            next = ?c.next,
                            error = %e,
                            "delivery result lost at shutdown; the event will be delivered again"
                        );
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, results = group.len(), retry_in = ?backoff, "recording delivery results failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = give_up.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(WRITE_BACKOFF_MAX);
                }
            }
        }
        group.clear();
        settled.notify_one();
    }
}

/// Makes one attempt for a claimed delivery and decides what happens next.
async fn deliver(shared: &Shared, claimed: &Claimed) -> Completion {
    let event = &claimed.event;
    let reg = &claimed.registration;
    let number = claimed.delivery.attempts + 1;
    let started_at = Millis::now();
    let clock = Instant::now();

    let receiver = match &reg.receiver {
        Some(r) if reg.active => r,
        _ => return held(shared, claimed, started_at),
    };
    if let Some(why) = &claimed.unreadable_secrets {
        return unreadable(shared, claimed, started_at, why);
    }

    // During a rotation the old secret keeps signing beside the new one.
    let secrets = reg.signing_secrets(started_at);
    let signing = Signing {
        msg_id: &event.id,
        timestamp: started_at.unix_seconds(),
        secrets: &secrets,
    };
    let (request_url, outcome) = match build_forward(receiver, &claimed.payload, &signing) {
        Ok(forward) => {
            // `params` are auth too: show the configured path, placeholders intact.
            let mut shown = forward.url.clone();
            shown.set_path(receiver.url.path());
            let url = recorded_url(&shown, &receiver.auth.query);
            (
                url,
                send(&shared.client, &shared.guard, &forward, shared.timeout).await,
            )
        }
        Err(e) => (
            recorded_url(&receiver.url, &receiver.auth.query),
            Err(SendError {
                kind: ErrorKind::Request,
                message: e.to_string(),
            }),
        ),
    };
    let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);

    let (response, error, retry_after) = match outcome {
        Ok(r) if r.is_success() => (Some(r), None, None),
        Ok(r) => {
            let error = status_error(&r);
            let retry_after = retry_after(&r.headers, Millis::now().to_system_time());
            (Some(r), Some(error), retry_after)
        }
        Err(e) => {
            // Stored on the attempt and the event, shown and logged.
            let auth = receiver.auth.values();
            let e = e.masking(
                auth.iter()
                    .map(String::as_str)
                    .chain(secrets.iter().copied()),
            );
            (
                None,
                Some(AttemptError {
                    kind: e.kind,
                    message: e.message,
                }),
                None,
            )
        }
    };

    let next = match &error {
        None => NextStep::Delivered,
        Some(_) => retry_or_fail(shared, claimed, retry_after),
    };
    log_outcome(&next, &error, duration_ms);
    record_metrics(claimed, &next, duration_ms);
    let (response_status, response_excerpt) = match response {
        Some(r) => (Some(r.status), Some(r.excerpt).filter(|s| !s.is_empty())),
        None => (None, None),
    };
    Completion {
        lease_owner: shared.node_id.clone(),
        attempt: Attempt {
            id: hookline_core::ids::new_id("att"),
            event_id: event.id.clone(),
            delivery_id: claimed.delivery.id.clone(),
            number,
            started_at,
            duration_ms,
            request_url,
            response_status,
            response_excerpt,
            error,
        },
        next,
    }
}

/// After a failed attempt: the next one on the registration's schedule (or
/// the worker's), or `Failed` once it has run out.
fn retry_or_fail(shared: &Shared, claimed: &Claimed, retry_after: Option<Duration>) -> NextStep {
    let reg = &claimed.registration;
    let schedule = reg.retry_schedule.as_ref().unwrap_or(&shared.schedule);
    let d = &claimed.delivery;
    let failed_in_cycle = (d.attempts + 1).saturating_sub(d.retry_base);
    match schedule.next_delay(failed_in_cycle, retry_after, &mut rand::thread_rng()) {
        Some(delay) => NextStep::RetryAt(Millis::now() + delay),
        None => NextStep::Failed,
    }
}

fn log_outcome(next: &NextStep, error: &Option<AttemptError>, duration_ms: u64) {
    match (next, error) {
        (NextStep::Delivered, _) => tracing::debug!(duration_ms, "delivered"),
        (NextStep::RetryAt(at), Some(e)) => {
            tracing::warn!(kind = ?e.kind, error = %e.message, retry_at = %at.to_rfc3339(), "delivery attempt failed")
        }
        (_, e) => {
            tracing::warn!(error = ?e.as_ref().map(|e| &e.message), "delivery failed; retries exhausted")
        }
    }
}

/// The registration's secrets could not be opened (see
/// `hookline_store::sealed`): nothing is sent, and the attempt is recorded
/// as failed, so the lease ends now and the event follows its retry
/// schedule like any failed delivery: delivered once the secrets are set
/// again (or by a node that can open them), failed when the schedule runs
/// out, and replayable from there.
fn unreadable(shared: &Shared, claimed: &Claimed, started_at: Millis, why: &str) -> Completion {
    let error = Some(AttemptError {
        kind: ErrorKind::SecretUnreadable,
        message: format!(
            "nothing was sent: the registration's secrets cannot be opened ({why}); \
             set its receiver auth and secrets again"
        ),
    });
    let next = retry_or_fail(shared, claimed, None);
    log_outcome(&next, &error, 0);
    record_metrics(claimed, &next, 0);
    no_call_completion(shared, claimed, started_at, error, next)
}

/// The completion of an attempt that made no call (nothing was sent).
fn no_call_completion(
    shared: &Shared,
    claimed: &Claimed,
    started_at: Millis,
    error: Option<AttemptError>,
    next: NextStep,
) -> Completion {
    Completion {
        lease_owner: shared.node_id.clone(),
        attempt: Attempt {
            id: hookline_core::ids::new_id("att"),
            event_id: claimed.event.id.clone(),
            delivery_id: claimed.delivery.id.clone(),
            number: claimed.delivery.attempts + 1,
            started_at,
            duration_ms: 0,
            request_url: String::new(),
            response_status: None,
            response_excerpt: None,
            error,
        },
        next,
    }
}

/// The registration has no receiver (or was retired) since the event was
/// queued: park the event as `held` until a receiver is set.
///
/// `Completion` always carries an attempt, so the parking is recorded as
/// one that made no call, which also tells monitoring why the event waits.
fn held(shared: &Shared, claimed: &Claimed, started_at: Millis) -> Completion {
    tracing::info!("registration has no active receiver; holding the event");
    let error = Some(AttemptError {
        kind: ErrorKind::Request,
        message: "the registration has no active receiver; the event is held until one is set"
            .into(),
    });
    no_call_completion(shared, claimed, started_at, error, NextStep::Held)
}

fn status_error(r: &Response) -> AttemptError {
    let reason = reqwest::StatusCode::from_u16(r.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut message = format!("receiver answered {} {reason}", r.status)
        .trim_end()
        .to_owned();
    if (300..400).contains(&r.status) {
        let location = r
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)");
        message.push_str(&format!(
            " redirecting to {location}; redirects are not followed"
        ));
    }
    AttemptError {
        kind: ErrorKind::Status,
        message,
    }
}

/// The receiver's `Retry-After`, as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The URL as recorded on the attempt: credentials that auth injected into
/// the query, and any password in the URL, are masked, because attempts are
/// shown in monitoring.
fn recorded_url(url: &url::Url, auth_query: &std::collections::BTreeMap<String, String>) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
    }
    if !auth_query.is_empty() && url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if auth_query.contains_key(k.as_ref()) {
                    "redacted".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        h.insert(RETRY_AFTER, later.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        h.insert(RETRY_AFTER, past.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn recorded_url_masks_injected_credentials() {
        let mut q = std::collections::BTreeMap::new();
        q.insert("token".to_owned(), "s3cret".to_owned());
        let url = url::Url::parse("https://u:pw@r.example/h?keep=1&token=s3cret").unwrap();
        let shown = recorded_url(&url, &q);
        assert_eq!(
            shown,
            "https://u:redacted@r.example/h?keep=1&token=redacted"
        );
        let plain = url::Url::parse("https://r.example/h?a=1").unwrap();
        assert_eq!(
            recorded_url(&plain, &Default::default()),
            "https://r.example/h?a=1"
        );
    }

    #[test]
    fn lease_is_raised_above_the_timeout() {
        let mut cfg = DeliveryConfig::new("n");
        cfg.timeout = Duration::from_secs(100);
        cfg.concurrency = 0;
        let cfg = cfg.sanitized();
        assert!(cfg.lease > cfg.timeout);
        assert_eq!(cfg.concurrency, 1);
    }
}
