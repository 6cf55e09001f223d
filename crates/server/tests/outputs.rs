//! Every HTTP output of a live (looped) stream and of on-demand MP4, FLV and TS
//! files, played by real ffmpeg: HLS (TS), HLS (fMP4), DASH, progressive MP4, TS
//! and FLV.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const OUTPUTS: [&str; 6] = [
    "/hls/{}/index.m3u8",
    "/cmaf/{}/index.m3u8",
    "/cmaf/{}/index.mpd",
    "/{}.mp4",
    "/{}.ts",
    "/{}.flv",
];

fn urls(brume: &Brume, name: &str) -> Vec<String> {
    OUTPUTS
        .iter()
        .map(|p| brume.url(&p.replace("{}", name)))
        .collect()
}

/// Runs `check` on every URL in parallel and reports every failure at once.
fn all_ok(urls: Vec<String>, check: impl Fn(&str) -> Result<(), String> + Sync) {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = urls
            .iter()
            .map(|url| {
                let check = &check;
                scope.spawn(move || check(url).err().map(|e| format!("{url}: {e}")))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn live_stream_plays_through_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip, 4, 30);
    let brume = Brume::start_in(dir, json!({"live": {"source": "clip.mp4", "loop": true}}));
    // Let a few segments complete.
    std::thread::sleep(Duration::from_secs(5));
    all_ok(urls(&brume, "live"), |url| {
        let (frames, errors) = decode_video_frames(url, Some(4.0));
        if !errors.is_empty() {
            return Err(format!("decode errors: {errors}"));
        }
        // 4 s at 30 fps, give or take a GOP (1 s).
        if !(90..=150).contains(&frames) {
            return Err(format!("{frames} video frames decoded"));
        }
        Ok(())
    });
}

fn check_vod(container: &str, file_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    make_clip_as(&dir.path().join(file_name), 3, 30, container);
    let brume = Brume::start_in(dir, json!({"vod": {"source": file_name}}));
    all_ok(urls(&brume, "vod"), |url| {
        let (frames, errors) = decode_video_frames(url, None);
        if !errors.is_empty() {
            return Err(format!("decode errors: {errors}"));
        }
        if !(89..=91).contains(&frames) {
            return Err(format!("{frames} video frames decoded, expected 90"));
        }
        let codecs = probe_codecs(url);
        if codecs != ["aac", "h264"] {
            return Err(format!("codecs {codecs:?}"));
        }
        // A progressive MPEG-TS stream has no duration field to read.
        if !url.ends_with(".ts") {
            let duration = probe_duration(url);
            if (duration - 3.0).abs() > 0.1 {
                return Err(format!("duration {duration}"));
            }
        }
        Ok(())
    });
}

#[test]
fn on_demand_mp4_plays_through_every_output() {
    check_vod("mp4", "vod.mp4");
}

#[test]
fn on_demand_flv_plays_through_every_output() {
    check_vod("flv", "vod.flv");
}

#[test]
fn on_demand_ts_plays_through_every_output() {
    check_vod("mpegts", "vod.ts");
}
