//! Latency histograms and the maths of the report: percentiles, throughput
//! and ratios to the baseline.
//!
//! Latencies are recorded in microseconds in an HdrHistogram with 3
//! significant digits (so a reported value is within 0.1 % of the true one)
//! from 1 µs to 1 hour; anything longer is clamped to an hour and counted.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds.
#[derive(Clone)]
pub struct Latency {
    h: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        Latency {
            h: Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds"),
        }
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        // Cannot fail: the value is clamped into the bounds.
        let _ = self.h.record(us);
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// The summary the report prints; all zeros when nothing was recorded.
    pub fn summary(&self) -> Summary {
        if self.h.is_empty() {
            return Summary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: self.h.len(),
            min_ms: ms(self.h.min()),
            mean_ms: self.h.mean() / 1000.0,
            p50_ms: ms(self.h.value_at_quantile(0.50)),
            p90_ms: ms(self.h.value_at_quantile(0.90)),
            p99_ms: ms(self.h.value_at_quantile(0.99)),
            p999_ms: ms(self.h.value_at_quantile(0.999)),
            max_ms: ms(self.h.max()),
        }
    }
}

/// Percentiles of one latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Completed requests per second over a wall-clock window.
pub fn per_second(count: u64, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    count as f64 / wall.as_secs_f64()
}

/// `value / baseline`, or `None` when the baseline is zero or absent (a
/// ratio to nothing is not printed rather than printed as infinity).
pub fn ratio(value: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && baseline.is_finite() && value.is_finite()).then(|| value / baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Latency::new();
        for v in 1..=1000 {
            h.record(ms(v));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002;
        assert!(close(s.p50_ms, 500.0), "p50 {}", s.p50_ms);
        assert!(close(s.p90_ms, 900.0), "p90 {}", s.p90_ms);
        assert!(close(s.p99_ms, 990.0), "p99 {}", s.p99_ms);
        assert!(close(s.p999_ms, 999.0), "p99.9 {}", s.p999_ms);
        assert!(close(s.max_ms, 1000.0), "max {}", s.max_ms);
        assert!(close(s.min_ms, 1.0), "min {}", s.min_ms);
        assert!(close(s.mean_ms, 500.5), "mean {}", s.mean_ms);
    }

    #[test]
    fn a_rare_outlier_shows_at_p999_not_p99() {
        let mut h = Latency::new();
        for _ in 0..9_990 {
            h.record(ms(1));
        }
        for _ in 0..10 {
            h.record(ms(250));
        }
        let s = h.summary();
        assert!(s.p99_ms < 1.01, "p99 {}", s.p99_ms);
        assert!(s.p999_ms < 1.01, "p99.9 is the 9990th value: {}", s.p999_ms);
        assert!(s.max_ms > 249.0, "max {}", s.max_ms);
        // One more slow one crosses the 99.9th percentile.
        for _ in 0..11 {
            h.record(ms(250));
        }
        assert!(h.summary().p999_ms > 249.0);
    }

    #[test]
    fn sub_microsecond_and_huge_values_are_clamped_not_lost() {
        let mut h = Latency::new();
        h.record(Duration::from_nanos(10));
        h.record(Duration::from_secs(100_000));
        assert_eq!(h.count(), 2);
        assert!((h.summary().min_ms - 0.001).abs() < 1e-9);
        assert!(h.summary().max_ms >= 3_599_000.0);
    }

    #[test]
    fn empty_histogram_summarises_to_zeros() {
        assert_eq!(Latency::new().summary(), Summary::default());
    }

    #[test]
    fn throughput_and_ratios() {
        assert!((per_second(5_000, Duration::from_millis(2_500)) - 2_000.0).abs() < 1e-9);
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(ratio(50.0, 200.0), Some(0.25));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }
}
