//! The FLV muxer and file reader against ffmpeg: the bundled MP4 clip remuxed to
//! FLV plays cleanly and probes as the same video; an FLV that ffmpeg writes
//! (H.264 with B-frames, AAC) indexes exactly as ffprobe sees it, packet for
//! packet, reads without touching payloads at open, and remuxed through Brume
//! decodes to the same pictures and sound; damaged files give errors or
//! shorter indexes, never panics.
//!
//! ffmpeg and ffprobe are required: these tests fail loudly when they are
//! missing, never skip.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use brume_media::flv::mux::write_tag;
use brume_media::flv::tag::{FileHeader, TagHeader, TAG_HEADER_SIZE};
use brume_media::flv::{flv_header_with_duration, write_frame_tag, FlvError, FlvFile};
use brume_media::mp4::demux::Mp4File;
use brume_media::{Codec, ReadAt, Track};

const CLIP: &[u8] = include_bytes!("../../../assets/demo.mp4");

// ---------------------------------------------------------------- helpers

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("brume-flv-ffmpeg-{}-{tag}-{n}", std::process::id()));
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

/// Runs `program args`; fails the test (never skips it) when the program is
/// missing or fails. Returns stdout and stderr.
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

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Decodes every stream of `path` and asserts ffmpeg has nothing to say.
fn assert_decodes_cleanly(path: &Path) {
    let (stdout, stderr) = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-i",
            path_str(path),
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        stdout.trim().is_empty() && stderr.trim().is_empty(),
        "ffmpeg reported problems decoding {}:\n{stdout}{stderr}",
        path.display()
    );
}

/// `key=value` lines of ffprobe's default writer for one stream (or the format).
fn probe(path: &Path, select: &[&str], entries: &str) -> HashMap<String, String> {
    let mut args = vec!["-v", "error", "-count_frames"];
    args.extend_from_slice(select);
    args.extend_from_slice(&[
        "-show_entries",
        entries,
        "-of",
        "default=nw=1",
        path_str(path),
    ]);
    let (stdout, _) = run("ffprobe", &args);
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// MD5 of the decoded `stream` ("v" or "a") of `path`, every frame kept.
fn decoded_md5(path: &Path, stream: &str) -> String {
    let map = format!("0:{stream}");
    let (stdout, _) = run(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-i",
            path_str(path),
            "-map",
            &map,
            "-fps_mode",
            "passthrough",
            "-f",
            "md5",
            "-",
        ],
    );
    stdout.trim().to_string()
}

/// One packet as ffprobe reports it (FLV time base: milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    size: u32,
    dts: i64,
    pts: i64,
    key: bool,
}

/// ffprobe's packets of `path` by codec type ("video", "audio"), in file order.
fn ffprobe_packets(path: &Path) -> HashMap<String, Vec<Packet>> {
    let (stdout, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,size,dts,pts,flags",
            "-of",
            "compact=p=0",
            path_str(path),
        ],
    );
    let mut out: HashMap<String, Vec<Packet>> = HashMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let f: HashMap<&str, &str> = line
            .split('|')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        out.entry(f["codec_type"].to_string())
            .or_default()
            .push(Packet {
                size: f["size"].parse().expect("size"),
                dts: f["dts"].parse().expect("dts"),
                pts: f["pts"].parse().expect("pts"),
                key: f["flags"].starts_with('K'),
            });
    }
    out
}

/// A [`ReadAt`] that counts reads and bytes read.
struct Counting<'a> {
    inner: &'a [u8],
    reads: AtomicU64,
    bytes: AtomicU64,
}

impl<'a> Counting<'a> {
    fn new(inner: &'a [u8]) -> Self {
        Counting {
            inner,
            reads: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn take(&self) -> (u64, u64) {
        (
            self.reads.swap(0, Ordering::Relaxed),
            self.bytes.swap(0, Ordering::Relaxed),
        )
    }
}

impl ReadAt for Counting<'_> {
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.inner.read_exact_at(buf, offset)
    }
}

