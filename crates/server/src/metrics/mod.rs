//! Counters and gauges of the running server, for `/metrics` (Prometheus text
//! format, [`prometheus`]) and the management API (clients, totals, stream stats).
//!
//! The hot path is lock-free: bytes go into atomics that a viewer session holds an
//! `Arc` to ([`Viewer`]), looked up once per response or socket, never per chunk.
//! Viewer sessions live in [`sessions`]; process figures (RSS, open fds) are read
//! from `/proc/self` at scrape time ([`process`]); bitrates come from a sampler task
//! that snapshots the byte counters every second and averages over a short window.
//!
//! One [`Metrics`] per server: the supervisor ([`crate::supervisor`]) creates it
//! and hands the same `Arc` to every listener (`ServerState.metrics`), so two
//! servers in one process count separately.

mod http;
mod process;
pub mod prometheus;
pub mod refusals;
pub mod routes;
mod sessions;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use http::{request_client_ip, ClientIp, ViewedRequest};
pub use sessions::{ClientInfo, Protocol, Viewer};

/// How often the sampler snapshots the byte counters.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Bitrates are averaged over this window.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// A stream whose input received nothing for this long has no input bitrate.
const INPUT_IDLE: Duration = Duration::from_secs(5);
/// HTTP status codes counted one by one (100..=599).
const STATUS_CODES: usize = 500;

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    /// Bytes sent per (stream, protocol).
    traffic: RwLock<HashMap<(String, Protocol), Arc<Traffic>>>,
    /// Bytes received per stream (RTMP pushes).
    inputs: RwLock<HashMap<String, Arc<Input>>>,
    sessions: sessions::Sessions,
    /// Refused connections and attempts, by listener and reason.
    pub refusals: refusals::Refusals,
    /// Trigger calls by event and result (`brume_trigger_calls_total`).
    pub trigger_calls: Arc<crate::triggers::CallCounts>,
    /// Recording bytes and running recordings ([`crate::recording`]).
    pub recordings: Arc<crate::recording::RecordingCounts>,
    /// Push bytes and running pushes ([`crate::push`]).
    pub pushes: Arc<crate::push::PushCounts>,
    /// The protocol buffer budget (`limits.protocol_buffer_bytes`): what all
    /// connections hold of it, shown as `brume_protocol_buffer_bytes`.
    pub protocol_buffers: Arc<crate::buffer_budget::BufferBudget>,
    /// Media-port requests and document renders, by kind.
    pub routes: routes::RouteCounts,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    connections: AtomicU64,
    requests: AtomicU64,
    responses: Box<[AtomicU64]>,
    rates: RwLock<Rates>,
    sampler_started: AtomicBool,
    epoch: Instant,
}

/// Bytes sent for one (stream, protocol).
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    bytes: AtomicU64,
    /// Times a viewer fell behind and resumed at the next keyframe.
    skips: AtomicU64,
}

impl Traffic {
    pub(crate) fn add(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn skipped(&self) {
        self.skips.fetch_add(1, Ordering::Relaxed);
    }
}

/// Bytes received for one stream.
#[derive(Debug, Default)]
struct Input {
    bytes: AtomicU64,
    /// Milliseconds since [`Metrics::epoch`] of the last byte.
    last_ms: AtomicU64,
}

/// What the sampler computed last.
#[derive(Debug, Default)]
struct Rates {
    out: HashMap<String, u64>,
    input: HashMap<String, u64>,
    total_out: u64,
    total_in: u64,
    /// Recent snapshots: when, bytes out per stream, bytes in per stream.
    history: VecDeque<Snapshot>,
}

#[derive(Debug)]
struct Snapshot {
    at: Instant,
    out: HashMap<String, u64>,
    input: HashMap<String, u64>,
}

/// What the API shows per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub viewers: u64,
    pub bitrate_out_bps: u64,
    /// `None` when nothing is pushed to the stream.
    pub bitrate_in_bps: Option<u64>,
}

/// Whole-server figures (`/api/v1/totals`, without the registry's stream counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub viewers: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub bandwidth_out_bps: u64,
    pub bandwidth_in_bps: u64,
    pub connections: u64,
    pub requests: u64,
}

/// Counts one open HTTP connection until dropped.
#[derive(Debug)]
#[must_use = "the connection counts as open while the guard lives"]
pub struct ConnectionGuard {
    metrics: Arc<Metrics>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            traffic: RwLock::default(),
            inputs: RwLock::default(),
            sessions: sessions::Sessions::default(),
            refusals: refusals::Refusals::default(),
            trigger_calls: Arc::default(),
            recordings: Arc::default(),
            pushes: Arc::default(),
            protocol_buffers: Arc::default(),
            routes: routes::RouteCounts::default(),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            responses: (0..STATUS_CODES).map(|_| AtomicU64::new(0)).collect(),
            rates: RwLock::default(),
            sampler_started: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }
}

