//! Live ingest over RTMP with real ffmpeg: publishing, refusals, reconnects,
//! hostile connections, and RTMP playback.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn push_server() -> Brume {
    Brume::start(json!({
        "cam": {"source": "push://"},
        "other": {"source": "push://"},
        "secret": {"source": "push://", "password": "hunter2"},
        "demo": {"source": "builtin:demo", "loop": true},
    }))
}

/// Waits until the stream's info says it is live.
fn wait_live(brume: &Brume, name: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let info = get(&brume.url(&format!("/json_{name}.js"))).json();
        if info["type"] == "live" {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{name} not live after {limit:?}: {info}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn published_stream_plays_on_every_output_within_seconds() {
    let brume = push_server();
    let rtmp = brume.rtmp_addr();
    let _publisher = Publisher::start(&format!("rtmp://{rtmp}/live/cam"), 20);
    let online_after = wait_live(&brume, "cam", Duration::from_secs(4));
    assert!(online_after < Duration::from_secs(4));
    // Stream info offers RTMP playback on the port RTMP really listens on.
    let info = get(&brume.url("/json_cam.js")).json();
    let rtmp_source = info["source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "flash/10")
        .expect("an RTMP source");
    assert_eq!(rtmp_source["url"], format!("rtmp://{rtmp}/play/cam"));
    // Within 4 s of the publish the outputs decode (HLS/DASH need a complete
    // segment, i.e. one GOP of 2 s).
    std::thread::sleep(Duration::from_millis(2500));
    let urls = [
        brume.url("/cam.mp4"),
        brume.url("/hls/cam/index.m3u8"),
        brume.url("/cmaf/cam/index.mpd"),
        format!("rtmp://{rtmp}/play/cam"),
    ];
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = urls
            .iter()
            .map(|url| {
                scope.spawn(move || {
                    let (frames, errors) = decode_video_frames(url, Some(2.0));
                    if !errors.is_empty() || frames < 30 {
                        Some(format!("{url}: {frames} frames, errors: {errors}"))
                    } else {
                        None
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn wrong_password_unknown_stream_and_second_publisher_are_refused() {
    let brume = push_server();
    let rtmp = brume.rtmp_addr();
    let first = Publisher::start(&format!("rtmp://{rtmp}/live/cam"), 15);
    wait_live(&brume, "cam", Duration::from_secs(4));

    for url in [
        format!("rtmp://{rtmp}/wrongpass/secret"),
        format!("rtmp://{rtmp}/live/nosuchstream"),
        format!("rtmp://{rtmp}/live/cam"),
    ] {
        let (failed, _) = Publisher::start(&url, 5).finish(Duration::from_secs(10));
        assert!(failed, "{url} was accepted");
    }
    // The right password works.
    let good = Publisher::start(&format!("rtmp://{rtmp}/hunter2/secret"), 10);
    wait_live(&brume, "secret", Duration::from_secs(4));
    drop(good);
    // Secrets never reach the log.
    assert!(!brume
        .log_lines()
        .iter()
        .any(|l| l.contains("hunter2") || l.contains("wrongpass")));
    // The first publisher was not disturbed.
    let (frames, errors) = decode_video_frames(&brume.url("/cam.mp4"), Some(2.0));
    assert_eq!(errors, "");
    assert!(frames >= 30, "{frames}");
    drop(first);
}

#[test]
fn a_viewer_sees_time_keep_moving_forward_across_a_reconnect() {
    let brume = push_server();
    let rtmp = brume.rtmp_addr();
    let url = format!("rtmp://{rtmp}/live/cam");
    let first = Publisher::start(&url, 30);
    wait_live(&brume, "cam", Duration::from_secs(4));
    let viewer_url = brume.url("/cam.mp4");
    let viewer =
        std::thread::spawn(move || request("GET", &viewer_url, &[], Duration::from_secs(9)));
    std::thread::sleep(Duration::from_secs(3));
    drop(first); // the publisher disconnects…
    std::thread::sleep(Duration::from_secs(1));
    let _second = Publisher::start(&url, 30); // …and comes back within the grace period
    let response = viewer.join().unwrap();
    assert_eq!(response.status, 200);
    let path = brume.dir.path().join("across.mp4");
    std::fs::write(&path, whole_boxes(&response.body)).unwrap();
    let packets = probe_packets(path.to_str().unwrap());
    for kind in ["video", "audio"] {
        let dts: Vec<f64> = packets
            .iter()
            .filter(|p| p.stream == kind)
            .map(|p| p.dts)
            .collect();
        assert!(dts.len() > 60, "{kind}: {} packets", dts.len());
        assert!(
            dts.windows(2).all(|w| w[1] > w[0]),
            "{kind} timestamps went backwards"
        );
    }
}

/// A publisher that leaves for good: after the grace period the stream goes
/// offline and a progressive viewer's response ends, rather than hanging open.
#[test]
fn a_progressive_viewer_ends_when_the_publisher_does_not_come_back() {
    let brume = push_server();
    let url = format!("rtmp://{}/live/cam", brume.rtmp_addr());
    let publisher = Publisher::start(&url, 60);
    wait_live(&brume, "cam", Duration::from_secs(6));
    let viewer_url = brume.url("/cam.mp4");
    let viewer =
        std::thread::spawn(move || request("GET", &viewer_url, &[], Duration::from_secs(40)));
    std::thread::sleep(Duration::from_secs(2));
    let left = Instant::now();
    drop(publisher);
    let response = viewer.join().unwrap();
    let ended_after = left.elapsed();
    assert_eq!(response.status, 200);
    assert!(
        response.body.len() > 10_000,
        "the viewer got {} bytes before the publisher left",
        response.body.len()
    );
    // 5 s of grace period, then the stream closes; 40 s would mean it never did.
    assert!(
        ended_after < Duration::from_secs(15),
        "the viewer's response was still open {ended_after:?} after the publisher left"
    );
}

fn hostile(rtmp: &str, bytes: &[u8], then_wait: Duration) -> bool {
    let mut socket = TcpStream::connect(rtmp).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = socket.write_all(bytes);
    std::thread::sleep(then_wait);
    // The server must close the connection: reads end (0 bytes or an error)
    // after whatever it answered.
    let mut sink = [0u8; 65536];
    let start = Instant::now();
    loop {
        match socket.read(&mut sink) {
            Ok(0) | Err(_) => return start.elapsed() < Duration::from_secs(15),
            Ok(_) => {}
        }
    }
}

/// A valid simple handshake: C0+C1, then C2 after S0+S1+S2 arrive.
fn handshake(socket: &mut TcpStream) {
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0u8; 1536]);
    socket.write_all(&c0c1).unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
    socket.read_exact(&mut s0s1s2).unwrap();
    socket.write_all(&s0s1s2[1..1537]).unwrap();
}

#[test]
fn hostile_connections_are_closed_while_a_publisher_keeps_flowing() {
    let brume = push_server();
    let rtmp = brume.rtmp_addr();
    let _publisher = Publisher::start(&format!("rtmp://{rtmp}/live/cam"), 40);
    wait_live(&brume, "cam", Duration::from_secs(4));

    assert!(hostile(
        &rtmp,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n garbage garbage",
        Duration::ZERO
    ));
    // A truncated handshake: the handshake deadline closes it.
    assert!(hostile(&rtmp, &[3, 0, 0, 0], Duration::ZERO));
    // Set Chunk Size 2^31-1.
    let mut socket = TcpStream::connect(&rtmp).unwrap();
    handshake(&mut socket);
    let set_chunk = [
        0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
    ];
    socket.write_all(&set_chunk).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = [0u8; 4096];
    let closed = loop {
        match socket.read(&mut sink) {
            Ok(0) | Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(closed);
    // An endless message: a header announcing 16 MiB - 1 on a data message,
    // then bytes forever.
    let mut socket = TcpStream::connect(&rtmp).unwrap();
    handshake(&mut socket);
    let header = [0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x12, 1, 0, 0, 0];
    socket.write_all(&header).unwrap();
    let junk = vec![0x55u8; 64 * 1024];
    let mut closed = false;
    for _ in 0..1000 {
        if socket.write_all(&junk).is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the server kept swallowing an endless message");

    // The publisher's stream still flows.
    let (frames, errors) = decode_video_frames(&brume.url("/cam.mp4"), Some(2.0));
    assert_eq!(errors, "");
    assert!(frames >= 30, "{frames}");
}

#[test]
fn rtmp_playback_of_a_looped_file() {
    let brume = push_server();
    let rtmp = brume.rtmp_addr();
    let (frames, errors) = decode_video_frames(&format!("rtmp://{rtmp}/play/demo"), Some(3.0));
    assert_eq!(errors, "");
    assert!(frames >= 60, "{frames}");
}

#[test]
fn rtmp_playback_of_an_on_demand_file() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 3, 30);
    let brume = Brume::start_in(dir, json!({"vod": {"source": "clip.mp4"}}));
    let rtmp = brume.rtmp_addr();
    let (frames, errors) = decode_video_frames(&format!("rtmp://{rtmp}/play/vod"), None);
    assert_eq!(errors, "");
    assert!((89..=91).contains(&frames), "{frames} frames of 90");
    let (_, errors) = decode_video_frames(&format!("rtmp://{rtmp}/play/nosuch"), None);
    assert!(!errors.is_empty(), "playing an unknown stream must fail");
}
