//! The open model's timeline, and the two ways of driving load.
//!
//! **Open model** ([`run_open`]): request `i` is due at `start + i / rate`,
//! whatever happened to the requests before it. A dedicated OS thread
//! releases each request at its due time (`std::thread::sleep` is precise to
//! tens of microseconds, tokio's timer only to a millisecond), and its
//! latency is counted from the **due time**, not from when it was actually
//! sent: a server that stalls makes every request scheduled during the
//! stall late, and all of that lateness is reported (no coordinated
//! omission). At most `max_in_flight` requests are outstanding; a request
//! waiting for a slot is still timed from its due time.
//!
//! **Closed loop** ([`run_closed`]): `connections` workers each send, wait
//! for the answer, and send again, until a deadline or a request count. It
//! finds the maximum rate; its latencies are from send to answer.

use crate::hist::Latency;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// The answer of one request: `Ok(event id if the answer carried one)` for a
/// 2xx, or `Err(kind)` (`connect`, `io`, `timeout`, `http_503`, …).
pub type Reply = Result<Option<String>, String>;
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
/// Builds and sends request number `i`.
pub type SendFn = Arc<dyn Fn(u64) -> ReplyFuture + Send + Sync>;

/// When each request of an open-model run is due.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    start: Instant,
    rate: f64,
    count: u64,
}

impl Timeline {
    /// `count` requests at `rate` per second from `start`. Panics on a rate
    /// that is not a positive finite number (the CLI refuses those first).
    pub fn new(start: Instant, rate: f64, count: u64) -> Self {
        assert!(rate.is_finite() && rate > 0.0, "rate must be positive");
        Timeline { start, rate, count }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Due time of request `i`: computed from `i`, never by adding up
    /// intervals, so rounding cannot drift over a long run.
    pub fn at(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// Latency as the open model counts it: from when the request was due.
pub fn from_schedule(due: Instant, done: Instant) -> Duration {
    done.saturating_duration_since(due)
}

/// What a run collected.
pub struct Collected {
    /// Latency of every 2xx answer (open: from due time; closed: from send).
    pub ack: Latency,
    /// Open model only: how late the load tool itself started each request
    /// (due time → task running), to tell the tool's share of the latency.
    pub dispatch_lag: Latency,
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// (event id, due time) of every answer that carried an id.
    pub ids: Vec<(String, Instant)>,
    pub start: Instant,
    pub last_done: Instant,
}

impl Collected {
    /// Nothing collected yet, timed from `start`.
    pub fn empty(start: Instant) -> Self {
        Collected {
            ack: Latency::new(),
            dispatch_lag: Latency::new(),
            sent: 0,
            ok: 0,
            errors: BTreeMap::new(),
            ids: Vec::new(),
            start,
            last_done: start,
        }
    }

    fn add(&mut self, r: Record) {
        self.sent += 1;
        self.last_done = self.last_done.max(r.done);
        if let Some(lag) = r.lag {
            self.dispatch_lag.record(lag);
        }
        match r.reply {
            Ok(id) => {
                self.ok += 1;
                self.ack.record(from_schedule(r.due, r.done));
                if let Some(id) = id {
                    self.ids.push((id, r.due));
                }
            }
            Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }

    /// From the first due time to the last answer.
    pub fn wall(&self) -> Duration {
        self.last_done.saturating_duration_since(self.start)
    }
}

struct Record {
    due: Instant,
    done: Instant,
    lag: Option<Duration>,
    reply: Reply,
}

async fn timed(send: &SendFn, i: u64, timeout: Duration) -> Reply {
    match tokio::time::timeout(timeout, send(i)).await {
        Ok(reply) => reply,
        Err(_) => Err("timeout".into()),
    }
}

/// Runs the timeline: see the module docs. Must be called inside a tokio
/// runtime, whose workers run the requests.
pub async fn run_open(
    timeline: Timeline,
    max_in_flight: usize,
    timeout: Duration,
    send: SendFn,
) -> Collected {
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    let runtime = tokio::runtime::Handle::current();
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let dispatcher = std::thread::Builder::new()
        .name("open-model".into())
        .spawn(move || {
            for i in 0..timeline.count() {
                let due = timeline.at(i);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let (tx, slots, send) = (tx.clone(), slots.clone(), send.clone());
                runtime.spawn(async move {
                    let lag = from_schedule(due, Instant::now());
                    let reply = match slots.acquire_owned().await {
                        Ok(_slot) => timed(&send, i, timeout).await,
                        Err(_) => Err("closed".into()),
                    };
                    let _ = tx.send(Record {
                        due,
                        done: Instant::now(),
                        lag: Some(lag),
                        reply,
                    });
                });
            }
        })
        .expect("spawning the dispatcher thread");
    let mut collected = Collected::empty(timeline.start());
    // Ends when the dispatcher and every request task have dropped `tx`.
    while let Some(record) = rx.recv().await {
        collected.add(record);
    }
    let _ = tokio::task::spawn_blocking(move || dispatcher.join()).await;
    collected
}

/// Closed loop: `connections` workers until `deadline` or until `max_count`
/// requests have been started, whichever comes first.
pub async fn run_closed(
    connections: usize,
    deadline: Instant,
    max_count: Option<u64>,
    timeout: Duration,
    send: SendFn,
) -> Collected {
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let limit = max_count.unwrap_or(u64::MAX);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (next, send) = (next.clone(), send.clone());
        workers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let sent = Instant::now();
                let reply = timed(&send, i, timeout).await;
                mine.push(Record {
                    due: sent,
                    done: Instant::now(),
                    lag: None,
                    reply,
                });
            }
            mine
        });
    }
    let mut collected = Collected::empty(start);
    while let Some(done) = workers.join_next().await {
        for record in done.expect("a load worker panicked") {
            collected.add(record);
        }
    }
    collected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_evenly_spaced_from_the_start() {
        let start = Instant::now();
        let t = Timeline::new(start, 1_000.0, 5_000);
        assert_eq!(t.at(0), start);
        for i in 1..t.count() {
            let gap = t.at(i) - t.at(i - 1);
            let off = gap.as_nanos().abs_diff(1_000_000);
            assert!(off <= 1, "gap {i} is {gap:?}");
        }
    }