/// Muxes every frame of `file` (any indexed source) to FLV in decode order.
fn remux(
    tracks: &[Track],
    duration_ms: u64,
    order: &[(u32, usize)],
    mut read: impl FnMut(u32, usize) -> brume_media::Frame,
) -> Vec<u8> {
    let mut out = flv_header_with_duration(tracks, Some(duration_ms))
        .expect("flv header")
        .to_vec();
    for &(id, index) in order {
        let track = tracks.iter().find(|t| t.id == id).expect("track");
        write_frame_tag(track, &read(id, index), &mut out).expect("frame tag");
    }
    out
}

/// An ffmpeg-made FLV: 3 s of 320x240 25 fps H.264 with B-frames, 44.1 kHz
/// stereo AAC.
fn ffmpeg_flv(dir: &TempDir) -> PathBuf {
    let path = dir.path("ffmpeg.flv");
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
            "-preset",
            "veryfast",
            "-bf",
            "2",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-b:a",
            "64k",
            "-f",
            "flv",
            path_str(&path),
        ],
    );
    path
}

// ---------------------------------------------------------------- (a) MP4 → FLV

#[test]
fn the_demo_clip_remuxed_to_flv_plays_cleanly_and_probes_the_same() {
    let mp4 = Mp4File::open(CLIP).expect("demo clip opens");
    let tracks: Vec<Track> = mp4.tracks().iter().map(|t| t.track.clone()).collect();
    // The edit list makes the first decode times negative: shift all to >= 0.
    let first_ms = mp4
        .tracks()
        .iter()
        .filter_map(|t| t.samples.first().map(|s| t.track.ticks_to_ms(s.dts)))
        .min()
        .expect("samples");
    let shift_ms = (-first_ms).max(0);
    assert!(shift_ms > 0, "the clip's B-frame delay gives negative dts");
    let data = remux(
        &tracks,
        mp4.duration_ms() as u64,
        &mp4.interleaved(),
        |id, index| {
            let mut frame = mp4.read_frame(CLIP, id, index).expect("read mp4 frame");
            let track = mp4.track(id).expect("track");
            frame.dts += track.track.ms_to_ticks(shift_ms);
            assert!(track.track.ticks_to_ms(frame.dts) >= 0);
            frame
        },
    );
    let dir = TempDir::new("demo");
    let out = dir.path("demo.flv");
    std::fs::write(&out, &data).expect("write flv");

    assert_decodes_cleanly(&out);
    let video = probe(
        &out,
        &["-select_streams", "v:0"],
        "stream=codec_name,width,height,nb_read_frames",
    );
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["width"], "640");
    assert_eq!(video["height"], "360");
    assert_eq!(video["nb_read_frames"], "300");
    let audio = probe(
        &out,
        &["-select_streams", "a:0"],
        "stream=codec_name,sample_rate,channels,nb_read_frames",
    );
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");
    assert_eq!(audio["channels"], "2");
    let aac_frames = mp4.track(2).expect("audio track").samples.len();
    assert_eq!(audio["nb_read_frames"], aac_frames.to_string());
    let format = probe(&out, &[], "format=duration");
    let duration: f64 = format["duration"].parse().expect("duration");
    assert!((duration - 10.0).abs() < 0.2, "duration {duration}");

    // And Brume reads its own output back: same frames, same bytes.
    let flv = FlvFile::open(&data[..]).expect("our FLV opens");
    assert_eq!(flv.track(1).expect("video").samples.len(), 300);
    assert_eq!(flv.track(2).expect("audio").samples.len(), aac_frames);
    for (i, s) in mp4
        .track(1)
        .expect("video")
        .samples
        .iter()
        .enumerate()
        .step_by(37)
    {
        let ours = flv.read_frame(&data[..], 1, i).expect("read flv frame");
        let theirs = mp4.read_frame(CLIP, 1, i).expect("read mp4 frame");
        assert_eq!(ours.data, theirs.data);
        assert_eq!(ours.keyframe, s.keyframe);
    }
}

// ---------------------------------------------------------------- (b) ffmpeg FLV → Brume

