//! Connection caps against the real binary, per listener: a client over
//! `limits.rtmp.max_per_ip` is closed at once, one over `limits.http.max_per_ip`
//! gets a 503 with Retry-After (while a viewer keeps playing and other clients
//! are served), the API port has its own `max_connections`, changed at runtime,
//! HTTPS refuses before any handshake and the Unix socket answers 503;
//! every refusal is counted in /metrics. Running out of file descriptors logs
//! one warning a second (with a count) and recovers; the RTMP publish-password
//! limit survives moving the RTMP port.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Brume, Publisher};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends C0+C1 and returns the first answer byte (S0, 3 for RTMP), or `None`
/// when the server closed the connection instead.
async fn handshake_reply(conn: &mut TcpStream) -> Option<u8> {
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(7u8, 1536));
    if conn.write_all(&c0c1).await.is_err() {
        return None;
    }
    let mut s0 = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut s0)).await {
        Ok(Ok(1)) => Some(s0[0]),
        Ok(_) => None,
        Err(_) => panic!("the server neither answered nor closed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_client_over_its_cap_is_refused_while_others_are_served() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"limits": {"rtmp": {"max_per_ip": 2}}}),
    );
    let rtmp: SocketAddr = brume.rtmp_addr().parse().unwrap();
    let mut first = connect_from("127.0.0.1", rtmp).await;
    let mut second = connect_from("127.0.0.1", rtmp).await;
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = connect_from("127.0.0.1", rtmp).await;
    assert_eq!(handshake_reply(&mut third).await, None, "the third got in");
    // The client's first two, and another client, are served.
    assert_eq!(handshake_reply(&mut first).await, Some(3));
    assert_eq!(handshake_reply(&mut second).await, Some(3));
    let mut other = connect_from("127.0.0.2", rtmp).await;
    assert_eq!(handshake_reply(&mut other).await, Some(3));
    // Closing one frees its place.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from("127.0.0.1", rtmp).await;
    assert_eq!(handshake_reply(&mut again).await, Some(3));

    let api = api_client::Client::of(&brume);
    let metrics = tokio::task::spawn_blocking(move || api.get("/metrics"))
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains("brume_refused_total{listener=\"rtmp\",reason=\"max_per_ip\"} 1"),
        "{metrics}"
    );
}

/// Sends a small request on `conn` and returns the status code of the answer
/// (its head only; the connection stays open for keep-alive), or `None` when the
/// server closed the connection instead.
async fn request_status(conn: &mut TcpStream, path: &str) -> Option<u16> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    conn.write_all(head.as_bytes()).await.ok()?;
    read_head(conn).await.map(|(status, _)| status)
}

/// Reads a response (its body by Content-Length); `(status, head and body as
/// text)`, or `None` on close or error.
async fn read_head(conn: &mut TcpStream) -> Option<(u16, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            Ok(_) => return None,
            Err(_) => panic!("the server neither answered nor closed"),
        }
    }
    let mut text = String::from_utf8_lossy(&head).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let length: usize = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut body))
        .await
        .ok()?
        .ok()?;
    text.push_str(&String::from_utf8_lossy(&body));
    Some((status, text))
}

/// A connection refused by an HTTP listener: the server answers 503 with
/// `Retry-After` at once, without waiting for a request, then closes.
async fn assert_refused_with_503(conn: &mut TcpStream) {
    let (status, head) = read_head(conn).await.expect("no 503 before the close");
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("Retry-After: "), "{head}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(_)) | Ok(Err(_))), "not closed");
}

