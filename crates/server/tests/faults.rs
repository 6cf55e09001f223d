//! Hostile load and faults on the media ports: idle connections and a slowloris
//! client do not stop a viewer; a viewer that stops reading is dropped without
//! growing the server; publishers that connect and leave over and over leave no
//! tasks or memory behind.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// The server's resident memory in bytes (`VmRSS` of /proc/PID/status).
fn rss_bytes(brume: &Brume) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", brume.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// Reads one response's status line on a raw connection (0 if none came).
fn status_on(socket: &mut TcpStream, request: &str) -> u16 {
    socket.write_all(request.as_bytes()).unwrap();
    read_status(socket, Duration::from_secs(10))
}

/// The first URI line of a playlist, resolved against `base` (a directory URL).
fn first_uri(playlist: &str, base: &str) -> String {
    let line = playlist
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no URI in playlist:\n{playlist}"));
    format!("{base}{line}")
}

/// Sends a request head one byte per second (slowloris) until the server closes
/// the connection; returns how long it held on, or `None` if still open at `limit`.
fn slowloris(addr: SocketAddr, limit: Duration) -> Option<Duration> {
    let head = b"GET /demo.mp4 HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 512];
    for byte in head.iter().cycle() {
        if start.elapsed() > limit {
            return None;
        }
        if socket.write_all(&[*byte]).is_err() {
            return Some(start.elapsed());
        }
        // Waits up to a second: the pacing, and the server's close if it comes.
        match socket.read(&mut buf) {
            Ok(_) => return Some(start.elapsed()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn idle_connections_and_a_slowloris_client_do_not_stop_a_viewer() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let addr: SocketAddr = brume.addr().parse().unwrap();
    // The test holds 1000 sockets itself.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // The server raised its open-file soft limit to the hard limit.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", brume.child.id())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        open_files[3], open_files[4],
        "soft and hard open-file limits: {open_files:?}"
    );

    let slow = std::thread::spawn(move || slowloris(addr, Duration::from_secs(50)));
    let idle: Vec<TcpStream> = (0..1000)
        .map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("idle connection {i}: {e}")))
        .collect();

    // A viewer plays the live stream at real time meanwhile.
    let started = Instant::now();
    let (frames, errors) = decode_video_frames(&brume.url("/demo.mp4"), Some(3.0));
    let took = started.elapsed();
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    assert!(
        frames >= 75,
        "only {frames} frames decoded from 3 s of /demo.mp4"
    );
    assert!(took < Duration::from_secs(15), "3 s of video took {took:?}");

    // And fetches an HLS segment in normal time.
    let started = Instant::now();
    let master = get(&brume.url("/hls/demo/index.m3u8"));
    assert_eq!(master.status, 200);
    let media_url = first_uri(
        &String::from_utf8_lossy(&master.body),
        &brume.url("/hls/demo/"),
    );
    let media = get(&media_url);
    assert_eq!(media.status, 200, "{media_url}");
    let segment_url = first_uri(
        &String::from_utf8_lossy(&media.body),
        &media_url[..media_url.rfind('/').unwrap() + 1],
    );
    let segment = get(&segment_url);
    let took = started.elapsed();
    assert_eq!(segment.status, 200, "{segment_url}");
    assert!(
        segment.body.len() > 1000,
        "segment of {} bytes",
        segment.body.len()
    );
    assert!(
        took < Duration::from_secs(5),
        "playlist + segment took {took:?}"
    );

    // The slowloris client is dropped by the head deadline (20 s from its first
    // byte), not served forever.
    let held = slow.join().unwrap();
    let held = held.expect("the slowloris connection was still open after 50 s");
    eprintln!("slowloris dropped after {held:?}; viewer decoded {frames} frames");
    assert!(
        held >= Duration::from_secs(15),
        "slowloris dropped after only {held:?}"
    );

    // Idle keep-alive connections are not cut by that deadline: one that waited
    // all along still gets an answer.
    let mut first = idle.into_iter().next().unwrap();
    let status = status_on(
        &mut first,
        "GET /json_demo.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        status, 200,
        "an idle connection was closed before its request"
    );
}

/// Opens a connection with a tiny receive buffer, asks for the live stream
/// `heavy` and never reads.
fn stalled_viewer(addr: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let socket = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(addr).await.unwrap()
    });
    let mut socket = socket.into_std().unwrap();
    socket.set_nonblocking(false).unwrap();
    socket
        .write_all(b"GET /heavy.mp4 HTTP/1.1\r\nHost: stalled\r\n\r\n")
        .unwrap();
    socket
}

