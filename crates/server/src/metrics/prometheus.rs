//! `/metrics`: the Prometheus text exposition format, version 0.0.4.
//!
//! Every family has `# HELP` and `# TYPE` lines; label values are escaped
//! (backslash, double quote, newline) so a stream name cannot break the format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{process, Metrics, Protocol};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Figures that come from the stream registry, counted at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounts {
    pub streams: u64,
    pub online: u64,
    /// Push streams with a live publisher.
    pub publishers: u64,
}

/// The whole exposition.
pub fn render(metrics: &Metrics, counts: StreamCounts) -> String {
    let mut out = String::with_capacity(4096);
    let traffic: BTreeMap<(String, Protocol), u64> = metrics
        .traffic
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(key, t)| (key.clone(), t.bytes.load(Ordering::Relaxed)))
        .collect();
    let mut viewers: BTreeMap<(String, Protocol), u64> =
        traffic.keys().map(|k| (k.clone(), 0)).collect();
    viewers.extend(metrics.sessions.by_stream());

    family(
        &mut out,
        "brume_viewers",
        "gauge",
        "Viewer sessions now, per stream and protocol.",
    );
    for ((stream, protocol), count) in &viewers {
        sample(
            &mut out,
            "brume_viewers",
            &[("stream", stream), ("protocol", protocol.as_str())],
            *count,
        );
    }
    family(
        &mut out,
        "brume_bytes_sent_total",
        "counter",
        "Media bytes sent to viewers, per stream and protocol.",
    );
    for ((stream, protocol), bytes) in &traffic {
        sample(
            &mut out,
            "brume_bytes_sent_total",
            &[("stream", stream), ("protocol", protocol.as_str())],
            *bytes,
        );
    }
    family(
        &mut out,
        "brume_viewer_skips_total",
        "counter",
        "Times a viewer fell behind and resumed at the next keyframe, per stream and protocol.",
    );
    for ((stream, protocol), traffic) in metrics
        .traffic
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(key, t)| (key.clone(), t.skips.load(Ordering::Relaxed)))
        .collect::<BTreeMap<_, _>>()
    {
        sample(
            &mut out,
            "brume_viewer_skips_total",
            &[("stream", &stream), ("protocol", protocol.as_str())],
            traffic,
        );
    }
    let inputs: BTreeMap<String, u64> = metrics.bytes_in_by_stream().into_iter().collect();
    family(
        &mut out,
        "brume_bytes_received_total",
        "counter",
        "Media bytes received from publishers, per stream.",
    );
    for (stream, bytes) in &inputs {
        sample(
            &mut out,
            "brume_bytes_received_total",
            &[("stream", stream)],
            *bytes,
        );
    }
    let simple: [(&str, &str, &str, u64); 8] = [
        (
            "brume_streams",
            "gauge",
            "Configured streams.",
            counts.streams,
        ),
        (
            "brume_streams_online",
            "gauge",
            "Streams with media now (live or on demand).",
            counts.online,
        ),
        (
            "brume_publishers",
            "gauge",
            "Push streams with a live publisher.",
            counts.publishers,
        ),
        (
            "brume_segment_cache_hits_total",
            "counter",
            "Segment requests answered from the render cache.",
            metrics.cache_hits.load(Ordering::Relaxed),
        ),
        (
            "brume_segment_cache_misses_total",
            "counter",
            "Segment requests that had to render the segment.",
            metrics.cache_misses.load(Ordering::Relaxed),
        ),
        (
            "brume_connections",
            "gauge",
            "Open HTTP connections on the media ports.",
            metrics.connections(),
        ),
        (
            "brume_requests_total",
            "counter",
            "HTTP requests on the media ports.",
            metrics.requests.load(Ordering::Relaxed),
        ),
        (
            "brume_viewers_total",
            "gauge",
            "Viewer sessions now, all streams.",
            metrics.sessions.count(|_| true),
        ),
    ];
    for (name, kind, help, value) in simple {
        family(&mut out, name, kind, help);
        sample(&mut out, name, &[], value);
    }
    family(
        &mut out,
        "brume_http_responses_total",
        "counter",
        "HTTP responses of the media ports, per status code.",
    );
    for (status, count) in metrics.responses() {
        sample(
            &mut out,
            "brume_http_responses_total",
            &[("status", &status.to_string())],
            count,
        );
    }
    family(
        &mut out,
        "brume_media_requests_total",
        "counter",
        "Requests of the media ports, per kind of document or segment asked for.",
    );
    for (kind, count) in metrics.routes.requests() {
        sample(
            &mut out,
            "brume_media_requests_total",
            &[("kind", kind)],
            count,
        );
    }
    family(
        &mut out,
        "brume_document_renders_total",
        "counter",
        "Renders of cached documents (playlists, manifests, stream info, init segments), per kind.",
    );
    for (kind, count) in metrics.routes.renders() {
        sample(
            &mut out,
            "brume_document_renders_total",
            &[("kind", kind)],
            count,
        );
    }
    family(
        &mut out,
        "brume_refused_total",
        "counter",
        "Connections and attempts refused, per listener and reason.",
    );
    for (listener, reason, count) in metrics.refusals.snapshot() {
        sample(
            &mut out,
            "brume_refused_total",
            &[("listener", listener), ("reason", reason)],
            count,
        );
    }
    family(
        &mut out,
        "brume_trigger_calls_total",
        "counter",
        "Trigger handler calls, per event and result (ok, failed, timeout, cached, dropped).",
    );
    for (event, result, count) in metrics.trigger_calls.snapshot() {
        sample(
            &mut out,
            "brume_trigger_calls_total",
            &[("event", event), ("result", result)],
            count,
        );
    }
    family(
        &mut out,
        "brume_recording_bytes_total",
        "counter",
        "Bytes of finished recording segments written, per stream.",
    );
    for (stream, bytes) in metrics.recordings.bytes() {
        sample(
            &mut out,
            "brume_recording_bytes_total",
            &[("stream", &stream)],
            bytes,
        );
    }
    family(
        &mut out,
        "brume_recordings_active",
        "gauge",
        "Recordings running now.",
    );
    sample(
        &mut out,
        "brume_recordings_active",
        &[],
        metrics.recordings.active(),
    );
    family(
        &mut out,
        "brume_push_bytes_total",
        "counter",
        "Bytes sent to push targets, per stream and push id.",
    );
    for (stream, id, bytes) in metrics.pushes.bytes() {
        let id = id.to_string();
        sample(
            &mut out,
            "brume_push_bytes_total",
            &[("stream", &stream), ("push", &id)],
            bytes,
        );
    }
    family(
        &mut out,
        "brume_pushes_active",
        "gauge",
        "Pushes publishing now.",
    );
    sample(
        &mut out,
        "brume_pushes_active",
        &[],
        metrics.pushes.active(),
    );
    family(
        &mut out,
        "brume_protocol_buffer_bytes",
        "gauge",
        "Bytes reserved for partly received protocol messages (RTMP), all connections together.",
    );
    sample(
        &mut out,
        "brume_protocol_buffer_bytes",
        &[],
        metrics.protocol_buffers.used(),
    );
    let optional = [
        (
            "brume_tasks_alive",
            "Tasks alive in the async runtime.",
            process::tasks_alive(),
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            process::resident_memory_bytes(),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            process::open_fds(),
        ),
    ];
    for (name, help, value) in optional {
        if let Some(value) = value {
            family(&mut out, name, "gauge", help);
            sample(&mut out, name, &[], value);
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_into(out, value);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    #[test]
    fn exposition_lines_are_well_formed_and_escaped() {
        let metrics = Arc::new(Metrics::default());
        let viewer = metrics.open_viewer(
            "we\"ird\\na\nme",
            Protocol::Mp4,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        );
        viewer.sent(42);
        metrics.response(404);
        let text = render(
            &metrics,
            StreamCounts {
                streams: 2,
                online: 1,
                publishers: 0,
            },
        );
        assert!(
            text.contains(
                "brume_bytes_sent_total{stream=\"we\\\"ird\\\\na\\nme\",protocol=\"MP4\"} 42\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("brume_viewers{stream=\"we\\\"ird\\\\na\\nme\",protocol=\"MP4\"} 1\n")
        );
        assert!(text.contains("brume_http_responses_total{status=\"404\"} 1\n"));
        assert!(text.contains("# TYPE brume_publishers gauge\nbrume_publishers 0\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(!series.is_empty());
        }
    }
}
