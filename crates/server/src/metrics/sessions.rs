//! Viewer sessions: who watches which stream, over what, from where.
//!
//! A progressive response (MP4, TS, FLV) or a MEWS WebSocket is one session that
//! lasts as long as its [`Viewer`] handle (dropped when the body or socket ends).
//! Polling players (HLS, CMAF, DASH) make many short requests; their session is
//! (stream, protocol, client IP) and ends [`POLL_EXPIRY`] after the last request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::{Metrics, Traffic};

/// A polling session without a request for this long is over.
pub const POLL_EXPIRY: std::time::Duration = std::time::Duration::from_secs(30);
/// Most polling sessions tracked at once; past it (a flood of client addresses)
/// requests still count in the byte totals, without a session of their own.
pub const MAX_POLLED_SESSIONS: usize = 100_000;
/// Locks the polling sessions are spread over.
const SHARDS: usize = 16;

/// How a viewer receives a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Hls,
    Cmaf,
    Dash,
    Mp4,
    Ts,
    Flv,
    Mews,
    Rtmp,
    WebRtc,
}

impl Protocol {
    /// The name the API and `/metrics` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Hls => "HLS",
            Protocol::Cmaf => "CMAF",
            Protocol::Dash => "DASH",
            Protocol::Mp4 => "MP4",
            Protocol::Ts => "TS",
            Protocol::Flv => "FLV",
            Protocol::Mews => "MEWS",
            Protocol::Rtmp => "RTMP",
            Protocol::WebRtc => "WebRTC",
        }
    }
}

impl serde::Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One session as the API lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClientInfo {
    pub id: String,
    pub stream: String,
    pub protocol: Protocol,
    pub ip: String,
    pub bytes: u64,
    pub duration_s: f64,
    pub started_at_ms: u64,
}

#[derive(Debug)]
struct Session {
    id: u64,
    stream: String,
    protocol: Protocol,
    ip: IpAddr,
    bytes: AtomicU64,
    started_at_ms: u64,
    started: Instant,
    /// Milliseconds after `started` of the last request (polling sessions).
    last_seen_ms: AtomicU64,
    traffic: Arc<Traffic>,
}

impl Session {
    fn new(id: u64, stream: &str, protocol: Protocol, ip: IpAddr, traffic: Arc<Traffic>) -> Self {
        let started_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Session {
            id,
            stream: stream.to_owned(),
            protocol,
            ip,
            bytes: AtomicU64::new(0),
            started_at_ms,
            started: Instant::now(),
            last_seen_ms: AtomicU64::new(0),
            traffic,
        }
    }

    fn sent(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.traffic.add(bytes);
    }

    fn last_seen(&self) -> Instant {
        self.started + std::time::Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed))
    }

    fn info(&self, now: Instant) -> ClientInfo {
        ClientInfo {
            id: self.id.to_string(),
            stream: self.stream.clone(),
            protocol: self.protocol,
            ip: self.ip.to_string(),
            bytes: self.bytes.load(Ordering::Relaxed),
            duration_s: now.saturating_duration_since(self.started).as_secs_f64(),
            started_at_ms: self.started_at_ms,
        }
    }
}

type PolledKey = (String, Protocol, IpAddr);

#[derive(Debug, Default)]
pub(super) struct Sessions {
    open: Mutex<HashMap<u64, Arc<Session>>>,
    /// Sharded by client address, so concurrent segment requests rarely meet on
    /// one lock; a client's sessions (HLS, CMAF, DASH) share a shard.
    polled: [Mutex<HashMap<PolledKey, Arc<Session>>>; SHARDS],
    next_id: AtomicU64,
}

/// A live viewer session; it ends when this is dropped.
#[derive(Debug)]
pub struct Viewer {
    session: Arc<Session>,
    metrics: Arc<Metrics>,
}

impl Viewer {
    /// Counts bytes sent to this viewer.
    pub fn sent(&self, bytes: u64) {
        self.session.sent(bytes);
    }

