//! Real-player check of the fragmented-MP4 writer: ffmpeg encodes two seconds of
//! H.264 (Annex-B) and AAC (ADTS), the test turns them into Brume tracks and frames
//! by hand, muxes an init segment plus fragments into one file, and asks ffprobe
//! and ffmpeg whether the result plays: every video frame decodes, audio is there,
//! keyframes are marked, and the decoder reports no errors.
//!
//! ffmpeg and ffprobe are required: when they are missing these tests fail loudly
//! rather than skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brume_media::mp4::fmp4::{
    fragment, fragment_size, init_segment, mime_codecs, FragmentSample, TrackRun,
};
use brume_media::{AudioInfo, Codec, Frame, Track, VideoInfo};
use bytes::Bytes;

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
const FPS: u32 = 25;
const SECONDS: u32 = 2;
const VIDEO_TIMESCALE: u32 = 90_000;
const VIDEO_DURATION: u32 = VIDEO_TIMESCALE / FPS;
const AAC_FRAME_SAMPLES: u32 = 1024;

// --- external tools --------------------------------------------------------

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

/// A fresh directory for one test under cargo's integration-test temp dir.
fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fmp4_ffprobe")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create work dir");
    dir
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Encodes the test clip: Annex-B H.264 and ADTS AAC.
fn encode_sources(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let video = dir.join("in.h264");
    let audio = dir.join("in.aac");
    let size = format!("testsrc=size={WIDTH}x{HEIGHT}:rate={FPS}");
    let secs = SECONDS.to_string();
    let gop = FPS.to_string();
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
            &size,
            "-t",
            &secs,
            "-c:v",
            "libx264",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
            "-g",
            &gop,
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            path_str(&video),
        ],
    );
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
            "sine=frequency=440:sample_rate=48000",
            "-t",
            &secs,
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-f",
            "adts",
            path_str(&audio),
        ],
    );
    (
        std::fs::read(video).expect("read h264"),
        std::fs::read(audio).expect("read aac"),
    )
}

// --- H.264 Annex-B to MP4 samples (test-local) -------------------------------

/// Splits an Annex-B byte stream on 3- and 4-byte start codes.
fn annexb_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(data.len(), |&next| next - 3);
        let mut nal = &data[start..end];
        // The zero byte of a following 4-byte start code (trailing_zero_8bits).
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
    }
    nals
}

struct Video {
    track: Track,
    /// (keyframe, length-prefixed access unit)
    access_units: Vec<(bool, Vec<u8>)>,
}

/// Hand-built avcC (ISO/IEC 14496-15 AVCDecoderConfigurationRecord) for a
/// baseline/main profile stream with one SPS and one PPS.
fn avcc(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = vec![1, sps[1], sps[2], sps[3], 0xfc | 3, 0xe0 | 1];
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    out
}

fn parse_video(data: &[u8]) -> Video {
    let mut sps = None;
    let mut pps = None;
    let mut access_units = Vec::new();
    let mut current = Vec::new();
    let mut has_vcl = false;
    let mut keyframe = false;
    for nal in annexb_nals(data) {
        let nal_type = nal[0] & 0x1f;
        let is_vcl = (1..=5).contains(&nal_type);
        // first_mb_in_slice is ue(v); a leading 1 bit means 0: a new picture.
        let first_slice = is_vcl && nal.get(1).is_some_and(|b| b & 0x80 != 0);
        let starts_au = matches!(nal_type, 6..=9) || first_slice;
        if starts_au && has_vcl {
            access_units.push((keyframe, std::mem::take(&mut current)));
            has_vcl = false;
            keyframe = false;
        }
        match nal_type {
            7 => {
                sps.get_or_insert_with(|| nal.to_vec());
            }
            8 => {
                pps.get_or_insert_with(|| nal.to_vec());
            }
            9 => {}
            _ => {
                current.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                current.extend_from_slice(nal);
            }
        }
        has_vcl |= is_vcl;
        keyframe |= nal_type == 5;
    }
    if has_vcl {
        access_units.push((keyframe, current));
    }
    let sps = sps.expect("stream has an SPS");
    let pps = pps.expect("stream has a PPS");
    let codec_string = format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]);
    Video {
        track: Track {
            id: 1,
            codec: Codec::H264,
            timescale: VIDEO_TIMESCALE,
            init: Bytes::from(avcc(&sps, &pps)),
            codec_string,
            video: Some(VideoInfo {
                width: WIDTH,
                height: HEIGHT,
            }),
            audio: None,
        },
        access_units,
    }
}

