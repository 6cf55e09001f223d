//! Triggers to a site backend (a real HTTP server in the test), driven by
//! ffmpeg/ffprobe publishers and players: USER_NEW admits or refuses viewers
//! (HLS, MP4, MEWS) once per session, PUSH_REWRITE turns a secret key into a
//! stream name, STREAM_BUFFER/STREAM_END follow a push, and a hung handler
//! delays nobody but the viewer it was asked about.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::hook_backend::Backend;
use common::{decode_video_frames_with, request, Brume, Publisher};
use serde_json::json;

/// A viewer behind the trusted (loopback) proxy, as `X-Forwarded-For` says.
fn from(ip: &str) -> String {
    format!("X-Forwarded-For: {ip}\r\n")
}

/// The USER_NEW answer: everyone but 10.0.0.66.
fn admit_all_but_66(event: &str, payload: &str) -> Option<String> {
    let refused = event == "USER_NEW" && payload.lines().nth(1) == Some("10.0.0.66");
    Some(if refused { "false" } else { "true" }.to_owned())
}

/// The USER_NEW payloads from viewer `ip` over `connector`.
fn asks_from(backend: &Backend, ip: &str, connector: &str) -> Vec<String> {
    backend
        .payloads("USER_NEW")
        .into_iter()
        .filter(|p| {
            let lines: Vec<&str> = p.lines().collect();
            lines.get(1) == Some(&ip) && lines.get(3) == Some(&connector)
        })
        .collect()
}

/// Waits until the stream's HLS playlist lists two segments (asked as a viewer
/// of its own, 10.0.0.9).
fn wait_for_segments(brume: &Brume, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let playlist = request(
            "GET",
            &brume.url(&format!("/hls/{name}/media.m3u8")),
            &[("X-Forwarded-For", "10.0.0.9")],
            Duration::from_secs(5),
        );
        let text = String::from_utf8_lossy(&playlist.body).into_owned();
        if text.lines().filter(|l| l.ends_with(".ts")).count() >= 2 {
            return;
        }
        assert!(Instant::now() < deadline, "{name} has no segments: {text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ws_status(brume: &Brume, path: &str, ip: &str) -> Result<(), u16> {
    let url = format!("ws://{}{}", brume.addr(), path);
    let mut req =
        tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
    req.headers_mut()
        .insert("X-Forwarded-For", ip.parse().unwrap());
    match tungstenite::connect(req) {
        Ok((mut ws, _)) => {
            let _ = ws.close(None);
            Ok(())
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("WebSocket failed: {other}"),
    }
}

#[test]
fn user_new_admits_one_viewer_and_refuses_another_once_per_session() {
    let backend = Backend::start(admit_all_but_66);
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"triggers": {"USER_NEW": [{"handler": backend.url, "sync": true}]}}),
    );
    wait_for_segments(&brume, "demo");
    // HLS: the admitted viewer plays (master playlist, media playlist reloads,
    // segments); the refused one gets 403 on the master playlist.
    let hls = brume.url("/hls/demo/index.m3u8");
    let good = from("10.0.0.1");
    let (frames, errors) = decode_video_frames_with(&hls, Some(3.0), &["-headers", &good]);
    assert!(
        frames > 30,
        "the admitted HLS viewer decoded {frames} frames: {errors}"
    );
    let bad = from("10.0.0.66");
    let (frames, errors) = decode_video_frames_with(&hls, Some(3.0), &["-headers", &bad]);
    assert_eq!(frames, 0, "the refused HLS viewer played");
    assert!(errors.contains("403"), "{errors}");
    for ip in ["10.0.0.1", "10.0.0.66"] {
        let asks = asks_from(&backend, ip, "HLS");
        assert_eq!(asks.len(), 1, "one USER_NEW per HLS viewer: {asks:?}");
    }
    let hls_asks = asks_from(&backend, "10.0.0.1", "HLS");
    // The documented payload: stream, address, connection number, connector,
    // request URL, session id.
    let lines: Vec<&str> = hls_asks[0].lines().collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[0], "demo");
    assert_eq!(lines[1], "10.0.0.1");
    assert!(lines[2].parse::<u64>().is_ok(), "{lines:?}");
    assert_eq!(lines[3], "HLS");
    assert_eq!(lines[4], "/hls/demo/index.m3u8");
    assert_eq!(lines[5].len(), 16, "{lines:?}");

    // Progressive MP4.
    let mp4 = brume.url("/demo.mp4");
    let (frames, errors) = decode_video_frames_with(&mp4, Some(2.0), &["-headers", &good]);
    assert!(
        frames > 20,
        "the admitted MP4 viewer decoded {frames} frames: {errors}"
    );
    let refused = request(
        "GET",
        &mp4,
        &[("X-Forwarded-For", "10.0.0.66")],
        Duration::from_secs(3),
    );
    assert_eq!(refused.status, 403);
    assert!(String::from_utf8_lossy(&refused.body).contains("USER_NEW"));

    // MEWS WebSocket: the refused viewer's upgrade is answered 403.
    assert_eq!(ws_status(&brume, "/demo.mp4", "10.0.0.2"), Ok(()));
    assert_eq!(ws_status(&brume, "/demo.mp4", "10.0.0.66"), Err(403));
    assert_eq!(asks_from(&backend, "10.0.0.66", "MEWS").len(), 1);
    assert_eq!(asks_from(&backend, "10.0.0.2", "MEWS").len(), 1);

    // Segments are never checked (a CDN caches them for everyone): the refused
    // viewer fetches one the admitted viewer's playlist names.
    let playlist = request(
        "GET",
        &brume.url("/hls/demo/media.m3u8"),
        &[("X-Forwarded-For", "10.0.0.1")],
        Duration::from_secs(5),
    );
    assert_eq!(playlist.status, 200);
    let text = String::from_utf8_lossy(&playlist.body).into_owned();
    let segment = text
        .lines()
        .find(|l| l.ends_with(".ts"))
        .unwrap_or_else(|| panic!("no segment in {text}"));
    let fetched = request(
        "GET",
        &brume.url(&format!("/hls/demo/{segment}")),
        &[("X-Forwarded-For", "10.0.0.66")],
        Duration::from_secs(5),
    );
    assert_eq!(fetched.status, 200);
}

