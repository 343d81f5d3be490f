//! The receiver Hookline forwards to: a bare HTTP/1 server on loopback that
//! records every arrival (`webhook-id`, SHA-256 of the body, time, whether
//! the Standard Webhooks signature Hookline adds is valid) and answers as its
//! current [`Mode`] says — at once, 500, never, by closing the connection, or
//! after a delay. The mode is read per request, so a pooled keep-alive
//! connection opened before a fault sees the fault too.

use anyhow::Result;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// 500 to every request.
    Fail,
    /// Reads the request and never answers (until the mode changes, at most
    /// [`HANG_CAP`]; then closes the connection).
    Hang,
    /// Reads the request and closes the connection without an answer.
    Reset,
    /// 200 after the delay.
    Slow(Duration),
}

/// The longest a hanging request is held, so no task outlives a scenario.
const HANG_CAP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Arrival {
    pub id: String,
    pub hash: [u8; 32],
    pub at: Instant,
    /// Answered 2xx: Hookline may count this delivery as done.
    pub ok: bool,
    /// The `webhook-signature` holds a valid signature with the secret.
    pub signed: bool,
}

struct State {
    mode: Mutex<Mode>,
    secret: Mutex<String>,
    arrivals: Mutex<Vec<Arrival>>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    pub async fn start() -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let state = Arc::new(State {
            mode: Mutex::new(Mode::Ok),
            secret: Mutex::new(String::new()),
            arrivals: Mutex::new(Vec::new()),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                // A second handle on the socket, so a request can close its
                // own connection (`Mode::Reset`).
                let Ok(std) = stream.into_std() else { continue };
                let Ok(dup) = std.try_clone() else { continue };
                let Ok(stream) = tokio::net::TcpStream::from_std(std) else {
                    continue;
                };
                let dup = Arc::new(dup);
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(state.clone(), dup.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver { url, state })
    }

    pub fn set_secret(&self, secret: &str) {
        *self.state.secret.lock().expect("secret") = secret.to_owned();
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().expect("mode") = mode;
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.state.arrivals.lock().expect("arrivals").clone()
    }

    pub fn count(&self) -> usize {
        self.state.arrivals.lock().expect("arrivals").len()
    }
}

fn header<'h>(h: &'h http::HeaderMap, name: &str) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// `v1,<sig>` entries of `webhook-signature` against the expected one.
fn signature_ok(secret: &str, headers: &http::HeaderMap, body: &[u8]) -> bool {
    let id = header(headers, "webhook-id");
    let Ok(ts) = header(headers, "webhook-timestamp").parse::<i64>() else {
        return false;
    };
    let Ok(expected) = hookline_verify::standard::sign(secret, id, ts, body) else {
        return false;
    };
    header(headers, "webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

async fn handle(
    state: Arc<State>,
    conn: Arc<std::net::TcpStream>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let at = Instant::now();
    let mode = *state.mode.lock().expect("mode");
    let secret = state.secret.lock().expect("secret").clone();
    let record = |ok: bool| {
        state.arrivals.lock().expect("arrivals").push(Arrival {
            id: header(&parts.headers, "webhook-id").to_owned(),
            hash: Sha256::digest(&body).into(),
            at,
            ok,
            signed: signature_ok(&secret, &parts.headers, &body),
        })
    };
    let answer = |status: StatusCode| {
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(b"{}")))
            .expect("a static response is valid"))
    };
    match mode {
        Mode::Ok => {
            record(true);
            answer(StatusCode::OK)
        }
        Mode::Fail => {
            record(false);
            answer(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Mode::Hang => {
            record(false);
            let deadline = tokio::time::Instant::now() + HANG_CAP;
            while *state.mode.lock().expect("mode") == Mode::Hang
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Whoever asked gave up long ago; close rather than answer.
            let _ = conn.shutdown(Shutdown::Both);
            Err(std::io::Error::other("hung up"))
        }
        Mode::Reset => {
            record(false);
            let _ = conn.shutdown(Shutdown::Both);
            Err(std::io::Error::other("reset"))
        }
        Mode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            record(true);
            answer(StatusCode::OK)
        }
    }
}