#[test]
fn an_ffmpeg_flv_indexes_exactly_as_ffprobe_sees_it_and_remuxes_to_the_same_media() {
    let dir = TempDir::new("ffmpeg");
    let path = ffmpeg_flv(&dir);
    let data = std::fs::read(&path).expect("read flv");
    let src = Counting::new(&data);
    let flv = FlvFile::open(&src).expect("ffmpeg's FLV opens");
    let (reads, bytes) = src.take();
    assert!(
        bytes < data.len() as u64 / 20,
        "open read {bytes} of {} bytes in {reads} reads",
        data.len()
    );

    let video = flv.track(1).expect("video track");
    let audio = flv.track(2).expect("audio track");
    assert_eq!(video.track.codec, Codec::H264);
    assert_eq!(video.track.timescale, 1000);
    assert_eq!(
        video.track.video.map(|v| (v.width, v.height)),
        Some((320, 240))
    );
    assert_eq!(audio.track.codec, Codec::Aac);
    assert_eq!(
        audio.track.audio.map(|a| (a.sample_rate, a.channels)),
        Some((44_100, 2))
    );
    assert!(flv.metadata().is_some(), "ffmpeg writes onMetaData");

    let packets_by_kind = ffprobe_packets(&path);
    for (kind, track) in [("video", video), ("audio", audio)] {
        let packets = &packets_by_kind[kind];
        assert_eq!(track.samples.len(), packets.len(), "{kind} sample count");
        for (i, (s, p)) in track.samples.iter().zip(packets).enumerate() {
            let ours = Packet {
                size: s.size,
                dts: s.dts,
                pts: s.pts(),
                key: s.keyframe,
            };
            assert_eq!(&ours, p, "{kind} sample {i}");
        }
    }
    assert_eq!(video.samples.len(), 75);
    assert!(
        video.samples.iter().any(|s| s.pts_offset < 0)
            || video.samples.windows(2).any(|w| w[1].pts() < w[0].pts()),
        "the clip has B-frames (presentation order differs from decode order)"
    );

    // Every frame is one positional read, and comes back as indexed.
    for t in flv.tracks() {
        for (i, s) in t.samples.iter().enumerate() {
            let frame = flv.read_frame(&src, t.track.id, i).expect("read frame");
            assert_eq!(src.take().0, 1, "one read per frame");
            assert_eq!(frame.data.len(), s.size as usize);
            assert_eq!(
                (frame.dts, frame.pts_offset, frame.keyframe),
                (s.dts, s.pts_offset, s.keyframe)
            );
        }
    }

    // Remuxed through Brume's muxer: plays cleanly, decodes to the same media.
    let tracks: Vec<Track> = flv.tracks().iter().map(|t| t.track.clone()).collect();
    let out_data = remux(
        &tracks,
        flv.duration_ms() as u64,
        &flv.interleaved(),
        |id, index| flv.read_frame(&data[..], id, index).expect("read frame"),
    );
    let out = dir.path("remuxed.flv");
    std::fs::write(&out, &out_data).expect("write remux");
    assert_decodes_cleanly(&out);
    let counted = probe(&out, &["-select_streams", "v:0"], "stream=nb_read_frames");
    assert_eq!(counted["nb_read_frames"], "75");
    assert_eq!(decoded_md5(&out, "v"), decoded_md5(&path, "v"));
    assert_eq!(decoded_md5(&out, "a"), decoded_md5(&path, "a"));
    let again = ffprobe_packets(&out);
    assert_eq!(again["video"], packets_by_kind["video"]);
    assert_eq!(again["audio"], packets_by_kind["audio"]);
}

/// `data` (an FLV file with 4-byte NAL lengths) rewritten with 2-byte NAL
/// lengths: the avcC says so and every AVC NALU tag is reframed.
fn with_two_byte_nal_lengths(data: &[u8]) -> Vec<u8> {
    let header = FileHeader::parse(data).expect("file header");
    let mut pos = header.data_offset as usize + 4;
    let mut out = data[..pos].to_vec();
    while pos + TAG_HEADER_SIZE <= data.len() {
        let tag = TagHeader::parse(&data[pos..]).expect("tag header");
        let start = pos + TAG_HEADER_SIZE;
        let mut body = data[start..start + tag.data_size as usize].to_vec();
        if tag.tag_type == 9 && body[1] == 0 {
            body[5 + 4] = (body[5 + 4] & 0xFC) | 1;
        } else if tag.tag_type == 9 && body[1] == 1 {
            let mut reframed = body[..5].to_vec();
            let mut rest = &body[5..];
            while !rest.is_empty() {
                let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                let short = u16::try_from(len).expect("NAL units under 64 KiB");
                reframed.extend_from_slice(&short.to_be_bytes());
                reframed.extend_from_slice(&rest[4..4 + len]);
                rest = &rest[4 + len..];
            }
            body = reframed;
        }
        write_tag(tag.tag_type, tag.timestamp, &body, &mut out).expect("write tag");
        pos = start + tag.data_size as usize + 4;
    }
    out
}

