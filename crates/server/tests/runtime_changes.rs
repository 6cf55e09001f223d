//! Configuration changes take effect at once: streams added through the management
//! API play immediately, deleted streams drop their viewers and publisher, and the
//! HTTP port moves to a new address (or stays, when the new one is taken).
//!
//! No accounts are configured, so the API runs in setup mode and loopback may call
//! it without credentials.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{get, probe_codecs, request, unused_address, Brume, Publisher};
use serde_json::{json, Value};

/// Calls the management API at `api` (`127.0.0.1:PORT`); returns the status and
/// the JSON body (`Null` when there is none).
fn call(api: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let response = common::parse_http_response(&raw, false);
    let json = if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    };
    (response.status, json)
}

fn api_addr(brume: &Brume) -> String {
    brume
        .logged_field("management API listening", "address")
        .unwrap()
}

/// Polls `check` every 50 ms until it returns true; fails with `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status of a GET of `url`, reading at most briefly (live bodies never end).
fn status_of(url: &str) -> u16 {
    request("GET", url, &[], Duration::from_millis(500)).status
}

/// An ffmpeg viewer decoding `url` to nowhere; counts the frames it decoded.
struct Viewer {
    child: Child,
    frames: Arc<AtomicU64>,
}

impl Viewer {
    fn start(url: &str) -> Viewer {
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-nostats", "-i", url])
            .args(["-f", "null", "-progress", "pipe:1", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("ffmpeg is required by this test ({e})"));
        let frames = Arc::new(AtomicU64::new(0));
        let stdout = child.stdout.take().unwrap();
        let counter = frames.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("frame=") {
                    counter.store(n.trim().parse().unwrap_or(0), Ordering::Relaxed);
                }
            }
        });
        Viewer { child, frames }
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_stream_added_through_the_api_plays_at_once() {
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = api_addr(&brume);
    assert_eq!(status_of(&brume.url("/clip.mp4")), 404);

    let (status, body) = call(
        &api,
        "PUT",
        "/api/v1/streams/clip",
        Some(&json!({"source": "builtin:demo", "loop": true})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "clip");
    assert!(
        ["starting", "online"].contains(&body["status"].as_str().unwrap_or_default()),
        "{body}"
    );

    let codecs = probe_codecs(&brume.url("/clip.mp4"));
    assert_eq!(codecs, ["aac", "h264"], "the new stream plays");
    let (status, listed) = call(&api, "GET", "/api/v1/streams/clip", None);
    assert_eq!(status, 200);
    assert_eq!(listed["status"], "online", "{listed}");
    let saved = std::fs::read_to_string(&brume.config_path).unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["streams"]["clip"]["source"], "builtin:demo");
}

#[test]
fn deleting_a_stream_disconnects_its_viewer_and_publisher() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"streams": {
            "demo": {"source": "builtin:demo", "loop": true},
            "cam": {"source": "push://"},
        }}),
    );
    let api = api_addr(&brume);
    let rtmp = brume.rtmp_addr();
    let mut publisher = Publisher::start(&format!("rtmp://{rtmp}/live/cam"), 120);
    wait_for(
        "the pushed stream is online",
        Duration::from_secs(20),
        || status_of(&brume.url("/cam.mp4")) == 200,
    );
    let mut viewer = Viewer::start(&brume.url("/cam.mp4"));
    wait_for("the viewer decodes frames", Duration::from_secs(20), || {
        viewer.frames.load(Ordering::Relaxed) > 0
    });

    let (status, body) = call(&api, "DELETE", "/api/v1/streams/cam", None);
    assert_eq!(status, 204, "{body}");
    let deleted = Instant::now();

    wait_for("the viewer's stream ends", Duration::from_secs(10), || {
        viewer.has_exited()
    });
    wait_for(
        "the publisher is disconnected",
        Duration::from_secs(10),
        || matches!(publisher.child.try_wait(), Ok(Some(_))),
    );
    eprintln!(
        "viewer and publisher gone {:?} after DELETE",
        deleted.elapsed()
    );

    assert_eq!(status_of(&brume.url("/cam.mp4")), 404);
    assert_eq!(status_of(&brume.url("/hls/cam/index.m3u8")), 404);
    let (status, _) = call(&api, "GET", "/api/v1/streams/cam", None);
    assert_eq!(status, 404);
    // A new publisher for the deleted stream is refused.
    let mut again = Publisher::start(&format!("rtmp://{rtmp}/live/cam"), 120);
    wait_for(
        "a publisher of a deleted stream is refused",
        Duration::from_secs(10),
        || matches!(again.child.try_wait(), Ok(Some(_))),
    );
    // Everything else goes on.
    let demo = request("GET", &brume.url("/demo.mp4"), &[], Duration::from_secs(2));
    assert_eq!(demo.status, 200);
    assert!(
        demo.body.len() > 10_000,
        "{} bytes of demo",
        demo.body.len()
    );
}

