//! WHEP playback: headless Chromium plays a stream ffmpeg publishes over RTMP
//! (H.264 + AAC) through WebRTC — H.264 video and Opus audio made from the AAC,
//! directly and through the guide's nginx configuration — and bad offers get
//! clear errors.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::browser::{js_literal, Browser};
use common::proxy::{Proxy, ProxyKind};
use common::{request, Brume, Publisher};
use serde_json::json;

fn start() -> Brume {
    let dir = tempfile::tempdir().expect("temp dir");
    Brume::start_with(
        dir,
        json!({
            "webrtc": {"listen": "127.0.0.1:0"},
            "streams": {
                "cam": {"source": "push://"},
                "demo": {"source": "builtin:demo", "loop": true},
            },
        }),
    )
}

/// Waits until `url` (a stream's info) says the stream is live.
fn wait_live(brume: &Brume, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = common::get(&brume.url(&format!("/json_{name}.js"))).json();
        if info["type"] == "live" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stream {name} did not go live"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Script that does WHEP against `url` and records progress in `window.whep`.
fn whep_script(url: &str) -> String {
    format!(
        r#"(async () => {{
  window.whep = {{ status: 0, error: null, location: null }};
  try {{
    const pc = new RTCPeerConnection();
    window.pc = pc;
    pc.addTransceiver('video', {{ direction: 'recvonly' }});
    pc.addTransceiver('audio', {{ direction: 'recvonly' }});
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.playsInline = true;
    document.body.appendChild(video);
    pc.ontrack = (e) => {{ if (e.track.kind === 'video') video.srcObject = e.streams[0] || new MediaStream([e.track]); }};
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch({url}, {{ method: 'POST', headers: {{ 'Content-Type': 'application/sdp' }}, body: pc.localDescription.sdp }});
    window.whep.status = response.status;
    window.whep.location = response.headers.get('Location');
    const answer = await response.text();
    if (response.status !== 201) {{ window.whep.error = answer; return; }}
    await pc.setRemoteDescription({{ type: 'answer', sdp: answer }});
  }} catch (e) {{ window.whep.error = String(e); }}
}})(); true"#,
        url = js_literal(url)
    )
}

const FRAMES_DECODED: &str = "(async () => { if (!window.pc) return 0; \
    const stats = await window.pc.getStats(); let n = 0; \
    stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded || 0; }); \
    return n; })()";

/// The audio the page receives: `{codec, packets, bytes}` of its inbound audio.
const AUDIO_RECEIVED: &str = "(async () => { if (!window.pc) return null; \
    const stats = await window.pc.getStats(); let a = null; const codecs = {}; \
    stats.forEach(s => { if (s.type === 'codec') codecs[s.id] = s.mimeType; }); \
    stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') \
      a = { codec: codecs[s.codecId] || null, packets: s.packetsReceived || 0, \
            bytes: s.bytesReceived || 0, samples: s.totalSamplesReceived || 0 }; }); \
    return a; })()";

fn plays_through_whep(page_url: &str, whep_url: &str) {
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(page_url);
    page.eval(&whep_script(whep_url));
    page.wait_for(
        "WHEP answered",
        "window.whep && (window.whep.status || window.whep.error)",
        Duration::from_secs(20),
    );
    let whep = page.eval("window.whep");
    assert_eq!(whep["status"], 201, "{whep}");
    assert!(whep["location"].as_str().is_some(), "{whep}");
    let decoded = page.wait_for(
        "60 video frames decoded over WebRTC",
        &format!("(async () => {{ const n = await {FRAMES_DECODED}; return n > 60 ? n : 0; }})()"),
        Duration::from_secs(40),
    );
    assert!(decoded.as_f64().unwrap_or(0.0) > 60.0);
    // The stream's AAC arrives as Opus: 100 packets are 2 s of audio.
    let audio = page.wait_for(
        "100 Opus audio packets received",
        &format!(
            "(async () => {{ const a = await {AUDIO_RECEIVED}; \
             return a && a.packets > 100 ? a : null; }})()"
        ),
        Duration::from_secs(20),
    );
    assert_eq!(audio["codec"], "audio/opus", "{audio}");
    assert!(audio["bytes"].as_f64().unwrap_or(0.0) > 2000.0, "{audio}");
    // The session resource ends the session.
    let location = whep["location"].as_str().unwrap_or_default();
    let ended = page.eval(&format!(
        "(async () => (await fetch(new URL({}, {}), {{ method: 'DELETE' }})).status)()",
        js_literal(location),
        js_literal(whep_url)
    ));
    assert_eq!(ended, 200, "DELETE of the session resource");
}

#[test]
fn chromium_plays_a_live_rtmp_stream_over_whep() {
    let brume = start();
    let _publisher = Publisher::start(&format!("rtmp://{}/live/cam", brume.rtmp_addr()), 60);
    wait_live(&brume, "cam");
    plays_through_whep(&brume.url("/"), &brume.url("/whep/cam"));
}

#[test]
fn chromium_plays_over_whep_through_nginx() {
    let brume = start();
    let proxy = Proxy::start(ProxyKind::Nginx, &brume);
    let _publisher = Publisher::start(&format!("rtmp://{}/live/cam", brume.rtmp_addr()), 60);
    wait_live(&brume, "cam");
    plays_through_whep(&proxy.url("http", "/"), &proxy.url("http", "/webrtc/cam"));
}

/// POSTs `body` as `application/sdp` and reads the whole response.
fn post_sdp(brume: &Brume, path: &str, body: &str) -> common::Response {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(brume.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        brume.addr(),
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    common::parse_http_response(&raw, false)
}

#[test]
fn bad_offers_get_clear_errors() {
    let brume = start();
    let post = |path: &str, body: &str| post_sdp(&brume, path, body);
    let garbage = post("/whep/demo", "hello");
    assert_eq!(garbage.status, 400);
    assert!(String::from_utf8_lossy(&garbage.body).contains("malformed SDP"));
    let unknown = post("/whep/nosuch", "v=0\r\n");
    assert_eq!(unknown.status, 404);
    let preflight = request(
        "OPTIONS",
        &brume.url("/whep/demo"),
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "POST"),
        ],
        Duration::from_secs(5),
    );
    assert_eq!(preflight.status, 200);
    assert!(preflight
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("Location")));
    let delete = request(
        "DELETE",
        &brume.url("/whep/demo/nosuchsession"),
        &[],
        Duration::from_secs(5),
    );
    assert_eq!(delete.status, 404);
}
