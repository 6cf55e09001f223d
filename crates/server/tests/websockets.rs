//! WebSockets on the media port, driven by a real WebSocket client against a real
//! `brume`: pushed stream info on `/json_S.js`, and MP4 over WebSocket (MEWS) on
//! `/S.mp4` — codec negotiation, live and on-demand playback checked by ffprobe,
//! `on_time` reports, pause/resume, seeking, stopping, bad and oversize messages.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(brume: &Brume, path: &str) -> Ws {
    let url = format!("ws://{}{}", brume.addr(), path);
    let (ws, response) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("WebSocket to {url} failed: {e}"));
    assert_eq!(response.status(), 101);
    ws
}

/// What a MEWS client receives.
#[derive(Debug)]
enum Got {
    Json(Value),
    Binary(Vec<u8>),
    Closed,
}

/// The next text or binary message (pings and pongs skipped); `None` on timeout.
async fn next(ws: &mut Ws, limit: Duration) -> Option<Got> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let message = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return None,
            Ok(None) | Ok(Some(Err(_))) => return Some(Got::Closed),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => {
                let value = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text.as_str()));
                return Some(Got::Json(value));
            }
            Message::Binary(bytes) => return Some(Got::Binary(bytes.to_vec())),
            Message::Close(_) => return Some(Got::Closed),
            _ => {}
        }
    }
}

/// Reads until a JSON message of `kind` arrives (other messages are returned too).
async fn until_type(ws: &mut Ws, kind: &str, limit: Duration) -> (Value, Vec<Got>) {
    let deadline = Instant::now() + limit;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(ws, left).await {
            Some(Got::Json(value)) if value["type"] == kind => return (value, before),
            Some(Got::Closed) => panic!("connection closed while waiting for {kind}: {before:?}"),
            Some(other) => before.push(other),
            None => panic!("no {kind} message within {limit:?}; got {before:?}"),
        }
    }
}

