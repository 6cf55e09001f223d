//! The media port's HTTP behaviour as a client sees it: stream info, unknown
//! streams, CORS, HEAD and OPTIONS, and bad paths.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn demo() -> Brume {
    Brume::start(
        json!({"demo": {"source": "builtin:demo", "loop": true}, "cam": {"source": "push://"}}),
    )
}

#[test]
fn stream_info_describes_the_demo_tracks_and_sources() {
    let brume = demo();
    std::thread::sleep(Duration::from_millis(300));
    let response = get(&brume.url("/json_demo.js"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    let info = response.json();
    assert_eq!(info["type"], "live");
    assert_eq!(info["width"], 640);
    assert_eq!(info["height"], 360);
    let tracks = info["meta"]["tracks"].as_object().unwrap();
    let video = tracks
        .values()
        .find(|t| t["type"] == "video")
        .expect("video track");
    assert_eq!(video["codec"], "H264");
    assert_eq!(video["codecstring"], "avc1.64001e");
    let audio = tracks
        .values()
        .find(|t| t["type"] == "audio")
        .expect("audio track");
    assert_eq!(audio["codec"], "AAC");
    assert_eq!(audio["rate"], 48000);
    assert_eq!(audio["channels"], 2);
    let mp4 = info["source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "html5/video/mp4")
        .expect("an MP4 source");
    assert_eq!(mp4["relurl"], "demo.mp4");
    assert_eq!(mp4["url"], format!("{}/demo.mp4", brume.http));
}

#[test]
fn unknown_and_offline_streams() {
    let brume = demo();
    let info = get(&brume.url("/json_nosuch.js"));
    assert_eq!(info.status, 200);
    assert_eq!(info.json(), json!({"error": "Stream is offline"}));
    assert_eq!(
        get(&brume.url("/json_cam.js")).json(),
        json!({"error": "Stream is offline"})
    );
    assert_eq!(get(&brume.url("/nosuch.mp4")).status, 404);
    assert_eq!(get(&brume.url("/cam.mp4")).status, 503);
    assert_eq!(get(&brume.url("/whatever.txt")).status, 404);
    assert_eq!(get(&brume.url("/%zz.mp4")).status, 400);
    assert_eq!(get(&brume.url("/..%2F..%2Fetc%2Fpasswd.mp4")).status, 404);
}

#[test]
fn head_and_options_answer_headers_only() {
    let brume = demo();
    let head = request(
        "HEAD",
        &brume.url("/demo.mp4"),
        &[],
        Duration::from_millis(800),
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("video/mp4"));
    assert!(
        head.body.is_empty(),
        "HEAD returned {} body bytes",
        head.body.len()
    );
    let options = request(
        "OPTIONS",
        &brume.url("/demo.mp4"),
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
        Duration::from_secs(2),
    );
    assert_eq!(options.status, 200);
    assert_eq!(options.header("access-control-allow-origin"), Some("*"));
    assert!(options
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    assert!(options.body.is_empty());
    let delete = get_with_method(&brume, "DELETE");
    assert_eq!(delete, 405);
}

fn get_with_method(brume: &Brume, method: &str) -> u16 {
    request(method, &brume.url("/demo.mp4"), &[], Duration::from_secs(2)).status
}