#[test]
fn push_rewrite_maps_a_secret_key_and_stream_buffer_follows_the_push() {
    let backend = Backend::start(|event, payload| {
        let lines: Vec<&str> = payload.lines().collect();
        Some(match event {
            "PUSH_REWRITE" if lines.get(2) == Some(&"SECRETKEY") => "cam".to_owned(),
            "PUSH_REWRITE" => String::new(),
            _ => "true".to_owned(),
        })
    });
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({
            "streams": {"cam": {"source": "push://"}},
            "triggers": {
                "PUSH_REWRITE": [{"handler": backend.url, "sync": true}],
                "STREAM_BUFFER": [{"handler": backend.url, "streams": ["cam"]}],
                "STREAM_END": [{"handler": backend.url}],
            }
        }),
    );
    let rtmp = brume.rtmp_addr();
    // A wrong key is refused.
    let (failed, _) = Publisher::start(&format!("rtmp://{rtmp}/live/WRONGKEY"), 2)
        .finish(Duration::from_secs(15));
    assert!(failed, "a publish with a wrong key was accepted");
    // The right key publishes to `cam`.
    let publisher = Publisher::start(&format!("rtmp://{rtmp}/live/SECRETKEY"), 6);
    let full = backend.wait_for("STREAM_BUFFER", Duration::from_secs(15), |p| {
        p.ends_with("FULL")
    });
    assert_eq!(full, "cam\nFULL");
    let (frames, errors) = common::decode_video_frames(&brume.url("/cam.mp4"), Some(1.5));
    assert!(
        frames > 10,
        "the mapped stream did not play: {frames} {errors}"
    );
    let rewrite = backend.payloads("PUSH_REWRITE");
    let lines: Vec<&str> = rewrite.last().unwrap().lines().collect();
    assert!(
        lines[0].starts_with("rtmp://") && lines[0].ends_with("/live/SECRETKEY"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "127.0.0.1");
    assert_eq!(lines[2], "SECRETKEY");
    let (failed, errors) = publisher.finish(Duration::from_secs(20));
    assert!(!failed, "{errors}");
    // Gone: after the grace period the buffer empties and the stream ends.
    backend.wait_for("STREAM_BUFFER", Duration::from_secs(15), |p| {
        p == "cam\nEMPTY"
    });
    let end = backend.wait_for("STREAM_END", Duration::from_secs(5), |_| true);
    assert!(end.starts_with("cam"), "{end}");
    // The key never reaches the log.
    let log = brume.log_lines().join("\n");
    assert!(!log.contains("SECRETKEY"), "the stream key was logged");
    let metrics = common::get(&brume.api_url("/metrics")).body;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains(r#"brume_trigger_calls_total{event="PUSH_REWRITE",result="ok"} 2"#),
        "{metrics}"
    );
}

