//! One simulated viewer of a live fragmented-MP4 stream: a raw HTTP/1.1 GET on its
//! own TCP connection, read until the deadline into one fixed buffer, with the body
//! decoded and scanned in place (no allocation per read).
//!
//! Timing. Each video fragment's media end (`tfdt` + its sample durations) is
//! compared with the wall time its `moof` arrived, both measured from the viewer's
//! first fragment: `offset = wall − media`. A live server that starts a viewer at
//! the last keyframe sends a catch-up burst first, so media runs ahead of the wall
//! clock (offset goes negative) and then, at real time, stays there. The viewer's
//! lag is its offset at the last fragment minus the best (lowest) offset it ever
//! reached, i.e. `wall − media` measured from the moment it had caught up: how
//! far it has fallen behind real time since.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{parse_head, ChunkedDecoder, Framing, HttpError, MAX_HEAD};
use crate::mp4::{BoxReader, Event, Fragment, Mp4Error, VideoTrack};

/// Why a viewer failed, as text for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl From<Mp4Error> for Failure {
    fn from(e: Mp4Error) -> Self {
        Self(format!("mp4: {e}"))
    }
}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        Self(format!("http: {e}"))
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self(format!("io: {e}"))
    }
}

/// What every viewer of one run shares.
#[derive(Debug, Clone)]
pub struct ViewerConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// The request bytes.
    pub request: Vec<u8>,
    /// Read buffer size per connection.
    pub buf_size: usize,
    /// Stop (successfully) after this many video fragments (for probing).
    pub stop_after_fragments: Option<u64>,
}

/// One viewer's outcome.
#[derive(Debug, Clone, Default)]
pub struct ViewerReport {
    /// Response status, once the head arrived.
    pub status: Option<u16>,
    /// Response `Content-Type`.
    pub content_type: Option<String>,
    /// Bytes received, head included.
    pub bytes: u64,
    /// The video track from the init segment.
    pub video: Option<VideoTrack>,
    /// Video fragments received.
    pub fragments: u64,
    /// Media seconds advanced: end of the last fragment − start of the first.
    pub media_s: f64,
    /// Wall seconds from the first fragment to the last.
    pub wall_s: f64,
    /// How far behind real time the viewer fell (see the module doc); `None`
    /// without fragments.
    pub lag_s: Option<f64>,
    /// How far media ran ahead of the wall clock at best (the catch-up burst).
    pub burst_s: f64,
    /// Longest video fragment, in media seconds (fragments arrive this far apart
    /// at real time).
    pub max_fragment_s: f64,
    /// Seconds from sending the request to the first video fragment.
    pub first_fragment_s: Option<f64>,
    /// Longest time without a read, from sending the request to the end.
    pub max_gap_s: f64,
    /// Every gap between reads longer than [`NOTABLE_GAP_S`]: when it ended (Unix
    /// seconds) and how long it was, the first [`MAX_NOTED_GAPS`] of them. Lets a
    /// long run say *when* viewers stalled, and whether they all stalled at once.
    pub gaps: Vec<(f64, f64)>,
    /// The first error, if any.
    pub error: Option<String>,
}

/// Media-time bookkeeping for the video track (shared with the MEWS viewer).
#[derive(Debug)]
pub(crate) struct Clock {
    pub(crate) timescale: f64,
    first: Option<(u64, Instant)>,
    last_decode_time: u64,
    best_offset: f64,
    last_offset: f64,
    media_s: f64,
    wall_s: f64,
    max_fragment_s: f64,
    pub(crate) fragments: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            timescale: 1.0,
            first: None,
            last_decode_time: 0,
            best_offset: f64::INFINITY,
            last_offset: 0.0,
            media_s: 0.0,
            wall_s: 0.0,
            max_fragment_s: 0.0,
            fragments: 0,
        }
    }

    pub(crate) fn on_fragment(&mut self, f: Fragment, now: Instant) -> Result<(), Failure> {
        let (first_time, first_wall) = *self.first.get_or_insert((f.decode_time, now));
        if self.fragments > 0 && f.decode_time < self.last_decode_time {
            return Err(Failure(format!(
                "video tfdt went backwards from {} to {}",
                self.last_decode_time, f.decode_time
            )));
        }
        self.last_decode_time = f.decode_time;
        self.fragments += 1;
        let duration = f.duration.unwrap_or(0);
        self.max_fragment_s = self.max_fragment_s.max(duration as f64 / self.timescale);
        let end = f.decode_time.saturating_add(duration);
        self.media_s = (end - first_time) as f64 / self.timescale;
        self.wall_s = now.duration_since(first_wall).as_secs_f64();
        self.last_offset = self.wall_s - self.media_s;
        self.best_offset = self.best_offset.min(self.last_offset);
        Ok(())
    }
}

