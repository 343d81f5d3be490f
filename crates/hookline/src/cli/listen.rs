//! `hookline listen <registration or link> --forward-to URL`: the
//! development loop. It follows the gateway's event stream for one
//! registration and forwards every new event to a local URL, the way the
//! gateway would deliver it (original method, headers and body bytes, plus
//! Standard Webhooks headers signed with the registration's secret), and
//! prints one line per event.
//!
//! The listener is a tap: the gateway still delivers to the registration's
//! own receiver, if it has one. When the stream drops, the listener
//! reconnects with the last event id it saw, so nothing is missed; it also
//! starts from the newest existing event, so even the first reconnect has a
//! resume point. Events are forwarded once each, in the order received.

use anyhow::Context;
use clap::Args;
use hookline_client::{
    Client, Error as ApiError, EventFilter, EventQuery, Registration, StreamQuery,
};
use hookline_core::event::Payload;
use hookline_core::model::{Auth, HttpMethod, Receiver};
use hookline_core::outbound::{build_forward, Signing};
use serde::Serialize;
use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ListenArgs {
    /// Registration id (`reg_…`) or its ingest link.
    target: String,
    /// Local URL each event is forwarded to.
    #[arg(long)]
    forward_to: String,
    /// How long a local call may take.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// A stream that sends nothing for this long (the gateway sends a
/// keep-alive every 15 s) is taken as dead and reopened.
const IDLE: Duration = Duration::from_secs(45);
/// Longest wait between reconnection tries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How many forwarded event ids are remembered to skip repeats.
const SEEN: usize = 10_000;

pub async fn run(c: &Client, a: ListenArgs, json: bool) -> anyhow::Result<()> {
    let forward_to = url::Url::parse(&a.forward_to)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .with_context(|| format!("--forward-to `{}` is not an http(s) URL", a.forward_to))?;
    let reg = resolve(c, &a.target).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut listener = Listener {
        client: c,
        http,
        reg,
        forward_to,
        timeout: a.timeout,
        json,
        seen: Seen::default(),
    };
    tokio::select! {
        r = listener.follow() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// A registration id, or the registration whose link this is.
async fn resolve(c: &Client, target: &str) -> anyhow::Result<Registration> {
    if !(target.starts_with("http://") || target.starts_with("https://")) {
        return Ok(c.get_registration(target).await?);
    }
    let link_id = target
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    for p in c.list_products().await? {
        for r in c.list_registrations(&p.tag, None).await? {
            if r.link == target || r.link.rsplit('/').next() == Some(link_id) {
                return Ok(r);
            }
        }
    }
    anyhow::bail!("no registration has the link {target}")
}

struct Listener<'a> {
    client: &'a Client,
    /// Calls the local receiver; no redirects, so the line shows what it answered.
    http: reqwest::Client,
    reg: Registration,
    forward_to: url::Url,
    timeout: Duration,
    json: bool,
    seen: Seen,
}

impl Listener<'_> {
    async fn follow(&mut self) -> anyhow::Result<()> {
        let filter = EventFilter {
            registration: Some(self.reg.id.clone()),
            ..EventFilter::default()
        };
        let query = StreamQuery {
            filter: filter.clone(),
            after: None,
        };
        // Resume point before the first connection: the newest event, so
        // an event that arrives while connecting is not lost.
        let newest = self
            .client
            .list_events(&EventQuery {
                filter,
                limit: Some(1),
                cursor: None,
            })
            .await?;
        let mut last_id = newest.data.first().map(|e| e.id.clone());
        let mut backoff = Duration::from_millis(250);
        let mut ready = false;
        loop {
            match self.client.stream_events(&query, last_id.as_deref()).await {
                Ok(mut stream) => {
                    if !ready {
                        ready = true;
                        eprintln!(
                            "Ready: listening to {}/{} {} {} ({}), forwarding to {}. Ctrl-C to stop.",
                            self.reg.product,
                            self.reg.access_tag,
                            self.reg.event.as_deref().unwrap_or(&self.reg.webhook),
                            self.reg.env,
                            self.reg.id,
                            self.forward_to
                        );
                    }
                    backoff = Duration::from_millis(250);
                    let ended = loop {
                        match stream.next_within(Some(IDLE)).await {
                            Ok(None) => break "the gateway closed the stream".to_owned(),
                            Err(e) => break e.to_string(),
                            Ok(Some(msg)) => {
                                if !msg.is_event() || msg.data.trim().is_empty() {
                                    continue;
                                }
                                match msg.parse_event() {
                                    Ok(event) => self.handle(event).await,
                                    Err(e) => eprintln!("skipped a stream message: {e}"),
                                }
                            }
                        }
                    };
                    if let Some(id) = stream.last_event_id() {
                        last_id = Some(id.to_owned());
                    }
                    if let Some(ms) = stream.retry_ms() {
                        backoff = Duration::from_millis(ms).min(MAX_BACKOFF);
                    }
                    eprintln!("{ended}; reconnecting");
                }
                Err(e) if fatal(&e) => {
                    // The router's fallback answers an unknown path with `not_found`.
                    if e.status() == Some(404) && e.code() == Some("not_found") {
                        anyhow::bail!(
                            "this gateway has no event stream (GET /api/v1/events/stream): {e}"
                        );
                    }
                    return Err(e.into());
                }
                Err(e) => eprintln!("cannot open the event stream: {e}; retrying in {backoff:?}"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn handle(&mut self, event: hookline_client::Event) {
        if event.registration_id != self.reg.id && !event.registration_id.is_empty() {
            return;
        }
        if !self.seen.insert(&event.id) {
            return;
        }
        let time = local_time(&event.received_at);
        let name = event.event.clone().unwrap_or_else(|| "-".into());
        let outcome = if event.status == "rejected" {
            Outcome::skipped("rejected by the signature check; not forwarded")
        } else {
            self.forward(&event.id).await
        };
        if self.json {
            let line = Line {
                time: &event.received_at,
                event: event.event.as_deref(),
                event_id: &event.id,
                status: outcome.status,
                duration_ms: outcome.duration_ms,
                error: outcome.error.as_deref(),
            };
            if let Ok(s) = serde_json::to_string(&line) {
                println!("{s}");
            }
            return;
        }
        let result = match (&outcome.status, &outcome.error) {
            (Some(s), _) => format!("→ {s} ({} ms)", outcome.duration_ms),
            (None, Some(e)) if outcome.skipped => format!("· {e}"),
            (None, Some(e)) => format!("→ error: {e} ({} ms)", outcome.duration_ms),
            (None, None) => "→ ?".into(),
        };
        println!("{time}  {name}  {}  {result}", event.id);
    }

    async fn forward(&self, event_id: &str) -> Outcome {
        let started = Instant::now();
        match self.try_forward(event_id).await {
            Ok(status) => Outcome {
                status: Some(status),
                duration_ms: started.elapsed().as_millis() as u64,
                error: None,
                skipped: false,
            },
            Err(e) => Outcome {
                status: None,
                duration_ms: started.elapsed().as_millis() as u64,
                error: Some(format!("{e:#}")),
                skipped: false,
            },
        }
    }

    async fn try_forward(&self, event_id: &str) -> anyhow::Result<u16> {
        let detail = self
            .client
            .get_event(event_id)
            .await
            .context("reading the event")?;
        let req = &detail.request;
        let payload = Payload {
            method: req.method.clone(),
            query: req.query.clone(),
            // The API shows header values as text (lossy where they were
            // not UTF-8).
            headers: req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().into()))
                .collect(),
            body: req.body_bytes().context("decoding the body")?,
        };
        // The gateway's own request builder, so the local receiver sees
        // what a delivery would carry. POST keeps the body as is; the
        // original method is set below.
        let receiver = Receiver {
            url: self.forward_to.clone(),
            method: HttpMethod::Post,
            auth: Auth::default(),
        };
        let secret = self.reg.signing_secret.as_str();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let fwd = build_forward(
            &receiver,
            &payload,
            &Signing {
                msg_id: event_id,
                timestamp: now,
                secrets: &[secret],
            },
        )?;
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut call = self
            .http
            .request(method, fwd.url)
            .timeout(self.timeout)
            .body(fwd.body);
        for (k, v) in &fwd.headers {
            call = call.header(k.as_str(), v.as_bytes());
        }
        let resp = call.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection refused or unreachable"
            } else {
                "request failed"
            };
            anyhow::anyhow!("{kind}: {}", root_cause(&e))
        })?;
        Ok(resp.status().as_u16())
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Errors a reconnect cannot fix: a bad key, a missing registration, a
/// gateway without the stream, a refused query.
fn fatal(e: &ApiError) -> bool {
    matches!(e.status(), Some(400 | 401 | 403 | 404 | 405 | 410 | 422))
}

struct Outcome {
    status: Option<u16>,
    duration_ms: u64,
    error: Option<String>,
    skipped: bool,
}

impl Outcome {
    fn skipped(why: &str) -> Self {
        Outcome {
            status: None,
            duration_ms: 0,
            error: Some(why.into()),
            skipped: true,
        }
    }
}

/// One `--json` line.
#[derive(Serialize)]
struct Line<'a> {
    time: &'a str,
    event: Option<&'a str>,
    event_id: &'a str,
    status: Option<u16>,
    duration_ms: u64,
    error: Option<&'a str>,
}

/// An RFC 3339 time as local `YYYY-MM-DD HH:MM:SS` (as given when it does not parse).
fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// The last [`SEEN`] event ids forwarded.
#[derive(Default)]
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// `false` when `id` was seen already.
    fn insert(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > SEEN {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_forgets_the_oldest() {
        let mut s = Seen::default();
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        for i in 0..SEEN {
            s.insert(&i.to_string());
        }
        assert!(s.insert("a"));
    }

    #[test]
    fn prints_local_time_or_the_raw_text() {
        assert_eq!(local_time("nope"), "nope");
        assert_eq!(local_time("2024-05-01T12:00:00Z").len(), 19);
    }
}
