//! Slows down management-key guessing: per client address, failed key
//! checks are counted in a fixed window; at `limit` failures the address is
//! answered 429 (with `Retry-After`) without its key being checked until the
//! window has passed. A successful check clears the address's count, so a
//! client that mistyped its key a few times is not left near the edge.
//!
//! Addresses are IPv4 addresses or IPv6 /64 prefixes (one host usually owns
//! a whole /64). The table is in memory, per node, and bounded: past
//! [`MAX_ENTRIES`] it forgets addresses whose window has passed, and if all
//! are live it starts over (a flood from that many addresses is not stopped
//! by a per-address limit anyway; the cap keeps memory bounded).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most (~50 bytes each).
pub const MAX_ENTRIES: usize = 10_000;

pub struct KeyThrottle {
    /// Failures allowed per window; 0 turns the throttle off.
    limit: u32,
    window: Duration,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

struct Entry {
    window_start: Instant,
    failures: u32,
}

impl KeyThrottle {
    pub fn new(limit: u32, window: Duration) -> Self {
        KeyThrottle {
            limit,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(wait)` while `addr` is blocked: how long until it may try again.
    pub fn blocked(&self, addr: IpAddr) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        let entries = self.entries.lock().expect("throttle lock");
        let e = entries.get(&bucket(addr))?;
        let ends = e.window_start + self.window;
        (e.failures >= self.limit && ends > now).then(|| ends - now)
    }

    /// Counts a failed key check from `addr`.
    pub fn failed(&self, addr: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("throttle lock");
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.window_start + self.window > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        let e = entries.entry(bucket(addr)).or_insert(Entry {
            window_start: now,
            failures: 0,
        });
        if e.window_start + self.window <= now {
            *e = Entry {
                window_start: now,
                failures: 0,
            };
        }
        e.failures += 1;
        if e.failures == self.limit {
            tracing::warn!(client = %bucket(addr), failures = e.failures,
                "too many invalid management keys: this address is refused until its window passes");
            // The block lasts a whole window from the last failure.
            e.window_start = now;
        }
    }

    /// A valid key from `addr`: its count starts over.
    pub fn succeeded(&self, addr: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let mut entries = self.entries.lock().expect("throttle lock");
        entries.remove(&bucket(addr));
    }
}

/// The unit an address is counted under: IPv4 as is, IPv6 by its /64
/// (IPv4-mapped IPv6 as its IPv4 address).
fn bucket(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_at_the_limit_and_success_clears() {
        let t = KeyThrottle::new(3, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        t.failed(a);
        t.failed(a);
        assert!(t.blocked(a).is_none());
        t.succeeded(a);
        t.failed(a);
        t.failed(a);
        assert!(t.blocked(a).is_none(), "a success cleared the count");
        t.failed(a);
        assert!(t.blocked(a).unwrap() > Duration::from_secs(59));
        assert!(t.blocked(b).is_none(), "other addresses are not affected");
    }

    #[test]
    fn ipv6_is_counted_by_its_64() {
        let t = KeyThrottle::new(2, Duration::from_secs(60));
        t.failed("2001:db8:1:2::1".parse().unwrap());
        t.failed("2001:db8:1:2::ffff".parse().unwrap());
        assert!(t.blocked("2001:db8:1:2::42".parse().unwrap()).is_some());
        assert!(t.blocked("2001:db8:1:3::1".parse().unwrap()).is_none());
    }

    #[test]
    fn the_table_is_bounded() {
        let t = KeyThrottle::new(5, Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            t.failed(IpAddr::V4(i.into()));
        }
        assert!(t.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
