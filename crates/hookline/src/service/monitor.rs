//! Monitoring operations: traffic statistics for charts, bulk replay jobs
//! and the background task that runs them, registration health checks and
//! their notifications, and the polling behind the live event stream.
//!
//! Everything here reads the database, not this node's memory, so that
//! several nodes sharing one database agree: a stream sees events another
//! node ingested, a replay job left by a stopped node is resumed by any
//! node, and one health change is notified once.

use super::Gateway;
use crate::config::{HealthConfig, ReplayConfig};
use crate::error::{Error, Result};
use hookline_core::event::{Event, EventStatus};
use hookline_core::ids::new_id;
use hookline_core::model::HttpMethod;
use hookline_core::outbound::ForwardRequest;
use hookline_core::time::Millis;
use hookline_store::{
    EventFilter, RegistrationHealth, RegistrationLoad, ReplayFilter, ReplayJob, ReplayStatus,
    Requeue, TrafficBucket, TrafficQuery,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What the monitoring operations need besides the [`Gateway`].
#[derive(Clone)]
pub struct Monitor {
    pub gateway: Gateway,
    pub replay: ReplayConfig,
    pub health: HealthConfig,
    /// The outbound client health notifications are sent with (guarded).
    pub client: reqwest::Client,
    /// Names this node as the holder of replay job leases.
    pub node_id: String,
    /// Wakes the replay runner when a job was created.
    pub replay_wake: Arc<Notify>,
}

/// Longest chart window.
pub const MAX_STATS_MINUTES: u32 = 24 * 60;
/// Delivery latencies read for percentiles, at most.
const MAX_LATENCY_SAMPLES: u32 = 50_000;

/// Traffic of a window, ready for charts.
#[derive(Debug, Clone)]
pub struct Stats {
    pub since: Millis,
    pub until: Millis,
    pub bucket_ms: i64,
    pub buckets: Vec<TrafficBucket>,
    pub received: u64,
    pub rejected: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Successful attempts over attempts; `None` without attempts.
    pub success_rate: Option<f64>,
    pub latency: Option<Percentiles>,
}

/// Delivery latency (receipt → acknowledgement), in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    pub count: u64,
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
    pub max: i64,
}

/// Nearest-rank percentiles of `values`.
pub fn percentiles(mut values: Vec<i64>) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let at = |p: f64| {
        let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    };
    Some(Percentiles {
        count: values.len() as u64,
        p50: at(50.0),
        p90: at(90.0),
        p99: at(99.0),
        max: values[values.len() - 1],
    })
}

/// The inputs of a bulk replay.
#[derive(Debug, Clone, Default)]
pub struct NewReplay {
    pub filter: ReplayFilter,
    /// Events per second; the configured rate when `None`.
    pub rate: Option<u32>,
}

impl Monitor {
    /// Per-bucket traffic of the last `minutes` (one registration, or all).
    pub async fn stats(
        &self,
        registration_id: Option<String>,
        minutes: u32,
        bucket_secs: u32,
    ) -> Result<Stats> {
        if minutes == 0 || minutes > MAX_STATS_MINUTES {
            return Err(Error::invalid(
                "invalid_window",
                format!("`minutes` must be between 1 and {MAX_STATS_MINUTES}"),
            ));
        }
        if bucket_secs == 0 || u64::from(bucket_secs) > u64::from(minutes) * 60 {
            return Err(Error::invalid(
                "invalid_bucket",
                "`bucket` must be between 1 second and the whole window",
            ));
        }
        if let Some(id) = &registration_id {
            self.gateway.registration(id).await?;
        }
        let bucket_ms = i64::from(bucket_secs) * 1000;
        // Buckets on whole multiples, so that a chart refreshed a few
        // seconds later shows the same buckets.
        let now = Millis::now().0;
        let until = Millis((now / bucket_ms + 1) * bucket_ms);
        let since = Millis(until.0 - i64::from(minutes) * 60_000);
        let traffic = self
            .gateway
            .store
            .traffic(&TrafficQuery {
                registration_id,
                since,
                until,
                bucket_ms,
                max_latencies: MAX_LATENCY_SAMPLES,
            })
            .await?;
        let sum = |f: fn(&TrafficBucket) -> u64| traffic.buckets.iter().map(f).sum::<u64>();
        let (received, rejected, delivered, failed) = (
            sum(|b| b.received),
            sum(|b| b.rejected),
            sum(|b| b.delivered),
            sum(|b| b.failed),
        );
        let attempts = delivered + failed;
        Ok(Stats {
            since,
            until,
            bucket_ms,
            received,
            rejected,
            delivered,
            failed,
            success_rate: (attempts > 0).then(|| delivered as f64 / attempts as f64),
            latency: percentiles(traffic.latencies_ms),
            buckets: traffic.buckets,
        })
    }

