//! The accept loop: HTTP/1.1 on each connection with a header-read, a request-body and an
//! idle timeout, a cap on connections, and a bounded graceful shutdown.
//!
//! At the cap (`http.max_connections`, kept below the open-file limit), a new connection
//! replaces the connection idle the longest (no request in flight: an idle keep-alive
//! connection, one that never sent a byte, one still sending its head), so that idle sockets
//! cannot lock out `/healthz` or phones; when every connection has a request in flight, the new
//! one gets a 503 `overloaded` at once and is closed. Connections are accepted all the while, so
//! the kernel's backlog never fills.

use crate::config::HttpConfig;
use crate::http::ApiError;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use cocoa_api::codes;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long a new connection at the cap waits for the evicted one to close.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// The timeouts, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_ms: u64,
    idle_ms: u64,
}

/// Serves `router` on `listener` until `shutdown`, then lets requests in flight finish for
/// at most `http.shutdown_grace_seconds` and closes what is still open.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let body_timeout = Duration::from_secs(config.request_body_timeout_seconds);
    let router = router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| body_deadline(body_timeout, request, next),
    ));
    let limits = Limits {
        header_ms: config.header_read_timeout_seconds * 1000,
        idle_ms: config.idle_timeout_seconds * 1000,
    };
    let cap = connection_cap(config.max_connections);
    let permits = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry::default());
    let epoch = Instant::now();
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: give the system a moment.
                tracing::error!(error = %e, "accept error");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Some(permit) = admit(&permits, &registry).await else {
            refuse(&stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let activity = Arc::new(Activity::new(epoch));
        let slot = Slot {
            id: next_id,
            registry: registry.clone(),
            _permit: permit,
        };
        registry.add(slot.id, activity.clone());
        let router = router.clone();
        let stopping = stopping.clone();
        tasks.spawn(async move {
            let _slot = slot;
            connection(stream, remote, router, activity, limits, stopping).await;
        });
    }
    drop(listener);
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    tracing::info!(
        connections = tasks.len(),
        grace_seconds = grace.as_secs(),
        "stopping: requests in flight may finish within the grace period"
    );
    let _ = stop.send(true);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "grace period over: closing connections with requests still in flight"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Errors of one connection that `accept` reports: the next accept may succeed at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// `max_connections`, lowered to leave room under the open-file limit for the database,
/// the blob files and the log.
fn connection_cap(configured: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return configured;
    };
    let fit = limit.saturating_sub((limit / 4).min(256)).max(1);
    if configured > fit {
        tracing::warn!(
            configured,
            open_file_limit = limit,
            cap = fit,
            "http.max_connections does not fit under the open-file limit: capping connections lower (raise `ulimit -n` to allow more)"
        );
        return fit;
    }
    configured
}