/// Sends `PATCH /api/v1/config` with `body` on `conn`; (status, answer).
async fn patch_config(conn: &mut TcpStream, body: &str) -> (u16, String) {
    let patch = format!(
        "PATCH /api/v1/config HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(patch.as_bytes()).await.unwrap();
    read_head(conn).await.unwrap()
}

async fn metrics_of(brume: &Brume) -> String {
    let api = api_client::Client::of(brume);
    let metrics = tokio::task::spawn_blocking(move || api.get("/metrics"))
        .await
        .unwrap();
    String::from_utf8_lossy(&metrics.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_client_over_its_cap_gets_503_while_viewers_keep_playing() {
    // Loopback is not a trusted proxy here, so 127.0.0.1 is held to the cap.
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"limits": {"http": {"max_per_ip": 3}}, "trusted_proxies": []}),
    );
    let http: SocketAddr = brume.addr().parse().unwrap();
    // A viewer plays the live stream (one connection from 127.0.0.1) throughout.
    let url = brume.url("/demo.mp4");
    let viewer = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let (frames, errors) = common::decode_video_frames(&url, Some(5.0));
        (frames, errors, started.elapsed())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut first = connect_from("127.0.0.1", http).await;
    assert_eq!(request_status(&mut first, "/nope").await, Some(404));
    let mut second = connect_from("127.0.0.1", http).await;
    assert_eq!(request_status(&mut second, "/nope").await, Some(404));
    // The fourth connection from 127.0.0.1, ten times over.
    for _ in 0..10 {
        let mut over = connect_from("127.0.0.1", http).await;
        assert_refused_with_503(&mut over).await;
    }
    // Another client is served; so are the first client's open connections.
    let mut other = connect_from("127.0.0.2", http).await;
    assert_eq!(request_status(&mut other, "/nope").await, Some(404));
    assert_eq!(request_status(&mut first, "/nope").await, Some(404));
    // Closing one frees its place.
    drop(second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from("127.0.0.1", http).await;
    assert_eq!(request_status(&mut again, "/nope").await, Some(404));

    let (frames, errors, took) = viewer.await.unwrap();
    assert!(errors.is_empty(), "the viewer failed: {errors}");
    assert!(frames >= 100, "only {frames} frames in 5 s");
    assert!(took < Duration::from_secs(20), "5 s of video took {took:?}");

    let metrics = metrics_of(&brume).await;
    assert!(
        metrics.contains("brume_refused_total{listener=\"http\",reason=\"max_per_ip\"} 10"),
        "{metrics}"
    );
    let warned = brume
        .log_lines()
        .iter()
        .filter(|l| l.contains("a connection cap is full"))
        .count();
    // Ten refusals in quick succession: warned about once a second, not ten times.
    assert!(
        (1..=4).contains(&warned),
        "{warned} warnings for 10 refusals within a second or so"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_port_has_its_own_cap_and_a_change_applies_to_new_connections() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"limits": {"api": {"max_connections": 2}}}),
    );
    let api: SocketAddr = api_client::api_addr(&brume).parse().unwrap();
    let mut first = connect_from("127.0.0.1", api).await;
    assert_eq!(
        request_status(&mut first, "/api/v1/session").await,
        Some(200)
    );
    let mut second = connect_from("127.0.0.2", api).await;
    assert_eq!(
        request_status(&mut second, "/api/v1/session").await,
        Some(200)
    );
    let mut third = connect_from("127.0.0.3", api).await;
    assert_refused_with_503(&mut third).await;
    // The media port is not affected by the API's cap.
    let mut media = connect_from("127.0.0.1", brume.addr().parse().unwrap()).await;
    assert_eq!(request_status(&mut media, "/nope").await, Some(404));

    // A cap of 0 would lock everyone out: refused with its key.
    let (status, answer) =
        patch_config(&mut first, r#"{"limits": {"api": {"max_connections": 0}}}"#).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("\"field\":\"limits.api.max_connections\""),
        "{answer}"
    );
    // Raised at runtime, through one of the open connections: the next
    // connection is admitted.
    let (status, answer) =
        patch_config(&mut first, r#"{"limits": {"api": {"max_connections": 3}}}"#).await;
    assert_eq!(status, 200, "{answer}");
    let mut fourth = connect_from("127.0.0.3", api).await;
    assert_eq!(
        request_status(&mut fourth, "/api/v1/session").await,
        Some(200)
    );
    drop((first, second, fourth));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let metrics = metrics_of(&brume).await;
    assert!(
        metrics.contains("brume_refused_total{listener=\"api\",reason=\"max_connections\"} 1"),
        "{metrics}"
    );
    let saved = std::fs::read_to_string(&brume.config_path).unwrap();
    assert!(
        saved.contains("\"max_connections\": 3") || saved.contains("\"max_connections\":3"),
        "{saved}"
    );
}

/// Brume run with an open-file limit of `limit` (soft and hard, so it cannot
/// raise it), its log collected; killed on drop.
struct Starved {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Starved {
    fn start(limit: u32) -> Starved {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("brume.json");
        std::fs::write(&config, common::config_with(&json!({})).to_string()).unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -Sn {limit} && ulimit -Hn {limit} && exec \"$0\" \"$@\""
            ))
            .arg(env!("CARGO_BIN_EXE_brume"))
            .arg("--config")
            .arg(&config)
            .args(["--log-format", "json", "--log-level", "info"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    if line.contains("HTTP media port listening") {
                        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
                        let address = value["fields"]["address"].as_str().unwrap().to_owned();
                        let _ = tx.send(address);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let http = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("brume did not start: {:?}", log.lock().unwrap()))
            .parse()
            .unwrap();
        Starved {
            child,
            log,
            http,
            _dir: dir,
        }
    }

    fn lines(&self, message: &str) -> Vec<serde_json::Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message)
            .collect()
    }
}

