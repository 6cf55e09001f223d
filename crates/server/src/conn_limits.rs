//! Admission control of one listener: its open connections counted against its
//! caps ([`crate::config_limits::Caps`]), refusals counted in
//! `brume_refused_total{listener, reason}` and logged at most once per second, and
//! accept errors (out of file descriptors) logged at most once per second with a
//! pause before the next accept.
//!
//! Each accept loop owns one [`Gate`]; [`Gate::admit`] gives a [`Slot`] held for
//! the connection's life (it keeps the gate alive, so a connection outlives a
//! rebound listener), or refuses. The caps are read through the gate's
//! [`CapsSource`] for every new connection, so a configuration change applies to
//! the next one. [`answer_busy`] is the cheap refusal of an HTTP listener: a fixed
//! 503 written without blocking, then the socket is closed.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config_limits::{Caps, LimitsConfig};
use crate::config_store::ConfigStore;
use crate::failures::client_key;
use crate::metrics::{ConnectionGuard, Metrics};
use crate::net::Cidr;

/// What a refused HTTP client gets, when it can be written without waiting.
pub const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Retry-After: 5\r\nContent-Type: text/plain\r\nContent-Length: 29\r\nConnection: close\r\n\r\n\
Too many connections; retry.\n";
/// Pause before accepting again after running out of descriptors or memory.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning per this period per listener (refusals, accept errors).
pub const WARN_PERIOD: Duration = Duration::from_secs(1);

/// Which cap refused a connection (its `reason` label in `brume_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapFull {
    #[error("the listener has its maximum of connections open")]
    Listener,
    #[error("this client has its maximum of connections open")]
    PerIp,
}

impl CapFull {
    pub fn reason(self) -> &'static str {
        match self {
            CapFull::Listener => "max_connections",
            CapFull::PerIp => "max_per_ip",
        }
    }
}

/// The caps in force now, and the peers exempt from the per-client cap.
pub type CapsSource = Box<dyn Fn() -> (Caps, Arc<[Cidr]>) + Send + Sync>;

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Counts events and says when a warning is due (at most once per [`WARN_PERIOD`]).
#[derive(Debug, Default)]
struct Throttle {
    /// When the last warning went out, and events since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// Counts one event; `Some(events since the last warning)` when one is due.
    fn hit(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1 += 1;
        let now = Instant::now();
        if state
            .0
            .is_some_and(|last| now.duration_since(last) < WARN_PERIOD)
        {
            return None;
        }
        let count = state.1;
        *state = (Some(now), 0);
        Some(count)
    }
}

/// Admission control of one listener.
pub struct Gate {
    /// The `listener` label (`http`, `https`, `api`, `unix_socket`, `rtmp`).
    listener: &'static str,
    caps: CapsSource,
    metrics: Arc<Metrics>,
    /// Whether admitted connections count in `brume_connections` (HTTP media ports).
    counted: bool,
    open: Mutex<Open>,
    refusals: Throttle,
    accept_errors: Throttle,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("listener", &self.listener)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    gate: Arc<Gate>,
    /// The client's key when it counts against the per-client cap.
    key: Option<IpAddr>,
    _counted: Option<ConnectionGuard>,
}

impl Gate {
    /// A gate for `listener`; `counted` adds its connections to the open HTTP
    /// connections of the metrics.
    pub fn new(
        listener: &'static str,
        metrics: Arc<Metrics>,
        counted: bool,
        caps: CapsSource,
    ) -> Arc<Gate> {
        Arc::new(Gate {
            listener,
            caps,
            metrics,
            counted,
            open: Mutex::new(Open::default()),
            refusals: Throttle::default(),
            accept_errors: Throttle::default(),
        })
    }

    /// A gate whose caps come from the configuration in force in `config`:
    /// `pick` chooses the listener's, and with `exempt_trusted` the peers in
    /// `trusted_proxies` are not held to the per-client cap.
    pub fn configured(
        listener: &'static str,
        config: Arc<ConfigStore>,
        metrics: Arc<Metrics>,
        counted: bool,
        pick: fn(&LimitsConfig) -> Caps,
        exempt_trusted: bool,
    ) -> Arc<Gate> {
        let none: Arc<[Cidr]> = Arc::from(Vec::new());
        Gate::new(
            listener,
            metrics,
            counted,
            Box::new(move || {
                let caps = pick(&config.current().limits);
                let exempt = if exempt_trusted {
                    config.trusted_proxies()
                } else {
                    none.clone()
                };
                (caps, exempt)
            }),
        )
    }

