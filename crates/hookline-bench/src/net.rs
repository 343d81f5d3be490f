//! HTTP on loopback: the load tool's client, the management API helper, the
//! bare baseline server and the recording receiver.

use crate::payload::{Bodies, Signer};
use crate::schedule::SendFn;
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A pooled HTTP/1 client with `TCP_NODELAY`; it opens a connection per
/// concurrent request and keeps them alive.
pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// The error kinds the report counts.
fn classify(e: &hyper_util::client::legacy::Error) -> String {
    if e.is_connect() {
        "connect".into()
    } else {
        "io".into()
    }
}

/// Sends and reads the whole answer.
pub async fn exchange(
    client: &Client,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    let resp = client.request(req).await.map_err(|e| classify(&e))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| "io".to_owned())?
        .to_bytes();
    Ok((status, body))
}

#[derive(serde::Deserialize)]
struct Accepted {
    id: String,
}

/// POSTs the next body (see [`Bodies::next`]) to one of `links` (spread
/// evenly by a hash of `i`), signed as `signer` says. The answer's `id` is
/// the event id.
pub fn ingest_sender(
    client: Client,
    links: Arc<Vec<Uri>>,
    bodies: Arc<Bodies>,
    signer: Signer,
) -> SendFn {
    Arc::new(move |i| {
        let client = client.clone();
        // Fibonacci hashing: consecutive requests land on unrelated links.
        let pick = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) % links.len() as u64;
        let uri = links[pick as usize].clone();
        // Not `body(i)`: `i` restarts with every phase, and a repeated
        // provider event id is answered as a redelivery, never forwarded.
        let body = bodies.next();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let signature = signer.header(&body, now);
        Box::pin(async move {
            let mut req = Request::post(uri)
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .header(USER_AGENT, "Stripe/1.0 (+https://stripe.com/docs/webhooks)");
            if let Some(sig) = signature {
                req = req.header("stripe-signature", sig);
            }
            let req = req
                .body(Full::new(body))
                .map_err(|_| "request".to_owned())?;
            let (status, answer) = exchange(&client, req).await?;
            if !status.is_success() {
                return Err(format!("http_{}", status.as_u16()));
            }
            Ok(serde_json::from_slice::<Accepted>(&answer)
                .ok()
                .map(|a| a.id))
        })
    })
}

/// GETs `uri` (with the management key when given); any 2xx is a success.
pub fn get_sender(client: Client, uri: Uri, key: Option<String>) -> SendFn {
    Arc::new(move |_| {
        let (client, uri, key) = (client.clone(), uri.clone(), key.clone());
        Box::pin(async move {
            let mut req = Request::get(uri);
            if let Some(key) = key {
                req = req.header(AUTHORIZATION, format!("Bearer {key}"));
            }
            let req = req
                .body(Full::new(Bytes::new()))
                .map_err(|_| "request".to_owned())?;
            let (status, _) = exchange(&client, req).await?;
            if !status.is_success() {
                return Err(format!("http_{}", status.as_u16()));
            }
            Ok(None)
        })
    })
}

/// The management API of one gateway.
#[derive(Clone)]
pub struct Api {
    pub client: Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let uri: Uri = format!("{}{}", self.base, path).parse()?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(AUTHORIZATION, format!("Bearer {}", self.key));
        let bytes = match body {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(v)?)
            }
            None => Bytes::new(),
        };
        let (status, answer) = exchange(&self.client, req.body(Full::new(bytes))?)
            .await
            .map_err(|kind| anyhow::anyhow!("{method} {path}: {kind} error"))?;
        let value = if answer.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer).into_owned()))
        };
        Ok((status, value))
    }

    /// Calls and insists on a 2xx.
    pub async fn ok(&self, method: Method, path: &str, body: &Value) -> Result<Value> {
        let (status, v) = self.call(method.clone(), path, Some(body)).await?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {v}");
        }
        Ok(v)
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.ok(Method::POST, path, &body).await
    }
}

/// What the bare server answers: the shape and size of the gateway's answer.
const BASELINE_ANSWER: &[u8] = br#"{"id":"evt_01JBASE0000000000000000000","status":"received"}"#;

/// The baseline: reads each request's body and answers 200 with a small
/// JSON, doing nothing else. Runs until the process is killed.
pub async fn serve_baseline(listener: tokio::net::TcpListener) -> Result<()> {
    loop {
        let (stream, _) = listener.accept().await.context("accepting")?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header(CONTENT_TYPE, "application/json")
                            .body(Full::new(Bytes::from_static(BASELINE_ANSWER)))
                            .expect("a static response is valid"),
                    )
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The receiver the gateway forwards to: answers 200 at once and records
/// when each `webhook-id` arrived.
pub struct Receiver {
    pub url: String,
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Receiver {
    pub async fn start() -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let log = arrivals.clone();
        let app = axum::Router::new().fallback(move |headers: http::HeaderMap, _body: Bytes| {
            let log = log.clone();
            async move {
                let at = Instant::now();
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                log.lock().expect("arrival log").push((id, at));
                StatusCode::OK
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url, arrivals })
    }

    pub fn len(&self) -> usize {
        self.arrivals.lock().expect("arrival log").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Arrivals from index `from` on.
    pub fn since(&self, from: usize) -> Vec<(String, Instant)> {
        let log = self.arrivals.lock().expect("arrival log");
        log[from.min(log.len())..].to_vec()
    }
}

/// Matches arrivals to sent events.
pub struct Arrivals {
    pub first: HashMap<String, Instant>,
    pub duplicates: u64,
    /// Arrivals whose id was not one we are waiting for (an earlier phase's).
    pub strangers: u64,
    cursor: usize,
}

impl Arrivals {
    pub fn from(cursor: usize) -> Arrivals {
        Arrivals {
            first: HashMap::new(),
            duplicates: 0,
            strangers: 0,
            cursor,
        }
    }

    /// Takes in what arrived since the last call; returns how many of
    /// `wanted` have arrived so far.
    pub fn update(&mut self, r: &Receiver, wanted: &HashMap<String, Instant>) -> usize {
        let new = r.since(self.cursor);
        self.cursor += new.len();
        for (id, at) in new {
            if !wanted.contains_key(&id) {
                self.strangers += 1;
            } else if let std::collections::hash_map::Entry::Vacant(slot) = self.first.entry(id) {
                slot.insert(at);
            } else {
                self.duplicates += 1;
            }
        }
        self.first.len()
    }

    /// Polls until every wanted id arrived or `deadline`; returns the last
    /// arrival time.
    pub async fn wait_all(
        &mut self,
        r: &Receiver,
        wanted: &HashMap<String, Instant>,
        deadline: Instant,
    ) -> Option<Instant> {
        while self.update(r, wanted) < wanted.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.first.values().max().copied()
    }
}