// --- AAC ADTS to raw frames (test-local) -------------------------------------

struct Audio {
    track: Track,
    frames: Vec<Vec<u8>>,
}

const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

fn parse_audio(data: &[u8]) -> Audio {
    let mut frames = Vec::new();
    let mut config = None;
    let mut pos = 0;
    while pos < data.len() {
        let h = &data[pos..];
        assert!(
            h.len() >= 7 && h[0] == 0xff && h[1] & 0xf0 == 0xf0,
            "ADTS sync at {pos}"
        );
        let protection_absent = h[1] & 1 == 1;
        let profile = h[2] >> 6;
        let sfi = (h[2] >> 2) & 0x0f;
        let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
        let frame_len =
            (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let header_len = if protection_absent { 7 } else { 9 };
        assert!(
            frame_len > header_len && frame_len <= h.len(),
            "ADTS length"
        );
        frames.push(h[header_len..frame_len].to_vec());
        config.get_or_insert((profile, sfi, channels));
        pos += frame_len;
    }
    let (profile, sfi, channels) = config.expect("at least one ADTS frame");
    let object_type = profile + 1;
    // AudioSpecificConfig: 5 bits object type, 4 bits frequency index, 4 bits
    // channel configuration, 3 bits GASpecificConfig (all zero).
    let asc = [
        (object_type << 3) | (sfi >> 1),
        ((sfi & 1) << 7) | (channels << 3),
    ];
    let sample_rate = SAMPLE_RATES[usize::from(sfi)];
    Audio {
        track: Track {
            id: 2,
            codec: Codec::Aac,
            timescale: sample_rate,
            init: Bytes::copy_from_slice(&asc),
            codec_string: format!("mp4a.40.{object_type}"),
            video: None,
            audio: Some(AudioInfo {
                sample_rate,
                channels: u16::from(channels),
                sample_size: 16,
            }),
        },
        frames,
    }
}

// --- the clip as Brume frames ------------------------------------------------

struct Clip {
    video: Track,
    audio: Track,
    video_frames: Vec<Frame>,
    audio_frames: Vec<Frame>,
}

fn load_clip(dir: &Path) -> Clip {
    let (h264, adts) = encode_sources(dir);
    let video = parse_video(&h264);
    let audio = parse_audio(&adts);
    assert_eq!(video.access_units.len(), (FPS * SECONDS) as usize);
    assert!(video.access_units[0].0, "clip starts with a keyframe");
    let video_frames = video
        .access_units
        .into_iter()
        .enumerate()
        .map(|(i, (keyframe, au))| Frame {
            track: video.track.id,
            dts: i as i64 * i64::from(VIDEO_DURATION),
            pts_offset: 0,
            keyframe,
            data: Bytes::from(au),
        })
        .collect();
    let audio_frames = audio
        .frames
        .into_iter()
        .enumerate()
        .map(|(i, raw)| Frame {
            track: audio.track.id,
            dts: i as i64 * i64::from(AAC_FRAME_SAMPLES),
            pts_offset: 0,
            keyframe: true,
            data: Bytes::from(raw),
        })
        .collect();
    Clip {
        video: video.track,
        audio: audio.track,
        video_frames,
        audio_frames,
    }
}

fn samples(frames: &[Frame], duration: u32) -> Vec<FragmentSample<'_>> {
    frames
        .iter()
        .map(|frame| FragmentSample { frame, duration })
        .collect()
}

