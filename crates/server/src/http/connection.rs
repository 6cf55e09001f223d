//! Connection-level defences of the media port, shared by every transport (TCP,
//! TLS, Unix socket).
//!
//! (The caps on concurrent connections are each listener's own:
//! [`crate::conn_limits::Gate`].)
//! * A deadline for the request head (`http.head_timeout_ms`): it starts with the
//!   first byte of a request, so a client that trickles its head (slowloris) is
//!   dropped, while an idle keep-alive connection keeps hyper's longer idle
//!   timeout (`http.idle_timeout_ms`).
//! * A deadline for write progress (`http.write_timeout_ms`; the
//!   `BRUME_WRITE_TIMEOUT_MS` environment variable overrides it): a viewer that
//!   stops reading is closed once nothing could be written to it for that long.
//!
//! The deadlines are read from the configuration in force when a connection is
//! accepted ([`Timeouts::of`]).
//! * [`raise_fd_limit`]: the process's open-file soft limit raised to its hard limit.
//!
//! [`GuardedIo`] wraps a connection's IO and enforces both deadlines;
//! [`RequestTracker`] tells it, from the service side, when a request is in flight
//! (no head deadline then) and when the connection was upgraded (never again).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::config::HttpConfig;

/// Environment variable overriding `http.write_timeout_ms`, in milliseconds (for
/// tests and for operators who want stalled viewers dropped sooner).
pub const WRITE_TIMEOUT_ENV: &str = "BRUME_WRITE_TIMEOUT_MS";

/// The deadlines of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request head must arrive whole within this time of its first byte.
    pub head: Duration,
    /// A connection on which nothing could be written for this long is closed.
    pub write: Duration,
    /// An idle keep-alive connection is closed after this long.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts::of(&HttpConfig::default())
    }
}

impl Timeouts {
    /// The deadlines `http` sets; `BRUME_WRITE_TIMEOUT_MS`, when it holds a
    /// positive number of milliseconds, replaces the write timeout.
    pub fn of(http: &HttpConfig) -> Timeouts {
        static OVERRIDE: OnceLock<Option<Duration>> = OnceLock::new();
        let write = OVERRIDE.get_or_init(|| {
            std::env::var(WRITE_TIMEOUT_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
        });
        Timeouts {
            head: Duration::from_millis(http.head_timeout_ms),
            write: write.unwrap_or(Duration::from_millis(http.write_timeout_ms)),
            idle: Duration::from_millis(http.idle_timeout_ms),
        }
    }
}

/// Raises the open-file soft limit to the hard limit, so the connection caps, not
/// the default 1024 descriptors, is what limits the server. Logs the outcome.
pub fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(err) => tracing::warn!(%err, "cannot raise the open file limit"),
    }
}

/// What the service side tells the IO side of one connection.
#[derive(Debug, Default)]
struct Shared {
    /// Requests whose response has not finished (or been dropped).
    in_flight: AtomicUsize,
    /// Bumped when a request head has been parsed.
    heads: AtomicU64,
    /// The connection switched protocols (WebSocket): no more request heads.
    upgraded: AtomicBool,
}

/// The service side of a connection: marks requests in flight and upgrades.
#[derive(Debug, Clone)]
pub struct RequestTracker {
    shared: Arc<Shared>,
}

impl RequestTracker {
    /// Called when a request head was parsed; the request counts as in flight
    /// until the returned guard is dropped (with the response body).
    pub fn begin(&self) -> InFlight {
        self.shared.heads.fetch_add(1, Ordering::AcqRel);
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            shared: self.shared.clone(),
        }
    }

    /// Called when a response switches protocols.
    pub fn upgraded(&self) {
        self.shared.upgraded.store(true, Ordering::Release);
    }
}

/// A request in flight on its connection; ends when dropped.
#[derive(Debug)]
pub struct InFlight {
    shared: Arc<Shared>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's IO with the head-read and write-progress deadlines.
#[derive(Debug)]
pub struct GuardedIo<I> {
    inner: I,
    shared: Arc<Shared>,
    /// Running while a request head is being received: (deadline, the head count
    /// when it started).
    head_deadline: Option<(Pin<Box<Sleep>>, u64)>,
    /// Running while a write is blocked.
    write_stall: Option<Pin<Box<Sleep>>>,
    timeouts: Timeouts,
}

impl<I> GuardedIo<I> {
    /// Wraps `inner` with the head and write deadlines of `timeouts`; the
    /// tracker is for the connection's service.
    pub fn new(inner: I, timeouts: Timeouts) -> (GuardedIo<I>, RequestTracker) {
        let shared = Arc::new(Shared::default());
        let io = GuardedIo {
            inner,
            shared: shared.clone(),
            head_deadline: None,
            write_stall: None,
            timeouts,
        };
        (io, RequestTracker { shared })
    }

    /// Whether bytes read now would belong to a request head.
    fn awaiting_head(&self) -> bool {
        self.shared.in_flight.load(Ordering::Acquire) == 0
            && !self.shared.upgraded.load(Ordering::Acquire)
    }