#[test]
fn the_http_port_moves_to_a_new_address() {
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = api_addr(&brume);
    let old = brume.addr();
    let new = unused_address();

    let (status, body) = call(
        &api,
        "PATCH",
        "/api/v1/config",
        Some(&json!({"http": {"listen": new}})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["http"]["listen"], new.as_str());

    let demo = request(
        "GET",
        &format!("http://{new}/demo.mp4"),
        &[],
        Duration::from_secs(2),
    );
    assert_eq!(demo.status, 200);
    assert!(
        demo.body.len() > 10_000,
        "{} bytes of demo",
        demo.body.len()
    );
    wait_for(
        "the old port stops accepting",
        Duration::from_secs(5),
        || TcpStream::connect(&old).is_err(),
    );
    let (status, server) = call(&api, "GET", "/api/v1/server", None);
    assert_eq!(status, 200);
    assert_eq!(server["ports"]["http"], new.as_str(), "{server}");
    let logged = brume
        .log_lines()
        .iter()
        .any(|line| line.contains("HTTP media port listening") && line.contains(&new));
    assert!(logged, "the new address is logged");
}

#[test]
fn a_taken_port_is_refused_and_the_old_one_kept() {
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = api_addr(&brume);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let saved_before = std::fs::read_to_string(&brume.config_path).unwrap();

    let (status, body) = call(
        &api,
        "PATCH",
        "/api/v1/config",
        Some(&json!({"http": {"listen": busy}})),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["field"], "http.listen", "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!("cannot listen for HTTP on {busy}: ")),
        "{error}"
    );

    assert_eq!(get(&brume.url("/json_demo.js")).status, 200);
    let (_, config) = call(&api, "GET", "/api/v1/config", None);
    assert_eq!(config["http"]["listen"], "127.0.0.1:0", "{config}");
    let (_, server) = call(&api, "GET", "/api/v1/server", None);
    assert_eq!(server["ports"]["http"], brume.addr().as_str(), "{server}");
    let saved_after = std::fs::read_to_string(&brume.config_path).unwrap();
    assert_eq!(saved_before, saved_after, "the file is untouched");
}

#[tokio::test]
async fn restarting_a_stream_closes_its_websocket_viewers_and_the_new_one_plays() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message;

    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"streams": {"clip": {"source": "builtin:demo", "loop": true}}}),
    );
    let api = api_addr(&brume);
    let url = format!("ws://{}/clip.mp4", brume.addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    ws.send(Message::text(json!({"type": "play"}).to_string()))
        .await
        .unwrap();
    let limit = Duration::from_secs(20);
    let playing = tokio::time::timeout(limit, async {
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Binary(_)) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(playing, Ok(true), "media over the MP4 websocket");

    // New settings restart the stream.
    let (status, body) = call(
        &api,
        "PUT",
        "/api/v1/streams/clip",
        Some(&json!({"source": "builtin:demo", "loop": true, "dvr_window_ms": 20000})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dvr_window_ms"], 20000);

    let closed = tokio::time::timeout(limit, async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|f| f.code);
            }
        }
        None
    })
    .await;
    assert_eq!(closed, Ok(Some(CloseCode::Away)), "close frame 1001");

    let codecs = tokio::task::spawn_blocking({
        let url = brume.url("/clip.mp4");
        move || probe_codecs(&url)
    })
    .await
    .unwrap();
    assert_eq!(codecs, ["aac", "h264"], "the restarted stream plays");
}

/// `curl -k` of an HTTPS URL: the status, or 0 when nothing answered.
fn https_status(url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-k",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
            url,
        ])
        .output()
        .unwrap_or_else(|e| panic!("curl is required by this test ({e})"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn https_is_turned_on_and_off_at_runtime_and_a_bad_key_is_refused() {
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = api_addr(&brume);
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    std::fs::write(brume.dir.path().join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(
        brume.dir.path().join("key.pem"),
        made.signing_key.serialize_pem(),
    )
    .unwrap();
    let address = unused_address();

    // A key file that is not there: refused, naming the key; nothing listens.
    let (status, body) = call(
        &api,
        "PATCH",
        "/api/v1/config",
        Some(&json!({"https": {"listen": address, "cert": "cert.pem", "key": "absent.pem"}})),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["field"], "https.key", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("absent.pem"),
        "{body}"
    );
    assert!(TcpStream::connect(&address).is_err());

    let (status, body) = call(
        &api,
        "PATCH",
        "/api/v1/config",
        Some(&json!({"https": {"listen": address, "cert": "cert.pem", "key": "key.pem"}})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        https_status(&format!("https://{address}/json_demo.js")),
        200
    );
    let (_, server) = call(&api, "GET", "/api/v1/server", None);
    assert_eq!(server["ports"]["https"], address.as_str(), "{server}");

    let (status, body) = call(
        &api,
        "PATCH",
        "/api/v1/config",
        Some(&json!({"https": null})),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("the HTTPS port closes", Duration::from_secs(5), || {
        TcpStream::connect(&address).is_err()
    });
    let (_, server) = call(&api, "GET", "/api/v1/server", None);
    assert!(server["ports"]["https"].is_null(), "{server}");
    assert_eq!(get(&brume.url("/json_demo.js")).status, 200);
}