    // --- bulk replay -------------------------------------------------------

    fn replay_rate(&self, asked: Option<u32>) -> Result<u32> {
        let max = self.replay.rate;
        match asked {
            None => Ok(max),
            Some(r) if r >= 1 && r <= max => Ok(r),
            Some(r) => Err(Error::invalid(
                "invalid_rate",
                format!(
                    "`rate` must be between 1 and {max} events per second (replay.rate), got {r}"
                ),
            )),
        }
    }

    /// How many events a replay with this filter would go through now.
    pub async fn count_replay(&self, filter: &ReplayFilter) -> Result<u64> {
        Ok(self
            .gateway
            .store
            .count_events(&filter.to_event_filter())
            .await?)
    }

    /// What [`Self::create_replay`] would go through now: checks the rate
    /// as creating would, then counts.
    pub async fn preview_replay(&self, input: &NewReplay) -> Result<u64> {
        self.replay_rate(input.rate)?;
        self.count_replay(&input.filter).await
    }

    /// Creates a job over the events matching `filter` received until now;
    /// the runner picks it up at once.
    ///
    /// Events received after the job was created are not part of it. The
    /// bound is an event id minted here (`before_id`), not a time: ids come
    /// from one monotonic generator per process, so on one node every event
    /// received after this point has a larger id, even in the same
    /// millisecond (a `received_at < now + 1 ms` bound let those in). With
    /// several nodes on PostgreSQL, ids minted by other nodes sort by their
    /// own clocks and, within a millisecond, at random: an event another
    /// node received within the nodes' clock offset (plus a millisecond) of
    /// the creation may fall on either side, as it would for any time bound.
    /// `total` counts what is stored when the job is created: an event
    /// received just before it but still in group commit is replayed
    /// without being counted.
    pub async fn create_replay(&self, input: NewReplay) -> Result<ReplayJob> {
        let rate = self.replay_rate(input.rate)?;
        let mut filter = input.filter;
        filter.before_id = Some(new_id("evt"));
        let now = Millis::now();
        let total = self.count_replay(&filter).await?;
        let job = ReplayJob {
            id: new_id("rpl"),
            status: ReplayStatus::Running,
            filter,
            rate,
            total,
            replayed: 0,
            skipped: 0,
            cursor: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            owner: None,
            lease_until: None,
        };
        self.gateway.store.insert_replay_job(&job).await?;
        tracing::info!(replay_id = %job.id, total, rate, "bulk replay created");
        self.replay_wake.notify_one();
        Ok(job)
    }

    pub async fn replay_job(&self, id: &str) -> Result<ReplayJob> {
        self.gateway
            .store
            .get_replay_job(id)
            .await?
            .ok_or_else(|| Error::not_found("replay job", id))
    }

    pub async fn replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>> {
        Ok(self.gateway.store.list_replay_jobs(limit).await?)
    }

    pub async fn cancel_replay(&self, id: &str) -> Result<ReplayJob> {
        self.gateway
            .store
            .cancel_replay_job(id, Millis::now())
            .await?
            .ok_or_else(|| Error::not_found("replay job", id))
    }

