//! The MP4 file demuxer on real files: the bundled ffmpeg-made clip, files
//! ffmpeg writes with other layouts and codecs (cross-checked sample by sample
//! against ffprobe), and corrupt or hostile inputs, which must give errors —
//! never panics, never huge allocations, never whole-file reads.
//!
//! Tests that generate files need `ffmpeg` and `ffprobe` on the PATH and fail
//! loudly when they are missing.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use brume_media::mp4::demux::{Mp4Error, Mp4File, MAX_MOOV_SIZE};
use brume_media::{Codec, ReadAt};

const CLIP: &[u8] = include_bytes!("../../../assets/demo.mp4");
const CLIP_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/demo.mp4");

// ---------------------------------------------------------------- helpers

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("brume-mp4-demux-{}-{tag}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `program args`, failing the test (never skipping it) when the program
/// is missing or fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test but could not be started: {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Whitespace-separated literal arguments followed by `tail`.
fn words<'a>(literal: &'a str, tail: &[&'a str]) -> Vec<&'a str> {
    literal
        .split_whitespace()
        .chain(tail.iter().copied())
        .collect()
}

fn ffmpeg(args: &[&str]) {
    let mut all = vec!["-y", "-hide_banner", "-loglevel", "error"];
    all.extend_from_slice(args);
    run("ffmpeg", &all);
}

/// One packet as ffprobe reports it (timestamps in the stream time base).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    size: u32,
    dts: i64,
    pts: i64,
    key: bool,
}

/// ffprobe's packets of `path` in decode order, with the stream time base's
/// denominator, by MP4 track id.
fn ffprobe_packets(path: &Path) -> HashMap<u32, (u32, Vec<Packet>)> {
    let path = path.to_str().expect("utf-8 path");
    let streams = run(
        "ffprobe",
        &words(
            "-v error -show_entries stream=index,id,time_base -of compact=p=0",
            &[path],
        ),
    );
    let mut track_of = HashMap::new();
    for line in streams.lines() {
        let f = fields(line);
        let index: u32 = f["index"].parse().expect("stream index");
        let id = u32::from_str_radix(f["id"].trim_start_matches("0x"), 16).expect("stream id");
        let scale = f["time_base"].trim_start_matches("1/");
        track_of.insert(index, (id, scale.parse::<u32>().expect("time base")));
    }
    let packets = run(
        "ffprobe",
        &words(
            "-v error -show_entries packet=stream_index,pts,dts,size,flags -of compact=p=0",
            &[path],
        ),
    );
    let mut out: HashMap<u32, (u32, Vec<Packet>)> = HashMap::new();
    for line in packets.lines().filter(|l| !l.trim().is_empty()) {
        let f = fields(line);
        let (track, scale) = track_of[&f["stream_index"].parse::<u32>().expect("index")];
        out.entry(track)
            .or_insert((scale, Vec::new()))
            .1
            .push(Packet {
                size: f["size"].parse().expect("size"),
                dts: f["dts"].parse().expect("dts"),
                pts: f["pts"].parse().expect("pts"),
                key: f["flags"].starts_with('K'),
            });
    }
    out
}

fn fields(line: &str) -> HashMap<&str, &str> {
    line.split('|')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// Checks that `data` is a sequence of 4-byte length-prefixed NAL units that
/// exactly fills it; returns the NAL unit types (H.264).
fn nal_types(data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "dangling length prefix");
        let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        assert!(
            len > 0 && 4 + len <= rest.len(),
            "NAL length {len} overruns the sample"
        );
        types.push(rest[4] & 0x1f);
        rest = &rest[4 + len..];
    }
    types
}

