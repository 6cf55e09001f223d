//! Real-player checks of the MPEG-TS muxer and demuxer with ffmpeg and ffprobe:
//!
//! * the bundled demo clip, muxed into one `.ts` by [`mux_segment`], decodes
//!   without a single error and ffprobe sees what the MP4 holds;
//! * the same clip cut at keyframes into independently muxed segments (as HLS
//!   serves them) plays as an HLS playlist without errors and without losing a
//!   frame;
//! * a `.ts` file written by ffmpeg is indexed by [`TsFile`] with the frame counts
//!   and timestamps ffprobe reports, and its frames, read back one by one and
//!   muxed again, decode cleanly.
//!
//! ffmpeg and ffprobe are required: when they are missing these tests fail loudly
//! rather than skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brume_media::mp4::demux::Mp4File;
use brume_media::mpegts::{mux_segment, TsFile};
use brume_media::{scale_ticks, Codec, Frame, Track, TrackKind};

const DEMO: &[u8] = include_bytes!("../../../assets/demo.mp4");
const DEMO_FRAMES: u64 = 300;

// --- tools and temp dirs ----------------------------------------------------

/// Runs `program` with `args`, failing the test with its stderr unless it exits 0.
fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (is it installed and on PATH? these tests need it): {e}")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Decodes `input` completely and returns what ffmpeg printed at level
/// "warning" (errors, and warnings such as corrupt packets or continuity
/// errors).
fn decode_errors(input: &Path) -> String {
    let out = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "warning",
            "-i",
            path_str(input),
            "-f",
            "null",
            "-",
        ],
    );
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    text
}

/// ffprobe's `-of flat` output as key → value (quotes removed).
fn probe(input: &Path, args: &[&str]) -> HashMap<String, String> {
    let mut all = vec!["-v", "error", "-of", "flat"];
    all.extend_from_slice(args);
    all.push(path_str(input));
    let out = run("ffprobe", &all);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

/// A temp directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("brume-mpegts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

// --- the demo clip ----------------------------------------------------------

/// The demo clip's tracks and every frame in decode order, with all decode times
/// shifted (by the same time in every track) so none is negative.
fn demo_frames() -> (Vec<Track>, Vec<Frame>) {
    let file = Mp4File::open(DEMO).expect("open demo.mp4");
    let tracks: Vec<Track> = file.tracks().iter().map(|t| t.track.clone()).collect();
    let mut frames: Vec<Frame> = file
        .interleaved()
        .into_iter()
        .map(|(id, i)| file.read_frame(DEMO, id, i).expect("read demo frame"))
        .collect();
    let timescale = |id: u32| tracks.iter().find(|t| t.id == id).expect("track").timescale;
    // The earliest decode time, in 90 kHz ticks (negative after the edit list).
    let earliest = frames
        .iter()
        .map(|f| scale_ticks(f.dts, timescale(f.track), 90_000))
        .min()
        .unwrap_or(0);
    if earliest < 0 {
        for f in &mut frames {
            let ts = i64::from(timescale(f.track));
            // Round the shift up so every track lands at or above zero.
            f.dts += (-earliest * ts + 89_999) / 90_000;
        }
    }
    assert!(frames.iter().all(|f| f.dts >= 0));
    (tracks, frames)
}

#[test]
fn demo_clip_muxed_into_one_ts_decodes_cleanly() {
    let dir = TempDir::new("demo");
    let (tracks, frames) = demo_frames();
    let ts = mux_segment(&tracks, &frames).expect("mux");
    let out = dir.join("out.ts");
    std::fs::write(&out, &ts).expect("write ts");

    let errors = decode_errors(&out);
    assert!(errors.is_empty(), "ffmpeg reported: {errors}");

    let info = probe(
        &out,
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,nb_read_frames:format=duration",
        ],
    );
    let get = |k: &str| {
        info.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k} in {info:?}"))
    };
    assert_eq!(get("streams.stream.0.codec_name"), "h264");
    assert_eq!(get("streams.stream.0.width"), "640");
    assert_eq!(get("streams.stream.0.height"), "360");
    assert_eq!(
        get("streams.stream.0.nb_read_frames"),
        DEMO_FRAMES.to_string()
    );
    assert_eq!(get("streams.stream.1.codec_name"), "aac");
    assert_eq!(get("streams.stream.1.sample_rate"), "48000");
    let duration: f64 = get("format.duration").parse().expect("duration");
    assert!((duration - 10.0).abs() < 0.2, "duration {duration}");
}

