//! The steady load: signed Stripe-like webhooks at a fixed rate, each with
//! its own sequence number in the body (`evt_<run><seq>`, also the provider
//! event id Hookline deduplicates on), spread round-robin over the nodes
//! that are currently targets (a node being paused or restarted is taken out
//! first, as a load balancer would). Every request is recorded: its body
//! hash, when it was sent and answered, and the answer.

use bytes::Bytes;
use hookline_bench::net::{self, Client};
use hookline_bench::payload::{Bodies, Signer};
use hookline_bench::targets::VERIFY_SECRET;
use http::header::CONTENT_TYPE;
use http::Request;
use http_body_util::Full;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not answered yet.
    Pending,
    /// 2xx with the event id Hookline gave it.
    Acked(String),
    /// Any other status.
    Status(u16),
    /// Connection refused or dropped, or no answer within the timeout.
    Unanswered(String),
    /// Too many requests outstanding: never sent.
    Skipped,
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub hash: [u8; 32],
    pub at: Instant,
    pub answered: Option<Instant>,
    pub outcome: Outcome,
}

/// The nodes' base URLs, by index; `None` while a node takes no traffic.
#[derive(Default)]
pub struct Targets(RwLock<Vec<Option<String>>>);

impl Targets {
    pub fn set(&self, i: usize, base: Option<String>) {
        let mut t = self.0.write().expect("targets");
        if t.len() <= i {
            t.resize(i + 1, None);
        }
        t[i] = base;
    }

    fn pick(&self, n: usize) -> Option<String> {
        let t = self.0.read().expect("targets");
        let live: Vec<&String> = t.iter().flatten().collect();
        (!live.is_empty()).then(|| live[n % live.len()].clone())
    }
}

pub struct Load {
    pub records: Mutex<Vec<Sent>>,
    pub targets: Targets,
    stop: AtomicBool,
    in_flight: Arc<Semaphore>,
    bodies: Bodies,
    signer: Signer,
    link_path: String,
    client: Client,
    next_target: AtomicUsize,
}

/// Most requests outstanding at once; more are recorded as skipped.
const MAX_IN_FLIGHT: usize = 256;
/// Per-request timeout of the load's client.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Load {
    /// `link_path` is `/webhooks/v1/process/<id>`; `run` keeps provider
    /// event ids of different scenarios apart.
    pub fn new(link_path: String, run: u64) -> Arc<Load> {
        Arc::new(Load {
            records: Mutex::new(Vec::new()),
            targets: Targets::default(),
            stop: AtomicBool::new(false),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            bodies: Bodies::new(300, 900, 8, run).for_run(run),
            signer: Signer::Stripe {
                secret: VERIFY_SECRET.to_owned(),
            },
            link_path,
            client: net::client(),
            next_target: AtomicUsize::new(0),
        })
    }

    /// Sends `rate` requests per second until [`Load::stop`] or `max`
    /// elapsed.
    pub fn spawn(self: &Arc<Self>, rate: u32, max: Duration) -> tokio::task::JoinHandle<()> {
        let load = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let until = Instant::now() + max;
            while !load.stop.load(Ordering::SeqCst) && Instant::now() < until {
                tick.tick().await;
                load.send_one();
            }
        })
    }

    fn send_one(self: &Arc<Self>) {
        let (seq, body) = {
            let mut records = self.records.lock().expect("records");
            let body = self.bodies.body(records.len() as u64);
            let hash: [u8; 32] = Sha256::digest(&body).into();
            records.push(Sent {
                hash,
                at: Instant::now(),
                answered: None,
                outcome: Outcome::Pending,
            });
            (records.len() - 1, body)
        };
        let target = self
            .targets
            .pick(self.next_target.fetch_add(1, Ordering::Relaxed));
        let (Some(base), Ok(permit)) = (target, self.in_flight.clone().try_acquire_owned()) else {
            self.finish(seq, Outcome::Skipped);
            return;
        };
        let load = self.clone();
        tokio::spawn(async move {
            let outcome = load.post(&base, body).await;
            load.finish(seq, outcome);
            drop(permit);
        });
    }

    async fn post(&self, base: &str, body: Bytes) -> Outcome {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut req = Request::post(format!("{base}{}", self.link_path))
            .header(CONTENT_TYPE, "application/json; charset=utf-8");
        if let Some(sig) = self.signer.header(&body, now) {
            req = req.header("stripe-signature", sig);
        }
        let Ok(req) = req.body(Full::new(body)) else {
            return Outcome::Unanswered("request".into());
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, net::exchange(&self.client, req)).await {
            Err(_) => Outcome::Unanswered("timeout".into()),
            Ok(Err(kind)) => Outcome::Unanswered(kind),
            Ok(Ok((status, answer))) if status.is_success() => {
                match serde_json::from_slice::<serde_json::Value>(&answer)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(String::from))
                {
                    Some(id) => Outcome::Acked(id),
                    None => Outcome::Status(status.as_u16()),
                }
            }
            Ok(Ok((status, _))) => Outcome::Status(status.as_u16()),
        }
    }

    fn finish(&self, seq: usize, outcome: Outcome) {
        let mut records = self.records.lock().expect("records");
        records[seq].answered = Some(Instant::now());
        records[seq].outcome = outcome;
    }

    /// Stops sending and waits (at most `within`) for outstanding answers.
    pub async fn stop(&self, within: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let _ =
            tokio::time::timeout(within, self.in_flight.acquire_many(MAX_IN_FLIGHT as u32)).await;
    }

    pub fn snapshot(&self) -> Vec<Sent> {
        self.records.lock().expect("records").clone()
    }
}