/// Opens `path`, compares every sample of every supported track with ffprobe
/// (size, dts, pts, keyframe), reads every frame, and returns the index.
fn assert_matches_ffprobe(path: &Path) -> Mp4File {
    let file = std::fs::File::open(path).expect("open generated file");
    let mp4 = Mp4File::open(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let probe = ffprobe_packets(path);
    for t in mp4.tracks() {
        let id = t.track.id;
        let (scale, packets) = &probe[&id];
        assert_eq!(
            *scale, t.track.timescale,
            "ffprobe time base is 1/timescale"
        );
        assert_eq!(
            t.samples.len(),
            packets.len(),
            "{}: track {id} sample count",
            path.display()
        );
        for (i, (s, p)) in t.samples.iter().zip(packets).enumerate() {
            let ours = Packet {
                size: s.size,
                dts: s.dts,
                pts: s.pts(),
                key: s.keyframe,
            };
            assert_eq!(&ours, p, "{}: track {id} sample {i}", path.display());
            let frame = mp4.read_frame(&file, id, i).expect("read frame");
            assert_eq!(frame.data.len(), s.size as usize);
            assert_eq!(
                (frame.dts, frame.pts(), frame.keyframe),
                (s.dts, s.pts(), s.keyframe)
            );
            if t.track.codec != Codec::Aac {
                nal_types(&frame.data);
            }
        }
    }
    mp4
}

/// Top-level box types of `data`, in order (test-only walker).
fn top_level(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        out.push(String::from_utf8_lossy(&data[pos + 4..pos + 8]).into_owned());
        if size < 8 {
            break;
        }
        pos += size;
    }
    out
}

/// Offset of the first occurrence of `kind` as a box type in `data`, pointing
/// at the box's size field.
fn find_box(data: &[u8], kind: &[u8; 4]) -> usize {
    data.windows(4)
        .position(|w| w == kind)
        .expect("box present")
        - 4
}

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

// ---------------------------------------------------------------- the bundled clip

#[test]
fn demo_clip_has_one_h264_and_one_aac_track_with_the_expected_samples() {
    let mp4 = Mp4File::open(CLIP).unwrap();
    assert_eq!(mp4.tracks().len(), 2);
    let video = mp4.track(1).expect("video track 1");
    let audio = mp4.track(2).expect("audio track 2");

    assert_eq!(video.track.codec, Codec::H264);
    assert_eq!(video.track.codec_string, "avc1.64001e");
    assert_eq!(video.track.timescale, 15_360);
    let v = video.track.video.expect("video info");
    assert_eq!((v.width, v.height), (640, 360));
    assert_eq!(video.samples.len(), 300);
    assert_eq!(
        video.track.init.first(),
        Some(&1),
        "init is the avcC record"
    );
    assert_eq!(video.nal_length_size, Some(4));

    assert_eq!(audio.track.codec, Codec::Aac);
    assert_eq!(audio.track.codec_string, "mp4a.40.2");
    assert_eq!(audio.track.timescale, 48_000);
    let a = audio.track.audio.expect("audio info");
    assert_eq!((a.sample_rate, a.channels), (48_000, 2));
    assert_eq!(audio.samples.len(), 470);
    assert!(
        audio.track.init.starts_with(&[0x11, 0x90]),
        "AudioSpecificConfig: AAC-LC 48 kHz stereo, got {:02x?}",
        &audio.track.init[..]
    );
    assert!(mp4.track(3).is_none());
}

#[test]
fn demo_clip_keyframes_are_every_60_frames_and_all_audio_frames() {
    let mp4 = Mp4File::open(CLIP).unwrap();
    let video = &mp4.track(1).unwrap().samples;
    let keys: Vec<usize> = (0..video.len()).filter(|&i| video[i].keyframe).collect();
    assert_eq!(keys, [0, 60, 120, 180, 240]);
    assert!(mp4.track(2).unwrap().samples.iter().all(|s| s.keyframe));
}

