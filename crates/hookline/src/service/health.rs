//! Registration health: reading the recorded judgements, and the checker
//! that runs in the background (started by [`crate::startup`]): every
//! `health.interval` it judges each registration's recent load against
//! `[health]`, records the judgement with change detection in the store
//! (of several nodes judging one change, exactly one reports it), and
//! notifies changes to `health.notify_url`, signed with Standard Webhooks
//! headers, through the guarded client. Each notification is sent by a
//! short task of its own (four tries within about 36 s), so a slow
//! receiver does not hold up the next round; shutdown does not wait for it.

use super::Gateway;
use crate::config::HealthConfig;
use crate::error::Result;
use hookline_core::ids::new_id;
use hookline_core::model::HttpMethod;
use hookline_core::outbound::ForwardRequest;
use hookline_core::time::Millis;
use hookline_store::{RegistrationHealth, RegistrationLoad};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The recorded health of a registration: `None` when no check has judged
/// it yet (no traffic, no backlog).
pub type HealthOf = (String, Option<RegistrationHealth>);

impl Gateway {
    /// Recorded health of every registration that has a record.
    pub async fn health_records(&self) -> Result<Vec<RegistrationHealth>> {
        Ok(self.store.list_registration_health().await?)
    }

    /// Every registration of the product `product_tag`, judged or not.
    pub async fn product_health(&self, product_tag: &str) -> Result<Vec<HealthOf>> {
        let mut records: HashMap<String, RegistrationHealth> = self
            .health_records()
            .await?
            .into_iter()
            .map(|h| (h.registration_id.clone(), h))
            .collect();
        let product = self.product(product_tag).await?;
        Ok(self
            .store
            .list_registrations(&product.id, None)
            .await?
            .into_iter()
            .map(|r| {
                let record = records.remove(&r.id);
                (r.id, record)
            })
            .collect())
    }

    /// One registration's health (404 when the registration is unknown).
    pub async fn registration_health(&self, id: &str) -> Result<HealthOf> {
        let reg = self.registration(id).await?;
        let record = self
            .health_records()
            .await?
            .into_iter()
            .find(|h| h.registration_id == reg.id);
        Ok((reg.id, record))
    }
}

/// The background health checks; cheap to clone.
#[derive(Clone)]
pub struct HealthChecker {
    pub gateway: Gateway,
    /// `[health]`: interval, window, thresholds, where to notify.
    pub config: HealthConfig,
    /// The outbound client health notifications are sent with (guarded).
    pub client: reqwest::Client,
}

impl HealthChecker {
    /// Judges one registration's load against the thresholds.
    pub fn judge(&self, load: &RegistrationLoad, now: Millis) -> RegistrationHealth {
        let h = &self.config;
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
    pub async fn check(&self) -> Result<()> {
        let store = &self.gateway.store;
        let now = Millis::now();
        let since =
            Millis(now.0 - i64::try_from(self.config.window.as_millis()).unwrap_or(i64::MAX));
        let mut loads: HashMap<String, RegistrationLoad> = store
            .registration_loads(since)
            .await?
            .into_iter()
            .map(|l| (l.registration_id.clone(), l))
            .collect();
        for h in self.gateway.health_records().await? {
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
            if !self.config.notify_url.is_empty() {
                let this = self.clone();
                tokio::spawn(async move { this.notify(judged).await });
            }
        }
        Ok(())
    }

    /// Runs [`Self::check`] every `health.interval` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.config.interval.is_zero() {
            return;
        }
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.check().await {
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
        let url = match url::Url::parse(&self.config.notify_url) {
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
                &self.config.notify_secret,
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
}
