//! Repeated GETs of one URL over keep-alive connections: the load behind the
//! segment and playlist benchmark.
//!
//! Each connection sends one request, reads the whole response, then sends the
//! next (no pipelining), until the deadline; a request still in flight then is
//! not counted. Bodies are only counted, never kept: every read goes into the
//! connection's one buffer. A response counts as good when its status is 200, its
//! framing is complete and, when a length is expected, its body has exactly that
//! length. Latency is from writing the request to reading the body's last byte.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::hist::Histogram;
use crate::http::{parse_head, ChunkedDecoder, Framing, HttpError, MAX_HEAD};

/// Pause before reconnecting after a failed connection, so a dead server is not
/// hammered with connects.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// What every connection of one run shares.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// The request bytes, sent again for every response.
    pub request: Vec<u8>,
    /// Read buffer per connection.
    pub buf_size: usize,
    /// Every good body must be this long.
    pub expect_length: Option<u64>,
}

/// One connection's counts (or several merged).
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    /// Good responses: 200, complete, of the expected length.
    pub ok: u64,
    /// Complete responses with another status.
    pub bad_status: u64,
    /// 200 responses whose body had another length than expected.
    pub bad_length: u64,
    /// Connections lost to an error (connect, I/O, framing, unexpected bytes).
    pub conn_errors: u64,
    /// TCP connections opened.
    pub connects: u64,
    /// Body bytes of good responses.
    pub body_bytes: u64,
    /// All bytes read, heads and bad responses included.
    pub wire_bytes: u64,
    /// The first problem seen, as text.
    pub first_error: Option<String>,
    /// Latency of good responses.
    pub latency: Histogram,
}

impl FetchReport {
    fn note_error(&mut self, text: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(text());
        }
    }

    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: &FetchReport) {
        self.ok += other.ok;
        self.bad_status += other.bad_status;
        self.bad_length += other.bad_length;
        self.conn_errors += other.conn_errors;
        self.connects += other.connects;
        self.body_bytes += other.body_bytes;
        self.wire_bytes += other.wire_bytes;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.latency.merge(&other.latency);
    }

    /// Responses that were not good, and connections lost.
    pub fn errors(&self) -> u64 {
        self.bad_status + self.bad_length + self.conn_errors
    }
}

/// How one exchange ended.
enum Exchange {
    /// A complete response; `true` when the server closes the connection after it.
    Done(bool),
    /// The deadline came first.
    Deadline,
}

/// Runs one connection (reconnecting when the server closes it or it fails)
/// until `deadline`.
pub async fn run(config: &FetchConfig, deadline: Instant) -> FetchReport {
    let mut report = FetchReport::default();
    let mut buf = vec![0u8; config.buf_size.max(MAX_HEAD)];
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    while Instant::now() < deadline {
        if let Err(err) = connection(config, &mut sleep, &mut buf, &mut report).await {
            report.conn_errors += 1;
            report.note_error(|| err);
            let resume = (Instant::now() + RECONNECT_PAUSE).min(deadline);
            tokio::time::sleep_until(resume.into()).await;
        }
    }
    report
}

/// One TCP connection: exchanges until the deadline or until the server closes.
async fn connection(
    config: &FetchConfig,
    sleep: &mut Pin<&mut Sleep>,
    buf: &mut [u8],
    report: &mut FetchReport,
) -> Result<(), String> {
    let mut stream = tokio::select! {
        biased;
        () = sleep.as_mut() => return Ok(()),
        r = TcpStream::connect(config.addr) => r.map_err(|e| format!("connect: {e}"))?,
    };
    report.connects += 1;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    loop {
        match exchange(&mut stream, config, sleep, buf, report).await {
            Ok(Exchange::Done(false)) => {}
            Ok(Exchange::Done(true) | Exchange::Deadline) => return Ok(()),
            Err(Failure::Io(e)) => return Err(format!("io: {e}")),
            Err(Failure::Http(e)) => return Err(format!("http: {e}")),
            Err(Failure::Protocol(e)) => return Err(e),
        }
    }
}

