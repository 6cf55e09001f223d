//! player.js and WebRTC: on a live H.264 + AAC stream (the audio goes out as
//! Opus) the player page picks the WHEP source and decodes frames; when WebRTC cannot
//! connect it falls back to another source within seconds and plays.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::{Brume, Publisher};
use serde_json::json;

fn start(webrtc: serde_json::Value) -> (Brume, Publisher) {
    let brume = Brume::start_with(
        tempfile::tempdir().expect("temp dir"),
        json!({"webrtc": webrtc, "streams": {"cam": {"source": "push://"}}}),
    );
    let publisher = Publisher::start(&format!("rtmp://{}/live/cam", brume.rtmp_addr()), 60);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = common::get(&brume.url("/json_cam.js")).json();
        if info["type"] == "live" {
            let whep = info["source"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["type"] == "whep")
                .unwrap_or_else(|| panic!("no whep source in {info}"))
                .clone();
            assert_eq!(whep["url"], brume.url("/whep/cam"), "{whep}");
            break;
        }
        assert!(Instant::now() < deadline, "cam did not go live: {info}");
        std::thread::sleep(Duration::from_millis(200));
    }
    (brume, publisher)
}

const VIDEO_STATE: &str =
    "(() => { const v = document.querySelector('video'); if (!v) return null; \
    return {webrtc: v.srcObject instanceof MediaStream, \
    frames: v.getVideoPlaybackQuality().totalVideoFrames, t: v.currentTime}; })()";

#[test]
fn the_player_page_chooses_webrtc_and_decodes_frames() {
    let (brume, _publisher) = start(json!({"listen": "127.0.0.1:0"}));
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(&brume.url("/cam.html?muted=1"));
    let state = page.wait_for(
        "the WebRTC player decoding 60 frames",
        &format!("(() => {{ const s = {VIDEO_STATE}; return s && s.webrtc && s.frames > 60 ? s : null; }})()"),
        Duration::from_secs(40),
    );
    assert_eq!(state["webrtc"], true, "{state}");
}

#[test]
fn the_player_falls_back_when_webrtc_cannot_connect() {
    // Browsers are sent to an address nobody answers on: ICE never completes.
    let (brume, _publisher) = start(json!({"listen": "127.0.0.1:0", "public_ip": "198.51.100.7"}));
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(&brume.url("/cam.html?muted=1"));
    let started = Instant::now();
    let state = page.wait_for(
        "another player playing after WebRTC failed",
        &format!(
            "(() => {{ const s = {VIDEO_STATE}; return s && !s.webrtc && s.t > 1 ? s : null; }})()"
        ),
        Duration::from_secs(40),
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "fallback took {:?}",
        started.elapsed()
    );
    assert_eq!(state["webrtc"], false, "{state}");
}
