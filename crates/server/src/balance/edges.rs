//! The edges a balancer spreads viewers over: their addresses, what their last
//! poll of `/load.json` said, and the choice of the least-loaded one.
//!
//! An edge is healthy while its last poll succeeded; a failed poll (refused,
//! timed out, not a load document) takes it out of the choice at once, and the
//! next good poll brings it back. Between polls, each viewer sent to an edge
//! counts as one more viewer there (`pending`), so a burst of new viewers is
//! spread instead of all going to the edge that was emptiest at the last poll.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use super::load::{LoadDoc, LOAD_PATH};

/// Most edges one balancer keeps (static and registered together).
pub const MAX_EDGES: usize = 1000;
/// Largest load document read from an edge.
pub const MAX_LOAD_BYTES: usize = 1024 * 1024;

/// Why an edge address is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EdgeAddrError {
    #[error("{0:?} is not an edge address: write http://HOST:PORT")]
    Syntax(String),
    #[error("{0:?}: only http:// edges are polled")]
    Scheme(String),
    #[error("{0:?}: an edge address has no path or query")]
    Path(String),
}

/// Where an edge's media port is: polled there, and viewers are sent there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeAddr {
    /// `http://host:port`, the prefix of every redirect to this edge.
    pub base: String,
    host: String,
    port: u16,
}

impl EdgeAddr {
    /// Parses `http://HOST[:PORT]` (port 80 if left out) or `HOST:PORT`.
    pub fn parse(text: &str) -> Result<EdgeAddr, EdgeAddrError> {
        let trimmed = text.trim().trim_end_matches('/');
        let full = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("http://{trimmed}")
        };
        let uri: http::Uri = full
            .parse()
            .map_err(|_| EdgeAddrError::Syntax(text.to_owned()))?;
        if uri.scheme_str() != Some("http") {
            return Err(EdgeAddrError::Scheme(text.to_owned()));
        }
        if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
            return Err(EdgeAddrError::Path(text.to_owned()));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| EdgeAddrError::Syntax(text.to_owned()))?;
        if authority.as_str().contains('@') {
            return Err(EdgeAddrError::Syntax(text.to_owned()));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(EdgeAddrError::Syntax(text.to_owned()));
        }
        let port = authority.port_u16().unwrap_or(80);
        Ok(EdgeAddr {
            base: format!("http://{authority}"),
            host,
            port,
        })
    }

    /// `host:port` as written in the base (MistServer's plain-text answers).
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

/// Why polling an edge failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("cannot connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    #[error("answered {0} (is \"load_json\": true in its configuration?)")]
    Status(u16),
    #[error("the load document is unreadable or over {MAX_LOAD_BYTES} bytes")]
    Body,
    #[error("not a load document: {0}")]
    Json(#[from] serde_json::Error),
}

/// One edge and what is known of it.
#[derive(Debug)]
pub struct Edge {
    pub addr: EdgeAddr,
    /// Added by `POST /edges` (not from the configuration).
    pub registered: bool,
    status: Mutex<EdgeStatus>,
}

#[derive(Debug, Default)]
struct EdgeStatus {
    load: Option<LoadDoc>,
    healthy: bool,
    error: Option<String>,
    /// Share of the machine's CPUs the edge used between its last two polls.
    cpu_share: f64,
    last_cpu: Option<(Instant, f64)>,
    /// Viewers sent here since the last poll.
    pending: u64,
}

/// An edge as `GET /edges` shows it.
#[derive(Debug, Serialize)]
pub struct EdgeView {
    pub url: String,
    pub registered: bool,
    pub healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub viewers: u64,
    pub pending: u64,
    pub bandwidth_out_bps: u64,
    pub cpu_share: f64,
    pub streams: std::collections::BTreeMap<String, String>,
}