    /// The replay runner: leases running jobs one step (about a second of
    /// events) at a time, round-robin, until `shutdown`; then frees its
    /// leases so that a restart resumes at once.
    pub async fn run_replays(self, shutdown: CancellationToken) {
        const IDLE_POLL: Duration = Duration::from_secs(2);
        const ERROR_PAUSE: Duration = Duration::from_secs(1);
        let store = self.gateway.store.clone();
        loop {
            let woken = self.replay_wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if shutdown.is_cancelled() {
                break;
            }
            let now = Millis::now();
            let pause = match store
                .claim_replay_job(&self.node_id, now, now + self.replay.lease)
                .await
            {
                Ok(Some(job)) => {
                    let span = tracing::info_span!("replay", replay_id = %job.id);
                    if let Err(e) = self.replay_step(job, &shutdown).instrument(span).await {
                        tracing::error!(error = %e, "bulk replay step failed; retrying");
                        Some(ERROR_PAUSE)
                    } else {
                        None
                    }
                }
                Ok(None) => Some(IDLE_POLL),
                Err(e) => {
                    tracing::error!(error = %e, "claiming a replay job failed");
                    Some(ERROR_PAUSE)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = &mut woken => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        match store.release_replay_jobs(&self.node_id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released bulk replay jobs"),
            Err(e) => {
                tracing::warn!(error = %e, "releasing bulk replay jobs failed; their leases will expire")
            }
        }
    }

    /// Replays one page of a leased job at its rate and records progress;
    /// finishes the job when nothing is left.
    async fn replay_step(&self, mut job: ReplayJob, shutdown: &CancellationToken) -> Result<()> {
        let store = &self.gateway.store;
        let rate = job.rate.max(1);
        let mut filter: EventFilter = job.filter.to_event_filter();
        // About one second of work per step, so progress is saved (and a
        // cancel noticed) every second.
        filter.limit = rate.min(200);
        let page = store
            .list_events_after(&filter, job.cursor.as_deref())
            .await?;
        if page.is_empty() {
            let now = Millis::now();
            job.status = ReplayStatus::Completed;
            job.finished_at = Some(now);
            job.updated_at = now;
            job.owner = None;
            job.lease_until = None;
            if store.update_replay_job(&job, &self.node_id).await? {
                tracing::info!(
                    replayed = job.replayed,
                    skipped = job.skipped,
                    "bulk replay completed"
                );
            }
            return Ok(());
        }
        let period = Duration::from_secs_f64(1.0 / f64::from(rate));
        let start = Instant::now();
        for (i, event) in page.iter().enumerate() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(start + period * i as u32) => {}
            }
            match store.requeue_event(&event.id, Millis::now()).await? {
                Requeue::Queued(_) => {
                    job.replayed += 1;
                    crate::metrics::record::replayed();
                    self.gateway.wake_workers();
                }
                Requeue::NotFound | Requeue::NotAllowed(_) => job.skipped += 1,
            }
            job.cursor = Some(event.id.clone());
        }
        let now = Millis::now();
        job.updated_at = now;
        job.lease_until = Some(now + self.replay.lease);
        if !store.update_replay_job(&job, &self.node_id).await? {
            tracing::info!("bulk replay was cancelled or taken over; stopping it here");
            return Ok(());
        }
        // Keep the pace across pages.
        let until = start + period * page.len() as u32;
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep_until(until) => {}
        }
        Ok(())
    }

    // --- health ------------------------------------------------------------

    /// Recorded health of every registration that has a record.
    pub async fn health_records(&self) -> Result<Vec<RegistrationHealth>> {
        Ok(self.gateway.store.list_registration_health().await?)
    }

    /// Judges one registration's load against the thresholds.
    pub fn judge(&self, load: &RegistrationLoad, now: Millis) -> RegistrationHealth {
        let h = &self.health;
        let mut reasons = Vec::new();
        if load.attempts > 0 && load.attempts >= h.min_attempts.max(1) {
            let rate = load.failed_attempts as f64 / load.attempts as f64;
            if rate >= h.failure_rate {
                reasons.push(format!(
                    "{} of {} attempts failed in the last {} ({:.0} %)",
                    load.failed_attempts,
                    load.attempts,
                    humantime::format_duration(h.window),
                    rate * 100.0
                ));
            }
        }
        if h.backlog > 0 && load.backlog >= h.backlog {
            reasons.push(format!(
                "{} events queued (limit {})",
                load.backlog, h.backlog
            ));
        }
        if let Some(oldest) = load.oldest_backlog_received_at {
            let age = Duration::from_millis(u64::try_from(now.0 - oldest.0).unwrap_or(0));
            if !h.backlog_age.is_zero() && age >= h.backlog_age {
                reasons.push(format!(
                    "the oldest queued event has waited {} (limit {})",
                    humantime::format_duration(Duration::from_secs(age.as_secs())),
                    humantime::format_duration(h.backlog_age)
                ));
            }
        }
        RegistrationHealth {
            registration_id: load.registration_id.clone(),
            healthy: reasons.is_empty(),
            reasons,
            since: now,
            checked_at: now,
            attempts: load.attempts,
            failed_attempts: load.failed_attempts,
            backlog: load.backlog,
            oldest_backlog_received_at: load.oldest_backlog_received_at,
        }
    }