enum Failure {
    Io(io::Error),
    Http(HttpError),
    Protocol(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

/// Reads into `buf`, or returns `None` once the deadline has passed.
async fn read_until(
    stream: &mut TcpStream,
    sleep: &mut Pin<&mut Sleep>,
    buf: &mut [u8],
) -> Result<Option<usize>, Failure> {
    tokio::select! {
        biased;
        () = sleep.as_mut() => Ok(None),
        r = stream.read(buf) => Ok(Some(r?)),
    }
}

/// One request and its whole response.
async fn exchange(
    stream: &mut TcpStream,
    config: &FetchConfig,
    sleep: &mut Pin<&mut Sleep>,
    buf: &mut [u8],
    report: &mut FetchReport,
) -> Result<Exchange, Failure> {
    let started = Instant::now();
    tokio::select! {
        biased;
        () = sleep.as_mut() => return Ok(Exchange::Deadline),
        r = stream.write_all(&config.request) => r?,
    }

    // The head.
    let mut filled = 0;
    let (head, head_len) = loop {
        if filled == buf.len() {
            return Err(HttpError::HeadTooLarge.into());
        }
        let Some(n) = read_until(stream, sleep, &mut buf[filled..]).await? else {
            return Ok(Exchange::Deadline);
        };
        if n == 0 {
            return Err(Failure::Protocol(
                "connection closed before the response head".into(),
            ));
        }
        report.wire_bytes += n as u64;
        filled += n;
        if let Some(parsed) = parse_head(&buf[..filled])? {
            break parsed;
        }
    };

    // The body, counted and dropped.
    let mut body = BodyCounter::new(head.framing);
    let mut done = body.feed(&buf[head_len..filled])?;
    while !done {
        let Some(n) = read_until(stream, sleep, buf).await? else {
            return Ok(Exchange::Deadline);
        };
        report.wire_bytes += n as u64;
        if n == 0 {
            if head.framing == Framing::Close {
                break;
            }
            return Err(Failure::Protocol(format!(
                "connection closed after {} body bytes",
                body.received
            )));
        }
        done = body.feed(&buf[..n])?;
    }
    let elapsed = started.elapsed();

    if head.status != 200 {
        report.bad_status += 1;
        report.note_error(|| format!("HTTP status {}", head.status));
    } else if config.expect_length.is_some_and(|n| n != body.received) {
        report.bad_length += 1;
        report.note_error(|| {
            format!(
                "body of {} bytes, expected {}",
                body.received,
                config.expect_length.unwrap_or_default()
            )
        });
    } else {
        report.ok += 1;
        report.body_bytes += body.received;
        report.latency.record(elapsed);
    }
    Ok(Exchange::Done(head.close || head.framing == Framing::Close))
}

/// Counts a body's bytes through its framing.
#[derive(Debug)]
struct BodyCounter {
    framing: Framing,
    chunked: ChunkedDecoder,
    received: u64,
}

impl BodyCounter {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            chunked: ChunkedDecoder::new(),
            received: 0,
        }
    }

    /// Feeds bytes read after the head; returns true once the body is complete.
    /// Bytes after the end are an error: no second request was sent.
    fn feed(&mut self, data: &[u8]) -> Result<bool, Failure> {
        let done = match self.framing {
            Framing::Length(n) => {
                self.received += data.len() as u64;
                if self.received > n {
                    return Err(Failure::Protocol(format!(
                        "{} bytes after a {n}-byte body",
                        self.received - n
                    )));
                }
                self.received == n
            }
            Framing::Close => {
                self.received += data.len() as u64;
                false
            }
            Framing::Chunked => {
                let mut pos = 0;
                while pos < data.len() && !self.chunked.is_done() {
                    let (used, payload) = self.chunked.next(&data[pos..])?;
                    if let Some(r) = payload {
                        self.received += r.len() as u64;
                    }
                    pos += used;
                }
                if pos < data.len() {
                    return Err(Failure::Protocol(format!(
                        "{} bytes after the chunked body",
                        data.len() - pos
                    )));
                }
                self.chunked.is_done()
            }
        };
        Ok(done)
    }
}

/// The figures of one run, for people and for scripts.
#[derive(Debug, Clone)]
pub struct FetchSummary {
    /// The URL fetched.
    pub url: String,
    /// Concurrent connections.
    pub connections: u32,
    /// Measured seconds (from the start to the deadline).
    pub seconds: f64,
    /// Every connection's counts, merged.
    pub total: FetchReport,
    /// Load generator CPU time during the run.
    pub cpu: Option<Duration>,
}

impl FetchSummary {
    /// Good responses per second.
    pub fn rps(&self) -> f64 {
        per_second(self.total.ok as f64, self.seconds)
    }

    /// Good body bytes per second, in GB (10^9 bytes).
    pub fn gbytes_per_s(&self) -> f64 {
        per_second(self.total.body_bytes as f64 / 1e9, self.seconds)
    }

    /// Load generator CPU use as a percentage of one core.
    pub fn cpu_pct(&self) -> Option<f64> {
        self.cpu
            .map(|c| per_second(c.as_secs_f64() * 100.0, self.seconds))
    }

    fn latency_ms(&self, p: f64) -> Option<f64> {
        self.total
            .latency
            .percentile(p)
            .map(|d| d.as_secs_f64() * 1000.0)
    }

    /// One JSON object with every figure.
    pub fn to_json(&self) -> Value {
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        let ms = |p: f64| self.latency_ms(p).map(r3);
        let t = &self.total;
        json!({
            "url": self.url,
            "connections": self.connections,
            "seconds": r3(self.seconds),
            "requests": t.ok,
            "errors": t.errors(),
            "bad_status": t.bad_status,
            "bad_length": t.bad_length,
            "conn_errors": t.conn_errors,
            "connects": t.connects,
            "first_error": t.first_error,
            "body_bytes": t.body_bytes,
            "wire_bytes": t.wire_bytes,
            "rps": r3(self.rps()),
            "gbytes_per_s": r3(self.gbytes_per_s()),
            "latency_p50_ms": ms(50.0),
            "latency_p90_ms": ms(90.0),
            "latency_p99_ms": ms(99.0),
            "latency_max_ms": t.latency.max().map(|d| r3(d.as_secs_f64() * 1000.0)),
            "latency_mean_ms": t.latency.mean().map(|d| r3(d.as_secs_f64() * 1000.0)),
            "loadgen_cpu_s": self.cpu.map(|c| r3(c.as_secs_f64())),
            "loadgen_cpu_pct": self.cpu_pct().map(|p| (p * 10.0).round() / 10.0),
        })
    }

