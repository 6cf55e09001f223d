//! Pulled sources: a second Brume pulls a stream from a first one
//! (`brume://host:port/S`) on demand, viewers of the second decode it (HTTP, RTMP
//! play and MEWS viewers each start the pull), the pull stops after the idle
//! time, a restarted origin is picked up again by itself, and a source that sends
//! garbage gives a clear stream status, not a crash.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn api_url(brume: &Brume, path: &str) -> String {
    let addr = brume
        .logged_field("management API listening", "address")
        .unwrap();
    format!("http://{addr}{path}")
}

/// The stream's status in the management API.
fn stream_status(brume: &Brume, name: &str) -> Value {
    let response = get(&api_url(brume, &format!("/api/v1/streams/{name}")));
    assert_eq!(response.status, 200);
    response.json()
}

/// Bytes the origin sent for `stream`, all protocols together.
fn bytes_sent(brume: &Brume, stream: &str) -> u64 {
    let text = String::from_utf8(get(&api_url(brume, "/metrics")).body).unwrap();
    let prefix = format!("brume_bytes_sent_total{{stream=\"{stream}\",");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// An origin on a fixed address of its own (so it can be restarted there) with a
/// push stream `live`, and ffmpeg publishing to it.
fn origin_at(addr: &str) -> (Brume, Publisher) {
    let dir = tempfile::tempdir().unwrap();
    let origin = Brume::start_with(
        dir,
        json!({"http": {"listen": addr}, "streams": {"live": {"source": "push://"}}}),
    );
    let publisher = Publisher::start(&format!("rtmp://{}/live/live", origin.rtmp_addr()), 120);
    wait_for(Duration::from_secs(20), "the origin to go live", || {
        (get(&origin.url("/json_live.js")).json()["type"] == "live").then_some(())
    });
    (origin, publisher)
}

fn edge_of(addr: &str, pull: Value) -> Brume {
    Brume::start(json!({
        "live": {"source": format!("brume://{addr}/live"), "pull": pull},
        "demo": {"source": "builtin:demo", "loop": true},
    }))
}

#[test]
fn an_edge_pulls_on_demand_and_stops_after_the_idle_time() {
    let addr = unused_address();
    let (origin, _publisher) = origin_at(&addr);
    let edge = edge_of(&addr, json!({"start": "on_demand", "idle_stop_s": 2}));

    // No viewer, no pull: the origin sends nothing for the stream.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stream_status(&edge, "live")["status"], "offline");
    assert_eq!(bytes_sent(&origin, "live"), 0);

    // A viewer of the edge starts the pull and decodes the stream.
    let (frames, errors) = decode_video_frames(&edge.url("/live.ts"), Some(4.0));
    assert!(errors.is_empty(), "decoding the pulled stream: {errors}");
    assert!(frames >= 60, "only {frames} frames in 4 s");
    let codecs = probe_codecs(&edge.url("/live.flv"));
    assert_eq!(codecs, ["aac", "h264"]);
    let during = bytes_sent(&origin, "live");
    assert!(during > 50_000, "the origin sent {during} bytes");

    // The viewers left: after the idle time the pull stops.
    wait_pull_stopped(&origin);
    let log = edge.log_lines().join("\n");
    assert!(log.contains("pull stopped: no viewers"), "{log}");
}

/// Waits until the origin sends nothing more for `live` (the edge's pull
/// stopped); returns the origin's byte count then.
fn wait_pull_stopped(origin: &Brume) -> u64 {
    let stopped = wait_for(Duration::from_secs(20), "the pull to stop", || {
        let before = bytes_sent(origin, "live");
        std::thread::sleep(Duration::from_secs(2));
        (bytes_sent(origin, "live") == before).then_some(before)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(bytes_sent(origin, "live"), stopped, "the pull went on");
    stopped
}

#[test]
fn rtmp_play_and_mews_viewers_of_an_edge_start_the_pull_too() {
    use tungstenite::stream::MaybeTlsStream;
    use tungstenite::Message;

    let addr = unused_address();
    let (origin, _publisher) = origin_at(&addr);
    let edge = edge_of(&addr, json!({"start": "on_demand", "idle_stop_s": 2}));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(bytes_sent(&origin, "live"), 0);

    // An RTMP player of the edge starts the pull and decodes the stream.
    let play = format!("rtmp://{}/play/live", edge.rtmp_addr());
    let (frames, errors) = decode_video_frames(&play, Some(3.0));
    assert!(errors.is_empty(), "decoding {play}: {errors}");
    assert!(frames >= 45, "only {frames} frames in 3 s over RTMP");
    let after_rtmp = bytes_sent(&origin, "live");
    assert!(after_rtmp > 50_000, "the origin sent {after_rtmp} bytes");
    let stopped = wait_pull_stopped(&origin);

    // A MEWS viewer starts it again: the origin sends while the viewer watches.
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/live.mp4", edge.addr())).unwrap();
    if let MaybeTlsStream::Plain(socket) = ws.get_ref() {
        socket
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
    }
    ws.send(Message::text(
        json!({"type": "play", "seek_time": "live"}).to_string(),
    ))
    .unwrap();
    let watch_until = Instant::now() + Duration::from_secs(3);
    let mut media_bytes = 0;
    let mut sent_while_watching = Vec::new();
    while Instant::now() < watch_until {
        if let Message::Binary(bytes) = ws.read().unwrap() {
            media_bytes += bytes.len();
        }
        let sent = bytes_sent(&origin, "live");
        if sent_while_watching.last() != Some(&sent) {
            sent_while_watching.push(sent);
        }
    }
    assert!(
        media_bytes > 50_000,
        "the MEWS viewer got {media_bytes} bytes"
    );
    assert!(
        sent_while_watching.len() >= 2 && sent_while_watching[0] > stopped,
        "the origin's bytes did not rise while the MEWS viewer watched: {stopped} then {sent_while_watching:?}"
    );

    // The viewer leaves: the pull stops after the idle time.
    drop(ws);
    wait_pull_stopped(&origin);
}

/// Waits until the edge's `live` is live, failing with its status and log.
fn wait_live(edge: &Brume) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = stream_status(edge, "live");
        if status["status"] == "online" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the edge's stream is not online: {status}\n{}",
            edge.log_lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_always_on_pull_recovers_when_the_origin_restarts() {
    let addr = unused_address();
    let (origin, publisher) = origin_at(&addr);
    let edge = edge_of(&addr, json!({"start": "always"}));
    wait_live(&edge);

    // The origin goes away: the edge says why its stream is down.
    drop(publisher);
    drop(origin);
    let status = wait_for(
        Duration::from_secs(30),
        "the edge to report the error",
        || {
            let status = stream_status(&edge, "live");
            (status["status"] == "error").then_some(status)
        },
    );
    let error = status["error"].as_str().unwrap();
    assert!(
        error.contains("cannot connect") && error.contains(&addr),
        "{status}"
    );
    let viewer = get(&edge.url("/live.ts"));
    assert_eq!(viewer.status, 503);
    assert_eq!(
        String::from_utf8_lossy(&viewer.body).trim(),
        "the stream's source cannot be reached"
    );

    // Back on the same address: the edge picks it up by itself.
    let (_origin, _publisher) = origin_at(&addr);
    wait_live(&edge);
    let (frames, errors) = decode_video_frames(&edge.url("/live.ts"), Some(3.0));
    assert!(errors.is_empty(), "{errors}");
    assert!(frames >= 45, "only {frames} frames in 3 s");
}

#[test]
fn a_source_that_sends_garbage_gives_a_clear_status() {
    // An HTTP server that answers every request with 200 and bytes that are not FLV.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request);
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n");
            let _ = socket.write_all(&[b'<'; 64]);
        }
    });
    let origin = Brume::start(json!({}));
    let edge = Brume::start(json!({
        "junk": {"source": format!("http://{garbage}/stream.flv"), "pull": {"start": "always"}},
        "missing": {"source": format!("brume://{}/nosuch", origin.addr()), "pull": {"start": "always"}},
        "demo": {"source": "builtin:demo", "loop": true},
    }));
    let junk = wait_for(Duration::from_secs(20), "the junk pull's status", || {
        let status = stream_status(&edge, "junk");
        (status["status"] == "error").then_some(status)
    });
    assert!(
        junk["error"]
            .as_str()
            .unwrap()
            .contains("is not a usable FLV stream"),
        "{junk}"
    );
    let missing = wait_for(Duration::from_secs(20), "the missing pull's status", || {
        let status = stream_status(&edge, "missing");
        (status["status"] == "error").then_some(status)
    });
    assert!(
        missing["error"].as_str().unwrap().contains("answered 404"),
        "{missing}"
    );
    // The edge goes on serving its other streams.
    assert_eq!(get(&edge.url("/json_demo.js")).json()["type"], "live");
    let log = edge.log_lines().join("\n");
    assert!(!log.contains("panicked"), "{log}");
}
