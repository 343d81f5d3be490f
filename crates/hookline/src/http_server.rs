//! The HTTP server: our own accept loop over hyper (HTTP/1.1 and HTTP/2 on
//! one port), because `axum::serve` has no read timeouts and no connection
//! cap, so a few hundred clients trickling bytes could hold it forever.
//!
//! What each limit ([`crate::config::HttpConfig`]) does:
//! - **Connection cap** (`max_connections`): a semaphore permit is taken
//!   *before* `accept`, so past the cap new connections wait in the kernel's
//!   listen backlog (as nginx does at `worker_connections`) instead of being
//!   refused; the timeouts below bound how long the slots stay taken.
//! - **First request** (`header_read_timeout`): a connection must deliver its
//!   first request's headers within this, whatever the protocol (this also
//!   covers the HTTP/2 preface and, later, the TLS handshake).
//! - **Headers** (`header_read_timeout`): hyper's HTTP/1 header timer, which
//!   also runs while a keep-alive connection waits for its next request, so
//!   an idle keep-alive connection closes after it too. HTTP/2 connections
//!   are pinged at that interval and closed when a ping is not answered.
//! - **Body** (`body_idle_timeout`, `body_read_timeout`): every request body
//!   is wrapped in [`TimeoutBody`], which fails with [`BodyTimeout`] when the
//!   client sends nothing for `body_idle_timeout` while the handler waits for
//!   it, or has not sent it all `body_read_timeout` after it was first read
//!   (a trickle of one byte just inside the idle timeout); ingest answers 408
//!   and hyper closes the connection (a body not read to its end never leaves
//!   a connection reusable).
//!
//! The client address is put in each request's extensions as axum's
//! [`ConnectInfo`]`<SocketAddr>` (the management-key throttle and the
//! rejected-call limit read it): the peer's, or behind a proxy listed in
//! `http.trusted_proxies`, the one its `X-Forwarded-For` names
//! ([`client_addr`]).
//!
//! Shutdown: when the token is cancelled the listener is closed at once,
//! idle connections are closed, requests in flight finish, and [`serve`]
//! returns once every connection is gone, dropping the router (and with it
//! the ingest writer's handles), which `run_until_stopped` relies on.
//!
//! TLS ([`crate::tls`], when `[tls]` names certificate files): the acceptor
//! wraps the accepted `TcpStream` in the connection task, under the
//! first-request deadline (a client that stalls its handshake is cut like
//! one that stalls its headers); a failed handshake (plain HTTP sent to the
//! HTTPS port, an unknown CA) closes the connection with a debug line.
//! [`serve_connection`] is generic over the stream. The certificate files
//! are read again every `tls.reload_interval` by a task that lives as long
//! as [`serve`].

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use ipnet::IpNet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The server's limits, from `[http]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` names the client (see [`client_addr`]).
    pub trusted_proxies: Arc<[IpNet]>,
}

impl From<&crate::config::HttpConfig> for Limits {
    fn from(c: &crate::config::HttpConfig) -> Self {
        Limits {
            header_read_timeout: c.header_read_timeout,
            body_idle_timeout: c.body_idle_timeout,
            body_read_timeout: c.body_read_timeout,
            max_connections: c.max_connections,
            trusted_proxies: c.trusted_proxies.clone().into(),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Accepts connections on `listener` and serves `router` on each until
/// `shutdown` is cancelled; then drains (see the module docs) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Arc<crate::tls::Tls>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let reloader = tls.as_ref().map(|t| t.spawn_reloader(shutdown.clone()));
    // Caps open connections: a permit lives as long as its connection task.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Tells every connection to finish its requests and close, and waits.
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(builder(&limits));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // EMFILE and the like: wait for descriptors to free up
                    // rather than spin.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (builder, router, watcher) = (builder.clone(), router.clone(), graceful.watcher());
        let (tls, limits) = (tls.clone(), limits.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let first_request_by = Instant::now() + limits.header_read_timeout;
            let Some(tls) = tls else {
                let io = TokioIo::new(stream);
                serve_connection(
                    &builder,
                    io,
                    peer,
                    router,
                    &limits,
                    first_request_by,
                    watcher,
                )
                .await;
                return;
            };
            let stream = match tokio::time::timeout_at(
                first_request_by,
                tls.acceptor().accept(stream),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed: connection closed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "no TLS handshake within header_read_timeout: connection closed");
                    return;
                }
            };
            let io = TokioIo::new(stream);
            serve_connection(
                &builder,
                io,
                peer,
                router,
                &limits,
                first_request_by,
                watcher,
            )
            .await;
        });
    }
    drop(listener);
    drop(router);
    graceful.shutdown().await;
    if let Some(r) = reloader {
        let _ = r.await;
    }
    Ok(())
}

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    b
}

