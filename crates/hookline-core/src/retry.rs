//! The retry schedule: how long to wait after each failed attempt.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Delays after the 1st, 2nd, … failed attempt; when they run out the event
/// fails. Written as humantime strings (`["5s", "5m"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl Serialize for RetrySchedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .iter()
                .map(|d| humantime_serde::re::humantime::format_duration(*d).to_string()),
        )
    }
}

impl<'de> Deserialize<'de> for RetrySchedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<humantime_serde::Serde<Duration>>::deserialize(d)
            .map(|v| RetrySchedule(v.into_iter().map(|s| s.into_inner()).collect()))
    }
}

/// ±20 % so that a burst of failures does not retry in lockstep.
const JITTER: f64 = 0.2;
/// A `Retry-After` longer than this is treated as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

impl Default for RetrySchedule {
    fn default() -> Self {
        let m = 60;
        let h = 3600;
        RetrySchedule(
            [5, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }
}

impl RetrySchedule {
    /// The wait before the next attempt after `failed_in_cycle` failed
    /// attempts (1-based) since the event was queued, or `None` when retries
    /// are exhausted. A `Retry-After` from the receiver is honoured: the next
    /// attempt is never earlier than it asked.
    pub fn next_delay(
        &self,
        failed_in_cycle: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let base = *self
            .0
            .get(usize::try_from(failed_in_cycle).ok()?.checked_sub(1)?)?;
        let factor = 1.0 + rng.gen_range(-JITTER..=JITTER);
        let jittered = base.mul_f64(factor);
        Some(match retry_after {
            Some(ra) => jittered.max(ra.min(MAX_RETRY_AFTER)),
            None => jittered,
        })
    }

    pub fn max_attempts(&self) -> usize {
        self.0.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn default_schedule_is_the_documented_one() {
        let s = RetrySchedule::default();
        assert_eq!(s.0.len(), 7);
        assert_eq!(s.0[0], Duration::from_secs(5));
        assert_eq!(s.0[6], Duration::from_secs(36000));
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_exhausts() {
        let s = RetrySchedule(vec![Duration::from_secs(100), Duration::from_secs(10)]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let d = s.next_delay(1, None, &mut rng).unwrap();
            assert!(
                d >= Duration::from_secs(80) && d <= Duration::from_secs(120),
                "{d:?}"
            );
        }
        assert!(s.next_delay(2, None, &mut rng).unwrap() <= Duration::from_secs(12));
        assert_eq!(s.next_delay(3, None, &mut rng), None);
        assert_eq!(s.next_delay(0, None, &mut rng), None);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let s = RetrySchedule(vec![Duration::from_secs(1)]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let d = s
            .next_delay(1, Some(Duration::from_secs(30)), &mut rng)
            .unwrap();
        assert_eq!(d, Duration::from_secs(30));
        let capped = s
            .next_delay(1, Some(Duration::from_secs(10 * 86400)), &mut rng)
            .unwrap();
        assert_eq!(capped, MAX_RETRY_AFTER);
    }
}
