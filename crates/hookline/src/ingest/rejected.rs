//! Rejected calls are kept small and few: anyone who knows a link can post
//! unsigned calls, and each would otherwise be stored whole, forever.
//!
//! - A rejected call keeps its headers and only the first
//!   [`REJECTED_BODY_KEPT`] bytes of its body; its verification result says
//!   how large the body was (`received_body_bytes`).
//! - [`RejectedLimiter`] stores at most `ingest.rejected_per_minute` of them
//!   per link and source address in each minute; the rest are answered 429
//!   and not stored (they still count in `hookline_events_rejected_total`).
//!   The count is per node and in memory: a restart or another node starts
//!   its own.
//! - They have their own retention (`retention.rejected_after`, see
//!   [`crate::retention`]).

pub use hookline_core::event::REJECTED_BODY_KEPT;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The counting window.
const WINDOW: Duration = Duration::from_secs(60);
/// Past this many (link, address) pairs, expired windows are dropped; if
/// none has expired, all are (the limit then restarts for everyone rather
/// than memory growing without bound under a spray of addresses).
const MAX_KEYS: usize = 10_000;

/// A link and a source address (`None`: unknown).
type Key = (String, Option<IpAddr>);

/// Fixed one-minute windows of rejected calls per (link, source address).
#[derive(Debug)]
pub struct RejectedLimiter {
    per_minute: u32,
    /// Calls without a known source address share the `None` slot.
    /// When each key's window started, and its count in it.
    windows: Mutex<HashMap<Key, (Instant, u32)>>,
}

impl RejectedLimiter {
    /// `per_minute == 0`: no limit.
    pub fn new(per_minute: u32) -> Self {
        RejectedLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one rejected call; `Err(retry_after)` when it is over the
    /// limit and must not be stored.
    pub fn admit(&self, link: &str, peer: Option<IpAddr>) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let key = (link.to_owned(), peer);
        if windows.len() >= MAX_KEYS && !windows.contains_key(&key) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_KEYS {
                windows.clear();
            }
        }
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= self.per_minute {
            return Err(WINDOW.saturating_sub(now.duration_since(*start)));
        }
        *count += 1;
        Ok(())
    }
}

/// The part of a rejected call's body that is stored: the first
/// [`REJECTED_BODY_KEPT`] bytes, cut back to a character boundary when the
/// body is UTF-8 text (so it still reads as text).
pub fn kept_body(body: &[u8]) -> &[u8] {
    if body.len() <= REJECTED_BODY_KEPT {
        return body;
    }
    let head = &body[..REJECTED_BODY_KEPT];
    match std::str::from_utf8(head) {
        Ok(_) => head,
        // Cut inside a character (at most 3 bytes of it): drop that part.
        Err(e) if e.error_len().is_none() && std::str::from_utf8(body).is_ok() => {
            &head[..e.valid_up_to()]
        }
        Err(_) => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_per_link_and_address() {
        let limiter = RejectedLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.admit("l1", Some(a)).is_ok());
        assert!(limiter.admit("l1", Some(a)).is_ok());
        let retry = limiter.admit("l1", Some(a)).unwrap_err();
        assert!(
            retry > Duration::from_secs(58) && retry <= WINDOW,
            "{retry:?}"
        );
        assert!(limiter.admit("l1", Some(b)).is_ok());
        assert!(limiter.admit("l2", Some(a)).is_ok());
        assert!(limiter.admit("l1", None).is_ok());
        assert!(RejectedLimiter::new(0).admit("l1", Some(a)).is_ok());
    }

    #[test]
    fn kept_bodies_are_cut_at_the_limit_on_a_character_boundary() {
        assert_eq!(kept_body(b"short"), b"short");
        let long = vec![b'x'; 10_000];
        assert_eq!(kept_body(&long).len(), REJECTED_BODY_KEPT);
        let text = format!("{}é{}", "a".repeat(REJECTED_BODY_KEPT - 1), "b".repeat(10));
        let kept = kept_body(text.as_bytes());
        assert_eq!(kept.len(), REJECTED_BODY_KEPT - 1);
        assert!(std::str::from_utf8(kept).is_ok());
        let binary = vec![0xff; 10_000];
        assert_eq!(kept_body(&binary).len(), REJECTED_BODY_KEPT);
    }
}