/// Serves one connection until it closes, or until `first_request_by` when
/// no request's headers have arrived by then.
pub async fn serve_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    peer: SocketAddr,
    router: Router,
    limits: &Limits,
    first_request_by: Instant,
    watcher: Watcher,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    // Signalled by every request, so the first one ends the deadline.
    let requested = Arc::new(Notify::new());
    let (idle, total) = (limits.body_idle_timeout, limits.body_read_timeout);
    let service = {
        let requested = requested.clone();
        let trusted = limits.trusted_proxies.clone();
        hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            requested.notify_one();
            let client = client_addr(peer, req.headers(), &trusted);
            req.extensions_mut().insert(ConnectInfo(client));
            let req = req.map(|b| axum::body::Body::new(TimeoutBody::new(b, idle, total)));
            router.clone().oneshot(req)
        })
    };
    let conn = watcher.watch(builder.serve_connection(io, service).into_owned());
    tokio::pin!(conn);
    let served = tokio::select! {
        served = &mut conn => served,
        first = tokio::time::timeout_at(first_request_by, requested.notified()) => match first {
            Ok(()) => conn.await,
            Err(_) => {
                tracing::debug!(%peer, "no request within header_read_timeout: connection closed");
                return;
            }
        },
    };
    if let Err(e) = served {
        // Timeouts, resets and malformed requests: the client's doing.
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The client's address: the peer's, or, when the peer is one of
/// `trusted` proxies, the last address in `X-Forwarded-For` that is not
/// itself a trusted proxy (each proxy appends the address it received from,
/// so entries left of the first untrusted one may be made up by the client).
/// The port is the peer's. A header that does not parse is ignored.
pub fn client_addr(peer: SocketAddr, headers: &http::HeaderMap, trusted: &[IpNet]) -> SocketAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if trusted.is_empty() || !is_trusted(&peer.ip()) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for hop in text.split(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip.to_canonical()),
                Err(_) => return peer,
            }
        }
    }
    match hops.iter().rev().find(|ip| !is_trusted(ip)) {
        Some(ip) => SocketAddr::new(*ip, peer.port()),
        // Every hop is a proxy of ours: the first one is as close to the
        // client as we know.
        None => hops
            .first()
            .map_or(peer, |ip| SocketAddr::new(*ip, peer.port())),
    }
}

/// Errors of one incoming connection, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// A request body that sent nothing for [`Limits::body_idle_timeout`] while
/// the handler was waiting for it, or that was not whole within
/// [`Limits::body_read_timeout`].
#[derive(Debug, thiserror::Error)]
pub enum BodyTimeout {
    #[error("the request body sent nothing for {}", humantime::format_duration(*.0))]
    Idle(Duration),
    #[error("the request body did not arrive within {}", humantime::format_duration(*.0))]
    Total(Duration),
}

/// A body that fails with [`BodyTimeout`] when its inner body stays pending
/// for `idle`, or is still unfinished `total` after it was first read. The
/// idle timer runs only while the reader waits on the client and restarts
/// after every frame, so a slow reader is never blamed on the client.
pub struct TimeoutBody<B> {
    inner: B,
    idle: Duration,
    total: Duration,
    /// First read + `total`, set on the first read.
    ends: Option<Instant>,
    /// Allocated on the first wait and reused; `armed` says whether it
    /// measures the current wait.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<B> TimeoutBody<B> {
    pub fn new(inner: B, idle: Duration, total: Duration) -> Self {
        TimeoutBody {
            inner,
            idle,
            total,
            ends: None,
            sleep: None,
            armed: false,
        }
    }
}

impl<B> Body for TimeoutBody<B>
where
    B: Body + Unpin,
    B::Data: Buf,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let now = Instant::now();
        let ends = *this.ends.get_or_insert(now + this.total);
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = (now + this.idle).min(ends);
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !this.armed {
            sleep.as_mut().reset(deadline);
            this.armed = true;
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let e = if Instant::now() >= ends {
                    BodyTimeout::Total(this.total)
                } else {
                    BodyTimeout::Idle(this.idle)
                };
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let ip = |h: &http::HeaderMap, peer, t: &[IpNet]| client_addr(peer, h, t).ip().to_string();
        // No trusted proxies: the header is the client's word, ignored.
        assert_eq!(ip(&xff(&["203.0.113.7"]), proxy, &[]), "10.0.0.5");
        // From a trusted proxy: the address it received from.
        assert_eq!(ip(&xff(&["203.0.113.7"]), proxy, &trusted), "203.0.113.7");
        // A client-made entry on the left is skipped; chained proxies too.
        assert_eq!(
            ip(&xff(&["1.1.1.1, 203.0.113.7", "10.0.0.9"]), proxy, &trusted),
            "203.0.113.7"
        );
        // From an untrusted peer, nothing in the header counts.
        let direct: SocketAddr = "198.51.100.1:1".parse().unwrap();
        assert_eq!(ip(&xff(&["10.0.0.1"]), direct, &trusted), "198.51.100.1");
        // Garbage or no header: the proxy's own address.
        assert_eq!(ip(&xff(&["nonsense"]), proxy, &trusted), "10.0.0.5");
        assert_eq!(ip(&xff(&[]), proxy, &trusted), "10.0.0.5");
        // IPv4-mapped IPv6 peers match IPv4 networks.
        let mapped: SocketAddr = "[::ffff:10.0.0.5]:4000".parse().unwrap();
        assert_eq!(ip(&xff(&["2001:db8::1"]), mapped, &trusted), "2001:db8::1");
    }
}