/// The soft limit on open files (Linux); `None` when unknown or unlimited.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A permit for a new connection: a free one, or the one of the connection idle the
/// longest, closed for it. `None` when every connection has a request in flight.
async fn admit(permits: &Arc<Semaphore>, registry: &Registry) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = permits.clone().try_acquire_owned() {
        return Some(permit);
    }
    if !registry.evict_longest_idle() {
        return None;
    }
    tokio::time::timeout(EVICTION_WAIT, permits.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// Answers a connection beyond the cap with 503 `overloaded` (as far as the socket takes it
/// without waiting) and closes it.
fn refuse(stream: &TcpStream) {
    let body = serde_json::to_string(&cocoa_api::ErrorBody {
        error: codes::OVERLOADED.to_owned(),
        message: "the server is at its connection limit; please try again later".to_owned(),
        error_id: None,
    })
    .expect("an error body serialises");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
    tracing::warn!("at the connection limit with every connection busy: refused one");
}

/// Every request's body must arrive within `limit` of its head; otherwise the answer is
/// 408 `request_timeout` (whatever the handler made of the failed read) and the connection
/// is closed.
async fn body_deadline(limit: Duration, request: Request, next: Next) -> Response {
    use http_body::Body as _;
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let request = request.map(move |inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            expired: flag,
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        codes::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive within {} seconds",
            limit.as_secs()
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new("request body timeout"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// "No time": `Activity::head_since` when no head is being received.
const NONE: u64 = u64::MAX;

/// What one connection is doing, for its watchdog and for eviction at the cap. Times are
/// milliseconds since the server's epoch.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// When a byte was last read or written.
    last_io: AtomicU64,
    /// When the first byte of a request head arrived (`NONE` unless one is arriving).
    head_since: AtomicU64,
    /// Requests whose handler runs.
    handling: AtomicUsize,
    /// Requests from their head until their answer is sent or dropped.
    in_flight: AtomicUsize,
    /// Closes the connection to make room for a new one.
    evict: Notify,
    /// Wakes the watchdog when a deadline may have moved earlier.
    changed: Notify,
}

/// Why the watchdog closes a connection, or when it looks again.
enum Verdict {
    Close(&'static str),
    LookAt(u64),
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let activity = Self {
            epoch,
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            handling: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            evict: Notify::new(),
            changed: Notify::new(),
        };
        activity.last_io.store(activity.now(), Ordering::Relaxed);
        activity
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_millis(ms))
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.idle()
            && self
                .head_since
                .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    fn request_started(self: &Arc<Self>) -> (Handling, InFlight) {
        self.handling.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
        (Handling(self.clone()), InFlight(self.clone()))
    }

    fn verdict(&self, limits: Limits) -> Verdict {
        let now = self.now();
        if self.handling.load(Ordering::Acquire) > 0 {
            // The handler's own limits apply (request body, storage timeouts).
            return Verdict::LookAt(now + limits.idle_ms);
        }
        let last_io = self.last_io.load(Ordering::Relaxed);
        let (due, why) = if !self.idle() {
            (
                last_io + limits.idle_ms,
                "the client stopped reading its answer",
            )
        } else {
            match self.head_since.load(Ordering::Acquire) {
                NONE => (last_io + limits.idle_ms, "idle"),
                since => (since + limits.header_ms, "the request head was too slow"),
            }
        };
        if now >= due {
            Verdict::Close(why)
        } else {
            Verdict::LookAt(due)
        }
    }
}

/// A request whose handler runs.
struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handling.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request not yet answered in full.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// The open connections, for eviction at the cap.
#[derive(Debug, Default)]
struct Registry {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Registry {
    fn add(&self, id: u64, activity: Arc<Activity>) {
        self.lock().insert(id, activity);
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the connection idle the longest to close; `false` if none is idle.
    fn evict_longest_idle(&self) -> bool {
        let mut open = self.lock();
        let victim = open
            .iter()
            .filter(|(_, a)| a.idle())
            .min_by_key(|(_, a)| a.last_io.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        let Some(activity) = victim.and_then(|id| open.remove(&id)) else {
            return false;
        };
        activity.evict.notify_one();
        true
    }
}

/// A connection's place under the cap, given back when its task ends (or is aborted).
struct Slot {
    id: u64,
    registry: Arc<Registry>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// Serves one connection until it ends, times out, is evicted, or the server stops.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    activity: Arc<Activity>,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Tracked {
        io: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            let (handling, in_flight) = activity.request_started();
            async move {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                let response = router.oneshot(request).await;
                drop(handling);
                response.map(|r| {
                    r.map(|body| Answer {
                        body,
                        _in_flight: in_flight,
                    })
                })
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our watchdog times heads: hyper's timer would also run between requests.
    // Half-close: a client may shut its sending side once its request is sent (`nc -N`,
    // some proxies) and still expects the answer.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .half_close(true)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let watchdog = tokio::time::sleep_until(activity.at(activity.now()));
    tokio::pin!(watchdog);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut watchdog => match activity.verdict(limits) {
                Verdict::Close(why) => {
                    tracing::trace!(why, "closing a connection");
                    return;
                }
                Verdict::LookAt(at) => watchdog.as_mut().reset(activity.at(at)),
            },
            // Look again now: `verdict` finds the new deadline.
            () = activity.changed.notified() => {
                watchdog.as_mut().reset(tokio::time::Instant::now());
            }
            () = activity.evict.notified(), if !closing => {
                if activity.idle() {
                    return;
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = stopping.changed(), if !closing => {
                if activity.idle() {
                    return;
                }
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// An answer's body; the request counts as in flight until it is dropped.
struct Answer {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting when bytes move.
struct Tracked {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        polled
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
