//! Timestamps as milliseconds since the Unix epoch: cheap to store, compare and
//! index on both backends; converted to RFC 3339 only at the HTTP edge.
//!
//! # Whose clock
//! Nodes sharing a PostgreSQL database compare each other's timestamps (a
//! lease one node stamped is judged expired by another), so they must agree
//! on time: there the database's clock is the authority. [`Millis::now`] is
//! this machine's wall clock plus a process-wide offset, which the PostgreSQL
//! store measures against the server's clock ([`ClockSample`], Cristian's
//! algorithm) when it opens and refreshes periodically; with SQLite the
//! process owns its file and the offset stays 0. Ids ([`crate::ids`]) take
//! their time from the same place. Monotonic measures (`Instant`, timeouts,
//! sleeps) never involve this clock.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// Milliseconds to add to this machine's wall clock to get the shared time
/// (the database's clock on PostgreSQL; 0 otherwise).
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The offset [`Millis::now`] currently adds to this machine's wall clock.
pub fn clock_offset_ms() -> i64 {
    OFFSET_MS.load(Ordering::Relaxed)
}

/// Sets the offset [`Millis::now`] adds to this machine's wall clock; only
/// the store that is the time authority calls this.
pub fn set_clock_offset_ms(ms: i64) {
    OFFSET_MS.store(ms, Ordering::Relaxed);
}

/// This machine's own wall clock, without the offset: only for measuring the
/// offset (see [`ClockSample`]).
pub fn local_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One reading of a reference clock for Cristian's algorithm: the local wall
/// clock when the request left, the reference's time in its answer, and the
/// round trip on the monotonic clock (so a local clock step mid-sample
/// cannot distort it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSample {
    pub sent_local_ms: i64,
    pub reference_ms: i64,
    pub round_trip: Duration,
}

impl ClockSample {
    /// Reference − local: the reference read its clock, at best guess, half
    /// way through the round trip, i.e. `reference − (t0 + t1) / 2`.
    pub fn offset_ms(&self) -> i64 {
        let half = i64::try_from(self.round_trip.as_millis() / 2).unwrap_or(i64::MAX);
        self.reference_ms
            .saturating_sub(self.sent_local_ms.saturating_add(half))
    }

    /// The sample with the shortest round trip: its offset has the smallest
    /// error bound (± half its round trip).
    pub fn best(samples: &[ClockSample]) -> Option<ClockSample> {
        samples.iter().copied().min_by_key(|s| s.round_trip)
    }
}

/// Whether a new measurement should replace the offset in use: only when it
/// differs by more than the measurement's own uncertainty (half its round
/// trip) plus a millisecond of rounding. Jitter between refreshes then never
/// moves the clock, so timestamps do not wobble back and forth; a real
/// change (a clock stepped, or drift adding up) is taken.
pub fn offset_changed(current_ms: i64, measured: &ClockSample) -> bool {
    let bound = i64::try_from(measured.round_trip.as_millis() / 2).unwrap_or(i64::MAX);
    measured.offset_ms().abs_diff(current_ms) > bound.saturating_add(1).unsigned_abs()
}

fn shifted(local_ms: i64, offset_ms: i64) -> i64 {
    local_ms.saturating_add(offset_ms)
}

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// The shared time: this machine's wall clock plus the offset to the
    /// time authority (see the module docs).
    pub fn now() -> Self {
        Millis(shifted(local_millis(), clock_offset_ms()))
    }

    /// As a `SystemTime` (times before 1970 clamp to the epoch).
    pub fn to_system_time(self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| Millis(d.timestamp_millis()))
    }
}

/// Saturates instead of overflowing: a far-future retry is still far future.
impl std::ops::Add<std::time::Duration> for Millis {
    type Output = Millis;

    fn add(self, d: std::time::Duration) -> Millis {
        Millis(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sent: i64, reference: i64, rtt_ms: u64) -> ClockSample {
        ClockSample {
            sent_local_ms: sent,
            reference_ms: reference,
            round_trip: Duration::from_millis(rtt_ms),
        }
    }

    #[test]
    fn offset_is_the_reference_minus_the_round_trips_midpoint() {
        // Sent at 1000, answered at 1010 (local); the reference said 31_005:
        // it is 30 s ahead.
        assert_eq!(sample(1_000, 31_005, 10).offset_ms(), 30_000);
        // A reference behind us gives a negative offset.
        assert_eq!(sample(50_000, 20_002, 4).offset_ms(), -30_000);
        assert_eq!(sample(7, 7, 0).offset_ms(), 0);
        // No overflow at the edges.
        assert_eq!(sample(i64::MAX, i64::MIN, 2).offset_ms(), i64::MIN);
    }

    #[test]
    fn the_shortest_round_trip_wins() {
        let slow = sample(1_000, 1_300, 500); // offset 50, ± 250
        let fast = sample(2_000, 2_012, 2); // offset 11, ± 1
        let best = ClockSample::best(&[slow, fast, sample(3_000, 3_200, 40)]).unwrap();
        assert_eq!(best, fast);
        assert_eq!(best.offset_ms(), 11);
        assert_eq!(ClockSample::best(&[]), None);
    }

    #[test]
    fn jitter_within_the_error_bound_keeps_the_offset() {
        // Measured 30_003 ± 2 (rtt 4): within bound + 1 of 30_000, kept.
        assert!(!offset_changed(30_000, &sample(0, 30_005, 4)));
        assert!(!offset_changed(30_000, &sample(0, 29_999, 4)));
        // Past it (a stepped clock, drift adding up): taken.
        assert!(offset_changed(30_000, &sample(0, 30_006, 4)));
        assert!(offset_changed(0, &sample(0, 30_000, 4)));
        assert!(offset_changed(0, &sample(0, -1_500, 100)));
    }

    #[test]
    fn now_is_the_local_clock_plus_the_offset() {
        // Without touching the process-wide offset (tests run in parallel).
        assert_eq!(shifted(1_000, 30_000), 31_000);
        assert_eq!(shifted(1_000, -30_000), -29_000);
        assert_eq!(shifted(i64::MAX, 1), i64::MAX);
        let (before, now, after) = (local_millis(), Millis::now().0, local_millis());
        let off = clock_offset_ms();
        assert!(before + off <= now && now <= after + off);
    }

    #[test]
    fn to_system_time_roundtrips() {
        let t = Millis(1_700_000_000_123);
        let back = t
            .to_system_time()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(back.as_millis(), 1_700_000_000_123);
        assert_eq!(Millis(-5).to_system_time(), SystemTime::UNIX_EPOCH);
    }
}