/// Seconds of a timestamp, for ordering frames of different timescales.
fn seconds(frame: &Frame, track: &Track) -> f64 {
    frame.dts as f64 / f64::from(track.timescale)
}

fn push_fragment(file: &mut Vec<u8>, sequence: u32, runs: &[TrackRun<'_>]) {
    let bytes = fragment(sequence, runs).expect("fragment");
    assert_eq!(bytes.len(), fragment_size(runs), "fragment_size is exact");
    file.extend_from_slice(&bytes);
}

/// Init segment, then one fragment per `per_fragment` video frames carrying the
/// audio frames that start before the next fragment's first video frame.
fn mux_grouped(clip: &Clip, per_fragment: usize) -> Vec<u8> {
    let tracks = [clip.video.clone(), clip.audio.clone()];
    let mut file = init_segment(&tracks).expect("init segment").to_vec();
    let mut audio_next = 0;
    let chunks: Vec<&[Frame]> = clip.video_frames.chunks(per_fragment).collect();
    for (n, chunk) in chunks.iter().enumerate() {
        let audio_end = match chunks.get(n + 1) {
            Some(next) => {
                let limit = seconds(&next[0], &clip.video);
                audio_next
                    + clip.audio_frames[audio_next..]
                        .iter()
                        .take_while(|f| seconds(f, &clip.audio) < limit)
                        .count()
            }
            None => clip.audio_frames.len(),
        };
        let video_samples = samples(chunk, VIDEO_DURATION);
        let audio_samples = samples(&clip.audio_frames[audio_next..audio_end], AAC_FRAME_SAMPLES);
        audio_next = audio_end;
        let mut runs = vec![TrackRun {
            track: &clip.video,
            samples: &video_samples,
        }];
        if !audio_samples.is_empty() {
            runs.push(TrackRun {
                track: &clip.audio,
                samples: &audio_samples,
            });
        }
        push_fragment(&mut file, n as u32 + 1, &runs);
    }
    file
}

/// Init segment, then one single-sample fragment per frame, in time order.
fn mux_per_frame(clip: &Clip) -> Vec<u8> {
    let tracks = [clip.video.clone(), clip.audio.clone()];
    let mut file = init_segment(&tracks).expect("init segment").to_vec();
    let mut all: Vec<(&Track, &Frame, u32)> = clip
        .video_frames
        .iter()
        .map(|f| (&clip.video, f, VIDEO_DURATION))
        .chain(
            clip.audio_frames
                .iter()
                .map(|f| (&clip.audio, f, AAC_FRAME_SAMPLES)),
        )
        .collect();
    all.sort_by(|a, b| seconds(a.1, a.0).total_cmp(&seconds(b.1, b.0)));
    for (n, (track, frame, duration)) in all.into_iter().enumerate() {
        let sample = [FragmentSample { frame, duration }];
        push_fragment(
            &mut file,
            n as u32 + 1,
            &[TrackRun {
                track,
                samples: &sample,
            }],
        );
    }
    file
}

// --- what ffprobe and ffmpeg see ---------------------------------------------

/// `ffprobe -count_frames` stream and format entries, as key/value maps.
fn probe(file: &Path) -> (Vec<HashMap<String, String>>, HashMap<String, String>) {
    let output = run(
        "ffprobe",
        &[
            "-v", "error", "-count_frames", "-count_packets", "-show_entries",
            "stream=codec_type,codec_name,width,height,nb_read_frames,nb_read_packets,sample_rate,channels:format=duration",
            "-of", "compact=p=1:nk=0", path_str(file),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.trim().is_empty(), "ffprobe complained: {stderr}");
    let mut streams = Vec::new();
    let mut format = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut fields = line.split('|');
        let section = fields.next().unwrap_or_default();
        let map: HashMap<String, String> = fields
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        match section {
            "stream" => streams.push(map),
            "format" => format = map,
            _ => {}
        }
    }
    (streams, format)
}

/// Video packets as (pts, keyframe) in the video timescale.
fn video_packets(file: &Path) -> Vec<(i64, bool)> {
    let output = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts,flags",
            "-of",
            "csv=p=0",
            path_str(file),
        ],
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (pts, flags) = line.split_once(',').expect("pts,flags");
            (
                pts.trim().parse().expect("numeric pts"),
                flags.contains('K'),
            )
        })
        .collect()
}

