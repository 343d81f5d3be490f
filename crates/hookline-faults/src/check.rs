//! The checker: compares what the load was told (acknowledgements, answer
//! statuses) with what the receiver saw and what the event log says.
//!
//! A scenario passes when
//! - every acknowledged event arrived (answered 2xx by the receiver) with its
//!   body byte-identical (SHA-256), and its signature was valid;
//! - nothing arrived whose body was never sent;
//! - an event arrived more than once only if the scenario cuts deliveries
//!   short (a kill, a pause past the lease, a database outage) and its first
//!   delivery happened within a fault window (it was in flight when the fault
//!   hit); such duplicates are counted and listed, any other is a failure;
//! - no well-formed request was answered 5xx, except 503 while a dependency
//!   was down (within a fault window of a dependency scenario, plus a grace);
//!   no 4xx either;
//! - the event log (`GET /api/v1/events`) calls every acknowledged event
//!   `delivered`.

use crate::load::{Outcome, Sent};
use crate::receiver::Arrival;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub windows: Vec<Window>,
    /// The fault cuts deliveries short: duplicates of events in flight
    /// within a window are allowed.
    pub duplicates_allowed: bool,
    /// The fault takes a dependency down: 503 within a window is allowed.
    pub dependency: bool,
    /// Before a window: deliveries started this long before it can be cut
    /// by it (the per-attempt timeout plus a margin).
    pub in_flight: Duration,
}

/// After a window, how long 503s and cut deliveries may still show.
const GRACE: Duration = Duration::from_secs(5);
/// How many ids a failure lists.
const LIST: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub sent: usize,
    pub acked: usize,
    pub delivered: usize,
    pub lost: usize,
    pub mismatched: usize,
    pub strangers: usize,
    pub unsigned: usize,
    pub duplicates_allowed: usize,
    pub duplicates_unexplained: usize,
    pub s503_allowed: usize,
    pub s503_other: usize,
    pub s5xx: usize,
    pub s4xx: usize,
    pub unanswered: usize,
    pub skipped: usize,
    pub log_disagrees: usize,
    pub recovery: Option<Duration>,
}

pub struct Verdict {
    pub figures: Figures,
    pub failures: Vec<String>,
    /// Allowed duplicates, listed (up to a few).
    pub notes: Vec<String>,
}

fn within(t: Instant, w: &Window, before: Duration) -> bool {
    t + before >= w.start && t <= w.end + GRACE
}

fn listed(ids: &[String]) -> String {
    let mut s = ids
        .iter()
        .take(LIST)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LIST {
        s.push_str(&format!(" … ({} in all)", ids.len()));
    }
    s
}