    /// The listener's label.
    pub fn listener(&self) -> &'static str {
        self.listener
    }

    /// A place for a connection from `peer` (`None`: a Unix-socket peer), or
    /// `None` when a cap is full: then the refusal is counted and logged.
    pub fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> Option<Slot> {
        let (caps, exempt) = (self.caps)();
        match self.try_admit(peer, caps, &exempt) {
            Ok(slot) => Some(slot),
            Err(full) => {
                self.metrics.refusals.count(self.listener, full.reason());
                if let Some(refused) = self.refusals.hit() {
                    let client = peer.map_or_else(|| "unix socket".to_owned(), |ip| ip.to_string());
                    tracing::warn!(
                        listener = self.listener,
                        client,
                        reason = full.reason(),
                        refused,
                        max_connections = caps.max_connections,
                        max_per_ip = caps.max_per_ip,
                        "connections refused: a connection cap is full"
                    );
                }
                None
            }
        }
    }

    fn try_admit(
        self: &Arc<Self>,
        peer: Option<IpAddr>,
        caps: Caps,
        exempt: &[Cidr],
    ) -> Result<Slot, CapFull> {
        let key = peer
            .filter(|ip| !exempt.iter().any(|cidr| cidr.contains(*ip)))
            .map(client_key);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= caps.max_connections {
            return Err(CapFull::Listener);
        }
        if let Some(key) = key {
            let mine = open.per_client.entry(key).or_default();
            if *mine >= caps.max_per_ip {
                if *mine == 0 {
                    open.per_client.remove(&key);
                }
                return Err(CapFull::PerIp);
            }
            *mine += 1;
        }
        open.total += 1;
        drop(open);
        Ok(Slot {
            gate: self.clone(),
            key,
            _counted: self.counted.then(|| self.metrics.connection_opened()),
        })
    }

    /// Connections open now through this gate.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// Logs a failed accept (at most once per second, with a count) and says how
    /// long to wait before accepting again: [`ACCEPT_PAUSE`] when the process is
    /// out of descriptors or memory (retrying at once would spin), else nothing.
    pub fn accept_failed(&self, err: &io::Error) -> Duration {
        if let Some(failures) = self.accept_errors.hit() {
            tracing::warn!(
                listener = self.listener,
                %err,
                failures,
                "accept failed"
            );
        }
        // EMFILE, ENFILE, ENOBUFS, ENOMEM (Linux numbers).
        match err.raw_os_error() {
            Some(24 | 23 | 105 | 12) => ACCEPT_PAUSE,
            _ => Duration::ZERO,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(key) = self.key {
            if let Some(mine) = open.per_client.get_mut(&key) {
                *mine = mine.saturating_sub(1);
                if *mine == 0 {
                    open.per_client.remove(&key);
                }
            }
        }
    }
}

/// A socket [`answer_busy`] can use without waiting.
pub trait NonBlocking {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

impl NonBlocking for tokio::net::TcpStream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        tokio::net::TcpStream::try_read(self, buf)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        tokio::net::TcpStream::try_write(self, buf)
    }
}

impl NonBlocking for tokio::net::UnixStream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        tokio::net::UnixStream::try_read(self, buf)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        tokio::net::UnixStream::try_write(self, buf)
    }
}

/// Answers a refused HTTP client with [`BUSY_RESPONSE`] as far as it can without
/// waiting, then closes: what the client already sent is read first (up to
/// 16 KiB), so the close is an orderly one and the answer is not lost to a reset.
pub fn answer_busy<S: NonBlocking>(socket: S) {
    let mut scratch = [0u8; 4096];
    for _ in 0..4 {
        match socket.try_read(&mut scratch) {
            Ok(n) if n == scratch.len() => continue,
            _ => break,
        }
    }
    let _ = socket.try_write(BUSY_RESPONSE);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(caps: Caps, exempt: &str) -> Arc<Gate> {
        let exempt: Arc<[Cidr]> = Arc::from(vec![Cidr::parse(exempt).unwrap()]);
        Gate::new(
            "test",
            Arc::new(Metrics::default()),
            false,
            Box::new(move || (caps, exempt.clone())),
        )
    }

    #[test]
    fn caps_are_enforced_and_freed() {
        let gate = gate(
            Caps {
                max_connections: 3,
                max_per_ip: 2,
            },
            "10.0.0.0/8",
        );
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.admit(Some(a)).unwrap();
        let _second = gate.admit(Some(a)).unwrap();
        assert!(gate.admit(Some(a)).is_none());
        let _third = gate.admit(Some(b)).unwrap();
        assert!(gate.admit(Some(b)).is_none());
        drop(first);
        assert!(gate.admit(Some(a)).is_some());
        let counts = gate.metrics.refusals.snapshot();
        assert_eq!(
            counts,
            vec![("test", "max_connections", 1), ("test", "max_per_ip", 1)]
        );
    }

    #[test]
    fn exempt_peers_and_socket_peers_only_count_against_the_listener() {
        let gate = gate(
            Caps {
                max_connections: 3,
                max_per_ip: 1,
            },
            "10.0.0.0/8",
        );
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let _a = gate.admit(Some(proxy)).unwrap();
        let _b = gate.admit(Some(proxy)).unwrap();
        let _c = gate.admit(None).unwrap();
        assert!(gate.admit(None).is_none());
        assert_eq!(gate.open(), 3);
    }

    #[test]
    fn the_busy_answer_is_well_formed() {
        let text = std::str::from_utf8(BUSY_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    #[test]
    fn warnings_are_throttled_with_a_count() {
        let throttle = Throttle::default();
        assert_eq!(throttle.hit(), Some(1));
        assert_eq!(throttle.hit(), None);
        assert_eq!(throttle.hit(), None);
        throttle.state.lock().unwrap().0 = Some(Instant::now() - WARN_PERIOD);
        assert_eq!(throttle.hit(), Some(3));
    }
}