/// A 4 s clip at about 5 Mbit/s (lossless H.264), so that a stalled viewer's
/// socket buffers fill in seconds.
fn make_heavy_clip(path: &std::path::Path) {
    let out = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=44100",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "0",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "ffmpeg could not make the clip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_viewer_that_stops_reading_is_dropped_and_others_keep_real_time() {
    let dir = tempfile::tempdir().unwrap();
    make_heavy_clip(&dir.path().join("heavy.mp4"));
    let streams = json!({"heavy": {"source": "heavy.mp4", "loop": true, "dvr_window_ms": 4000}});
    let mut brume = Brume::start_with_env(
        dir,
        json!({ "streams": streams }),
        &[("BRUME_WRITE_TIMEOUT_MS", "2000")],
    );
    let addr: SocketAddr = brume.addr().parse().unwrap();
    let url = brume.url("/heavy.mp4");
    // Warm up: the first viewer makes the stream's buffers exist.
    let (frames, _) = decode_video_frames(&url, Some(1.0));
    assert!(frames > 0);
    let baseline = rss_bytes(&brume);

    let mut stalled = stalled_viewer(addr);

    // Another viewer keeps real time while the stalled one fills its buffers.
    let started = Instant::now();
    let (frames, errors) = decode_video_frames(&url, Some(4.0));
    let took = started.elapsed();
    assert!(errors.is_empty(), "ffmpeg errors: {errors}");
    assert!(
        (105..=135).contains(&frames),
        "{frames} frames decoded from 4 s at 30 fps"
    );
    assert!(took < Duration::from_secs(12), "4 s of video took {took:?}");

    // The server notices that the stalled viewer takes nothing and drops it;
    // its memory stays bounded meanwhile.
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut peak = rss_bytes(&brume);
    let dropped_after = loop {
        peak = peak.max(rss_bytes(&brume));
        let dropped = brume
            .log_lines()
            .iter()
            .any(|l| l.contains("closing a connection that accepted no data"));
        if dropped {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the stalled viewer was not dropped within 45 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        peak < baseline + 48 * 1024 * 1024,
        "RSS grew from {baseline} to {peak} bytes with one stalled viewer"
    );

    // The stalled socket drains what was in flight, then reads the end.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut drained = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let drain_deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match stalled.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
        assert!(
            Instant::now() < drain_deadline,
            "the stalled connection is still streaming ({drained} bytes read) {dropped_after:?} after the request"
        );
    }
    assert!(drained > 0, "the stalled viewer got no bytes at all");
    eprintln!(
        "stalled viewer dropped {dropped_after:?} after the request; RSS {baseline} -> peak {peak}; {drained} bytes drained"
    );
    assert!(
        drained < 32 * 1024 * 1024,
        "{drained} bytes were queued for a viewer that read nothing"
    );
    assert!(
        brume.child.try_wait().is_ok_and(|s| s.is_none()),
        "brume exited"
    );
}

/// `brume_tasks_alive` from the management API's `/metrics`.
fn tasks_alive(api: &str) -> u64 {
    let metrics = get(&format!("http://{api}/metrics"));
    assert_eq!(metrics.status, 200, "GET /metrics");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("brume_tasks_alive "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no brume_tasks_alive in /metrics:\n{text}"))
}

/// Publishes `clip` to `url` for half a second at real time; whether ffmpeg
/// succeeded, and its error output.
fn publish_briefly(clip: &str, url: &str) -> (bool, String) {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-re",
            "-i",
            clip,
            "-t",
            "0.5",
            "-c",
            "copy",
            "-f",
            "flv",
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("ffmpeg is required by this test ({e})"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn publishers_flapping_fifty_times_leave_no_tasks_or_memory_behind() {
    const STREAMS: usize = 5;
    const CYCLES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.flv");
    make_clip_as(&clip, 2, 30, "flv");
    let clip = clip.to_str().unwrap().to_owned();
    let streams: serde_json::Map<String, serde_json::Value> = (0..STREAMS)
        .map(|i| (format!("flap{i}"), json!({"source": "push://"})))
        .collect();
    let brume = Brume::start_with(dir, json!({ "streams": streams }));
    let api = brume
        .logged_field("management API listening", "address")
        .unwrap();
    let rtmp = brume.rtmp_addr();
    let tasks_before = tasks_alive(&api);

    let cycle = |i: usize| publish_briefly(&clip, &format!("rtmp://{rtmp}/live/flap{i}"));
    // Warm-up: one publish per stream, so lazily made things exist.
    for i in 0..STREAMS {
        let (ok, err) = cycle(i);
        assert!(ok, "warm-up publish to flap{i} failed: {err}");
    }
    let rss_warm = rss_bytes(&brume);

    // 50 connect/publish/disconnect cycles: 10 in a row on each of 5 streams.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..STREAMS)
            .map(|i| {
                let cycle = &cycle;
                scope.spawn(move || {
                    (0..CYCLES)
                        .filter_map(|n| {
                            let (ok, err) = cycle(i);
                            (!ok).then(|| format!("flap{i} cycle {n}: {err}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "refused publishes: {failures:#?}");

    // After the grace period (5 s) every stream has gone offline and its tasks
    // have ended: back to the count before any publisher came.
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut tasks = tasks_alive(&api);
    // A few tasks of slack (connections just closing); a leak per publisher
    // would leave 50 or more.
    while tasks > tasks_before + 5 {
        assert!(
            Instant::now() < deadline,
            "{tasks} tasks alive after the publishers left; {tasks_before} before any came"
        );
        std::thread::sleep(Duration::from_millis(250));
        tasks = tasks_alive(&api);
    }
    let rss_after = rss_bytes(&brume);
    eprintln!("tasks {tasks_before} -> {tasks}; RSS {rss_warm} -> {rss_after}");
    assert!(
        rss_after < rss_warm + 24 * 1024 * 1024,
        "RSS {rss_warm} bytes after the first publishes, {rss_after} after 50 more"
    );
    // The streams still take a publisher.
    let (ok, err) = cycle(0);
    assert!(ok, "publishing after the flapping failed: {err}");
}