#[test]
fn demo_clip_lasts_ten_seconds_and_the_edit_list_starts_presentation_at_zero() {
    let mp4 = Mp4File::open(CLIP).unwrap();
    let duration = mp4.duration_ms();
    assert!(
        (9_900..=10_100).contains(&duration),
        "duration {duration} ms"
    );
    for t in mp4.tracks() {
        let seconds = t.duration_ticks() as f64 / t.track.timescale as f64;
        assert!(
            (9.9..=10.1).contains(&seconds),
            "track {} lasts {seconds} s",
            t.track.id
        );
        for pair in t.samples.windows(2) {
            assert!(
                pair[1].dts > pair[0].dts,
                "track {} dts not increasing",
                t.track.id
            );
        }
    }
    // ffmpeg's edit lists: B-frame delay (2 frames of 512) and AAC priming (1024).
    let video = mp4.track(1).unwrap();
    assert_eq!(video.edit_offset, -1024);
    assert_eq!(video.samples[0].dts, -1024);
    assert_eq!(video.samples.iter().map(|s| s.pts()).min(), Some(0));
    let audio = mp4.track(2).unwrap();
    assert_eq!(audio.samples[0].dts, -1024);
    assert_eq!(audio.samples[1].dts, 0);
}

#[test]
fn demo_clip_frames_are_length_prefixed_nal_units_and_raw_aac() {
    let mp4 = Mp4File::open(CLIP).unwrap();
    let first = mp4.read_frame(CLIP, 1, 0).unwrap();
    assert!(first.keyframe);
    assert_eq!((first.track, first.dts, first.pts()), (1, -1024, 0));
    let types = nal_types(&first.data);
    assert!(types.contains(&5), "first picture is an IDR: {types:?}");
    for i in 0..300 {
        let frame = mp4.read_frame(CLIP, 1, i).unwrap();
        assert!(!nal_types(&frame.data).is_empty());
    }
    let aac = mp4.read_frame(CLIP, 2, 5).unwrap();
    assert_eq!(
        aac.data.len(),
        mp4.track(2).unwrap().samples[5].size as usize
    );
    assert_ne!(&aac.data[..2], &[0xff, 0xf1], "no ADTS header");

    assert!(matches!(
        mp4.read_frame(CLIP, 1, 300),
        Err(Mp4Error::SampleOutOfRange {
            track: 1,
            index: 300
        })
    ));
    assert!(matches!(
        mp4.read_frame(CLIP, 9, 0),
        Err(Mp4Error::NoSuchTrack { track: 9 })
    ));
    // The file changed under the index: an error, not a panic.
    assert!(mp4.read_frame(&CLIP[..1000], 1, 0).is_err());
}

#[test]
fn demo_clip_interleaves_by_time_across_tracks() {
    let mp4 = Mp4File::open(CLIP).unwrap();
    let order = mp4.interleaved();
    assert_eq!(order.len(), 770);
    let mut next = HashMap::new();
    let mut last_seconds = f64::MIN;
    for &(id, index) in &order {
        let expected = next.entry(id).or_insert(0usize);
        assert_eq!(index, *expected, "track {id} out of order");
        *expected += 1;
        let t = mp4.track(id).unwrap();
        let seconds = t.samples[index].dts as f64 / t.track.timescale as f64;
        assert!(seconds >= last_seconds);
        last_seconds = seconds;
    }
    // Both tracks start at -1024 ticks, but 1024/15360 s > 1024/48000 s: video
    // -66.7 ms, video -33.3 ms, audio -21.3 ms.
    assert_eq!(order[..3], [(1, 0), (1, 1), (2, 0)]);
}

#[test]
fn demo_clip_matches_ffprobe_sample_for_sample() {
    assert_matches_ffprobe(Path::new(CLIP_PATH));
}

// ---------------------------------------------------------------- files ffmpeg writes

#[test]
fn moov_after_mdat_is_found_without_reading_the_mdat() {
    let dir = TempDir::new("moov-end");
    let out = dir.path("moov-end.mp4");
    ffmpeg(&["-i", CLIP_PATH, "-c", "copy", out.to_str().unwrap()]);
    let bytes = std::fs::read(&out).unwrap();
    let order = top_level(&bytes);
    let mdat = order.iter().position(|k| k == "mdat").unwrap();
    let moov = order.iter().position(|k| k == "moov").unwrap();
    assert!(
        moov > mdat,
        "ffmpeg without faststart puts moov last: {order:?}"
    );

    let counting = Counting::new(bytes.clone());
    let mp4 = Mp4File::open(&counting).unwrap();
    assert_eq!(mp4.track(1).unwrap().samples.len(), 300);
    assert_eq!(mp4.track(2).unwrap().samples.len(), 470);
    assert!(
        counting.read.get() < 64 * 1024,
        "open read {} bytes",
        counting.read.get()
    );
    assert_matches_ffprobe(&out);
}

