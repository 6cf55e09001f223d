//! Malformed and oversized HTTP requests get 4xx answers for that connection only;
//! nothing panics and nothing outside the configured sources is served.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;

/// Sends raw bytes and returns the status code of the answer (0 if none).
fn raw_status(addr: &str, request: &[u8]) -> u16 {
    let mut socket = TcpStream::connect(addr).unwrap();
    let _ = socket.write_all(request);
    read_status(&mut socket, Duration::from_secs(5))
}

#[test]
fn malformed_requests_get_client_errors_and_the_server_keeps_serving() {
    let mut brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let addr = brume.addr();
    let long_url = format!(
        "GET /{}.mp4 HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(20_000)
    );
    let big_header = format!(
        "GET /demo.mp4 HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(20_000)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("a bad request line", b"GARBAGE\r\n\r\n".to_vec(), &[400]),
        ("a huge URL", long_url.into_bytes(), &[400, 404, 414, 431]),
        ("a huge header", big_header.into_bytes(), &[431]),
        ("too many headers", many_headers.into_bytes(), &[400, 431]),
        (
            "invalid percent-encoding",
            b"GET /json_%ZZ.js HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "an encoded NUL",
            b"GET /%00.mp4 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[404],
        ),
        (
            "a raw NUL",
            b"GET /a\x00b.mp4 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "dot segments",
            b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[404],
        ),
        (
            "encoded dot segments",
            b"GET /hls/..%2F..%2Fetc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[404],
        ),
        (
            "a file path as a stream",
            b"GET /%2Fetc%2Fpasswd.mp4 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[404],
        ),
    ];
    for (what, request, allowed) in &cases {
        let status = raw_status(&addr, request);
        assert!(
            allowed.contains(&status),
            "{what}: answered {status}, expected one of {allowed:?}"
        );
    }
    // The server is still fine.
    let info = get(&brume.url("/json_demo.js")).json();
    assert_eq!(info["type"], "live");
    assert!(brume.child.try_wait().unwrap().is_none(), "brume exited");
}

/// Sends raw bytes and returns the whole answer (status line, headers, body).
fn raw_answer(addr: &str, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = socket.write_all(request);
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn traversal_attempts_never_reach_files_beside_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 2, 30);
    std::fs::write(dir.path().join("secret.txt"), "TOPSECRET-beside-the-clip").unwrap();
    let brume = Brume::start_in(dir, json!({"clip": {"source": "clip.mp4"}}));
    let addr = brume.addr();
    // The configuration file (brume.json) and secret.txt sit beside clip.mp4.
    let paths = [
        "/secret.txt",
        "/brume.json",
        "/../secret.txt",
        "/clip.mp4/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt.mp4",
        "/..%2fsecret.txt",
        "/..%2fclip.mp4",
        "/%252e%252e%252fsecret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt.mp4",
        "/%5c..%5csecret.txt",
        "/hls/..%2f..%2fsecret.txt/index.m3u8",
        "/hls/%2e%2e/secret.txt",
        "/hls/clip/..%2f..%2fsecret.txt",
        "/hls/clip/%2e%2e%5csecret.txt",
        "/cmaf/..\\..\\brume.json/index.mpd",
        "/cmaf/clip/%2e%2e/init.mp4",
        "/json_..%2fsecret.js",
        "/json_%2e%2e.js",
        "/..%00.mp4",
        "/clip%00.mp4",
        "/clip.mp4%00.txt",
        "/embed_..%2fbrume.js",
        "/%2fetc%2fpasswd",
        "/C:%5cWindows%5cwin.ini",
    ];
    for path in paths {
        let answer = raw_answer(
            &addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let status: u16 = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(
            status == 400 || status == 404,
            "{path}: answered {status}, expected 400 or 404"
        );
        assert!(
            !answer.contains("TOPSECRET") && !answer.contains("\"streams\""),
            "{path}: a file beside the source leaked: {answer}"
        );
    }
    // The real stream is still served.
    let clip = get(&brume.url("/clip.mp4"));
    assert_eq!(clip.status, 200);
    assert!(clip.body.len() > 10_000);
}

/// Seconds until the server closes `socket` (reads what comes, up to `limit`).
fn closed_after(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match socket.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn configured_timeouts_close_slow_and_idle_connections() {
    let brume = Brume::start_with_http(
        json!({"demo": {"source": "builtin:demo", "loop": true}}),
        json!({"head_timeout_ms": 600, "idle_timeout_ms": 1500}),
    );
    let addr = brume.addr();

    // A head that stops halfway is cut off at the configured 0.6 s (default 20 s).
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /demo.mp4 HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let held = closed_after(&mut slow, Duration::from_secs(10))
        .expect("a half-sent head was still open after 10 s");
    assert!(
        held < Duration::from_secs(5),
        "half-sent head held {held:?}"
    );

    // A keep-alive connection left idle is closed at the configured 1.5 s
    // (default 60 s), after its answered request.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /nothing.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_status(&mut idle, Duration::from_secs(5)), 404);
    let held = closed_after(&mut idle, Duration::from_secs(20))
        .expect("an idle keep-alive connection was still open after 20 s");
    assert!(
        held < Duration::from_secs(10),
        "idle connection held {held:?}"
    );
    assert!(
        held >= Duration::from_millis(1000),
        "idle connection closed after only {held:?}"
    );
}