async fn send_json(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

fn box_type(bytes: &[u8], at: usize) -> &[u8] {
    &bytes[at + 4..at + 8]
}

/// Writes the received MP4 bytes to a file and returns its path.
fn save_mp4(brume: &Brume, name: &str, parts: &[Vec<u8>]) -> String {
    let path = brume.dir.path().join(name);
    std::fs::write(&path, parts.concat()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn dts_of(packets: &[Packet], kind: &str) -> Vec<f64> {
    packets
        .iter()
        .filter(|p| p.stream == kind)
        .map(|p| p.dts)
        .collect()
}

/// The first stream-info document with media. Right after start a source may still
/// be opening: the socket says so first, then pushes the document once it is ready.
async fn ready_document(ws: &mut Ws) -> Value {
    loop {
        let Some(Got::Json(doc)) = next(ws, Duration::from_secs(10)).await else {
            panic!("no info document");
        };
        if doc.get("error").is_none() {
            return doc;
        }
        assert_eq!(doc, json!({"error": "Stream is initializing"}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_info_socket_sends_the_document_at_once_and_offline_streams_an_error() {
    let brume = Brume::start(json!({
        "demo": {"source": "builtin:demo", "loop": true},
        "cam": {"source": "push://"},
    }));
    // Live demo: the full document, with WebSocket and HTTP sources under this host.
    let mut ws = connect(&brume, "/json_demo.js").await;
    let doc = ready_document(&mut ws).await;
    assert_eq!(doc["meta"]["tracks"].as_object().unwrap().len(), 2, "{doc}");
    let urls: Vec<&str> = doc["source"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&format!("ws://{}/demo.mp4", brume.addr()).as_str()),
        "{urls:?}"
    );
    // Nothing changes, so nothing more is pushed; the socket stays open.
    assert!(next(&mut ws, Duration::from_millis(1500)).await.is_none());
    ws.close(None).await.unwrap();
    assert!(matches!(
        next(&mut ws, Duration::from_secs(5)).await,
        Some(Got::Closed)
    ));

    // A push stream with no publisher, and a stream that does not exist.
    for path in ["/json_cam.js", "/json_nosuch.js"] {
        let mut ws = connect(&brume, path).await;
        let Some(Got::Json(doc)) = next(&mut ws, Duration::from_secs(10)).await else {
            panic!("no document on {path}");
        };
        assert_eq!(doc, json!({"error": "Stream is offline"}), "{path}");
        // It stays open (the stream may appear later) and answers pings.
        ws.send(Message::Ping("x".into())).await.unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Pong(data))) => return data,
                    Some(Ok(_)) => continue,
                    other => panic!("socket ended: {other:?}"),
                }
            }
        })
        .await
        .expect("no pong");
        assert_eq!(&pong[..], b"x");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_info_socket_pushes_a_new_document_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip, 2, 30);
    let brume = Brume::start_in(dir, json!({"movie": {"source": "clip.mp4"}}));
    let mut ws = connect(&brume, "/json_movie.js").await;
    let first = ready_document(&mut ws).await;
    assert_eq!(first["type"], "vod", "{first}");
    let lastms = |doc: &Value| {
        doc["meta"]["tracks"]
            .as_object()
            .unwrap()
            .values()
            .map(|t| t["lastms"].as_i64().unwrap())
            .max()
            .unwrap()
    };
    assert!(lastms(&first) < 2100, "{first}");

    // Replace the file with a longer one; the next request re-indexes it.
    let longer = brume.dir.path().join("longer.mp4");
    make_clip(&longer, 5, 30);
    std::fs::rename(&longer, &clip).unwrap();
    assert_eq!(get(&brume.url("/movie.mp4")).status, 200);
    let Some(Got::Json(second)) = next(&mut ws, Duration::from_secs(10)).await else {
        panic!("no document pushed after the file changed");
    };
    assert_eq!(second["type"], "vod", "{second}");
    assert!(lastms(&second) > 4500, "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mews_live_negotiates_plays_reports_time_pauses_and_stops() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let mut ws = connect(&brume, "/demo.mp4").await;

    send_json(
        &mut ws,
        json!({"type": "request_codec_data", "supported_codecs": ["H264", "AAC"]}),
    )
    .await;
    let (codec_data, _) = until_type(&mut ws, "codec_data", Duration::from_secs(10)).await;
    let codecs: Vec<&str> = codec_data["data"]["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codecs.len(), 2, "{codec_data}");
    assert!(codecs[0].starts_with("avc1."), "{codec_data}");
    assert!(codecs[1].starts_with("mp4a.40."), "{codec_data}");
    assert_eq!(codec_data["data"]["tracks"], json!([1, 2]));

    // Play: the init segment, then fragments; about 3 s of them.
    send_json(&mut ws, json!({"type": "play"})).await;
    let started = Instant::now();
    let mut binary: Vec<Vec<u8>> = Vec::new();
    let mut on_time: Vec<(Instant, i64)> = Vec::new();
    while started.elapsed() < Duration::from_millis(3300) {
        match next(&mut ws, Duration::from_millis(200)).await {
            Some(Got::Binary(bytes)) => binary.push(bytes),
            Some(Got::Json(value)) if value["type"] == "on_time" => {
                let data = &value["data"];
                assert!(data["begin"].as_i64().unwrap() <= data["end"].as_i64().unwrap());
                assert_eq!(data["tracks"], json!([1, 2]));
                assert_eq!(data["play_rate_curr"], "auto");
                on_time.push((Instant::now(), data["current"].as_i64().unwrap()));
            }
            Some(Got::Json(value)) => panic!("unexpected message {value}"),
            Some(Got::Closed) => panic!("closed while playing"),
            None => {}
        }
    }
    assert!(binary.len() > 30, "only {} binary messages", binary.len());
    let init = &binary[0];
    assert_eq!(box_type(init, 0), b"ftyp");
    let ftyp_len = u32::from_be_bytes(init[0..4].try_into().unwrap()) as usize;
    assert_eq!(box_type(init, ftyp_len), b"moov");
    assert!(binary[1..].iter().all(|b| box_type(b, 0) == b"moof"));

    let file = save_mp4(&brume, "live.mp4", &binary);
    assert_eq!(
        decode_errors(&file),
        "",
        "ffmpeg errors decoding MEWS output"
    );
    assert_eq!(probe_codecs(&file), ["aac", "h264"]);
    let packets = probe_packets(&file);
    let video = dts_of(&packets, "video");
    let audio = dts_of(&packets, "audio");
    assert!(video.len() >= 60, "only {} video frames", video.len());
    assert!(audio.len() >= 60, "only {} audio frames", audio.len());
    assert!(
        video.windows(2).all(|w| w[1] > w[0]),
        "video dts not increasing"
    );
    assert!(
        audio.windows(2).all(|w| w[1] > w[0]),
        "audio dts not increasing"
    );

    // on_time about once a second, each later in media time.
    assert!(
        (3..=6).contains(&on_time.len()),
        "{} on_time messages in 3.3 s",
        on_time.len()
    );
    assert!(
        on_time.windows(2).all(|w| w[1].1 > w[0].1),
        "on_time current not increasing: {on_time:?}"
    );
    let gaps: Vec<Duration> = on_time.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().skip(1).all(|g| *g > Duration::from_millis(600)),
        "{gaps:?}"
    );

    // Pause: after the acknowledgement, no more media.
    send_json(&mut ws, json!({"type": "pause"})).await;
    let (paused, _) = until_type(&mut ws, "pause", Duration::from_secs(5)).await;
    assert_eq!(paused["data"]["paused"], true);
    let quiet_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < quiet_until {
        match next(&mut ws, quiet_until - Instant::now()).await {
            Some(Got::Binary(_)) => panic!("media arrived after pause was acknowledged"),
            Some(Got::Json(value)) => assert_ne!(value["type"], "on_time", "{value}"),
            Some(Got::Closed) => panic!("closed while paused"),
            None => break,
        }
    }
    // Play again: media flows from the live edge (a keyframe fragment).
    send_json(&mut ws, json!({"type": "play"})).await;
    let resumed = loop {
        match next(&mut ws, Duration::from_secs(5)).await {
            Some(Got::Binary(bytes)) => break bytes,
            Some(Got::Json(_)) => continue,
            other => panic!("no media after play: {other:?}"),
        }
    };
    assert_eq!(box_type(&resumed, 0), b"moof");

    // Garbage is answered with an error; the connection stays usable.
    ws.send(Message::text("this is not json")).await.unwrap();
    let (error, _) = until_type(&mut ws, "error", Duration::from_secs(5)).await;
    assert!(error["data"].as_str().unwrap().contains("JSON"), "{error}");
    send_json(&mut ws, json!({"type": "dance"})).await;
    until_type(&mut ws, "error", Duration::from_secs(5)).await;
    send_json(&mut ws, json!({"type": "set_speed", "play_rate": 2})).await;
    let (speed, _) = until_type(&mut ws, "set_speed", Duration::from_secs(5)).await;
    assert_eq!(speed["data"]["play_rate"], 2.0);
    assert_eq!(speed["data"]["play_rate_curr"], "auto");

    // Stop: on_stop, then the server closes.
    send_json(&mut ws, json!({"type": "stop"})).await;
    until_type(&mut ws, "on_stop", Duration::from_secs(5)).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match next(&mut ws, Duration::from_secs(5)).await {
                Some(Got::Closed) | None => return true,
                Some(_) => continue,
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "the server did not close after stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mews_play_without_codec_request_still_sends_codec_data_and_init() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let mut ws = connect(&brume, "/demo.mp4").await;
    send_json(&mut ws, json!({"type": "play", "seek_time": "live"})).await;
    let Some(Got::Json(first)) = next(&mut ws, Duration::from_secs(10)).await else {
        panic!("expected codec_data first");
    };
    assert_eq!(first["type"], "codec_data", "{first}");
    let Some(Got::Binary(init)) = next(&mut ws, Duration::from_secs(10)).await else {
        panic!("expected the init segment");
    };
    assert_eq!(box_type(&init, 0), b"ftyp");

    // A player that can decode none of the codecs is told so.
    let mut ws = connect(&brume, "/demo.mp4").await;
    send_json(
        &mut ws,
        json!({"type": "request_codec_data", "supported_codecs": ["VP9"]}),
    )
    .await;
    let (error, _) = until_type(&mut ws, "error", Duration::from_secs(5)).await;
    assert!(error["data"].as_str().unwrap().contains("H264"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mews_on_demand_is_paced_seeks_to_keyframes_and_ends_with_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 20, 30);
    let brume = Brume::start_in(dir, json!({"movie": {"source": "clip.mp4"}}));
    let mut ws = connect(&brume, "/movie.mp4").await;
    send_json(
        &mut ws,
        json!({"type": "request_codec_data", "supported_codecs": ["H264", "AAC"]}),
    )
    .await;
    until_type(&mut ws, "codec_data", Duration::from_secs(10)).await;

    // Playing from the start sends a few seconds ahead, not the whole file.
    send_json(&mut ws, json!({"type": "play", "seek_time": 0})).await;
    let started = Instant::now();
    let mut init = None;
    let mut latest = 0i64;
    while started.elapsed() < Duration::from_millis(2500) {
        match next(&mut ws, Duration::from_millis(200)).await {
            Some(Got::Binary(bytes)) if init.is_none() => init = Some(bytes),
            Some(Got::Binary(_)) => {}
            Some(Got::Json(value)) if value["type"] == "on_time" => {
                assert_eq!(value["data"]["end"].as_i64().unwrap() / 1000, 20, "{value}");
                latest = latest.max(value["data"]["current"].as_i64().unwrap());
            }
            Some(Got::Json(value)) => panic!("unexpected {value}"),
            Some(Got::Closed) => panic!("closed"),
            None => {}
        }
    }
    let init = init.expect("no init segment");
    assert!(latest > 0, "no progress reported");
    assert!(
        latest < 12_000,
        "sent up to {latest} ms of 20 s within 2.5 s"
    );

    // Seek to 3 s: the fragments start at the keyframe there (one per second).
    send_json(&mut ws, json!({"type": "seek", "seek_time": 3000})).await;
    let (seek, _) = until_type(&mut ws, "seek", Duration::from_secs(5)).await;
    assert_eq!(seek["data"]["seek_time"], 3000);
    let mut after_seek = vec![init.clone()];
    let mut first_on_time = None;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && after_seek.len() < 4 {
        match next(&mut ws, Duration::from_millis(500)).await {
            Some(Got::Binary(bytes)) => after_seek.push(bytes),
            Some(Got::Json(value)) if value["type"] == "on_time" => {
                first_on_time.get_or_insert(value["data"]["current"].as_i64().unwrap());
            }
            Some(Got::Json(_)) | None => {}
            Some(Got::Closed) => panic!("closed"),
        }
    }
    let current = first_on_time.expect("no on_time after the seek");
    assert!(
        (2900..=3100).contains(&current),
        "on_time after seek: {current}"
    );
    let file = save_mp4(&brume, "seek.mp4", &after_seek);
    assert_eq!(decode_errors(&file), "");
    let video = dts_of(&probe_packets(&file), "video");
    assert!(
        (video[0] - 3.0).abs() < 0.1,
        "first frame after the seek at {} s",
        video[0]
    );

    // Seeking near the end: the rest arrives, then on_stop; the socket stays open.
    send_json(&mut ws, json!({"type": "seek", "seek_time": 17000})).await;
    until_type(&mut ws, "on_stop", Duration::from_secs(10)).await;
    send_json(&mut ws, json!({"type": "set_speed", "play_rate": 0.5})).await;
    let (speed, _) = until_type(&mut ws, "set_speed", Duration::from_secs(5)).await;
    assert_eq!(speed["data"]["play_rate_curr"], 0.5);

    send_json(&mut ws, json!({"type": "stop"})).await;
    until_type(&mut ws, "on_stop", Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mews_on_demand_sends_only_the_tracks_the_player_supports() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 3, 30);
    let brume = Brume::start_in(dir, json!({"movie": {"source": "clip.mp4"}}));
    let mut ws = connect(&brume, "/movie.mp4").await;
    send_json(
        &mut ws,
        json!({"type": "request_codec_data", "supported_codecs": ["AAC"]}),
    )
    .await;
    let (codec_data, _) = until_type(&mut ws, "codec_data", Duration::from_secs(10)).await;
    assert_eq!(codec_data["data"]["tracks"], json!([2]), "{codec_data}");
    send_json(&mut ws, json!({"type": "play"})).await;
    let (_, got) = until_type(&mut ws, "on_stop", Duration::from_secs(10)).await;
    let parts: Vec<Vec<u8>> = got
        .into_iter()
        .filter_map(|g| match g {
            Got::Binary(b) => Some(b),
            _ => None,
        })
        .collect();
    let file = save_mp4(&brume, "audio.mp4", &parts);
    assert_eq!(probe_codecs(&file), ["aac"]);
    assert_eq!(decode_errors(&file), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_messages_close_only_that_connection() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let mut ws = connect(&brume, "/demo.mp4").await;
    let huge = "x".repeat(1024 * 1024);
    // The server may close before the whole message is written.
    let _ = ws.send(Message::text(huge)).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection stayed open after 1 MiB");

    // The server goes on: HTTP and new WebSockets work.
    assert_eq!(get(&brume.url("/json_demo.js")).status, 200);
    let mut ws = connect(&brume, "/json_demo.js").await;
    assert!(matches!(
        next(&mut ws, Duration::from_secs(10)).await,
        Some(Got::Json(_))
    ));
}

/// Sends an upgrade request as a browser does (no `Connection: close`) and reads
/// the response head.
fn upgrade_request(path: &str, brume: &Brume, headers: &[(&str, &str)]) -> Response {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(brume.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", brume.addr());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before a response head");
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    Response {
        status: status_line[9..12].parse().unwrap(),
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        body: Vec::new(),
    }
}

#[test]
fn upgrade_answers_are_standard() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    // RFC 6455's own example key and answer.
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    let response = upgrade_request("/json_demo.js", &brume, &headers);
    assert_eq!(response.status, 101);
    assert_eq!(
        response.header("connection").map(str::to_ascii_lowercase),
        Some("upgrade".into())
    );
    assert_eq!(response.header("upgrade"), Some("websocket"));
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );

    // An unknown protocol version is refused with the one spoken.
    let mut old = headers;
    old[3] = ("Sec-WebSocket-Version", "8");
    let response = upgrade_request("/demo.mp4", &brume, &old);
    assert_eq!(response.status, 426);
    assert_eq!(response.header("sec-websocket-version"), Some("13"));
    // A stream that does not exist is not upgraded.
    let response = upgrade_request("/nosuch.mp4", &brume, &headers);
    assert_eq!(response.status, 404);
}

/// Collects the binary messages (and `on_time` data) that arrive within `span`.
async fn collect(ws: &mut Ws, span: Duration) -> (Vec<Vec<u8>>, Vec<Value>) {
    let until = Instant::now() + span;
    let (mut binary, mut times) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        match next(ws, until.saturating_duration_since(Instant::now())).await {
            Some(Got::Binary(bytes)) => binary.push(bytes),
            Some(Got::Json(value)) if value["type"] == "on_time" => {
                times.push(value["data"].clone())
            }
            Some(Got::Json(_)) | None => {}
            Some(Got::Closed) => panic!("closed while playing"),
        }
    }
    (binary, times)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mews_live_seeks_into_the_dvr_window_and_catches_up_faster_than_real_time() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let mut ws = connect(&brume, "/demo.mp4").await;
    send_json(
        &mut ws,
        json!({"type": "request_codec_data", "supported_codecs": ["H264", "AAC"]}),
    )
    .await;
    until_type(&mut ws, "codec_data", Duration::from_secs(10)).await;
    send_json(&mut ws, json!({"type": "play"})).await;
    // Wait until the DVR window holds more than 12 s.
    let (mut init, mut end) = (None, 0);
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(40) {
        match next(&mut ws, Duration::from_secs(5)).await {
            Some(Got::Binary(bytes)) if init.is_none() => init = Some(bytes),
            Some(Got::Json(value)) if value["type"] == "on_time" => {
                let data = &value["data"];
                end = data["end"].as_i64().unwrap();
                if end - data["begin"].as_i64().unwrap() > 12_000 {
                    break;
                }
            }
            Some(Got::Closed) => panic!("closed while playing"),
            _ => {}
        }
    }
    let init = init.expect("an init segment");
    assert!(end > 12_000, "the DVR window did not fill: end {end}");

    // Ten seconds back: fragments from the keyframe at or before that time.
    let target = end - 10_000;
    send_json(&mut ws, json!({"type": "seek", "seek_time": target})).await;
    let (seek, _) = until_type(&mut ws, "seek", Duration::from_secs(5)).await;
    assert_eq!(seek["data"]["seek_time"], target);
    let (mut fragments, times) = collect(&mut ws, Duration::from_millis(1500)).await;
    assert!(!fragments.is_empty(), "no media after a live seek");
    assert!(fragments.iter().all(|f| box_type(f, 0) == b"moof"));
    let file = save_mp4(
        &brume,
        "seek.mp4",
        &[vec![init.clone()], fragments.clone()].concat(),
    );
    let video = dts_of(&probe_packets(&file), "video");
    let first_ms = (video[0] * 1000.0) as i64;
    assert!(
        (target - 4_000..=target + 100).contains(&first_ms),
        "asked for {target} ms, media starts at {first_ms} ms"
    );
    let current = times.last().expect("on_time after a seek")["current"]
        .as_i64()
        .unwrap();
    assert!(
        current < end - 2_000,
        "current {current} is not back in the window (edge {end})"
    );

    // Faster than real time: it reaches the live edge, then real time ("auto").
    send_json(&mut ws, json!({"type": "set_speed", "play_rate": 4})).await;
    let (speed, before) = until_type(&mut ws, "set_speed", Duration::from_secs(5)).await;
    fragments.extend(before.into_iter().filter_map(|g| match g {
        Got::Binary(bytes) => Some(bytes),
        _ => None,
    }));
    assert_eq!(speed["data"]["play_rate_curr"], 4.0, "{speed}");
    let started = Instant::now();
    let mut at_edge = None;
    while started.elapsed() < Duration::from_secs(20) {
        let (more, times) = collect(&mut ws, Duration::from_millis(500)).await;
        fragments.extend(more);
        if times.iter().any(|t| t["play_rate_curr"] == "auto") {
            at_edge = Some(started.elapsed());
            break;
        }
    }
    let at_edge = at_edge.expect("never caught up with the live edge at 4x");
    assert!(
        at_edge < Duration::from_secs(12),
        "catching up took {at_edge:?}"
    );
    let (more, _) = collect(&mut ws, Duration::from_secs(2)).await;
    fragments.extend(more);
    // From the DVR window onto the shared feed: one clean, gapless stream.
    let file = save_mp4(&brume, "caught-up.mp4", &[vec![init], fragments].concat());
    assert_eq!(
        decode_errors(&file),
        "",
        "ffmpeg errors across the catch-up"
    );
    let packets = probe_packets(&file);
    for kind in ["video", "audio"] {
        let dts = dts_of(&packets, kind);
        assert!(
            dts.windows(2).all(|w| w[1] > w[0]),
            "{kind} dts not increasing"
        );
        let gap = dts.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(gap < 0.2, "{kind}: a {gap} s hole in the media");
        assert!(
            dts.last().unwrap() * 1000.0 > (end + 1_000) as f64,
            "{kind} never reached live"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mews_tracks_command_picks_the_tracks_of_a_live_stream() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let mut ws = connect(&brume, "/demo.mp4").await;
    // As the player does: tracks first, then the codec request.
    send_json(&mut ws, json!({"type": "tracks", "video": "none"})).await;
    let (tracks, _) = until_type(&mut ws, "tracks", Duration::from_secs(10)).await;
    assert_eq!(tracks["data"]["tracks"], json!([2]), "{tracks}");
    send_json(
        &mut ws,
        json!({"type": "request_codec_data", "supported_codecs": ["H264", "AAC"]}),
    )
    .await;
    let (codec_data, _) = until_type(&mut ws, "codec_data", Duration::from_secs(5)).await;
    assert_eq!(codec_data["data"]["tracks"], json!([2]), "{codec_data}");
    send_json(&mut ws, json!({"type": "play"})).await;
    let (audio, _) = collect(&mut ws, Duration::from_secs(2)).await;
    let file = save_mp4(&brume, "audio.mp4", &audio);
    assert_eq!(probe_codecs(&file), ["aac"]);
    assert!(dts_of(&probe_packets(&file), "audio").len() > 30);

    // Switching while playing: codec_data, a new init segment, then video only.
    send_json(
        &mut ws,
        json!({"type": "tracks", "video": 1, "audio": "none"}),
    )
    .await;
    let (codec_data, _) = until_type(&mut ws, "codec_data", Duration::from_secs(5)).await;
    assert_eq!(codec_data["data"]["tracks"], json!([1]), "{codec_data}");
    let (video, _) = collect(&mut ws, Duration::from_secs(3)).await;
    let start = video
        .iter()
        .position(|b| box_type(b, 0) == b"ftyp")
        .expect("a new init segment");
    let file = save_mp4(&brume, "video.mp4", &video[start..]);
    assert_eq!(probe_codecs(&file), ["h264"]);
    assert!(dts_of(&probe_packets(&file), "video").len() > 30);
    // A selector that names no track is an error; the connection stays.
    send_json(&mut ws, json!({"type": "tracks", "audio": "9"})).await;
    until_type(&mut ws, "error", Duration::from_secs(5)).await;
}