#[test]
fn movflags_and_muxer_variants_match_ffprobe() {
    let dir = TempDir::new("variants");
    let variants = [
        ("faststart.mp4", "-movflags +faststart"),
        ("negative-cts.mp4", "-movflags +negative_cts_offsets"),
        ("no-editlist.mp4", "-use_editlist 0"),
        (
            "metadata.mp4",
            "-movflags +use_metadata_tags+write_colr -metadata title=brume",
        ),
        ("quicktime.mov", "-f mov"),
        ("quicktime-timecode.mov", "-f mov -timecode 01:00:00:00"),
    ];
    for (name, flags) in variants {
        let out = dir.path(name);
        let mut args = vec!["-i", CLIP_PATH, "-c", "copy"];
        args.extend(words(flags, &[out.to_str().unwrap()]));
        ffmpeg(&args);
        let mp4 = assert_matches_ffprobe(&out);
        let codecs: Vec<&str> = mp4
            .tracks()
            .iter()
            .map(|t| t.track.codec_string.as_str())
            .collect();
        assert_eq!(
            codecs,
            ["avc1.64001e", "mp4a.40.2"],
            "{name}: timecode track skipped"
        );
    }
}

#[test]
fn hevc_files_get_an_hvcc_codec_string_and_match_ffprobe() {
    let dir = TempDir::new("hevc");
    for tag in ["hvc1", "hev1"] {
        let out = dir.path(&format!("{tag}.mp4"));
        ffmpeg(&words(
            "-f lavfi -i testsrc2=size=320x240:rate=25 -t 1 -c:v libx265 \
             -x265-params log-level=error:keyint=10:bframes=3 -tag:v",
            &[tag, out.to_str().unwrap()],
        ));
        let mp4 = assert_matches_ffprobe(&out);
        let t = &mp4.tracks()[0].track;
        assert_eq!(t.codec, Codec::H265);
        assert!(
            t.codec_string.starts_with(&format!("{tag}.1.6.L")),
            "{}",
            t.codec_string
        );
        let v = t.video.unwrap();
        assert_eq!((v.width, v.height), (320, 240));
        assert_eq!(mp4.tracks()[0].samples.len(), 25);
    }
}

#[test]
fn unsupported_tracks_are_skipped_and_a_file_of_only_those_is_refused() {
    let dir = TempDir::new("unsupported");
    let srt = dir.path("subs.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n").unwrap();
    let mixed = dir.path("mixed.mp4");
    let mut args = words(
        "-f lavfi -i testsrc2=size=160x120:rate=10 -f lavfi -i sine=sample_rate=44100 -i",
        &[srt.to_str().unwrap()],
    );
    args.extend(words(
        "-t 1 -map 0 -map 1 -map 2 -c:v libx264 -bf 0 -c:a libmp3lame -c:s mov_text",
        &[mixed.to_str().unwrap()],
    ));
    ffmpeg(&args);
    let mp4 = assert_matches_ffprobe(&mixed);
    assert_eq!(mp4.tracks().len(), 1, "only the H.264 track is kept");
    assert_eq!(mp4.tracks()[0].track.codec, Codec::H264);

    let mp3 = dir.path("mp3-only.mp4");
    ffmpeg(&words(
        "-f lavfi -i sine=sample_rate=44100 -t 1 -c:a libmp3lame",
        &[mp3.to_str().unwrap()],
    ));
    let bytes = std::fs::read(&mp3).unwrap();
    assert!(matches!(
        Mp4File::open(&bytes[..]),
        Err(Mp4Error::NoSupportedTracks)
    ));
}