/// `log`: event id → status, from the event log. `lifted`: when the last
/// fault was lifted (for the recovery time).
pub fn check(
    sent: &[Sent],
    arrivals: &[Arrival],
    log: &HashMap<String, String>,
    rules: &Rules,
    lifted: Instant,
) -> Verdict {
    let mut f = Figures::default();
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut acked: HashMap<&str, &Sent> = HashMap::new();
    let mut sent_hashes = HashSet::new();
    for s in sent {
        if s.outcome != Outcome::Skipped {
            f.sent += 1;
            sent_hashes.insert(s.hash);
        }
        let in_window = |t: Instant| rules.windows.iter().any(|w| within(t, w, Duration::ZERO));
        match &s.outcome {
            Outcome::Acked(id) => {
                f.acked += 1;
                acked.insert(id.as_str(), s);
            }
            Outcome::Status(503) => {
                if rules.dependency && in_window(s.answered.unwrap_or(s.at)) {
                    f.s503_allowed += 1
                } else {
                    f.s503_other += 1
                }
            }
            Outcome::Status(c) if *c >= 500 => f.s5xx += 1,
            Outcome::Status(_) => f.s4xx += 1,
            Outcome::Unanswered(_) | Outcome::Pending => f.unanswered += 1,
            Outcome::Skipped => f.skipped += 1,
        }
    }
    // First good arrival per event, and how many good ones.
    let mut good: HashMap<&str, (Instant, usize)> = HashMap::new();
    let (mut mismatched, mut strangers, mut unsigned) = (Vec::new(), Vec::new(), Vec::new());
    for a in arrivals {
        if !a.signed {
            unsigned.push(a.id.clone());
        }
        match acked.get(a.id.as_str()) {
            Some(s) if s.hash != a.hash => mismatched.push(a.id.clone()),
            Some(_) => {}
            None if !sent_hashes.contains(&a.hash) => strangers.push(a.id.clone()),
            None => {}
        }
        if a.ok {
            let e = good.entry(a.id.as_str()).or_insert((a.at, 0));
            e.0 = e.0.min(a.at);
            e.1 += 1;
        }
    }
    let mut lost = Vec::new();
    let mut disagrees = Vec::new();
    let mut recovery = Some(Duration::ZERO);
    for (id, s) in &acked {
        match good.get(id) {
            Some((first, _)) if !mismatched.iter().any(|m| m.as_str() == *id) => {
                f.delivered += 1;
                if s.answered.unwrap_or(s.at) <= lifted {
                    recovery = recovery.map(|r| r.max(first.saturating_duration_since(lifted)));
                }
            }
            _ => {
                lost.push(id.to_string());
                recovery = None;
            }
        }
        match log.get(*id).map(String::as_str) {
            Some("delivered") => {}
            other => disagrees.push(format!("{id}: {}", other.unwrap_or("missing"))),
        }
    }
    let (mut allowed, mut unexplained) = (Vec::new(), Vec::new());
    for (id, (first, n)) in &good {
        if *n < 2 {
            continue;
        }
        let cut = rules.duplicates_allowed
            && rules
                .windows
                .iter()
                .any(|w| within(*first, w, rules.in_flight));
        let entry = format!("{id} ×{n}");
        if cut {
            allowed.push(entry);
        } else {
            unexplained.push(entry);
        }
    }
    lost.sort();
    f.lost = lost.len();
    f.mismatched = mismatched.len();
    f.strangers = strangers.len();
    f.unsigned = unsigned.len();
    f.duplicates_allowed = allowed.len();
    f.duplicates_unexplained = unexplained.len();
    f.log_disagrees = disagrees.len();
    f.recovery = recovery;
    let mut fail = |cond: bool, what: String| {
        if cond {
            failures.push(what)
        }
    };
    fail(
        !lost.is_empty(),
        format!(
            "{} acknowledged events never arrived: {}",
            lost.len(),
            listed(&lost)
        ),
    );
    fail(
        !mismatched.is_empty(),
        format!(
            "{} arrivals with a body unlike the one acknowledged: {}",
            mismatched.len(),
            listed(&mismatched)
        ),
    );
    fail(
        !strangers.is_empty(),
        format!(
            "{} arrivals of bodies never sent: {}",
            strangers.len(),
            listed(&strangers)
        ),
    );
    fail(
        !unsigned.is_empty(),
        format!(
            "{} arrivals without a valid Standard Webhooks signature: {}",
            unsigned.len(),
            listed(&unsigned)
        ),
    );
    fail(
        !unexplained.is_empty(),
        format!(
            "{} unexplained duplicate deliveries: {}",
            unexplained.len(),
            listed(&unexplained)
        ),
    );
    fail(f.s5xx > 0, format!("{} answers 5xx other than 503", f.s5xx));
    fail(
        f.s503_other > 0,
        format!("{} answers 503 while no dependency was down", f.s503_other),
    );
    fail(
        f.s4xx > 0,
        format!("{} answers 4xx to well-formed requests", f.s4xx),
    );
    fail(
        !disagrees.is_empty(),
        format!(
            "{} acknowledged events not `delivered` in the event log: {}",
            disagrees.len(),
            listed(&disagrees)
        ),
    );
    fail(f.acked == 0, "nothing was acknowledged".into());
    if !allowed.is_empty() {
        allowed.sort();
        notes.push(format!(
            "{} duplicates of deliveries in flight when the fault hit (allowed): {}",
            allowed.len(),
            listed(&allowed)
        ));
    }
    Verdict {
        figures: f,
        failures,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(hash: u8, outcome: Outcome, at: Instant) -> Sent {
        Sent {
            hash: [hash; 32],
            at,
            answered: Some(at),
            outcome,
        }
    }

    fn arrival(id: &str, hash: u8, at: Instant) -> Arrival {
        Arrival {
            id: id.into(),
            hash: [hash; 32],
            at,
            ok: true,
            signed: true,
        }
    }

    fn delivered(ids: &[&str]) -> HashMap<String, String> {
        ids.iter()
            .map(|i| (i.to_string(), "delivered".to_string()))
            .collect()
    }

    #[test]
    fn a_clean_run_passes_and_every_fault_is_named() {
        let t = Instant::now();
        let s = vec![
            sent(1, Outcome::Acked("a".into()), t),
            sent(2, Outcome::Acked("b".into()), t),
        ];
        let good = vec![arrival("a", 1, t), arrival("b", 2, t)];
        let v = check(&s, &good, &delivered(&["a", "b"]), &Rules::default(), t);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
        assert_eq!((v.figures.acked, v.figures.delivered), (2, 2));

        // Lost, altered, never sent, duplicated, and a log that disagrees.
        let bad = vec![
            arrival("a", 9, t),
            arrival("x", 7, t),
            arrival("b", 2, t),
            arrival("b", 2, t),
        ];
        let v = check(&s, &bad, &delivered(&["a"]), &Rules::default(), t);
        let all = v.failures.join("\n");
        for needle in [
            "never arrived: a",
            "body unlike",
            "never sent: x",
            "unexplained duplicate deliveries: b ×2",
            "not `delivered`",
        ] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
    }

    #[test]
    fn duplicates_and_503s_are_allowed_only_inside_a_fault_window() {
        let t = Instant::now();
        let w = Window {
            start: t + Duration::from_secs(10),
            end: t + Duration::from_secs(12),
        };
        let rules = Rules {
            windows: vec![w],
            duplicates_allowed: true,
            dependency: true,
            in_flight: Duration::from_secs(3),
        };
        let at = |s: u64| t + Duration::from_secs(s);
        let s = vec![
            sent(1, Outcome::Acked("a".into()), at(8)),
            sent(2, Outcome::Acked("b".into()), at(1)),
            sent(3, Outcome::Status(503), at(11)),
            sent(4, Outcome::Status(503), at(30)),
            sent(5, Outcome::Status(500), at(11)),
        ];
        let arrivals = vec![
            arrival("a", 1, at(9)),
            arrival("a", 1, at(15)),
            arrival("b", 2, at(2)),
            arrival("b", 2, at(3)),
        ];
        let v = check(&s, &arrivals, &delivered(&["a", "b"]), &rules, at(12));
        assert_eq!(v.figures.duplicates_allowed, 1);
        assert_eq!(v.figures.duplicates_unexplained, 1);
        assert_eq!(
            (v.figures.s503_allowed, v.figures.s503_other, v.figures.s5xx),
            (1, 1, 1)
        );
        assert_eq!(v.failures.len(), 3, "{:?}", v.failures);
    }
}