#[test]
fn two_byte_nal_lengths_read_back_as_the_four_byte_original() {
    let dir = TempDir::new("nal2");
    let path = ffmpeg_flv(&dir);
    let data = std::fs::read(&path).expect("read flv");
    let short = with_two_byte_nal_lengths(&data);
    assert!(short.len() < data.len());
    let short_path = dir.path("nal2.flv");
    std::fs::write(&short_path, &short).expect("write flv");
    // ffmpeg reads the rewritten file as the same video.
    assert_decodes_cleanly(&short_path);
    assert_eq!(decoded_md5(&short_path, "v"), decoded_md5(&path, "v"));

    let original = FlvFile::open(&data[..]).expect("original opens");
    let src = Counting::new(&short);
    let rewritten = FlvFile::open(&src).expect("rewritten opens");
    src.take();
    let (a, b) = (
        original.track(1).expect("video"),
        rewritten.track(1).expect("video"),
    );
    assert_eq!(
        a.track.init, b.track.init,
        "the avcC declares 4-byte lengths again"
    );
    assert_eq!(a.samples.len(), b.samples.len());
    for (i, (sa, sb)) in a.samples.iter().zip(&b.samples).enumerate() {
        assert_eq!(
            (sa.size, sa.dts, sa.pts_offset),
            (sb.size, sb.dts, sb.pts_offset)
        );
        let fa = original.read_frame(&data[..], 1, i).expect("read original");
        let fb = rewritten.read_frame(&src, 1, i).expect("read rewritten");
        assert_eq!(src.take().0, 1, "one read per frame");
        assert_eq!(fa, fb, "frame {i}");
    }
}

// ---------------------------------------------------------------- (c) damage

/// Opens `data` and reads every indexed frame; returns the frame count, or
/// `None` when the open failed. Must never panic.
fn open_and_read_all(data: &[u8]) -> Option<usize> {
    let flv = FlvFile::open(data).ok()?;
    let mut count = 0;
    for t in flv.tracks() {
        for i in 0..t.samples.len() {
            if flv.read_frame(data, t.track.id, i).is_ok() {
                count += 1;
            }
        }
    }
    let _ = flv.interleaved();
    let _ = flv.duration_ms();
    Some(count)
}

#[test]
fn truncated_ffmpeg_flvs_give_shorter_indexes_or_errors() {
    let dir = TempDir::new("truncated");
    let data = std::fs::read(ffmpeg_flv(&dir)).expect("read flv");
    let full = open_and_read_all(&data).expect("whole file opens");
    let mut previous = 0;
    let cuts = (0..200)
        .chain((200..data.len()).step_by(509))
        .chain([data.len() - 1]);
    for cut in cuts {
        let got = open_and_read_all(&data[..cut]).unwrap_or(0);
        assert!(got >= previous && got <= full, "cut at {cut}: {got} frames");
        previous = got;
    }
    assert!(previous >= full - 1);
}

#[test]
fn corrupted_ffmpeg_flvs_never_panic() {
    let dir = TempDir::new("corrupt");
    let data = std::fs::read(ffmpeg_flv(&dir)).expect("read flv");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let mut bad = data.clone();
        // Early rounds hit the head (headers, metadata, sequence headers).
        let span = if round < 150 {
            2_000.min(bad.len())
        } else {
            bad.len()
        };
        for _ in 0..1 + next() % 8 {
            let at = (next() % span as u64) as usize;
            bad[at] = next() as u8;
        }
        let _ = open_and_read_all(&bad);
    }
}

#[test]
fn files_that_are_not_flv_say_what_they_look_like() {
    match FlvFile::open(CLIP) {
        Err(FlvError::NotFlv { found }) => assert!(found.contains("MP4"), "{found}"),
        other => panic!("expected NotFlv, got {other:?}"),
    }
    match FlvFile::open(&[0x47u8; 376][..]) {
        Err(FlvError::NotFlv { found }) => assert!(found.contains("MPEG-TS"), "{found}"),
        other => panic!("expected NotFlv, got {other:?}"),
    }
}