    /// A few lines for people.
    pub fn human(&self) -> String {
        let t = &self.total;
        let mut out = format!(
            "segments {}: {} connections, {:.1} s\n  {} good responses, {:.0} req/s, {:.3} GB/s of bodies\n",
            self.url,
            self.connections,
            self.seconds,
            t.ok,
            self.rps(),
            self.gbytes_per_s()
        );
        if let (Some(p50), Some(p99)) = (self.latency_ms(50.0), self.latency_ms(99.0)) {
            out += &format!("  latency: p50 {p50:.3} ms, p99 {p99:.3} ms\n");
        }
        out += &format!(
            "  errors: {} (bad status {}, bad length {}, connections lost {}); {} connects\n",
            t.errors(),
            t.bad_status,
            t.bad_length,
            t.conn_errors,
            t.connects
        );
        if let (Some(cpu), Some(pct)) = (self.cpu, self.cpu_pct()) {
            out += &format!(
                "  loadgen CPU: {:.2} s ({pct:.1}% of one core)\n",
                cpu.as_secs_f64()
            );
        }
        if let Some(e) = &t.first_error {
            out += &format!("  first error: {e}\n");
        }
        out
    }
}

fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener as StdListener;

    use tokio::io::AsyncBufReadExt;
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn counts_length_framing_and_rejects_extra_bytes() {
        let mut body = BodyCounter::new(Framing::Length(5));
        assert!(!body.feed(b"ab").unwrap_or_default());
        assert!(body.feed(b"cde").unwrap_or_default());
        let mut body = BodyCounter::new(Framing::Length(2));
        assert!(body.feed(b"abc").is_err());
    }

    #[test]
    fn counts_chunked_payload() {
        let mut body = BodyCounter::new(Framing::Chunked);
        assert!(!body.feed(b"3\r\nabc\r\n").unwrap_or(true));
        assert!(body.feed(b"2\r\nde\r\n0\r\n\r\n").unwrap_or_default());
        assert_eq!(body.received, 5);
        let mut body = BodyCounter::new(Framing::Chunked);
        assert!(body.feed(b"0\r\n\r\nX").is_err());
    }

    /// A tiny keep-alive server: answers every request on a connection with
    /// `body`, claiming `claimed` bytes, and closes after `per_conn` responses.
    async fn serve(listener: TcpListener, body: &'static [u8], claimed: usize, per_conn: u32) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                let mut served = 0;
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.is_empty() {
                        continue;
                    }
                    served += 1;
                    let close = if served == per_conn {
                        "Connection: close\r\n"
                    } else {
                        ""
                    };
                    let head =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {claimed}\r\n{close}\r\n");
                    if write.write_all(head.as_bytes()).await.is_err()
                        || write.write_all(body).await.is_err()
                        || served == per_conn
                    {
                        return;
                    }
                }
            });
        }
    }

    fn local() -> (TcpListener, SocketAddr) {
        let std = StdListener::bind("127.0.0.1:0").unwrap();
        std.set_nonblocking(true).unwrap();
        let addr = std.local_addr().unwrap();
        (TcpListener::from_std(std).unwrap(), addr)
    }

    fn config(addr: SocketAddr, expect: Option<u64>) -> FetchConfig {
        FetchConfig {
            addr,
            request: b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            buf_size: 16 * 1024,
            expect_length: expect,
        }
    }

    #[test]
    fn fetches_repeatedly_and_reconnects_on_close() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (listener, addr) = local();
            tokio::spawn(serve(listener, b"0123456789", 10, 3));
            let deadline = Instant::now() + Duration::from_millis(300);
            let report = run(&config(addr, Some(10)), deadline).await;
            assert!(report.ok >= 6, "{report:?}");
            assert_eq!(report.errors(), 0, "{report:?}");
            assert!(report.connects >= 2);
            assert_eq!(report.body_bytes, report.ok * 10);
            assert_eq!(report.latency.count(), report.ok);
        });
    }

    #[test]
    fn wrong_length_is_counted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (listener, addr) = local();
            tokio::spawn(serve(listener, b"abc", 3, 1000));
            let deadline = Instant::now() + Duration::from_millis(100);
            let report = run(&config(addr, Some(4)), deadline).await;
            assert_eq!(report.ok, 0);
            assert!(report.bad_length > 0);
            assert_eq!(
                report.first_error.as_deref(),
                Some("body of 3 bytes, expected 4")
            );
            let summary = FetchSummary {
                url: "http://t/x".into(),
                connections: 1,
                seconds: 0.1,
                total: report,
                cpu: None,
            };
            assert_eq!(summary.to_json()["requests"], 0);
            assert!(summary.human().contains("bad length"));
        });
    }
}
