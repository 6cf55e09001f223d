//! Progressive MP4 over HTTP, played by real ffmpeg/ffprobe: the looping demo, a
//! looped generated clip, an on-demand file, and a corrupt source beside good ones.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn save(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn strictly_increasing(values: &[f64]) -> bool {
    values.windows(2).all(|w| w[1] > w[0])
}

#[test]
fn demo_stream_plays_h264_and_aac_with_increasing_timestamps() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let response = request("GET", &brume.url("/demo.mp4"), &[], Duration::from_secs(3));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("video/mp4"));
    let file = save(brume.dir.path(), "got.mp4", whole_boxes(&response.body));

    assert_eq!(
        decode_errors(&file),
        "",
        "ffmpeg reported errors decoding the live MP4"
    );
    let codecs = probe_codecs(&file);
    assert_eq!(codecs, vec!["aac", "h264"]);
    let packets = probe_packets(&file);
    let video: Vec<f64> = packets
        .iter()
        .filter(|p| p.stream == "video")
        .map(|p| p.dts)
        .collect();
    let audio: Vec<f64> = packets
        .iter()
        .filter(|p| p.stream == "audio")
        .map(|p| p.dts)
        .collect();
    assert!(
        video.len() >= 60,
        "only {} video frames in 3 s",
        video.len()
    );
    assert!(
        audio.len() >= 60,
        "only {} audio frames in 3 s",
        audio.len()
    );
    assert!(
        strictly_increasing(&video),
        "video dts not strictly increasing"
    );
    assert!(
        strictly_increasing(&audio),
        "audio dts not strictly increasing"
    );
}

#[test]
fn looped_short_clip_keeps_time_moving_forward_across_passes() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("two.mp4");
    make_clip(&clip, 2, 30);
    let brume = Brume::start_in(
        dir,
        json!({"loop2": {"source": clip.to_str().unwrap(), "loop": true}}),
    );
    let response = request("GET", &brume.url("/loop2.mp4"), &[], Duration::from_secs(5));
    assert_eq!(response.status, 200);
    let file = save(brume.dir.path(), "got.mp4", whole_boxes(&response.body));
    assert_eq!(decode_errors(&file), "");
    let packets = probe_packets(&file);
    for kind in ["video", "audio"] {
        let dts: Vec<f64> = packets
            .iter()
            .filter(|p| p.stream == kind)
            .map(|p| p.dts)
            .collect();
        assert!(
            strictly_increasing(&dts),
            "{kind} timestamps went backwards"
        );
        let span = dts.last().unwrap() - dts.first().unwrap();
        // 5 s of reading a 2 s clip crosses at least two loop boundaries.
        assert!(span > 4.0, "{kind} only spans {span:.2} s");
    }
}

#[test]
fn on_demand_file_is_served_whole_with_the_right_duration() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("vod.mp4");
    make_clip(&clip, 3, 30);
    let brume = Brume::start_in(dir, json!({"vod": {"source": "vod.mp4"}}));
    let response = get(&brume.url("/vod.mp4"));
    assert_eq!(response.status, 200);
    let file = save(brume.dir.path(), "got.mp4", &response.body);
    assert_eq!(decode_errors(&file), "");
    let original = probe_packets(clip.to_str().unwrap());
    let served = probe_packets(&file);
    assert_eq!(served.len(), original.len(), "every sample is served once");
    let sizes = |p: &[Packet]| p.iter().map(|p| p.size).sum::<u64>();
    assert_eq!(sizes(&served), sizes(&original), "payload bytes are kept");
    let duration = probe_duration(&file);
    assert!((duration - 3.0).abs() < 0.1, "duration {duration}");

    let info = get(&brume.url("/json_vod.js")).json();
    assert_eq!(info["type"], "vod");
    assert_eq!(info["width"], 320);
    assert_eq!(info["height"], 240);
}