    /// One round of health checks: judges every registration with traffic,
    /// a backlog or a record, records the judgements, and notifies changes.
    pub async fn check_health(&self) -> Result<()> {
        let store = &self.gateway.store;
        let now = Millis::now();
        let since =
            Millis(now.0 - i64::try_from(self.health.window.as_millis()).unwrap_or(i64::MAX));
        let mut loads: HashMap<String, RegistrationLoad> = store
            .registration_loads(since)
            .await?
            .into_iter()
            .map(|l| (l.registration_id.clone(), l))
            .collect();
        for h in store.list_registration_health().await? {
            loads
                .entry(h.registration_id.clone())
                .or_insert(RegistrationLoad {
                    registration_id: h.registration_id,
                    ..RegistrationLoad::default()
                });
        }
        for load in loads.values() {
            let judged = self.judge(load, now);
            if !store.save_registration_health(&judged).await? {
                continue;
            }
            if judged.healthy {
                tracing::info!(registration_id = %judged.registration_id, "registration is healthy again");
            } else {
                tracing::warn!(registration_id = %judged.registration_id, reasons = ?judged.reasons, "registration is unhealthy");
            }
            if !self.health.notify_url.is_empty() {
                let this = self.clone();
                tokio::spawn(async move { this.notify(judged).await });
            }
        }
        Ok(())
    }

    /// Runs [`Self::check_health`] every `health.interval` until `shutdown`.
    pub async fn run_health(self, shutdown: CancellationToken) {
        if self.health.interval.is_zero() {
            return;
        }
        let mut tick = tokio::time::interval(self.health.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.check_health().await {
                tracing::error!(error = %e, "registration health check failed");
            }
        }
    }

    /// POSTs a change of health to `health.notify_url`, signed with Standard
    /// Webhooks headers, through the guarded client; retried a few times.
    async fn notify(&self, health: RegistrationHealth) {
        let kind = if health.healthy {
            "registration.healthy"
        } else {
            "registration.unhealthy"
        };
        let reg = match self
            .gateway
            .store
            .get_registration(&health.registration_id)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "reading the registration for a health notification failed");
                None
            }
        };
        let body = serde_json::json!({
            "type": kind,
            "timestamp": Millis::now().to_rfc3339(),
            "data": {
                "registration_id": health.registration_id,
                "product": reg.as_ref().map(|r| r.product_tag.to_string()),
                "access_tag": reg.as_ref().map(|r| r.access_tag.to_string()),
                "app": reg.as_ref().map(|r| r.app_tag.to_string()),
                "webhook": reg.as_ref().map(|r| r.webhook_tag.to_string()),
                "event": reg.as_ref().and_then(|r| r.event.as_ref().map(|e| e.to_string())),
                "env": reg.as_ref().map(|r| r.env.to_string()),
                "link": reg.as_ref().map(|r| self.gateway.link_url(&r.link_id)),
                "healthy": health.healthy,
                "reasons": health.reasons,
                "since": health.since.to_rfc3339(),
                "attempts": health.attempts,
                "failed_attempts": health.failed_attempts,
                "backlog": health.backlog,
            }
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let url = match url::Url::parse(&self.health.notify_url) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "health.notify_url is not a URL");
                return;
            }
        };
        let msg_id = new_id("msg");
        const BACKOFF: [Duration; 3] = [
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::from_secs(30),
        ];
        for (n, wait) in std::iter::once(Duration::ZERO).chain(BACKOFF).enumerate() {
            tokio::time::sleep(wait).await;
            let timestamp = Millis::now().unix_seconds();
            let signature = match hookline_verify::standard::sign(
                &self.health.notify_secret,
                &msg_id,
                timestamp,
                &body,
            ) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "health.notify_secret cannot sign");
                    return;
                }
            };
            let req = ForwardRequest {
                method: HttpMethod::Post,
                url: url.clone(),
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("webhook-id".into(), msg_id.clone().into()),
                    ("webhook-timestamp".into(), timestamp.to_string().into()),
                    ("webhook-signature".into(), signature.into()),
                ],
                body: body.clone(),
            };
            let outcome = hookline_delivery::client::send(
                &self.client,
                &self.gateway.guard,
                &req,
                Duration::from_secs(10),
            )
            .await;
            let ok = matches!(&outcome, Ok(r) if r.is_success());
            crate::metrics::record::health_notification(kind, ok);
            match outcome {
                Ok(r) if r.is_success() => {
                    tracing::info!(registration_id = %health.registration_id, kind, "health notification sent");
                    return;
                }
                Ok(r) => tracing::warn!(
                    status = r.status,
                    attempt = n + 1,
                    "health notification refused"
                ),
                Err(e) => tracing::warn!(error = %e, attempt = n + 1, "health notification failed"),
            }
        }
        tracing::error!(registration_id = %health.registration_id, kind, "health notification given up");
    }

    // --- live stream -------------------------------------------------------

    /// Starts watching events matching `filter`: new ones after `after` (or
    /// from a few seconds ago), and changes (a retry, a replay) of those it
    /// sent and of the newest 100 at the start.
    pub async fn watch(&self, filter: EventFilter, after: Option<String>) -> Result<EventWatch> {
        let mut watch = EventWatch {
            gateway: self.gateway.clone(),
            filter,
            scan_from: after.or_else(|| Some(id_floor(Millis(Millis::now().0 - STREAM_LAG_MS)))),
            sent: HashSet::new(),
            last_sent: None,
            watched: HashMap::new(),
        };
        // The newest events, which the client is likely showing already:
        // send their changes from now on.
        let recent = EventFilter {
            before_id: None,
            limit: 100,
            ..watch.filter.clone()
        };
        for e in self.gateway.store.list_events(&recent).await? {
            watch.watched.insert(e.id.clone(), fingerprint(&e));
        }
        Ok(watch)
    }
}

