//! Accepting connections: at most `max_connections` open at once (the next ones get a JSON
//! 503 and are closed, so the process never runs out of file descriptors), a deadline for
//! every request head (which also closes idle kept-alive connections), TCP_NODELAY, and a
//! graceful shutdown that lets requests in flight finish.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::error::error_body;
use super::wire::to_json;
use crate::config::ServerSettings;
use crate::error::Error;

/// Connections being told "too many connections" at once; past this they are just closed.
const REFUSING_AT_ONCE: usize = 64;
/// How long a refused connection is given to send its request before the answer.
const REFUSAL_READ: Duration = Duration::from_millis(200);
/// How long in-flight requests may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// hyper's own bound on request headers, above ours (`intake::MAX_HEADERS`) so that ours,
/// with its JSON answer, is the one callers meet.
const HYPER_MAX_HEADERS: usize = 4 * super::intake::MAX_HEADERS;
/// Streams one HTTP/2 connection may run at once.
const H2_MAX_STREAMS: u32 = 64;

/// What bounds each connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to send a whole request head.
    pub header_timeout: Duration,
}

impl From<&ServerSettings> for ConnectionLimits {
    fn from(s: &ServerSettings) -> Self {
        ConnectionLimits {
            max_connections: s.max_connections,
            header_timeout: s.header_timeout,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits (a bounded time) for
/// the requests in flight.
pub async fn serve_on(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let connections = TaskTracker::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little
                    // rather than spin, as the listener is still good.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        no_delay(&tcp);
        match open.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = serve_connection(tcp, app.clone(), limits, permit, stop_rx.clone());
                connections.spawn(conn);
            }
            Err(_) => {
                if let Ok(slot) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(refuse(tcp, limits.max_connections, slot));
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let service = TowerToHyperService::new(
        app.map_request(|req: hyper::Request<Incoming>| req.map(Body::new)),
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(tcp), service));
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            // The only change ever sent is the stop (or the sender went away).
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Answers a connection over the limit with a JSON 503 and closes it. The request is read
/// first (briefly), so closing does not reset a connection with unread bytes, which could
/// destroy the answer before the client reads it.
async fn refuse(mut tcp: TcpStream, limit: usize, _slot: OwnedSemaphorePermit) {
    let mut buf = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(REFUSAL_READ, tcp.read(&mut buf)).await;
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let body = to_json(&error_body(&Error::TooManyConnections(limit), &trace_id));
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\
         x-hearth-trace-id: {trace_id}\r\n\r\n",
        body.len()
    );
    if tcp.write_all(head.as_bytes()).await.is_err()
        || tcp.write_all(body.as_bytes()).await.is_err()
    {
        return;
    }
    let _ = tcp.shutdown().await;
    // Lingering close: take what the client still sends until it closes its side.
    let _ = tokio::time::timeout(REFUSAL_READ, async {
        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Streamed answers are many small writes; Nagle's algorithm would hold each one back until
/// the previous one is acknowledged.
fn no_delay(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
}
