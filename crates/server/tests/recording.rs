//! Recording: an RTMP publish (ffmpeg) or a looped file recorded into segment
//! files that ffprobe/ffmpeg read alone, crash safety under `kill -9`, API
//! start/stop, retention, RECORDING_END, metrics, an unwritable folder, and
//! playback of a time range as MP4 and HLS.

#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use api_client::{wait_for, Client};
use common::hook_backend::Backend;
use common::{Brume, Publisher};
use serde_json::{json, Value};

/// Every recording folder under `root` (`root/STREAM/DATETIME`), sorted.
fn recordings(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for stream in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for rec in std::fs::read_dir(stream.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if rec.path().join("index.jsonl").exists() {
                found.push(rec.path());
            }
        }
    }
    found.sort();
    found
}

/// The index lines of a recording folder.
fn index(folder: &Path) -> Vec<Value> {
    std::fs::read_to_string(folder.join("index.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an index line is JSON"))
        .collect()
}

fn files_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "index.jsonl")
        .collect();
    names.sort();
    names
}

fn record_config(root: &Path, format: &str) -> Value {
    json!({
        "path": format!("{}/$stream/$datetime", root.display()),
        "format": format,
        "segment_s": 1,
    })
}

#[test]
fn an_rtmp_publish_is_recorded_and_survives_kill_9() {
    let rec = tempfile::tempdir().unwrap();
    let backend = Backend::start(|_, _| Some("true".to_owned()));
    let config = json!({
        "streams": {"cam": {"source": "push://", "record": record_config(rec.path(), "ts")}},
        "triggers": {"RECORDING_END": [{"handler": backend.url}]},
    });
    let mut brume = Brume::start_with(tempfile::tempdir().unwrap(), config.clone());
    let _publisher = Publisher::start(&format!("rtmp://{}/live/cam", brume.rtmp_addr()), 60);
    // The publisher's GOP is 2 s: segments of 1 s target are cut every 2 s.
    let folder = wait_for(Duration::from_secs(30), "three recorded segments", || {
        recordings(rec.path())
            .into_iter()
            .find(|f| index(f).len() >= 3)
    });
    let status = Client::of(&brume).get("/api/v1/streams/cam").json();
    assert_eq!(status["recording"]["active"], true, "{status}");
    let metrics = String::from_utf8(common::get(&brume.api_url("/metrics")).body).unwrap();
    assert!(metrics.contains("brume_recordings_active 1"), "{metrics}");
    assert!(
        metrics.contains("brume_recording_bytes_total{stream=\"cam\"}"),
        "{metrics}"
    );

    // kill -9 mid-recording: every indexed segment is complete and plays alone;
    // nothing but indexed segments is left in the folder.
    brume.child.kill().unwrap();
    brume.child.wait().unwrap();
    let entries = index(&folder);
    assert!(entries.len() >= 3);
    let listed: Vec<String> = entries
        .iter()
        .map(|e| e["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        files_in(&folder),
        listed,
        "only finished segments are on disk"
    );
    for entry in &entries {
        let file = folder.join(entry["file"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            entry["bytes"].as_u64().unwrap()
        );
        let errors = common::decode_errors(file.to_str().unwrap());
        assert!(errors.is_empty(), "{}: {errors}", file.display());
        let codecs = common::probe_codecs(file.to_str().unwrap());
        assert_eq!(codecs, ["aac", "h264"], "{}", file.display());
        let duration = common::probe_duration(file.to_str().unwrap());
        let indexed = entry["duration_ms"].as_f64().unwrap() / 1000.0;
        assert!(
            (duration - indexed).abs() < 0.5 && (1.5..=3.0).contains(&indexed),
            "{}: ffprobe {duration} s, index {indexed} s",
            file.display()
        );
    }
    drop(brume);

    // After a restart the stream records into a new recording. The publisher
    // stops after 8 s: once the stream goes offline the recording ends, its
    // open segment written, and RECORDING_END fires.
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), config);
    let publisher = Publisher::start(&format!("rtmp://{}/live/cam", brume.rtmp_addr()), 8);
    let second = wait_for(Duration::from_secs(30), "a second recording", || {
        recordings(rec.path())
            .into_iter()
            .find(|f| *f != folder && !index(f).is_empty())
    });
    assert_eq!(
        index(&folder).len(),
        entries.len(),
        "the old one is left alone"
    );
    let payload = backend.wait_for("RECORDING_END", Duration::from_secs(30), |_| true);
    drop(publisher);
    let lines: Vec<&str> = payload.lines().collect();
    assert_eq!(lines[0], "cam", "{payload}");
    assert_eq!(lines[1], second.to_str().unwrap(), "{payload}");
    assert_eq!(lines[2], "ts");
    let bytes: u64 = lines[3].parse().unwrap();
    let on_disk: u64 = index(&second)
        .iter()
        .map(|e| e["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(bytes, on_disk, "{payload}");
    assert!(lines[6].parse::<u64>().unwrap() >= lines[5].parse::<u64>().unwrap());
    let media_ms: u64 = lines[7].parse().unwrap();
    assert!(
        (5_000..=9_000).contains(&media_ms),
        "8 s published, {media_ms} ms recorded: {payload}"
    );
    let api = Client::of(&brume);
    assert_eq!(api.delete("/api/v1/streams/cam/recording").status, 204);
    let status = api.get("/api/v1/streams/cam").json();
    assert_eq!(status["recording"]["active"], false, "{status}");
    assert_eq!(status["recording"]["stopped_by_api"], true, "{status}");
}
#[test]
fn recording_started_by_api_as_fmp4_keeps_to_its_byte_limit() {
    let rec = tempfile::tempdir().unwrap();
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = Client::of(&brume);
    // Without settings in the body or the configuration: refused, naming why.
    let refused = api.post("/api/v1/streams/demo/recording", "");
    assert_eq!(refused.status, 400);
    assert_eq!(api.post("/api/v1/streams/nope/recording", "").status, 404);
    let mut settings = record_config(rec.path(), "fmp4");
    settings["retention"] = json!({"max_bytes": 400_000});
    let started = api.post("/api/v1/streams/demo/recording", &settings.to_string());
    assert_eq!(
        started.status,
        202,
        "{}",
        String::from_utf8_lossy(&started.body)
    );
    let folder = wait_for(Duration::from_secs(40), "six recorded segments", || {
        recordings(rec.path())
            .into_iter()
            .find(|f| index(f).len() >= 6)
    });
    // Each segment is a self-contained MP4.
    let files = files_in(&folder);
    let newest = folder.join(files.last().unwrap());
    let errors = common::decode_errors(newest.to_str().unwrap());
    assert!(errors.is_empty(), "{errors}");
    assert!(common::probe_duration(newest.to_str().unwrap()) > 0.5);
    // Retention removed the oldest and kept the newest, within the limit.
    assert!(!files.contains(&"000001.mp4".to_owned()), "{files:?}");
    let kept: u64 = files
        .iter()
        .map(|f| std::fs::metadata(folder.join(f)).unwrap().len())
        .sum();
    assert!(kept <= 400_000, "{kept} bytes kept: {files:?}");
    let listed = api.get("/api/v1/streams/demo/recordings").json();
    let first = &listed["recordings"][0];
    // Its HLS playlist (init segment and media by byte range) decodes.
    let playlist = brume.api_url(&format!(
        "/api/v1/streams/demo/recordings/{}/index.m3u8",
        first["id"].as_str().unwrap()
    ));
    let (frames, errors) = common::decode_video_frames(&playlist, None);
    assert!(frames >= 50, "fMP4 HLS decoded {frames} frames: {errors}");
    assert_eq!(first["stream"], "demo", "{listed}");
    assert_eq!(first["bytes"].as_u64(), Some(kept), "{listed}");
    assert!(first["duration_s"].as_f64().unwrap() > 1.0, "{listed}");
}

#[test]
fn an_unwritable_folder_is_reported_and_the_stream_plays_on() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"streams": {"demo": {
            "source": "builtin:demo", "loop": true,
            "record": {"path": format!("{}/$stream", blocker.display())},
        }}}),
    );
    let api = Client::of(&brume);
    let status = wait_for(Duration::from_secs(20), "a recording error", || {
        let status = api.get("/api/v1/streams/demo").json();
        status["recording"]["error"].is_string().then_some(status)
    });
    let error = status["recording"]["error"].as_str().unwrap();
    assert!(error.contains("not-a-folder"), "{error}");
    assert_eq!(status["status"], "online");
    assert!(brume
        .log_lines()
        .iter()
        .any(|l| l.contains("recording stopped; retrying")));
    let (frames, errors) = common::decode_video_frames(&brume.url("/demo.mp4"), Some(1.0));
    assert!(frames > 10, "{frames} {errors}");
}

