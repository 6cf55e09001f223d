//! Progressive MP4 for on-demand files, checked the way a user would notice:
//! the bundled clip re-laid out from its index plays in ffmpeg with the same
//! packets as the source and seeks; every byte range reassembles to exactly the
//! bytes of the whole file; layouts over 4 GiB switch to `co64` and a 64-bit
//! `mdat`; an FLV-like index (millisecond timescale, negative composition
//! offsets) keeps its presentation times.
//!
//! ffmpeg and ffprobe are required: these tests fail loudly when they are
//! missing, never skip.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use brume_media::index::{IndexedTrack, Sample};
use brume_media::mp4::demux::Mp4File;
use brume_media::mp4::progressive::{Piece, ProgressiveMp4};
use brume_media::{ReadAt, Track};
use bytes::Bytes;

const CLIP: &[u8] = include_bytes!("../../../assets/demo.mp4");

// ---------------------------------------------------------------- helpers

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "brume-progressive-{}-{tag}-{n}",
            std::process::id()
        ));
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

/// Runs `program args` and returns (stdout, stderr), failing the test (never
/// skipping it) when the program is missing or fails.
fn run(program: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test but could not be started: {e}")
        });
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{program} {args:?} failed: {stderr}");
    (String::from_utf8(out.stdout).expect("utf-8 output"), stderr)
}

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// The clip's index and every track's samples.
fn clip_index() -> (Mp4File, Vec<IndexedTrack>) {
    let file = Mp4File::open(CLIP).expect("the bundled clip opens");
    let tracks = file
        .tracks()
        .iter()
        .map(|t| IndexedTrack {
            track: t.track.clone(),
            samples: t.samples.clone(),
        })
        .collect();
    (file, tracks)
}

/// Reads sample bytes of the clip, checking they have the indexed size.
struct SampleSource<'a> {
    file: &'a Mp4File,
    cache: HashMap<(u32, usize), Bytes>,
}

impl<'a> SampleSource<'a> {
    fn new(file: &'a Mp4File) -> Self {
        SampleSource {
            file,
            cache: HashMap::new(),
        }
    }

    fn sample(&mut self, track_id: u32, index: usize) -> Bytes {
        let file = self.file;
        self.cache
            .entry((track_id, index))
            .or_insert_with(|| {
                let frame = file.read_frame(CLIP, track_id, index).expect("read sample");
                let size = file.track(track_id).expect("track").samples[index].size;
                assert_eq!(
                    frame.data.len(),
                    size as usize,
                    "sample bytes have the indexed size"
                );
                frame.data
            })
            .clone()
    }
}

/// The output bytes of `range`, assembled from its pieces.
fn assemble(
    mp4: &ProgressiveMp4,
    src: &mut SampleSource<'_>,
    range: std::ops::Range<u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in mp4.pieces(range) {
        match piece {
            Piece::Header(r) => out.extend_from_slice(&mp4.header()[r]),
            Piece::Sample {
                track_id,
                index,
                within,
            } => {
                let data = src.sample(track_id, index);
                assert!(!within.is_empty(), "no empty pieces");
                out.extend_from_slice(&data[within.start as usize..within.end as usize]);
            }
        }
    }
    out
}

/// Top-level boxes of `bytes`: (type, offset, size).
fn top_level_boxes(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let mut size = u64::from(u32::from_be_bytes(
            bytes[at..at + 4].try_into().expect("4 bytes"),
        ));
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        if size == 1 {
            size = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes"));
        }
        boxes.push((kind, at as u64, size));
        at = at.saturating_add(size as usize);
        if size == 0 {
            break;
        }
    }
    boxes
}

/// Packets of one stream as ffprobe reports them: (pts, size, keyframe).
fn packets(file: &str, stream: &str) -> Vec<(i64, usize, bool)> {
    let (out, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts,size,flags",
            "-of",
            "csv=p=0",
            file,
        ],
    );
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (
                f[0].parse().expect("pts"),
                f[1].parse().expect("size"),
                f[2].starts_with('K'),
            )
        })
        .collect()
}