    #[test]
    fn due_times_do_not_drift_over_long_runs() {
        let start = Instant::now();
        // 1/3000 s is not a whole number of nanoseconds.
        let t = Timeline::new(start, 3_000.0, 0);
        let at = t.at(3_000_000) - start;
        assert!(at.as_nanos().abs_diff(1_000_000_000_000) < 1_000, "{at:?}");
    }

    #[test]
    fn latency_counts_from_the_due_time() {
        let due = Instant::now();
        let done = due + Duration::from_millis(7);
        assert_eq!(from_schedule(due, done), Duration::from_millis(7));
        // Done "before" due (clock granularity) is zero, not a panic.
        assert_eq!(from_schedule(done, due), Duration::ZERO);
    }

    /// A server that handles one request at a time, 10 ms each.
    fn serial_server() -> SendFn {
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        Arc::new(move |i| {
            let lock = lock.clone();
            Box::pin(async move {
                let _one = lock.lock().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(Some(format!("evt_{i}")))
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_server_cannot_hide_behind_the_schedule() {
        // 20 requests due 1 ms apart; the server takes 10 ms each, one at a
        // time, so request i answers ~10 (i + 1) ms after the start while it
        // was due at i ms: the last one is ~190 ms late. Measuring from the
        // actual send (coordinated omission) would report ~10 ms for all.
        let t = Timeline::new(Instant::now(), 1_000.0, 20);
        let c = run_open(t, 1, Duration::from_secs(5), serial_server()).await;
        assert_eq!((c.sent, c.ok), (20, 20));
        let s = c.ack.summary();
        assert!(
            s.max_ms >= 170.0,
            "max {} ms: latency not counted from the schedule",
            s.max_ms
        );
        assert!(s.p50_ms >= 80.0, "p50 {} ms", s.p50_ms);
        assert!(s.min_ms >= 9.0, "min {} ms", s.min_ms);
        assert_eq!(c.ids.len(), 20);
        // Ids are recorded with their due time, evenly spaced.
        let mut ids = c.ids.clone();
        ids.sort_by_key(|(_, due)| *due);
        assert_eq!(ids[5].1 - ids[4].1, Duration::from_millis(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_are_released_on_schedule() {
        // A fast server: each request should start within a few ms of its
        // due time, and the run should last as long as the timeline.
        let started = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = started.clone();
        let send: SendFn = Arc::new(move |i| {
            log.lock().unwrap().push((i, Instant::now()));
            Box::pin(async { Ok(None) })
        });
        let t = Timeline::new(Instant::now() + Duration::from_millis(5), 200.0, 40);
        let c = run_open(t, 64, Duration::from_secs(5), send).await;
        assert_eq!(c.ok, 40);
        let started = started.lock().unwrap();
        for &(i, at) in started.iter() {
            let due = t.at(i);
            assert!(at >= due, "request {i} started before it was due");
            assert!(
                at - due < Duration::from_millis(30),
                "request {i} started {:?} late",
                at - due
            );
        }
        assert!(c.wall() >= Duration::from_millis(195), "{:?}", c.wall());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_are_counted_by_kind_and_timeouts_cut() {
        let send: SendFn = Arc::new(|i| {
            Box::pin(async move {
                match i % 3 {
                    0 => Ok(None),
                    1 => Err("http_503".to_owned()),
                    _ => {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        Ok(None)
                    }
                }
            })
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let c = run_closed(2, deadline, Some(6), Duration::from_millis(50), send).await;
        assert_eq!(c.sent, 6);
        assert_eq!(c.ok, 2);
        assert_eq!(c.errors.get("http_503"), Some(&2));
        assert_eq!(c.errors.get("timeout"), Some(&2));
        assert_eq!(c.errors.values().sum::<u64>(), 4);
    }
}
