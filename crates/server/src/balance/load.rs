//! The load document an edge publishes for a balancer: `GET /load.json` on the
//! media port, only where the configuration says `"load_json": true`.
//!
//! It holds counts only (viewers, outgoing bandwidth, CPU time used, which
//! streams the edge can serve) and no secret, so it can be public: a balancer
//! reads it without API credentials. Giving the balancer an API account instead
//! would put an account able to change every edge's configuration on the
//! balancer's machine; this document gives it exactly what it needs and nothing
//! it could abuse.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stream::{StreamEntry, StreamState};

/// Path of the load document on the media port.
pub const LOAD_PATH: &str = "/load.json";

/// What an edge says about its load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadDoc {
    /// Viewers connected now, all streams and protocols.
    pub viewers: u64,
    /// Bytes per second the edge sends, times 8 (over the last few seconds).
    pub bandwidth_out_bps: u64,
    /// CPU time the process has used since it started, in seconds; the balancer
    /// turns two readings into a share of the machine.
    pub cpu_seconds: f64,
    /// CPUs the process may use.
    pub cpus: u32,
    /// Each configured stream.
    pub streams: BTreeMap<String, StreamLoad>,
}

/// One stream of an edge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamLoad {
    /// `online`, `offline`, `starting` or `error` (as in the API).
    pub status: String,
    /// Whether a viewer sent here now would get the stream: it is live or on
    /// demand, or a pulled stream that starts at its first viewer.
    pub servable: bool,
    pub viewers: u64,
}

/// `GET /load.json`: the document, never cached.
pub fn answer(context: &crate::http::HttpContext) -> hyper::Response<crate::http::body::Body> {
    let doc = document(&context.state);
    let body = serde_json::to_string(&doc).unwrap_or_default();
    let mut response = crate::http::response::text(hyper::StatusCode::OK, &body);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The load document of this server.
pub fn document(state: &crate::state::ServerState) -> LoadDoc {
    let totals = state.metrics.totals();
    let mut streams = BTreeMap::new();
    for name in state.registry.names() {
        let Some(entry) = state.registry.get(&name) else {
            continue;
        };
        let viewers = state.metrics.stream_stats(&name).viewers;
        streams.insert(name, stream_load(&entry, viewers));
    }
    LoadDoc {
        viewers: totals.viewers,
        bandwidth_out_bps: totals.bandwidth_out_bps,
        cpu_seconds: process_cpu_seconds().unwrap_or(0.0),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        streams,
    }
}

fn stream_load(entry: &StreamEntry, viewers: u64) -> StreamLoad {
    let (status, servable) = match entry.state() {
        StreamState::Live(_) | StreamState::Vod(_) => ("online", true),
        StreamState::Starting => ("starting", true),
        StreamState::Offline => ("offline", entry.is_pulled()),
        StreamState::Error(_) => ("error", false),
    };
    StreamLoad {
        status: status.to_owned(),
        servable,
        viewers,
    }
}

/// User plus system CPU time of this process (`/proc/self/stat`, Linux; the
/// kernel counts it in ticks of 1/100 s on every architecture Brume runs on).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_seconds(&stat)
}

const TICKS_PER_SECOND: f64 = 100.0;

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces: count
    // fields from the last `)`. utime and stime are fields 14 and 15.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces() {
        let stat = "4242 (tokio (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(parse_cpu_seconds("garbage"), None);
        assert_eq!(parse_cpu_seconds("1 (x) S 1 2"), None);
        if cfg!(target_os = "linux") {
            assert!(process_cpu_seconds().is_some());
        }
    }

    #[test]
    fn the_document_round_trips() {
        let mut doc = LoadDoc {
            viewers: 3,
            bandwidth_out_bps: 1_000_000,
            cpu_seconds: 1.5,
            cpus: 2,
            ..LoadDoc::default()
        };
        doc.streams.insert(
            "live".into(),
            StreamLoad {
                status: "offline".into(),
                servable: true,
                viewers: 0,
            },
        );
        let text = serde_json::to_string(&doc).unwrap_or_default();
        assert_eq!(serde_json::from_str::<LoadDoc>(&text).ok(), Some(doc));
    }
}