fn probe_value(file: &str, entries: &str, stream: Option<&str>) -> Vec<String> {
    let mut args = vec!["-v", "error"];
    if let Some(s) = stream {
        args.extend(["-select_streams", s]);
    }
    args.extend(["-show_entries", entries, "-of", "default=nw=1:nk=1", file]);
    let (out, _) = run("ffprobe", &args);
    out.lines().map(str::to_owned).collect()
}

/// `ffmpeg -v error -i file -f null -` must print nothing.
fn assert_decodes_cleanly(file: &str) {
    let (_, stderr) = run(
        "ffmpeg",
        &["-nostdin", "-v", "error", "-i", file, "-f", "null", "-"],
    );
    assert!(stderr.trim().is_empty(), "ffmpeg reported: {stderr}");
}

/// A deterministic pseudo-random sequence (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A source of `len` bytes: the header, then zeros (the payload of a layout
/// that has no real sample bytes).
struct HeaderThenZeros {
    header: Bytes,
    len: u64,
}

impl ReadAt for HeaderThenZeros {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "past the end"));
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.header.get((offset as usize) + i).copied().unwrap_or(0);
        }
        Ok(())
    }
}

/// `count` samples of `size(i)` bytes, `step` ticks apart from 0.
fn synthetic(
    count: usize,
    step: u32,
    size: impl Fn(usize) -> u32,
    key: impl Fn(usize) -> bool,
) -> Vec<Sample> {
    (0..count)
        .map(|i| Sample {
            offset: 0,
            size: size(i),
            dts: i as i64 * i64::from(step),
            pts_offset: 0,
            duration: step,
            keyframe: key(i),
        })
        .collect()
}

fn clip_tracks() -> (Track, Track) {
    let (_, tracks) = clip_index();
    let video = tracks
        .iter()
        .find(|t| t.track.video.is_some())
        .expect("video")
        .track
        .clone();
    let audio = tracks
        .iter()
        .find(|t| t.track.audio.is_some())
        .expect("audio")
        .track
        .clone();
    (video, audio)
}

// ---------------------------------------------------------------- tests

#[test]
fn clip_plays_in_ffmpeg_with_the_source_packets_and_seeks() {
    let (file, tracks) = clip_index();
    let mp4 = ProgressiveMp4::new(&tracks).expect("layout");
    let mut src = SampleSource::new(&file);
    let whole = assemble(&mp4, &mut src, 0..mp4.len());
    assert_eq!(whole.len() as u64, mp4.len());

    let boxes = top_level_boxes(&whole);
    let names: Vec<&str> = boxes.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(names, ["ftyp", "moov", "mdat"], "moov precedes mdat");
    assert_eq!(boxes[2].1 + boxes[2].2, mp4.len(), "mdat runs to the end");
    assert_eq!(
        boxes[2].1 + 8,
        mp4.header().len() as u64,
        "header ends with the mdat header"
    );

    let dir = TempDir::new("clip");
    let out = dir.path("out.mp4");
    std::fs::write(&out, &whole).expect("write output");
    let out = path_str(&out);
    let source = dir.path("source.mp4");
    std::fs::write(&source, CLIP).expect("write source");
    let source = path_str(&source);

    assert_decodes_cleanly(out);

    let video = probe_value(out, "stream=codec_name,width,height", Some("v:0"));
    assert_eq!(video, ["h264", "640", "360"]);
    let audio = probe_value(out, "stream=codec_name", Some("a:0"));
    assert_eq!(audio, ["aac"]);
    let duration: f64 = probe_value(out, "format=duration", None)[0]
        .parse()
        .expect("duration");
    assert!((duration - 10.0).abs() <= 0.1, "duration {duration}");
    assert!((mp4.duration_ms() as f64 / 1000.0 - 10.0).abs() <= 0.1);

    let ours = packets(out, "v:0");
    let theirs = packets(source, "v:0");
    assert_eq!(ours.len(), 300);
    assert_eq!(ours, theirs, "video packets: pts, size and keyframe flag");
    let ours = packets(out, "a:0");
    let theirs = packets(source, "a:0");
    assert_eq!(ours, theirs, "audio packets");

    let png = dir.path("seek.png");
    run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-ss",
            "7",
            "-i",
            out,
            "-frames:v",
            "1",
            path_str(&png),
        ],
    );
    assert!(std::fs::metadata(&png).expect("seek frame written").len() > 0);
}