#[test]
fn demo_clip_as_hls_segments_plays_every_frame() {
    let dir = TempDir::new("hls");
    let (tracks, frames) = demo_frames();
    let video = tracks
        .iter()
        .find(|t| t.kind() == TrackKind::Video)
        .expect("video")
        .clone();

    // Cut before every video keyframe but the first.
    let mut segments: Vec<Vec<Frame>> = vec![Vec::new()];
    for frame in frames {
        let starts = frame.track == video.id && frame.keyframe;
        if starts && segments.last().is_some_and(|s| !s.is_empty()) {
            segments.push(Vec::new());
        }
        segments.last_mut().expect("a segment").push(frame);
    }
    assert!(segments.len() >= 4, "{} segments", segments.len());

    let start_of = |seg: &[Frame]| {
        seg.iter()
            .find(|f| f.track == video.id)
            .map_or(0, |f| f.dts)
    };
    let mut playlist = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n");
    let mut entries = String::new();
    let mut longest = 0f64;
    for (n, seg) in segments.iter().enumerate() {
        let ts = mux_segment(&tracks, seg).expect("mux segment");
        let name = format!("seg{n}.ts");
        std::fs::write(dir.join(&name), &ts).expect("write segment");
        let end = segments.get(n + 1).map_or_else(
            || {
                seg.iter()
                    .filter(|f| f.track == video.id)
                    .map(|f| f.dts)
                    .max()
                    .unwrap_or(0)
                    + 3000
            },
            |next| start_of(next),
        );
        let seconds = (end - start_of(seg)) as f64 / f64::from(video.timescale);
        longest = longest.max(seconds);
        entries.push_str(&format!("#EXTINF:{seconds:.3},\n{name}\n"));
    }
    playlist.push_str(&format!(
        "#EXT-X-TARGETDURATION:{}\n",
        longest.ceil() as u64
    ));
    playlist.push_str(&entries);
    playlist.push_str("#EXT-X-ENDLIST\n");
    let list = dir.join("list.m3u8");
    std::fs::write(&list, playlist).expect("write playlist");

    let errors = decode_errors(&list);
    assert!(errors.is_empty(), "ffmpeg reported: {errors}");
    let info = probe(
        &list,
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ],
    );
    assert_eq!(
        info.get("streams.stream.0.nb_read_frames")
            .map(String::as_str),
        Some(DEMO_FRAMES.to_string().as_str()),
        "{info:?}"
    );
}

// --- a file made by ffmpeg --------------------------------------------------

/// (pts, dts) per packet of each stream index, as ffprobe lists them.
fn probe_packets(input: &Path) -> HashMap<u32, Vec<(i64, i64)>> {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,pts,dts",
            "-of",
            "csv=p=0",
            path_str(input),
        ],
    );
    let mut packets: HashMap<u32, Vec<(i64, i64)>> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let fields: Vec<&str> = line.split(',').collect();
        if let [index, pts, dts, ..] = fields[..] {
            let index: u32 = index.parse().expect("stream index");
            let pts: i64 = pts.parse().expect("pts");
            let dts: i64 = dts.parse().unwrap_or(pts);
            packets.entry(index).or_default().push((pts, dts));
        }
    }
    packets
}

#[test]
fn ffmpeg_ts_file_is_indexed_like_ffprobe_sees_it_and_rereads_cleanly() {
    let dir = TempDir::new("index");
    let input = dir.join("in.ts");
    run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-bf",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "mpegts",
            path_str(&input),
        ],
    );
    let file_handle = std::fs::File::open(&input).expect("open ts");
    let file = TsFile::open(&file_handle).expect("index ts");
    assert_eq!(file.tracks().len(), 2);
    let video = &file.tracks()[0];
    let audio = &file.tracks()[1];
    assert_eq!(
        (video.track.id, video.track.codec, video.track.timescale),
        (1, Codec::H264, 90_000)
    );
    let size = video.track.video.expect("video info");
    assert_eq!((size.width, size.height), (320, 240));
    assert_eq!(
        (audio.track.id, audio.track.codec, audio.track.timescale),
        (2, Codec::Aac, 44_100)
    );

    // Same frames as ffprobe, with the same times.
    let packets = probe_packets(&input);
    let probed_video = &packets[&0];
    let probed_audio = &packets[&1];
    assert_eq!(video.samples.len(), probed_video.len());
    assert_eq!(video.samples.len(), 75);
    for (sample, &(pts, dts)) in video.samples.iter().zip(probed_video) {
        assert_eq!((sample.pts(), sample.dts), (pts, dts));
    }
    assert_eq!(audio.samples.len(), probed_audio.len());
    for (sample, &(pts, _)) in audio.samples.iter().zip(probed_audio) {
        let ours = scale_ticks(sample.dts, 44_100, 90_000);
        assert!((ours - pts).abs() <= 2, "audio at {ours} vs ffprobe {pts}");
    }
    assert!(video.samples[0].keyframe);
    assert_eq!(video.samples.iter().filter(|s| s.keyframe).count(), 3);

    // Read every frame back and mux it again: ffmpeg decodes it all cleanly.
    let mut order: Vec<(i128, u32, usize)> = Vec::new();
    for t in file.tracks() {
        for (i, s) in t.samples.iter().enumerate() {
            order.push((
                i128::from(s.dts) * 1_000_000 / i128::from(t.track.timescale),
                t.track.id,
                i,
            ));
        }
    }
    order.sort_unstable();
    let frames: Vec<Frame> = order
        .iter()
        .map(|&(_, id, i)| {
            let frame = file.read_frame(&file_handle, id, i).expect("read frame");
            let sample = &file.track(id).expect("track").samples[i];
            assert_eq!(frame.data.len(), sample.size as usize);
            frame
        })
        .collect();
    let tracks: Vec<Track> = file.tracks().iter().map(|t| t.track.clone()).collect();
    let remuxed = dir.join("remuxed.ts");
    std::fs::write(&remuxed, mux_segment(&tracks, &frames).expect("remux")).expect("write remux");
    let errors = decode_errors(&remuxed);
    assert!(errors.is_empty(), "ffmpeg reported: {errors}");
    let info = probe(
        &remuxed,
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
        ],
    );
    assert_eq!(
        info.get("streams.stream.0.nb_read_frames")
            .map(String::as_str),
        Some("75"),
        "{info:?}"
    );
    assert_eq!(
        info.get("streams.stream.1.codec_name").map(String::as_str),
        Some("aac")
    );
}
