//! Accepting connections: the caps and timers that keep a client from holding
//! the server's sockets. axum's own `serve` sets no timer (so hyper's
//! header-read timeout is off), closes no idle connection and takes every
//! connection offered; this loop does what it does plus:
//!
//! - at most `max_connections` open connections, WebSockets included, and
//!   `max_connections_per_address` from one client address: the next is
//!   answered 503 and closed;
//! - `http_header_timeout` to send a request's headers, which is also how
//!   long an idle keep-alive connection is kept (hyper starts the same timer
//!   while it waits for the next request);
//! - TCP_NODELAY, and a graceful shutdown that lets requests finish.
//!
//! The slots are held by the connection's I/O object itself ([`Counted`]), so
//! a connection upgraded to a WebSocket keeps its slot until the socket closes.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::limits::{Limits, Slot, Slots};

/// What bounds the connections of one listener.
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub per_address: Slots<IpAddr>,
    pub header_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for the
/// requests in progress (upgraded WebSockets close on their own signal), for
/// at most `limits.shutdown_grace`: connections still busy then are left to
/// the runtime's end.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: tower::Service<Request, Response = axum::response::Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let open = Arc::new(Semaphore::new(limits.max_connections));
    // Each connection task holds a receiver: a send asks them to close, and
    // the sender's `closed()` completes when the last one has.
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before we took
                    // it: wait a little rather than spin, as axum's serve does.
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slots) = admit(&open, &limits.per_address, peer.ip()) else {
            metrics::counter!("http_connections_refused_total").increment(1);
            refuse(tcp);
            continue;
        };
        // Chat frames are small and latency-bound: without TCP_NODELAY, Nagle's
        // algorithm meets the peer's delayed ACK and a frame can wait ~40 ms.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(Counted { io: tcp, _slots: slots });
        let service = app
            .clone()
            .map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request: Request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection = http
            .serve_connection(io, hyper_util::service::TowerToHyperService::new(service))
            .with_upgrades();
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = closing.changed() => {
                    // Finish the request in progress, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::trace!(%error, "connection ended with an error");
            }
            drop(closing);
        });
    }
    drop(listener);
    drop(closing_rx);
    // Tell every connection to close once idle; wait until they all have.
    let _ = closing_tx.send(());
    if tokio::time::timeout(limits.shutdown_grace, closing_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = closing_tx.receiver_count(),
            grace = ?limits.shutdown_grace,
            "stopping without waiting longer for requests in flight (shutdown_timeout)"
        );
    }
}

/// A slot in the global and the per-address count, or `None` at either cap.
fn admit(open: &Arc<Semaphore>, per_address: &Slots<IpAddr>, address: IpAddr) -> Option<ConnectionSlots> {
    let global = open.clone().try_acquire_owned().ok()?;
    let address = match Limits::per_address(address) {
        Some(address) => Some(per_address.try_take(address)?),
        None => None,
    };
    Some((global, address))
}

type ConnectionSlots = (OwnedSemaphorePermit, Option<Slot<IpAddr>>);

/// Best effort: a client over a cap is told why, if its socket takes the
/// bytes at once, and closed.
fn refuse(tcp: TcpStream) {
    const BODY: &str = r#"{"detail": "Too many connections, try again later."}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tcp.try_write(response.as_bytes());
}

/// A connection's stream, with the slots it holds until it closes.
struct Counted {
    io: TcpStream,
    _slots: ConnectionSlots,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The client's address: the peer's, or behind a trusted reverse proxy the
/// last `X-Forwarded-For` entry (the one the proxy itself appended; earlier
/// ones are whatever the client claimed).
pub fn client_address(request: &axum::http::request::Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = request
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|last| last.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}