#[test]
fn mono_aac_at_44100_hz_is_described() {
    let dir = TempDir::new("mono");
    let out = dir.path("mono.m4a");
    ffmpeg(&words(
        "-f lavfi -i sine=sample_rate=44100 -t 1 -ac 1 -c:a aac",
        &[out.to_str().unwrap()],
    ));
    let mp4 = assert_matches_ffprobe(&out);
    let t = &mp4.tracks()[0].track;
    assert_eq!(t.codec_string, "mp4a.40.2");
    let a = t.audio.unwrap();
    assert_eq!((a.sample_rate, a.channels), (44_100, 1));
}

#[test]
fn fragmented_files_are_refused_with_a_clear_error() {
    let dir = TempDir::new("fragmented");
    let out = dir.path("fragmented.mp4");
    ffmpeg(&[
        "-i",
        CLIP_PATH,
        "-c",
        "copy",
        "-movflags",
        "+frag_keyframe+empty_moov",
        out.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&out).unwrap();
    let err = Mp4File::open(&bytes[..]).unwrap_err();
    assert!(matches!(err, Mp4Error::Fragmented), "{err}");
    assert!(err.to_string().contains("faststart"), "{err}");
}

// ---------------------------------------------------------------- corrupt and hostile input

#[test]
fn truncated_files_are_errors_at_every_cut_point() {
    // Every byte through the moov, then every 997th byte of the mdat.
    let moov_end = find_box(CLIP, b"moov") + be32(CLIP, find_box(CLIP, b"moov")) as usize;
    let cuts = (0..moov_end + 64)
        .chain((moov_end..CLIP.len()).step_by(997))
        .chain([CLIP.len() - 1]);
    for cut in cuts {
        assert!(
            Mp4File::open(&CLIP[..cut]).is_err(),
            "cut at {cut} was accepted"
        );
    }
}

#[test]
fn truncated_files_with_moov_last_are_errors() {
    let dir = TempDir::new("trunc-end");
    let out = dir.path("moov-end.mp4");
    ffmpeg(&["-i", CLIP_PATH, "-c", "copy", out.to_str().unwrap()]);
    let bytes = std::fs::read(&out).unwrap();
    for cut in (0..bytes.len())
        .step_by(331)
        .chain(bytes.len() - 13_000..bytes.len())
    {
        let err = Mp4File::open(&bytes[..cut]).expect_err("truncated file accepted");
        if cut > 1000 && cut < bytes.len() - 13_000 {
            assert!(err.to_string().contains("truncated"), "cut {cut}: {err}");
        }
    }
}

#[test]
fn an_flv_file_is_not_mp4() {
    let flv = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x12\x00\x00\x20";
    let err = Mp4File::open(&flv[..]).unwrap_err();
    assert!(matches!(err, Mp4Error::NotMp4 { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("FLV\\x01"), "{text}");
    assert!(matches!(
        Mp4File::open(&[][..]),
        Err(Mp4Error::NotMp4 { .. })
    ));
    let ts = [0x47u8; 376];
    assert!(matches!(
        Mp4File::open(&ts[..]),
        Err(Mp4Error::NotMp4 { .. })
    ));
}

/// The clip's ftyp, then a box of type `kind` with 32-bit size `size`, an
/// optional 64-bit size, and 64 zero bytes.
fn after_ftyp(size: u32, kind: &[u8; 4], large: Option<u64>) -> Vec<u8> {
    let mut out = CLIP[..find_box(CLIP, b"moov")].to_vec();
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend(large.map(u64::to_be_bytes).unwrap_or_default());
    out.extend_from_slice(&[0; 64]);
    out
}

#[test]
fn boxes_with_huge_sizes_are_errors() {
    let mut cases = vec![
        after_ftyp(u32::MAX, b"mdat", None),    // 4 GiB in a small file
        after_ftyp(1, b"mdat", Some(u64::MAX)), // 64-bit size of 2^64 - 1
        after_ftyp(1, b"free", Some(8)),        // smaller than its header
        after_ftyp(1 << 30, b"moov", None),     // a 1 GiB moov
        after_ftyp(3, b"free", None),           // size 3
        after_ftyp(0, b"mdat", None),           // to the end, and no moov
    ];
    // A child inside the moov claiming more than the moov holds.
    let mut moov = CLIP[..find_box(CLIP, b"moov") + 12_000].to_vec();
    let mvhd = find_box(&moov, b"mvhd");
    moov[mvhd..mvhd + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    cases.push(moov);
    for (i, case) in cases.iter().enumerate() {
        assert!(Mp4File::open(&case[..]).is_err(), "case {i} accepted");
    }
}

/// Writes `value` over the big-endian u32 at `at` of a copy of the clip.
fn patched(at: usize, value: u32) -> Vec<u8> {
    let mut data = CLIP.to_vec();
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
    data
}

#[test]
fn absurd_table_counts_are_refused_before_allocating() {
    let stsz = find_box(CLIP, b"stsz");
    // stsz: size, type, version/flags, sample_size, sample_count.
    let err = Mp4File::open(&patched(stsz + 16, u32::MAX)[..]).unwrap_err();
    assert!(
        matches!(
            err,
            Mp4Error::TooLarge {
                what: "sample count",
                value: 4_294_967_295,
                ..
            }
        ),
        "{err}"
    );
    // The same count with a constant sample size: no table bytes needed at all.
    let mut constant = patched(stsz + 16, u32::MAX);
    constant[stsz + 12..stsz + 16].copy_from_slice(&1u32.to_be_bytes());
    assert!(matches!(
        Mp4File::open(&constant[..]),
        Err(Mp4Error::TooLarge { .. })
    ));
    // A count under the limit but larger than the table.
    assert!(Mp4File::open(&patched(stsz + 16, 1_000_000)[..]).is_err());

    // Entry counts of the other tables: size, type, version/flags, count.
    for kind in [
        b"stts", b"ctts", b"stss", b"stsc", b"stco", b"elst", b"stsd",
    ] {
        let at = find_box(CLIP, kind) + 12;
        for value in [u32::MAX, 0x0100_0000, 0x10_0000] {
            let data = patched(at, value);
            assert!(
                Mp4File::open(&data[..]).is_err(),
                "{} count {value} accepted",
                String::from_utf8_lossy(kind)
            );
        }
    }
}

#[test]
fn broken_headers_and_configs_are_errors() {
    let mdhd = find_box(CLIP, b"mdhd");
    // mdhd version 0: size, type, version/flags, creation, modification, timescale.
    assert!(
        Mp4File::open(&patched(mdhd + 20, 0)[..]).is_err(),
        "timescale 0"
    );
    let avcc = find_box(CLIP, b"avcC");
    assert!(
        Mp4File::open(&patched(avcc + 8, 0xffff_ffff)[..]).is_err(),
        "garbage avcC"
    );
    let esds = find_box(CLIP, b"esds");
    assert!(
        Mp4File::open(&patched(esds + 12, 0x0a0a_0a0a)[..]).is_err(),
        "garbage esds"
    );
    let tkhd = find_box(CLIP, b"tkhd");
    // tkhd version 0: size, type, version/flags, creation, modification, track id.
    let second = tkhd + 8 + find_box(&CLIP[tkhd + 8..], b"tkhd");
    assert!(
        Mp4File::open(&patched(second + 20, 1)[..]).is_err(),
        "duplicate track ids"
    );
    // A sample pointing past the end of the file.
    let stco = find_box(CLIP, b"stco");
    assert!(Mp4File::open(&patched(stco + 16, 0xffff_0000)[..]).is_err());
}

/// A deterministic xorshift generator for the mutation test.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_corruption_of_the_moov_never_panics() {
    let moov = find_box(CLIP, b"moov");
    let moov_end = moov + be32(CLIP, moov) as usize;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut data = CLIP.to_vec();
        for _ in 0..(xorshift(&mut seed) % 4 + 1) {
            let at = moov + (xorshift(&mut seed) as usize % (moov_end - moov));
            let value = xorshift(&mut seed);
            data[at] = match value % 4 {
                0 => 0xff,
                1 => 0,
                2 => data[at] ^ (1 << (value % 8)),
                _ => (value >> 8) as u8,
            };
        }
        if let Ok(mp4) = Mp4File::open(&data[..]) {
            accepted += 1;
            for t in mp4.tracks() {
                for i in 0..t.samples.len() {
                    let _ = mp4.read_frame(&data[..], t.track.id, i);
                }
            }
            let _ = mp4.interleaved();
            let _ = mp4.duration_ms();
        }
    }
    // Most single-byte changes hit sample tables and still index; the test is
    // about not panicking, but check it ran real reads.
    assert!(accepted > 100, "{accepted}");
}

// ---------------------------------------------------------------- big files

/// A [`ReadAt`] wrapper counting the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Cell<u64>,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Counting {
            inner,
            read: Cell::new(0),
        }
    }
}