#[test]
fn a_hung_handler_delays_only_the_viewers_it_was_asked_about() {
    // The backend hangs for stream `slow`, answers at once for `demo`.
    let backend =
        Backend::start(|_, payload| payload.starts_with("demo\n").then(|| "true".to_owned()));
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({
            "streams": {
                "demo": {"source": "builtin:demo", "loop": true},
                "slow": {"source": "builtin:demo", "loop": true},
            },
            "triggers": {"USER_NEW": [{"handler": backend.url, "sync": true,
                "timeout_ms": 3000, "default": "false"}]}
        }),
    );
    let slow: Vec<_> = (1..=3)
        .map(|i| {
            let url = brume.url("/hls/slow/index.m3u8");
            std::thread::spawn(move || {
                let ip = format!("10.0.1.{i}");
                let started = Instant::now();
                let r = request(
                    "GET",
                    &url,
                    &[("X-Forwarded-For", &ip)],
                    Duration::from_secs(8),
                );
                (r.status, started.elapsed())
            })
        })
        .collect();
    backend.wait_for("USER_NEW", Duration::from_secs(5), |p| {
        p.starts_with("slow\n")
    });
    let started = Instant::now();
    let demo = request(
        "GET",
        &brume.url("/hls/demo/index.m3u8"),
        &[("X-Forwarded-For", "10.0.2.1")],
        Duration::from_secs(5),
    );
    let waited = started.elapsed();
    assert_eq!(demo.status, 200);
    assert!(
        waited < Duration::from_secs(2),
        "demo's viewer waited {waited:?}"
    );
    for handle in slow {
        let (status, took) = handle.join().unwrap();
        // The handler's default answer ("false") once its 3 s are up.
        assert_eq!(status, 403);
        assert!(
            took >= Duration::from_millis(2900) && took < Duration::from_secs(7),
            "{took:?}"
        );
    }
    let metrics = common::get(&brume.api_url("/metrics")).body;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains(r#"brume_trigger_calls_total{event="USER_NEW",result="timeout"} 3"#),
        "{metrics}"
    );
}