#[test]
fn every_range_reassembles_to_the_same_bytes() {
    let (file, tracks) = clip_index();
    let mp4 = ProgressiveMp4::new(&tracks).expect("layout");
    let mut src = SampleSource::new(&file);
    let whole = assemble(&mp4, &mut src, 0..mp4.len());
    let len = mp4.len();
    let header = mp4.header().len() as u64;

    let (seven, three) = (7, 3);
    let mut ranges: Vec<std::ops::Range<u64>> = vec![
        seven..three, // reversed: empty
        0..0,
        0..1,
        5..5,
        0..header,
        0..header + 1,
        header - 1..header + 1,
        header - 8..header,
        header..header + 1,
        100..header + 5000,
        len - 1..len,
        len..len,
        len - 100..len + 100, // clipped to the end
        len + 5..len + 10,
    ];
    // Ranges that start or end exactly on sample boundaries and one byte off.
    let boundaries: Vec<u64> = {
        let mut b = Vec::new();
        let mut pos = header;
        for piece in mp4.pieces(header..len) {
            if let Piece::Sample { within, .. } = piece {
                pos += u64::from(within.end - within.start);
                b.push(pos);
            }
        }
        b
    };
    assert_eq!(boundaries.last(), Some(&len));
    for (i, &b) in boundaries.iter().enumerate().step_by(37) {
        ranges.push(b..b + 1);
        ranges.push(b - 1..b + 1);
        ranges.push(b..boundaries[(i + 3).min(boundaries.len() - 1)]);
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..500 {
        let start = rng.below(len);
        let span = match rng.below(3) {
            0 => rng.below(64),
            1 => rng.below(20_000),
            _ => rng.below(len),
        };
        ranges.push(start..start + span);
    }
    for range in ranges {
        let got = assemble(&mp4, &mut src, range.clone());
        let start = range.start.min(len) as usize;
        let end = range.end.min(len).max(range.start.min(len)) as usize;
        assert!(got == whole[start..end], "range {range:?} differs");
    }
}

#[test]
fn layout_is_identical_across_calls_and_the_etag_is_stable() {
    let (_, tracks) = clip_index();
    let a = ProgressiveMp4::new(&tracks).expect("layout");
    let b = ProgressiveMp4::new(&tracks).expect("layout");
    assert_eq!(a.header(), b.header());
    assert_eq!(a.len(), b.len());
    assert_eq!(a.etag(), b.etag());
    assert!(
        a.etag().starts_with('"') && a.etag().ends_with('"'),
        "{}",
        a.etag()
    );
    let pa: Vec<Piece> = a.pieces(0..a.len()).collect();
    let pb: Vec<Piece> = b.pieces(0..b.len()).collect();
    assert_eq!(pa, pb);

    // One byte more in one sample changes the validator.
    let mut changed = tracks.clone();
    changed[0].samples[10].size += 1;
    let c = ProgressiveMp4::new(&changed).expect("layout");
    assert_ne!(a.etag(), c.etag());
    assert_eq!(c.len(), a.len() + 1);
}

#[test]
fn small_file_uses_stco_and_a_32_bit_mdat() {
    let (_, tracks) = clip_index();
    let mp4 = ProgressiveMp4::new(&tracks).expect("layout");
    let header = mp4.header();
    assert!(header.windows(4).any(|w| w == b"stco"));
    assert!(!header.windows(4).any(|w| w == b"co64"));
    let mdat = &header[header.len() - 8..];
    assert_eq!(&mdat[4..], b"mdat");
    let size = u32::from_be_bytes(mdat[..4].try_into().unwrap());
    assert_eq!(u64::from(size), mp4.len() - header.len() as u64 + 8);
}

#[test]
fn layout_over_4_gib_uses_co64_and_a_64_bit_mdat() {
    let (video, audio) = clip_tracks();
    // 5000 video samples of about 1 MB (5 GB) at 30 fps, and AAC frames.
    let video_samples = synthetic(5000, 512, |i| 1_000_000 + (i % 7) as u32, |i| i % 60 == 0);
    let audio_samples = synthetic(7800, 1024, |i| 300 + (i % 5) as u32, |_| true);
    let tracks = vec![
        IndexedTrack {
            track: video,
            samples: video_samples.clone(),
        },
        IndexedTrack {
            track: audio,
            samples: audio_samples.clone(),
        },
    ];
    let mp4 = ProgressiveMp4::new(&tracks).expect("layout");
    let header = mp4.header().clone();
    assert!(mp4.len() > 5_000_000_000);
    assert!(header.windows(4).any(|w| w == b"co64"));
    assert!(!header.windows(4).any(|w| w == b"stco"));
    let mdat = &header[header.len() - 16..];
    assert_eq!(&mdat[..8], b"\0\0\0\x01mdat", "largesize mdat header");
    let size = u64::from_be_bytes(mdat[8..].try_into().unwrap());
    assert_eq!(size, mp4.len() - header.len() as u64 + 16);

    // Our own demuxer reads the layout back: every sample sits where the
    // pieces say, with its size, time and keyframe flag.
    let virtual_file = HeaderThenZeros {
        header: header.clone(),
        len: mp4.len(),
    };
    let back = Mp4File::open(&virtual_file).expect("the layout parses");
    for (indexed, parsed) in tracks.iter().zip(back.tracks()) {
        assert_eq!(parsed.track.id, indexed.track.id);
        assert_eq!(parsed.samples.len(), indexed.samples.len());
        for (i, (s, p)) in indexed.samples.iter().zip(&parsed.samples).enumerate() {
            assert_eq!((p.size, p.dts, p.pts_offset), (s.size, s.dts, s.pts_offset));
            assert_eq!(p.keyframe, s.keyframe || indexed.track.audio.is_some());
            let pieces: Vec<Piece> = mp4.pieces(p.offset..p.offset + u64::from(p.size)).collect();
            assert_eq!(
                pieces,
                [Piece::Sample {
                    track_id: indexed.track.id,
                    index: i,
                    within: 0..s.size
                }]
            );
        }
    }
    assert!(back.tracks()[0].samples.last().unwrap().offset > u64::from(u32::MAX));
    // The very last byte.
    let last: Vec<Piece> = mp4.pieces(mp4.len() - 1..mp4.len()).collect();
    assert_eq!(last.len(), 1);
    assert!(matches!(&last[0], Piece::Sample { within, .. } if within.end - within.start == 1));
}

#[test]
fn two_million_samples_lay_out_quickly() {
    let (video, audio) = clip_tracks();
    let tracks = vec![
        IndexedTrack {
            track: video,
            samples: synthetic(1_000_000, 512, |i| 2000 + (i % 97) as u32, |i| i % 60 == 0),
        },
        IndexedTrack {
            track: audio,
            samples: synthetic(1_000_000, 1024, |i| 200 + (i % 13) as u32, |_| true),
        },
    ];
    let started = Instant::now();
    let mp4 = ProgressiveMp4::new(&tracks).expect("layout");
    let took = started.elapsed();
    println!(
        "2,000,000 samples laid out in {took:?} (header {} bytes, file {} bytes)",
        mp4.header().len(),
        mp4.len()
    );
    assert_eq!(mp4.sample_count(), 2_000_000);
    let started = Instant::now();
    let mut rng = Rng(7);
    let mut pieces = 0usize;
    for _ in 0..10_000 {
        let start = rng.below(mp4.len());
        pieces += mp4.pieces(start..start + 65_536).count();
    }
    println!(
        "10,000 range lookups ({pieces} pieces) in {:?}",
        started.elapsed()
    );
}

/// The clip's index as an FLV demuxer would give it: millisecond timestamps
/// from 0, audio all keyframes, and the B-frame delay folded into the
/// composition offsets, some of which become negative.
fn flv_like_index() -> (Mp4File, Vec<IndexedTrack>, HashMap<u32, Vec<i64>>) {
    let (file, tracks) = clip_index();
    let mut expected_pts = HashMap::new();
    let flv: Vec<IndexedTrack> = tracks
        .iter()
        .map(|t| {
            let scale = i64::from(t.track.timescale);
            let first = t.samples[0].dts;
            let ms = |ticks: i64| ticks * 1000 / scale;
            let samples: Vec<Sample> = t
                .samples
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let dts = ms(s.dts - first);
                    let pts = if t.track.video.is_some() {
                        ms(s.pts())
                    } else {
                        dts
                    };
                    let next = t.samples.get(i + 1).map_or(dts + 21, |n| ms(n.dts - first));
                    Sample {
                        dts,
                        pts_offset: (pts - dts) as i32,
                        duration: (next - dts) as u32,
                        keyframe: s.keyframe || t.track.audio.is_some(),
                        ..*s
                    }
                })
                .collect();
            expected_pts.insert(t.track.id, samples.iter().map(Sample::pts).collect());
            let mut track = t.track.clone();
            track.timescale = 1000;
            IndexedTrack { track, samples }
        })
        .collect();
    let video = flv
        .iter()
        .find(|t| t.track.video.is_some())
        .expect("a video track");
    assert!(
        video.samples.iter().any(|s| s.pts_offset < 0),
        "negative offsets"
    );
    assert!(
        video.samples.iter().any(|s| s.pts_offset > 0),
        "positive offsets"
    );
    (file, flv, expected_pts)
}

