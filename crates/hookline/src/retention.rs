//! Retention: a background sweeper that deletes delivered and failed events,
//! with their payloads and attempts, once their last change is older than
//! `retention.max_age`, and rejected calls once received longer ago than
//! `retention.rejected_after` (shorter: anyone who knows a link can make
//! them).
//!
//! A sweep deletes `retention.batch` events per statement and pauses between
//! statements, so each is one short transaction: ingest (SQLite's single
//! writer, PostgreSQL's row locks) never waits behind more than one batch.
//! Every node runs a sweeper; on PostgreSQL they skip each other's locked
//! rows, so running several only shares the work.

use crate::config::RetentionConfig;
use hookline_core::time::Millis;
use hookline_store::{DynStore, StoreError};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Pause between two batches of one sweep.
const PAUSE: Duration = Duration::from_millis(50);
/// The first sweep comes this long after start, not during it.
const FIRST_SWEEP: Duration = Duration::from_secs(10);

/// Starts the sweeper; `None` when retention is off (`max_age` and
/// `rejected_after` both `"0s"`). It stops between batches once `shutdown`
/// is cancelled.
pub fn spawn(
    store: DynStore,
    config: RetentionConfig,
    shutdown: CancellationToken,
) -> Option<JoinHandle<()>> {
    if config.max_age.is_zero() && config.rejected_after.is_zero() {
        tracing::info!("retention is off: events are kept forever");
        return None;
    }
    Some(tokio::spawn(run(store, config, shutdown)))
}

async fn run(store: DynStore, config: RetentionConfig, shutdown: CancellationToken) {
    let mut wait = FIRST_SWEEP.min(config.interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = Millis::now();
        if !config.max_age.is_zero() {
            let before = cutoff(now, config.max_age);
            let swept = sweep(&shutdown, config.batch, |limit| {
                store.delete_expired_events(before, limit)
            });
            report(swept.await, "expired events", config.max_age);
        }
        if !config.rejected_after.is_zero() {
            let before = cutoff(now, config.rejected_after);
            let swept = sweep(&shutdown, config.batch, |limit| {
                store.delete_rejected_events(before, limit)
            });
            report(swept.await, "rejected calls", config.rejected_after);
        }
        wait = config.interval;
    }
}

fn report(swept: Result<u64, StoreError>, what: &str, age: Duration) {
    match swept {
        Ok(0) => tracing::debug!("retention: no {what} to delete"),
        Ok(deleted) => tracing::info!(
            deleted,
            max_age = %humantime::format_duration(age),
            "retention: deleted {what}"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "retention sweep of {what} failed; retrying at the next interval")
        }
    }
}

/// The instant `max_age` before `now`.
fn cutoff(now: Millis, max_age: Duration) -> Millis {
    let age = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    Millis(now.0.saturating_sub(age))
}

/// Calls `delete(batch)` (one batch of expired events, or of old rejected
/// calls) with a pause in between until fewer than `batch` go or `shutdown`
/// is cancelled. Returns how many were deleted.
pub async fn sweep<F, Fut>(
    shutdown: &CancellationToken,
    batch: u32,
    mut delete: F,
) -> Result<u64, StoreError>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let deleted = delete(batch).await?;
        total += deleted;
        if deleted < u64::from(batch) || shutdown.is_cancelled() {
            return Ok(total);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(total),
            _ = tokio::time::sleep(PAUSE) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_max_age_before_now() {
        let now = Millis(1_700_000_000_000);
        assert_eq!(
            cutoff(now, Duration::from_secs(60)),
            Millis(1_699_999_940_000)
        );
        assert_eq!(cutoff(Millis(5), Duration::MAX), Millis(5 - i64::MAX));
    }
}