    /// Counts a skip: the viewer fell behind and resumes at the next keyframe.
    pub fn skipped(&self) {
        self.session.traffic.skipped();
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.metrics
            .sessions
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.session.id);
    }
}

impl Sessions {
    pub(super) fn open(
        &self,
        metrics: &Arc<Metrics>,
        stream: &str,
        protocol: Protocol,
        ip: IpAddr,
        traffic: Arc<Traffic>,
    ) -> Viewer {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let session = Arc::new(Session::new(id, stream, protocol, ip, traffic));
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, session.clone());
        Viewer {
            session,
            metrics: metrics.clone(),
        }
    }

    pub(super) fn polled(
        &self,
        metrics: &Metrics,
        stream: String,
        protocol: Protocol,
        ip: IpAddr,
        bytes: u64,
        shared_segment: bool,
    ) {
        let now = Instant::now();
        let mut polled = self.shard(ip).lock().unwrap_or_else(|p| p.into_inner());
        let mut key = (stream, protocol, ip);
        if shared_segment && !live(polled.get(&key), now) {
            // A CMAF segment fetched by a DASH player counts for DASH.
            let dash = (key.0, Protocol::Dash, ip);
            key = if live(polled.get(&dash), now) {
                dash
            } else {
                (dash.0, protocol, ip)
            };
        }
        let session = match polled.get(&key) {
            Some(session) if live(Some(session), now) => session.clone(),
            _ if polled.len() >= MAX_POLLED_SESSIONS / SHARDS && !polled.contains_key(&key) => {
                drop(polled);
                metrics.traffic(&key.0, key.1).add(bytes);
                return;
            }
            _ => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
                let traffic = metrics.traffic(&key.0, key.1);
                let session = Arc::new(Session::new(id, &key.0, key.1, ip, traffic));
                polled.insert(key, session.clone());
                session
            }
        };
        drop(polled);
        let since = now.saturating_duration_since(session.started).as_millis() as u64;
        session.last_seen_ms.fetch_max(since, Ordering::Relaxed);
        session.sent(bytes);
    }

    /// Drops polling sessions that went quiet.
    pub(super) fn expire(&self, now: Instant) {
        for shard in &self.polled {
            shard
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, s| live(Some(s), now));
        }
    }

    fn shard(&self, ip: IpAddr) -> &Mutex<HashMap<PolledKey, Arc<Session>>> {
        use std::hash::BuildHasher;
        static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let hash = SEED.get_or_init(Default::default).hash_one(ip);
        &self.polled[hash as usize % SHARDS]
    }

    /// Live sessions whose stream matches.
    pub(super) fn count(&self, stream: impl Fn(&str) -> bool) -> u64 {
        self.each(|s| stream(&s.stream)).len() as u64
    }

    /// Live sessions per (stream, protocol).
    pub(super) fn by_stream(&self) -> HashMap<(String, Protocol), u64> {
        let mut counts = HashMap::new();
        for session in self.each(|_| true) {
            *counts
                .entry((session.stream.clone(), session.protocol))
                .or_default() += 1;
        }
        counts
    }

    pub(super) fn list(&self) -> Vec<ClientInfo> {
        let now = Instant::now();
        let mut sessions = self.each(|_| true);
        sessions.sort_by_key(|s| s.id);
        sessions.iter().map(|s| s.info(now)).collect()
    }

    fn each(&self, keep: impl Fn(&Session) -> bool) -> Vec<Arc<Session>> {
        let now = Instant::now();
        let mut all: Vec<Arc<Session>> = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| keep(s))
            .cloned()
            .collect();
        for shard in &self.polled {
            all.extend(
                shard
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .filter(|s| live(Some(s), now) && keep(s))
                    .cloned(),
            );
        }
        all
    }
}

/// Whether a polling session had a request within [`POLL_EXPIRY`].
fn live(session: Option<&Arc<Session>>, now: Instant) -> bool {
    session.is_some_and(|s| now.saturating_duration_since(s.last_seen()) < POLL_EXPIRY)
}
