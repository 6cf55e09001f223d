//! The checks every proxy test file shares: stream info URLs under the proxy's
//! public base, the info and MP4 WebSockets through the proxy, and HLS and
//! progressive MP4 decoded by ffmpeg through it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::Message;

use super::{is_timeout, Proxy, Target};

/// Every absolute URL of a stream info document is under the proxy's public base:
/// `url == base + relurl` for HTTP-carried outputs (`ws`/`wss` for WebSockets), and
/// the proxy's host for other protocols (RTMP).
pub fn assert_urls_under(doc: &Value, base: &str, via: &str) {
    let ws_base = base
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let host = Target::parse(base).host;
    let sources = doc["source"]
        .as_array()
        .unwrap_or_else(|| panic!("no sources through {via}: {doc}"));
    assert!(!sources.is_empty(), "no sources through {via}: {doc}");
    for source in sources {
        let url = source["url"].as_str().unwrap_or_default();
        let relurl = source["relurl"].as_str().unwrap_or_default();
        let scheme = url.split("://").next().unwrap_or_default();
        match scheme {
            "http" | "https" => assert_eq!(url, format!("{base}{relurl}"), "{source} via {via}"),
            "ws" | "wss" => assert_eq!(url, format!("{ws_base}{relurl}"), "{source} via {via}"),
            _ => assert_eq!(Target::parse(url).host, host, "{source} via {via}"),
        }
    }
    let mews = sources
        .iter()
        .find(|s| s["type"] == "ws/video/mp4")
        .unwrap_or_else(|| panic!("no MP4 WebSocket source through {via}: {doc}"));
    assert_eq!(mews["url"], format!("{ws_base}demo.mp4"), "via {via}");
}