#[test]
fn a_progressive_viewer_opens_and_ends_one_session() {
    let backend = Backend::start(admit_all_but_66);
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"triggers": {
            "USER_NEW": [{"handler": backend.url, "sync": true}],
            "USER_END": [{"handler": backend.url}],
            "CONN_OPEN": [{"handler": backend.url}],
            "CONN_CLOSE": [{"handler": backend.url}],
        }}),
    );
    // An MP4 viewer watches for two seconds, then leaves.
    let (frames, errors) = decode_video_frames_with(
        &brume.url("/demo.mp4"),
        Some(2.0),
        &["-headers", &from("10.0.0.5")],
    );
    assert!(frames > 20, "{frames}: {errors}");
    let open = backend.wait_for("CONN_OPEN", Duration::from_secs(5), |_| true);
    assert_eq!(open, "demo\n10.0.0.5\nMP4\n/demo.mp4");
    let close = backend.wait_for("CONN_CLOSE", Duration::from_secs(10), |_| true);
    assert_eq!(close, open);
    let end = backend.wait_for("USER_END", Duration::from_secs(10), |_| true);
    let lines: Vec<&str> = end.lines().collect();
    let new = asks_from(&backend, "10.0.0.5", "MP4");
    assert_eq!(new.len(), 1, "{new:?}");
    // The same session id as USER_NEW's last line; then stream, connector,
    // address, seconds watched.
    assert_eq!(Some(lines[0]), new[0].lines().nth(5), "{end}");
    assert_eq!(&lines[1..4], ["demo", "MP4", "10.0.0.5"], "{end}");
    let seconds: u64 = lines[4].parse().unwrap();
    assert!((1..10).contains(&seconds), "{end}");
    // Uploaded nothing; downloaded what two seconds of video weigh.
    assert_eq!(lines[5], "0", "{end}");
    let down: u64 = lines[6].parse().unwrap();
    assert!(down > 50_000, "{end}");
    assert_eq!(backend.payloads("USER_END").len(), 1);
}

#[test]
fn a_whip_publish_asks_push_rewrite_and_stream_push() {
    let backend = Backend::start(|event, payload| {
        let lines: Vec<&str> = payload.lines().collect();
        Some(
            match (event, lines.get(2).copied(), lines.first().copied()) {
                ("PUSH_REWRITE", Some("SECRETKEY"), _) => "cam".to_owned(),
                ("PUSH_REWRITE", Some("OTHERKEY"), _) => "blocked".to_owned(),
                ("PUSH_REWRITE", _, _) => String::new(),
                ("STREAM_PUSH", _, Some("cam")) => "true".to_owned(),
                _ => "false".to_owned(),
            },
        )
    });
    // Debug logging on: request lines too must not show the key.
    let brume = Brume::start_with_env(
        tempfile::tempdir().unwrap(),
        json!({
            "webrtc": {"listen": "127.0.0.1:0"},
            "streams": {"cam": {"source": "push://"}, "blocked": {"source": "push://"}},
            "triggers": {
                "PUSH_REWRITE": [{"handler": backend.url, "sync": true}],
                "STREAM_PUSH": [{"handler": backend.url, "sync": true}],
            }
        }),
        &[("RUST_LOG", "brume=debug")],
    );
    let post = |key: &str| {
        let r = request(
            "POST",
            &brume.url(&format!("/whip/{key}")),
            &[("Content-Type", "application/sdp"), ("Content-Length", "0")],
            Duration::from_secs(3),
        );
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    };
    // An unknown key and a stream STREAM_PUSH refuses: 403, in words.
    let (status, body) = post("WRONGKEY");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("refused by the site"), "{body}");
    assert_eq!(post("OTHERKEY").0, 403);
    // The right key reaches stream `cam`: its (empty) offer is what is wrong now.
    let (status, body) = post("SECRETKEY");
    assert_eq!(status, 400, "{body}");
    let rewrite = backend.payloads("PUSH_REWRITE");
    assert_eq!(
        rewrite.last().unwrap(),
        "/whip/SECRETKEY\n127.0.0.1\nSECRETKEY"
    );
    let push = backend.payloads("STREAM_PUSH");
    assert_eq!(push.last().unwrap(), "cam\n127.0.0.1\nWebRTC\n/whip/cam");
    let log = brume.log_lines().join("\n");
    assert!(log.contains("/whip/…"), "no debug request lines: {log}");
    assert!(!log.contains("SECRETKEY"), "the key was logged");
}
