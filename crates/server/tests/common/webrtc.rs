//! WebRTC in Chromium for the tests: WHEP playback of a stream (offer, answer,
//! getStats checks) and WHIP publishing from the fake camera and microphone.

use std::time::Duration;

use super::browser::{js_literal, Browser, Page};
use super::Brume;

/// Waits until `url` (a stream's info) says the stream is live.
pub fn wait_live(brume: &Brume, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = super::get(&brume.url(&format!("/json_{name}.js"))).json();
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
pub fn whep_script(url: &str) -> String {
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

pub const FRAMES_DECODED: &str = "(async () => { if (!window.pc) return 0; \
    const stats = await window.pc.getStats(); let n = 0; \
    stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded || 0; }); \
    return n; })()";

/// The audio the page receives: `{codec, packets, bytes}` of its inbound audio.
pub const AUDIO_RECEIVED: &str = "(async () => { if (!window.pc) return null; \
    const stats = await window.pc.getStats(); let a = null; const codecs = {}; \
    stats.forEach(s => { if (s.type === 'codec') codecs[s.id] = s.mimeType; }); \
    stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') \
      a = { codec: codecs[s.codecId] || null, packets: s.packetsReceived || 0, \
            bytes: s.bytesReceived || 0, samples: s.totalSamplesReceived || 0 }; }); \
    return a; })()";

pub fn plays_through_whep(page_url: &str, whep_url: &str) {
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

/// Script that publishes the fake camera and microphone (320x240, 30 fps) to
/// `url` with WHIP, `token` as the bearer token, and records progress in
/// `window.whip`.
pub fn whip_script(url: &str, token: &str) -> String {
    format!(
        r#"(async () => {{
  window.whip = {{ status: 0, error: null, location: null }};
  try {{
    const media = await navigator.mediaDevices.getUserMedia({{
      video: {{ width: 320, height: 240, frameRate: 30 }}, audio: true }});
    const pc = new RTCPeerConnection();
    window.publisher = pc;
    for (const track of media.getTracks()) pc.addTransceiver(track, {{ direction: 'sendonly', streams: [media] }});
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch({url}, {{ method: 'POST',
      headers: {{ 'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + {token} }},
      body: pc.localDescription.sdp }});
    window.whip.status = response.status;
    window.whip.location = response.headers.get('Location');
    const answer = await response.text();
    if (response.status !== 201) {{ window.whip.error = answer; return; }}
    await pc.setRemoteDescription({{ type: 'answer', sdp: answer }});
  }} catch (e) {{ window.whip.error = String(e); }}
}})(); true"#,
        url = js_literal(url),
        token = js_literal(token)
    )
}

/// Publishes from `page` (already on a page of the server) to `whip_url`;
/// returns `window.whip` once the server answered.
pub fn publish_whip(page: &mut Page, whip_url: &str, token: &str) -> serde_json::Value {
    page.eval(&whip_script(whip_url, token));
    page.wait_for(
        "WHIP answered",
        "window.whip && (window.whip.status || window.whip.error) ? window.whip : null",
        Duration::from_secs(20),
    )
}

/// POSTs `body` as `application/sdp` to `path` with `headers` and reads the
/// whole response.
pub fn post_sdp(
    brume: &Brume,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> super::Response {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(brume.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/sdp\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        brume.addr(),
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    super::parse_http_response(&raw, false)
}

/// An SDP offer Chromium makes for sending its fake camera (and microphone when
/// `audio`) with only the video codec `video_codec` (e.g. `video/VP8`).
pub fn chromium_offer(page: &mut Page, video_codec: &str, audio: bool) -> String {
    let script = format!(
        r#"(async () => {{
  const pc = new RTCPeerConnection();
  const media = await navigator.mediaDevices.getUserMedia({{ video: true, audio: {audio} }});
  for (const track of media.getTracks()) {{
    const t = pc.addTransceiver(track, {{ direction: 'sendonly' }});
    if (track.kind === 'video') t.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs
      .filter(c => c.mimeType === {codec}));
  }}
  const offer = await pc.createOffer();
  pc.close();
  media.getTracks().forEach(t => t.stop());
  return offer.sdp;
}})()"#,
        codec = js_literal(video_codec)
    );
    let sdp = page.eval(&script);
    sdp.as_str()
        .unwrap_or_else(|| panic!("no offer from Chromium: {sdp}"))
        .to_owned()
}