impl<R: ReadAt> ReadAt for Counting<R> {
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read.set(self.read.get() + buf.len() as u64);
        self.inner.read_exact_at(buf, offset)
    }
}

/// A virtual file of `size` bytes: the given pieces at their offsets, zeros
/// everywhere else. Nothing but the pieces is stored.
struct Sparse {
    size: u64,
    pieces: Vec<(u64, Vec<u8>)>,
}

impl ReadAt for Sparse {
    fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if !matches!(end, Some(end) if end <= self.size) {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.fill(0);
        for (at, piece) in &self.pieces {
            for (i, b) in buf.iter_mut().enumerate() {
                let pos = offset + i as u64;
                if pos >= *at && pos - at < piece.len() as u64 {
                    *b = piece[(pos - at) as usize];
                }
            }
        }
        Ok(())
    }
}

/// The clip's ftyp and moov, then a 64-bit `mdat` of `mdat_len` bytes holding
/// the clip's media at its original offsets (the rest of it zeros).
fn big_file(mdat_len: u64) -> Sparse {
    let mdat = find_box(CLIP, b"mdat");
    // The 8-byte free box before the mdat makes room for the 16-byte header.
    assert_eq!(&CLIP[mdat - 4..mdat], b"free");
    let mut head = CLIP[..mdat - 8].to_vec();
    head.extend_from_slice(&1u32.to_be_bytes());
    head.extend_from_slice(b"mdat");
    head.extend_from_slice(&mdat_len.to_be_bytes());
    assert_eq!(
        head.len(),
        mdat + 8,
        "large header ends where the media starts"
    );
    head.extend_from_slice(&CLIP[mdat + 8..]);
    Sparse {
        size: (mdat - 8) as u64 + mdat_len,
        pieces: vec![(0, head)],
    }
}

