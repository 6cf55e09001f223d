//! HTTP semantics of the outputs as clients and caches see them: byte ranges on
//! on-demand MP4, immutable segments with ETags and 304s, content types, and
//! segments that left the live window.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn vod_server() -> Brume {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("vod.mp4"), 3, 30);
    Brume::start_in(dir, json!({"vod": {"source": "vod.mp4"}}))
}

fn range(brume: &Brume, spec: &str) -> Response {
    request(
        "GET",
        &brume.url("/vod.mp4"),
        &[("Range", spec)],
        Duration::from_secs(20),
    )
}

#[test]
fn byte_ranges_of_the_vod_mp4_match_the_whole_file() {
    let brume = vod_server();
    let whole = get(&brume.url("/vod.mp4"));
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let len = whole.body.len();
    assert_eq!(
        whole.header("content-length"),
        Some(len.to_string().as_str())
    );
    // moov before mdat, so a browser can start and seek at once.
    let moov = whole.body.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = whole.body.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat);

    for (spec, start, end) in [
        ("bytes=0-0", 0, 1),
        ("bytes=0-99", 0, 100),
        ("bytes=1000-50000", 1000, 50001),
        (&format!("bytes={}-", len - 10) as &str, len - 10, len),
        ("bytes=-500", len - 500, len),
        (
            &format!("bytes={}-{}", mdat - 20, mdat + 20000) as &str,
            mdat - 20,
            mdat + 20001,
        ),
    ] {
        let part = range(&brume, spec);
        assert_eq!(part.status, 206, "{spec}");
        assert_eq!(
            part.header("content-range"),
            Some(format!("bytes {start}-{}/{len}", end - 1).as_str()),
            "{spec}"
        );
        assert_eq!(part.body, whole.body[start..end], "{spec}");
    }
    let bad = range(&brume, &format!("bytes={len}-"));
    assert_eq!(bad.status, 416);
    assert_eq!(
        bad.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );

    let head = request("HEAD", &brume.url("/vod.mp4"), &[], Duration::from_secs(5));
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert!(head.body.is_empty());

    // The same layout every time: a resumed download gets matching bytes.
    let again = get(&brume.url("/vod.mp4"));
    assert_eq!(again.body, whole.body);
    assert_eq!(again.header("etag"), whole.header("etag"));
}

#[test]
fn segments_are_immutable_cacheable_and_revalidate_with_304() {
    let brume = vod_server();
    for (path, content_type) in [
        ("/hls/vod/0.ts", "video/mp2t"),
        ("/cmaf/vod/1/0.m4s", "video/mp4"),
        ("/cmaf/vod/1/init.mp4", "video/mp4"),
    ] {
        let first = get(&brume.url(path));
        assert_eq!(first.status, 200, "{path}");
        assert_eq!(first.header("content-type"), Some(content_type), "{path}");
        let cache = first.header("cache-control").unwrap();
        assert!(
            cache.contains("immutable") && cache.contains("max-age="),
            "{path}: {cache}"
        );
        assert_eq!(
            first.header("content-length"),
            Some(first.body.len().to_string().as_str())
        );
        let etag = first.header("etag").expect("etag").to_owned();
        let second = get(&brume.url(path));
        assert_eq!(second.body, first.body, "{path}: same bytes every time");
        let revalidated = request(
            "GET",
            &brume.url(path),
            &[("If-None-Match", &etag)],
            Duration::from_secs(5),
        );
        assert_eq!(revalidated.status, 304, "{path}");
        assert!(revalidated.body.is_empty());
    }
    assert_eq!(get(&brume.url("/hls/vod/99.ts")).status, 404);
    assert_eq!(get(&brume.url("/cmaf/vod/9/0.m4s")).status, 404);
}

#[test]
fn live_segments_that_left_the_window_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 2, 30);
    // A 4-second window holds about two 2-second segments.
    let brume = Brume::start_in(
        dir,
        json!({"live": {"source": "clip.mp4", "loop": true, "dvr_window_ms": 4000}}),
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        get(&brume.url("/hls/live/0.ts")).status,
        200,
        "segment 0 is complete and in the window"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        get(&brume.url("/hls/live/0.ts")).status,
        404,
        "segment 0 left the window"
    );
    assert_eq!(get(&brume.url("/cmaf/live/1/0.m4s")).status, 404);
    assert_eq!(
        get(&brume.url("/hls/live/1000.ts")).status,
        404,
        "a future segment is not served"
    );
}