/// The stream info document as fetched through the proxy.
pub fn stream_info(proxy: &Proxy, scheme: &str) -> Value {
    let url = proxy.url(scheme, "json_demo.js");
    // The demo stream may still be starting.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = proxy.get(&url);
        assert_eq!(response.status, 200, "{url}: {response:?}\n{}", proxy.log());
        let doc = response.json();
        if doc.get("error").is_none() || Instant::now() > deadline {
            return doc;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `json_demo.js` through the proxy names URLs under the proxy's public base.
pub fn check_stream_info_urls(proxy: &Proxy, scheme: &str) {
    let doc = stream_info(proxy, scheme);
    let via = format!("{} {scheme}", proxy.kind().name());
    assert_urls_under(&doc, &proxy.base(scheme), &via);
}

/// The `json_demo.js` WebSocket through the proxy pushes an info document whose
/// URLs are under the proxy's public base.
pub fn check_info_websocket(proxy: &Proxy, scheme: &str) {
    let ws_scheme = if scheme == "https" { "wss" } else { "ws" };
    let url = proxy.url(ws_scheme, "json_demo.js");
    let mut ws = proxy.websocket(&url);
    let deadline = Instant::now() + Duration::from_secs(10);
    let doc = loop {
        assert!(
            Instant::now() < deadline,
            "no info document on {url} in 10 s"
        );
        match ws.read() {
            Ok(Message::Text(text)) => {
                let doc: Value = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("{url} sent non-JSON ({e}): {text}"));
                if doc.get("source").is_some() {
                    break doc;
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(e) => panic!("{url}: {e}\n{}", proxy.log()),
        }
    };
    let via = format!("{} {ws_scheme}", proxy.kind().name());
    assert_urls_under(&doc, &proxy.base(scheme), &via);
    let _ = ws.close(None);
}

/// What an MP4-over-WebSocket session delivered.
#[derive(Debug, Default)]
pub struct MewsReport {
    pub codec_data: bool,
    pub init_segment: bool,
    pub fragments: usize,
    pub text: Vec<String>,
}

/// Plays the demo stream over the MP4 WebSocket (MEWS) through the proxy as the
/// player does: asks for codec data, says play, and expects the init segment and
/// media fragments.
pub fn check_mews(proxy: &Proxy, scheme: &str) -> MewsReport {
    let ws_scheme = if scheme == "https" { "wss" } else { "ws" };
    let url = proxy.url(ws_scheme, "demo.mp4");
    let mut ws = proxy.websocket(&url);
    for command in [
        json!({"type": "request_codec_data", "supported_codecs": ["H264", "AAC"]}),
        json!({"type": "play"}),
    ] {
        ws.send(Message::text(command.to_string()))
            .unwrap_or_else(|e| panic!("send to {url}: {e}"));
    }
    let mut report = MewsReport::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !(report.init_segment && report.fragments >= 3) {
        match ws.read() {
            Ok(Message::Text(text)) => {
                let kind = serde_json::from_str::<Value>(text.as_str())
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned));
                if kind.as_deref() == Some("codec_data") {
                    report.codec_data = true;
                }
                report.text.push(text.as_str().to_owned());
            }
            Ok(Message::Binary(data)) => {
                let boxes = box_types(&data);
                if boxes.iter().any(|b| b == "moov") {
                    report.init_segment = true;
                }
                report.fragments += boxes.iter().filter(|b| *b == "moof").count();
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(e) => panic!("{url}: {e} after {report:?}\n{}", proxy.log()),
        }
    }
    let _ = ws.close(None);
    assert!(
        report.codec_data && report.init_segment && report.fragments >= 3,
        "MP4 WebSocket through {} {ws_scheme} delivered too little in 10 s: {report:?}",
        proxy.kind().name()
    );
    report
}

/// Top-level MP4 box types in `data`.
fn box_types(data: &[u8]) -> Vec<String> {
    let mut types = Vec::new();
    let mut pos = 0usize;
    while let Some(header) = data.get(pos..pos + 8) {
        let size = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        types.push(String::from_utf8_lossy(&header[4..8]).into_owned());
        if size < 8 {
            break;
        }
        pos += size;
    }
    types
}

/// Waits (up to 15 s) until the demo's HLS media playlist lists `count` segments: a
/// live stream that just started has none yet, and ffmpeg gives up on an empty
/// playlist (Chromium's native HLS even wants three).
pub fn wait_for_segments(proxy: &Proxy, scheme: &str, count: usize) {
    let url = proxy.url(scheme, "hls/demo/media.m3u8");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = proxy.get(&url);
        if String::from_utf8_lossy(&response.body)
            .matches("#EXTINF")
            .count()
            >= count
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} lists fewer than {count} segments after 15 s: {response:?}\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What ffmpeg decoded of a URL.
#[derive(Debug)]
pub struct Decoded {
    pub url: String,
    pub video_frames: usize,
    pub audio_frames: usize,
    pub errors: String,
}

/// Decodes the first `seconds` of `url` (audio and video) with ffmpeg.
pub fn decode(url: &str, seconds: f64) -> Decoded {
    let seconds = seconds.to_string();
    let out = super::super::run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-rw_timeout",
            "15000000",
            "-i",
            url,
            "-t",
            &seconds,
            "-map",
            "0:v:0",
            "-map",
            "0:a:0",
            "-f",
            "framecrc",
            "-",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let count = |index: &str| {
        stdout
            .lines()
            .filter(|l| l.split(',').next().map(str::trim) == Some(index))
            .count()
    };
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && errors.is_empty() {
        errors = format!("ffmpeg exited with {}", out.status);
    }
    Decoded {
        url: url.to_owned(),
        video_frames: count("0"),
        audio_frames: count("1"),
        errors,
    }
}

/// HLS and progressive MP4 through the proxy decode cleanly with ffmpeg (3 s each,
/// run side by side), and progressive bytes start within a second.
pub fn check_media(proxy: &Proxy, scheme: &str) {
    wait_for_segments(proxy, scheme, 1);
    let delay = proxy.first_body_byte_after(&proxy.url(scheme, "demo.mp4"));
    let urls = [
        proxy.url(scheme, "hls/demo/index.m3u8"),
        proxy.url(scheme, "demo.mp4"),
    ];
    let results: Vec<Decoded> = std::thread::scope(|s| {
        let handles: Vec<_> = urls
            .iter()
            .map(|u| s.spawn(move || decode(u, 3.0)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("decode thread"))
            .collect()
    });
    for decoded in &results {
        assert!(
            decoded.errors.is_empty(),
            "ffmpeg errors on {} through {}: {}\n{}",
            decoded.url,
            proxy.kind().name(),
            decoded.errors,
            proxy.log()
        );
        // 3 s of 30 fps video and 48 kHz AAC (1024 samples a frame), with slack.
        assert!(
            decoded.video_frames >= 60 && decoded.audio_frames >= 100,
            "too little decoded: {decoded:?}"
        );
    }
    assert!(
        delay < Duration::from_secs(1),
        "first progressive MP4 byte through {} {scheme} took {delay:?}",
        proxy.kind().name()
    );
}