#[test]
fn a_file_over_4_gib_is_indexed_by_reading_headers_and_the_moov_only() {
    let file = Counting::new(big_file(5 << 30));
    let mp4 = Mp4File::open(&file).unwrap();
    assert_eq!(mp4.file_size(), file.size().unwrap());
    assert!(file.size().unwrap() > 5 << 30);
    assert!(
        file.read.get() < 64 * 1024,
        "read {} bytes",
        file.read.get()
    );
    let frame = mp4.read_frame(&file, 1, 0).unwrap();
    assert!(nal_types(&frame.data).contains(&5));
}

#[test]
fn a_moov_after_a_huge_mdat_is_reached_by_headers_and_an_oversized_one_is_refused() {
    // ftyp, a 3 GiB mdat, then a moov over the limit: refused before reading it.
    let mdat_len = 3u64 << 30;
    let moov_len = MAX_MOOV_SIZE + 16 + 1;
    let mut ftyp = 24u32.to_be_bytes().to_vec();
    ftyp.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    let mdat = [&1u32.to_be_bytes()[..], b"mdat", &mdat_len.to_be_bytes()].concat();
    let moov = [&1u32.to_be_bytes()[..], b"moov", &moov_len.to_be_bytes()].concat();
    let moov_at = 24 + mdat_len;
    let file = Counting::new(Sparse {
        size: moov_at + moov_len,
        pieces: vec![(0, ftyp), (24, mdat), (moov_at, moov)],
    });
    let err = Mp4File::open(&file).unwrap_err();
    assert!(matches!(err, Mp4Error::TooLarge { .. }), "{err}");
    assert!(file.read.get() < 1024, "read {} bytes", file.read.get());
}