#[test]
fn corrupt_source_reports_an_error_and_other_streams_keep_playing() {
    let dir = tempfile::tempdir().unwrap();
    let mut good =
        std::fs::read(env!("CARGO_MANIFEST_DIR").to_owned() + "/../../assets/demo.mp4").unwrap();
    std::fs::write(
        dir.path().join("notmp4.mp4"),
        b"FLV\x01\x05\x00\x00\x00\x09 this is not an mp4",
    )
    .unwrap();
    good.truncate(good.len() / 3);
    std::fs::write(dir.path().join("truncated.mp4"), &good).unwrap();
    std::fs::write(
        dir.path().join("unknown.bin"),
        b"RIFF\x00\x01\x02\x03WAVEfmt no video",
    )
    .unwrap();
    // An FLV header followed by a tag that claims more bytes than exist.
    let flv = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\xff\xff\xff\x00\x00";
    std::fs::write(dir.path().join("bad.flv"), flv).unwrap();
    // MPEG-TS sync bytes with nothing decodable between them.
    let mut ts = vec![0xffu8; 188 * 20];
    for packet in ts.chunks_mut(188) {
        packet[0] = 0x47;
    }
    std::fs::write(dir.path().join("bad.ts"), &ts).unwrap();
    let brume = Brume::start_in(
        dir,
        json!({
            "demo": {"source": "builtin:demo", "loop": true},
            "notmp4": {"source": "notmp4.mp4"},
            "truncated": {"source": "truncated.mp4", "loop": true},
            "missing": {"source": "/nonexistent/file.mp4"},
            "unknown": {"source": "unknown.bin"},
            "badflv": {"source": "bad.flv"},
            "badts": {"source": "bad.ts"},
        }),
    );
    std::thread::sleep(Duration::from_millis(500));
    for name in [
        "notmp4",
        "truncated",
        "missing",
        "unknown",
        "badflv",
        "badts",
    ] {
        let info = get(&brume.url(&format!("/json_{name}.js")));
        assert_eq!(info.status, 200);
        let doc = info.json();
        let error = doc["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no error in {doc}"));
        assert!(!error.is_empty());
        assert_ne!(
            error, "Stream is offline",
            "{name}: the reason should be given"
        );
        let media = get(&brume.url(&format!("/{name}.mp4")));
        assert!(media.status >= 400, "{name}.mp4 answered {}", media.status);
    }
    // Viewers get a fixed sentence (no path, no file bytes); the log has the rest.
    let unknown = get(&brume.url("/json_unknown.js")).json();
    assert_eq!(
        unknown["error"], "the source is not a media file",
        "{unknown}"
    );
    let missing = get(&brume.url("/json_missing.js")).json();
    assert_eq!(
        missing["error"], "the source file cannot be opened",
        "{missing}"
    );
    let logged = brume.log_lines().join("\n");
    assert!(
        logged.contains("unknown.bin") && logged.contains("unknown container"),
        "the log says why"
    );
    assert!(
        logged.contains("/nonexistent/file.mp4"),
        "the log says which file"
    );

    let response = request("GET", &brume.url("/demo.mp4"), &[], Duration::from_secs(2));
    assert_eq!(response.status, 200);
    let file = save(brume.dir.path(), "demo.mp4", whole_boxes(&response.body));
    assert_eq!(decode_errors(&file), "");
    assert_eq!(probe_codecs(&file), vec!["aac", "h264"]);
}

#[test]
fn selectors_send_only_the_chosen_tracks() {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let cases = [
        ("/demo.mp4?audio=none", "mp4", vec!["h264"]),
        ("/demo.ts?video=none", "ts", vec!["aac"]),
        ("/demo.flv?video=1&audio=none", "flv", vec!["h264"]),
        ("/demo.mp4?video=none&audio=2", "mp4", vec!["aac"]),
        ("/demo.ts?video=all&audio=all", "ts", vec!["aac", "h264"]),
    ];
    for (i, (path, ext, codecs)) in cases.iter().enumerate() {
        let response = request("GET", &brume.url(path), &[], Duration::from_secs(2));
        assert_eq!(response.status, 200, "{path}");
        let body = if *ext == "mp4" {
            whole_boxes(&response.body)
        } else {
            &response.body[..]
        };
        let file = save(brume.dir.path(), &format!("sel{i}.{ext}"), body);
        assert_eq!(&probe_codecs(&file), codecs, "{path}");
        assert_eq!(decode_errors(&file), "", "{path}: decoding errors");
        let packets = probe_packets(&file);
        assert!(
            packets.len() >= 20,
            "{path}: only {} packets",
            packets.len()
        );
        assert!(
            packets
                .iter()
                .all(|p| codecs.len() == 2 || p.stream == packets[0].stream),
            "{path}: packets of an unselected track"
        );
    }
    // A track that does not exist, or nonsense, is a client error.
    for path in [
        "/demo.mp4?audio=7",
        "/demo.ts?video=x",
        "/demo.flv?video=none&audio=none",
    ] {
        let response = request("GET", &brume.url(path), &[], Duration::from_secs(2));
        assert_eq!(response.status, 400, "{path}");
    }
}