/// Playback of a 10 s range (kept short for the test's time budget; the demo
/// loop's GOP bounds the error): one seekable MP4 whose duration ffprobe reads
/// as the range ± one GOP, and an HLS VoD playlist that ffmpeg decodes.
#[test]
fn a_time_range_plays_back_as_mp4_and_as_hls() {
    let rec = tempfile::tempdir().unwrap();
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"streams": {"demo": {
            "source": "builtin:demo", "loop": true,
            "record": record_config(rec.path(), "ts"),
        }}}),
    );
    let api = Client::of(&brume);
    let recording = wait_for(Duration::from_secs(40), "16 s recorded", || {
        let list = api.get("/api/v1/streams/demo/recordings").json();
        let first = list["recordings"][0].clone();
        (first["duration_s"].as_f64().unwrap_or(0.0) >= 16.0).then_some(first)
    });
    let id = recording["id"].as_str().unwrap();
    let start_ms = recording["start_unix_ms"].as_i64().unwrap() + 3000;
    // ISO-8601 start, unix-seconds end.
    let start = recording_time(start_ms);
    let end = format!("{:.3}", (start_ms + 10_000) as f64 / 1000.0);
    let base = format!("/api/v1/streams/demo/recordings/{id}");
    let mp4 = brume.api_url(&format!("{base}/recording.mp4?start={start}&end={end}"));
    let response = common::get(&mp4);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("content-type"), Some("video/mp4"));
    assert_eq!(&response.body[4..8], b"ftyp");
    let file = rec.path().join("range.mp4");
    std::fs::write(&file, &response.body).unwrap();
    let duration = common::probe_duration(file.to_str().unwrap());
    let segments: Vec<Value> = index(&recordings(rec.path())[0]);
    let gop = segments
        .iter()
        .map(|s| s["duration_ms"].as_f64().unwrap() / 1000.0)
        .fold(0.0, f64::max);
    assert!(
        (duration - 10.0).abs() <= gop + 0.1,
        "the MP4 of a 10 s range lasts {duration} s (GOP {gop} s)"
    );
    let errors = common::decode_errors(file.to_str().unwrap());
    assert!(errors.is_empty(), "{errors}");
    // The moov comes first (seekable without reading the whole file).
    let moov = response.body.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = response.body.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat);
    // Byte ranges.
    let tail = api
        .with("Range", "bytes=100-199")
        .get(&format!("{base}/recording.mp4?start={start}&end={end}"));
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, &response.body[100..200]);

    let playlist = brume.api_url(&format!("{base}/index.m3u8?start={start}&end={end}"));
    let text = String::from_utf8(common::get(&playlist).body).unwrap();
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
    let (frames, errors) = common::decode_video_frames(&playlist, None);
    assert!(
        frames >= 150,
        "HLS of the range decoded {frames} frames: {errors}"
    );
    // Outside the recording: a clear 400.
    let none = api.get(&format!("{base}/index.m3u8?start=1000&end=2000"));
    assert_eq!(none.status, 400);
    let bad = api.get(&format!("{base}/index.m3u8?start=yesterday"));
    assert_eq!(bad.status, 400);
}

/// `unix_ms` as ISO-8601 (UTC), via the `date` tool.
fn recording_time(unix_ms: i64) -> String {
    let out = common::run_tool(
        "date",
        &[
            "-u",
            "-d",
            &format!("@{}", unix_ms / 1000),
            "+%Y-%m-%dT%H:%M:%S",
        ],
    );
    format!(
        "{}.{:03}Z",
        String::from_utf8(out.stdout).unwrap().trim(),
        unix_ms % 1000
    )
}