/// The response body after the head: framing, then boxes, then media time.
#[derive(Debug)]
struct Body {
    framing: Framing,
    chunked: ChunkedDecoder,
    left: u64,
    boxes: BoxReader,
    clock: Clock,
}

impl Body {
    fn new(framing: Framing) -> Self {
        let left = match framing {
            Framing::Length(n) => n,
            _ => u64::MAX,
        };
        Self {
            framing,
            chunked: ChunkedDecoder::new(),
            left,
            boxes: BoxReader::new(),
            clock: Clock::new(),
        }
    }

    /// Feeds bytes read from the socket; returns true once the body has ended.
    fn feed(&mut self, data: &[u8], now: Instant) -> Result<bool, Failure> {
        match self.framing {
            Framing::Chunked => {
                let mut pos = 0;
                while pos < data.len() {
                    let (used, payload) = self.chunked.next(&data[pos..])?;
                    if let Some(r) = payload {
                        self.scan(&data[pos + r.start..pos + r.end], now)?;
                    }
                    pos += used;
                    if self.chunked.is_done() {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Framing::Length(_) | Framing::Close => {
                let take = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                self.scan(&data[..take], now)?;
                self.left -= take as u64;
                Ok(self.left == 0)
            }
        }
    }

    fn scan(&mut self, data: &[u8], now: Instant) -> Result<(), Failure> {
        let clock = &mut self.clock;
        self.boxes.feed(data, &mut |event| match event {
            Event::Init(video) => {
                clock.timescale = f64::from(video.timescale);
                Ok(())
            }
            Event::Fragment(f) => clock.on_fragment(f, now),
        })
    }
}

/// Runs one viewer from `start` until `deadline` and reports on it.
pub async fn run(config: &ViewerConfig, start: Instant, deadline: Instant) -> ViewerReport {
    reported(start, deadline, async |report, last_read| {
        session(config, deadline, report, last_read).await
    })
    .await
}

/// Waits for `start`, runs a viewer's `session` (any protocol) with a fresh report
/// and read clock, then closes the report: the gap since the last read (up to the
/// deadline) and the failure, if any.
pub async fn reported(
    start: Instant,
    deadline: Instant,
    session: impl AsyncFnOnce(&mut ViewerReport, &mut Instant) -> Result<(), Failure>,
) -> ViewerReport {
    tokio::time::sleep_until(start.into()).await;
    let mut report = ViewerReport::default();
    let mut last_read = Instant::now();
    let result = session(&mut report, &mut last_read).await;
    let end = Instant::now().min(deadline).max(last_read);
    note_gap(&mut report, end.duration_since(last_read).as_secs_f64());
    if let Err(Failure(text)) = result {
        report.error = Some(text);
    }
    report
}

async fn session(
    config: &ViewerConfig,
    deadline: Instant,
    report: &mut ViewerReport,
    last_read: &mut Instant,
) -> Result<(), Failure> {
    let began = Instant::now();
    let mut stream =
        match tokio::time::timeout_at(deadline.into(), TcpStream::connect(config.addr)).await {
            Ok(stream) => stream.map_err(|e| Failure(format!("connect: {e}")))?,
            Err(_) => return Err(Failure("connect timed out".into())),
        };
    stream.set_nodelay(true)?;
    stream.write_all(&config.request).await?;
    let sent = Instant::now();
    *last_read = sent;

    let mut buf = vec![0u8; config.buf_size.max(MAX_HEAD)];
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);

    // The response head.
    let mut filled = 0;
    let (head, head_len) = loop {
        if filled == buf.len() {
            return Err(HttpError::HeadTooLarge.into());
        }
        let n = tokio::select! {
            biased;
            () = &mut sleep => return Err(Failure("no response head before the deadline".into())),
            r = stream.read(&mut buf[filled..]) => r?,
        };
        note_read(report, last_read, n, Instant::now());
        if n == 0 {
            return Err(Failure("connection closed before the response head".into()));
        }
        filled += n;
        if let Some(parsed) = parse_head(&buf[..filled])? {
            break parsed;
        }
    };
    report.status = Some(head.status);
    report.content_type = head.content_type;
    if head.status != 200 {
        return Err(Failure(format!("HTTP status {}", head.status)));
    }

    let mut body = Body::new(head.framing);
    let (mut from, mut to, mut now) = (head_len, filled, Instant::now());
    loop {
        let fed = body.feed(&buf[from..to], now);
        copy_progress(report, &body.boxes, &body.clock, sent);
        if fed? {
            return Err(Failure(format!(
                "response body ended after {:.1} s",
                began.elapsed().as_secs_f64()
            )));
        }
        if config
            .stop_after_fragments
            .is_some_and(|n| body.clock.fragments >= n)
        {
            return Ok(());
        }
        let n = tokio::select! {
            biased;
            () = &mut sleep => return Ok(()),
            r = stream.read(&mut buf) => r?,
        };
        now = Instant::now();
        note_read(report, last_read, n, now);
        if n == 0 {
            let what = if head.framing == Framing::Close {
                "stream ended"
            } else {
                "connection closed mid-body"
            };
            return Err(Failure(format!(
                "{what} after {:.1} s",
                began.elapsed().as_secs_f64()
            )));
        }
        (from, to) = (0, n);
    }
}

pub(crate) fn note_read(
    report: &mut ViewerReport,
    last_read: &mut Instant,
    n: usize,
    now: Instant,
) {
    note_gap(report, now.duration_since(*last_read).as_secs_f64());
    *last_read = now;
    report.bytes += n as u64;
}

/// Gaps between reads longer than this are kept with their time in
/// [`ViewerReport::gaps`].
pub const NOTABLE_GAP_S: f64 = 3.0;
/// At most this many gaps are kept per viewer.
pub const MAX_NOTED_GAPS: usize = 64;

/// Records a gap between reads that ended now.
fn note_gap(report: &mut ViewerReport, gap_s: f64) {
    report.max_gap_s = report.max_gap_s.max(gap_s);
    if gap_s > NOTABLE_GAP_S && report.gaps.len() < MAX_NOTED_GAPS {
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        report.gaps.push((now_unix, gap_s));
    }
}

/// Copies the scanner's and the clock's progress into the report.
pub(crate) fn copy_progress(
    report: &mut ViewerReport,
    boxes: &BoxReader,
    clock: &Clock,
    sent: Instant,
) {
    report.video = boxes.video();
    report.fragments = clock.fragments;
    if clock.fragments > 0 {
        report.media_s = clock.media_s;
        report.wall_s = clock.wall_s;
        report.lag_s = Some(clock.last_offset - clock.best_offset);
        report.burst_s = (-clock.best_offset).max(0.0);
        report.max_fragment_s = clock.max_fragment_s;
        report.first_fragment_s = clock
            .first
            .map(|(_, wall)| wall.saturating_duration_since(sent).as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn clock_lag_is_measured_from_the_catch_up() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut clock = Clock::new();
        clock.timescale = 1000.0;
        let frag = |start: u64| Fragment {
            decode_time: start,
            duration: Some(500),
            samples: 15,
        };
        // A 2 s burst in the first 100 ms, then real time...
        for (i, ms) in [0, 25, 50, 75].into_iter().enumerate() {
            clock.on_fragment(frag(i as u64 * 500), at(ms)).unwrap();
        }
        for k in 1..=8u64 {
            clock
                .on_fragment(frag(1500 + k * 500), at(75 + k * 500))
                .unwrap();
        }
        assert!((clock.last_offset - clock.best_offset).abs() < 1e-9);
        assert!(((-clock.best_offset) - 1.925).abs() < 1e-9);
        // ...then two fragments 1.5 s late each.
        clock
            .on_fragment(frag(6000), at(75 + 9 * 500 + 1500))
            .unwrap();
        clock
            .on_fragment(frag(6500), at(75 + 10 * 500 + 3000))
            .unwrap();
        assert!(((clock.last_offset - clock.best_offset) - 3.0).abs() < 1e-9);
        assert!((clock.media_s - 7.0).abs() < 1e-9);
        assert!(clock.on_fragment(frag(100), at(9000)).is_err());
    }

    #[test]
    fn body_content_length_and_chunked_end() {
        let mut body = Body::new(Framing::Length(10));
        assert!(!body
            .feed(&[0, 0, 0, 8, b'f', b'r'], Instant::now())
            .unwrap());
        assert!(body
            .feed(&[b'e', b'e', 0, 0, 9, 9], Instant::now())
            .unwrap());
        let mut body = Body::new(Framing::Chunked);
        assert!(body
            .feed(b"8\r\n\0\0\0\x08free\r\n0\r\n\r\n", Instant::now())
            .unwrap());
    }
}
