//! Timestamps as milliseconds since the Unix epoch: cheap to store, compare and
//! index on both backends; converted to RFC 3339 only at the HTTP edge.

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub fn now() -> Self {
        Millis(chrono::Utc::now().timestamp_millis())
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
