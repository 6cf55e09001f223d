//! WHEP playback: headless Chromium plays a stream ffmpeg publishes over RTMP
//! (H.264 + AAC) through WebRTC — H.264 video and Opus audio made from the AAC,
//! directly and through the guide's nginx configuration — and bad offers get
//! clear errors.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::proxy::{Proxy, ProxyKind};
use common::webrtc::{plays_through_whep, post_sdp, wait_live};
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

#[test]
fn bad_offers_get_clear_errors() {
    let brume = start();
    let post = |path: &str, body: &str| post_sdp(&brume, path, &[], body);
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
