//! Traffic statistics for charts: per-bucket counts of a recent window
//! (received, rejected, delivered, failed attempts), the success rate and
//! delivery latency percentiles, read from the database (so every node
//! shows the same chart).

use super::Gateway;
use crate::error::{Error, Result};
use hookline_core::time::Millis;
use hookline_store::{TrafficBucket, TrafficQuery};

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
#[derive(Debug, Clone, PartialEq)]
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

impl Gateway {
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
            self.registration(id).await?;
        }
        let bucket_ms = i64::from(bucket_secs) * 1000;
        // Buckets on whole multiples, so that a chart refreshed a few
        // seconds later shows the same buckets.
        let now = Millis::now().0;
        let until = Millis((now / bucket_ms + 1) * bucket_ms);
        let since = Millis(until.0 - i64::from(minutes) * 60_000);
        let traffic = self
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
}