impl Edge {
    fn new(addr: EdgeAddr, registered: bool) -> Edge {
        Edge {
            addr,
            registered,
            status: Mutex::new(EdgeStatus::default()),
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, EdgeStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_healthy(&self) -> bool {
        self.status().healthy
    }

    /// Records a poll's outcome.
    fn record(&self, result: Result<LoadDoc, PollError>, now: Instant) {
        let mut status = self.status();
        match result {
            Ok(load) => {
                if let Some((at, seconds)) = status.last_cpu {
                    let wall = now.duration_since(at).as_secs_f64();
                    if wall > 0.0 {
                        let used = (load.cpu_seconds - seconds).max(0.0);
                        status.cpu_share = used / wall / f64::from(load.cpus.max(1));
                    }
                }
                status.last_cpu = Some((now, load.cpu_seconds));
                if !status.healthy {
                    tracing::info!(edge = %self.addr.base, "edge up");
                }
                status.healthy = true;
                status.error = None;
                status.pending = 0;
                status.load = Some(load);
            }
            Err(err) => {
                if status.healthy || status.error.is_none() {
                    tracing::warn!(edge = %self.addr.base, %err, "edge down");
                }
                status.healthy = false;
                status.error = Some(err.to_string());
                status.last_cpu = None;
            }
        }
    }

    /// How loaded the edge is, lower is better: viewers (with those sent since
    /// the last poll), then outgoing bandwidth, then CPU. `None` when it is down
    /// or cannot serve `stream` (or does not have it online, with `online`).
    fn rank(&self, stream: Option<&str>, online: bool) -> Option<(u64, u64, u64)> {
        let status = self.status();
        if !status.healthy {
            return None;
        }
        let load = status.load.as_ref()?;
        if let Some(stream) = stream {
            let entry = load.streams.get(stream)?;
            if !entry.servable || (online && entry.status != "online") {
                return None;
            }
        }
        Some((
            load.viewers + status.pending,
            load.bandwidth_out_bps,
            (status.cpu_share * 1000.0) as u64,
        ))
    }

    pub fn view(&self) -> EdgeView {
        let status = self.status();
        let load = status.load.clone().unwrap_or_default();
        EdgeView {
            url: self.addr.base.clone(),
            registered: self.registered,
            healthy: status.healthy,
            error: status.error.clone(),
            viewers: load.viewers,
            pending: status.pending,
            bandwidth_out_bps: load.bandwidth_out_bps,
            cpu_share: status.cpu_share,
            streams: load
                .streams
                .into_iter()
                .map(|(name, s)| (name, s.status))
                .collect(),
        }
    }
}

/// What `POST /edges` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    New,
    Known,
}

/// Why an edge was not added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddError {
    #[error("{0}")]
    Addr(#[from] EdgeAddrError),
    #[error("the balancer already has {MAX_EDGES} edges")]
    Full,
}

/// All edges of the balancer.
#[derive(Debug, Default)]
pub struct Edges {
    list: RwLock<Vec<Arc<Edge>>>,
}

impl Edges {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Edge>>> {
        self.list.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Edge>>> {
        self.list.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> Vec<Arc<Edge>> {
        self.read().clone()
    }

    /// Adds an edge (its first poll comes at the next round).
    pub fn add(&self, text: &str, registered: bool) -> Result<Added, AddError> {
        let addr = EdgeAddr::parse(text)?;
        let mut list = self.write();
        if list.iter().any(|e| e.addr == addr) {
            return Ok(Added::Known);
        }
        if list.len() >= MAX_EDGES {
            return Err(AddError::Full);
        }
        tracing::info!(edge = %addr.base, registered, "edge added");
        list.push(Arc::new(Edge::new(addr, registered)));
        Ok(Added::New)
    }

    /// Removes an edge; whether it was there.
    pub fn remove(&self, text: &str) -> Result<bool, EdgeAddrError> {
        let addr = EdgeAddr::parse(text)?;
        let mut list = self.write();
        let before = list.len();
        list.retain(|e| e.addr != addr);
        Ok(list.len() != before)
    }

    /// The least-loaded healthy edge that can serve `stream` (any healthy edge
    /// without one); it counts one more viewer until the next poll.
    pub fn choose(&self, stream: Option<&str>) -> Option<Arc<Edge>> {
        self.pick(stream, false, true)
    }

    /// The least-loaded healthy edge where `stream` is online now: where another
    /// server can pull it from (MistServer's `?source=`).
    pub fn source(&self, stream: &str) -> Option<Arc<Edge>> {
        self.pick(Some(stream), true, false)
    }

    fn pick(&self, stream: Option<&str>, online: bool, count: bool) -> Option<Arc<Edge>> {
        let list = self.read();
        let best = list
            .iter()
            .filter_map(|edge| Some((edge.rank(stream, online)?, edge)))
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, edge)| edge.clone())?;
        if count {
            best.status().pending += 1;
        }
        Some(best)
    }

    /// Polls every edge once, all at the same time, each within `timeout`.
    pub async fn poll_all(&self, timeout: Duration) {
        let edges = self.snapshot();
        let polls = edges.iter().map(|edge| async move {
            let result = match tokio::time::timeout(timeout, poll(&edge.addr)).await {
                Ok(result) => result,
                Err(_) => Err(PollError::Timeout(timeout.as_millis())),
            };
            edge.record(result, Instant::now());
        });
        futures_util::future::join_all(polls).await;
    }
}

/// One `GET /load.json` of an edge.
async fn poll(addr: &EdgeAddr) -> Result<LoadDoc, PollError> {
    let tcp = TcpStream::connect((addr.host.as_str(), addr.port)).await?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::get(LOAD_PATH)
        .header(hyper::header::HOST, addr.authority())
        .header(hyper::header::USER_AGENT, crate::http::response::SERVER)
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|_| PollError::Body)?;
    let response = sender.send_request(request).await;
    let result = async {
        let response = response?;
        if response.status() != hyper::StatusCode::OK {
            return Err(PollError::Status(response.status().as_u16()));
        }
        let body = Limited::new(response.into_body(), MAX_LOAD_BYTES)
            .collect()
            .await
            .map_err(|_| PollError::Body)?
            .to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }
    .await;
    connection.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::load::StreamLoad;

