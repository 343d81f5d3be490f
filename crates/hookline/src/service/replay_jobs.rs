//! Bulk replay jobs: creating, listing and cancelling them, and the runner
//! that works through them in the background (started by
//! [`crate::startup`]).
//!
//! A job is kept in the database, so a job left by a stopped node is
//! resumed by any node: the runner leases a job for one step of about a
//! second of events, requeues them at the job's rate, saves the cursor and
//! moves on round-robin; on shutdown it frees its leases.

use super::Gateway;
use crate::config::ReplayConfig;
use crate::error::{Error, Result};
use hookline_core::ids::new_id;
use hookline_core::time::Millis;
use hookline_store::{EventFilter, ReplayJob, ReplayStatus, Requeue};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Bulk replays: the operations the API calls and the runner; cheap to clone.
#[derive(Clone)]
pub struct ReplayJobs {
    pub gateway: Gateway,
    /// `[replay]`: the highest (and default) rate, the job lease.
    pub config: ReplayConfig,
    /// Names this node as the holder of replay job leases.
    pub node_id: String,
    /// Wakes the runner when a job was created.
    pub wake: Arc<Notify>,
}

/// The inputs of a bulk replay.
#[derive(Debug, Clone, Default)]
pub struct NewReplay {
    pub filter: EventFilter,
    /// Events per second; the configured rate when `None`.
    pub rate: Option<u32>,
}

impl ReplayJobs {
    fn rate(&self, asked: Option<u32>) -> Result<u32> {
        let max = self.config.rate;
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
    pub async fn count(&self, filter: &EventFilter) -> Result<u64> {
        Ok(self.gateway.store.count_events(filter).await?)
    }

    /// What [`Self::create`] would go through now: checks the rate
    /// as creating would, then counts.
    pub async fn preview(&self, input: &NewReplay) -> Result<u64> {
        self.rate(input.rate)?;
        self.count(&input.filter).await
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
    pub async fn create(&self, input: NewReplay) -> Result<ReplayJob> {
        let rate = self.rate(input.rate)?;
        let mut filter = input.filter;
        filter.before_id = Some(new_id("evt"));
        let now = Millis::now();
        let total = self.count(&filter).await?;
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
        self.wake.notify_one();
        Ok(job)
    }

    pub async fn get(&self, id: &str) -> Result<ReplayJob> {
        self.gateway
            .store
            .get_replay_job(id)
            .await?
            .ok_or_else(|| Error::not_found("replay job", id))
    }

    pub async fn list(&self, limit: u32) -> Result<Vec<ReplayJob>> {
        Ok(self.gateway.store.list_replay_jobs(limit).await?)
    }

    pub async fn cancel(&self, id: &str) -> Result<ReplayJob> {
        self.gateway
            .store
            .cancel_replay_job(id, Millis::now())
            .await?
            .ok_or_else(|| Error::not_found("replay job", id))
    }

    /// The replay runner: leases running jobs one step (about a second of
    /// events) at a time, round-robin, until `shutdown`; then frees its
    /// leases so that a restart resumes at once.
    pub async fn run(self, shutdown: CancellationToken) {
        const IDLE_POLL: Duration = Duration::from_secs(2);
        const ERROR_PAUSE: Duration = Duration::from_secs(1);
        let store = self.gateway.store.clone();
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if shutdown.is_cancelled() {
                break;
            }
            let now = Millis::now();
            let pause = match store
                .claim_replay_job(&self.node_id, now, now + self.config.lease)
                .await
            {
                Ok(Some(job)) => {
                    let span = tracing::info_span!("replay", replay_id = %job.id);
                    if let Err(e) = self.step(job, &shutdown).instrument(span).await {
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
    async fn step(&self, mut job: ReplayJob, shutdown: &CancellationToken) -> Result<()> {
        let store = &self.gateway.store;
        let rate = job.rate.max(1);
        let mut filter = job.filter.clone();
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
        job.lease_until = Some(now + self.config.lease);
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
}