impl Metrics {
    /// Counts an open HTTP connection (the media ports call this on accept).
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            metrics: self.clone(),
        }
    }

    /// Counts one HTTP request on the media port.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one HTTP response by status code.
    pub fn response(&self, status: u16) {
        if let Some(counter) = usize::from(status)
            .checked_sub(100)
            .and_then(|i| self.responses.get(i))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A render-cache lookup of a segment found it already rendered.
    pub fn segment_cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A render-cache lookup of a segment had to render it.
    pub fn segment_cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes received for `stream` from a publisher.
    pub fn bytes_in(self: &Arc<Self>, stream: &str, bytes: u64) {
        self.ensure_sampler();
        let existing = self
            .inputs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(stream)
            .cloned();
        let input = match existing {
            Some(input) => input,
            None => self
                .inputs
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(stream.to_owned())
                .or_default()
                .clone(),
        };
        input.bytes.fetch_add(bytes, Ordering::Relaxed);
        input.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The byte counter of (stream, protocol), created on first use.
    pub(crate) fn traffic(&self, stream: &str, protocol: Protocol) -> Arc<Traffic> {
        let key = (stream.to_owned(), protocol);
        if let Some(traffic) = self
            .traffic
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return traffic.clone();
        }
        self.traffic
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }

    /// Opens a viewer session that lasts as long as the returned [`Viewer`]
    /// (a progressive response or a WebSocket).
    pub fn open_viewer(
        self: &Arc<Self>,
        stream: &str,
        protocol: Protocol,
        ip: std::net::IpAddr,
    ) -> Viewer {
        self.ensure_sampler();
        let traffic = self.traffic(stream, protocol);
        self.sessions.open(self, stream, protocol, ip, traffic)
    }

    /// Records one request of a polling viewer (HLS, CMAF, DASH): its session is
    /// (stream, protocol, client IP) and ends 30 s after its last request.
    /// `shared_segment`: a CMAF segment, which HLS (fMP4) and DASH players share;
    /// it counts for whichever of the two this client is playing.
    pub fn polled(
        self: &Arc<Self>,
        stream: String,
        protocol: Protocol,
        ip: std::net::IpAddr,
        bytes: u64,
        shared_segment: bool,
    ) {
        self.ensure_sampler();
        self.sessions
            .polled(self, stream, protocol, ip, bytes, shared_segment);
    }

    /// Every viewer session now, oldest first.
    pub fn clients(&self) -> Vec<ClientInfo> {
        self.sessions.list()
    }

    /// Viewers and bitrates of one stream.
    pub fn stream_stats(&self, stream: &str) -> StreamStats {
        let viewers = self.sessions.count(|s| s == stream);
        let rates = self.rates.read().unwrap_or_else(|p| p.into_inner());
        let active = self
            .inputs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(stream)
            .is_some_and(|i| {
                self.now_ms()
                    .saturating_sub(i.last_ms.load(Ordering::Relaxed))
                    < INPUT_IDLE.as_millis() as u64
            });
        StreamStats {
            viewers,
            bitrate_out_bps: rates.out.get(stream).copied().unwrap_or(0),
            bitrate_in_bps: active.then(|| rates.input.get(stream).copied().unwrap_or(0)),
        }
    }

    /// Whole-server figures.
    pub fn totals(&self) -> Totals {
        let rates = self.rates.read().unwrap_or_else(|p| p.into_inner());
        Totals {
            viewers: self.sessions.count(|_| true),
            bytes_out: self.bytes_out_by_stream().values().sum(),
            bytes_in: self.bytes_in_by_stream().values().sum(),
            bandwidth_out_bps: rates.total_out,
            bandwidth_in_bps: rates.total_in,
            connections: self.connections(),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }

    /// Open HTTP connections of the media ports (counted by their listeners'
    /// gates with [`Metrics::connection_opened`]).
    fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    fn bytes_out_by_stream(&self) -> HashMap<String, u64> {
        let mut out: HashMap<String, u64> = HashMap::new();
        for ((stream, _), traffic) in self
            .traffic
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            *out.entry(stream.clone()).or_default() += traffic.bytes.load(Ordering::Relaxed);
        }
        out
    }

    fn bytes_in_by_stream(&self) -> HashMap<String, u64> {
        self.inputs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(stream, input)| (stream.clone(), input.bytes.load(Ordering::Relaxed)))
            .collect()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Starts the bitrate sampler (once, when a Tokio runtime is running).
    fn ensure_sampler(self: &Arc<Self>) {
        if self.sampler_started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.sampler_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let metrics = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(metrics) = metrics.upgrade() else {
                    return;
                };
                metrics.sample(Instant::now());
            }
        });
    }

    /// Snapshots the byte counters, updates the bitrates and ends polling
    /// sessions that went quiet.
    pub fn sample(&self, now: Instant) {
        self.sessions.expire(now);
        let out = self.bytes_out_by_stream();
        let input = self.bytes_in_by_stream();
        let mut rates = self.rates.write().unwrap_or_else(|p| p.into_inner());
        while rates.history.len() > 1
            && rates
                .history
                .get(1)
                .is_some_and(|s| now.duration_since(s.at) >= RATE_WINDOW)
        {
            rates.history.pop_front();
        }
        if let Some(oldest) = rates.history.front() {
            let seconds = now.duration_since(oldest.at).as_secs_f64();
            if seconds > 0.0 {
                let rate = |now: &HashMap<String, u64>, then: &HashMap<String, u64>| {
                    now.iter()
                        .map(|(stream, bytes)| {
                            let before = then.get(stream).copied().unwrap_or(0);
                            let bps = (bytes.saturating_sub(before) as f64 * 8.0 / seconds) as u64;
                            (stream.clone(), bps)
                        })
                        .collect::<HashMap<_, _>>()
                };
                let out_rates = rate(&out, &oldest.out);
                let in_rates = rate(&input, &oldest.input);
                rates.total_out = out_rates.values().sum();
                rates.total_in = in_rates.values().sum();
                rates.out = out_rates;
                rates.input = in_rates;
            }
        }
        rates.history.push_back(Snapshot {
            at: now,
            out,
            input,
        });
    }

    /// (code, count) of every status code answered at least once.
    fn responses(&self) -> Vec<(u16, u64)> {
        self.responses
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let count = c.load(Ordering::Relaxed);
                (count > 0).then_some((i as u16 + 100, count))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn viewers_come_and_go_with_their_sessions() {
        let metrics = Arc::new(Metrics::default());
        let viewer = metrics.open_viewer("demo", Protocol::Mp4, IP);
        viewer.sent(1000);
        metrics.polled("demo".into(), Protocol::Hls, IP, 500, false);
        metrics.polled("demo".into(), Protocol::Hls, IP, 500, false);
        assert_eq!(metrics.stream_stats("demo").viewers, 2);
        let clients = metrics.clients();
        assert_eq!(clients.len(), 2);
        let hls = clients
            .iter()
            .find(|c| c.protocol == Protocol::Hls)
            .unwrap();
        assert_eq!(hls.bytes, 1000);
        drop(viewer);
        assert_eq!(metrics.stream_stats("demo").viewers, 1);
        assert_eq!(metrics.totals().bytes_out, 2000);
        // A polling session ends 30 s after its last request.
        metrics.sample(Instant::now() + Duration::from_secs(31));
        assert_eq!(metrics.stream_stats("demo").viewers, 0);
    }

    #[test]
    fn cmaf_segments_count_for_a_dash_viewer() {
        let metrics = Arc::new(Metrics::default());
        metrics.polled("s".into(), Protocol::Dash, IP, 100, false);
        metrics.polled("s".into(), Protocol::Cmaf, IP, 900, true);
        let clients = metrics.clients();
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0].protocol, Protocol::Dash);
        assert_eq!(clients[0].bytes, 1000);
    }

    #[test]
    fn bitrates_follow_the_byte_counters() {
        let metrics = Arc::new(Metrics::default());
        let start = Instant::now();
        metrics.sample(start);
        let viewer = metrics.open_viewer("demo", Protocol::Ts, IP);
        viewer.sent(250_000);
        metrics.bytes_in("demo", 125_000);
        metrics.sample(start + Duration::from_secs(2));
        let stats = metrics.stream_stats("demo");
        assert_eq!(stats.bitrate_out_bps, 1_000_000);
        assert_eq!(stats.bitrate_in_bps, Some(500_000));
        assert_eq!(metrics.stream_stats("other").bitrate_in_bps, None);
        assert_eq!(metrics.totals().bandwidth_out_bps, 1_000_000);
    }

    #[test]
    fn connections_and_statuses() {
        let metrics = Arc::new(Metrics::default());
        let guard = metrics.connection_opened();
        assert_eq!(metrics.totals().connections, 1);
        drop(guard);
        assert_eq!(metrics.totals().connections, 0);
        metrics.response(404);
        metrics.response(404);
        metrics.response(42);
        metrics.response(700);
        assert_eq!(metrics.responses(), vec![(404, 2)]);
    }
}