impl Drop for Starved {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_logs_once_a_second_and_recovers() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let brume = Starved::start(128);
    // More connections than brume has descriptors: its accepts fail (EMFILE)
    // while the rest wait in the backlog.
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(connect_from("127.0.0.1", brume.http).await);
    }
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let warnings = brume.lines("accept failed");
    assert!(!warnings.is_empty(), "no accept failure was logged");
    let allowed = started.elapsed().as_secs() as usize + 2;
    assert!(
        warnings.len() <= allowed,
        "{} accept warnings in about 3 s: {warnings:?}",
        warnings.len()
    );
    let counted: u64 = warnings
        .iter()
        .filter_map(|w| w["fields"]["failures"].as_u64())
        .sum();
    assert!(
        counted > warnings.len() as u64,
        "the warnings carry no count of the failures: {warnings:?}"
    );
    eprintln!(
        "{counted} failed accepts in {:?}, logged in {} warnings",
        started.elapsed(),
        warnings.len()
    );
    assert!(
        counted < 200,
        "accept was retried {counted} times in 3 s: it spins"
    );
    // Freed descriptors: brume serves again.
    drop(held);
    let mut ok = None;
    for _ in 0..50 {
        let mut conn = connect_from("127.0.0.1", brume.http).await;
        ok = request_status(&mut conn, "/nope").await;
        if ok.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ok, Some(404), "brume did not recover");
}

#[test]
fn the_publish_password_limit_survives_moving_the_rtmp_port() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"streams": {"cam": {"source": "push://", "password": "hunter2"}}}),
    );
    let rtmp = brume.rtmp_addr();
    // Five wrong passwords a minute are allowed; the sixth try is refused.
    for guess in 0..5 {
        let url = format!("rtmp://{rtmp}/guess{guess}/cam");
        let (failed, _) = Publisher::start(&url, 3).finish(Duration::from_secs(15));
        assert!(failed, "guess {guess} was accepted");
    }
    // The RTMP port moves; the client's failures are still remembered.
    let api = api_client::Client::of(&brume);
    let moved = format!("{}:0", common::private_loopback());
    let patch = api.patch(
        "/api/v1/config",
        &json!({"rtmp": {"listen": moved}}).to_string(),
    );
    assert_eq!(
        patch.status,
        200,
        "{}",
        String::from_utf8_lossy(&patch.body)
    );
    let new_rtmp = api_client::wait_for(Duration::from_secs(10), "the new RTMP port", || {
        brume
            .log_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "RTMP port listening")
            .filter_map(|v| v["fields"]["address"].as_str().map(str::to_owned))
            .find(|a| *a != rtmp)
    });
    let url = format!("rtmp://{new_rtmp}/hunter2/cam");
    let (failed, _) = Publisher::start(&url, 3).finish(Duration::from_secs(15));
    assert!(failed, "the limit was forgotten when the RTMP port moved");
    let metrics = String::from_utf8_lossy(&api.get("/metrics").body).into_owned();
    assert!(
        metrics
            .contains("brume_refused_total{listener=\"rtmp\",reason=\"publish_rate_limited\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_https_port_and_the_unix_socket_have_their_own_caps() {
    let dir = tempfile::tempdir().unwrap();
    common::self_signed_cert(dir.path(), "ec", "cert.pem", "key.pem", &["127.0.0.2"]);
    let ca = dir.path().join("cert.pem").to_str().unwrap().to_owned();
    let socket = dir.path().join("brume.sock");
    let brume = Brume::start_with(
        dir,
        json!({
            "https": {"listen": "127.0.0.1:0", "cert": "cert.pem", "key": "key.pem"},
            "http": {"unix_socket": "brume.sock"},
            "limits": {"https": {"max_per_ip": 1}, "unix_socket": {"max_connections": 1}},
            "trusted_proxies": [],
        }),
    );
    let https: SocketAddr = brume.https_addr().parse().unwrap();
    let curl = |interface: &'static str| {
        let url = format!("https://127.0.0.1:{}/nope", https.port());
        let ca = ca.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "10",
                ])
                .args(["--interface", interface, "--cacert", &ca, &url])
                .output()
                .unwrap_or_else(|e| panic!("curl is required by this test ({e})"))
        })
    };
    // One connection from 127.0.0.1 holds the client's only place (it has not
    // even started its handshake); curl from there is closed, from elsewhere served.
    let _holder = connect_from("127.0.0.1", https).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = curl("127.0.0.1").await.unwrap();
    assert!(!refused.status.success(), "{refused:?}");
    let served = curl("127.0.0.2").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&served.stdout), "404", "{served:?}");

    // The Unix socket: one connection at most.
    let mut first = tokio::net::UnixStream::connect(&socket).await.unwrap();
    first
        .write_all(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    first.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 404");
    let mut second = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), second.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: "), "{answer}");

    let metrics = metrics_of(&brume).await;
    for line in [
        "brume_refused_total{listener=\"https\",reason=\"max_per_ip\"} 1",
        "brume_refused_total{listener=\"unix_socket\",reason=\"max_connections\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}