    /// Drops the head deadline once its head has been parsed or no head is due.
    fn settle_head_deadline(&mut self) {
        let heads = self.shared.heads.load(Ordering::Acquire);
        let stale = match &self.head_deadline {
            Some((_, started_at)) => *started_at != heads || !self.awaiting_head(),
            None => false,
        };
        if stale {
            self.head_deadline = None;
        }
    }

    /// A blocked write (or flush): fails once no progress was made for the
    /// write timeout.
    fn write_blocked<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeouts.write;
        let stall = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stall.as_mut().poll(cx).is_ready() {
            self.write_stall = None;
            tracing::info!(
                timeout_ms = timeout.as_millis() as u64,
                "closing a connection that accepted no data (viewer stopped reading)"
            );
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no write progress within the write timeout",
            )));
        }
        Poll::Pending
    }

    fn head_timed_out<T>(&self) -> Poll<io::Result<T>> {
        tracing::debug!(
            timeout_ms = self.timeouts.head.as_millis() as u64,
            "closing a connection whose request head did not arrive in time"
        );
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request head not received within the head timeout",
        )))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for GuardedIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.settle_head_deadline();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let got = buf.filled().len() > before;
                if got && this.head_deadline.is_none() && this.awaiting_head() {
                    let heads = this.shared.heads.load(Ordering::Acquire);
                    let deadline = Box::pin(tokio::time::sleep(this.timeouts.head));
                    this.head_deadline = Some((deadline, heads));
                }
                if let Some((deadline, _)) = &this.head_deadline {
                    if deadline.is_elapsed() {
                        this.head_deadline = None;
                        return this.head_timed_out();
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if let Some((deadline, _)) = &mut this.head_deadline {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.head_deadline = None;
                        return this.head_timed_out();
                    }
                }
                Poll::Pending
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for GuardedIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.write_blocked(cx),
            ready => {
                if matches!(ready, Poll::Ready(Ok(n)) if n > 0) {
                    this.write_stall = None;
                }
                ready
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.write_blocked(cx),
            ready => {
                if matches!(ready, Poll::Ready(Ok(n)) if n > 0) {
                    this.write_stall = None;
                }
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.write_blocked(cx),
            Poll::Ready(result) => {
                if result.is_ok() {
                    this.write_stall = None;
                }
                Poll::Ready(result)
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending => this.write_blocked(cx),
            Poll::Ready(result) => Poll::Ready(result),
        }
    }
}

/// A response body that keeps its request counted as in flight until it is
/// finished or dropped.
#[derive(Debug)]
pub struct TrackedBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> TrackedBody<B> {
    pub fn new(inner: B, in_flight: InFlight) -> TrackedBody<B> {
        TrackedBody {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const TIMEOUTS: Timeouts = Timeouts {
        head: Duration::from_secs(20),
        write: Duration::from_secs(30),
        idle: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_is_cut_off_but_an_idle_connection_is_not() {
        let (client, server) = tokio::io::duplex(64);
        let (mut io, _tracker) = GuardedIo::new(server, TIMEOUTS);
        let mut buf = [0u8; 16];
        // Idle: no bytes, no head deadline.
        let idle = tokio::time::timeout(TIMEOUTS.head * 2, io.read(&mut buf)).await;
        assert!(idle.is_err(), "an idle connection must not be cut off");
        let mut client = client;
        client.write_all(b"G").await.unwrap_or_default();
        assert_eq!(io.read(&mut buf).await.ok(), Some(1));
        let started = tokio::time::Instant::now();
        let err = io.read(&mut buf).await.err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        assert!(started.elapsed() >= TIMEOUTS.head - Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_or_an_upgrade_stops_the_head_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        let (mut io, tracker) = GuardedIo::new(server, TIMEOUTS);
        let mut buf = [0u8; 16];
        client.write_all(b"GET").await.unwrap_or_default();
        assert_eq!(io.read(&mut buf).await.ok(), Some(3));
        let in_flight = tracker.begin();
        // A slow request body is not a head.
        let waited = tokio::time::timeout(TIMEOUTS.head * 2, io.read(&mut buf)).await;
        assert!(
            waited.is_err(),
            "a request body must not hit the head deadline"
        );
        drop(in_flight);
        tracker.upgraded();
        client.write_all(b"ws").await.unwrap_or_default();
        assert_eq!(io.read(&mut buf).await.ok(), Some(2));
        let waited = tokio::time::timeout(TIMEOUTS.head * 2, io.read(&mut buf)).await;
        assert!(
            waited.is_err(),
            "an upgraded connection has no head deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stops_is_dropped_after_the_write_timeout() {
        let (_client, server) = tokio::io::duplex(16);
        let (mut io, _tracker) = GuardedIo::new(server, TIMEOUTS);
        let started = tokio::time::Instant::now();
        let mut result = Ok(());
        for _ in 0..1000 {
            result = io.write_all(&[0u8; 1024]).await;
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result.err().map(|e| e.kind()),
            Some(io::ErrorKind::TimedOut)
        );
        assert!(started.elapsed() >= TIMEOUTS.write - Duration::from_millis(1));
    }
}