#[test]
fn flv_like_index_with_negative_composition_offsets_keeps_its_times() {
    let (file, flv, expected_pts) = flv_like_index();
    let mp4 = ProgressiveMp4::new(&flv).expect("layout");
    let mut src = SampleSource::new(&file);
    let whole = assemble(&mp4, &mut src, 0..mp4.len());

    // Our demuxer reads back the same presentation times, sizes and keyframes
    // (it moves negative composition offsets into the decode times, so those
    // two are compared through their sum).
    let back = Mp4File::open(&whole[..]).expect("parses");
    for (indexed, parsed) in flv.iter().zip(back.tracks()) {
        assert_eq!(parsed.track.timescale, 1000);
        let ours: Vec<(i64, u32, bool)> = parsed
            .samples
            .iter()
            .map(|s| (s.pts(), s.size, s.keyframe))
            .collect();
        let theirs: Vec<(i64, u32, bool)> = indexed
            .samples
            .iter()
            .map(|s| (s.pts(), s.size, s.keyframe))
            .collect();
        assert_eq!(ours, theirs, "track {}", indexed.track.id);
    }
    let header = mp4.header();
    let ctts = header
        .windows(4)
        .position(|w| w == b"ctts")
        .expect("a ctts box");
    assert_eq!(header[ctts + 4], 1, "ctts version 1 for negative offsets");

    // ffmpeg decodes it and reports the same presentation times.
    let dir = TempDir::new("flv-like");
    let out = dir.path("flv.mp4");
    std::fs::write(&out, &whole).expect("write");
    let out = path_str(&out);
    assert_decodes_cleanly(out);
    let (video, audio) = (&flv[0], &flv[1]);
    assert!(video.track.video.is_some() && audio.track.audio.is_some());
    let got: Vec<i64> = packets(out, "v:0").iter().map(|p| p.0).collect();
    assert_eq!(got, expected_pts[&video.track.id], "video pts (ms)");
    let got: Vec<i64> = packets(out, "a:0").iter().map(|p| p.0).collect();
    assert_eq!(got, expected_pts[&audio.track.id], "audio pts (ms)");
    let duration: f64 = probe_value(out, "format=duration", None)[0]
        .parse()
        .expect("duration");
    assert!((duration - 10.0).abs() <= 0.1, "duration {duration}");
}