/// How far back each poll of a stream looks again, for events committed a
/// little after others with later ids (group commit, other nodes).
const STREAM_LAG_MS: i64 = 3_000;
/// Events a stream re-reads for changes, at most (the newest are kept).
const MAX_WATCHED: usize = 500;
/// Pages of new events one poll reads, at most (then it continues next poll).
const MAX_PAGES: usize = 10;

/// The lowest event id minted at `t`: ids are `evt_<ULID>`, time first.
fn id_floor(t: Millis) -> String {
    format!(
        "evt_{}",
        ulid::Ulid::from_parts(u64::try_from(t.0).unwrap_or(0), 0)
    )
}

type Fingerprint = (EventStatus, u32, i64);

fn fingerprint(e: &Event) -> Fingerprint {
    (e.status, e.attempts, e.updated_at.0)
}

/// One stream's view: where it scans for new events, which it has sent, and
/// which unfinished ones it re-reads for changes.
pub struct EventWatch {
    gateway: Gateway,
    filter: EventFilter,
    /// Exclusive lower bound of the next scan for new events.
    scan_from: Option<String>,
    /// Ids sent as new within the rescanned window, so a rescan sends each once.
    sent: HashSet<String>,
    /// The highest id sent as new: where a reconnecting client resumes.
    last_sent: Option<String>,
    /// Events the client is shown and what they looked like when last sent.
    watched: HashMap<String, Fingerprint>,
}

impl EventWatch {
    /// The id a client can resume after (`after`, or `Last-Event-ID`).
    pub fn position(&self) -> Option<&str> {
        self.last_sent.as_deref()
    }

    /// New events, and changes of watched ones, since the last poll, in id order.
    pub async fn poll(&mut self) -> Result<Vec<Event>> {
        let store = &self.gateway.store;
        let mut out: Vec<Event> = Vec::new();

        // Changes of watched events.
        if !self.watched.is_empty() {
            let ids: Vec<String> = self.watched.keys().cloned().collect();
            let mut found: HashSet<String> = HashSet::new();
            for e in store.get_events(&ids).await? {
                found.insert(e.id.clone());
                let fp = fingerprint(&e);
                if self.watched.get(&e.id) != Some(&fp) {
                    self.watched.insert(e.id.clone(), fp);
                    out.push(e);
                }
            }
            self.watched.retain(|id, _| found.contains(id));
        }

        // New events, rescanning a short window for late commits.
        let mut from = self.scan_from.clone();
        let mut page_filter = self.filter.clone();
        page_filter.before_id = None;
        page_filter.limit = 500;
        for _ in 0..MAX_PAGES {
            let page = store
                .list_events_after(&page_filter, from.as_deref())
                .await?;
            let full = page.len() == page_filter.limit as usize;
            for e in page {
                from = Some(e.id.clone());
                if self.sent.contains(&e.id) || out.iter().any(|o| o.id == e.id) {
                    continue;
                }
                self.sent.insert(e.id.clone());
                if self.last_sent.as_ref().is_none_or(|l| &e.id > l) {
                    self.last_sent = Some(e.id.clone());
                }
                self.watched.insert(e.id.clone(), fingerprint(&e));
                out.push(e);
            }
            if !full {
                break;
            }
        }
        // Next time, start no later than the lag window before now.
        let floor = id_floor(Millis(Millis::now().0 - STREAM_LAG_MS));
        self.scan_from = match from {
            Some(last) if last < floor => Some(last),
            Some(_) => Some(floor),
            None => None,
        };
        if let Some(bound) = &self.scan_from {
            self.sent.retain(|id| id > bound);
        }
        // Keep watching the newest ones only.
        if self.watched.len() > MAX_WATCHED {
            let mut ids: Vec<String> = self.watched.keys().cloned().collect();
            ids.sort_unstable();
            for id in &ids[..ids.len() - MAX_WATCHED] {
                self.watched.remove(id);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }
}