/// Seeks to `seconds` the way a player does (to the sync sample at or before it,
/// as marked in the `trun` sample flags) and returns the first video packet's pts.
fn seek_lands_at(file: &Path, seconds: &str) -> i64 {
    let interval = format!("{seconds}%+#1");
    let output = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-read_intervals",
            &interval,
            "-show_entries",
            "packet=pts",
            "-of",
            "csv=p=0",
            path_str(file),
        ],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().expect("a packet after seeking");
    first
        .trim()
        .trim_end_matches(',')
        .parse()
        .expect("numeric pts")
}

/// Fully decodes `file`; returns whatever ffmpeg printed at level error.
fn decode_errors(file: &Path) -> String {
    let output = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-i",
            path_str(file),
            "-f",
            "null",
            "-",
        ],
    );
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    text
}

fn assert_plays(file: &Path, clip: &Clip) {
    let (streams, format) = probe(file);
    assert_eq!(streams.len(), 2, "two streams: {streams:?}");
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["width"], WIDTH.to_string());
    assert_eq!(video["height"], HEIGHT.to_string());
    assert_eq!(video["nb_read_frames"], (FPS * SECONDS).to_string());
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("an audio stream");
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");
    assert_eq!(audio["channels"], "2");
    assert_eq!(
        audio["nb_read_packets"],
        clip.audio_frames.len().to_string()
    );
    let duration: f64 = format["duration"].parse().expect("numeric duration");
    assert!(
        (1.9..=2.2).contains(&duration),
        "duration {duration} for a 2 s clip"
    );

    // Timestamps and keyframe flags survive: the player can seek.
    let packets = video_packets(file);
    assert_eq!(packets.len(), clip.video_frames.len());
    for ((pts, key), frame) in packets.iter().zip(&clip.video_frames) {
        assert_eq!(*pts, frame.pts(), "video pts");
        assert_eq!(*key, frame.keyframe, "keyframe flag at pts {pts}");
    }
    assert_eq!(
        packets.iter().filter(|p| p.1).count(),
        2,
        "one keyframe per second"
    );
    // ffmpeg's K flag above comes from parsing the bitstream; seeking uses the
    // trun sync flags: 1.5 s must land on the keyframe at 1 s, not on 1.48 s.
    assert_eq!(
        seek_lands_at(file, "1.5"),
        i64::from(VIDEO_TIMESCALE),
        "seek lands on the previous sync sample"
    );

    let errors = decode_errors(file);
    assert!(errors.trim().is_empty(), "decoder errors:\n{errors}");
}

// --- tests ---------------------------------------------------------------------

#[test]
fn fragments_of_five_video_frames_with_audio_play_in_ffmpeg() {
    let dir = work_dir("five_per_fragment");
    let clip = load_clip(&dir);
    assert_eq!(
        mime_codecs(&[clip.video.clone(), clip.audio.clone()]),
        format!("{},mp4a.40.2", clip.video.codec_string)
    );
    let file = dir.join("out.mp4");
    std::fs::write(&file, mux_grouped(&clip, 5)).expect("write out.mp4");
    assert_plays(&file, &clip);
}

#[test]
fn one_frame_per_fragment_plays_in_ffmpeg() {
    let dir = work_dir("one_per_fragment");
    let clip = load_clip(&dir);
    let file = dir.join("out.mp4");
    std::fs::write(&file, mux_per_frame(&clip)).expect("write out.mp4");
    assert_plays(&file, &clip);
}
