//! HLS and DASH documents as players read them: the tags they need, a live media
//! sequence that advances, and no segment listed before it is complete.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn tag_value<'a>(playlist: &'a str, tag: &str) -> Option<&'a str> {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix(tag).and_then(|rest| rest.strip_prefix(':')))
}

fn extinfs(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn segment_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn text_of(response: &Response) -> String {
    String::from_utf8(response.body.clone()).unwrap()
}

#[test]
fn live_hls_advances_and_lists_only_complete_segments() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 4, 30);
    let brume = Brume::start_in(dir, json!({"live": {"source": "clip.mp4", "loop": true}}));
    std::thread::sleep(Duration::from_secs(5));

    let master = get(&brume.url("/hls/live/index.m3u8"));
    assert_eq!(master.status, 200);
    assert_eq!(
        master.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let master_text = text_of(&master);
    assert!(master_text.starts_with("#EXTM3U"), "{master_text}");
    assert!(master_text.contains("#EXT-X-STREAM-INF:"), "{master_text}");
    assert!(
        master_text.contains("avc1.") && master_text.contains("mp4a.40.2"),
        "{master_text}"
    );
    let media_uri = segment_uris(&master_text).remove(0);

    let first = text_of(&get(&brume.url(&format!("/hls/live/{media_uri}"))));
    let first_sequence: u64 = tag_value(&first, "#EXT-X-MEDIA-SEQUENCE")
        .unwrap()
        .parse()
        .unwrap();
    let target: f64 = tag_value(&first, "#EXT-X-TARGETDURATION")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !first.contains("#EXT-X-ENDLIST"),
        "live playlists never end"
    );
    for duration in extinfs(&first) {
        assert!(duration <= target, "EXTINF {duration} over target {target}");
    }
    // Every listed segment is complete: fetched now and later, it is the same bytes.
    let uris = segment_uris(&first);
    assert!(uris.len() >= 2, "{first}");
    let newest = uris.last().unwrap();
    let now = get(&brume.url(&format!("/hls/live/{newest}")));
    assert_eq!(now.status, 200);
    assert_eq!(decode_errors_of_bytes(&brume, &now.body, "ts"), "");

    std::thread::sleep(Duration::from_secs(5));
    let later = text_of(&get(&brume.url(&format!("/hls/live/{media_uri}"))));
    let later_sequence: u64 = tag_value(&later, "#EXT-X-MEDIA-SEQUENCE")
        .unwrap()
        .parse()
        .unwrap();
    let later_uris = segment_uris(&later);
    assert!(
        later_uris.last() != uris.last(),
        "new segments appear as the stream plays"
    );
    assert!(later_sequence >= first_sequence);
    assert_eq!(
        get(&brume.url(&format!("/hls/live/{newest}"))).body,
        now.body
    );
}

fn decode_errors_of_bytes(brume: &Brume, bytes: &[u8], ext: &str) -> String {
    let path = brume.dir.path().join(format!("check.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    decode_errors(path.to_str().unwrap())
}

#[test]
fn cmaf_hls_and_dash_documents_carry_the_required_tags() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 4, 30);
    let brume = Brume::start_in(
        dir,
        json!({"live": {"source": "clip.mp4", "loop": true}, "vod": {"source": "clip.mp4"}}),
    );
    std::thread::sleep(Duration::from_secs(5));

    for name in ["live", "vod"] {
        let master = text_of(&get(&brume.url(&format!("/cmaf/{name}/index.m3u8"))));
        assert!(master.contains("#EXT-X-STREAM-INF:"), "{master}");
        assert!(master.contains("TYPE=AUDIO"), "{master}");
        let video_uri = segment_uris(&master).remove(0);
        let media = text_of(&get(&brume.url(&format!("/cmaf/{name}/{video_uri}"))));
        assert_eq!(tag_value(&media, "#EXT-X-VERSION"), Some("7"), "{media}");
        assert!(
            tag_value(&media, "#EXT-X-MAP").is_some_and(|v| v.contains("URI=")),
            "{media}"
        );
        assert_eq!(media.contains("#EXT-X-ENDLIST"), name == "vod", "{media}");

        let mpd = get(&brume.url(&format!("/cmaf/{name}/index.mpd")));
        assert_eq!(mpd.header("content-type"), Some("application/dash+xml"));
        let mpd = text_of(&mpd);
        assert!(mpd.contains("<MPD"), "{mpd}");
        assert!(
            mpd.contains("SegmentTemplate") && mpd.contains("SegmentTimeline"),
            "{mpd}"
        );
        if name == "live" {
            assert!(mpd.contains("type=\"dynamic\""), "{mpd}");
            assert!(mpd.contains("availabilityStartTime="), "{mpd}");
            assert!(mpd.contains("minimumUpdatePeriod="), "{mpd}");
        } else {
            assert!(mpd.contains("type=\"static\""), "{mpd}");
            assert!(mpd.contains("mediaPresentationDuration=\"PT4"), "{mpd}");
        }
    }
    let vod = text_of(&get(&brume.url("/hls/vod/media.m3u8")));
    assert!(vod.contains("#EXT-X-ENDLIST"), "{vod}");
    let total: f64 = extinfs(&vod).iter().sum();
    assert!((total - 4.0).abs() < 0.1, "VoD playlist lasts {total} s");
}