    fn doc(viewers: u64, streams: &[(&str, &str, bool)]) -> LoadDoc {
        LoadDoc {
            viewers,
            cpus: 1,
            streams: streams
                .iter()
                .map(|(name, status, servable)| {
                    (
                        (*name).to_owned(),
                        StreamLoad {
                            status: (*status).to_owned(),
                            servable: *servable,
                            viewers: 0,
                        },
                    )
                })
                .collect(),
            ..LoadDoc::default()
        }
    }

    fn edges(loads: Vec<Option<LoadDoc>>) -> Edges {
        let edges = Edges::default();
        for (i, load) in loads.into_iter().enumerate() {
            let text = format!("http://127.0.0.1:{}", 9000 + i);
            assert_eq!(edges.add(&text, false), Ok(Added::New));
            let result = load.ok_or(PollError::Status(404));
            if let Some(edge) = edges.snapshot().pop() {
                edge.record(result, Instant::now());
            }
        }
        edges
    }

    fn chosen(edges: &Edges, stream: Option<&str>) -> Option<String> {
        edges.choose(stream).map(|e| e.addr.base.clone())
    }

    #[test]
    fn addresses_parse_and_bad_ones_say_why() {
        let a = EdgeAddr::parse("http://edge1.example:8080/").ok();
        assert_eq!(
            a.as_ref().map(|a| a.base.as_str()),
            Some("http://edge1.example:8080")
        );
        assert_eq!(
            a.map(|a| (a.host, a.port)),
            Some(("edge1.example".into(), 8080))
        );
        let b = EdgeAddr::parse("[::1]:81").ok();
        assert_eq!(b.map(|a| (a.host, a.port)), Some(("::1".into(), 81)));
        assert_eq!(EdgeAddr::parse("edge").ok().map(|a| a.port), Some(80));
        assert!(matches!(
            EdgeAddr::parse("https://e:1"),
            Err(EdgeAddrError::Scheme(_))
        ));
        assert!(matches!(
            EdgeAddr::parse("http://e:1/x"),
            Err(EdgeAddrError::Path(_))
        ));
        assert!(matches!(
            EdgeAddr::parse("http://u@e:1"),
            Err(EdgeAddrError::Syntax(_))
        ));
        assert!(matches!(
            EdgeAddr::parse("not an address"),
            Err(EdgeAddrError::Syntax(_))
        ));
    }

    #[test]
    fn the_least_loaded_healthy_edge_that_has_the_stream_wins() {
        let set = edges(vec![
            Some(doc(5, &[("live", "online", true)])),
            Some(doc(
                1,
                &[("live", "offline", true), ("other", "error", false)],
            )),
            None,
        ]);
        assert_eq!(
            chosen(&set, Some("live")).as_deref(),
            Some("http://127.0.0.1:9001")
        );
        // Nobody can serve `other` (an error) or `nosuch`.
        assert_eq!(chosen(&set, Some("other")), None);
        assert_eq!(chosen(&set, Some("nosuch")), None);
        // The source of `live` is where it is online.
        assert_eq!(
            set.source("live").map(|e| e.addr.base.clone()).as_deref(),
            Some("http://127.0.0.1:9000")
        );
    }

    #[test]
    fn viewers_sent_between_polls_count() {
        let set = edges(vec![Some(doc(2, &[])), Some(doc(0, &[]))]);
        let picks: Vec<_> = (0..6).filter_map(|_| chosen(&set, None)).collect();
        let second = picks.iter().filter(|b| b.ends_with(":9001")).count();
        // 0 → 2 on the second edge, then alternating: 4 of 6 there.
        assert_eq!(second, 4, "{picks:?}");
    }

    #[test]
    fn a_failed_poll_takes_an_edge_out_at_once() {
        let set = edges(vec![Some(doc(9, &[])), Some(doc(0, &[]))]);
        let second = set.snapshot().pop();
        if let Some(edge) = &second {
            edge.record(Err(PollError::Timeout(1000)), Instant::now());
        }
        assert_eq!(chosen(&set, None).as_deref(), Some("http://127.0.0.1:9000"));
        if let Some(edge) = &second {
            edge.record(Ok(doc(0, &[])), Instant::now());
        }
        assert_eq!(chosen(&set, None).as_deref(), Some("http://127.0.0.1:9001"));
    }

    #[test]
    fn cpu_share_comes_from_two_readings() {
        let edge = Edge::new(
            EdgeAddr::parse("e:1").unwrap_or_else(|e| panic!("{e}")),
            false,
        );
        let t0 = Instant::now();
        let mut load = doc(0, &[]);
        load.cpus = 2;
        load.cpu_seconds = 10.0;
        edge.record(Ok(load.clone()), t0);
        load.cpu_seconds = 11.0;
        edge.record(Ok(load), t0 + Duration::from_secs(1));
        assert!((edge.view().cpu_share - 0.5).abs() < 1e-9);
    }
}
