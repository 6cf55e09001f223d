//! Documents (playlists, the MPD, stream info, the player page) as caches and
//! players revalidate them: each rendering has a strong ETag, `If-None-Match`
//! with it answers 304 without a body, and a live document gets a new ETag (and
//! new text) when the stream gains a segment.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const DOCUMENTS: [&str; 7] = [
    "/hls/{s}/index.m3u8",
    "/hls/{s}/media.m3u8",
    "/cmaf/{s}/index.m3u8",
    "/cmaf/{s}/1.m3u8",
    "/cmaf/{s}/index.mpd",
    "/json_{s}.js",
    "/info_{s}.js",
];

fn revalidate(brume: &Brume, path: &str) -> (String, Vec<u8>) {
    let url = brume.url(path);
    let first = get(&url);
    assert_eq!(first.status, 200, "{path}");
    let etag = first
        .header("etag")
        .unwrap_or_else(|| panic!("{path} has no ETag"))
        .to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "{path}: {etag}"
    );
    assert_eq!(
        first.header("cache-control"),
        Some("public, max-age=0, s-maxage=1"),
        "{path}"
    );
    let again = request(
        "GET",
        &url,
        &[("If-None-Match", &etag)],
        Duration::from_secs(20),
    );
    // Unless the stream moved on in between, the client's copy is current.
    if again.header("etag") == Some(etag.as_str()) {
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}");
    }
    let stale = request(
        "GET",
        &url,
        &[("If-None-Match", "\"something-else\"")],
        Duration::from_secs(20),
    );
    assert_eq!(stale.status, 200, "{path}");
    (etag, first.body)
}

#[test]
fn on_demand_documents_revalidate_with_304() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 6, 30);
    let brume = Brume::start_in(dir, json!({"vod": {"source": "clip.mp4"}}));
    for template in DOCUMENTS.iter().chain(&["/{s}.html", "/embed_{s}.js"]) {
        let path = template.replace("{s}", "vod");
        let (etag, body) = revalidate(&brume, &path);
        // On demand nothing changes: the same rendering every time.
        let later = get(&brume.url(&path));
        assert_eq!(later.header("etag"), Some(etag.as_str()), "{path}");
        assert_eq!(later.body, body, "{path}");
    }
    revalidate(&brume, "/player.js");
}

#[test]
fn live_documents_change_with_each_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 4, 30);
    let brume = Brume::start_in(dir, json!({"live": {"source": "clip.mp4", "loop": true}}));
    std::thread::sleep(Duration::from_secs(4));
    for template in DOCUMENTS {
        revalidate(&brume, &template.replace("{s}", "live"));
    }
    // 1-second GOPs: within a few seconds the media playlist lists a new segment,
    // under a new ETag.
    let url = brume.url("/hls/live/media.m3u8");
    let first = get(&url);
    let etag = first.header("etag").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = request(
            "GET",
            &url,
            &[("If-None-Match", &etag)],
            Duration::from_secs(20),
        );
        if now.status == 200 {
            assert_ne!(now.header("etag"), Some(etag.as_str()));
            assert_ne!(now.body, first.body);
            break;
        }
        assert_eq!(now.status, 304);
        assert!(Instant::now() < deadline, "the live playlist never changed");
        std::thread::sleep(Duration::from_millis(200));
    }
}
