//! WebRTC: WHEP playback of live streams and WHIP ingest into push streams (one
//! UDP socket for every session).
//!
//! * [`audio`]: Opus made once per stream for viewers of AAC streams.
//! * [`config`]: the `webrtc` configuration section.
//! * [`demux`]: which session a datagram on the shared socket belongs to.
//! * [`sdp`]: what we check in an offer and how we say what is wrong with it.
//! * [`session`]: one peer connection (a [`str0m::Rtc`], ICE-lite) driven by a
//!   task of its own: datagrams routed to it, its frame subscription, its timers.
//! * [`whep`]: the HTTP side on the media port (`POST /webrtc/S`, `/whep/S`;
//!   `DELETE` and `PATCH` on the session resource; CORS).
//! * [`ingest`]: one WHIP publisher's session (H.264 and Opus in, a push stream's
//!   frames out); [`whip`]: its HTTP side (`POST /whip/S`, bearer token).
//!
//! One [`WebRtc`] per server owns the socket and a receive task; sessions are
//! entries in its table, each with a bounded datagram queue. Frames reach a
//! session through a [`crate::stream::subscription::frames::FrameSubscription`]
//! (shared `Bytes`; the Annex-B payload str0m packetizes is made once per frame
//! per stream). Keyframe requests from a viewer are answered from its own copy of
//! the current GOP, never forwarded to the publisher. A session that does not
//! complete ICE within [`CONNECT_TIMEOUT`], or that hears nothing from its peer for
//! [`CONSENT_TIMEOUT`], ends and frees everything.

pub mod audio;
pub mod config;
pub mod demux;
pub mod ingest;
mod payload;
mod peer;
pub mod sdp;
mod session;
pub mod whep;
pub mod whip;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use config::WebRtcConfig;
use demux::Demux;

/// Sessions (connected or not) one server holds at most.
pub const MAX_SESSIONS: usize = 4096;
/// Datagrams queued for one session before further ones are dropped.
pub const SESSION_QUEUE: usize = 256;
/// A session whose peer does not complete ICE and DTLS within this ends.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A connected session that hears nothing from its peer for this long ends
/// (browsers send consent checks every few seconds and RTCP every second).
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest datagram read from the socket.
const MAX_DATAGRAM: usize = 2048;

/// One datagram for a session.
#[derive(Debug)]
struct Datagram {
    at: std::time::Instant,
    source: SocketAddr,
    data: Vec<u8>,
}

/// What the table keeps of a session.
#[derive(Debug)]
struct Entry {
    resource: String,
    stream: String,
    ufrag: String,
    packets: mpsc::Sender<Datagram>,
    stop: CancellationToken,
}

#[derive(Debug, Default)]
struct Table {
    demux: Demux<u64>,
    sessions: HashMap<u64, Entry>,
    by_resource: HashMap<String, u64>,
    next_key: u64,
}

#[derive(Debug)]
struct Inner {
    socket: UdpSocket,
    local: SocketAddr,
    config: std::sync::RwLock<WebRtcConfig>,
    crypto: Arc<str0m::crypto::CryptoProvider>,
    table: Mutex<Table>,
    opus: audio::OpusFeeds,
}

impl Inner {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets a session (its task ended).
    fn remove(&self, key: u64) {
        let mut table = self.table();
        if let Some(entry) = table.sessions.remove(&key) {
            table.demux.remove(&entry.ufrag, key);
            table.by_resource.remove(&entry.resource);
        }
    }
}

/// The WebRTC service of one server: its UDP socket and sessions. Dropping it
/// stops the receive task and ends every session.
#[derive(Debug)]
pub struct WebRtc {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Drop for WebRtc {
    fn drop(&mut self) {
        self.task.abort();
        let table = self.inner.table();
        for entry in table.sessions.values() {
            entry.stop.cancel();
        }
    }
}

/// Binds the configured UDP address (before anything is committed).
pub fn bind(config: &WebRtcConfig) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(config.listen)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl WebRtc {
    /// Starts serving on `socket` (bound by [`bind`]).
    pub fn start(socket: std::net::UdpSocket, config: WebRtcConfig) -> std::io::Result<WebRtc> {
        let socket = UdpSocket::from_std(socket)?;
        let local = socket.local_addr()?;
        let inner = Arc::new(Inner {
            socket,
            local,
            config: std::sync::RwLock::new(config),
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            table: Mutex::new(Table::default()),
            opus: audio::OpusFeeds::default(),
        });
        let task = tokio::spawn(receive(inner.clone()));
        Ok(WebRtc { inner, task })
    }

    /// New settings on the same socket (the announced addresses).
    pub fn set_config(&self, config: WebRtcConfig) {
        *self.inner.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Sessions held now (connected or not).
    pub fn session_count(&self) -> usize {
        self.inner.table().sessions.len()
    }

    /// The addresses announced as candidates to a client at `client`: the
    /// configured public addresses, else the listen address, else (a wildcard
    /// listen address) the local address the system routes `client` from.
    fn candidate_addresses(&self, client: IpAddr) -> Vec<SocketAddr> {
        let port = self.inner.local.port();
        let public_ip = self
            .inner
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .public_ip
            .clone();
        if !public_ip.is_empty() {
            return public_ip
                .iter()
                .map(|&ip| SocketAddr::new(ip, port))
                .collect();
        }
        if !self.inner.local.ip().is_unspecified() {
            return vec![self.inner.local];
        }
        let routed = std::net::UdpSocket::bind(SocketAddr::new(self.inner.local.ip(), 0)).and_then(
            |probe| {
                probe.connect(SocketAddr::new(client, 9))?;
                probe.local_addr()
            },
        );
        match routed {
            Ok(local) => vec![SocketAddr::new(local.ip(), port)],
            Err(err) => {
                tracing::debug!(%err, %client, "no route to the client for a candidate");
                vec![SocketAddr::new(
                    if self.inner.local.is_ipv4() {
                        IpAddr::from([127, 0, 0, 1])
                    } else {
                        IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
                    },
                    port,
                )]
            }
        }
    }

    /// Ends the session at `resource` of `stream`; whether there was one.
    pub fn end(&self, stream: &str, resource: &str) -> bool {
        let table = self.inner.table();
        let Some(key) = table.by_resource.get(resource) else {
            return false;
        };
        match table.sessions.get(key) {
            Some(entry) if entry.stream == stream => {
                entry.stop.cancel();
                true
            }
            _ => false,
        }
    }

    /// Whether `resource` names a session of `stream`.
    pub fn has(&self, stream: &str, resource: &str) -> bool {
        let table = self.inner.table();
        table
            .by_resource
            .get(resource)
            .and_then(|key| table.sessions.get(key))
            .is_some_and(|e| e.stream == stream)
    }
}

/// Reads the socket and hands each datagram to its session's queue.
async fn receive(inner: Arc<Inner>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut dropped: u64 = 0;
    loop {
        let (len, source) = match inner.socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(err) => {
                tracing::debug!(%err, "WebRTC socket receive failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let data = &buf[..len];
        let mut table = inner.table();
        let sender = table
            .demux
            .route(source, data)
            .and_then(|key| table.sessions.get(&key))
            .map(|entry| entry.packets.clone());
        drop(table);
        let delivered = sender.is_some_and(|sender| {
            sender
                .try_send(Datagram {
                    at: std::time::Instant::now(),
                    source,
                    data: data.to_vec(),
                })
                .is_ok()
        });
        if !delivered {
            dropped += 1;
            if dropped.is_power_of_two() {
                tracing::debug!(%source, dropped, "WebRTC datagrams dropped (no session or queue full)");
            }
        }
    }
}
